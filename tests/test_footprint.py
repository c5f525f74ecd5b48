"""What keeps the gateway within a Pi Zero's memory and the router's pace as the file grows
(``bench/memory.py``, ``bench/router_throughput.py``): heavy libraries imported only where
used, a small page cache per connection, the per-sender duty alert cap read by index."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from conftest import ROOT

from gateway.database import prepare_gateway
from gateway.storage import CACHE_KIB, open_db

#: Libraries only some moments need: a weekly schedule's calendar (APScheduler, with asyncio and
#: tzlocal), the poster (segno, Pillow), sealing (cryptography), /metrics, HTTPS (cheroot).
HEAVY = ("apscheduler", "asyncio", "tzlocal", "segno", "PIL", "cryptography", "prometheus_client", "cheroot")


def test_importing_the_gateway_loads_no_library_that_only_some_moments_need():
    # Every module of the gateway, the page's blueprints included (create_app imports them);
    # the emulator (tests and benches) and the poster's PNG drawing (Pillow, when asked) aside.
    code = (
        "import importlib, pkgutil, sys, gateway\n"
        "for m in pkgutil.walk_packages(gateway.__path__, 'gateway.'):\n"
        "    if '.emulator' not in m.name and m.name not in ('gateway.__main__', 'gateway.web.poster_image'):\n"
        "        importlib.import_module(m.name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_weekly_schedule_still_finds_its_calendar():
    from datetime import time
    from zoneinfo import ZoneInfo

    from gateway.broadcasts.scheduler import Schedule

    schedule = Schedule("weekly", ZoneInfo("Asia/Ho_Chi_Minh"), weekday=0, time_of_day=time(7, 30))
    assert schedule.first(datetime(2026, 12, 2, tzinfo=UTC)) == datetime(2026, 12, 7, 0, 30, tzinfo=UTC)


def test_each_connection_keeps_a_small_page_cache(db_path):
    db = open_db(db_path)
    try:
        assert db.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
    finally:
        db.close()


def test_a_numbers_tips_of_the_hour_are_read_by_index(tmp_path):
    path = tmp_path / "t.db"
    prepare_gateway(path)
    db = open_db(path)
    try:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT id FROM tips WHERE received_at >= ? AND tipster = ? ORDER BY id",
                          ["2026-12-01T00:00:00+00:00", "+84900000001"]).fetchall()
        assert any("tips_tipster" in row[-1] for row in plan), plan
    finally:
        db.close()
