"""Read-only SQL behind the officers' page. Views never write through this module.

Every function takes this thread's sqlite-utils ``Database`` and returns plain dicts, so the
views can turn them into HTML and JSON alike.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from sqlite_utils import Database

MODEM_STATES = ("connected", "connecting", "error", "unplugged", "stopped")


def _rows(db: Database, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cursor = db.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def modem_state(db: Database) -> dict[str, Any]:
    """The modem worker's last report (table ``state``, key ``modem``), checked field by field.

    A missing row means the worker has not started yet (``state`` = ``not_started``); a row
    that is not the expected JSON is reported as ``unknown`` rather than breaking the page.
    """
    state: dict[str, Any] = {
        "state": "not_started",
        "signal": None,
        "operator": None,
        "registered": False,
        "error": None,
        "last_contact": None,
        "sim_used": None,
        "sim_total": None,
        "port": None,
        "updated_at": None,
    }
    row = db.execute("SELECT value, updated_at FROM state WHERE key = 'modem'").fetchone()
    if row is None:
        return state
    state["updated_at"] = row[1]
    try:
        raw = json.loads(row[0])
    except (TypeError, ValueError):
        raw = None
    if not isinstance(raw, dict):
        state["state"] = "unknown"
        return state

    def pick(key: str, kinds: tuple[type, ...]) -> Any:
        value = raw.get(key)
        if isinstance(value, bool) and bool not in kinds:
            return None
        return value if isinstance(value, kinds) else None

    state["state"] = raw.get("state") if raw.get("state") in MODEM_STATES else "unknown"
    state["signal"] = pick("signal", (int,))
    state["operator"] = pick("operator", (str,))
    state["registered"] = raw.get("registered") is True
    state["error"] = pick("error", (str,))
    state["last_contact"] = pick("last_contact", (str,))
    state["sim_used"] = pick("sim_used", (int,))
    state["sim_total"] = pick("sim_total", (int,))
    state["port"] = pick("port", (str,))
    return state


def queue_depths(db: Database) -> dict[str, int]:
    """How many rows wait in each queue the officers care about."""
    row = db.execute(
        """
        SELECT
            (SELECT count(*) FROM inbox WHERE status = 'queued'),
            (SELECT count(*) FROM outbox WHERE status = 'queued'),
            (SELECT count(*) FROM outbox WHERE status = 'failed'),
            (SELECT count(*) FROM tips WHERE status = 'new')
        """
    ).fetchone()
    return {
        "inbox_queued": row[0],
        "outbox_queued": row[1],
        "outbox_failed": row[2],
        "tips_new": row[3],
    }


def recent_inbox(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest inbound messages, newest first."""
    return _rows(
        db,
        """
        SELECT id, received_at, sender, sender_kind, text, kind, parts, partial, status,
               handler, last_error
        FROM inbox ORDER BY id DESC LIMIT ?
        """,
        [limit],
    )


def recent_outbox(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest outbound messages, newest first."""
    return _rows(
        db,
        """
        SELECT id, created_at, sent_at, number, text, kind, status, parts_total, parts_sent,
               last_error
        FROM outbox ORDER BY id DESC LIMIT ?
        """,
        [limit],
    )


def recent_tips(db: Database, limit: int = 10, text_chars: int = 200) -> list[dict[str, Any]]:
    """The newest tips with only the start of their text, newest first."""
    return _rows(
        db,
        """
        SELECT id, reference, received_at, tipster, substr(text, 1, ?) AS text_start, status
        FROM tips ORDER BY id DESC LIMIT ?
        """,
        [text_chars, limit],
    )


def conversation(db: Database, numbers: list[str], limit: int = 100) -> list[dict[str, Any]]:
    """The last ``limit`` messages to and from any of ``numbers``, oldest first.

    ``numbers`` lists the forms the number may be stored in (E.164 first); inbound rows are
    matched on ``sender``, outbound rows on ``number``.
    """
    if not numbers:
        return []
    marks = ", ".join("?" for _ in numbers)
    rows = _rows(
        db,
        f"""
        SELECT * FROM (
            SELECT 'in' AS direction, id, received_at AS at, text, kind, partial,
                   NULL AS status, NULL AS parts_total, NULL AS parts_sent
            FROM inbox WHERE sender IN ({marks})
            UNION ALL
            SELECT 'out' AS direction, id, created_at AS at, text, kind, 0 AS partial,
                   status, parts_total, parts_sent
            FROM outbox WHERE number IN ({marks})
        )
        ORDER BY at DESC, direction DESC, id DESC
        LIMIT ?
        """,
        [*numbers, *numbers, limit],
    )
    rows.reverse()
    return rows
