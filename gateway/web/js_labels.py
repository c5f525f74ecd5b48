"""Texts that page scripts write (counters, progress, errors), translated on the server.

Scripts are static files that gettext never sees; each page carries these strings, already
in the reader's language, in an inert JSON block that ``static/labels.js`` reads.
``%(name)s`` placeholders are filled in by the script.

A label with a count has its plural forms (``PLURALS``, through Babel's ``ngettext``): the page
carries ``key.one`` and ``key.other`` in the reader's language and ``tinbaoLabel(key, values,
count)`` picks one (English "1/1 person", "3/6 people"; Vietnamese has one form).
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

LABELS = {
    "sim.count": _l("%(used)s/%(capacity)s ký tự · %(parts)s tin"),
    "sim.unicode": _l(" · có dấu"),
    "sim.title_ucs2": _l("Tin có dấu (UCS-2): 70 ký tự một tin, 67 ký tự mỗi phần khi dài hơn."),
    "sim.title_gsm7": _l("Tin không dấu (GSM-7): 160 ký tự một tin, 153 ký tự mỗi phần khi dài hơn."),
    "sim.send_failed": _l("Không gửi được tin nhắn."),
    "sim.offline": _l("Mất kết nối với cổng. Thử lại sau."),
    "bc.failed": _l(" · %(n)s lỗi"),
    "bc.unknown": _l(" · %(n)s không rõ"),
    "bc.replace": _l("Thay nội dung đang viết bằng cảnh báo này?"),
}


#: Labels with a count: each the wording for ``n``, placeholders left for the script.
PLURALS: dict[str, Callable[[int], str]] = {
    "bc.people": lambda n: ngettext("%(done)s/%(total)s người", "%(done)s/%(total)s người", n,
                                    done="%(done)s", total="%(total)s"),
}


def js_labels() -> dict[str, str]:
    """The labels in the current request's language (a plural label as ``key.one``, ``key.other``)."""
    labels = {key: str(text) for key, text in LABELS.items()}
    for key, wording in PLURALS.items():
        labels[f"{key}.one"], labels[f"{key}.other"] = wording(1), wording(2)
    return labels
