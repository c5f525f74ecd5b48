"""A person's request about their data, through the admin's page in a real headless Chromium,
against the live gateway and its emulator: the villager's SMS go in through the serial port,
the admin records the request, looks the number up, gives the person their export (the
printable page, printed to PDF, and the downloaded file) and erases what may go; the pages
fit a 360 px phone in both languages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import OUTPUT, login_page, make_config, rows, screenshot, served_gateway, wait_until
from page_sweep import CLIPPED, OVERLAPS

PERSON = "0912000111"
E164 = "+84912000111"

LIVE = {
    "TINBAO_MODEM_PORT": "emulator",
    "TINBAO_WEB_PORT": "0",
    "TINBAO_GATEWAY_PHONE_NUMBER": "0214 3880 113",  # the poster needs it
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour of the run
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
}


@pytest.fixture
def gateway_with_data(tmp_path: Path):
    """The whole gateway with its built-in emulator, its page served by waitress."""
    with served_gateway(make_config(tmp_path, **LIVE)) as served:
        yield served


def test_a_requests_export_and_erasure_through_the_page(gateway_with_data, page):
    gw, base = gateway_with_data
    db_path = gw.config.storage_path
    gw.emulator.deliver(PERSON, "MENU")
    gw.emulator.deliver(PERSON, "TIN Có người lạ dụ bán đất ở thôn Na Hối")
    gw.emulator.deliver(PERSON, "DK")
    gw.emulator.deliver("0912000222", "TIN Mất trộm trâu ở thôn Cốc Lầu")
    assert wait_until(lambda: rows(db_path, "SELECT count(*) FROM tips")[0][0] == 2
                      and rows(db_path, "SELECT count(*) FROM subscribers")[0][0] == 1
                      and rows(db_path, "SELECT count(*) FROM inbox WHERE status = 'done'")[0][0] == 4, 30)
    assert wait_until(lambda: rows(db_path, "SELECT count(*) FROM outbox WHERE status = 'queued'")[0][0] == 0, 30)

    login_page(page, base, db_path, role="admin")
    page.goto(f"{base}/requests")
    page.fill("input[name=requester]", "Lò Thị Mai")
    page.fill("input[name=contact]", "thôn Na Hối, gọi 0912000111")
    page.select_option("select[name=channel]", "in_person")
    page.check("input[name=kinds][value=see]")
    page.check("input[name=kinds][value=delete]")
    with page.expect_navigation():
        page.click("#request-form button[type=submit]")
    assert re.search(r"/requests/1$", page.url) and "YC-0001" in page.inner_text("h1")
    assert page.locator("#held-card").count() == 0  # nothing held is shown before the look-up

    page.fill("#lookup-form input[name=number]", PERSON)
    with page.expect_navigation():
        page.click("#lookup-form button[type=submit]")
    held = page.inner_text("#held-card")
    assert "Có người lạ dụ bán đất" in held and "MENU" in held and "Mất trộm trâu" not in held
    assert page.text_content("#request-number") == PERSON
    screenshot(page, "request-held-1280")

    # The export: the printable page (printed to PDF) and the file the person takes away.
    with page.expect_navigation():
        page.click("#export-page-link")
    sheet = page.inner_text("#export-sheet")
    assert "Có người lạ dụ bán đất" in sheet and "Lò Thị Mai" in sheet and "Mất trộm trâu" not in sheet
    page.emulate_media(media="print")
    assert page.is_hidden(".topbar") and page.is_hidden(".request-tools")
    pdf = page.pdf(format="A4")
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "request-export.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    page.emulate_media(media="screen")
    page.go_back()
    with page.expect_download() as download:
        page.click("#export-file-link")
    saved = Path(download.value.path())
    exported = json.loads(saved.read_text(encoding="utf-8"))
    assert download.value.suggested_filename == "tinbao-yc-0001.json"
    assert exported["number"] == E164 and [t["text"] for t in exported["tips"]] == [
        "Có người lạ dụ bán đất ở thôn Na Hối"]
    assert exported["subscription"]["status"] == "subscribed" and len(exported["messages_from_you"]) == 3

    # The erasure: the tip keeps its text without the number; everything else of the number goes.
    page.check("#erase-confirm")
    with page.expect_navigation():
        page.click("#erase-button")
    assert "Đã xoá" in page.inner_text(".flashes")
    assert rows(db_path, "SELECT tipster, text FROM tips ORDER BY id") == [
        ("", "Có người lạ dụ bán đất ở thôn Na Hối"), ("+84912000222", "Mất trộm trâu ở thôn Cốc Lầu")]
    assert rows(db_path, "SELECT count(*) FROM inbox WHERE sender = ?", (E164,)) == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM outbox WHERE number = ?", (E164,)) == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM pdus WHERE sender = ?", (E164,)) == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM subscribers WHERE number = ?", (E164,)) == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM consent_ledger WHERE number = ?", (E164,)) == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM inbox WHERE sender = '+84912000222'") == [(1,)]
    assert "Có người lạ" not in page.inner_text("#held-card")
    screenshot(page, "request-erased-1280")

    page.fill("#close-form textarea[name=outcome]", "Đã đưa bản in và tệp, đã xoá dữ liệu.")
    with page.expect_navigation():
        page.click("#close-button")
    assert page.text_content("#request-outcome") == "Đã đưa bản in và tệp, đã xoá dữ liệu."
    steps = page.inner_text("#request-steps")
    for step in ("Ghi nhận yêu cầu", "Tra số đầy đủ", "Xuất dữ liệu", "Xoá dữ liệu theo yêu cầu", "Đóng yêu cầu"):
        assert step in steps, step


def test_the_request_pages_fit_a_phone_in_both_languages(gateway_with_data, page):
    gw, base = gateway_with_data
    db_path = gw.config.storage_path
    gw.emulator.deliver(PERSON, "TIN Có người lạ dụ bán đất ở thôn Na Hối, hỏi mua đất giá cao rồi đòi đặt cọc")
    assert wait_until(lambda: rows(db_path, "SELECT count(*) FROM tips")[0][0] == 1, 30)
    login_page(page, base, db_path, role="admin")
    page.goto(f"{base}/requests")
    page.fill("input[name=requester]", "Lò Thị Mai")
    page.fill("input[name=contact]", "thôn Na Hối")
    page.check("input[name=kinds][value=withdraw]")
    with page.expect_navigation():
        page.click("#request-form button[type=submit]")
    page.fill("#lookup-form input[name=number]", PERSON)
    with page.expect_navigation():
        page.click("#lookup-form button[type=submit]")
    problems = []
    page.set_viewport_size({"width": 360, "height": 740})
    for lang in ("vi", "en"):
        for name, path in (("requests", "/requests"), ("request", "/requests/1"), ("export", "/requests/1/export")):
            response = page.goto(f"{base}{path}?lang={lang}")
            assert response.status == 200, path
            screenshot(page, f"page-{name}-{lang}-360")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 0:
                problems.append(f"{path} {lang}: {wide}px wider than the screen")
            problems += [f"{path} {lang}: overlap {pair}" for pair in page.evaluate(OVERLAPS)]
            problems += [f"{path} {lang}: clipped {element}" for element in page.evaluate(CLIPPED)]
    assert problems == [], "\n".join(problems)
