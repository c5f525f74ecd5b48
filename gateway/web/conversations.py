"""Conversations: every SMS in and out, grouped by number (masked), newest first.

A thread's address names one of its messages (``/conversations/i123`` for inbound message
123, ``o45`` for outbound 45), never the number, so a villager's number does not end up in
browser history, server logs or a screenshot of the address bar.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from gateway import conversations, phone
from gateway import tips as tip_store
from gateway.web import params
from gateway.web.filters import label, local_time, mask, shorten, tone
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("conversations", __name__)

PER_PAGE = 50
THREAD_MESSAGES = 200
PREVIEW_CHARS = 120
KEY = re.compile(r"([io])(\d{1,12})")

OUT_KINDS = {
    "menu": _l("Menu"), "help": _l("Hướng dẫn"), "tip_prompt": _l("Hỏi nội dung tin báo"),
    "tip_ack": _l("Xác nhận tin báo"), "officer": _l("Cán bộ trả lời"), "broadcast": _l("Cảnh báo"),
    "duty_alert": _l("Báo trực ban"), "subscription": _l("Đăng ký"),
}


def register(app: Flask) -> None:
    register_area(app, bp, _l("Tin nhắn"), "conversations.index", "viewer", order=30)


def _key_of(row: dict[str, Any]) -> str:
    return ("i" if row["direction"] == "in" else "o") + str(row["id"])


def message_view(row: dict[str, Any], tz: ZoneInfo, *, preview: bool = False) -> dict[str, Any]:
    """One message as the pages show it: direction, text (escaped by Jinja), time, state."""
    text = row["text"] or ""
    view: dict[str, Any] = {
        "direction": row["direction"],
        "text": shorten(text, PREVIEW_CHARS) if preview else text,
        "note": "",
        "time_display": local_time(row["at"], tz),
        "key": _key_of(row),
    }
    if not text:
        view["note"] = _("Tin trống")
    if row["direction"] == "in":
        if row["kind"] == "binary":
            view["note"] = _("Tin nhị phân")
        elif row["kind"] == "undecodable":
            view["note"] = _("Không giải mã được")
        elif row.get("partial"):
            view["note"] = _("Thiếu phần")
        view.update(status_label=_("Đã nhận"), tone="plain", kind_label="")
    else:
        view.update(
            status_label=label("outbox", row["status"]),
            tone=tone(row["status"]),
            kind_label=str(OUT_KINDS.get(row["kind"], row["kind"])),
            parts=f"{row['parts_sent']}/{row['parts_total']}",
        )
    return view


@bp.get("/conversations")
def index() -> str:
    tz = current_config().timezone
    db = current_services().db.get()
    before = _before_arg(request.args)
    found = conversations.recent_numbers(db, limit=PER_PAGE, before=before)
    messages = conversations.messages_by_key(db, [row["newest"] for row in found.numbers])
    threads = []
    thread_prefix = url_for("conversations.thread", key="i1")[:-2]  # one url_for for the list
    for row in found.numbers:
        newest = messages.get(row["newest"])
        if newest is None:  # gone between the two reads (a retention sweep)
            continue
        threads.append({
            "number": mask(row["number"]),
            "n_in": row["n_in"],
            "n_out": row["n_out"],
            "last": message_view(newest, tz, preview=True),
            "url": thread_prefix + _key_of(newest),
        })
    after = found.next_before
    return render_template(
        "conversations/list.html",
        threads=threads,
        newest_url=url_for("conversations.index") if before else None,
        next_url=url_for("conversations.index", before=f"{after[0]}-{after[1]}") if after else None,
    )


def _before_arg(args: Any) -> tuple[int, int] | None:
    """``?before=<inbox id>-<outbox id>``: where the previous page's walk stopped (None: the newest)."""
    text = (args.get("before") or "").strip()
    if not text:
        return None
    inbound, _dash, outbound = text.partition("-")
    return params.parse_int("before", inbound), params.parse_int("before", outbound)


@bp.get("/conversations/<key>")
def thread(key: str) -> str:
    match = KEY.fullmatch(key)
    if not match:
        abort(404)
    db = current_services().db.get()
    number = conversations.number_of_message(db, match.group(1), int(match.group(2)))
    if number is None:
        abort(404)
    tz = current_config().timezone
    messages = [message_view(row, tz) for row in conversations.conversation(db, [number], THREAD_MESSAGES)]
    messages.reverse()  # newest first, like the list
    tips = [
        {"reference": t["reference"], "time_display": local_time(t["received_at"], tz),
         "status_label": label("tip", t["status"]), "tone": tone(t["status"])}
        for t in tip_store.of_number(db, phone.normalise(number).value or number)
    ]
    return render_template(
        "conversations/thread.html",
        number=mask(number),
        messages=messages,
        tips=tips,
        limit=THREAD_MESSAGES,
    )
