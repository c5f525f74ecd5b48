"""Texts that page scripts write (counters, progress, errors), translated on the server.

Scripts are static files that gettext never sees; each page carries these strings, already
in the reader's language, in an inert JSON block that ``static/labels.js`` reads.
``%(name)s`` placeholders are filled in by the script.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    "sim.count": _l("%(used)s/%(capacity)s ký tự · %(parts)s tin"),
    "sim.unicode": _l(" · có dấu"),
    "sim.title_ucs2": _l("Tin có dấu (UCS-2): 70 ký tự một tin, 67 ký tự mỗi phần khi dài hơn."),
    "sim.title_gsm7": _l("Tin không dấu (GSM-7): 160 ký tự một tin, 153 ký tự mỗi phần khi dài hơn."),
    "sim.send_failed": _l("Không gửi được tin nhắn."),
    "sim.offline": _l("Mất kết nối với cổng. Thử lại sau."),
    "bc.people": _l("%(done)s/%(total)s người"),
    "bc.failed": _l(" · %(n)s lỗi"),
    "bc.unknown": _l(" · %(n)s không rõ"),
    "bc.replace": _l("Thay nội dung đang viết bằng cảnh báo này?"),
}


def js_labels() -> dict[str, str]:
    """The labels in the current request's language."""
    return {key: str(text) for key, text in LABELS.items()}
