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
    "duty_summary": _l("Báo trực ban (gộp)"), "invitation": _l("Mời nhận cảnh báo"),
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
    page = params.page_arg(request.args)
    rows = conversations.recent_numbers(db, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    has_next = len(rows) > PER_PAGE
    rows = rows[:PER_PAGE]
    last = conversations.last_messages(db, [row["number"] for row in rows])
    threads = []
    for row in rows:
        newest = last.get(row["number"])
        if newest is None:
            continue
        threads.append({
            "number": mask(row["number"]),
            "n_in": row["n_in"],
            "n_out": row["n_out"],
            "last": message_view(newest, tz, preview=True),
            "url": url_for("conversations.thread", key=_key_of(newest)),
        })
    return render_template(
        "conversations/list.html",
        threads=threads,
        page=page,
        prev_url=url_for("conversations.index", page=page - 1) if page > 1 else None,
        next_url=url_for("conversations.index", page=page + 1) if has_next else None,
    )


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
