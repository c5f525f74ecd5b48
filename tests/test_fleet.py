"""The province's posts at the hub (issue 16 parts 1-3): two whole gateways with their emulators
and a hub, all over real HTTP. A stopped post goes silent (red, at the top) once the hub's clock
passes ``hub.silent_minutes``; an unplugged modem shows at the hub with the post's own words
within one heartbeat; ``/metrics`` parses with prometheus_client's own parser and refuses
without its token; a heartbeat holds no number and no SMS text; a post offline for a while sends
one heartbeat when it comes back, not a backlog; the USB file carries one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import TEST_PASSWORD, make_config, rows, screenshot, served_gateway, wait_until
from fake_zalo import HubServer, add_tips
from upstream import hub_login

from gateway.clock import ManualClock
from gateway.hub import fleet
from gateway.storage import open_db

BEAT = "0.01"  # sync.heartbeat_minutes: a beat every 0.6 s
TOKENS = {"cl": "token-cl", "bh": "token-bh"}
METRICS_TOKEN = "scrape-me"


def filled_menus(folder: Path) -> Path:
    """The shipped menus with every contact filled in (first-run setup done: no "setup" alert)."""
    from gateway.config import SHIPPED

    menus = folder / "menus"
    menus.mkdir()
    text = (SHIPPED / "menus" / "vi.toml").read_text(encoding="utf-8")
    (menus / "vi.toml").write_text(text.replace("09xx xxx xxx", "0912 000 111").replace("xxxx", "Cốc Lầu"),
                                   encoding="utf-8")
    return menus


@contextlib.contextmanager
def post(tmp_path: Path, gateway_id: str, hub: HubServer, **env: str) -> Iterator:
    """One commune's whole gateway (built-in emulator, setup done) pointed at ``hub``."""
    folder = tmp_path / gateway_id
    folder.mkdir()
    env.setdefault("TINBAO_ROUTER_MENUS_PATH", str(filled_menus(folder)))
    values = {"TINBAO_MODEM_PORT": "emulator", "TINBAO_WEB_PORT": "0", "TINBAO_GATEWAY_ID": gateway_id,
              "TINBAO_HUB_URL": hub.url, "TINBAO_HUB_TOKEN": TOKENS[gateway_id], "TINBAO_SYNC_HEARTBEAT_MINUTES": BEAT,
              "TINBAO_SYNC_RETRY_BASE": "0.2", "TINBAO_SYNC_RETRY_MAX": "0.5", **env}
    config = make_config(folder, **values)
    with served_gateway(config) as (gateway, url):
        yield gateway, url


@pytest.fixture
def hub_clock() -> ManualClock:
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def hub(tmp_path: Path, hub_clock: ManualClock) -> Iterator[HubServer]:
    server = HubServer(tmp_path, clock=hub_clock, TINBAO_HUB_NAMES="cl:Cốc Lầu,bh:Bản Phố",
                       TINBAO_HUB_SILENT_MINUTES="30", TINBAO_HUB_METRICS_TOKEN=METRICS_TOKEN)
    server.start()
    yield server
    server.close()


def newest(hub: HubServer, gateway_id: str) -> dict | None:
    return fleet.newest(hub.dbs.get(), gateway_id)


def beats(hub: HubServer, gateway_id: str) -> int:
    return rows(hub.path, "SELECT COALESCE(SUM(beats), 0) FROM hub_fleet_hours WHERE gateway_id=?", (gateway_id,))[0][0]


def hub_state(hub: HubServer, gateway_id: str, now: datetime) -> fleet.Judgement:
    return fleet.judge(newest(hub, gateway_id), now, hub.config.hub.silent_minutes)


# Elements whose content is wider than their box (cut off or spilling out), as tags with their text.
CLIPPED = """selector => [...document.querySelectorAll(selector)]
  .filter(el => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline')
  .map(el => el.tagName + ': ' + el.textContent.trim().slice(0, 40))"""


def hub_browser_login(hub: HubServer, page, role: str = "viewer") -> None:
    from gateway.accounts import users

    users.create_user(hub.dbs.get(), f"tinh.{role}", TEST_PASSWORD, role)
    page.goto(f"{hub.url}/login")
    page.fill("input[name=username]", f"tinh.{role}")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{hub.url}/")


