"""The menus editor: the SMS menus of every language, edited in the page by admins.

Everyone logged in may read the menus (officers answer villagers' questions about them);
only admins change them. A save checks the whole book with the same loader as start-up
(``menu_versions.save``): a keyword used twice, or clashing with another language's, is refused
with the loader's one-line message and the admin's edits stay on the page. A good save is a
new version in ``menu_versions`` (history, undo), goes to the audit log, and is handed to the
running router through ``services`` (``on_menus_changed``) so the next SMS is answered from it.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.wrappers import Response

from gateway.menus import MenuBook
from gateway.menus import versions as menu_versions
from gateway.sms.text import khong_dau
from gateway.web import menus_form, menus_live
from gateway.web.auth import guard_blueprint, record_request, role_required
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

log = logging.getLogger(__name__)

bp = Blueprint("menus", __name__, url_prefix="/menus")
guard_blueprint(bp, "viewer")
bp.add_app_template_filter(khong_dau, "khong_dau")

MAX_COMMENT_CHARS = 200

#: What each fixed text is for, as the page explains it.
TEXT_LABELS = {
    "help": _l("Khi không hiểu tin nhắn"),
    "tip_prompt": _l("Hỏi nội dung tin báo"),
    "tip_ack": _l("Xác nhận đã nhận tin báo ({reference} là mã tin báo)"),
    "tip_empty": _l("Tin báo chưa có nội dung"),
    "expired": _l("Quá thời gian chờ tin báo"),
    "menu_footer": _l("Dòng cuối menu chính"),
    "submenu_footer": _l("Dòng cuối menu con"),
    "received": _l("Tin nhắn có nội dung nhưng không có từ khóa: đã nhận, chờ cán bộ xác nhận"
                   " ({reference} là mã)"),
}
KEYWORD_LABELS = {
    "menu": _l("Xem menu chính"),
    "back": _l("Quay lại menu trên"),
    "tip": _l("Gửi tin báo (TIN <nội dung>)"),
    "ignore": _l("Không trả lời (cảm ơn, OK)"),
    "not_tip": _l("Không phải tin báo (BAO NHIÊU...)"),
}


def js_strings() -> dict[str, str]:
    """What static/menus.js says, in the page's language ({name} is filled in by the script)."""
    return {
        "empty": _("Trống"),
        "live_kd": _("Nội dung này: {parts} tin ({units}/{capacity}) không dấu · có dấu sẽ là {other} tin"),
        "live_accented": _("Nội dung này: {parts} tin ({units}/{capacity}) có dấu · không dấu chỉ {other} tin"),
        "live_plain": _("Nội dung này: {parts} tin ({units}/{capacity})"),
        "remove": _("Xóa mục \"{title}\"? Mục chỉ mất hẳn khi bấm Lưu."),
        "remove_children": _("Xóa mục \"{title}\" và {count} mục con? Mục chỉ mất hẳn khi bấm Lưu."),
        "check_bad": _("Chưa lưu được: {error}"),
        "check_ok": _("Hợp lệ: {count} câu trả lời, câu nào cũng tối đa 2 tin."),
        "check_long": _("Hợp lệ: {count} câu trả lời; dài hơn 2 tin: {ids}."),
        "offline": _("Không kết nối được với cổng. Thử lại."),
        "server_kd": _("Cả tin trả lời: {parts} tin · không dấu · {chars} ký tự"),
        "server_accented": _("Cả tin trả lời: {parts} tin · có dấu · {chars} ký tự"),
    }


def register(app: Flask) -> None:
    register_area(app, bp, _l("Menu tin nhắn"), "menus.index", "viewer", order=40)


# -- helpers ----------------------------------------------------------------------------------


def _db() -> Any:
    return current_services().db.get()


def _book_options() -> dict[str, Any]:
    return menus_live.book_options()


def _options() -> dict[str, Any]:
    return menus_live.save_options()


def _folder() -> Any:
    return current_config().menus_path


def _flash_saved(version: int, applied: bool) -> None:
    if applied:
        flash(_("Đã lưu bản #%(version)d. Tin nhắn tiếp theo được trả lời theo menu mới.",
                version=version), "ok")
    else:
        flash(_("Đã lưu bản #%(version)d. Menu mới có hiệu lực sau khi khởi động lại cổng.",
                version=version), "ok")


