"""First-run setup (``/admin/setup``): the commune's own names and numbers into the menus.

The shipped menus answer villagers with placeholders ("CÔNG AN XÃ xxxx", "09xx xxx xxx",
"Thôn xxxx"): the values of the default menu file's ``[contacts]``, which every ``{{name}}``
of every language reads. This page asks an admin for them in plain words (the commune's
name, the post's address and hours, the chief's, the duty desk's and the other officers'
numbers, each village with the number of its officer), checks each number with
``gateway.phone.normalise``, and saves the result as a new menus version through
``gateway.menus.versions.save``, exactly like the menus editor: it is in the history with
its comment, can be undone there, goes to the audit log, and is handed to the running
router (``on_menus_changed``) so the next SMS is answered with the real numbers.

The villages also become the broadcasts' village groups (``subscribers.ensure_group``), so
DK <thôn> finds them. The gateway's own number is config (``gateway.phone_number``): shown
here, never written.

"Setup complete" is one rule, ``gateway.menus.versions.unset_contacts``: no contact of the
menus in use still holds a placeholder. Until then the dashboard shows an alert linking
here, ``/healthz`` says ``setup_complete: false`` and ``python app.py doctor`` fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlite_utils import Database

from gateway import phone
from gateway.broadcasts import subscribers
from gateway.menus import contacts
from gateway.menus import versions as menu_versions
from gateway.menus.compile import is_unset
from gateway.storage import write_transaction
from gateway.web import menus_live
from gateway.web.auth import guard_blueprint, record_request
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

log = logging.getLogger(__name__)

bp = Blueprint("setup", __name__, url_prefix="/admin/setup")
guard_blueprint(bp, "admin")

#: The comment of the menus version a setup saves (stored data: the same in every language).
COMMENT = "Cài đặt ban đầu"
#: The shipped contacts this page asks for by name (their labels: ``gateway.menus.contacts``);
#: another contact still holding a placeholder is asked for by its own name.
VILLAGES = contacts.VILLAGES
PHONE_KINDS = ("mobile", "landline")
MAX_VILLAGES = 60
MAX_VILLAGE_CHARS = 60
MAX_OTHER_CHARS = 150
SPARE_ROWS = 3


@dataclass
class Field:
    """One question of the form: a contact of the default menu file."""

    name: str
    kind: str  # text | phone
    label: str
    hint: str = ""
    max_chars: int = MAX_OTHER_CHARS
    value: str = ""
    error: str = ""
    hotline: bool = False  # a short hotline (113) is a right answer


@dataclass
class Village:
    name: str = ""
    number: str = ""
    error: str = ""


@dataclass
class Form:
    """The page's questions, their values (as typed, kept on error) and errors."""

    fields: list[Field]
    villages: list[Village] | None  # None: the menus have no village list
    villages_error: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.errors or self.villages_error or any(f.error for f in self.fields)
                    or any(v.error for v in self.villages or ()))


def register(app: Flask) -> None:
    """Reachable from the admin tabs and the dashboard's alert; no entry in the menu bar."""
    register_area(app, bp)


# -- the form --------------------------------------------------------------------------------


def _db() -> Database:
    return current_services().db.get()


