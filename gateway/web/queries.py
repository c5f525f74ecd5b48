"""Read-only SQL behind the officers' page. Views never write through this module.

Every function takes this thread's sqlite-utils ``Database`` and returns plain dicts, so the
views can turn them into HTML and JSON alike.
"""

from __future__ import annotations

import heapq
import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from sqlite_utils import Database

from gateway.sms.text import fold

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


# -- shared helpers for the areas built on other areas' tables --------------------------------

def table_exists(db: Database, name: str) -> bool:
    """True when ``name`` is a table (the sync and accounts areas may not be installed yet)."""
    row = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return row is not None


def state_json(db: Database, key: str) -> dict[str, Any] | None:
    """A JSON object kept in table ``state`` under ``key``; None when missing or not an object."""
    row = db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
    if row is None:
        return None
    try:
        value = json.loads(row[0])
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# Sync rows that still wait for a destination (anything not finished one way or the other).
SYNC_FINISHED = ("done", "sent", "acked", "accepted", "delivered", "dead", "dead_letter", "cancelled")


def sync_depths(db: Database) -> dict[str, int] | None:
    """Tips still waiting per destination (``{"zalo": 3, "district": 0}``); None without sync."""
    if not table_exists(db, "sync_queue"):
        return None
    marks = ", ".join("?" for _ in SYNC_FINISHED)
    try:
        rows = db.execute(
            f"SELECT destination, count(*) FROM sync_queue WHERE status NOT IN ({marks})"
            " GROUP BY destination",
            list(SYNC_FINISHED),
        ).fetchall()
    except sqlite3.Error:
        return None
    depths = {"zalo": 0, "district": 0}
    depths.update({str(name): int(count) for name, count in rows})
    return depths


def sync_dead(db: Database) -> int:
    """Tips a destination refused for good (status ``dead``): a person must look at them."""
    if not table_exists(db, "sync_queue"):
        return 0
    try:
        return int(db.execute("SELECT count(*) FROM sync_queue WHERE status = 'dead'").fetchone()[0])
    except sqlite3.Error:
        return 0


def tip_sync_rows(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """The mirror/sync state of one tip per destination, when the sync area is installed."""
    if not table_exists(db, "sync_queue"):
        return []
    try:
        return _rows(db, "SELECT * FROM sync_queue WHERE tip_id = ? ORDER BY destination", [tip_id])
    except sqlite3.Error:
        return []


# -- tips: list, search, one tip ---------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_TERMS = 8


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for what an officer typed: every word, as a prefix, folded.

    "Lừa  đảo" and "lua dao" both become ``"lua"* "dao"*``. Operators and quotes typed by
    the officer are not FTS syntax here, only words, so no input can break the query.
    """
    words = _WORD.findall(fold(text or ""))[:MAX_SEARCH_TERMS]
    words = [w.replace("_", "") for w in words]
    words = [w for w in words if w]
    if not words:
        return None
    # A one-letter prefix would walk most of the index: one letter is a whole word ("ô", "ở").
    return " ".join(f'"{word}"*' if len(word) > 1 else f'"{word}"' for word in words)


@dataclass(frozen=True)
class TipFilter:
    """The tips list's filters; times are UTC ISO bounds (from inclusive, until exclusive)."""

    status: str | None = None
    village: str | None = None
    since: str | None = None
    until: str | None = None
    search: str | None = None  # an FTS5 MATCH expression from fts_query
    assigned_to: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if self.status:
            clauses.append("t.status = ?")
            params.append(self.status)
        if self.village:
            clauses.append("t.village = ?")
            params.append(self.village)
        if self.assigned_to:
            clauses.append("t.assigned_to = ?")
            params.append(self.assigned_to)
        if self.since:
            clauses.append("t.received_at >= ?")
            params.append(self.since)
        if self.until:
            clauses.append("t.received_at < ?")
            params.append(self.until)
        if self.search:
            clauses.append("t.id IN (SELECT rowid FROM tips_fts WHERE tips_fts MATCH ?)")
            params.append(self.search)
        return (" AND ".join(clauses) or "1"), params


TIP_LIST_COLUMNS = (
    "t.id, t.reference, t.received_at, t.tipster, substr(t.text, 1, ?) AS text_start, t.status,"
    " t.status_changed_at, t.status_changed_by, t.village, t.assigned_to"
)


def list_tips(db: Database, where: TipFilter, *, limit: int, offset: int = 0,
              text_chars: int = 200) -> list[dict[str, Any]]:
    """One page of tips matching ``where``, newest first."""
    clause, params = where.where()
    return _rows(
        db,
        f"SELECT {TIP_LIST_COLUMNS} FROM tips t WHERE {clause} ORDER BY t.id DESC LIMIT ? OFFSET ?",
        [text_chars, *params, limit, offset],
    )


def count_tips(db: Database, where: TipFilter, *, cap: int) -> int:
    """How many tips match, counting at most ``cap + 1`` (a page says "more than cap")."""
    clause, params = where.where()
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM tips t WHERE {clause} LIMIT ?)", [*params, cap + 1]
    ).fetchone()
    return int(row[0])


