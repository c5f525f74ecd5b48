"""The menus editor, the dry-run phone and the poster in a real headless Chromium.

The editor test goes all the way: an admin changes a reply in the page, saves, and the next
SMS sent through the gateway's modem emulator is answered with the new text.
"""

from __future__ import annotations

import threading

import pytest
from conftest import login_page, make_config, make_services, screenshot

from gateway.database import prepare_gateway
from gateway.sms.text import khong_dau
from gateway.storage import ThreadLocalDb
from gateway.web import create_app

NEW_CCCD = "CĂN CƯỚC: làm tại Công an xã sáng thứ Bảy, mang thẻ cũ."
NUMBER = "0214 3880 113"


@pytest.fixture
def wired_gateway(live_gateway):
    """``live_gateway``: its page hands saved menus to the running router (``Gateway.web_app``)."""
    return live_gateway


@pytest.fixture
def page_server(tmp_path):
    """The officers' page alone (no modem: a real-modem gateway as the page sees it)."""
    import waitress

    config = make_config(tmp_path, TINBAO_GATEWAY_PHONE_NUMBER=NUMBER)
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    app = create_app(config, make_services(config.storage_path, config=config, db=dbs))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield config.storage_path, f"http://127.0.0.1:{server.effective_port}", app
    server.close()
    dbs.close_all()


def item_box(page, title):
    """The ``li`` of the menu item with this title (its own fields, not a sub-item's)."""
    return page.locator(
        f"xpath=//li[contains(@class, 'menu-item')][./fieldset//input[@name='item.title' and @value='{title}']]"
    )


def cccd_box(page):
    return item_box(page, "Căn cước (CCCD)")


def test_an_edit_in_the_menus_editor_answers_the_next_sms(wired_gateway, page):
    gw, base = wired_gateway
    login_page(page, base, gw.config.storage_path, "admin")
    page.goto(f"{base}/menus/vi")
    item = cccd_box(page)
    text = item.locator("> fieldset textarea[name='item.text']")
    text.fill(NEW_CCCD)
    live = item.locator("> fieldset .sms-live")
    assert "1 tin" in live.inner_text() and "không dấu" in live.inner_text()  # counted as you type
    assert item.locator("> fieldset .kd-text").text_content() == khong_dau(NEW_CCCD)
    page.fill("input[name=comment]", "Lịch làm CCCD mới")
    with page.expect_navigation():
        page.click("#menu-save")
    flash = page.locator(".flashes").inner_text()
    assert "Đã lưu bản #1" in flash and "Tin nhắn tiếp theo được trả lời theo menu mới" in flash
    screenshot(page, "menus-editor")

    before = len(gw.emulator.sent_messages())
    gw.emulator.deliver("+84912345678", "cccd")
    assert gw.emulator.wait_for_sent(before + 1, 15)
    assert gw.emulator.sent_messages()[before].text == khong_dau(NEW_CCCD)


def test_the_editor_adds_a_sub_item_and_refuses_a_clashing_keyword(wired_gateway, page):
    gw, base = wired_gateway
    login_page(page, base, gw.config.storage_path, "admin")
    page.goto(f"{base}/menus/vi")
    item = cccd_box(page)
    item.locator("> fieldset button[data-item=child]").click()
    new = item.locator("> ol.menu-children > li.menu-item").first
    assert new.locator(".item-number").inner_text() == "1.3.1"
    new.locator("input[name='item.title']").fill("Làm lại thẻ")
    new.locator("input[name='item.keywords']").fill("XE")  # already item 1.5's keyword
    new.locator("textarea[name='item.text']").fill("Làm lại thẻ khi mất: mang giấy khai sinh.")
    with page.expect_navigation():
        page.click("#menu-save")
    error = page.locator("#menus-error").inner_text()
    assert "Chưa lưu" in error and "'XE'" in error
    # the admin's work is still on the page, to fix and save again
    assert page.locator("input[name='item.title'][value='Làm lại thẻ']").count() == 1
    page.locator("input[name='item.keywords'][value='XE']").last.fill("LÀM LẠI THẺ")
    with page.expect_navigation():
        page.click("#menu-save")
    assert "Đã lưu bản #1" in page.locator(".flashes").inner_text()
    before = len(gw.emulator.sent_messages())
    gw.emulator.deliver("+84912345678", "lam lai the")
    assert gw.emulator.wait_for_sent(before + 1, 15)
    assert gw.emulator.sent_messages()[before].text == "Lam lai the khi mat: mang giay khai sinh."


def test_a_viewer_cannot_edit_menus(page_server, page):
    db_path, base, _ = page_server
    login_page(page, base, db_path, "viewer")
    page.goto(f"{base}/menus/vi")
    assert page.locator("textarea[name='item.text']").first.is_disabled()
    assert page.locator("#menu-save").count() == 0
    assert "Chỉ quản trị viên được sửa menu" in page.inner_text("main")
    # even a hand-made request with the page's own CSRF token is refused
    status = page.evaluate(
        """async () => {
            const body = new FormData(document.getElementById('menu-form'));
            const r = await fetch('/menus/vi', {method: 'POST', body});
            return r.status;
        }"""
    )
    assert status == 403


def test_the_dry_run_phone_answers_without_sending(page_server, page):
    db_path, base, _ = page_server
    login_page(page, base, db_path, "admin")
    page.goto(f"{base}/simulator")
    assert "không gửi qua mạng" in page.inner_text("#simulator")
    page.fill("#sim-text", "MENU")
    page.click("#sim-send")
    page.wait_for_selector("#sim-thread .bubble-reply >> text=Thu tuc hanh chinh", timeout=15000)
    assert "Chạy thử · không gửi" in page.inner_text("#sim-thread")
    screenshot(page, "simulator-dry-run")


def test_the_posters_qr_code_decodes_to_the_sms_uri(page_server, page):
    zxingcpp = pytest.importorskip("zxingcpp")
    from io import BytesIO

    from PIL import Image

    db_path, base, _ = page_server
    login_page(page, base, db_path, "viewer")
    page.goto(f"{base}/poster")
    page.wait_for_function("document.getElementById('poster-qr').complete")
    assert page.inner_text("#poster-number") == NUMBER
    shot = page.locator("#poster").screenshot()
    found = [b.text for b in zxingcpp.read_barcodes(Image.open(BytesIO(shot)))]
    assert found == ["SMSTO:02143880113:MENU"]
    screenshot(page, "poster")
    # printed, only the poster is left on the sheet
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible() and page.locator("#poster").is_visible()
