"""Runs and deliveries: a firing becomes one row per recipient, and each row's fate is kept.

This module owns ``broadcast_runs`` and ``broadcast_deliveries``: every write to them is a
function here. ``RunStarter`` is called by the firing (``control.fire_due``) inside its
transaction: it fixes the exact text and takes a snapshot of the audience (subscribed numbers
in the broadcast's groups at that moment) as ``pending`` deliveries. The sender moves a
delivery on (``handed_over``, ``skip``, ``defer``). ``settle`` copies each delivery's outcome
from its outbox row, read through ``gateway.outbox`` (sent, delivered by the network's report,
failed, or unknown when the gateway died while one of its parts was in the modem), and closes
runs whose deliveries are all decided.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import outbox
from gateway.broadcasts.consent import RECEIVES
from gateway.broadcasts.library import Composer, cost
from gateway.storage import utcnow_iso, write_transaction

#: Delivery states that still need the sender.
OPEN = ("pending", "queued")
#: What an outbox row's fate makes of its delivery (``unknown``: a part was in the modem when we died).
FATES = ("sent", "delivered", "failed", "cancelled", "unknown")
#: How long a sent delivery waits for the network's report (the SMS validity is 72 hours).
REPORT_WINDOW = timedelta(days=3)


class RunStarter:
    """Starts a run of a broadcast row: its text, its audience, its deliveries."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer

    def text_of(self, broadcast: dict) -> str:
        return self.composer.text(broadcast["body"], form=broadcast["encoding"],
                                  body_khong_dau=broadcast.get("body_khong_dau"))

    def __call__(self, db: Database, broadcast: dict, due_at: datetime, now: datetime) -> int:
        text = self.text_of(broadcast)
        c = cost(text)
        cur = db.conn.execute(
            "INSERT INTO broadcast_runs (broadcast_id, due_at, fired_at, status, text, encoding, parts)"
            " VALUES (?, ?, ?, 'running', ?, ?, ?)",
            (broadcast["id"], utcnow_iso(due_at), utcnow_iso(now), text, c.encoding, c.parts),
        )
        run_id = int(cur.lastrowid)
        # Only numbers with a current consent (``consent.RECEIVES``): never one invited
        # or imported that has not said yes.
        if broadcast["all_subscribers"]:
            audience = f"SELECT ?, s.id, s.number FROM subscribers s WHERE {RECEIVES} ORDER BY s.id"
            args: tuple = (run_id,)
        else:
            audience = (
                "SELECT DISTINCT ?, s.id, s.number FROM subscribers s"
                " JOIN subscriber_group_members m ON m.subscriber_id = s.id"
                " JOIN broadcast_groups g ON g.group_id = m.group_id AND g.broadcast_id = ?"
                f" WHERE {RECEIVES} ORDER BY s.id"
            )
            args = (run_id, broadcast["id"])
        inserted = db.conn.execute(
            f"INSERT INTO broadcast_deliveries (run_id, subscriber_id, number) {audience}", args
        ).rowcount
        db.conn.execute("UPDATE broadcast_runs SET recipients=? WHERE id=?", (inserted, run_id))
        return run_id


def record_missed(db: Database, broadcast: dict, due_at: datetime, now: datetime) -> None:
    """A firing that did not happen (the gateway was off beyond the grace window)."""
    db.conn.execute(
        "INSERT OR IGNORE INTO broadcast_runs (broadcast_id, due_at, finished_at, status, note)"
        " VALUES (?, ?, ?, 'missed', ?)",
        (broadcast["id"], utcnow_iso(due_at), utcnow_iso(now),
         "cổng tắt quá thời gian cho phép gửi bù / gateway off beyond the grace window"),
    )


