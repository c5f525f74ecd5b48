"""The villagers' side as officers see it, in a real headless Chromium against the live gateway.

A message with content but no keyword is a tip "to confirm": counted on the dashboard, found
by its own filter, confirmed or dismissed with one click (audited; only a confirmed one goes
to the sync queue). The menus editor refuses a reply longer than ``sms.max_parts``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import login_page, make_config, rows, screenshot, served_gateway

from gateway.service import Gateway


@pytest.fixture
def gateway_with_district(tmp_path) -> Iterator[tuple[Gateway, str]]:
    """The whole gateway (emulator, page on a free port), tips bound for a district hub.

    The hub's address answers nothing: rows stay in the sync queue, where the test reads them.
    """
    config = make_config(
        tmp_path, TINBAO_MODEM_PORT="emulator", TINBAO_WEB_PORT="0", TINBAO_SMS_MAX_PARTS="3",
        TINBAO_HUB_URL="http://127.0.0.1:9", TINBAO_HUB_TOKEN="test-token",
    )
    with served_gateway(config) as served:
        yield served


def test_an_officer_confirms_one_message_and_dismisses_another(gateway_with_district, page):
    gateway, base = gateway_with_district
    db_path = gateway.config.storage_path
    username = login_page(page, base, db_path, role="officer")

    gateway.emulator.deliver("0912000001", "Chào, có kẻ trộm 🐄 bò ở thôn 2 😱")
    gateway.emulator.deliver("0912000002", "Chúc mừng năm mới cả nhà công an xã")
    assert gateway.emulator.wait_for_sent(2, 15)
    assert all("Vi du: TIN co trom bo o thon A" in m.text for m in gateway.emulator.sent_messages())
    assert rows(db_path, "SELECT COUNT(*) FROM sync_queue")[0][0] == 0  # nothing leaves before an officer says

    page.goto(f"{base}/")
    assert page.locator('[data-field="queues.tips_to_confirm"]').inner_text() == "2"
    assert page.locator('[data-field="queues.tips_new"]').inner_text() == "0"

    page.goto(f"{base}/tips")
    page.check("#filter-confirm")
    with page.expect_navigation():
        page.get_by_role("button", name="Lọc").click()
    assert "confirm=pending" in page.url
    listed = page.locator("table.tips-list tbody tr")
    assert listed.count() == 2
    screenshot(page, "tips-to-confirm")

    theft = listed.filter(has_text="trộm")
    with page.expect_navigation():
        theft.get_by_role("button", name="Là tin báo").click()
    assert page.locator(".flash-ok").inner_text() == "Đã xác nhận là tin báo."
    greeting = page.locator("table.tips-list tbody tr").filter(has_text="năm mới")
    assert page.locator("table.tips-list tbody tr").count() == 1  # the filter shows what is left to confirm
    with page.expect_navigation():
        greeting.get_by_role("button", name="Không phải").click()
    assert page.locator(".flash-ok").inner_text() == "Đã đánh dấu không phải tin báo."
    assert page.locator("table.tips-list tbody tr").count() == 0

    tips = rows(db_path, "SELECT text, status, confirmation FROM tips ORDER BY id")
    assert tips == [("Chào, có kẻ trộm 🐄 bò ở thôn 2 😱", "new", "confirmed"),
                    ("Chúc mừng năm mới cả nhà công an xã", "closed", "dismissed")]
    assert rows(db_path, "SELECT tip_id, destination FROM sync_queue") == [(1, "district")]
    assert rows(db_path, "SELECT who, action, target FROM audit_log WHERE action LIKE 'tip.%' ORDER BY id") == [
        (username, "tip.confirm", "CL-0001"), (username, "tip.dismiss", "CL-0002")]

    page.goto(f"{base}/tips/CL-0002")  # a dismissal can be taken back from the tip's page
    assert "Đã đánh dấu không phải tin báo." in page.locator("#confirm-box").inner_text()
    assert page.locator("#confirm-box").get_by_role("button", name="Không phải tin báo").count() == 0
    assert "Không phải tin báo" in page.locator(".history").inner_text()
    page.goto(f"{base}/")
    assert page.locator('[data-field="queues.tips_to_confirm"]').inner_text() == "0"
    assert page.locator('[data-field="queues.tips_new"]').inner_text() == "1"


def test_the_menus_editor_refuses_a_reply_over_max_parts(gateway_with_district, page):
    gateway, base = gateway_with_district
    login_page(page, base, gateway.config.storage_path, "admin")
    page.goto(f"{base}/menus/vi")
    item = page.locator(
        "xpath=//li[contains(@class, 'menu-item')][./fieldset//input[@name='item.title' and @value='Căn cước (CCCD)']]"
    )
    assert "Cả tin trả lời: 2 tin" in item.locator("> fieldset .sms-server").inner_text()  # each reply's parts
    villages = "\n".join(f"Thôn Số {n}: 09xx xxx xxx" for n in range(1, 31))  # a merged commune's list
    item.locator("> fieldset textarea[name='item.text']").fill(villages)
    with page.expect_navigation():
        page.click("#menu-save")
    error = page.locator("#menus-error").inner_text()
    assert "Chưa lưu" in error and "menu.1.3" in error and "sms.max_parts (3)" in error and "sub-menu" in error
    screenshot(page, "menus-editor-too-long")
    assert rows(gateway.config.storage_path, "SELECT COUNT(*) FROM menu_versions")[0][0] == 0
    # the admin's text is still there, to split into sub-items
    assert "Thôn Số 30" in item.locator("> fieldset textarea[name='item.text']").input_value()
