"""Presentation helpers for the officers' page: masked numbers, local times, Vietnamese labels.

They are plain functions so the dashboard's HTML and its JSON (``/api/dashboard``) show the
same strings; ``register_filters`` (called by ``gateway.web.frame.install_frame``, for the
officers' page and the hub alike) also makes them Jinja filters. Numbers are masked by
``gateway.phone.mask``, the one rule for every list, export and log (re-exported here).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from gateway.phone import mask

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "day_text", "handler_label", "label", "local_time", "mask", "register_filters", "shorten",
    "signal_bars", "tone",
]

DATE_FORMAT = "%d/%m/%Y %H:%M"

# Labels for status words stored in the tables, in both languages (``_l``: translated when
# shown). Unknown words are shown as they are.
MODEM_STATES = {
    "connected": _l("Đã kết nối"),
    "connecting": _l("Đang kết nối"),
    "error": _l("Lỗi modem"),
    "unplugged": _l("Chưa cắm modem"),
    "stopped": _l("Đã dừng"),
    "not_started": _l("Chưa khởi động"),
    "unknown": _l("Không rõ"),
}
INBOX_STATUSES = {"queued": _l("Chờ xử lý"), "done": _l("Đã xử lý"), "failed": _l("Lỗi")}
OUTBOX_STATUSES = {
    "queued": _l("Chờ gửi"),
    "sent": _l("Đã gửi"),
    "delivered": _l("Đã đến máy"),
    "failed": _l("Gửi lỗi"),
    "cancelled": _l("Đã hủy"),
}
TIP_STATUSES = {"new": _l("Mới"), "handling": _l("Đang xử lý"), "closed": _l("Đã đóng")}
OUTBOX_KINDS = {
    "menu": _l("Menu"),
    "help": _l("Hướng dẫn"),
    "tip_ack": _l("Xác nhận tin báo"),
    "officer": _l("Cán bộ trả lời"),
    "broadcast": _l("Cảnh báo lừa đảo"),
    "warning": _l("Cảnh báo lừa đảo"),
    "subscription": _l("Đăng ký"),
    "tip_prompt": _l("Hỏi nội dung tin báo"),
    "duty_alert": _l("Báo trực ban"),
    "tip_status": _l("Báo kết quả tin"),
    "ack": _l("Báo đã nhận tin"),
    "missed_call": _l("Menu cho người gọi nhỡ"),
    "loop_test": _l("Kiểm tra vòng SMS"),
}

# What the router wrote in ``inbox.handler`` ("back", "tip:CL-0007", "1.3 (no reply: limit)"),
# in words. Menu items ("1.3") are named by ``handler_label``'s ``titles``.
HANDLERS = {
    "menu": _l("Gửi menu chính"),
    "back": _l("Quay lại menu trước (0)"),
    "language": _l("Đổi ngôn ngữ"),
    "ignore": _l("Không cần trả lời (cảm ơn, OK…)"),
    "help": _l("Không hiểu, gửi hướng dẫn"),
    "expired": _l("Quá hạn chờ nội dung tin báo"),
    "tip": _l("Hỏi nội dung tin báo"),
    "tip_empty": _l("Tin báo trống, hỏi lại"),
    "subscribe": _l("Đăng ký nhận cảnh báo (DK)"),
    "unsubscribe": _l("Ngừng nhận cảnh báo"),
    "unsubscribe (already left)": _l("Ngừng nhận cảnh báo (đã ngừng từ trước)"),
    "unsubscribe (never subscribed)": _l("Xin ngừng nhận nhưng chưa từng đăng ký"),
    "binary": _l("Tin nhị phân, bỏ qua"),
    "undecodable": _l("Không giải mã được"),
    "silent:automatic": _l("Tin tự động, không trả lời"),
    "silent:short_code": _l("Tổng đài, không trả lời"),
    "silent:alphanumeric": _l("Tên người gửi (không phải số), không trả lời"),
    "silent:emergency": _l("Số khẩn cấp, không trả lời"),
    "silent:invalid": _l("Số không hợp lệ, không trả lời"),
    "loop_test": _l("Tin kiểm tra vòng của cổng quay lại"),
}


def handler_label(handler: str | None, titles: dict[str, str] | None = None) -> str:
    """What happened to an inbound SMS, in words (the dashboard's "Xử lý bởi" column)."""
    if not handler:
        return "—"
    if handler in HANDLERS:
        return str(HANDLERS[handler])
    name, _sep, rest = handler.partition(" (")
    limited = rest.startswith("no reply: limit")
    if name.startswith("tip:") and rest.startswith("to confirm"):
        text = str(_l("Lưu tin %(reference)s, chờ cán bộ xác nhận", reference=name[4:]))
    elif name.startswith("tip:"):
        text = str(_l("Lưu tin báo %(reference)s", reference=name[4:]))
    elif name in HANDLERS:
        text = str(HANDLERS[name])
    elif name.replace(".", "").isdigit():
        title = (titles or {}).get(name)
        text = str(_l("Mục %(item)s: %(title)s", item=name, title=title) if title else _l("Mục %(item)s", item=name))
    elif name.startswith("silent:"):
        text = str(_l("Không trả lời"))
    else:
        return handler
    if limited:
        text += str(_l(" · chưa trả lời: quá số tin trong giờ"))
    return text


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


def day_text(day: date | None) -> str:
    """A day as the page shows and takes it: ``dd/mm/yyyy``."""
    return day.strftime("%d/%m/%Y") if day else ""


def signal_bars(csq: int | None) -> int | None:
    """CSQ 0–31 as 0–5 bars; None when unknown (no reading, or 99 "not detectable")."""
    if csq is None or isinstance(csq, bool) or not isinstance(csq, int) or not 0 <= csq <= 31:
        return None
    return sum(csq >= step for step in (2, 8, 13, 18, 23))


def label(kind: str, value: str | None) -> str:
    """The label (in the page's language) of a stored status/kind word (``label("outbox", "sent")``)."""
    table = {
        "modem": MODEM_STATES,
        "inbox": INBOX_STATUSES,
        "outbox": OUTBOX_STATUSES,
        "tip": TIP_STATUSES,
        "outbox_kind": OUTBOX_KINDS,
    }[kind]
    if value is None:
        return ""
    return str(table.get(value, value))


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
    # The officers' page and the hub share templates (admin tabs): a link only where its page is.
    app.jinja_env.globals["has_page"] = lambda endpoint: endpoint in app.view_functions