def iter_tips(db: Database, where: TipFilter, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching tip with its whole text, newest first, read in batches (CSV export)."""
    clause, params = where.where()
    last_id: int | None = None
    while True:
        keyset = "AND t.id < ?" if last_id is not None else ""
        rows = _rows(
            db,
            f"SELECT t.id, t.reference, t.received_at, t.tipster, t.text, t.status,"
            f" t.status_changed_at, t.status_changed_by, t.village, t.assigned_to"
            f" FROM tips t WHERE ({clause}) {keyset} ORDER BY t.id DESC LIMIT ?",
            [*params, *([last_id] if last_id is not None else []), batch],
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


def tip_by_reference(db: Database, reference: str) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM tips WHERE reference = ?", [reference.upper()])
    return rows[0] if rows else None


def tip_history(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """What happened to a tip, oldest first."""
    return _rows(
        db,
        "SELECT id, at, by, action, old_value, new_value, outbox_id FROM tip_history"
        " WHERE tip_id = ? ORDER BY id",
        [tip_id],
    )


def tip_notes(db: Database, tip_id: int) -> list[dict[str, Any]]:
    return _rows(
        db, "SELECT id, created_at, author, text FROM tip_notes WHERE tip_id = ? ORDER BY id", [tip_id]
    )


def tip_replies(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """The officers' SMS replies to a tip, with their delivery state, oldest first."""
    return _rows(
        db,
        """
        SELECT h.at, h.by, o.id, o.text, o.status, o.parts_total, o.parts_sent, o.encoding,
               o.last_error, o.sent_at, o.delivered_at
        FROM tip_history h JOIN outbox o ON o.id = h.outbox_id
        WHERE h.tip_id = ? AND h.action = 'reply' ORDER BY h.id
        """,
        [tip_id],
    )


def villages(db: Database, limit: int = 200) -> list[str]:
    """Villages already written on tips, for the filter and the tip page's suggestions."""
    rows = db.execute(
        "SELECT DISTINCT village FROM tips WHERE village IS NOT NULL AND village != ''"
        " ORDER BY village LIMIT ?",
        [limit],
    ).fetchall()
    return [row[0] for row in rows]


def officers(db: Database) -> list[str]:
    """Usernames a tip can be assigned to (accounts that may handle tips)."""
    if not table_exists(db, "users"):
        return []
    columns = {row[1] for row in db.execute("PRAGMA table_info(users)").fetchall()}
    where = []
    if "role" in columns:
        where.append("role IN ('admin', 'officer')")
    if "active" in columns:
        where.append("active = 1")
    if "disabled" in columns:
        where.append("NOT disabled")
    clause = " WHERE " + " AND ".join(where) if where else ""
    return [row[0] for row in db.execute(f"SELECT username FROM users{clause} ORDER BY username")]


# -- dashboard charts ------------------------------------------------------------------------

def tips_per_day(db: Database, since: str, offset_minutes: int) -> dict[str, int]:
    """Tips per local day (``YYYY-MM-DD``) received since the UTC ISO moment ``since``."""
    rows = db.execute(
        "SELECT date(received_at, ?) AS day, count(*) FROM tips WHERE received_at >= ? GROUP BY day",
        [f"{offset_minutes:+d} minutes", since],
    ).fetchall()
    return {day: count for day, count in rows if day}


def handler_counts(db: Database, since: str) -> list[tuple[str, int]]:
    """How often each handler answered inbound messages since ``since``, most used first."""
    rows = db.execute(
        "SELECT handler, count(*) AS n FROM inbox WHERE received_at >= ? AND handler IS NOT NULL"
        " GROUP BY handler ORDER BY n DESC",
        [since],
    ).fetchall()
    return [(row[0], int(row[1])) for row in rows]


# -- conversations -----------------------------------------------------------------------------

def _newest_first(db: Database, sql: str, batch: int = 500) -> Iterator[tuple[str, str]]:
    cursor = db.execute(sql)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield from rows


def conversation_numbers(db: Database, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """Numbers that wrote or were written to, newest conversation first, with their counts.

    Walks inbox and outbox from their newest rows (merged by time) and stops as soon as the
    page's numbers are known, so the first pages cost a few hundred rows, not a GROUP BY
    over every message ever received.
    """
    want = offset + limit
    latest: dict[str, str] = {}
    inbound = _newest_first(db, "SELECT received_at, sender FROM inbox ORDER BY id DESC")
    outbound = _newest_first(db, "SELECT created_at, number FROM outbox ORDER BY id DESC")
    for at, number in heapq.merge(inbound, outbound, key=lambda row: row[0], reverse=True):
        if number not in latest:
            latest[number] = at
            if len(latest) >= want:
                break
    page = list(latest.items())[offset:want]
    result = []
    for number, at in page:
        n_in = db.execute("SELECT count(*) FROM inbox WHERE sender = ?", [number]).fetchone()[0]
        n_out = db.execute("SELECT count(*) FROM outbox WHERE number = ?", [number]).fetchone()[0]
        result.append({"number": number, "last_at": at, "n_in": n_in, "n_out": n_out})
    return result


def last_messages(db: Database, numbers: list[str]) -> dict[str, dict[str, Any]]:
    """The newest message (in or out) of each number, keyed by number."""
    result: dict[str, dict[str, Any]] = {}
    for number in numbers:
        rows = conversation(db, [number], 1)
        if rows:
            result[number] = rows[0]
    return result


def number_of_message(db: Database, direction: str, message_id: int) -> str | None:
    """The number of one inbound (``i``) or outbound (``o``) message: a thread's key in URLs."""
    if direction == "i":
        row = db.execute("SELECT sender FROM inbox WHERE id = ?", [message_id]).fetchone()
    elif direction == "o":
        row = db.execute("SELECT number FROM outbox WHERE id = ?", [message_id]).fetchone()
    else:
        return None
    return row[0] if row else None


def tips_of_number(db: Database, number: str, limit: int = 20) -> list[dict[str, Any]]:
    return _rows(
        db,
        "SELECT id, reference, received_at, status FROM tips WHERE tipster = ? ORDER BY id DESC LIMIT ?",
        [number, limit],
    )