def test_two_posts_one_stopped_goes_silent_and_red_at_the_top_in_chromium(tmp_path, hub, hub_clock, page):
    with post(tmp_path, "cl", hub) as (_cl, _):
        with post(tmp_path, "bh", hub):
            assert wait_until(lambda: newest(hub, "bh") and newest(hub, "cl"), 20)
            assert wait_until(lambda: hub_state(hub, "bh", hub_clock.now()).state == "ok"
                              and hub_state(hub, "cl", hub_clock.now()).state == "ok", 20), \
                (newest(hub, "bh")["state"].get("alerts"), newest(hub, "cl")["state"].get("alerts"))
        # bh is stopped; the hub's clock passes hub.silent_minutes while cl keeps beating.
        hub_clock.advance(minutes=31)
        assert wait_until(lambda: hub_state(hub, "cl", hub_clock.now()).state == "ok", 10)
        assert hub_state(hub, "bh", hub_clock.now()).state == "silent"
        health = json.loads(hub.app.test_client().get("/healthz").data)
        assert health["gateways"] == {"silent": 1, "fault": 0, "warning": 0, "ok": 1}

        hub_browser_login(hub, page)
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 800})
            for lang in ("vi", "en"):
                page.goto(f"{hub.url}/fleet?lang={lang}")
                names = page.locator("#fleet tr.fleet-row").evaluate_all(
                    "rows => rows.map(r => [r.dataset.gateway, r.dataset.state])")
                assert names == [["bh", "silent"], ["cl", "ok"]]  # the silent post first
                first = page.locator("#fleet tr.fleet-row").first
                assert "Bản Phố" in first.inner_text()  # the hub's own name for it
                red = first.locator("td").first.evaluate("td => getComputedStyle(td).backgroundColor")
                assert red not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), red
                said = first.inner_text()
                assert ("Mất liên lạc" if lang == "vi" else "Silent") in said
                assert ("Không nhận được tin của cổng từ" if lang == "vi" else "Nothing heard from the gateway since") \
                    in said
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert wide <= 0, f"/fleet at {width} px ({lang}) is {wide} px too wide"
                clipped = page.evaluate(CLIPPED, "#fleet td, #fleet td *")
                assert clipped == [], f"/fleet at {width} px ({lang}): cut off {clipped}"
                screenshot(page, f"hub-fleet-{width}-{lang}")
                page.goto(f"{hub.url}/fleet/bh?lang={lang}")
                assert page.locator("#post-state").get_attribute("data-state") == "silent"
                assert page.locator("#post-week .fleet-day").count() == 8  # 7 days and the scale
                assert page.locator("#post-incidents li").count() >= 1
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                assert wide <= 0, f"/fleet/bh at {width} px ({lang}) is {wide} px too wide"
                screenshot(page, f"hub-fleet-bh-{width}-{lang}")


def test_an_unplugged_modem_shows_at_the_hub_with_the_posts_words_within_one_heartbeat(tmp_path, hub, hub_clock):
    with post(tmp_path, "cl", hub) as (cl, _):
        assert wait_until(lambda: hub_state(hub, "cl", hub_clock.now()).state == "ok", 20)
        cl.emulator.unplug()
        assert wait_until(lambda: cl.modem.state.state != "connected", 15)
        # The modem worker publishes the fault; one beat (0.6 s) later the hub has it, worded.
        assert wait_until(lambda: hub_state(hub, "cl", hub_clock.now()).state == "fault", 10)
        judgement = hub_state(hub, "cl", hub_clock.now())
        assert judgement.why == "alert" and judgement.alert["code"] == "modem"
        assert judgement.alert["text"].startswith("Modem không hoạt động")
        assert judgement.alert["text_en"].startswith("The modem is not working")
        client = hub.app.test_client()
        from gateway.accounts import users

        users.create_user(hub.dbs.get(), "tinh.xem", "mat-khau-dai", "viewer")
        hub_login(client, "tinh.xem")
        page = client.get("/fleet/cl").data.decode()
        assert "Modem không hoạt động" in page and 'data-state="fault"' in page
        assert "The modem is not working" in client.get("/fleet?lang=en").data.decode()
        cl.emulator.replug()
        assert wait_until(lambda: hub_state(hub, "cl", hub_clock.now()).state == "ok", 20), (
            hub_state(hub, "cl", hub_clock.now()), cl.modem.state)
        [(failed,)] = rows(hub.path, "SELECT SUM(line_failed) FROM hub_fleet_hours"
                                           " WHERE gateway_id='cl'")
        assert failed >= 1  # the hour remembers the line was down


