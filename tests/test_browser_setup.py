"""First-run setup in a real headless Chromium, answered through the gateway's modem emulator.

An admin fills in the commune's name and numbers on /admin/setup; the next MENU and the
contacts items sent to the live gateway come back with the real numbers, no restart.
"""

from __future__ import annotations

from conftest import login_page, screenshot

from gateway.sms.text import khong_dau

VILLAGER = "+84912345678"


def ask(gw, text: str) -> str:
    before = len(gw.emulator.sent_messages())
    gw.emulator.deliver(VILLAGER, text)
    assert gw.emulator.wait_for_sent(before + 1, 15), text
    return "\n".join(m.text for m in gw.emulator.sent_messages()[before:])


def test_the_setup_form_fills_the_menus_the_next_sms_is_answered_with(live_gateway, page):
    gw, base = live_gateway
    assert "xxxx" in khong_dau(ask(gw, "MENU")).lower()  # the shipped placeholders, before
    login_page(page, base, gw.config.storage_path, "admin")
    page.goto(base + "/")
    with page.expect_navigation():
        page.click('#alerts [data-key="setup"] a')
    assert page.url.endswith("/admin/setup/")

    page.fill("#setup-ten_xa", "Cốc Lầu")
    page.fill("#setup-dia_chi", "thôn Cốc Lầu, xã Cốc Lầu")
    page.fill("#setup-truc_ban", "0912 000 111")
    page.fill("#setup-truong_cong_an", "0912 000 222")
    page.fill("#setup-can_bo_cu_tru", "0912 000 333")
    page.fill("#setup-duong_day_nong_tinh", "12345")  # not a phone number: refused beside the field
    names, numbers = page.locator("input[name='village.name']"), page.locator("input[name='village.number']")
    names.nth(0).fill("Thôn Na Hối")
    numbers.nth(0).fill("0912 000 444")
    with page.expect_navigation():
        page.click("#setup-save")
    assert "Số không đúng" in page.inner_text("#setup-duong_day_nong_tinh-error")
    assert page.input_value("#setup-ten_xa") == "Cốc Lầu"  # what was typed is still there
    assert page.input_value("input[name='village.name'] >> nth=0") == "Thôn Na Hối"
    page.fill("#setup-duong_day_nong_tinh", "069 2693 113")  # the police network's own number
    page.locator("input[name='village.name']").nth(1).fill("Thôn Cốc Cái")
    page.locator("input[name='village.number']").nth(1).fill("0912 000 555")
    with page.expect_navigation():
        page.click("#setup-save")
    assert "Tin nhắn tiếp theo được trả lời với các số mới" in page.inner_text(".flashes")
    assert page.locator("#setup-complete").is_visible()
    screenshot(page, "admin-setup")

    menu = ask(gw, "MENU")  # the name in the case it was typed, never "CONG AN XA Coc Lau"
    assert menu.startswith(khong_dau("Công an xã Cốc Lầu")) and "xxxx" not in menu.lower()
    duty = ask(gw, "2.1")  # the numbers grouped as the officer typed them, easy to read off a small screen
    assert "0912 000 111" in duty and "0912 000 222" in duty and "069 2693 113" in duty
    villages = ask(gw, "CA THON")
    assert khong_dau("Thôn Na Hối: 0912 000 444") in villages and khong_dau("Thôn Cốc Cái: 0912 000 555") in villages
    page.goto(base + "/")
    assert page.locator('#alerts [data-key="setup"]').count() == 0
