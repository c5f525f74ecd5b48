"""The one worker loop (``gateway.background.Worker``) and the one transaction style
(``gateway.storage.write_transaction``), on a real SQLite file."""

from __future__ import annotations

import logging
import sqlite3
import threading

import pytest
from conftest import make_config, wait_until

from gateway.background import Worker
from gateway.broadcasts.service import BroadcastService
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb, WriteHealth, open_db, write_transaction


class Recorder(Worker):
    """Writes one row per tick; read-only (as a card remounted read-only) for its first ticks."""

    storage_retry_base = 0.01
    storage_retry_max = 0.02
    cannot_write_note = "rows wait"

    def __init__(self, path, read_only_ticks: int, health: WriteHealth) -> None:
        super().__init__("recorder", write_health=health)
        self.path = path
        self.read_only_ticks = read_only_ticks
        self.ticks = 0
        self.done = threading.Event()
        self.problems: list[dict | None] = []

    def tick(self) -> float | None:
        self.ticks += 1
        self.problems.append(self.write_health.problem())
        read_only = self.ticks <= self.read_only_ticks
        conn = sqlite3.connect(f"file:{self.path}?mode=ro" if read_only else str(self.path), uri=read_only)
        try:
            with conn:
                conn.execute("INSERT INTO t (n) VALUES (?)", (self.ticks,))
        finally:
            conn.close()
        self.done.set()
        return None


def test_a_database_that_cannot_be_written_is_handled_once_by_the_loop(tmp_path, caplog):
    path = tmp_path / "x.db"
    db = open_db(path)
    db.execute("CREATE TABLE t (n INTEGER)")
    db.close()
    health = WriteHealth()
    worker = Recorder(path, read_only_ticks=3, health=health)
    caplog.set_level(logging.INFO, logger="gateway.background")
    worker.start()
    try:
        assert worker.done.wait(10)
    finally:
        worker.stop()
    # three ticks refused, the fourth wrote: the health said so meanwhile, and is clear again
    assert worker.ticks == 4 and worker.problems[0] is None
    assert worker.problems[1]["reason"] == "read-only" and worker.problems[1]["who"] == "recorder"
    assert health.problem() is None and worker.write_failures == 0
    lines = [r.getMessage() for r in caplog.records]
    assert [line for line in lines if "cannot be written" in line] == [
        "recorder: the database cannot be written (read-only: attempt to write a readonly database); rows wait"]
    assert "recorder: the database takes writes again" in lines
    assert not any(r.exc_info for r in caplog.records)  # no traceback: it is not a bug


def test_a_bug_in_a_tick_is_logged_with_its_traceback_and_the_loop_goes_on(caplog):
    class Buggy(Worker):
        def __init__(self) -> None:
            super().__init__("buggy")
            self.error_delay = 0.01
            self.ticks = 0

        def tick(self) -> float:
            self.ticks += 1
            if self.ticks == 1:
                raise KeyError("oops")
            return 0.01

    worker = Buggy()
    worker.start()
    try:
        assert wait_until(lambda: worker.ticks >= 3, 10)
    finally:
        worker.stop()
    failed = [r for r in caplog.records if "a pass failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None and worker.write_failures == 0


def test_write_transaction_nests_as_a_savepoint(tmp_path):
    db = open_db(tmp_path / "x.db")
    db.execute("CREATE TABLE t (n INTEGER)")
    with write_transaction(db):
        db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), write_transaction(db):
            db.execute("INSERT INTO t VALUES (2)")
            raise ValueError("the inner block fails alone")
        with write_transaction(db):
            db.execute("INSERT INTO t VALUES (3)")
        assert db.conn.in_transaction
    assert not db.conn.in_transaction
    assert [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")] == [1, 3]
    with pytest.raises(ValueError), write_transaction(db):
        db.execute("INSERT INTO t VALUES (4)")
        raise ValueError("the outer block fails: nothing of it stays")
    assert [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")] == [1, 3]
    db.close()


def test_the_broadcast_tick_is_a_worker_thread_woken_by_an_officer(tmp_path):
    config = make_config(tmp_path, TINBAO_BROADCASTS_TICK_INTERVAL="3600")
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    service = BroadcastService(config, dbs)
    ticks = []
    tick = service.tick
    service.tick = lambda: ticks.append(1) or tick()
    service.start()
    try:
        assert wait_until(lambda: len(ticks) == 1, 10)  # the first tick comes at start
        assert "broadcast-tick" in {t.name for t in threading.enumerate()}
        assert service.tick_thread.thread.is_alive() and isinstance(service.tick_thread, Worker)
        service.wake()  # an hour before the next one: a wake makes it tick now
        assert wait_until(lambda: len(ticks) == 2, 10)
    finally:
        service.stop()
        dbs.close_all()
    assert not service.tick_thread.thread.is_alive()