def _language_tabs(sources: dict[str, Any]) -> list[dict[str, Any]]:
    default = menu_versions.default_source(sources)
    tabs = []
    for source in [default, *sorted(s for s in sources if s != default)]:
        meta = sources[source].get("meta", {})
        tabs.append({"code": meta.get("language", ""), "name": meta.get("name", source),
                     "source": source, "is_default": source == default})
    return tabs


def _khong_dau_kinds() -> frozenset[str]:
    return frozenset(current_config().sms.khong_dau)


def _reference_example() -> str:
    return f"{current_config().gateway.id.upper()}-0042"


def _counts(book: MenuBook | None, language: str, file: menus_form.FileView) -> dict[str, Any]:
    if book is None or language not in book.languages:
        return {}
    return menus_form.reply_counts(
        book, language, _khong_dau_kinds(), _reference_example(), menus_form.tip_item_ids(file.items)
    )


def _render_editor(
    version: menu_versions.Version,
    source: str,
    data: dict[str, Any],
    *,
    error: str = "",
    comment: str = "",
    status: int = 200,
) -> tuple[str, int]:
    sources = version.sources
    file = menus_form.view(source, data)
    try:
        book: MenuBook | None = menu_versions.check(sources, **_book_options())
    except menu_versions.MenuError:
        book = None
    default = menu_versions.default_source(sources)
    contacts = dict(sources[default].get("contacts", {}))
    contacts.update(data.get("contacts", {}))
    base_texts = {name: str(sources[default].get("texts", {}).get(name, ""))
                  for name in menus_form.EDITABLE_TEXTS}
    page = render_template(
        "menus/editor.html",
        version=version,
        file=file,
        tabs=_language_tabs(sources),
        counts=_counts(book, file.language, file),
        contacts=contacts,
        base_texts=base_texts,
        text_labels={name: str(label) for name, label in TEXT_LABELS.items()},
        text_kinds=menus_form.TEXT_KINDS,
        keyword_labels={role: str(label) for role, label in KEYWORD_LABELS.items()},
        js_strings=js_strings(),
        khong_dau_kinds=sorted(_khong_dau_kinds()),
        reference_example=_reference_example(),
        can_edit=current_user.can("admin"),
        error=error,
        comment=comment,
        max_comment=MAX_COMMENT_CHARS,
    )
    return page, status


def _find(version: menu_versions.Version, code: str) -> str | None:
    return menu_versions.source_of(version.sources, code)


def _posted(version: menu_versions.Version, source: str) -> dict[str, Any]:
    """The posted file (FormError if unreadable), with its language and default flag kept."""
    meta = version.sources[source].get("meta", {})
    return menus_form.parse(
        request.form, language=meta.get("language", ""), is_default=meta.get("default") is True
    )


def _stale(version: menu_versions.Version) -> str:
    """An error when someone saved since this page was opened (their edit would be lost)."""
    base = request.form.get("base_version", "")
    if base and base != str(version.id):
        return _("Menu vừa được lưu bởi người khác (bản #%(version)d) sau khi bạn mở trang. "
                 "Hãy chép phần bạn sửa, tải lại trang rồi sửa lại.", version=version.id)
    return ""


# -- pages ------------------------------------------------------------------------------------


@bp.get("/")
def index() -> Response:
    version = menu_versions.current(_db(), _folder())
    default = version.sources[menu_versions.default_source(version.sources)]
    return redirect(url_for("menus.editor", code=default["meta"]["language"]))


@bp.get("/<code>")
def editor(code: str) -> Any:
    version = menu_versions.current(_db(), _folder())
    source = _find(version, code)
    if source is None:
        flash(_("Không có ngôn ngữ %(code)s.", code=code), "error")
        return redirect(url_for("menus.index"))
    return _render_editor(version, source, version.sources[source])


