"""What the sync worker tells the page: table ``state``, key ``sync``, one JSON object.

``{"zalo": {"state": "ok|disabled|offline|needs_reauth|backing_off", "error": str|null,
"queued": n, ...}, "district": {...}}``. The dashboard shows ``needs_reauth`` as the alert
"re-authorise the OA". An officer's "retry now" goes the other way, through key
``sync_retry`` (``{"zalo": iso, "district": iso}``), which the worker reads every poll.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.storage import utcnow_iso, write_transaction

STATE_KEY = "sync"
RETRY_KEY = "sync_retry"
STATES = ("ok", "disabled", "offline", "needs_reauth", "backing_off")

DEFAULT = {"state": "disabled", "error": None, "queued": 0}


class SyncReport:
    """Both lanes' states in memory; written to the database only when something changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {"zalo": dict(DEFAULT), "district": dict(DEFAULT)}
        self._written: str | None = None

    def get(self, destination: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._states[destination])

    def update(self, db: Database, destination: str, now: datetime, **fields: Any) -> None:
        with self._lock:
            self._states[destination].update(fields)
            text = json.dumps(self._states, ensure_ascii=False, sort_keys=True)
            if text == self._written:
                return
            snapshot = json.loads(text)
        state.put_json(db, STATE_KEY, snapshot, now)
        with self._lock:
            self._written = text  # only once it is on disk: a failed write is tried again


def read(db: Database) -> dict[str, dict[str, Any]]:
    """The last report, each destination with at least ``state``, ``error`` and ``queued``."""
    raw = state.get_json(db, STATE_KEY)
    result = {}
    for destination in ("zalo", "district"):
        entry = raw.get(destination) if isinstance(raw, dict) else None
        merged = dict(DEFAULT)
        if isinstance(entry, dict):
            merged.update(entry)
        if merged.get("state") not in STATES:
            merged["state"] = "disabled"
        result[destination] = merged
    return result


def request_retry(db: Database, destination: str, now: datetime) -> None:
    """Ask the worker to stop backing off ``destination`` (the page's "retry now")."""
    with write_transaction(db):
        value = state.get_json(db, RETRY_KEY) or {}
        value[destination] = utcnow_iso(now)
        state.put_json(db, RETRY_KEY, value, now)


def retry_requests(db: Database) -> dict[str, str]:
    raw = state.get_json(db, RETRY_KEY)
    return {k: v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}
