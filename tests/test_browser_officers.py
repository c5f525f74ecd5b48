"""The officers' pages in a real headless Chromium, against the live gateway and its emulator.

Every page of the gateway and of the hub at 1280 and 360 px in both languages, listed and
checked by ``page_sweep`` (screenshots in test-output/); a broadcast followed live without a
reload; the poster on one A4 page; the tips' filters a sheet on a phone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import page_sweep
import pytest
from conftest import ON_PAPER, login_page, make_config, rows, screenshot, wait_until
from page_sweep import GATEWAY_PAGES, HUB_PAGES, NOT_PAGES

from gateway.broadcasts import subscribers
from gateway.service import Gateway
from gateway.storage import write_transaction

LIVE = {
    "TINBAO_MODEM_PORT": "emulator",
    "TINBAO_WEB_PORT": "0",
    "TINBAO_GATEWAY_PHONE_NUMBER": "0214 3880 113",  # the poster needs it (not a mobile: no daily loop test SMS)
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour of the run
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
}
@pytest.fixture
def gateway_with_data(tmp_path: Path):
    import threading

    import waitress

    config = make_config(tmp_path, **LIVE)
    gw = Gateway(config)
    gw.start()
    server = waitress.create_server(gw.web_app(), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_until(lambda: gw.modem.state.state == "connected", 15)
    yield gw, f"http://127.0.0.1:{server.effective_port}"
    server.close()
    gw.stop()


def seed(gw, people: int = 6) -> None:
    db = gw.dbs.get()
    now = gw.clock.now()
    with write_transaction(db):
        for i in range(people):
            subscribers.save_member(db, subscribers.Member(f"+8491500000{i}", name=f"Người thử {i}",
                                                           village="Na Hối"), source="officer", now=now, basis=ON_PAPER)


def compose_and_confirm(page, base: str) -> int:
    page.goto(f"{base}/broadcasts/new")
    page.select_option("#warning", "01_gia_danh_cong_an")
    page.check("#everyone")
    with page.expect_navigation():
        page.click("#do-send")
    with page.expect_navigation():
        page.click("#confirm-send")
    return int(re.search(r"/broadcasts/(\d+)$", page.url).group(1))


def test_a_broadcast_is_followed_live_and_shows_what_went_out(gateway_with_data, page, browser):
    gw, base = gateway_with_data
    seed(gw)
    db_path = gw.config.storage_path
    login_page(page, base, db_path, role="officer")
    page.goto(f"{base}/broadcasts/new")
    page.select_option("#warning", "01_gia_danh_cong_an")
    page.check("#everyone")
    with page.expect_navigation():
        page.click("#do-send")
    assert page.text_content("#confirm-people") == "6"
    parts = int(page.text_content("#confirm-parts"))
    assert page.text_content("#confirm-total") == str(6 * parts)
    assert page.text_content("#confirm-cost") == f"{6 * parts * 350:,} đồng".replace(",", ".")
    assert gw.emulator.sent_messages() == []  # nothing leaves before the officer confirms
    screenshot(page, "broadcast-confirm-1280")
    with page.expect_navigation():
        page.click("#confirm-send")
    page.evaluate("window.__samePage = true")

    list_page = page.context.new_page()
    list_page.goto(f"{base}/broadcasts/")
    list_page.evaluate("window.__samePage = true")

    assert wait_until(lambda: len({m.destination for m in gw.emulator.sent_messages()}) == 6, 60)
    assert wait_until(lambda: rows(db_path, "SELECT status FROM broadcasts") == [("done",)], 30)
    # Within a few seconds of reality, with no reload.
    page.locator("#broadcast-status", has_text="Đã xong").wait_for(timeout=6000)
    page.locator("#live-run .progress-text", has_text="6/6").wait_for(timeout=6000)
    list_page.locator("#broadcast-list .progress-text", has_text="6/6").wait_for(timeout=6000)
    list_page.locator("#broadcast-list .broadcast-status", has_text="Đã xong").wait_for(timeout=6000)
    assert page.evaluate("window.__samePage") is True and list_page.evaluate("window.__samePage") is True

    sent_text = rows(db_path, "SELECT text FROM broadcast_runs")[0][0]
    assert {m.text for m in gw.emulator.sent_messages()} == {sent_text}  # what the villagers got
    assert page.text_content("#broadcast-text") == sent_text
    page.reload()
    assert page.text_content("#broadcast-text") == sent_text
    screenshot(page, "broadcast-live-1280")
    list_page.close()


def seed_every_page(gw, page, base: str) -> None:
    """What the pages of ``page_sweep.GATEWAY_PAGES`` show: a tip, people with a village, a villager's
    village the list does not know yet ("Xếp vào thôn"), a broadcast, a saved menus version."""
    from gateway.menus import versions as menu_versions

    seed(gw)
    db_path = gw.config.storage_path
    gw.emulator.deliver("0912345678", "TIN Có người lạ dụ bán đất ở thôn Na Hối")
    gw.emulator.deliver("0912345679", "DK Bản Phìn Chải Trên Đỉnh Núi")  # a village nobody typed in setup
    assert wait_until(lambda: rows(db_path, "SELECT COUNT(*) FROM tips")[0][0] == 1, 20)
    assert wait_until(lambda: rows(db_path, "SELECT COUNT(*) FROM inbox WHERE status = 'done' AND sender = ?",
                                   ("+84912345679",))[0][0] == 1, 20)
    db = gw.dbs.get()
    config = gw.config
    sources = menu_versions.shipped_sources(config.menus_path)
    menu_versions.save(db, menu_versions.with_contacts(sources, {"ten_xa": "Cốc Lầu"}), "an", "ghi tên xã Cốc Lầu",
                       **menu_versions.book_options(config))  # setup half done: its banner shows what is left
    seed_province_and_request(db)
    compose_and_confirm(page, base)


def seed_province_and_request(db) -> None:
    """A province warning waiting for an officer, and a person's request with its number looked up."""
    from gateway.broadcasts import province
    from gateway.privacy import requests as data_requests

    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    warning = {"id": 1, "version": 1, "title": "Giả danh công an gọi điện đòi chuyển tiền",
               "accented": "Công an không gọi điện đòi chuyển tiền. Gặp cuộc gọi như vậy, hãy báo công an xã.",
               "khong_dau": "Cong an khong goi dien doi chuyen tien. Gap cuoc goi nhu vay, hay bao cong an xa."}
    with write_transaction(db):
        province.apply(db, [warning], now, via="sync", auto_accept=False, hub_name="Công an tỉnh Lào Cai")
        found = data_requests.record(db, requester="Người thử yêu cầu", contact="Thôn Na Hối, gặp tại trụ sở",
                                     channel="in_person", kinds=["see", "delete"], received_on=today, by="an",
                                     now=now, today=today)
        data_requests.set_number(db, found.id, "+84912345678")