@bp.post("/<code>")
@role_required("admin")
def save(code: str) -> Any:
    db = _db()
    version = menu_versions.current(db, _folder())
    source = _find(version, code)
    if source is None:
        flash(_("Không có ngôn ngữ %(code)s.", code=code), "error")
        return redirect(url_for("menus.index"), code=303)
    comment = (request.form.get("comment") or "").strip()[:MAX_COMMENT_CHARS]
    try:
        data = _posted(version, source)
    except menus_form.FormError as exc:
        return _render_editor(version, source, version.sources[source], error=str(exc),
                              comment=comment, status=400)
    stale = _stale(version)
    if stale:
        return _render_editor(version, source, data, error=stale, comment=comment, status=409)
    sources = {**version.sources, source: data}
    try:
        saved = menu_versions.save(db, sources, current_user.username, comment, **_options())
    except menu_versions.MenuError as exc:
        message = _("Chưa lưu: %(reason)s", reason=str(exc))
        return _render_editor(version, source, data, error=message, comment=comment, status=400)
    if not saved.changed:
        flash(_("Không có thay đổi nào để lưu."), "info")
        return redirect(url_for("menus.editor", code=code), code=303)
    record_request("menus.save", f"#{saved.version}", {"language": code, "comment": comment})
    _flash_saved(saved.version, menus_live.apply_book(saved.book))
    return redirect(url_for("menus.editor", code=code), code=303)


@bp.post("/<code>/check")
@role_required("admin")
def check(code: str) -> Any:
    """Check the form without saving: the loader's verdict and each reply's SMS count."""
    version = menu_versions.current(_db(), _folder())
    source = _find(version, code)
    if source is None:
        return jsonify(ok=False, error=_("Không có ngôn ngữ %(code)s.", code=code)), 404
    try:
        data = _posted(version, source)
        book = menu_versions.check({**version.sources, source: data}, **_book_options())
    except (menus_form.FormError, menu_versions.MenuError) as exc:
        return jsonify(ok=False, error=str(exc))
    file = menus_form.view(source, data)
    counts = _counts(book, code, file)
    return jsonify(ok=True, error="", replies={k: v.as_dict() for k, v in counts.items()})


@bp.post("/languages")
@role_required("admin")
def add_language() -> Any:
    """A new language, copied from the default one for its officers to translate."""
    db = _db()
    version = menu_versions.current(db, _folder())
    code = (request.form.get("code") or "").strip().lower()
    name = (request.form.get("name") or "").strip()
    keywords = menus_form.split_words(request.form.get("keywords", ""))
    problem = menus_form.check_language_code(code, version.sources)
    if problem is None and not name:
        problem = _("Hãy nhập tên ngôn ngữ, ví dụ Tiếng H'Mông.")
    if problem is None and not keywords:
        problem = _("Hãy nhập từ khóa để người dân chuyển sang ngôn ngữ này, ví dụ HMONG.")
    if problem is None:
        sources = menu_versions.with_language(version.sources, code, name, keywords)
        try:
            saved = menu_versions.save(
                db, sources, current_user.username, _("Thêm ngôn ngữ %(name)s", name=name),
                **_options(),
            )
        except menu_versions.MenuError as exc:
            problem = _("Chưa thêm: %(reason)s", reason=str(exc))
        else:
            record_request("menus.language.add", f"#{saved.version}", {"language": code})
            _flash_saved(saved.version, menus_live.apply_book(saved.book))
            return redirect(url_for("menus.editor", code=code), code=303)
    flash(problem, "error")
    back = request.form.get("back") or ""
    if not (back.startswith("/menus/") and "//" not in back and "\\" not in back):
        back = url_for("menus.index")  # only a page of this area, never another site
    return redirect(back, code=303)


