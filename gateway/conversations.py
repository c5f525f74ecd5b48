"""Conversations: the inbox and the outbox read together, one thread per phone number.

Inbound rows are matched on ``inbox.sender``, outbound rows on ``outbox.number``; the page
and the dry-run sandbox show the same threads through these functions.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Any

from sqlite_utils import Database


def conversation(db: Database, numbers: list[str], limit: int = 100,
                 after: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The last ``limit`` messages to and from any of ``numbers``, oldest first.

    ``numbers`` lists the forms the number may be stored in (E.164 first). ``after`` (an
    inbox id and an outbox id, :func:`latest_ids`) keeps only what came after them: the
    phone simulator shows what it sent itself, never the number's earlier messages.
    """
    if not numbers:
        return []
    marks = ", ".join("?" for _ in numbers)
    after_in, after_out = after or (0, 0)
    rows = list(db.query(
        f"""
        SELECT * FROM (
            SELECT 'in' AS direction, id, received_at AS at, text, kind, partial,
                   NULL AS status, NULL AS parts_total, NULL AS parts_sent
            FROM inbox WHERE sender IN ({marks}) AND id > ?
            UNION ALL
            SELECT 'out' AS direction, id, created_at AS at, text, kind, 0 AS partial,
                   status, parts_total, parts_sent
            FROM outbox WHERE number IN ({marks}) AND id > ?
        )
        ORDER BY at DESC, direction DESC, id DESC
        LIMIT ?
        """,
        [*numbers, after_in, *numbers, after_out, limit],
    ))
    rows.reverse()
    return rows


def latest_ids(db: Database) -> tuple[int, int]:
    """The newest inbox id and outbox id: a mark that later messages are told apart by."""
    return (db.execute("SELECT COALESCE(MAX(id), 0) FROM inbox").fetchone()[0],
            db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0])


def _newest_first(db: Database, sql: str, batch: int = 500) -> Iterator[tuple[str, str]]:
    cursor = db.execute(sql)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield from rows


def recent_numbers(db: Database, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
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
