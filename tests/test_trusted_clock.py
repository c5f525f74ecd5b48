"""One trusted clock for every record (DESIGN.md rule 7; issue 8, part 6).

A Pi has no real-time clock: fake-hwclock restores the time of the last shutdown, days
behind after a long power cut. The modem's network time (``AT+CCLK?``) and the SMS centre's
timestamps know the real time. The gateway's one ``Clock`` is the system clock corrected by
the network's offset, so every record carries the real time; the page and ``/healthz`` say
the Pi's clock is off, and which times written before the correction may be wrong.

The last test runs ``python app.py`` under libfaketime (Debian package ``faketime``) three days
in the past, with the emulator in its own process giving the real time.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FAST, ROOT, login_page, make_config, missing_tool, rows, screenshot, wait_until
from fake_zalo import HubServer

from gateway import state
from gateway.clock import CORRECTED_KEY, STATE_KEY, ManualClock, TrustedClock, judge, published
from gateway.database import prepare_gateway
from gateway.service import CLOCK_EVIDENCE, Gateway
from gateway.storage import ThreadLocalDb, utcnow_iso

REAL = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
BEHIND = REAL - timedelta(days=3)  # fake-hwclock after a three-day power cut: plausible, wrong


# -- the rule ------------------------------------------------------------------------------------

def test_an_sms_stamped_after_we_say_it_arrived_proves_our_clock_is_behind():
    sms = (REAL, BEHIND)  # the centre stamped it three days after "now"
    reading = judge(BEHIND, None, sms)
    assert reading.trusted and reading.source == "sms" and reading.offset_seconds == 3 * 86400
    # A stamp earlier than the arrival proves nothing: an SMS may wait at the centre for days.
    assert judge(REAL, None, (BEHIND, REAL)).source == "system"
    # A few minutes' delay is not a wrong clock.
    assert judge(REAL, None, (REAL + timedelta(minutes=4), REAL)).source == "system"


def test_a_modem_that_agrees_with_the_pi_outranks_an_sms():
    assert judge(REAL, (REAL + timedelta(seconds=20), REAL), (REAL + timedelta(days=1), REAL)).source == "system"


@pytest.mark.parametrize("unsynced", [datetime(2004, 1, 1, tzinfo=UTC), datetime(2080, 1, 6, tzinfo=UTC)])
def test_an_unsynced_modem_clock_is_never_trusted(unsynced):
    assert judge(BEHIND, (unsynced, BEHIND), None) == judge(BEHIND, None, None)
    assert judge(datetime(1970, 1, 1, tzinfo=UTC), (unsynced, BEHIND), None).trusted is False


# -- the clock on a real database ----------------------------------------------------------------

@pytest.fixture
def db(tmp_path):
    path = tmp_path / "tinbao.db"
    prepare_gateway(path)
    dbs = ThreadLocalDb(path)
    yield dbs.get()
    dbs.close_all()


def publish_modem_time(db, network: datetime, system: datetime) -> None:
    """As ``ModemWorker._publish_network_time`` does."""
    state.put_json(db, "modem_time", {"network_time": utcnow_iso(network), "system_time": utcnow_iso(system)})


def add_sms(db, sent_at: datetime, received_at: datetime) -> None:
    db.execute("INSERT INTO inbox (received_at, sent_at, sender, sender_kind, text, status) VALUES (?,?,?,?,?,?)",
               (utcnow_iso(received_at), utcnow_iso(sent_at), "+84912345678", "number", "MENU", "done"))


def test_the_modem_time_corrects_the_clock_and_the_correction_is_published(db):
    base = ManualClock(BEHIND)
    clock = TrustedClock(base, evidence=CLOCK_EVIDENCE)
    clock.check(db)
    assert clock.trusted and clock.now() == BEHIND and state.get_json(db, CORRECTED_KEY) is None

    publish_modem_time(db, REAL, BEHIND)
    reading = clock.check(db)
    assert reading.source == "modem" and clock.now() == REAL and clock.system_now() == BEHIND
    corrected = state.get_json(db, CORRECTED_KEY)
    assert corrected["at"] == utcnow_iso(REAL) and corrected["doubt_before"] == utcnow_iso(REAL)
    assert corrected["change_seconds"] == 3 * 86400
    view = published(db, REAL)
    assert view["trusted"] and view["source"] == "modem" and view["offset_seconds"] == 3 * 86400
    assert view["doubt_before"] == utcnow_iso(REAL)

    # checked again a minute later: no new correction, the clock runs on
    base.advance(minutes=1)
    publish_modem_time(db, REAL + timedelta(minutes=1), BEHIND + timedelta(minutes=1))
    clock.check(db)
    assert clock.now() == REAL + timedelta(minutes=1)
    assert state.get_json(db, CORRECTED_KEY)["at"] == utcnow_iso(REAL)


def test_a_clock_ahead_doubts_everything_up_to_its_own_wrong_now(db):
    ahead = REAL + timedelta(hours=5)
    clock = TrustedClock(ManualClock(ahead), evidence=CLOCK_EVIDENCE)
    clock.check(db)
    publish_modem_time(db, REAL, ahead)
    clock.check(db)
    assert clock.now() == REAL
    # rows written before were stamped up to "ahead": all of them are in doubt
    assert state.get_json(db, CORRECTED_KEY)["doubt_before"] == utcnow_iso(ahead)


def test_sms_stamps_correct_the_clock_once_and_keep_it_without_counting_twice(db):
    base = ManualClock(BEHIND)
    clock = TrustedClock(base, evidence=CLOCK_EVIDENCE)
    add_sms(db, BEHIND - timedelta(days=9), BEHIND - timedelta(days=10))  # from before this run: not used
    clock.check(db)
    assert clock.reading.source == "system"

    add_sms(db, REAL - timedelta(seconds=5), BEHIND)  # stamped by our (wrong) clock when it arrived
    assert clock.check(db).source == "sms"
    assert clock.now() == REAL + timedelta(seconds=-5)
    # the next SMS is stamped with the corrected clock: the offset must not double
    base.advance(seconds=30)
    add_sms(db, clock.now() - timedelta(seconds=3), clock.now())
    for _ in range(3):
        clock.check(db)
        assert abs(clock.reading.offset_seconds - 3 * 86400) < 10, clock.reading


def test_an_sms_correction_is_dropped_when_the_system_clock_is_set(db):
    base = ManualClock(BEHIND)
    clock = TrustedClock(base, evidence=CLOCK_EVIDENCE)
    clock.check(db)
    add_sms(db, REAL, BEHIND)
    assert clock.check(db).source == "sms"
    base.set(REAL + timedelta(seconds=1))  # NTP came back: the system clock jumps three days
    reading = clock.check(db)
    assert reading.source == "system" and clock.now() == REAL + timedelta(seconds=1)


def test_the_gateway_shares_one_clock_and_stamps_records_with_the_network_time(tmp_path, emulator, phone):
    """Every worker and the page read the same corrected clock: an SMS and its tip carry the modem's time."""
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"))
    real = datetime.now(UTC).replace(microsecond=0)
    emulator.set_clock(real)
    gateway = Gateway(config, ManualClock(real - timedelta(days=3)))
    assert isinstance(gateway.clock, TrustedClock)
    assert gateway.broadcasts.clock is gateway.clock and gateway.sync.clock is gateway.clock
    gateway.start()
    try:
        assert gateway.modem.clock is gateway.clock and gateway.router_worker.clock is gateway.clock
        assert wait_until(lambda: gateway.clock.reading.source == "modem", 15)
        reply = phone.send("0912345678", "TIN co nguoi la o bai song")
        assert reply is not None
        path = config.storage_path
        (inbox_at,), (tip_at,), (outbox_at,) = (
            rows(path, f"SELECT {column} FROM {table} ORDER BY id DESC LIMIT 1")[0]
            for table, column in (("inbox", "received_at"), ("tips", "received_at"), ("outbox", "created_at")))
        for stamp in (inbox_at, tip_at, outbox_at):
            assert abs(datetime.fromisoformat(stamp) - real) < timedelta(minutes=1), stamp
        sync_at = rows(path, "SELECT created_at FROM sync_queue ORDER BY id DESC LIMIT 1")
        assert not sync_at or abs(datetime.fromisoformat(sync_at[0][0]) - real) < timedelta(minutes=1)
    finally:
        gateway.stop()


