"""The phone simulator in a real headless Chromium, through the real emulator path."""

from __future__ import annotations

from conftest import login_page, screenshot


def test_simulator_answers_menu_in_the_browser(live_gateway, page):
    gateway, base = live_gateway
    login_page(page, base, gateway.config.storage_path, role="officer")
    page.goto(f"{base}/simulator")
    page.fill("input[name=number]", "0912345678")
    page.fill("textarea[name=text]", "MENU")
    page.click("#sim-send")
    page.wait_for_selector("text=Thu tuc hanh chinh", timeout=15000)
    screenshot(page, "simulator")


def test_the_live_part_count_speaks_the_page_language(live_gateway, page):
    gateway, base = live_gateway
    login_page(page, base, gateway.config.storage_path, role="officer")
    page.goto(f"{base}/simulator")
    page.fill("textarea[name=text]", "Chào công an")
    page.wait_for_selector("#sim-count")
    assert "ký tự" in page.inner_text("body") and "có dấu" in page.inner_text("body")
    page.goto(f"{base}/simulator?lang=en")
    page.fill("textarea[name=text]", "Chào công an")
    body = page.inner_text("body")
    assert "characters" in body and "with diacritics" in body and "ký tự" not in body
