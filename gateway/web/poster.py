"""The outreach poster: the gateway's number, its main keywords and a QR code, for printing.

Officers hand out QR codes for the Zalo page house to house; this is the SMS counterpart for
households with a basic phone and for the commune notice board. ``/poster`` is an A4 page in
large type that prints well in black and white; ``/poster.png`` is the same as one A4 image
(150 dpi) to send to a print shop or share by Zalo. The QR code (segno) holds
``SMSTO:<number>:MENU``: a smartphone's camera opens its SMS app with MENU ready to send.

The keywords come from the menus in use (``menu_versions.current``), so the poster follows
the menu editor. Nothing is fetched from outside: fonts are Debian's (DejaVu or Liberation)
when present, else Pillow's own, with the text written without diacritics.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from gateway.menus import versions as menu_versions
from gateway.web.auth import guard_blueprint
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

if TYPE_CHECKING:
    import segno

bp = Blueprint("poster", __name__)
guard_blueprint(bp, "viewer")

#: How many menu keywords fit on the poster in large type.
MAX_KEYWORDS = 8
#: A4 at 150 dots per inch.
A4_PX = (1240, 1754)

_NUMBER_CHARS = re.compile(r"[^\d+]")


def register(app: Flask) -> None:
    register_area(app, bp, _l("Áp phích"), "poster.page", "viewer", order=60)


@dataclass(frozen=True)
class Keyword:
    word: str  # as the commune wrote it ("CĂN CƯỚC"): any case, with or without accents works
    meaning: str


@dataclass(frozen=True)
class Poster:
    """What the poster says; ``number`` is empty when ``gateway.phone_number`` is not set."""

    commune: str
    number: str
    sms_uri: str
    menu_word: str
    tip_word: str
    keywords: list[Keyword]
    missed_call: str = ""  # the line for villagers without credit (calls.on_missed sends the menu)


#: The poster's line for a missed call (only when calls.on_missed answers with the menu).
MISSED_CALL_LINE = "Không có tiền? Gọi nhỡ để nhận menu"


def dial_string(number: str) -> str:
    """The number as a phone dials it: digits and a leading + only ("0214 3880 113" → "02143880113")."""
    cleaned = _NUMBER_CHARS.sub("", number)
    return cleaned[:1] + cleaned[1:].replace("+", "")


def sms_uri(number: str, text: str) -> str:
    """The QR content that opens an SMS app with ``text`` ready for ``number``."""
    return f"SMSTO:{dial_string(number)}:{text}"


def _first(words: Any, default: str, *, ascii_first: bool = False) -> str:
    words = [w for w in words if isinstance(w, str) and w.strip()] if isinstance(words, list) else []
    if ascii_first:
        plain = [w for w in words if w.isascii() and w.replace(" ", "").isalnum()]
        words = plain or words
    return words[0].strip() if words else default


def main_keywords(data: Mapping[str, Any], limit: int = MAX_KEYWORDS) -> list[Keyword]:
    """The items a villager most likely wants straight away, with their first keyword.

    Items that open a sub-menu and the tip item are left out (MENU and TIN cover those).
    Items are taken in turn from each branch of the main menu (1.1, 2.1, 3, 1.2, 2.2...),
    so one long branch does not push the others off the poster, then shown in menu order.
    """
    branches: list[list[tuple[tuple[int, ...], Keyword]]] = []
    menu = data.get("menu", {})
    for number, item in _numbered(menu):
        found: list[tuple[tuple[int, ...], Keyword]] = []
        _leaves(item, (number,), found)
        branches.append(found)
    chosen: list[tuple[tuple[int, ...], Keyword]] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(b) for b in branches):
        for branch in branches:
            if depth < len(branch) and len(chosen) < limit:
                chosen.append(branch[depth])
        depth += 1
    return [keyword for _, keyword in sorted(chosen, key=lambda pair: pair[0])]


def _numbered(table: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
    return sorted(
        (int(k), v) for k, v in table.items() if k.isdigit() and isinstance(v, Mapping)
    )


def _leaves(item: Mapping[str, Any], path: tuple[int, ...], out: list) -> None:
    children = _numbered(item)
    if children:
        for number, child in children:
            _leaves(child, (*path, number), out)
        return
    words = item.get("keywords", [])
    if item.get("action") == "tip" or not words:
        return
    out.append((path, Keyword(_first(words, ""), str(item.get("title", "")))))


def poster_content() -> Poster:
    config = current_config()
    version = menu_versions.current(current_services().db.get(), config.menus_path)
    data = version.sources[menu_versions.default_source(version.sources)]
    lists = data.get("keywords", {})
    menu_word = _first(lists.get("menu"), "MENU", ascii_first=True)
    number = (config.gateway.phone_number or "").strip()
    return Poster(
        commune=config.gateway.name,
        number=number,
        sms_uri=sms_uri(number, menu_word) if dial_string(number) else "",
        menu_word=menu_word,
        tip_word=_first(lists.get("tip"), "TIN", ascii_first=True),
        keywords=main_keywords(data),
        missed_call=MISSED_CALL_LINE if config.calls.on_missed in ("menu", "both") else "",
    )


def qr_code(uri: str) -> segno.QRCode:
    """A full QR code (never a Micro QR, which phone cameras do not read), medium correction.

    segno is imported here, when a poster is drawn: at start it would hold memory all day."""
    import segno

    return segno.make_qr(uri, error="m")


def _not_set() -> tuple[str, int, dict[str, str]]:
    message = _("Chưa đặt số điện thoại của cổng (gateway.phone_number), nên chưa làm được áp phích.")
    return message, 409, {"Content-Type": "text/plain; charset=utf-8"}


# -- pages ------------------------------------------------------------------------------------


@bp.get("/poster")
def page() -> str:
    return render_template("poster/page.html", poster=poster_content())


@bp.get("/poster/qr.svg")
def qr_svg() -> Any:
    poster = poster_content()
    if not poster.sms_uri:
        return _not_set()
    out = io.BytesIO()
    qr_code(poster.sms_uri).save(
        out, kind="svg", scale=10, border=4, xmldecl=False, nl=False, title=poster.sms_uri
    )
    response = Response(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/poster.png")
def png() -> Any:
    poster = poster_content()
    if not poster.sms_uri:
        return _not_set()
    from gateway.web.poster_image import render_png

    response = Response(render_png(poster, qr_code(poster.sms_uri)), mimetype="image/png")
    response.headers["Content-Disposition"] = 'inline; filename="ap-phich-tinbao.png"'
    response.headers["Cache-Control"] = "no-cache"
    return response