# -- the page and /healthz -----------------------------------------------------------------------

@pytest.fixture
def client(logged_in):
    """Here the page is looked at by a viewer."""
    return logged_in("viewer")


def put(storage, key: str, value: dict) -> None:
    state.put_json(storage.get(), key, value)


def test_dashboard_and_healthz_show_the_correction_and_mark_the_times_in_doubt(storage, client):
    now = datetime.now(UTC)
    add_sms(storage.get(), now - timedelta(days=3, hours=1), now - timedelta(days=3, hours=1))  # before
    add_sms(storage.get(), now - timedelta(seconds=30), now - timedelta(seconds=20))  # after the correction
    put(storage, STATE_KEY, {"trusted": True, "source": "modem", "offset_seconds": 3 * 86400 + 120,
                             "checked_at": utcnow_iso(now)})
    put(storage, CORRECTED_KEY, {"at": utcnow_iso(now - timedelta(minutes=1)),
                                 "doubt_before": utcnow_iso(now - timedelta(minutes=1)),
                                 "change_seconds": 3 * 86400 + 120, "source": "modem"})
    data = client.get("/api/dashboard").get_json()
    alerts = {a["key"]: a["text"] for a in data["alerts"]}
    assert "chậm 3 ngày 0 giờ" in alerts["clock_offset"] and "giờ mạng của modem" in alerts["clock_offset"]
    assert "(?)" in alerts["clock_corrected"]
    marks = [row["time_display"].endswith("(?)") for row in data["inbox"]]
    assert marks == [False, True]  # newest first: only the one written before the correction
    health = client.get("/healthz").get_json()
    assert health["clock_trusted"] is True
    assert health["clock"]["source"] == "modem" and health["clock"]["offset_seconds"] == 3 * 86400 + 120
    assert health["clock"]["doubt_before"] is not None


