"""First-run setup (``/admin/setup``): the commune's names and numbers fill the menus' placeholders.

Until it is done the dashboard has an alert linking to the page, ``/healthz`` says
``setup_complete: false`` and doctor's "menus filled in" fails, all by one rule
(``gateway.menus.versions.unset_contacts``). A save is a new menus version like the editor's.
"""

from __future__ import annotations

import pytest
from conftest import make_services

from gateway import doctor
from gateway.accounts import audit
from gateway.broadcasts import subscribers
from gateway.config import load_config
from gateway.menus import versions as menu_versions

# Officers' work phones, made up for the test (no villager's number).
FORM = {
    "contact.ten_xa": "Cốc Lầu",
    "contact.dia_chi": "thôn Cốc Lầu, xã Cốc Lầu, tỉnh Lào Cai",
    "contact.gio_lam_viec": "7h30-11h30, 13h30-17h00 thứ Hai đến thứ Sáu",
    "contact.truc_ban": "0912 000 111",
    "contact.truong_cong_an": "+84 912 000 222",
    "contact.can_bo_cu_tru": "0912-000-333",
    "contact.duong_day_nong_tinh": "0214 3880 113",
    "village.name": ["Thôn Na Hối", "Thôn Cốc Cái", ""],
    "village.number": ["0912000444", "0912 000 555", ""],
}


@pytest.fixture
def books():
    """The books the page handed to the running router (the gateway's on_menus_changed)."""
    return []


@pytest.fixture
def services(db_path, web_config, storage, books):
    return make_services(db_path, config=web_config, db=storage, on_menus_changed=books.append, version="t")


def menus_check(app, db):
    return doctor.check_menus(app.extensions["tinbao"]["config"], db)


def test_only_admins_reach_the_setup_page(app, db_path, logged_in):
    assert logged_in("officer").get("/admin/setup/").status_code == 403
    admin = logged_in("admin")
    page = admin.get("/admin/setup/").get_data(as_text=True)
    assert 'action="/admin/setup/"' in page and "Chưa xong" in page
    assert "TinBao t ·" in page  # the page frame's own version, not the menus version
    assert admin.get("/admin/users").get_data(as_text=True).count('href="/admin/setup/"') == 1  # the admin tab


def test_bad_numbers_and_placeholders_are_refused_inline_and_the_values_stay(app, db_path, db, logged_in, books):
    admin = logged_in("admin")
    form = {**FORM, "contact.truc_ban": "0123", "contact.ten_xa": "xxxx",
            "village.name": ["Thôn Na Hối", "", "Thôn Na Hối"], "village.number": ["0912000444", "0912000555", "5656"]}
    response = admin.post("/admin/setup/", data=form)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Số không đúng" in page and 'value="0123"' in page  # the error beside the typed value
    assert "Còn chữ &#34;xx&#34; của mẫu" in page
    assert "Hãy điền tên thôn." in page and "Thôn này đã có ở trên." in page
    assert 'value="0214 3880 113"' in page and 'value="0912000555"' in page  # good values kept too
    assert menu_versions.history(db) == [] and books == []
    no_village = {**FORM, "village.name": ["", ""], "village.number": ["", ""]}
    page = admin.post("/admin/setup/", data=no_village).get_data(as_text=True)
    assert "Hãy điền ít nhất một thôn" in page
    assert menu_versions.history(db) == []


def test_a_save_fills_the_menus_and_setup_becomes_complete(app, db_path, db, logged_in, books):
    admin = logged_in("admin")
    health = admin.get("/healthz").get_json()
    assert health["setup_complete"] is False
    alert = {a["key"]: a for a in admin.get("/api/dashboard").get_json()["alerts"]}["setup"]
    assert alert["url"] == "/admin/setup/" and "chỗ trống" in alert["text"]
    assert 'href="/admin/setup/"' in admin.get("/").get_data(as_text=True)
    check = menus_check(app, db)
    assert not check.ok and "/admin/setup" in check.fix
    assert "«Số của cán bộ cư trú, căn cước»" in check.found and "can_bo_cu_tru" not in check.found

    response = admin.post("/admin/setup/", data=FORM)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    [version] = menu_versions.history(db)
    assert version.comment == "Cài đặt ban đầu" and version.saved_by == admin_name(db)
    contacts = version.sources["vi.toml"]["contacts"]
    # Numbers as the officer grouped them (or the usual grouping), read off a basic phone's screen.
    assert contacts["truong_cong_an"] == "0912 000 222" and contacts["duong_day_nong_tinh"] == "0214 3880 113"
    assert contacts["can_bo_cu_tru"] == "0912-000-333"
    assert contacts["cong_an_thon"] == "Thôn Na Hối: 0912 000 444\nThôn Cốc Cái: 0912 000 555"
    [book] = books  # handed to the running router
    replies = book.replies()
    assert replies["menu"].startswith("Công an xã Cốc Lầu")  # the name's case as typed, never "CÔNG AN XÃ Cốc Lầu"
    assert "Trực ban 24/24: 0912 000 111" in replies["2.1"] and "Thôn Cốc Cái: 0912 000 555" in replies["2.2"]
    assert book.unset_contacts() == []
    villages = {g["name"] for g in subscribers.groups(db) if g["kind"] == "village"}
    assert villages == {"Thôn Na Hối", "Thôn Cốc Cái"}
    [entry] = audit.search(db, action="menus.setup")
    assert entry.target == f"#{version.id}" and "0912" not in str(entry.detail)

    assert admin.get("/healthz").get_json()["setup_complete"] is True
    assert "setup" not in {a["key"] for a in admin.get("/api/dashboard").get_json()["alerts"]}
    assert menus_check(app, db).ok
    page = admin.get("/admin/setup/").get_data(as_text=True)
    assert "Đã xong" in page and 'value="0912 000 111"' in page and 'value="Thôn Cốc Cái"' in page
    history = admin.get("/menus/history").get_data(as_text=True)
    assert "Cài đặt ban đầu" in history

    # The same values again: nothing new in the history; no second group for a village.
    again = admin.post("/admin/setup/", data={**FORM, "base_version": str(version.id)})
    assert again.status_code == 303 and len(menu_versions.history(db)) == 1 and len(books) == 1
    assert len([g for g in subscribers.groups(db) if g["kind"] == "village"]) == 2