def settle(db: Database, now: datetime, *, reports: bool = True) -> list[int]:
    """Copy outbox outcomes into deliveries, close finished runs; returns their broadcasts' ids.

    ``reports=False`` looks only at deliveries still queued (cheap: at most the outbox
    window), for the sender's frequent passes; the tick also picks up delivery reports.
    A broadcast whose run closed is settled by ``control.settle`` (its caller), in the same
    transaction.
    """
    watched = ("status = 'queued' OR (status IN ('sent', 'unknown') AND queued_at >= ?)" if reports
               else "status = 'queued'")
    args = (utcnow_iso(now - REPORT_WINDOW),) if reports else ()
    with write_transaction(db):
        deliveries = db.execute(
            f"SELECT id, status, outbox_id, reason FROM broadcast_deliveries WHERE outbox_id IS NOT NULL"
            f" AND ({watched})", args,
        ).fetchall()
        outcomes = outbox.outcomes(db, [outbox_id for _, _, outbox_id, _ in deliveries])
        changes = []
        for delivery_id, status, outbox_id, reason in deliveries:
            found = outcomes.get(outbox_id)
            if found is None or found["status"] == "queued":
                continue
            fate = "unknown" if found["status"] == "sent" and found["in_doubt"] else found["status"]
            if status == fate:
                continue
            changes.append((fate if fate in FATES else status, found["sent_at"], found["delivered_at"],
                            found["last_error"] if found["status"] in ("failed", "sent", "delivered") else reason,
                            delivery_id))
        db.conn.executemany(
            "UPDATE broadcast_deliveries SET status=?, sent_at=?, delivered_at=?, reason=? WHERE id=?", changes)
        finished = db.execute(
            "SELECT r.id, r.broadcast_id FROM broadcast_runs r WHERE r.status = 'running' AND NOT EXISTS"
            " (SELECT 1 FROM broadcast_deliveries d WHERE d.run_id = r.id AND d.status IN ('pending', 'queued'))"
        ).fetchall()
        db.conn.executemany("UPDATE broadcast_runs SET status='done', finished_at=? WHERE id=?",
                            [(utcnow_iso(now), run_id) for run_id, _ in finished])
    return [broadcast_id for _, broadcast_id in finished]


def running(db: Database, broadcast_id: int) -> bool:
    """Whether a run of this broadcast is still running (some recipients still open)."""
    return db.execute(
        "SELECT 1 FROM broadcast_runs WHERE broadcast_id=? AND status='running' LIMIT 1", (broadcast_id,)
    ).fetchone() is not None


def withdraw(db: Database, broadcast_id: int, why: str) -> int:
    """Take back this broadcast's SMS that no modem has started; their deliveries → pending.

    Call inside the caller's transaction (a pause or a cancel). Returns how many.
    """
    rows = db.execute(
        "SELECT d.id, d.outbox_id FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id"
        " WHERE r.broadcast_id = ? AND d.status = 'queued'",
        (broadcast_id,),
    ).fetchall()
    unstarted = set(outbox.unstarted(db, [outbox_id for _, outbox_id in rows]))
    taken = [(delivery_id, outbox_id) for delivery_id, outbox_id in rows if outbox_id in unstarted]
    outbox.cancel_unstarted(db, [outbox_id for _, outbox_id in taken], f"withdrawn: {why}")
    db.conn.executemany(
        "UPDATE broadcast_deliveries SET status='pending', outbox_id=NULL, queued_at=NULL WHERE id=?",
        [(delivery_id,) for delivery_id, _ in taken],
    )
    return len(taken)


def cancel_open(db: Database, broadcast_id: int, now: datetime) -> None:
    """A cancelled broadcast: its pending deliveries and running runs are cancelled (caller's transaction)."""
    db.conn.execute(
        "UPDATE broadcast_deliveries SET status='cancelled', reason='bản tin bị hủy / broadcast cancelled'"
        " WHERE status='pending' AND run_id IN (SELECT id FROM broadcast_runs WHERE broadcast_id=?)",
        (broadcast_id,),
    )
    db.conn.execute(
        "UPDATE broadcast_runs SET status='cancelled', finished_at=? WHERE broadcast_id=? AND status='running'",
        (utcnow_iso(now), broadcast_id),
    )


# -- the sender's side of a delivery (called inside its transaction) ----------------------------

def due_deliveries(db: Database, now: datetime, limit: int) -> list[tuple[int, str, str, int, bool]]:
    """Pending deliveries of running broadcasts whose wait is over, oldest run first:
    (delivery id, number, text, parts, whether the subscriber still has a current consent)."""
    return db.execute(
        f"SELECT d.id, d.number, r.text, r.parts, {RECEIVES} FROM broadcast_deliveries d"
        " JOIN broadcast_runs r ON r.id = d.run_id JOIN broadcasts b ON b.id = r.broadcast_id"
        " JOIN subscribers s ON s.id = d.subscriber_id"
        " WHERE d.status = 'pending' AND r.status = 'running' AND b.status = 'running'"
        " AND (d.not_before IS NULL OR d.not_before <= ?)"
        " ORDER BY r.id, d.id LIMIT ?",
        (utcnow_iso(now), limit),
    ).fetchall()


def pending_count(db: Database) -> int:
    """Deliveries still to go out for live broadcasts (held ones included)."""
    return db.execute(
        "SELECT COUNT(*) FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id"
        " JOIN broadcasts b ON b.id = r.broadcast_id"
        " WHERE d.status = 'pending' AND r.status = 'running' AND b.status = 'running'"
    ).fetchone()[0]


