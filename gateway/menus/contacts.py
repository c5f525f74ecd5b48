"""The shipped menus' contacts in words: what first-run setup asks for each, and its name
wherever one is still unset.

The menus' ``[contacts]`` keys (``ten_xa``, ``can_bo_cu_tru``, ``cong_an_thon``) are the menu
files' own names; an admin knows the setup form's labels ("Số của cán bộ cư trú, căn cước").
So the setup page's "Chưa xong" banner, the dashboard and ``python app.py doctor`` name an
unset contact by the label the form gives it (a contact another menu file added, which the
form asks for by its key, is named by its key).

Labels are lazy: the page shows them in the reader's language, and outside a request (doctor)
they are the Vietnamese the form shows by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class TextContact:
    label: Any
    hint: Any
    max_chars: int


@dataclass(frozen=True)
class PhoneContact:
    label: Any
    #: May be a short hotline (113): a desk or a hotline may, one officer's own number may not.
    hotline: bool = False


TEXT: dict[str, TextContact] = {
    "ten_xa": TextContact(_l("Tên xã"), _l("Chỉ tên, không có chữ \"xã\": menu hiện \"Công an xã …\". Ví dụ: Cốc Lầu"),
                          60),
    "dia_chi": TextContact(_l("Địa chỉ trụ sở Công an xã"), _l("Ví dụ: thôn Cốc Lầu, xã Cốc Lầu, tỉnh Lào Cai"), 150),
    "gio_lam_viec": TextContact(_l("Giờ tiếp dân"), _l("Ví dụ: 7h30-11h30, 13h30-17h00 thứ Hai đến thứ Sáu"), 150),
}
PHONE: dict[str, PhoneContact] = {
    "truc_ban": PhoneContact(_l("Số trực ban của trụ sở (24/24)"), hotline=True),
    "truong_cong_an": PhoneContact(_l("Số của Trưởng Công an xã")),
    "can_bo_cu_tru": PhoneContact(_l("Số của cán bộ cư trú, căn cước")),
    "duong_day_nong_tinh": PhoneContact(_l("Đường dây nóng Công an tỉnh"), hotline=True),
}
#: One line per village: "Thôn Na Hối: 0912 345 678".
VILLAGES = "cong_an_thon"
VILLAGES_LABEL = _l("Các thôn và công an phụ trách")


def label(name: str) -> str:
    """The form's label of a contact, in the current language; an unknown contact by its key."""
    if name in TEXT:
        return str(TEXT[name].label)
    if name in PHONE:
        return str(PHONE[name].label)
    if name == VILLAGES:
        return str(VILLAGES_LABEL)
    return name


def unset_labels(unset: Iterable[str]) -> list[str]:
    """The labels of ``unset`` (``file: name`` items of ``unset_contacts``), once each, in the
    form's order (the form's questions first, then other contacts by key)."""
    names = {item.split(": ", 1)[-1] for item in unset}
    order = [*TEXT, *PHONE, VILLAGES]
    known = [name for name in order if name in names]
    return [label(name) for name in known + sorted(names - set(order))]
