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
    ``gateway.district.store.hub_migrations``): each area owns its set next to its code, and
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


# SQLite's primary result codes that say the file cannot be written (the low byte of the
# extended code): the disk is full, the card was remounted read-only, the card failed.
_CANNOT_WRITE = {13: "disk full", 8: "read-only", 10: "I/O error"}


def cannot_write(exc: BaseException) -> str | None:
    """Why SQLite could not write (``"disk full"``, ``"read-only"``, ``"I/O error"``), else None.

    Such an error is the storage's, not the message's or the row's: nothing is marked failed
    for it, nothing is deleted from the SIM, and the worker tries the same step again later.
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    return _CANNOT_WRITE.get(code & 0xFF)


class WriteHealth:
    """Whether the workers can write the database, kept in memory (it cannot be written then).

    The modem worker and the router report each write that failed (``failed``) or went
    through (``ok``); the page and ``/healthz`` read ``problem()`` through ``WebServices``.
    Safe from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, dict[str, str]] = {}

    def failed(self, who: str, reason: str, detail: str, now: datetime | None = None) -> None:
        with self._lock:
            since = self._problems.get(who, {}).get("since") or utcnow_iso(now)
            self._problems[who] = {"who": who, "reason": reason, "detail": detail[:200], "since": since}

    def ok(self, who: str) -> None:
        if who in self._problems:  # a read of a dict is safe; the lock only for the change
            with self._lock:
                self._problems.pop(who, None)

    def problem(self) -> dict[str, str] | None:
        """The oldest write failure still unresolved: who, reason, detail, since; None when all write."""
        with self._lock:
            problems = sorted(self._problems.values(), key=lambda p: p["since"])
        return dict(problems[0]) if problems else None


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

