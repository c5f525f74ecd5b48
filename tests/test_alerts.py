"""One alert rule set (``gateway.alerts``): the dashboard and ``python app.py doctor`` read the
same rules, so they agree on when the SIM is nearly full, the clock untrusted, the backup old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway import alerts, backup, doctor, state
from gateway.clock import STATE_KEY as CLOCK_KEY
from gateway.config import load_config
from gateway.storage import utcnow_iso

NOW = datetime.now(UTC)


def publish_modem(db, used: int, total: int = 50) -> None:
    """As the modem worker publishes it (``state`` key ``modem``)."""
    state.put_json(db, "modem", {"state": "connected", "registered": True, "signal": 20, "operator": "Viettel",
                                 "last_contact": utcnow_iso(NOW), "sim_used": used, "sim_total": total,
                                 "smsc": "+84980200030", "technology": "4G"})


@pytest.fixture
def client(logged_in):
    return logged_in("viewer")


def dashboard_keys(client) -> set[str]:
    return {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}


def doctor_line(db_path, db, name: str) -> doctor.Check:
    config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
    checks = [*doctor.check_modem(config, db, True, NOW), doctor.check_clock(config, db, NOW),
              doctor.check_backup(config, db, NOW)]
    return next(check for check in checks if check.name == name)


@pytest.mark.parametrize(("used", "total", "alert"), [(39, 50, False), (40, 50, True), (50, 50, True)])
def test_the_sim_is_nearly_full_for_the_dashboard_and_the_doctor_alike(client, storage, db_path, used, total,
                                                                       alert):
    db = storage.get()
    publish_modem(db, used, total)
    assert ("sim" in dashboard_keys(client)) is alert
    assert doctor_line(db_path, db, "SIM storage").ok is not alert
    found = alerts.sim_full({"sim_used": used, "sim_total": total})
    assert (found is not None) is alert and (found is None or found.tone == ("bad" if used == total else "wait"))


def test_an_untrusted_clock_and_an_old_backup_for_the_dashboard_and_the_doctor_alike(client, storage, db_path):
    db = storage.get()
    publish_modem(db, 1)
    backup.record(db, db_path, NOW - timedelta(hours=5))
    state.put_json(db, CLOCK_KEY, {"trusted": True, "source": "system", "offset_seconds": 0.0,
                                   "checked_at": utcnow_iso(NOW)})
    assert {"clock", "backup"} & dashboard_keys(client) == set()
    assert doctor_line(db_path, db, "clock trusted").ok and doctor_line(db_path, db, "last backup").ok

    state.put_json(db, CLOCK_KEY, {"trusted": False, "source": "system", "offset_seconds": 0.0,
                                   "checked_at": utcnow_iso(NOW)})
    backup.record(db, db_path, NOW - timedelta(days=3))
    assert {"clock", "backup"} <= dashboard_keys(client)
    assert not doctor_line(db_path, db, "clock trusted").ok and not doctor_line(db_path, db, "last backup").ok


def test_the_threshold_lives_in_one_place():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "gateway"
    holders = [p.relative_to(root).as_posix() for p in root.rglob("*.py")
               if "SIM_NEARLY_FULL =" in p.read_text(encoding="utf-8")]
    assert holders == ["alerts.py"]
