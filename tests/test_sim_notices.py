"""Operator notices: SMS from "Viettel", "MobiFone" or a short code are filed, shown in "Tin từ
nhà mạng", raise an alert that quotes them when they speak of locking, verification, biometrics,
expiry or a low balance, and are never answered. In Chromium: the dashboard shows one."""

from __future__ import annotations

from conftest import login_client, login_page, make_config, rows, screenshot, served_gateway, wait_until
from sim_fixtures import OWN_E164, post, sim  # noqa: F401 - post is a fixture


def notices(path) -> list[tuple]:
    return rows(path, "SELECT sender, topics, alert FROM sim_notices ORDER BY id")


def handled(path, count: int) -> bool:
    return rows(path, "SELECT COUNT(*) FROM inbox WHERE status='done'")[0][0] >= count


def test_notices_are_filed_alerted_quoted_and_never_answered(post, emulator):  # noqa: F811
    path = post.config.storage_path
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is True, 15)
    sent_before = len(emulator.sent_messages())
    text = emulator.operator_notice("biometric")  # from "Viettel" (the network's name)
    emulator.operator_notice("promo", sender="9084", accented=False)
    assert wait_until(lambda: len(notices(path)) == 2, 15)
    assert notices(path) == [("Viettel", "lock,verify,biometric", 1), ("9084", "", 0)]
    assert handled(path, 3)
    assert rows(path, "SELECT handler FROM inbox WHERE sender='Viettel'") == [("silent:alphanumeric",)]
    assert len(emulator.sent_messages()) == sent_before  # nobody answers an operator

    client = post.web_app().test_client()
    login_client(client, path, "officer")
    data = client.get("/api/dashboard").get_json()
    alert = {a["key"]: a for a in data["alerts"]}["sim_notice"]
    assert "Viettel" in alert["text"] and "sinh trắc học" in alert["text"] and text[:60] in alert["text"]
    assert [row["sender"] for row in data["notices"]] == ["9084", "Viettel"]
    assert client.get("/healthz").get_json()["sim"]["notices"] == 1

    notice_id = rows(path, "SELECT id FROM sim_notices WHERE sender='Viettel'")[0][0]
    token = client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post(f"/sim/notices/{notice_id}/read", data={"csrf_token": token}).status_code == 303
    assert "sim_notice" not in {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert rows(path, "SELECT read_by FROM sim_notices WHERE id=?", (notice_id,))[0][0]


def test_a_notice_that_states_the_balance_is_a_credit_reading(post, emulator):  # noqa: F811
    path = post.config.storage_path
    emulator.set_line(balance_vnd=4_200, valid_until="2027-02-12")
    emulator.operator_notice("balance", sender="VinaPhone")
    assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM sim_balance WHERE source='sms'")[0][0] == 1, 15)
    shown = sim(post)
    assert shown["balance_vnd"] == 4_200 and shown["valid_until"] == "2027-02-12" and shown["balance_low"]
    assert notices(path)[-1] == ("VinaPhone", "balance", 1)


def test_the_dashboard_shows_an_operator_notice_in_chromium(tmp_path, page):
    config = make_config(tmp_path, TINBAO_MODEM_PORT="emulator", TINBAO_WEB_PORT="0",
                         TINBAO_GATEWAY_PHONE_NUMBER="0900000017")
    with served_gateway(config) as (gateway, url):
        login_page(page, url, config.storage_path, "officer")
        page.set_viewport_size({"width": 360, "height": 800})
        page.goto(f"{url}/")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the dashboard is {width} px wide at 360 px"
        page.set_viewport_size({"width": 1280, "height": 900})
        text = gateway.emulator.operator_notice("lock")
        assert wait_until(lambda: rows(config.storage_path, "SELECT COUNT(*) FROM sim_notices")[0][0] == 1, 15)
        page.goto(f"{url}/")
        panel = page.locator("#notices-card")
        assert panel.get_by_text("Viettel").first.is_visible()
        assert text[:40] in panel.inner_text()
        alert = page.locator('#alerts [data-key="sim_notice"]')
        assert alert.is_visible() and "khóa/chặn thuê bao" in alert.inner_text()
        assert page.locator("#sim-card").is_visible()
        assert wait_until(lambda: "85.000" in page.locator("#sim-balance").inner_text(), 10)
        screenshot(page, "sim-operator-notice")

        page.set_viewport_size({"width": 360, "height": 800})
        page.reload()
        assert page.locator("#notices-card").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width} px wide at 360 px"

        alert.locator("a").click()
        page.wait_for_url("**/sim/**")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the SIM page is {width} px wide at 360 px"
        page.locator('#notice-list [data-notice] button').first.click()
        page.wait_for_load_state()
        page.goto(f"{url}/")
        assert page.locator('#alerts [data-key="sim_notice"]').count() == 0

        page.goto(f"{url}/?lang=en")
        assert page.locator("#notices-title").inner_text() == "Messages from the operator"
