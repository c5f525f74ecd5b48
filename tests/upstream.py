"""Upstream of a gateway, for the tests: the stand-in Zalo OA, the provincial hub, and the
sync worker running against them (one of each; ``conftest.py`` imports the fixtures).

Both stand-ins are real HTTP servers on 127.0.0.1 (``fake_zalo.py``); the gateway's database
is a real SQLite file; the clock is a ManualClock, so a week without internet passes in a
second.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_zalo import FakeZalo, HubServer

from gateway.clock import ManualClock
from gateway.config import Config, load_config
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb
from gateway.sync.worker import SyncWorker

OFFICERS = ("111", "222")  # the Zalo user_ids the OA mirrors tips to


@pytest.fixture
def zalo(request: pytest.FixtureRequest) -> Iterator[FakeZalo]:
    """The stand-in Zalo OA, started. Under ``@pytest.mark.zalo_rules`` it applies the OA's
    messaging rules (the 48-hour window, the quota) on the test's own ``clock`` fixture."""
    if request.node.get_closest_marker("zalo_rules") is not None:
        clock = request.getfixturevalue("clock")
        fake = FakeZalo(window_rule=True, clock=lambda: clock.now().timestamp())
    else:
        fake = FakeZalo()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    """The real hub app with its own file under ``tmp_path``, served by waitress on a free port
    (``hub.app.test_client()`` reaches the same app without the network)."""
    server = HubServer(tmp_path)
    server.start()
    yield server
    server.close()


def manual_clock() -> ManualClock:
    """A clock that moves only when told, starting now (tips are stored with the real time)."""
    return ManualClock(datetime.now(UTC))


def sync_config(tmp_path: Path, zalo: FakeZalo | None = None, hub: HubServer | None = None, **env: str) -> Config:
    """A gateway's config that mirrors to ``zalo`` and/or ``hub``, its database prepared."""
    values = {
        "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"),
        "TINBAO_SYNC_POLL_INTERVAL": "0.02",
        "TINBAO_SYNC_RETRY_BASE": "5",
        "TINBAO_SYNC_RETRY_MAX": "600",
        "TINBAO_SYNC_TIMEOUT": "2",
        "TINBAO_SYNC_CHECK_TIMEOUT": "1",
        "TINBAO_SYNC_PULL_INTERVAL": "3600",
    }
    if zalo is not None:
        values.update({
            "TINBAO_ZALO_ENABLED": "true", "TINBAO_ZALO_API_BASE": zalo.url, "TINBAO_ZALO_OAUTH_BASE": zalo.url,
            "TINBAO_ZALO_APP_ID": zalo.app_id, "TINBAO_ZALO_SECRET_KEY": zalo.secret_key,
            "TINBAO_ZALO_REFRESH_TOKEN": zalo.live_refresh, "TINBAO_ZALO_OFFICER_IDS": ",".join(OFFICERS),
        })
    if hub is not None:
        values.update({"TINBAO_HUB_URL": hub.url, "TINBAO_HUB_TOKEN": "token-cl"})
    values.update(env)
    config = load_config(env=values)
    prepare_gateway(config.storage_path)
    return config


@contextlib.contextmanager
def running(config: Config, clock: ManualClock) -> Iterator[SyncWorker]:
    """The sync worker of ``config`` on ``clock``, its lanes started, stopped on exit."""
    dbs = ThreadLocalDb(config.storage_path)
    worker = SyncWorker(config, dbs, clock)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        dbs.close_all()


def settled(worker: SyncWorker, timeout: float = 10.0) -> bool:
    """Two more passes of every lane (the first may have begun before the test's change): after
    this, what the lanes would do about the change is done, and "nothing happened" means it."""
    marks = {name: lane.passes for name, lane in worker.lanes.items()}
    worker.wake()
    return all(lane.wait_for_passes(marks[name] + 2, timeout) for name, lane in worker.lanes.items())


def statuses(config: Config, destination: str) -> Counter:
    from conftest import rows

    return Counter(dict(rows(config.storage_path,
                             "SELECT status, COUNT(*) FROM sync_queue WHERE destination=? GROUP BY status",
                             (destination,))))


def all_done(config: Config, destination: str, count: int) -> bool:
    return statuses(config, destination).get("done", 0) == count


def hub_login(client, username: str, password: str = "mat-khau-dai") -> None:
    """Log Flask's test client of the hub's app in through the hub's login form."""
    token = re.search(rb'name="csrf_token" value="([^"]+)"', client.get("/login").data).group(1).decode()
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.data


# -- tips pushed to the hub through its API (the JSON a gateway sends) ----------------------------

def tip(uid: str, text: str = "Có người lạ vào thôn", received_at: str = "2026-11-29T01:00:00+00:00",
        reference: str | None = None) -> dict:
    number = uid.split("-")[1]
    return {"uid": uid, "reference": reference or f"{uid.split('-')[0].upper()}-{int(number):04d}",
            "received_at": received_at, "text": text, "tipster_masked": "0*** *** *78"}


def push(api, token: str | None, body) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = api.post("/api/v1/tips", json=body, headers=headers)
    return response.status_code, response.get_json()


def seed_tips(api) -> None:
    push(api, "token-cl", {"gateway_id": "cl", "gateway_name": "Công an xã Cốc Lầu", "tips": [
        tip("cl-1", "Trộm bò ở thôn Nậm Khánh", "2026-11-20T02:00:00+00:00"),
        tip("cl-2", "<script>alert(1)</script> lừa đảo qua điện thoại", "2026-11-28T02:00:00+00:00"),
    ]})
    push(api, "token-bh", {"gateway_id": "bh", "tips": [tip("bh-1", "Đánh bạc ở chợ", "2026-11-28T05:00:00+00:00")]})
