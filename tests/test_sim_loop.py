"""The daily loop test and who the SIM is, through the serial port.

The loop SMS leaves for the gateway's own number and comes back (or not); it is never a
villager's message. A SIM or a modem swapped between two connects raises the re-verification
alert, and /healthz carries only a short hash of the identities.
"""

from __future__ import annotations

from conftest import login_client, rows, wait_until
from sim_fixtures import OWN_E164, post, sim  # noqa: F401 - post is a fixture

from gateway import conversations
from gateway.sim import loop
from gateway.storage import open_db


def test_the_loop_test_passes_and_is_never_a_villagers_message(post, emulator):  # noqa: F811
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is True, 15), sim(post)["loop_test"]
    test = sim(post)["loop_test"]
    assert test["round_trip_s"] is not None and 0 <= test["round_trip_s"] < 10 and test["at"]
    path = post.config.storage_path
    assert rows(path, "SELECT handler FROM inbox WHERE sender=?", (OWN_E164,)) == [("loop_test",)]
    assert rows(path, "SELECT COUNT(*) FROM tips")[0][0] == 0
    assert rows(path, "SELECT COUNT(*) FROM outbox WHERE number=? AND kind != 'loop_test'", (OWN_E164,))[0][0] == 0
    with open_db(path) as db:
        assert OWN_E164 not in {row["number"] for row in conversations.recent_numbers(db, limit=50).numbers}
    client = post.web_app().test_client()
    login_client(client, path, "viewer")
    health = client.get("/healthz").get_json()
    assert health["sim"]["loop_test"]["ok"] is True and health["status"] == "ok"


def test_a_loop_sms_that_does_not_come_back_fails_and_raises_an_alert(post, emulator):  # noqa: F811
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is True, 15)
    emulator.set_line(loop=False)  # the operator carries SMS out, nothing comes back in
    assert post.sim.request_loop_test()
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is False, 20), sim(post)["loop_test"]
    assert "did not come back" in sim(post)["loop_test"]["error"]
    client = post.web_app().test_client()
    login_client(client, post.config.storage_path, "viewer")
    alerts = {a["key"]: a["text"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert "Kiểm tra vòng SMS không đạt" in alerts["sim_loop"]
    assert "Không đạt" in client.get("/sim/").get_data(as_text=True)

    emulator.set_line(loop=True)
    assert post.sim.request_loop_test()
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is True, 20)
    alerts = {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert "sim_loop" not in alerts


def test_the_daily_test_waits_for_its_hour():
    from datetime import UTC, datetime

    from gateway.database import prepare_gateway

    def local(hour: int) -> datetime:
        return datetime(2026, 12, 2, hour, 0, tzinfo=UTC)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.db"
        prepare_gateway(path)
        with open_db(path) as db:
            assert loop.due(db, local(3), local(3), 9) == "first"
            loop.start(db, OWN_E164, local(3), local(3).date(), "first")
            assert loop.due(db, local(3), local(3), 9) is None  # one at a time
            db.execute("UPDATE sim_loop_tests SET status='ok', local_day='2026-12-01'")
            db.conn.commit()
            assert loop.due(db, local(8), local(8), 9) is None  # before the hour
            assert loop.due(db, local(9), local(9), 9) == "daily"


def test_a_new_sim_and_a_new_modem_raise_the_reverification_alert(post, emulator):  # noqa: F811
    first = sim(post)
    assert first["identity"]["sim"] and first["identity"]["modem"] and not first["identity_changed"]
    path = post.config.storage_path
    iccid = emulator.line.iccid
    client = post.web_app().test_client()
    login_client(client, path, "officer")
    health = client.get("/healthz").get_data(as_text=True)
    assert iccid not in health and emulator.line.imsi not in health and emulator.line.imei not in health

    emulator.swap(sim=True)  # the SIM moved into another device and back: a new card here
    emulator.replug()
    assert wait_until(lambda: sim(post)["identity_changed"], 20), sim(post)
    changed = sim(post)
    assert changed["identity"]["sim"] != first["identity"]["sim"]
    assert changed["identity"]["modem"] == first["identity"]["modem"]
    alerts = {a["key"]: a["text"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert "2 giờ" in alerts["sim_identity"] and "VNeID" in alerts["sim_identity"]
    assert client.get("/healthz").get_json()["sim"]["identity_changed"] is True

    page = client.get("/sim/").get_data(as_text=True)
    assert "Đã xác thực lại" in page
    identity_id = rows(path, "SELECT MAX(id) FROM sim_identity")[0][0]
    token = client.environ_base["HTTP_X_CSRFTOKEN"]
    done = client.post(f"/sim/identity/{identity_id}/verified", data={"csrf_token": token})
    assert done.status_code == 303
    assert client.get("/healthz").get_json()["sim"]["identity_changed"] is False
    assert rows(path, "SELECT action FROM audit_log WHERE action='sim.identity_verified'")

    emulator.swap(sim=False, modem=True)  # the SIM into a new modem: the same rule
    emulator.replug()
    assert wait_until(lambda: sim(post)["identity_changed"], 20)
    assert sim(post)["identity"]["modem"] != first["identity"]["modem"]
