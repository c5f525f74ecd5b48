"""SQLite storage: one file, WAL, a connection per thread, the schema as migration sets.

Every hand-off in the gateway is a table with a status column (DESIGN.md), so this module
is under all of them: the modem worker commits inbound PDUs before they leave the SIM, the
router turns them into tips and replies, the outbox sender marks parts sent after +CMGS.
It owns no table: the core tables are in ``gateway.schema``, each area's beside its code,
and ``prepare`` applies the sets its caller names.

Timestamps are stored as ISO 8601 text in UTC (``2026-11-29T03:40:00.123456+00:00``),
which sorts correctly as text and reads clearly in the sqlite3 shell.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

BUSY_TIMEOUT_MS = 10_000


def utcnow_iso(now: datetime | None = None) -> str:
    """The storage form of a moment: ISO 8601 in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat()


def open_db(path: str | Path, *, durable: bool = False) -> Database:
    """Open a connection for the calling thread.

    ``durable`` connections fsync every commit (``synchronous=FULL``): the modem worker uses
    one, because a committed inbound SMS is then deleted from the SIM and must survive a
    power cut. Other connections use ``NORMAL``, which in WAL mode survives a killed process
    and keeps transactions in order, so a later durable commit also makes them durable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def prepare(path: str | Path, migration_sets: Iterable[Migrations]) -> None:
    """Create the file if needed, switch it to WAL once and apply the pending migrations of each set.

    The caller says which tables the file holds (``gateway.service.gateway_migrations``,
    ``gateway.hub.store.hub_migrations``): each area owns its set next to its code, and
    this module knows none of them.
    """
    db = open_db(path)
    try:
        db.enable_wal()
        for migration_set in migration_sets:
            migration_set.apply(db)
    finally:
        db.close()


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """A transaction that takes the write lock at once (``BEGIN IMMEDIATE``).

    ``db.atomic()`` begins a deferred transaction; one that reads, then writes, can fail
    with SQLITE_BUSY when another thread committed in between, without waiting. Workers
    that claim rows use this instead so the busy timeout applies.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")


class ThreadLocalDb:
    """One sqlite-utils ``Database`` per thread for a given file (a connection is not shared)."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        self.durable = durable
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()

    def get(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_db(self.path, durable=self.durable)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close_all(self) -> None:
        with self._lock:
            for db in self._all:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._all.clear()
        self._local = threading.local()