@bp.post("/<code>/delete")
@role_required("admin")
def delete_language(code: str) -> Any:
    db = _db()
    version = menu_versions.current(db, _folder())
    source = _find(version, code)
    if source is None or source == menu_versions.default_source(version.sources):
        flash(_("Không xóa được ngôn ngữ mặc định."), "error")
        return redirect(url_for("menus.index"), code=303)
    sources = {k: v for k, v in version.sources.items() if k != source}
    name = version.sources[source].get("meta", {}).get("name", code)
    try:
        saved = menu_versions.save(
            db, sources, current_user.username, _("Xóa ngôn ngữ %(name)s", name=name), **_options()
        )
    except menu_versions.MenuError as exc:
        flash(_("Chưa xóa: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("menus.editor", code=code), code=303)
    record_request("menus.language.delete", f"#{saved.version}", {"language": code})
    _flash_saved(saved.version, menus_live.apply_book(saved.book))
    return redirect(url_for("menus.index"), code=303)


# -- history and undo -------------------------------------------------------------------------


@bp.get("/history")
def history() -> str:
    db = _db()
    versions = menu_versions.history(db)
    current_id = versions[0].id if versions else menu_versions.SHIPPED
    return render_template(
        "menus/history.html", versions=versions, current_id=current_id,
        can_edit=current_user.can("admin"),
    )


@bp.get("/history/<int:number>")
def version_page(number: int) -> Any:
    db = _db()
    version = menu_versions.get(db, number, _folder())
    if version is None:
        flash(_("Không có bản #%(version)d.", version=number), "error")
        return redirect(url_for("menus.history"))
    before_id = menu_versions.previous_id(db, number) if number else None
    before = menu_versions.get(db, before_id, _folder()) if before_id is not None else None
    changes = menu_versions.diff(before.sources, version.sources) if before is not None else []
    current = menu_versions.current(db, _folder())
    names = _names(version, before)
    labelled = [(where_label(c.where, names), c) for c in changes]
    return render_template(
        "menus/version.html", version=version, before=before, changes=labelled,
        is_current=current.id == version.id, can_edit=current_user.can("admin"),
    )


ITEM_FIELD_LABELS = {
    "title": _l("tên mục"),
    "text": _l("nội dung"),
    "keywords": _l("từ khóa"),
    "action": _l("kiểu mục"),
}
META_FIELD_LABELS = {
    "name": _l("tên ngôn ngữ"),
    "keywords": _l("từ khóa chuyển ngôn ngữ"),
    "language": _l("mã ngôn ngữ"),
    "default": _l("mặc định"),
}


def where_label(where: tuple[str, str, str], names: dict[str, str]) -> str:
    """"Tiếng Việt · mục 1.3 · nội dung" for ("vi.toml", "menu.1.3", "text")."""
    source, section, field_name = where
    if section == "menu":
        place, field_label = _("menu chính"), ITEM_FIELD_LABELS.get(field_name, field_name)
    elif section.startswith("menu."):
        place = _("mục %(number)s", number=section[len("menu."):])
        field_label = ITEM_FIELD_LABELS.get(field_name, field_name)
    elif section == "texts":
        place, field_label = _("câu cố định"), TEXT_LABELS.get(field_name, field_name)
    elif section == "keywords":
        place, field_label = _("từ khóa"), KEYWORD_LABELS.get(field_name, field_name)
    elif section == "contacts":
        place, field_label = _("danh bạ"), field_name
    elif section == "meta":
        place, field_label = _("ngôn ngữ"), META_FIELD_LABELS.get(field_name, field_name)
    else:
        place, field_label = section, field_name
    return f"{names.get(source, source)} · {place} · {field_label}"


def _names(*versions: menu_versions.Version | None) -> dict[str, str]:
    names: dict[str, str] = {}
    for version in versions:
        if version is None:
            continue
        for source, data in version.sources.items():
            names.setdefault(source, str(data.get("meta", {}).get("name", source)))
    return names


@bp.post("/history/<int:number>/restore")
@role_required("admin")
def restore(number: int) -> Any:
    db = _db()
    try:
        saved = menu_versions.restore(db, number, current_user.username, **_options())
    except KeyError:
        flash(_("Không có bản #%(version)d.", version=number), "error")
        return redirect(url_for("menus.history"), code=303)
    except menu_versions.MenuError as exc:
        flash(_("Không khôi phục được: %(reason)s", reason=str(exc)), "error")
        return redirect(url_for("menus.version_page", number=number), code=303)
    if not saved.changed:
        flash(_("Bản này đang được dùng."), "info")
        return redirect(url_for("menus.history"), code=303)
    record_request("menus.restore", f"#{saved.version}", {"from": number})
    _flash_saved(saved.version, menus_live.apply_book(saved.book))
    return redirect(url_for("menus.history"), code=303)