def test_metrics_parse_with_prometheus_clients_parser_and_need_their_token(tmp_path, hub, hub_clock):
    from prometheus_client.parser import text_string_to_metric_families

    with post(tmp_path, "cl", hub, TINBAO_WEB_METRICS_TOKEN="post-scrape") as (_cl, url):
        assert wait_until(lambda: newest(hub, "cl"), 20)
        client = hub.app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(answer.data.decode())}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
        assert samples[("tinbao_gateway_up", (("gateway", "cl"),))] == 1
        assert samples[("tinbao_gateway_up", (("gateway", "bh"),))] == 0  # never heard
        assert 0 <= samples[("tinbao_gateway_last_heard_seconds", (("gateway", "cl"),))] < 60
        assert ("tinbao_gateway_queue", (("gateway", "cl"), ("queue", "outbox_queued"))) in samples
        assert ("tinbao_gateway_alerts", (("gateway", "cl"),)) in samples
        assert "tinbao_gateway_sim_balance_vnd" in families  # described even before a SIM reading
        hub_clock.advance(minutes=31)
        later = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).data.decode()
        assert 'tinbao_gateway_up{gateway="cl"} 0.0' in later or wait_until(
            lambda: 'tinbao_gateway_up{gateway="cl"} 1.0' in client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).data.decode(), 10)

        # The post's own /metrics on its page port: off without its token, refused without it given.
        import urllib.error
        import urllib.request

        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/metrics", timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(f"{url}/metrics", headers={"Authorization": "Bearer post-scrape"})
        with urllib.request.urlopen(request, timeout=10) as response:
            own = {f.name for f in text_string_to_metric_families(response.read().decode())}
        assert {"tinbao_healthy", "tinbao_modem_state", "tinbao_queue", "tinbao_storage_free_bytes"} <= own


def test_metrics_are_off_while_no_token_is_set(tmp_path):
    hub = HubServer(tmp_path)
    try:
        assert hub.app.test_client().get("/metrics").status_code == 404
    finally:
        hub.close()
    from conftest import make_services

    from gateway.web import create_app

    config = make_config(tmp_path / "post")
    (tmp_path / "post").mkdir(exist_ok=True)
    app = create_app(config, make_services(config.storage_path, config=config))
    assert app.test_client().get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


FAKE_NUMBERS = ("0912345678", "0987654321")
FAKE_TEXTS = ("Có người lạ bán hàng giả ở thôn Na Hối", "Mất trộm bò nhà ông Sáu")