def _default_contacts(sources: dict[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in sources[menu_versions.default_source(sources)].get("contacts", {}).items()}


def blank_form(values: dict[str, str]) -> Form:
    """The questions for these contacts, filled with the values already set (never a placeholder)."""
    def shown(value: str) -> str:
        return "" if is_unset(value) else value

    fields = []
    for name, text in contacts.TEXT.items():
        if name in values:
            fields.append(Field(name, "text", str(text.label), str(text.hint), text.max_chars, shown(values[name])))
    for name, number in contacts.PHONE.items():
        if name in values:
            hint = (_("Di động, số bàn có mã vùng, số 069 hoặc đường dây nóng (113); viết như muốn người dân đọc,"
                      " ví dụ 0214 3880 113") if number.hotline
                    else _("Di động hoặc số bàn có mã vùng, viết như muốn người dân đọc, ví dụ 0912 345 678"))
            fields.append(Field(name, "phone", str(number.label), hint, 20, shown(values[name]),
                                hotline=number.hotline))
    known = {*contacts.TEXT, *contacts.PHONE, VILLAGES}
    for name, value in values.items():
        if name not in known and is_unset(value):
            fields.append(Field(name, "text", name, _("Mục trong danh bạ của menu"), MAX_OTHER_CHARS, ""))
    villages = None
    if VILLAGES in values:
        villages = []
        for line in values[VILLAGES].splitlines():
            name, colon, number = line.rpartition(":")
            if colon and name.strip() and not is_unset(line):
                villages.append(Village(name.strip(), number.strip()))
    return Form(fields, villages)


def _clean_text(raw: str) -> str:
    return " ".join(raw.split())


def _check_text(value: str, max_chars: int) -> str:
    if not value:
        return _("Hãy điền mục này.")
    if len(value) > max_chars:
        return _("Dài quá %(n)d ký tự.", n=max_chars)
    if is_unset(value):
        return _("Còn chữ \"xx\" của mẫu: hãy thay bằng giá trị thật.")
    if "{" in value or "}" in value:
        return _("Không dùng dấu ngoặc { }.")
    return ""


def _check_number(raw: str, *, hotline: bool = False) -> tuple[str, str]:
    """(the number as villagers will read it: the grouping typed, ``gateway.phone.grouped``; an error).

    Mobiles, landlines with their area code and the police network's 069 numbers are a
    person's or a desk's number; a short hotline (113, 111) only where ``hotline`` allows.
    """
    if not raw.strip():
        return raw, _("Hãy điền số điện thoại.")
    number = phone.normalise(raw)
    if number.kind == "emergency":
        if hotline:
            return phone.grouped(raw), ""
        return raw, _("%(number)s là đường dây nóng chung, không phải số của một cán bộ: hãy nhập số di động"
                      " hoặc số bàn của người phụ trách.", number=number.value)
    if number.kind not in PHONE_KINDS:
        return raw, _("Số không đúng: hãy nhập số di động 10 chữ số (0912 345 678), số bàn có mã vùng"
                      " (0214 3880 113) hoặc số 069 của ngành Công an (069 2693 113).")
    return phone.grouped(raw), ""


def posted_form(values: dict[str, str]) -> Form:
    """The form as posted, checked: each value as typed and its error, in place."""
    form = blank_form(values)
    for f in form.fields:
        raw = request.form.get(f"contact.{f.name}", "")
        if f.kind == "phone":
            f.value = raw.strip()[:40]
            f.error = _check_number(f.value, hotline=f.hotline)[1]
        else:
            f.value = _clean_text(raw)[: f.max_chars + 1]
            f.error = _check_text(f.value, f.max_chars)
    if form.villages is not None:
        names = request.form.getlist("village.name")[: MAX_VILLAGES + SPARE_ROWS]
        numbers = request.form.getlist("village.number")[: MAX_VILLAGES + SPARE_ROWS]
        form.villages = []
        seen: set[str] = set()
        for name, number in zip(names, numbers, strict=False):
            row = Village(_clean_text(name)[: MAX_VILLAGE_CHARS + 1], number.strip()[:40])
            if not row.name and not row.number:
                continue
            key = subscribers.group_key(row.name)
            if not row.name:
                row.error = _("Hãy điền tên thôn.")
            elif ":" in row.name:
                row.error = _("Tên thôn không có dấu hai chấm.")
            elif key in seen:
                row.error = _("Thôn này đã có ở trên.")
            else:
                row.error = _check_text(row.name, MAX_VILLAGE_CHARS) or _check_number(row.number)[1]
            seen.add(key)
            form.villages.append(row)
        if not form.villages:
            form.villages_error = _("Hãy điền ít nhất một thôn và số của công an phụ trách.")
        elif len(form.villages) > MAX_VILLAGES:
            form.villages_error = _("Nhiều nhất %(n)d thôn.", n=MAX_VILLAGES)
    return form


def contact_values(form: Form) -> dict[str, str]:
    """The ``[contacts]`` values of a checked form (numbers as typed for reading: ``0912 345 678``)."""
    values = {}
    for f in form.fields:
        values[f.name] = _check_number(f.value, hotline=f.hotline)[0] if f.kind == "phone" else f.value
    if form.villages is not None:
        values[VILLAGES] = "\n".join(f"{v.name}: {_check_number(v.number)[0]}" for v in form.villages)
    return values


def _render(form: Form, version: menu_versions.Version, status: int = 200) -> tuple[str, int]:
    rows = list(form.villages or [])
    spare = max(SPARE_ROWS, 5 - len(rows)) if len(rows) < MAX_VILLAGES else 0
    config = current_config()
    names = contacts.unset_labels(menus_live.unset_contacts(_db()))
    return render_template(
        "admin/setup.html",
        form=form,
        village_rows=rows + [Village() for _row in range(spare)],
        menus_version=version,
        left=names,
        config_name=config.gateway.name,
        config_number=phone.national(config.gateway.phone_number) if config.gateway.phone_number else "",
    ), status


# -- pages -----------------------------------------------------------------------------------


@bp.get("/")
def page() -> Any:
    version = menu_versions.current(_db(), current_config().menus_path)
    return _render(blank_form(_default_contacts(version.sources)), version)


@bp.post("/")
def save() -> Any:
    db = _db()
    config = current_config()
    version = menu_versions.current(db, config.menus_path)
    form = posted_form(_default_contacts(version.sources))
    base = request.form.get("base_version", "")
    if base and base != str(version.id):
        form.errors.append(_("Menu vừa được lưu bởi người khác (bản #%(version)d) sau khi bạn mở trang. "
                             "Hãy kiểm tra lại rồi bấm Lưu.", version=version.id))
        return _render(form, version, 409)
    if not form.ok:
        return _render(form, version, 400)
    sources = menu_versions.with_contacts(version.sources, contact_values(form))
    options = menus_live.save_options()
    try:
        saved = menu_versions.save(db, sources, current_user.username, COMMENT, **options)
    except menu_versions.MenuError as exc:
        form.errors.append(_("Chưa lưu: %(reason)s", reason=str(exc)))
        return _render(form, version, 400)
    added = _village_groups(db, [v.name for v in form.villages or ()])
    if saved.changed:
        record_request("menus.setup", f"#{saved.version}",
                       {"villages": len(form.villages or ()), "groups_added": added})
        if menus_live.apply_book(saved.book):
            flash(_("Đã lưu cài đặt (bản menu #%(version)d). Tin nhắn tiếp theo được trả lời với các số mới.",
                    version=saved.version), "ok")
        else:
            flash(_("Đã lưu cài đặt (bản menu #%(version)d). Có hiệu lực sau khi khởi động lại cổng.",
                    version=saved.version), "ok")
    else:
        flash(_("Không có thay đổi nào để lưu."), "info")
    if added:
        flash(ngettext("Đã thêm %(num)d thôn vào nhóm nhận cảnh báo.", "Đã thêm %(num)d thôn vào nhóm nhận cảnh báo.",
                       len(added)), "ok")
    return redirect(url_for("setup.page"), code=303)


def _village_groups(db: Database, names: list[str]) -> list[str]:
    """Each village as a broadcasts' village group (DK <thôn>); the names that were new."""
    added = []
    now = current_services().clock.now()
    with write_transaction(db):
        for name in names:
            if subscribers.find_group(db, name) is None:
                subscribers.ensure_group(db, name, "village", now)
                added.append(name)
    return added
