"""Presentation helpers for the officers' page: masked numbers, local times, Vietnamese labels.

They are plain functions so the dashboard's HTML and its JSON (``/api/dashboard``) show the
same strings; ``register_filters`` (called by ``gateway.web.frame.install_frame``, for the
officers' page and the hub alike) also makes them Jinja filters. Numbers are masked by
``gateway.phone.mask``, the one rule for every list, export and log (re-exported here).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gateway.phone import mask

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["label", "local_time", "mask", "register_filters", "shorten", "signal_bars", "tone"]

DATE_FORMAT = "%d/%m/%Y %H:%M"

# Labels for status words stored in the tables. Unknown words are shown as they are.
MODEM_STATES = {
    "connected": "Đã kết nối",
    "connecting": "Đang kết nối",
    "error": "Lỗi modem",
    "unplugged": "Chưa cắm modem",
    "stopped": "Đã dừng",
    "not_started": "Chưa khởi động",
    "unknown": "Không rõ",
}
INBOX_STATUSES = {"queued": "Chờ xử lý", "done": "Đã xử lý", "failed": "Lỗi"}
OUTBOX_STATUSES = {
    "queued": "Chờ gửi",
    "sent": "Đã gửi",
    "delivered": "Đã đến máy",
    "failed": "Gửi lỗi",
    "cancelled": "Đã huỷ",
}
TIP_STATUSES = {"new": "Mới", "handling": "Đang xử lý", "closed": "Đã đóng"}
OUTBOX_KINDS = {
    "menu": "Menu",
    "help": "Hướng dẫn",
    "tip_ack": "Xác nhận tin báo",
    "officer": "Cán bộ trả lời",
    "broadcast": "Cảnh báo",
    "warning": "Cảnh báo",
    "subscription": "Đăng ký",
    "tip_prompt": "Hỏi nội dung tin báo",
    "duty_alert": "Báo trực ban",
    "tip_status": "Báo kết quả tin",
    "ack": "Báo đã nhận tin",
}

# Each status word maps to one of a fixed set of CSS classes (never a class built from data).
_TONES = {
    "connected": "ok", "done": "ok", "sent": "ok", "delivered": "ok", "closed": "ok",
    "connecting": "wait", "queued": "wait", "handling": "wait", "not_started": "wait",
    "error": "bad", "failed": "bad", "unplugged": "bad",
    "new": "new",
}


def local_time(value: str | None, tz: ZoneInfo) -> str:
    """An ISO UTC timestamp from the database as ``dd/mm/yyyy HH:MM`` in the gateway's zone."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(tz).strftime(DATE_FORMAT)
    except OverflowError:  # year 9999 with an offset: shown as stored, never a 500
        return str(value)


def signal_bars(csq: int | None) -> int | None:
    """CSQ 0–31 as 0–5 bars; None when unknown (no reading, or 99 "not detectable")."""
    if csq is None or isinstance(csq, bool) or not isinstance(csq, int) or not 0 <= csq <= 31:
        return None
    return sum(csq >= step for step in (2, 8, 13, 18, 23))


def label(kind: str, value: str | None) -> str:
    """The Vietnamese label of a stored status/kind word (``label("outbox", "sent")``)."""
    table = {
        "modem": MODEM_STATES,
        "inbox": INBOX_STATUSES,
        "outbox": OUTBOX_STATUSES,
        "tip": TIP_STATUSES,
        "outbox_kind": OUTBOX_KINDS,
    }[kind]
    if value is None:
        return ""
    return table.get(value, value)


def tone(value: str | None) -> str:
    """A CSS class for a status word: one of ``ok``, ``wait``, ``bad``, ``new``, ``plain``."""
    return _TONES.get(value or "", "plain")


NUL_SHOWN = "\u2400"  # "␀": a NUL in an SMS, shown (browsers drop or cut at a real one)


def shown_nul(value: Any) -> Any:
    """Jinja's ``finalize``: a NUL in any text on a page is drawn as "␀" (display only)."""
    return value.replace("\x00", NUL_SHOWN) if isinstance(value, str) and "\x00" in value else value


def shorten(text: str | None, limit: int) -> str:
    """The start of a text for lists, ending with "…" when it was cut (a NUL shown as "␀")."""
    if text is None:
        return ""
    text = text.replace("\x00", NUL_SHOWN)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def register_filters(app: Flask, tz: ZoneInfo) -> None:
    """Make the helpers available in templates: ``{{ n|mask }}``, ``{{ t|localtime }}``."""
    app.jinja_env.filters["mask"] = mask
    app.jinja_env.filters["localtime"] = lambda value: local_time(value, tz)
    app.jinja_env.filters["signal_bars"] = signal_bars
    app.jinja_env.filters["tone"] = tone
    app.jinja_env.filters["shorten"] = shorten
    app.jinja_env.finalize = shown_nul
