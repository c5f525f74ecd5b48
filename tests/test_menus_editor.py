"""The menus editor: versions in the database, the page's form, roles, history and undo.

Real parts: a SQLite file under tmp_path with the real schema, the real loader
(``MenuBook.from_dict``) judging every save, Flask's test client logged in through the real
login form with CSRF on. The form is posted exactly as a browser without JavaScript would
post the page it was given (``form_fields`` reads the served HTML).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import login_client, make_services, rows
from werkzeug.datastructures import MultiDict

from gateway.config import load_config
from gateway.menus import MenuBook
from gateway.menus import versions as menu_versions
from gateway.web import create_app, menus_form

MENUS = Path(__file__).resolve().parent.parent / "firmware_config" / "menus"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
NEW_CCCD = "CĂN CƯỚC: làm tại Công an xã sáng thứ Bảy. Mang thẻ cũ."


# -- helpers ------------------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """The fields a browser would post from ``<form id=...>``, in document order."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.template = 0
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._text: list[str] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = True
        if tag == "template":
            self.template += 1
        if not self.inside or self.template:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            self.fields.append((a["name"], a.get("value") or ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "template":
            self.template -= 1
        elif tag == "form" and self.inside:
            self.inside = False
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self.fields.append((self._textarea, text[1:] if text.startswith("\n") else text))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, s in self._options if s] or [self._options[0][0]]
            self.fields.append((self._select, chosen[0]))
            self._select = None


def form_fields(html: str, form_id: str = "menu-form") -> list[tuple[str, str]]:
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.fields


def replace_field(fields, name, old_start, new):
    """Change the first field ``name`` whose value starts with ``old_start``."""
    for i, (n, v) in enumerate(fields):
        if n == name and v.startswith(old_start):
            fields[i] = (n, new)
            return fields
    raise AssertionError(f"no field {name} starting {old_start!r}")


def post_form(client, url, fields):
    return client.post(url, data=MultiDict(fields), content_type="multipart/form-data")


def cccd_reply(book: MenuBook, language: str | None = None) -> str:
    return book.respond("CCCD", book.new_session(language), NOW).reply


@pytest.fixture
def applied():
    """What the page handed to the running router (the gateway's on_menus_changed)."""
    return []


def router_that_cannot_take_it(book: MenuBook) -> None:
    raise RuntimeError("the router is not running")


@pytest.fixture
def make_client(storage, db_path, applied):
    """A client of a fresh app (``hook=False``: the running router cannot take a saved book)."""

    def make(role="admin", *, hook=True):
        config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
        services = make_services(db_path, config=config, db=storage,
                                 on_menus_changed=applied.append if hook else router_that_cannot_take_it)
        app = create_app(config, services)
        app.testing = True
        client = app.test_client()
        if role:
            login_client(client, db_path, role)
        return client

    return make


@pytest.fixture
def admin(make_client):
    return make_client("admin")


def shipped() -> dict:
    return menu_versions.shipped_sources(MENUS)


# -- the store ------------------------------------------------------------------------------------


def test_without_saved_versions_the_shipped_files_are_in_use(db):
    version = menu_versions.current(db, MENUS)
    assert version.id == menu_versions.SHIPPED and version.is_shipped
    book = menu_versions.load_current(db, MENUS)
    assert "CĂN CƯỚC" in cccd_reply(book)
    assert menu_versions.history(db) == []


def test_each_save_is_a_version_and_restore_undoes(db):
    sources = shipped()
    sources["vi.toml"]["menu"]["1"]["3"]["text"] = NEW_CCCD
    first = menu_versions.save(db, sources, "an", "giờ làm CCCD", now=NOW)
    assert first.changed and first.version == 1
    assert cccd_reply(first.book) == NEW_CCCD
    assert cccd_reply(menu_versions.load_current(db, MENUS)) == NEW_CCCD

    again = menu_versions.save(db, sources, "an", "lần nữa")
    assert not again.changed and again.version == 1  # nothing new to keep

    undo = menu_versions.restore(db, menu_versions.SHIPPED, "binh", folder=MENUS)
    assert undo.changed and undo.version == 2
    assert "Mang thẻ cũ (nếu có)" in cccd_reply(menu_versions.load_current(db, MENUS))
    redo = menu_versions.restore(db, 1, "binh")
    assert cccd_reply(redo.book) == NEW_CCCD

    history = menu_versions.history(db)
    assert [(v.id, v.saved_by, v.restored_from) for v in history] == [
        (3, "binh", 1), (2, "binh", 0), (1, "an", None)
    ]
    assert history[2].comment == "giờ làm CCCD" and history[2].saved_at == NOW.isoformat()
    assert history[0].comment == "Khôi phục bản #1"


def test_a_duplicate_keyword_is_refused_with_the_loaders_line_and_nothing_is_stored(db):
    sources = shipped()
    sources["vi.toml"]["menu"]["1"]["5"]["keywords"].append("CCCD")
    with pytest.raises(menu_versions.MenuError) as caught:
        menu_versions.save(db, sources, "an", "")
    message = str(caught.value)
    assert "\n" not in message
    assert "'CCCD'" in message and "menu.1.3" in message and "menu.1.5" in message
    assert menu_versions.history(db) == []


def test_a_language_keyword_clashing_with_another_languages_is_refused(db):
    sources = menu_versions.with_language(shipped(), "hmn", "Hmoob", ["HMONG"])
    menu_versions.save(db, sources, "an", "")
    sources["hmn.toml"]["meta"]["keywords"] = ["TV"]  # Vietnamese's own switch keyword
    with pytest.raises(menu_versions.MenuError, match=r"'TV'.*clashes with vi\.toml"):
        menu_versions.save(db, sources, "an", "")


def test_a_new_language_is_a_copy_to_translate_and_villagers_switch_with_its_keyword(db):
    sources = menu_versions.with_language(shipped(), "hmn", "Lus Hmoob", ["HMONG"])
    assert "contacts" not in sources["hmn.toml"]  # phone numbers stay in one place
    sources["hmn.toml"]["menu"]["1"]["3"]["text"] = "NTAWV POV THAWJ: {{can_bo_cu_tru}}"
    book = menu_versions.save(db, sources, "an", "").book
    switched = book.respond("hmong", book.new_session(), NOW)
    assert switched.session.language == "hmn"
    assert book.respond("CCCD", switched.session, NOW).reply == "NTAWV POV THAWJ: 09xx xxx xxx"
    assert "CĂN CƯỚC" in cccd_reply(book, "vi")


def test_a_saved_version_clashing_with_a_reserved_keyword_stays_in_use_and_says_so(db, caplog):
    older = shipped()
    for word in ("CCCD", "LÀM CCCD"):
        older["vi.toml"]["menu"]["1"]["3"]["keywords"].remove(word)
    older["vi.toml"]["menu"]["1"]["3"]["text"] = "Bản 1: căn cước"
    menu_versions.save(db, older, "an", "")
    newer = shipped()
    newer["vi.toml"]["menu"]["1"]["3"]["text"] = NEW_CCCD
    menu_versions.save(db, newer, "an", "")
    # A later gateway reserves "CCCD" for a handler of its own: version 2 clashes with it. It
    # stays the menus in use (never version 1, never the shipped files: they may drop the post's
    # real contacts); "CCCD" itself is the handler's, which the router asks first.
    in_use = menu_versions.in_use(db, MENUS, reserved=["CCCD", "DK"])
    assert in_use.version == 2 and in_use.clashes == ("CCCD",) and in_use.skipped == ()
    assert in_use.book.respond("CĂN CƯỚC", None, NOW).reply == NEW_CCCD
    assert menu_versions.load_current(db, MENUS, reserved=["CCCD"]).respond("CĂN CƯỚC", None, NOW).reply == NEW_CCCD
    assert "menus version 2 uses keywords the gateway reserves (CCCD)" in caplog.text
    # Saving it again is still refused: an admin must change the keyword.
    with pytest.raises(menu_versions.MenuError, match="reserved by the router"):
        menu_versions.save(db, shipped(), "an", "", reserved=["CCCD"])


def test_a_saved_version_the_loader_refuses_is_skipped_for_an_older_one_and_says_so(db, caplog):
    older = shipped()
    older["vi.toml"]["menu"]["1"]["3"]["text"] = "Bản 1: căn cước"
    menu_versions.save(db, older, "an", "")
    broken = shipped()  # as an older gateway may have stored it: a placeholder with no value
    broken["vi.toml"]["menu"]["1"]["3"]["text"] = "Gọi {{khong_co}}"
    db.execute("INSERT INTO menu_versions (saved_at, saved_by, comment, sources) VALUES (?, 'an', '', ?)",
               (NOW.isoformat(), json.dumps(broken, ensure_ascii=False)))
    in_use = menu_versions.in_use(db, MENUS)
    assert in_use.version == 1 and [v for v, _ in in_use.skipped] == [2] and "khong_co" in in_use.skipped[0][1]
    assert in_use.book.respond("CCCD", None, NOW).reply == "Bản 1: căn cước"
    assert "menus version 2 no longer loads" in caplog.text


def test_diff_names_what_changed(db):
    old = shipped()
    new = copy.deepcopy(old)
    new["vi.toml"]["menu"]["1"]["3"]["text"] = NEW_CCCD
    new["vi.toml"]["contacts"]["truc_ban"] = "0912 000 113"
    del new["vi.toml"]["menu"]["5"]["keywords"]
    changes = {c.where: c for c in menu_versions.diff(old, new)}
    assert set(changes) == {
        ("vi.toml", "menu.1.3", "text"), ("vi.toml", "contacts", "truc_ban"),
        ("vi.toml", "menu.5", "keywords"),
    }
    assert changes[("vi.toml", "menu.1.3", "text")].after == NEW_CCCD
    assert changes[("vi.toml", "contacts", "truc_ban")].kind == "changed"
    assert changes[("vi.toml", "menu.5", "keywords")].kind == "removed"


# -- the page -------------------------------------------------------------------------------------


def editor_fields(client, code="vi"):
    response = client.get(f"/menus/{code}")
    assert response.status_code == 200
    return form_fields(response.get_data(as_text=True))


def test_the_page_posts_back_exactly_what_it_shows(admin, db):
    """The page's fields, posted untouched, are the menus in use: nothing to save."""
    fields = editor_fields(admin)
    assert ("item.title", "Căn cước (CCCD)") in fields
    response = post_form(admin, "/menus/vi", fields)
    assert response.status_code == 303
    assert menu_versions.history(db) == []
    data = menus_form.parse(MultiDict(fields), language="vi", is_default=True)
    assert data == menu_versions.shipped_sources(MENUS)["vi.toml"]


def test_an_admin_edits_a_reply_and_the_router_gets_the_new_menus(admin, db, db_path, applied):
    fields = replace_field(editor_fields(admin), "item.text", "CĂN CƯỚC", NEW_CCCD)
    fields = [f for f in fields if f[0] != "comment"] + [("comment", "lịch làm CCCD mới")]
    response = post_form(admin, "/menus/vi", fields)
    assert response.status_code == 303
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "Đã lưu bản #1" in page and "Tin nhắn tiếp theo được trả lời theo menu mới" in page
    assert NEW_CCCD in page
    assert len(applied) == 1 and cccd_reply(applied[0]) == NEW_CCCD
    [version] = menu_versions.history(db)
    assert version.comment == "lịch làm CCCD mới" and version.saved_by.startswith("admin")
    audit = rows(db_path, "SELECT action, target FROM audit_log WHERE action LIKE 'menus.%'")
    assert audit == [("menus.save", "#1")]


def test_without_the_gateways_hook_the_page_says_a_restart_is_needed(make_client):
    client = make_client("admin", hook=False)
    fields = replace_field(editor_fields(client), "item.text", "CĂN CƯỚC", NEW_CCCD)
    page = client.get(post_form(client, "/menus/vi", fields).headers["Location"]).get_data(as_text=True)
    assert "sau khi khởi động lại" in page


def test_a_duplicate_keyword_is_refused_and_the_admins_edits_stay_on_the_page(admin, db, applied):
    fields = replace_field(editor_fields(admin), "item.keywords", "XE, XE MÁY", "XE, XE MÁY, CCCD")
    fields = replace_field(fields, "item.text", "VNeID MỨC 2", "VNeID: sửa dở <b>đậm</b>")
    response = post_form(admin, "/menus/vi", fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Chưa lưu: vi.toml: keyword &#39;CCCD&#39; is used twice (menu.1.3 and menu.1.5)" in page
    assert "VNeID: sửa dở &lt;b&gt;đậm&lt;/b&gt;" in page  # kept, and shown as text
    assert ("item.keywords", "XE, XE MÁY, CCCD") in form_fields(page)
    assert menu_versions.history(db) == [] and applied == []


def test_items_can_be_added_removed_and_nested_by_depth(admin, db, applied):
    fields = editor_fields(admin)
    # drop item 3 (its title, text and keywords emptied, as without JavaScript)
    i = fields.index(("item.title", "Cảnh báo lừa đảo"))
    fields[i] = ("item.title", "")
    fields[i + 1] = ("item.keywords", "")
    fields[i + 3] = ("item.text", "")
    # a new item 5.1 under "Giờ làm việc" (depth 2 after it), as the page's "Thêm mục con" does
    fields += [("item.depth", "2"), ("item.title", "Lịch tiếp dân"), ("item.keywords", "TIẾP DÂN"),
               ("item.action", ""), ("item.text", "Tiếp dân sáng thứ Năm.")]
    assert post_form(admin, "/menus/vi", fields).status_code == 303
    book = applied[-1]
    menu = book.respond("MENU", None, NOW).reply
    assert "3. Gửi tin báo" in menu and "Cảnh báo lừa đảo" not in menu
    assert book.respond("tiep dan", None, NOW).reply == "Tiếp dân sáng thứ Năm."
    saved = menu_versions.current(db, MENUS).sources["vi.toml"]["menu"]
    assert saved["4"]["title"] == "Giờ làm việc, địa chỉ" and saved["4"]["1"]["title"] == "Lịch tiếp dân"


def test_a_tree_with_a_sub_item_without_parent_is_refused(admin, db):
    fields = [f for f in editor_fields(admin)]
    i = fields.index(("item.depth", "1"))
    fields[i] = ("item.depth", "2")  # the first item claims a parent it does not have
    response = post_form(admin, "/menus/vi", fields)
    assert response.status_code == 400
    assert "mục con không có mục cha" in response.get_data(as_text=True)
    assert menu_versions.history(db) == []


@pytest.mark.parametrize("role", ["viewer", "officer"])
def test_viewers_and_officers_read_the_menus_but_cannot_change_them(make_client, db, role, applied):
    client = make_client(role)
    page = client.get("/menus/vi").get_data(as_text=True)
    assert "Căn cước (CCCD)" in page
    assert "Chỉ quản trị viên được sửa menu" in page
    assert 'id="menu-save"' not in page and "<fieldset class=\"menu-all\" disabled" in page
    fields = replace_field(form_fields(page), "item.text", "CĂN CƯỚC", NEW_CCCD)
    assert post_form(client, "/menus/vi", fields).status_code == 403
    for url, data in [("/menus/languages", {"code": "hmn", "name": "H", "keywords": "HMONG"}),
                      ("/menus/history/0/restore", {}), ("/menus/vi/check", {})]:
        assert client.post(url, data=data).status_code == 403, url
    assert menu_versions.history(db) == [] and applied == []


def test_a_stranger_is_sent_to_the_login_page(make_client):
    client = make_client(role=None)
    assert client.get("/menus/vi").headers["Location"].startswith("/login")
    refused = client.post("/menus/vi", data={})  # the login wall answers before the CSRF check
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")


def test_saving_over_a_newer_version_is_refused_so_no_edit_is_lost(admin, db):
    fields = replace_field(editor_fields(admin), "item.text", "CĂN CƯỚC", NEW_CCCD)
    other = shipped()
    other["vi.toml"]["contacts"]["truc_ban"] = "0912 000 113"
    menu_versions.save(db, other, "binh", "số trực ban")
    response = post_form(admin, "/menus/vi", fields)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "bởi người khác (bản #1)" in page and NEW_CCCD in page
    assert len(menu_versions.history(db)) == 1


def test_check_answers_the_loaders_verdict_and_the_real_sms_counts(admin, db):
    fields = editor_fields(admin)
    body = post_form(admin, "/menus/vi/check", fields).get_json()
    assert body["ok"] is True
    cccd = body["replies"]["1.3"]
    assert cccd["khong_dau"] is True and cccd["encoding"] == "gsm7"
    assert cccd["parts"] == 2 and cccd["accented_parts"] == 4
    long_text = "Mời bà con " + "đến làm căn cước " * 12
    fields = replace_field(fields, "item.text", "CĂN CƯỚC", long_text)
    assert post_form(admin, "/menus/vi/check", fields).get_json()["replies"]["1.3"]["parts"] == 2
    bad = replace_field(fields, "item.keywords", "XE, XE MÁY", "XE, XE MÁY, CCCD")
    verdict = post_form(admin, "/menus/vi/check", bad).get_json()
    assert verdict["ok"] is False and "used twice" in verdict["error"]
    assert menu_versions.history(db) == []


def test_the_page_shows_each_replys_sms_count_as_the_router_would_send_it(admin):
    page = admin.get("/menus/vi").get_data(as_text=True)
    # item 1.3's whole reply: contacts filled in, sent without diacritics (sms.khong_dau)
    assert "Cả tin trả lời: 2 tin · không dấu" in page
    assert "CAN CUOC: tu du 14 tuoi phai lam" in page  # the "không dấu" preview


def test_a_new_language_is_added_and_answers_after_its_keyword(admin, db, applied):
    response = admin.post("/menus/languages", data={"code": "hmn", "name": "Lus Hmoob", "keywords": "HMONG, HMOOB"})
    assert response.status_code == 303 and response.headers["Location"] == "/menus/hmn"
    page = admin.get("/menus/hmn").get_data(as_text=True)
    assert "Lus Hmoob" in page and "Đã lưu bản #1" in page
    fields = replace_field(form_fields(page), "item.text", "CĂN CƯỚC", "Ntawv pov thawj: {{can_bo_cu_tru}}")
    assert post_form(admin, "/menus/hmn", fields).status_code == 303
    book = applied[-1]
    session = book.respond("HMOOB", None, NOW).session
    assert book.respond("CCCD", session, NOW).reply == "Ntawv pov thawj: 09xx xxx xxx"
    assert "CĂN CƯỚC" in cccd_reply(book)  # Vietnamese unchanged

    again = admin.post("/menus/languages", data={"code": "hmn", "name": "x", "keywords": "Y",
                                                 "back": "/menus/hmn"})
    assert again.headers["Location"] == "/menus/hmn"
    assert "Ngôn ngữ hmn đã có" in admin.get("/menus/hmn").get_data(as_text=True)
    clash = admin.post("/menus/languages", data={"code": "tay", "name": "Tày", "keywords": "HMONG",
                                                 "back": "//evil.example/x"})
    assert clash.headers["Location"] == "/menus/"
    page = admin.get("/menus/vi").get_data(as_text=True)
    assert "Chưa thêm" in page and "HMONG" in page

    assert admin.post("/menus/vi/delete").status_code == 303  # the default: refused
    assert "vi.toml" in menu_versions.current(db, MENUS).sources
    assert admin.post("/menus/hmn/delete").status_code == 303
    assert set(menu_versions.current(db, MENUS).sources) == {"vi.toml"}
    assert applied[-1].languages == ("vi",)


def test_history_shows_what_changed_and_restore_undoes_it(admin, db, applied):
    fields = replace_field(editor_fields(admin), "item.text", "CĂN CƯỚC", "<script>alert(1)</script> sai")
    post_form(admin, "/menus/vi", fields)
    history = admin.get("/menus/history").get_data(as_text=True)
    assert "#1" in history and "đang dùng" in history
    page = admin.get("/menus/history/1").get_data(as_text=True)
    assert "Thay đổi so với tệp gốc" in page and "mục 1.3" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; sai" in page and "<script>alert(1)" not in page
    assert "Khôi phục bản này" not in page  # it is the one in use

    original = admin.get("/menus/history/0").get_data(as_text=True)
    assert 'id="restore-version"' in original
    response = admin.post("/menus/history/0/restore")
    assert response.status_code == 303
    assert "Mang thẻ cũ (nếu có)" in cccd_reply(applied[-1])
    assert [v.restored_from for v in menu_versions.history(db)] == [0, None]
    assert "Khôi phục tệp gốc" in admin.get("/menus/history").get_data(as_text=True)
    assert admin.post("/menus/history/99/restore").status_code == 303


def test_a_viewer_sees_history_but_no_restore_button(make_client, admin, db):
    post_form(admin, "/menus/vi", replace_field(editor_fields(admin), "item.text", "CĂN CƯỚC", NEW_CCCD))
    viewer = make_client("viewer")
    page = viewer.get("/menus/history/0").get_data(as_text=True)
    assert "Tệp gốc" in page and 'id="restore-version"' not in page


def test_bad_contact_names_and_tampered_forms_get_a_clear_answer(admin, db):
    fields = [*editor_fields(admin), ("contact.name", "trực ban"), ("contact.value", "0912")]
    page = post_form(admin, "/menus/vi", fields).get_data(as_text=True)
    assert "Tên liên hệ &#39;trực ban&#39; không hợp lệ" in page
    short = [f for f in editor_fields(admin)]
    short.remove(next(f for f in short if f[0] == "item.action"))
    assert post_form(admin, "/menus/vi", short).status_code == 400
    assert admin.get("/menus/zz").status_code == 302
    assert menu_versions.history(db) == []


def test_every_string_of_the_menus_poster_and_simulator_pages_has_an_english_translation(admin):
    from babel.messages.extract import extract_from_file

    from gateway.web import i18n

    web = Path(__file__).resolve().parent.parent / "gateway" / "web"
    files = [web / f"{name}.py" for name in ("menus_editor", "poster", "simulator")]
    templates = [p for area in ("menus", "poster", "simulator") for p in (web / "templates" / area).glob("*.html")]
    keywords = {"_": None, "_l": None, "gettext": None}
    found = set()
    for path in files:
        found |= {m[1] for m in extract_from_file("python", str(path), keywords=keywords)}
    for path in templates:
        found |= {m[1] for m in extract_from_file("jinja2", str(path), keywords=keywords)}
    assert len(found) > 150
    assert sorted(found & set(i18n.untranslated("en"))) == []
    page = admin.get("/menus/vi?lang=en").get_data(as_text=True)
    assert "Save and apply" in page and "Whole reply: 2 SMS · without diacritics" in page
    assert "Căn cước (CCCD)" in page  # the menus themselves are content, never translated
