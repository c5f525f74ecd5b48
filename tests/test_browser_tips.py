"""An officer's day in a real headless Chromium against the live gateway and its emulator.

A tip sent by SMS appears on the dashboard without a reload; the officer opens it, takes it
in hand, replies by SMS (which leaves through the modem emulator), reveals the number (which
is in the audit log), and a tip holding a script stays text. Screenshots go to test-output/.
"""

from __future__ import annotations

from conftest import login_page, rows, screenshot, wait_until

VILLAGER = "0912345678"
EVIL = "<script>alert('xss')</script><img src=x onerror=alert(1)>"


def test_officer_handles_a_tip_from_dashboard_to_sms_reply(live_gateway, page):
    gateway, base = live_gateway
    db_path = gateway.config.storage_path
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    username = login_page(page, base, db_path, role="officer")

    page.goto(f"{base}/")
    page.evaluate("window.__stillTheSamePage = true")
    gateway.emulator.deliver(VILLAGER, "TIN Có người lạ dụ bán đất, đòi đặt cọc trước ở thôn Na Hối")
    assert gateway.emulator.wait_for_sent(1, 15)  # the villager's acknowledgement
    link = page.locator('table[data-list="tips"] a', has_text="CL-0001")
    link.wait_for(timeout=20_000)
    assert page.evaluate("window.__stillTheSamePage") is True  # no reload happened
    assert page.locator('[data-field="queues.tips_new"]').inner_text() == "1"
    assert page.locator('table[data-list="tips"]').inner_text().count("0*** *** *78") == 1
    screenshot(page, "dashboard")

    link.click()
    page.wait_for_url(f"{base}/tips/CL-0001")
    assert "Có người lạ dụ bán đất" in page.locator("#tip-text").inner_text()
    assert page.locator("#tipster-number").inner_text() == "0*** *** *78"

    with page.expect_navigation():
        page.get_by_role("button", name="Nhận xử lý").click()
    assert page.locator("#tip-status").inner_text() == "Đang xử lý"
    assert page.locator(".flash-ok").inner_text() == "Bạn đã nhận xử lý tin báo này."
    assert f"{username}" in page.locator(".history").inner_text()
    assert username in page.locator("#status-commune").inner_text()  # who set the commune's status
    assert page.locator("select[name=assigned_to]").input_value() == username  # the tip is theirs

    # The live count follows the text and the "không dấu" switch.
    reply = "Công an xã đã nhận tin, đang xác minh. Cảm ơn bạn đã báo tin!"
    page.fill("#reply-text", reply)
    assert page.locator("#reply-count").get_attribute("data-parts") == "1"
    assert "Unicode" in page.locator("#reply-count").inner_text()
    page.fill("#reply-text", reply * 2)
    assert page.locator("#reply-count").get_attribute("data-parts") == "2"
    page.check("#reply-khong-dau")
    assert "GSM-7" in page.locator("#reply-count").inner_text()
    assert page.locator("#reply-count").get_attribute("data-parts") == "1"
    assert page.locator("#reply-preview").inner_text().startswith("Cong an xa da nhan tin")
    page.fill("#reply-text", reply)
    with page.expect_navigation():
        page.get_by_role("button", name="Gửi trả lời").click()
    assert "1 tin nhắn (GSM-7)" in page.locator(".flash-ok").inner_text()
    assert gateway.emulator.wait_for_sent(2, 15)
    sent = gateway.emulator.sent_messages()[-1]
    assert sent.destination.endswith("912345678")
    assert sent.text == "Cong an xa da nhan tin, dang xac minh. Cam on ban da bao tin!"
    assert wait_until(lambda: rows(db_path, "SELECT status FROM outbox WHERE kind='officer'") == [("sent",)], 10)
    page.reload()
    assert "Đã gửi" in page.locator(".replies").inner_text()

    # Show the number: the page asks the server, which writes the audit entry first.
    page.get_by_role("button", name="Hiện số").click()
    page.locator("#tipster-number", has_text=VILLAGER).wait_for(timeout=5000)
    assert page.locator("#number-note").is_visible()
    assert rows(db_path, "SELECT who, target FROM audit_log WHERE action = 'tip.reveal_number'") == [
        (username, "CL-0001")
    ]
    page.goto(f"{base}/tips/CL-0001")
    assert page.locator("#tipster-number").inner_text() == "0*** *** *78"  # masked again
    screenshot(page, "tip")

    # On an officer's phone (360 px wide) nothing needs sideways scrolling.
    page.set_viewport_size({"width": 360, "height": 740})
    for path, name in (("/tips/CL-0001", "tip-phone"), ("/tips", "tips-phone"), ("/", None)):
        page.goto(base + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        if name:
            screenshot(page, name)
    assert dialogs == []


def test_admin_finds_the_number_reveal_in_the_audit_page(live_gateway, page):
    gateway, base = live_gateway
    gateway.emulator.deliver(VILLAGER, "TIN Mất trộm trâu")
    assert gateway.emulator.wait_for_sent(1, 15)
    username = login_page(page, base, gateway.config.storage_path, role="admin")
    page.goto(f"{base}/tips/CL-0001")
    page.get_by_role("button", name="Hiện số").click()
    page.locator("#tipster-number", has_text=VILLAGER).wait_for(timeout=5000)
    page.goto(f"{base}/admin/audit")
    audit = page.locator("#audit").inner_text()
    assert "Xem số đầy đủ của người báo" in audit and "CL-0001" in audit and username in audit
    assert VILLAGER not in audit and "912345678" not in audit


def test_a_script_in_a_tip_stays_text_everywhere(live_gateway, page):
    gateway, base = live_gateway
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    login_page(page, base, gateway.config.storage_path, role="officer")
    page.goto(f"{base}/")
    gateway.emulator.deliver(VILLAGER, "TIN " + EVIL)
    cell = page.locator('table[data-list="tips"] .sms-text').first
    cell.wait_for(timeout=20_000)  # drawn by dashboard.js from /api/dashboard
    assert EVIL[:30] in cell.inner_text()
    assert page.locator("img[src=x]").count() == 0
    for path in ("/", "/tips", "/tips/CL-0001", "/tips?q=script"):
        page.goto(base + path)
        assert page.locator("img[src=x]").count() == 0, path
        assert "<script>alert('xss')</script>" in page.locator("main").inner_text(), path
    page.goto(f"{base}/conversations")
    page.locator("table.threads-list a").first.click()
    assert "<script>alert('xss')</script>" in page.locator(".thread-page").inner_text()
    page.wait_for_timeout(300)
    assert dialogs == []
