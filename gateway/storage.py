"""SQLite storage: one file, WAL, a connection per thread, the schema as migrations.

Every hand-off in the gateway is a table with a status column (DESIGN.md), so this module
is the spine: the modem worker commits inbound PDUs here before they leave the SIM, the
router turns them into tips and replies, the outbox sender marks parts sent after +CMGS.

Timestamps are stored as ISO 8601 text in UTC (``2026-11-29T03:40:00.123456+00:00``),
which sorts correctly as text and reads clearly in the sqlite3 shell.
"""

from __future__ import annotations

import contextlib
import importlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao")

BUSY_TIMEOUT_MS = 10_000


def utcnow_iso(now: datetime | None = None) -> str:
    """The storage form of a moment: ISO 8601 in UTC."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


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


# Each area of the gateway keeps its own migration set next to its code (its own name in
# _sqlite_migrations), so areas grow their schema without editing this file's history.
AREA_MIGRATIONS = (
    "gateway.web.schema",
    "gateway.web.schema_work",
    "gateway.menus.schema",
    "gateway.sync.schema",
    "gateway.broadcasts.schema",
)


def all_migrations() -> list[Migrations]:
    """The spine's set first, then every area's, in a fixed order."""
    sets = [migrations]
    sets.extend(importlib.import_module(name).migrations for name in AREA_MIGRATIONS)
    return sets


def prepare(path: str | Path) -> None:
    """Create the file if needed, switch it to WAL once and apply pending migrations."""
    db = open_db(path)
    try:
        db.enable_wal()
        for migration_set in all_migrations():
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


@migrations()
def m001_spine(db: Database) -> None:
    """Inbound PDUs, long-SMS parts, inbox, outbox and its parts, tips, menu sessions."""
    db.executescript(
        """
        -- Every PDU read from the SIM, raw, committed before the SIM copy is deleted.
        -- slot is the SIM slot ("ME:3") while the SIM still holds it; NULL once deleted,
        -- so a message read twice (crash between commit and delete) is recognised.
        CREATE TABLE pdus (
            id INTEGER PRIMARY KEY,
            read_at TEXT NOT NULL,
            slot TEXT,
            pdu TEXT NOT NULL,
            kind TEXT NOT NULL,            -- deliver | status-report | submit | undecodable
            sender TEXT,
            decode_error TEXT,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | assembled | done | error
            last_error TEXT
        );
        CREATE INDEX pdus_slot ON pdus(slot, pdu) WHERE slot IS NOT NULL;
        CREATE INDEX pdus_status ON pdus(status);

        -- Parts of concatenated SMS waiting for their siblings (survives restarts).
        CREATE TABLE parts (
            id INTEGER PRIMARY KEY,
            pdu_id INTEGER NOT NULL REFERENCES pdus(id),
            sender TEXT NOT NULL,
            concat_ref INTEGER NOT NULL,
            total INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            encoding TEXT NOT NULL,
            sent_at TEXT,
            received_at TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id)
        );
        CREATE INDEX parts_open ON parts(sender, concat_ref, total) WHERE inbox_id IS NULL;

        -- Whole inbound messages, one per SMS (or per reassembled long SMS).
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            sent_at TEXT,
            sender TEXT NOT NULL,
            sender_kind TEXT NOT NULL,
            text TEXT,
            encoding TEXT,
            kind TEXT NOT NULL DEFAULT 'text',   -- text | binary | undecodable
            parts INTEGER NOT NULL DEFAULT 1,
            partial INTEGER NOT NULL DEFAULT 0,  -- 1: a part never came; kept, never dropped
            status TEXT NOT NULL DEFAULT 'queued', -- queued | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            handled_at TEXT,
            handler TEXT,
            pdu_id INTEGER REFERENCES pdus(id)
        );
        CREATE INDEX inbox_status ON inbox(status, id);
        CREATE INDEX inbox_sender ON inbox(sender, id);

        -- Outbound SMS. kind says why it is sent (menu, help, tip_ack, officer, ...).
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            number TEXT NOT NULL,
            text TEXT NOT NULL,
            kind TEXT NOT NULL,
            auto INTEGER NOT NULL DEFAULT 1,     -- 1: an automatic reply (rate limited)
            priority INTEGER NOT NULL DEFAULT 0, -- lower goes first: replies before broadcasts
            in_reply_to INTEGER REFERENCES inbox(id),
            encoding TEXT NOT NULL,
            parts_total INTEGER NOT NULL,
            parts_sent INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | sent | delivered | failed | cancelled
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            delivered_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(status, priority, next_attempt_at, id);
        CREATE INDEX outbox_number ON outbox(number, created_at);

        -- One row per SMS part: sent only after the modem answered +CMGS.
        CREATE TABLE outbox_parts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            seq INTEGER NOT NULL,
            pdu TEXT NOT NULL,
            tpdu_length INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | sent | delivered | failed
            mr INTEGER,                            -- TP-MR from +CMGS, to match status reports
            sent_at TEXT,
            report_status INTEGER,
            reported_at TEXT,
            UNIQUE(outbox_id, seq)
        );
        CREATE INDEX outbox_parts_mr ON outbox_parts(mr, sent_at) WHERE mr IS NOT NULL;

        CREATE TABLE tips (
            id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,       -- shown to the tipster: CL-0042
            uid TEXT NOT NULL UNIQUE,             -- global id: gateway id + local id
            received_at TEXT NOT NULL,
            tipster TEXT NOT NULL,
            text TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id),
            status TEXT NOT NULL DEFAULT 'new',   -- new | handling | closed
            status_changed_at TEXT,
            status_changed_by TEXT
        );
        CREATE INDEX tips_status ON tips(status, id);

        -- Per-number menu state (open menu, awaiting a tip) and language.
        CREATE TABLE sessions (
            number TEXT PRIMARY KEY,
            language TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            awaiting TEXT,
            expires_at TEXT,
            last_help_at TEXT
        );

        -- Small shared facts: modem state for the page and /healthz, the web secret.
        CREATE TABLE state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
    )
