"""Read-only queries for the broadcasts pages: lists, runs with their progress, subscribers.

Rows come back as dicts; the web module turns them into what a page shows (local times,
masked numbers, Vietnamese labels), so this module holds no presentation.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from gateway import outbox
from gateway.broadcasts.runs import progress
from gateway.sql import Where

PAGE = 100


def broadcasts(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Newest first, each with its latest run (or None) and that run's progress."""
    rows = list(db.query("SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,)))
    for row in rows:
        row["groups"] = group_names(db, row["id"])
        run = list(db.query(
            "SELECT * FROM broadcast_runs WHERE broadcast_id=? AND status != 'missed' ORDER BY id DESC LIMIT 1",
            (row["id"],)))
        row["run"] = run[0] if run else None
        if row["run"]:
            row["run"]["progress"] = progress(db, row["run"]["id"])
        row["missed"] = db.execute(
            "SELECT COUNT(*) FROM broadcast_runs WHERE broadcast_id=? AND status='missed'", (row["id"],)
        ).fetchone()[0]
    return rows


def group_names(db: Database, broadcast_id: int) -> list[str]:
    return [n for (n,) in db.execute(
        "SELECT g.name FROM broadcast_groups b JOIN subscriber_groups g ON g.id = b.group_id"
        " WHERE b.broadcast_id=? ORDER BY g.kind = 'label', g.key", (broadcast_id,)).fetchall()]


def runs(db: Database, broadcast_id: int) -> list[dict[str, Any]]:
    rows = list(db.query("SELECT * FROM broadcast_runs WHERE broadcast_id=? ORDER BY due_at DESC, id DESC",
                             (broadcast_id,)))
    for row in rows:
        row["progress"] = progress(db, row["id"])
    return rows


def run_progress(db: Database, broadcast_ids: list[int]) -> dict[int, dict[str, Any]]:
    """For the pages' live refresh: each broadcast's status, its latest run (id, status, the
    exact text sent, parts per person) and that run's counts."""
    out: dict[int, dict[str, Any]] = {}
    for broadcast_id in broadcast_ids[:100]:
        row = db.execute("SELECT status FROM broadcasts WHERE id=?", (broadcast_id,)).fetchone()
        if row is None:
            continue
        run = list(db.query(
            "SELECT id, status, text, parts FROM broadcast_runs WHERE broadcast_id=? AND status != 'missed'"
            " ORDER BY id DESC LIMIT 1", (broadcast_id,)))
        out[broadcast_id] = {"status": row[0], "progress": progress(db, run[0]["id"]) if run else None,
                             "run": run[0] if run else None}
    return out


def subscribers(db: Database, *, group_id: int | None = None, status: str | None = "subscribed",
                search: str = "", number: str | None = None, page: int = 1) -> tuple[list[dict[str, Any]], int]:
    """One page of subscribers (newest first) and how many match.

    ``search`` matches names only (any part). ``number`` is a whole normalised number and
    matches only itself: no part of a number is ever searched, so no search can rebuild a
    masked number digit by digit (DESIGN.md, rule 6).
    """
    where = Where().equal("s.status", status).contains("s.name", search.strip())
    if group_id:
        where.add("s.id IN (SELECT subscriber_id FROM subscriber_group_members WHERE group_id = ?)", group_id)
    if number is not None:
        where.add("s.number = ?", number)
    clause, args = where.sql(), where.params
    total = db.execute(f"SELECT COUNT(*) FROM subscribers s WHERE {clause}", args).fetchone()[0]
    rows = list(db.query(
        f"SELECT s.* FROM subscribers s WHERE {clause} ORDER BY s.id DESC LIMIT ? OFFSET ?",
        [*args, PAGE, (max(page, 1) - 1) * PAGE]))
    for row in rows:
        row.update(memberships(db, row["id"]))
    return rows, total


def memberships(db: Database, subscriber_id: int) -> dict[str, Any]:
    found = db.execute(
        "SELECT g.id, g.name, g.kind FROM subscriber_group_members m JOIN subscriber_groups g ON g.id = m.group_id"
        " WHERE m.subscriber_id=? ORDER BY g.key", (subscriber_id,)).fetchall()
    village = next(((gid, name) for gid, name, kind in found if kind == "village"), None)
    return {"village": village[1] if village else "", "village_id": village[0] if village else None,
            "labels": [name for _, name, kind in found if kind == "label"]}


def subscriber(db: Database, subscriber_id: int) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM subscribers WHERE id=?", (subscriber_id,)))
    if not rows:
        return None
    rows[0].update(memberships(db, subscriber_id))
    return rows[0]


def counts(db: Database) -> dict[str, int]:
    return dict(db.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status").fetchall())


# -- for the SIM area (credit and pacing: gateway/sim/) ------------------------------------------

def live_ids(db: Database) -> list[int]:
    """Broadcasts sending now (a run in progress)."""
    return [i for (i,) in db.execute("SELECT id FROM broadcasts WHERE status = 'running' ORDER BY id").fetchall()]


def last_finished_run(db: Database) -> tuple[int, str] | None:
    """(id, finished_at) of the run that finished last (sent to everyone), or None."""
    row = db.execute("SELECT id, finished_at FROM broadcast_runs WHERE status = 'done'"
                     " ORDER BY finished_at DESC, id DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else None


def parts_left(db: Database, broadcast_id: int) -> int:
    """SMS parts still to send for a broadcast's open runs: pending deliveries and unsent queued parts."""
    pending = db.execute(
        "SELECT COALESCE(SUM(COALESCE(r.parts, 1)), 0) FROM broadcast_deliveries d"
        " JOIN broadcast_runs r ON r.id = d.run_id WHERE r.broadcast_id = ? AND r.status = 'running'"
        " AND d.status = 'pending'", (broadcast_id,)).fetchone()[0]
    handed_over = [row[0] for row in db.execute(
        "SELECT d.outbox_id FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id"
        " WHERE r.broadcast_id = ? AND r.status = 'running' AND d.status = 'queued' AND d.outbox_id IS NOT NULL",
        (broadcast_id,))]
    return int(pending) + outbox.parts_unsent_of(db, handed_over)
