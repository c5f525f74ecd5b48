"""Runs and deliveries: a firing becomes one row per recipient, and each row's fate is kept.

``RunStarter`` is called by the scheduler inside its transaction: it fixes the exact text and
takes a snapshot of the audience (subscribed numbers in the broadcast's groups at that
moment) as ``pending`` deliveries. ``settle`` copies each delivery's outcome from its outbox
row (sent, delivered by the network's report, failed, or unknown when the gateway died while
one of its parts was in the modem) and closes runs whose deliveries are all decided.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway.broadcasts.library import Composer, cost
from gateway.storage import utcnow_iso, write_transaction

#: Delivery states that still need the sender.
OPEN = ("pending", "queued")
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
        if broadcast["all_subscribers"]:
            audience = "SELECT ?, id, number FROM subscribers WHERE status = 'subscribed' ORDER BY id"
            args: tuple = (run_id,)
        else:
            audience = (
                "SELECT DISTINCT ?, s.id, s.number FROM subscribers s"
                " JOIN subscriber_group_members m ON m.subscriber_id = s.id"
                " JOIN broadcast_groups g ON g.group_id = m.group_id AND g.broadcast_id = ?"
                " WHERE s.status = 'subscribed' ORDER BY s.id"
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


def settle(db: Database, now: datetime, *, reports: bool = True) -> int:
    """Copy outbox outcomes into deliveries, close finished runs; returns runs closed.

    ``reports=False`` looks only at deliveries still queued (cheap: at most the outbox
    window), for the sender's frequent passes; the tick also picks up delivery reports.
    """
    watched = "(d.status = 'queued' OR (d.status IN ('sent', 'unknown') AND d.queued_at >= :since))" if reports \
        else "d.status = 'queued'"
    with write_transaction(db):
        db.conn.execute(
            f"""
            UPDATE broadcast_deliveries AS d SET
                status = CASE
                    WHEN o.status = 'sent' AND EXISTS (SELECT 1 FROM outbox_parts p
                        WHERE p.outbox_id = o.id AND p.status = 'unknown') THEN 'unknown'
                    WHEN o.status IN ('sent', 'delivered', 'failed', 'cancelled') THEN o.status
                    ELSE d.status END,
                sent_at = o.sent_at, delivered_at = o.delivered_at,
                reason = CASE WHEN o.status IN ('failed', 'sent', 'delivered') THEN o.last_error ELSE d.reason END
            FROM outbox AS o
            WHERE o.id = d.outbox_id AND o.status != 'queued'
              AND {watched}
              AND d.status != CASE
                    WHEN o.status = 'sent' AND EXISTS (SELECT 1 FROM outbox_parts p
                        WHERE p.outbox_id = o.id AND p.status = 'unknown') THEN 'unknown'
                    ELSE o.status END
            """,
            {"since": utcnow_iso(now - REPORT_WINDOW)},
        )
        finished = db.execute(
            "SELECT r.id, r.broadcast_id FROM broadcast_runs r WHERE r.status = 'running' AND NOT EXISTS"
            " (SELECT 1 FROM broadcast_deliveries d WHERE d.run_id = r.id AND d.status IN ('pending', 'queued'))"
        ).fetchall()
        now_iso = utcnow_iso(now)
        for run_id, broadcast_id in finished:
            db.conn.execute("UPDATE broadcast_runs SET status='done', finished_at=? WHERE id=?", (now_iso, run_id))
            _after_run(db, broadcast_id, now_iso)
    return len(finished)


def _after_run(db: Database, broadcast_id: int, now_iso: str) -> None:
    """A broadcast with no run left running is scheduled again, or done."""
    still = db.execute(
        "SELECT 1 FROM broadcast_runs WHERE broadcast_id=? AND status='running' LIMIT 1", (broadcast_id,)
    ).fetchone()
    if still:
        return
    db.conn.execute(
        "UPDATE broadcasts SET status = CASE WHEN next_run_at IS NULL THEN 'done' ELSE 'scheduled' END,"
        " updated_at=? WHERE id=? AND status='running'",
        (now_iso, broadcast_id),
    )


def progress(db: Database, run_id: int) -> dict[str, int]:
    """Deliveries of a run by status (for the progress bar)."""
    counts = dict(db.execute(
        "SELECT status, COUNT(*) FROM broadcast_deliveries WHERE run_id=? GROUP BY status", (run_id,)
    ).fetchall())
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in ("sent", "delivered", "failed", "unknown", "skipped", "cancelled"))
    return {**counts, "total": total, "done": done}
