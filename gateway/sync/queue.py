"""The sync queue as a table: one row per (tip, destination), moved only by the sync worker.

Status words (RapidSMS-style): ``queued`` (waiting), ``in_progress`` (claimed by the worker;
a crash leaves it, and the next start puts it back), ``done`` (the receiver acknowledged the
tip: rule 3), ``failed`` (the last attempt failed; tried again at ``next_attempt_at``),
``dead`` (the receiver refused the tip for good; only an officer's "retry now" revives it).
Rows are taken in the order tips were received.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import backoff, tips
from gateway.storage import utcnow_iso, write_transaction

DESTINATIONS = ("zalo", "district")
STATUSES = ("queued", "in_progress", "done", "failed", "dead")
DUE = ("queued", "failed")
WAITING = ("queued", "in_progress", "failed")  # not yet acknowledged, still being tried


@dataclass(frozen=True, slots=True)
class QueuedTip:
    """A claimed queue row with the tip it carries."""

    row_id: int
    tip_id: int
    attempts: int
    reference: str
    uid: str
    received_at: str
    tipster: str
    text: str
    status: str


def enqueue(db: Database, tip_id: int, received_at: str, destinations: Iterable[str], now: datetime) -> None:
    """Queue one tip for each destination (a repeat is ignored: one row per pair)."""
    now_iso = utcnow_iso(now)
    db.conn.executemany(
        "INSERT OR IGNORE INTO sync_queue (tip_id, destination, received_at, next_attempt_at, created_at)"
        " VALUES (?,?,?,?,?)",
        [(tip_id, destination, received_at, now_iso, now_iso) for destination in destinations],
    )


def sweep(db: Database, destination: str, now: datetime, since: datetime | None = None) -> int:
    """Queue every tip that has no row for ``destination`` yet (received after ``since``).

    Messages waiting to be confirmed as tips, or dismissed, stay in the commune.
    """
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        queued = {row[0] for row in db.execute("SELECT tip_id FROM sync_queue WHERE destination = ?",
                                                (destination,))}
        missing = [(tip_id, destination, received_at, now_iso, now_iso)
                   for tip_id, received_at in tips.syncable_since(db, utcnow_iso(since) if since else "")
                   if tip_id not in queued]
        db.conn.executemany(
            "INSERT OR IGNORE INTO sync_queue (tip_id, destination, received_at, next_attempt_at, created_at)"
            " VALUES (?,?,?,?,?)", missing,
        )
        return len(missing)


def release_in_progress(db: Database) -> int:
    """At start-up: rows a killed worker had claimed go back to the queue."""
    with write_transaction(db):
        return db.conn.execute("UPDATE sync_queue SET status='queued' WHERE status='in_progress'").rowcount


def has_due(db: Database, destination: str, now: datetime) -> bool:
    row = db.execute(
        "SELECT 1 FROM sync_queue WHERE destination=? AND status IN ('queued','failed') AND next_attempt_at <= ?"
        " LIMIT 1",
        (destination, utcnow_iso(now)),
    ).fetchone()
    return row is not None


def next_due_at(db: Database, destination: str) -> str | None:
    """When the earliest waiting row becomes due (None: nothing waits)."""
    row = db.execute(
        "SELECT MIN(next_attempt_at) FROM sync_queue WHERE destination=? AND status IN ('queued','failed')",
        (destination,),
    ).fetchone()
    return row[0] if row else None


def claim(db: Database, destination: str, now: datetime, limit: int) -> list[QueuedTip]:
    """Take up to ``limit`` due rows, oldest tip first, and mark them ``in_progress``."""
    with write_transaction(db):
        rows = db.execute(
            "SELECT id, tip_id, attempts FROM sync_queue"
            " WHERE destination = ? AND status IN ('queued','failed') AND next_attempt_at <= ?"
            " ORDER BY received_at, tip_id LIMIT ?",
            (destination, utcnow_iso(now), limit),
        ).fetchall()
        db.conn.executemany(
            "UPDATE sync_queue SET status='in_progress' WHERE id=?", [(row[0],) for row in rows]
        )
        return with_tips(db, rows)


def with_tips(db: Database, rows: list[tuple[int, int, int]]) -> list[QueuedTip]:
    """Queue rows (id, tip id, attempts) with the tips they carry, read through ``gateway.tips``."""
    carried = tips.for_sync(db, [tip_id for _, tip_id, _ in rows])
    return [QueuedTip(row_id, tip_id, attempts, *carried[tip_id]) for row_id, tip_id, attempts in rows
            if tip_id in carried]


def unacknowledged(db: Database, destination: str) -> list[QueuedTip]:
    """Every tip ``destination`` has not acknowledged, oldest first (a USB file's contents)."""
    rows = db.execute(
        "SELECT id, tip_id, attempts FROM sync_queue WHERE destination = ? AND status != 'done'"
        " ORDER BY received_at, tip_id", (destination,),
    ).fetchall()
    return with_tips(db, rows)


def mark_done(db: Database, row_ids: Iterable[int], now: datetime) -> int:
    """The receiver acknowledged these rows' tips."""
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        cursor = db.conn.executemany(
            "UPDATE sync_queue SET status='done', acked_at=?, last_error=NULL WHERE id=? AND status != 'done'",
            [(now_iso, row_id) for row_id in row_ids],
        )
        return cursor.rowcount


def mark_failed(db: Database, row_id: int, error: str, now: datetime, *, base: float, maximum: float,
                at: datetime | None = None) -> None:
    """This row's tip was refused or failed on its own: count it and back the row off.

    ``at``: the destination knows when to try again (Zalo: the first officer due again).
    """
    with write_transaction(db):
        row = db.execute("SELECT attempts FROM sync_queue WHERE id=?", (row_id,)).fetchone()
        attempts = (row[0] if row else 0) + 1
        due = at if at is not None else now + timedelta(seconds=backoff.delay(attempts, base, maximum))
        db.conn.execute(
            "UPDATE sync_queue SET status='failed', attempts=?, last_error=?, next_attempt_at=? WHERE id=?",
            (attempts, error[:500], utcnow_iso(due), row_id),
        )


def release(db: Database, row_ids: Iterable[int], error: str | None = None, *, count: bool = True) -> None:
    """The destination failed as a whole (down, rate limit): rows go back, in their order.

    No per-row back-off here: the worker backs off the destination, so the rows stay in the
    order the tips came in.
    """
    with write_transaction(db):
        db.conn.executemany(
            "UPDATE sync_queue SET status='queued', attempts=attempts+?, last_error=COALESCE(?, last_error)"
            " WHERE id=? AND status='in_progress'",
            [(int(count), error[:500] if error else None, row_id) for row_id in row_ids],
        )


def mark_dead(db: Database, row_id: int, error: str) -> None:
    """The receiver will never take this tip as it is (Zalo -201): keep it, stop trying."""
    with write_transaction(db):
        db.conn.execute(
            "UPDATE sync_queue SET status='dead', attempts=attempts+1, last_error=? WHERE id=?",
            (error[:500], row_id),
        )


def retry_now(db: Database, now: datetime, *, destination: str | None = None, row_id: int | None = None) -> int:
    """An officer pressed "retry now": waiting, failed (and, for one row, dead) rows are due now."""
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        if row_id is not None:
            cursor = db.conn.execute(
                "UPDATE sync_queue SET status='queued', next_attempt_at=? "
                "WHERE id=? AND status IN ('queued','failed','dead')",
                (now_iso, row_id),
            )
        else:
            cursor = db.conn.execute(
                "UPDATE sync_queue SET status='queued', next_attempt_at=? WHERE status IN ('queued','failed')"
                " AND (? IS NULL OR destination = ?)",
                (now_iso, destination, destination),
            )
        return cursor.rowcount


def destination_of(db: Database, row_id: int) -> str | None:
    """The destination of one queue row, or None when there is no such row."""
    found = db.execute("SELECT destination FROM sync_queue WHERE id=?", (row_id,)).fetchone()
    return None if found is None else found[0]


def tip_of(db: Database, row_id: int) -> int | None:
    """The tip of one queue row, or None when there is no such row."""
    found = db.execute("SELECT tip_id FROM sync_queue WHERE id=?", (row_id,)).fetchone()
    return None if found is None else found[0]


def counts(db: Database) -> dict[str, dict[str, int]]:
    """Rows per destination and status (every status present, zero when none)."""
    result = {destination: dict.fromkeys(STATUSES, 0) for destination in DESTINATIONS}
    for destination, status, n in db.execute(
        "SELECT destination, status, COUNT(*) FROM sync_queue GROUP BY destination, status"
    ).fetchall():
        result.setdefault(destination, dict.fromkeys(STATUSES, 0))[status] = n
    return result


def waiting(db: Database, destination: str) -> int:
    """Rows not yet acknowledged and still being tried (queued, in progress, failed)."""
    return db.execute(
        "SELECT COUNT(*) FROM sync_queue WHERE destination=? AND status IN ('queued','in_progress','failed')",
        (destination,),
    ).fetchone()[0]


def unfinished_rows(db: Database, limit: int) -> list[dict]:
    """Rows not yet acknowledged with their tip's reference, dead ones first, then oldest tip."""
    rows = list(db.query(
        "SELECT id, destination, status, attempts, next_attempt_at, last_error, tip_id, received_at"
        " FROM sync_queue WHERE status != 'done' ORDER BY status = 'dead' DESC, received_at, tip_id LIMIT ?",
        [limit],
    ))
    named = tips.references(db, [row["tip_id"] for row in rows])
    return [{**{k: v for k, v in row.items() if k not in ("tip_id", "received_at")},
             "reference": named.get(row["tip_id"]), "received_at": row["received_at"]} for row in rows]


def depths(db: Database) -> dict[str, int]:
    """Tips still waiting per destination (``WAITING``), every destination present."""
    marks = ", ".join("?" for _ in WAITING)
    rows = db.execute(
        f"SELECT destination, count(*) FROM sync_queue WHERE status IN ({marks}) GROUP BY destination",
        list(WAITING),
    ).fetchall()
    result = dict.fromkeys(DESTINATIONS, 0)
    result.update({str(name): int(n) for name, n in rows})
    return result


def dead_count(db: Database) -> int:
    """Tips a destination refused for good (status ``dead``): a person must look at them."""
    return int(db.execute("SELECT count(*) FROM sync_queue WHERE status = 'dead'").fetchone()[0])


def rows_of_tip(db: Database, tip_id: int) -> list[dict]:
    """Where one tip stands with each destination, one row per destination."""
    return list(db.query("SELECT * FROM sync_queue WHERE tip_id = ? ORDER BY destination", [tip_id]))


def acknowledged(db: Database, tip_ids: Collection[int], *, required: Collection[str],
                 before: str) -> set[int]:
    """Those of ``tip_ids`` every destination has acknowledged (rule 3), each before ``before``,
    with a row for each ``required`` destination (the hub, when one is set).

    A tip with a row still waiting, failed or dead is not: the retention purge never touches
    a tip the receivers have not taken.
    """
    rows: dict[int, list[tuple[str, str, str | None]]] = {}
    for tip_id, destination, status, acked_at in db.execute(
        "SELECT tip_id, destination, status, acked_at FROM sync_queue"
        " WHERE tip_id IN (SELECT value FROM json_each(?))", (json.dumps(sorted(tip_ids)),)
    ):
        rows.setdefault(tip_id, []).append((destination, status, acked_at))
    done = set()
    for tip_id in tip_ids:
        found = rows.get(tip_id, [])
        if not set(required) <= {destination for destination, _, _ in found}:
            continue
        if all(status == "done" and (acked_at or "") < before for _, status, acked_at in found):
            done.add(tip_id)
    return done


def unacknowledged_tips(db: Database, tip_ids: Collection[int]) -> set[int]:
    """Those of ``tip_ids`` with a row some destination has not acknowledged yet."""
    return {row[0] for row in db.execute(
        "SELECT DISTINCT tip_id FROM sync_queue WHERE status != 'done' AND tip_id IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(tip_ids)),))}