def test_the_modem_card_and_healthz_show_the_network_and_a_2g_modem_is_an_alert(storage, client):
    put(storage, "modem", {"state": "connected", "signal": 18, "registered": True, "operator": "Viettel",
                           "technology": "4G", "rsrp": -97, "rsrq": -11.5, "smsc": "+84980200030",
                           "profile": "ec25-usb", "generation": "lte"})
    data = client.get("/api/dashboard").get_json()
    modem = data["modem"]
    assert modem["technology"] == "4G" and modem["smsc"] == "+84980200030" and modem["profile"] == "ec25-usb"
    assert "CSQ 18" in modem["signal_label"] and "RSRP -97 dBm" in modem["signal_label"]
    assert "RSRQ -11.5 dB" in modem["signal_label"]
    assert "modem_2g" not in {a["key"] for a in data["alerts"]}
    html = client.get("/").get_data(as_text=True)
    assert "+84980200030" in html and "4G" in html
    assert client.get("/healthz").get_json()["network"] == {
        "technology": "4G", "operator": "Viettel", "rsrp": -97, "rsrq": -11.5, "smsc": "+84980200030",
        "profile": "ec25-usb"}

    put(storage, "modem", {"state": "error", "registered": False, "profile": "sim800-uart", "generation": "2g"})
    alerts = {a["key"]: a["text"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert "15/9/2026" in alerts["modem_2g"] and "sim800-uart" in alerts["modem_2g"]


# -- the whole gateway under libfaketime, three days in the past -----------------------------------

def libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        missing_tool("libfaketime is not installed (Debian package faketime)")
    return found[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:  # /healthz answers 503 while degraded, with its JSON
        return json.load(exc)
    except OSError:
        return {}


def test_a_gateway_three_days_behind_stamps_a_tip_with_the_real_time(tmp_path, emulator_process, page):
    link, emulator = emulator_process  # its own process: the real time, as the network gives it
    hub = HubServer(tmp_path)
    hub.start()
    port = free_port()
    db_path = tmp_path / "tinbao.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update(FAST)
    env.update({
        "LD_PRELOAD": libfaketime(), "FAKETIME": "-3d", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "TINBAO_MODEM_PORT": str(link), "TINBAO_STORAGE_PATH": str(db_path),
        "TINBAO_WEB_HOST": "127.0.0.1", "TINBAO_WEB_PORT": str(port),
        "TINBAO_DISTRICT_URL": hub.url, "TINBAO_DISTRICT_TOKEN": "token-cl",
        "TINBAO_SYNC_POLL_INTERVAL": "0.2", "TINBAO_SYNC_RETRY_BASE": "0.1", "TINBAO_SYNC_RETRY_MAX": "0.5",
    })
    log_path = tmp_path / "gateway.log"
    with open(log_path, "ab") as log:
        gateway = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: get_json(f"{base}/healthz").get("clock", {}).get("source") == "modem", 40), \
            log_path.read_text()[-3000:]
        # faketime is in effect: the Pi's own clock, as the modem worker read it, is three days behind
        system = json.loads(rows(db_path, "SELECT value FROM state WHERE key='modem_time'")[0][0])["system_time"]
        assert abs(datetime.now(UTC) - timedelta(days=3) - datetime.fromisoformat(system)) < timedelta(minutes=1)
        health = get_json(f"{base}/healthz")
        assert abs(health["clock"]["offset_seconds"] - 3 * 86400) < 60 and health["clock_trusted"] is True
        assert abs(datetime.fromisoformat(health["time"]) - datetime.now(UTC)) < timedelta(minutes=1)
        assert health["clock"]["doubt_before"] is not None

        emulator.deliver("+84912345678", "TIN co nguoi la lang vang o bai song")
        assert wait_until(lambda: rows(db_path, "SELECT received_at FROM tips"), 20), log_path.read_text()[-3000:]
        real = datetime.now(UTC)
        for table in ("tips", "inbox"):
            stamp = rows(db_path, f"SELECT received_at FROM {table} ORDER BY id DESC LIMIT 1")[0][0]
            assert abs(datetime.fromisoformat(stamp) - real) < timedelta(minutes=1), (table, stamp)
        assert wait_until(lambda: emulator.wait_for_sent(1, 1), 20)  # the tipster got the acknowledgement
        created = rows(db_path, "SELECT created_at FROM outbox ORDER BY id DESC LIMIT 1")[0][0]
        assert abs(datetime.fromisoformat(created) - real) < timedelta(minutes=1)

        # the hub holds the tip stamped with the real time
        assert wait_until(lambda: rows(hub.path, "SELECT received_at FROM hub_tips"), 30), log_path.read_text()[-3000:]
        at_hub = rows(hub.path, "SELECT received_at FROM hub_tips")[0][0]
        assert abs(datetime.fromisoformat(at_hub) - real) < timedelta(minutes=1), at_hub

        # the officers' dashboard says the Pi's clock is off and which times to doubt
        login_page(page, base, db_path, "viewer")
        page.goto(f"{base}/")
        offset_alert = page.locator('#alerts [data-key="clock_offset"]')
        assert "chậm 3 ngày" in offset_alert.inner_text()
        assert page.locator('#alerts [data-key="clock_corrected"]').is_visible()
        screenshot(page, "clock-three-days-behind")
    finally:
        gateway.terminate()
        try:
            gateway.wait(15)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(5)
        hub.close()


def test_the_audit_log_takes_the_gateways_clock(storage, db_path):
    from conftest import make_services

    from gateway.accounts import audit
    from gateway.config import load_config
    from gateway.web import create_app

    clock = TrustedClock(ManualClock(BEHIND), evidence=CLOCK_EVIDENCE)
    publish_modem_time(storage.get(), REAL, BEHIND)
    clock.check(storage.get())
    config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
    app = create_app(config, make_services(db_path, config=config, db=storage, clock=clock))
    with app.test_request_context("/"):
        entry = audit.record(storage.get(), "officer1", "tip.view_number", "CL-0001")
    assert rows(db_path, "SELECT at FROM audit_log WHERE id=?", (entry,))[0][0] == utcnow_iso(REAL)
