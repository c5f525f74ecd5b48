"""The hub's province pages in a real Chromium: the warning editor counts the SMS parts and makes
the "không dấu" text as the admin types (and keeps it once typed by hand); the campaign page
shows each commune and the total, readable at 360 px, in Vietnamese and English, with nothing
from outside the hub."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEST_PASSWORD, screenshot
from fake_zalo import HubServer

from gateway.clock import ManualClock
from gateway.hub import campaigns as hub_campaigns
from gateway.hub import warnings as hub_warnings

FIRST = "Cảnh giác: kẻ gian gọi điện giả danh công an."
MORE = " Công an không bao giờ yêu cầu chuyển tiền qua điện thoại. Gặp chuyện lạ, gọi ngay 113 hoặc đến trụ sở."


@pytest.fixture
def hub_clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def hub(tmp_path: Path, hub_clock: ManualClock) -> Iterator[HubServer]:
    server = HubServer(tmp_path, clock=hub_clock, TINBAO_HUB_NAMES="cl:Cốc Lầu,bh:Bản Phố",
                       TINBAO_HUB_NAME="Công an tỉnh Lào Cai")
    server.start()
    yield server
    server.close()


def log_in(hub: HubServer, page, role: str = "admin") -> None:
    from gateway.accounts import users

    users.create_user(hub.dbs.get(), f"tinh.{role}", TEST_PASSWORD, role)
    page.goto(f"{hub.url}/login")
    page.fill("input[name=username]", f"tinh.{role}")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/")


def outside_requests(page) -> list[str]:
    found: list[str] = []
    page.on("request", lambda request: found.append(request.url) if not request.url.startswith(
        ("http://127.0.0.1", "data:")) else None)
    return found


def too_wide(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_warning_editor_counts_parts_and_makes_khong_dau_as_the_admin_types(hub, page):
    outside = outside_requests(page)
    log_in(hub, page)
    page.goto(f"{hub.url}/province/warnings/new")
    page.fill("#title", "Giả danh công an")
    page.locator("#accented").press_sequentially(FIRST, delay=5)
    page.wait_for_function("() => document.getElementById('khong-dau').value.startsWith('Canh giac: ke gian')")
    page.wait_for_function("() => document.getElementById('parts-accented').textContent.trim() === '2'")
    assert page.locator("#parts-khong_dau").inner_text() == "1"
    assert page.locator("#text-khong_dau").inner_text().startswith("Cong an xa <ten xa>: Canh giac")
    # Typing on: the accented text grows past a part, and the count follows without a click.
    page.locator("#accented").press_sequentially(MORE, delay=2)
    page.wait_for_function("() => Number(document.getElementById('parts-accented').textContent) >= 4")
    page.wait_for_function("() => document.getElementById('parts-khong_dau').textContent.trim() === '2'")
    assert page.locator("#khong-dau").input_value().endswith("goi ngay 113 hoac den tru so.")
    # The admin shortens the không dấu text by hand: it is kept as typed from then on.
    page.fill("#khong-dau", "Canh giac gia danh cong an. Goi 113.")
    page.locator("#accented").press_sequentially(" Xin cảm ơn.", delay=5)
    page.wait_for_function("() => document.getElementById('parts-khong_dau').textContent.trim() === '1'")
    assert page.locator("#khong-dau").input_value() == "Canh giac gia danh cong an. Goi 113."
    assert page.locator("#khong-dau-note").inner_text() == "Đã sửa tay: giữ nguyên như cán bộ viết."
    # An accent typed into the không dấu text is the size guard's problem, shown at once.
    page.locator("#khong-dau").press_sequentially(" Cảm ơn", delay=5)
    page.wait_for_function("() => !document.getElementById('editor-problems').hidden")
    assert "không dấu còn ký tự có dấu" in page.locator("#editor-problems").inner_text()
    page.fill("#khong-dau", "Canh giac gia danh cong an. Goi 113.")
    page.wait_for_function("() => document.getElementById('editor-problems').hidden")
    screenshot(page, "hub-province-editor-1280")
    with page.expect_navigation():
        page.click("#do-save")
    [saved] = hub_warnings.listing(hub.dbs.get())
    assert saved["khong_dau"] == "Canh giac gia danh cong an. Goi 113."
    assert saved["accented"] == FIRST + MORE + " Xin cảm ơn."
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{hub.url}/province/warnings/{saved['id']}")
    assert too_wide(page) <= 0
    screenshot(page, "hub-province-editor-360")
    assert outside == []


def test_the_campaign_page_per_commune_and_in_total_at_360_px_in_both_languages(hub, hub_clock, page):
    outside = outside_requests(page)
    log_in(hub, page)
    db = hub.dbs.get()
    now = hub_clock.now()
    warning = hub_warnings.save(db, title="Giả danh công an", accented=FIRST,
                                plain=hub_warnings.suggested_khong_dau(FIRST), by="tinh.admin", now=now)
    page.goto(f"{hub.url}/province/campaigns/new?warning={warning}")
    page.uncheck("#all-communes")
    page.check("input[name=commune][value=cl]")
    page.check("input[name=commune][value=bh]")
    with page.expect_navigation():
        page.click("#do-schedule")
    [campaign] = hub_campaigns.listing(db)
    assert campaign["communes"] == ["bh", "cl"]
    # Cốc Lầu has sent to 180 of 200 at 350 đ a part; Bản Phố has not been heard from yet.
    section = {"price_per_part": 350, "items": [{
        "id": campaign["id"], "status": "running", "held": "quiet", "recipients": 200, "parts": 1, "pending": 15,
        "queued": 5, "sent": 100, "delivered": 80, "failed": 0, "unknown": 0, "skipped": 0, "cancelled": 0}]}
    assert hub_campaigns.take_progress(db, "cl", section, reported_at=now, now=now) == 1
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        for lang in ("vi", "en"):
            page.goto(f"{hub.url}/province/campaigns/{campaign['id']}?lang={lang}")
            cl = page.locator("tr[data-commune=cl]")
            assert "Cốc Lầu" in cl.inner_text()  # the hub's own name for the post
            assert ("Đang gửi" if lang == "vi" else "Sending") in cl.inner_text()
            assert ("giờ nghỉ đêm của xã" if lang == "vi" else "the commune's quiet hours") in cl.inner_text()
            assert cl.locator(".col-sent").inner_text().startswith("180")
            assert "70.000 đ" in cl.inner_text()
            bh = page.locator("tr[data-commune=bh]")
            assert ("Chưa có tin từ xã" if lang == "vi" else "No news from the commune yet") in bh.inner_text()
            total = page.locator("#campaign-total")
            assert "70.000 đ" in total.inner_text() and total.locator(".col-recipients").inner_text() == "200"
            assert too_wide(page) <= 0, f"campaign page at {width} px ({lang}) is {too_wide(page)} px too wide"
            screenshot(page, f"hub-province-campaign-{width}-{lang}")
            page.goto(f"{hub.url}/province/campaigns?lang={lang}")
            assert too_wide(page) <= 0
    # After the window a commune that never said a word is "missed", on the list and the page.
    hub_clock.set(datetime.fromisoformat(campaign["ends_at"]) + timedelta(minutes=1))
    log_in(hub, page, "viewer")  # days later: the admin's session is long over
    page.goto(f"{hub.url}/province/campaigns/{campaign['id']}?lang=vi")
    assert "Bị lỡ" in page.locator("tr[data-commune=bh]").inner_text()
    assert "1 xã bị lỡ" in page.locator("#campaign-total").inner_text()
    page.goto(f"{hub.url}/province/campaigns?lang=vi")
    assert "1 xã bị lỡ" in page.locator(f"tr[data-campaign='{campaign['id']}']").inner_text()
    assert outside == []


def test_every_province_page_of_the_hub_fits_360_px_in_both_languages(hub, page):
    outside = outside_requests(page)
    log_in(hub, page)
    db = hub.dbs.get()
    warning = hub_warnings.save(db, title="Giả danh công an, đòi chuyển tiền để xóa án", accented=FIRST + MORE,
                                plain=hub_warnings.suggested_khong_dau(FIRST + MORE), by="tinh.admin",
                                now=datetime.now(UTC))
    hub_campaigns.schedule(db, warning_id=warning, encoding="accented", communes=None, starts_at=datetime.now(UTC),
                           ends_at=datetime.now(UTC) + timedelta(days=2), by="tinh.admin", now=datetime.now(UTC),
                           known=["cl", "bh"])
    page.set_viewport_size({"width": 360, "height": 800})
    for lang in ("vi", "en"):
        for path in ("/province/warnings", f"/province/warnings/{warning}", "/province/warnings/new",
                     "/province/campaigns", f"/province/campaigns/new?warning={warning}", "/province/campaigns/1"):
            page.goto(f"{hub.url}{path}{'&' if '?' in path else '?'}lang={lang}")
            assert page.locator("h1").count() == 1, path
            assert too_wide(page) <= 0, f"{path} at 360 px ({lang}) is {too_wide(page)} px too wide"
    screenshot(page, "hub-province-campaign-new-360-en")
    assert outside == []


def test_the_communes_province_tab_in_chromium_accept_at_360_px(live_gateway, page):
    from conftest import login_page, rows

    from gateway.broadcasts import province

    gateway, base_url = live_gateway
    province.apply(gateway.dbs.get(), [{"id": 4, "version": 1, "title": "Giả danh công an", "accented": FIRST + MORE,
                                        "khong_dau": hub_warnings.suggested_khong_dau(FIRST + MORE)}],
                   datetime.now(UTC), via="sync", auto_accept=False, hub_name="Công an tỉnh Lào Cai")
    user = login_page(page, base_url, gateway.config.storage_path, "officer")
    page.set_viewport_size({"width": 360, "height": 800})
    for lang in ("en", "vi"):
        page.goto(f"{base_url}/broadcasts/?lang={lang}")
        assert page.locator("#province-waiting").inner_text() == "1"
        page.click("#province-tab")
        assert "Công an tỉnh Lào Cai" in page.locator("#warning-4").inner_text()
        assert too_wide(page) <= 0, f"/broadcasts/province at 360 px ({lang}) is {too_wide(page)} px too wide"
        screenshot(page, f"gateway-province-360-{lang}")
    with page.expect_navigation():
        page.click("#accept-4")
    assert "Đã duyệt" in page.locator("#warning-4").inner_text()
    assert page.locator("#province-waiting").count() == 0
    assert rows(gateway.config.storage_path, "SELECT who, action, target FROM audit_log"
                                             " WHERE action = 'province_warning.accept'") == [
        (user, "province_warning.accept", "tinh-4")]
    page.goto(f"{base_url}/broadcasts/new")
    assert page.locator("#province-warnings option[value='tinh-4']").count() == 1
    page.select_option("#warning", "tinh-4")
    page.wait_for_function("() => document.getElementById('body').value.startsWith('Cảnh giác: kẻ gian')")