def test_a_heartbeat_holds_no_number_and_no_sms_text(tmp_path):
    from gateway import __version__, outbox, tips
    from gateway.database import prepare_gateway
    from gateway.storage import write_transaction
    from gateway.sync import heartbeat, hooks
    from gateway.web.alert_words import standalone

    config = make_config(tmp_path, TINBAO_HUB_TOKEN="t")
    prepare_gateway(config.storage_path)
    db = open_db(config.storage_path)
    try:
        now = datetime.now(UTC)
        with write_transaction(db):
            for number, text in zip(FAKE_NUMBERS, FAKE_TEXTS, strict=True):
                tip = tips.create(db, gateway_id="cl", tipster=number, text=text, inbox_id=None, now=now)
                hooks.enqueue_tip(db, tip, now, ("district",))
                outbox.enqueue(db, number, f"Cam on: {text}", kind="reply", now=now)
        # A modem error quoting a number (a command echoed back, say) is masked on the way out.
        said = heartbeat.impersonal({"error": f'+CMS ERROR 500 for AT+CMGS="{FAKE_NUMBERS[1]}"'})
        assert FAKE_NUMBERS[1] not in json.dumps(said) and said["error"].startswith("+CMS ERROR 500")
        payload = heartbeat.build(heartbeat.Inputs(db, config, now, version=__version__, words=standalone(config),
                                                   write_problem={"reason": "disk full", "since": now.isoformat()}))
    finally:
        db.close()
    sent = json.dumps(payload, ensure_ascii=False)
    assert payload["gateway_id"] == "cl" and payload["state"]["queues"]["district_queued"] == 2
    assert payload["state"]["queues"]["outbox_queued"] == 2
    assert payload["state"]["storage"]["writable"] is False
    for number in FAKE_NUMBERS:
        for form in (number, number[1:], "84" + number[1:], number[-6:]):
            assert form not in sent, form
    for text in FAKE_TEXTS:
        assert text not in sent and text.split()[-1] not in sent
    codes = {alert["code"] for alert in payload["state"]["alerts"]}
    assert "storage" in codes  # the dashboard's alerts, in both languages
    assert all(a["text"] and a["text_en"] for a in payload["state"]["alerts"])


def test_offline_then_back_sends_one_heartbeat_not_a_backlog(tmp_path, hub_clock):
    hub = HubServer(tmp_path, clock=hub_clock)
    hub.start()
    hub.stop()  # the internet is down; the port is kept for when it comes back
    try:
        with post(tmp_path, "cl", hub, TINBAO_SYNC_HEARTBEAT_MINUTES="1") as (cl, _):
            assert wait_until(lambda: cl.heartbeat.failures >= 4, 20), cl.heartbeat.failures
            assert beats(hub, "cl") == 0
            hub.start()
            assert wait_until(lambda: beats(hub, "cl") >= 1, 10)
            wait_until(lambda: beats(hub, "cl") > 1, 3)  # nothing more may come: the next beat is a minute away
            assert beats(hub, "cl") == 1 and cl.heartbeat.failures == 0
            noted = rows(cl.config.storage_path, "SELECT value FROM state WHERE key='heartbeat'")
            assert json.loads(noted[0][0])["state"] == "ok"
            # The post's /sync page says when its state last reached the hub.
            from conftest import login_client

            client = cl.web_app().test_client()
            login_client(client, cl.config.storage_path, "viewer")
            assert "Báo tình trạng của cổng lên Công an tỉnh: lần cuối" in client.get("/sync").data.decode()
    finally:
        hub.close()


def test_the_usb_file_carries_a_heartbeat_and_the_hub_takes_it(tmp_path, hub_clock):
    from gateway import __version__
    from gateway.hub.server import import_file
    from gateway.sync import heartbeat, sneakernet

    config = make_config(tmp_path, TINBAO_HUB_TOKEN="token-cl")
    from gateway.database import prepare_gateway

    prepare_gateway(config.storage_path)
    add_tips(config.storage_path, 3, destinations=("district",))
    db = open_db(config.storage_path)
    written = hub_clock.now() - timedelta(hours=2)
    try:
        beat = heartbeat.build(heartbeat.Inputs(db, config, written, version=__version__))
        sneakernet.export_tips(db, config, tmp_path / "usb.json", written, beat)
    finally:
        db.close()
    (tmp_path / "h").mkdir()
    hub = HubServer(tmp_path / "h", clock=hub_clock)
    try:
        outcome, total, new, _ = import_file(hub.dbs.get(), hub.config, tmp_path / "usb.json", hub_clock.now())
        assert (outcome, total, new) == ("imported", 3, 3)
        found = newest(hub, "cl")
        assert found["source"] == "file" and found["state"]["queues"]["district_queued"] == 3
        # Heard when the file was written, two hours ago: silent all the same (30 minutes).
        assert datetime.fromisoformat(found["heard_at"]) == written
        assert hub_state(hub, "cl", hub_clock.now()).state == "silent"
    finally:
        hub.close()