def seed_hub_province(hub) -> None:
    """The hub's pages with something on them: a heartbeat from ``cl``, a warning, a campaign."""
    from gateway.hub import campaigns as hub_campaigns
    from gateway.hub import warnings as hub_warnings

    now = datetime.now(UTC)
    db = hub.dbs.get()
    with write_transaction(db):
        warning = hub_warnings.save(db, title="Giả danh công an gọi điện đòi chuyển tiền", by="tinh",
                                    accented="Công an không gọi điện đòi chuyển tiền. Hãy báo công an xã.",
                                    plain="Cong an khong goi dien doi chuyen tien. Hay bao cong an xa.", now=now)
        hub_campaigns.schedule(db, warning_id=warning, encoding="khong_dau", communes=None, starts_at=now,
                               ends_at=now + timedelta(days=3), by="tinh", now=now, known=["bh", "cl"])
    client = hub.app.test_client()
    beat = client.post("/api/v1/heartbeat", headers={"Authorization": "Bearer token-cl"},
                       json={"gateway_id": "cl", "at": now.isoformat(), "state": {"version": "0.1.0"}})
    assert beat.status_code == 200, beat.get_data(as_text=True)


def test_every_page_at_1280_and_360_in_both_languages(gateway_with_data, page):
    """``page_sweep``'s checks on every page of ``GATEWAY_PAGES``: any fault fails, each named."""
    gw, base = gateway_with_data
    problems = page_sweep.sweep(page, base, GATEWAY_PAGES, "page", logged_out=True)
    login_page(page, base, gw.config.storage_path, role="admin")
    seed_every_page(gw, page, base)
    problems += page_sweep.sweep(page, base, GATEWAY_PAGES, "page", logged_out=False)
    assert problems == [], "\n".join(problems)