def handed_over_since(db: Database, number: str, since: datetime) -> int:
    """Broadcast SMS this number was handed since ``since`` (the daily limit's count)."""
    return db.execute(
        "SELECT COUNT(*) FROM broadcast_deliveries WHERE number=? AND queued_at >= ?"
        " AND status IN ('queued', 'sent', 'delivered', 'unknown')",
        (number, utcnow_iso(since)),
    ).fetchone()[0]


def forget_subscriber(db: Database, subscriber_id: int) -> int:
    """A person's erasure: their deliveries go (the runs keep their counts). Returns how many."""
    return db.conn.execute("DELETE FROM broadcast_deliveries WHERE subscriber_id = ?", (subscriber_id,)).rowcount


def skip(db: Database, delivery_id: int, reason: str) -> None:
    """Not sent, for good (the villager left since the run fired)."""
    db.conn.execute("UPDATE broadcast_deliveries SET status='skipped', reason=? WHERE id=?", (reason, delivery_id))


def defer(db: Database, delivery_id: int, until: datetime, reason: str) -> None:
    """Wait until ``until`` (the daily limit: tomorrow)."""
    db.conn.execute("UPDATE broadcast_deliveries SET not_before=?, reason=? WHERE id=?",
                    (utcnow_iso(until), reason, delivery_id))


def handed_over(db: Database, delivery_id: int, outbox_id: int, now: datetime) -> None:
    """The delivery's SMS is in the outbox (written in the same transaction as the outbox row: rule 4)."""
    db.conn.execute(
        "UPDATE broadcast_deliveries SET status='queued', outbox_id=?, queued_at=?, reason=NULL WHERE id=?",
        (outbox_id, utcnow_iso(now), delivery_id),
    )


def progress(db: Database, run_id: int) -> dict[str, int]:
    """Deliveries of a run by status (for the progress bar)."""
    counts = dict(db.execute(
        "SELECT status, COUNT(*) FROM broadcast_deliveries WHERE run_id=? GROUP BY status", (run_id,)
    ).fetchall())
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "unknown", "skipped", "cancelled"))
    return {**counts, "total": total, "done": done}


# -- retention and a person's erasure (``gateway.privacy``) ------------------------------------

def numbers_before(db: Database, before: str) -> list[int]:
    """Deliveries of runs that ended before ``before`` that still hold a number and an outbox link.

    The retention purge takes the number off (the counts of each run stay for its page), so
    the SMS they point at can go with the other old messages.
    """
    return [row[0] for row in db.execute(
        "SELECT d.id FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id"
        " WHERE r.status != 'running' AND COALESCE(r.finished_at, r.fired_at, r.due_at) < ?"
        " AND (d.number != '' OR d.outbox_id IS NOT NULL) ORDER BY d.id", (before,))]


def forget_numbers(db: Database, delivery_ids: list[int]) -> int:
    """Take the number and the outbox link off these deliveries of finished runs; how many."""
    with write_transaction(db):
        return db.conn.execute(
            "UPDATE broadcast_deliveries SET number = '', outbox_id = NULL WHERE id IN (SELECT value FROM json_each(?))"
            " AND run_id IN (SELECT id FROM broadcast_runs WHERE status != 'running')",
            (json.dumps(sorted(delivery_ids)),)).rowcount


def outbox_ids_in_use(db: Database, *, excluding: list[int] | None = None) -> set[int]:
    """Outbox rows a delivery points at (deliveries in ``excluding`` aside): kept by the purge."""
    return {row[0] for row in db.execute(
        "SELECT outbox_id FROM broadcast_deliveries WHERE outbox_id IS NOT NULL"
        " AND id NOT IN (SELECT value FROM json_each(?))", (json.dumps(sorted(excluding or [])),))}


def deliveries_to(db: Database, numbers: list[str]) -> list[int]:
    """Deliveries of finished runs to any of ``numbers`` (a person's erasure takes the number off)."""
    return [row[0] for row in db.execute(
        "SELECT d.id FROM broadcast_deliveries d JOIN broadcast_runs r ON r.id = d.run_id"
        " WHERE r.status != 'running' AND d.number IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(numbers)),))]


def count_to(db: Database, numbers: list[str]) -> int:
    """How many broadcast SMS went (or were to go) to any of ``numbers``."""
    return int(db.execute("SELECT count(*) FROM broadcast_deliveries WHERE number IN (SELECT value FROM json_each(?))",
                          (json.dumps(sorted(numbers)),)).fetchone()[0])
