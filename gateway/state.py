"""Small shared facts, one row per key: the one way to read and write table ``state``.

The modem worker publishes its status (``modem``, ``modem1``...) and the network time
(``modem_time``), the broadcast clock its verdict (``clock``), the sync worker its report
(``sync``; the page's "retry now" is ``sync_retry``) and the hub's change cursor
(``sync_district_cursor``), the page and the hub their session-signing secret
(``web_secret_key``, ``hub_secret_key``). Readers are the page, ``/healthz`` and the workers.

Writes go through ``Database.execute``: alone they commit at once; inside a caller's
transaction (``write_transaction``) they become part of it, so a cursor moves together
with the changes it counts. A database error is raised, never turned into "no value".

The table is this module's own migration set, so a file that holds no gateway tables (the
district hub's) still has it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway.storage import utcnow_iso

migrations = Migrations("tinbao-state")

_UPSERT = (
    "INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at"
)


@migrations()
def m001_state(db: Database) -> None:
    # IF NOT EXISTS: databases made before this set got the table from the core set.
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
    )


def get(db: Database, key: str) -> str | None:
    """The value kept under ``key``, or None when nothing was ever put there."""
    row = db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def get_json(db: Database, key: str) -> dict[str, Any] | None:
    """The JSON object kept under ``key``; None when absent or when the value is not an object."""
    text = get(db, key)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def put(db: Database, key: str, value: str, now: datetime | None = None) -> None:
    """Keep ``value`` under ``key`` (replacing what was there), stamped ``now``."""
    db.execute(_UPSERT, [key, value, utcnow_iso(now)])


def put_json(db: Database, key: str, value: Any, now: datetime | None = None) -> None:
    """Keep ``value`` as JSON under ``key`` (accents as they are, not escaped)."""
    put(db, key, json.dumps(value, ensure_ascii=False), now)


def put_if_absent(db: Database, key: str, value: str, now: datetime | None = None) -> str:
    """Keep ``value`` under ``key`` unless something is there already; return what is kept.

    For a value made once and then shared (the session-signing secret): two processes that
    start together both end up with the first one's value.
    """
    db.execute(
        "INSERT OR IGNORE INTO state (key, value, updated_at) VALUES (?, ?, ?)",
        [key, value, utcnow_iso(now)],
    )
    return db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()[0]