def test_only_the_newest_heartbeat_counts_and_a_bad_one_is_refused_whole(tmp_path, hub_clock):
    hub = HubServer(tmp_path, clock=hub_clock)
    client = hub.app.test_client()
    auth = {"Authorization": "Bearer token-cl"}
    now = hub_clock.now()
    try:
        def send(at: datetime, **state) -> object:
            return client.post("/api/v1/heartbeat", json={"gateway_id": "cl", "at": at.isoformat(),
                                                          "state": {"status": "ok", **state}}, headers=auth)

        assert send(now, version="2").json == {"newest": True}
        assert send(now - timedelta(minutes=5), version="1").json == {"newest": False}
        assert newest(hub, "cl")["state"]["version"] == "2"
        assert beats(hub, "cl") == 2
        assert client.post("/api/v1/heartbeat", json={"gateway_id": "cl", "at": now.isoformat()},
                           headers=auth).status_code == 400  # no state
        assert client.post("/api/v1/heartbeat", json={"gateway_id": "cl", "at": "yesterday", "state": {}},
                           headers=auth).status_code == 400
        assert client.post("/api/v1/heartbeat", json={"gateway_id": "bh", "at": now.isoformat(), "state": {}},
                           headers=auth).status_code == 401  # cl's token for bh
        assert client.post("/api/v1/heartbeat", json={"gateway_id": "cl", "at": now.isoformat(), "state": {}}
                           ).status_code == 401
        huge = {"blob": ["x" * 2000] * 100}
        assert send(now, **huge).status_code == 400
        # A section a newer gateway adds is kept whole, with no schema change.
        assert send(now + timedelta(seconds=1), campaigns=[{"id": 7, "sent": 12}]).status_code == 200
        assert newest(hub, "cl")["state"]["campaigns"] == [{"id": 7, "sent": 12}]
    finally:
        hub.close()


def test_the_sync_alone_sends_the_heartbeat_too(tmp_path, hub, hub_clock):
    """``python app.py sync`` (the gateway stopped or killed, only the sync running) still tells
    the hub, in the gateway's corrected time, that no gateway runs: the modem's last report (a
    killed gateway's "connected") is not believed."""
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    from gateway import clock as clock_rule
    from gateway import state
    from gateway.database import prepare_gateway
    from gateway.modem import status as modem_status

    db_path = tmp_path / "tinbao.db"
    prepare_gateway(db_path)
    now = datetime.now(UTC)
    with open_db(db_path) as db:  # what a gateway killed with SIGKILL leaves: connected, an hour's offset
        state.put_json(db, modem_status.STATE_KEY, {**modem_status.read_nothing("connected"), "registered": True,
                                                     "signal": 20}, now)
        state.put_json(db, clock_rule.STATE_KEY, {"trusted": True, "source": "modem", "offset_seconds": 3600.0,
                                                  "checked_at": now.isoformat()}, now)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update({"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_GATEWAY_ID": "cl", "TINBAO_HUB_URL": hub.url,
                "TINBAO_HUB_TOKEN": TOKENS["cl"], "TINBAO_SYNC_HEARTBEAT_MINUTES": BEAT})
    proc = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "sync"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: beats(hub, "cl") >= 2, 30), proc.stderr.read1().decode() if proc.poll() else ""
        held = newest(hub, "cl")
        beat = held["state"]
        assert beat["modem"]["state"] == "stopped" and beat["status"] == "degraded", beat
        judgement = hub_state(hub, "cl", hub_clock.now())
        assert judgement.state == "fault" and judgement.alert["code"] == "gateway_stopped", judgement
        assert judgement.alert["text"].startswith("Cổng không chạy"), judgement  # in the post's words
        assert judgement.alert["text_en"].startswith("The gateway is not running"), judgement
        ahead = datetime.fromisoformat(held["at"]) - datetime.now(UTC)
        assert timedelta(minutes=59) < ahead < timedelta(minutes=61), held["at"]  # the gateway's time
        from gateway.storage import run_lock

        with run_lock(db_path):  # a gateway holds the file again: its modem report is believed
            assert wait_until(lambda: newest(hub, "cl")["state"]["modem"]["state"] == "connected", 10)
            assert hub_state(hub, "cl", hub_clock.now()).alert["code"] == "setup"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read().decode()