def test_every_hub_page_at_1280_and_360_in_both_languages(tmp_path, page):
    from fake_zalo import HubServer
    from upstream import seed_tips

    from gateway.accounts import users

    hub = HubServer(tmp_path, TINBAO_HUB_NAME="Công an tỉnh Lào Cai")
    try:
        seed_tips(hub.app.test_client())
        seed_hub_province(hub)
        base = hub.start()
        problems = page_sweep.sweep(page, base, HUB_PAGES, "hub", logged_out=True)
        users.create_user(hub.dbs.get(), "huyen", "mat-khau-dai", "admin")
        page.goto(f"{base}/login")
        page.fill("input[name=username]", "huyen")
        page.fill("input[name=password]", "mat-khau-dai")
        with page.expect_navigation():
            page.click("button[type=submit]")
        problems += page_sweep.sweep(page, base, HUB_PAGES, "hub", logged_out=False)
        assert problems == [], "\n".join(problems)
    finally:
        hub.close()


def test_every_page_of_both_apps_is_in_the_sweep(tmp_path):
    """A page added to either app joins ``page_sweep``'s one list (or ``NOT_PAGES`` when it is none)."""
    from conftest import make_services

    from gateway.config import load_config
    from gateway.database import prepare_gateway, prepare_hub
    from gateway.hub.app import create_hub_app
    from gateway.storage import ThreadLocalDb
    from gateway.web import create_app

    prepare_gateway(tmp_path / "gw.db")
    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "gw.db")})
    gateway_app = create_app(config, make_services(tmp_path / "gw.db", config=config))
    prepare_hub(tmp_path / "hub.db")
    hub_dbs = ThreadLocalDb(tmp_path / "hub.db")
    hub_app = create_hub_app(load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "hub.db")}), hub_dbs)
    try:
        for name, app, pages in (("gateway", gateway_app, GATEWAY_PAGES), ("hub", hub_app, HUB_PAGES)):
            adapter = app.url_map.bind("localhost")
            swept = {adapter.match(each.path, method="GET")[0] for each in pages}
            endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}
            missing = endpoints - swept - NOT_PAGES[name]
            assert not missing, f"{name} pages the sweep does not open: add them to tests/page_sweep.py: {missing}"
    finally:
        hub_dbs.close_all()


def test_the_poster_prints_on_one_a4_page(gateway_with_data, page):
    gw, base = gateway_with_data
    login_page(page, base, gw.config.storage_path, role="officer")
    for lang in ("vi", "en"):
        page.goto(f"{base}/poster?lang={lang}")
        assert page.locator(".poster").count() == 1  # the poster itself, not the "set the number" notice
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
        (Path(__file__).resolve().parent.parent / "test-output").mkdir(exist_ok=True)
        (Path(__file__).resolve().parent.parent / "test-output" / f"poster-{lang}.pdf").write_bytes(pdf)
        assert pages == 1, f"the {lang} poster prints on {pages} pages"
        page.emulate_media(media="screen")


def test_tips_filters_are_a_row_on_a_desktop_and_a_sheet_on_a_phone(gateway_with_data, page):
    gw, base = gateway_with_data
    db_path = gw.config.storage_path
    gw.emulator.deliver("0912345678", "TIN Có người lạ dụ bán đất ở thôn Na Hối")
    assert wait_until(lambda: rows(db_path, "SELECT COUNT(*) FROM tips")[0][0] == 1, 20)
    login_page(page, base, db_path, role="officer")
    page.goto(f"{base}/tips")
    tops = page.eval_on_selector_all("#tip-filters .field",
                                     "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(tops) >= 5 and len(set(tops)) == 1  # one row
    assert page.is_hidden("#tip-filters > summary")

    # Dates are typed and shown as dd/mm/yyyy, whatever the browser's locale.
    today = rows(db_path, "SELECT received_at FROM tips")[0][0]
    day = datetime.fromisoformat(today).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    page.fill("input[name=from]", day)
    page.fill("input[name=to]", day)
    with page.expect_navigation():
        page.click("#tip-filters button[type=submit]")
    assert page.input_value("input[name=from]") == day and "CL-0001" in page.inner_text("main")
    screenshot(page, "tips-filters-1280")

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{base}/tips")
    assert page.is_visible("#tip-filters > summary") and page.is_hidden("#tip-filters form")
    page.click("#tip-filters > summary")
    assert page.eval_on_selector("#tip-filters form", "f => getComputedStyle(f).position") == "fixed"
    screenshot(page, "tips-filters-sheet-360")
    page.click("#tip-filters .filter-close")
    assert page.is_hidden("#tip-filters form")
