"""What happened to a tip (``tip_history``), the officers' notes on it (``tip_notes``) and
their SMS replies to the tipster (history rows pointing at the outbox).

The tip page shows all three; every officer's action writes its history row in the same
transaction as the change itself (``gateway.web.tip_actions``).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import outbox
from gateway.storage import utcnow_iso, write_transaction


def record(db: Database, tip_id: int, now: datetime, by: str, action: str,
           old: str | None, new: str | None, outbox_id: int | None = None) -> None:
    """One line of a tip's history (call inside the action's write transaction)."""
    db.execute(
        "INSERT INTO tip_history (tip_id, at, by, action, old_value, new_value, outbox_id)"
        " VALUES (?,?,?,?,?,?,?)",
        (tip_id, utcnow_iso(now), by, action, old, new, outbox_id),
    )


def entries(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """What happened to a tip, oldest first."""
    return list(db.query(
        "SELECT id, at, by, action, old_value, new_value, outbox_id FROM tip_history"
        " WHERE tip_id = ? ORDER BY id",
        [tip_id],
    ))


def status_changes_after(db: Database, after_id: int, limit: int) -> list[dict[str, Any]]:
    """Status changes made at the commune (action ``status``) after history row ``after_id``,
    with the tip's uid, oldest first: what the hub client pushes up (``POST /api/v1/status``).
    Changes that came down from the hub are ``hub_status`` rows and are not listed."""
    return list(db.query(
        "SELECT h.id, t.uid, h.new_value AS status, h.at, h.by FROM tip_history h JOIN tips t ON t.id = h.tip_id"
        " WHERE h.id > ? AND h.action = 'status' ORDER BY h.id LIMIT ?",
        [after_id, limit],
    ))


def add_note(db: Database, tip_id: int, text: str, *, by: str, now: datetime) -> int:
    """Keep an internal note on a tip (never sent to anybody); returns the note's id."""
    cursor = db.execute(
        "INSERT INTO tip_notes (tip_id, created_at, author, text) VALUES (?,?,?,?)",
        (tip_id, utcnow_iso(now), by, text),
    )
    return int(cursor.lastrowid)


def notes(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """The officers' notes on a tip, oldest first."""
    return list(db.query(
        "SELECT id, created_at, author, text FROM tip_notes WHERE tip_id = ? ORDER BY id", [tip_id]
    ))


def replies(db: Database, tip_id: int) -> list[dict[str, Any]]:
    """The officers' SMS replies to a tip, with their delivery state (read through the outbox), oldest first."""
    sent = list(db.query(
        "SELECT at, by, outbox_id FROM tip_history WHERE tip_id = ? AND action = 'reply' ORDER BY id", [tip_id]
    ))
    messages = outbox.messages(db, [row["outbox_id"] for row in sent if row["outbox_id"] is not None])
    columns = ("id", "text", "status", "parts_total", "parts_sent", "encoding", "last_error", "sent_at",
               "delivered_at")
    return [{"at": row["at"], "by": row["by"], **{c: messages[row["outbox_id"]][c] for c in columns}}
            for row in sent if row["outbox_id"] in messages]


# -- retention and a person's erasure ------------------------------------------------------------

def _ids(ids: Collection[int]) -> str:
    return json.dumps(sorted(int(i) for i in ids))


def reply_outbox_ids(db: Database, tip_ids: Collection[int] | None = None) -> set[int]:
    """The outbox rows officers' replies on these tips went out as (every tip's: ``None``)."""
    if tip_ids is None:
        return {row[0] for row in db.execute("SELECT outbox_id FROM tip_history WHERE outbox_id IS NOT NULL")}
    return {row[0] for row in db.execute(
        "SELECT outbox_id FROM tip_history WHERE outbox_id IS NOT NULL AND tip_id IN (SELECT value FROM json_each(?))",
        (_ids(tip_ids),))}


def unlink_outbox(db: Database, outbox_ids: Collection[int]) -> None:
    """The history keeps that a reply was sent, not the message itself (its text is being removed)."""
    db.execute("UPDATE tip_history SET outbox_id = NULL WHERE outbox_id IN (SELECT value FROM json_each(?))",
               (_ids(outbox_ids),))


def forget_notes(db: Database, tip_ids: Collection[int]) -> int:
    """Delete the officers' notes on these tips (their text goes with the tip's); how many."""
    with write_transaction(db):
        return db.conn.execute("DELETE FROM tip_notes WHERE tip_id IN (SELECT value FROM json_each(?))",
                               (_ids(tip_ids),)).rowcount


def notes_count(db: Database, tip_ids: Collection[int]) -> int:
    """How many notes these tips have (what a purge of their texts removes)."""
    return int(db.execute("SELECT count(*) FROM tip_notes WHERE tip_id IN (SELECT value FROM json_each(?))",
                          (_ids(tip_ids),)).fetchone()[0])