def test_a_setup_opened_before_another_save_is_refused_with_its_values_kept(app, db_path, db, logged_in):
    admin = logged_in("admin")
    assert admin.post("/admin/setup/", data=FORM).status_code == 303
    stale = admin.post("/admin/setup/", data={**FORM, "contact.ten_xa": "Bản Phố", "base_version": "0"})
    assert stale.status_code == 409 and 'value="Bản Phố"' in stale.get_data(as_text=True)
    assert len(menu_versions.history(db)) == 1


def admin_name(db) -> str:
    return db.execute("SELECT username FROM users WHERE role = 'admin'").fetchone()[0]


def test_doctor_and_healthz_use_the_one_rule(db_path, db):
    """A contact left as "09xx" anywhere keeps setup incomplete, whatever else is filled."""
    config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
    sources = menu_versions.shipped_sources(config.menus_path)
    filled = {name: "0912000111" for name in sources["vi.toml"]["contacts"]}
    filled["ten_xa"] = "Cốc Lầu"
    options = menu_versions.book_options(config)
    menu_versions.save(db, menu_versions.with_contacts(sources, {**filled, "dia_chi": "thôn xxxx"}), "an", **options)
    assert menu_versions.unset_contacts(db, config.menus_path, **options) == ["vi.toml: dia_chi"]
    assert not doctor.check_menus(config, db).ok
    menu_versions.save(db, menu_versions.with_contacts(sources, filled), "an", **options)
    assert menu_versions.unset_contacts(db, config.menus_path, **options) == []
    assert doctor.check_menus(config, db).ok


def test_every_string_of_the_setup_page_has_an_english_translation(app, db_path, logged_in):
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    from gateway.web import i18n

    web = Path(__file__).resolve().parent.parent / "gateway" / "web"
    keywords = {"_": None, "_l": None, "gettext": None}
    found = {m[1] for m in extract_from_file("python", str(web / "setup.py"), keywords=keywords)}
    for name in ("setup.html", "_tabs.html"):
        found |= {m[1] for m in extract_from_file("jinja2", str(web / "templates" / "admin" / name), keywords=keywords)}
    assert len(found) > 30
    assert sorted(found & set(i18n.untranslated("en"))) == []
    page = logged_in("admin").get("/admin/setup/?lang=en").get_data(as_text=True)
    assert "First-run setup" in page and "Provincial police hotline" in page


def test_the_numbers_a_post_really_has_are_accepted_and_kept_as_typed(app, db_path, db, logged_in, books):
    admin = logged_in("admin")
    police_network = {**FORM, "contact.duong_day_nong_tinh": "069 2693 113", "contact.truc_ban": "113",
                      "contact.truong_cong_an": "0214 3880 114", "village.number": ["0912.000.444", "0912000555", ""]}
    response = admin.post("/admin/setup/", data=police_network)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    replies = books[-1].replies()
    assert "Đường dây nóng Công an tỉnh: 069 2693 113" in replies["2.1"]
    assert "Trực ban 24/24: 113" in replies["2.1"] and "Trưởng Công an xã: 0214 3880 114" in replies["2.1"]
    assert "Thôn Na Hối: 0912.000.444" in replies["2.2"] and "Thôn Cốc Cái: 0912 000 555" in replies["2.2"]

    # A hotline is a desk's or the province's answer, never one officer's own number.
    version = menu_versions.history(db)[0].id
    for field, value in (("contact.truong_cong_an", "113"), ("contact.can_bo_cu_tru", "111")):
        refused = admin.post("/admin/setup/", data={**police_network, field: value, "base_version": str(version)})
        assert refused.status_code == 400 and "đường dây nóng chung" in refused.get_data(as_text=True)
    refused = admin.post("/admin/setup/", data={**police_network, "village.number": ["113", "", ""],
                                                "base_version": str(version)})
    assert refused.status_code == 400 and "đường dây nóng chung" in refused.get_data(as_text=True)


def test_what_is_left_is_named_by_the_forms_labels_never_the_menus_keys(app, logged_in):
    import re

    admin = logged_in("admin")
    page = admin.get("/admin/setup/").get_data(as_text=True)
    banner = re.search(r'id="setup-incomplete">(.*?)</p>', page, re.S).group(1)
    for label in ("Tên xã", "Số của cán bộ cư trú, căn cước", "Đường dây nóng Công an tỉnh",
                  "Các thôn và công an phụ trách"):
        assert label in banner
    for key in ("ten_xa", "can_bo_cu_tru", "cong_an_thon", "dia_chi", "truc_ban"):
        assert key not in banner
    english = admin.get("/admin/setup/?lang=en").get_data(as_text=True)
    banner = re.search(r'id="setup-incomplete">(.*?)</p>', english, re.S).group(1)
    assert "Provincial police hotline" in banner and "duong_day_nong_tinh" not in banner
