"""The daily loop test: one SMS to the gateway's own number that must come back.

A modem can be connected, registered and full of signal while the operator carries no SMS
one way or the other; the only proof is an SMS that leaves and returns. Once a day, from
``sim.loop_test_hour`` local time (and at once on a gateway that never ran one, so an
installer sees it), the SIM watcher queues one SMS to ``gateway.phone_number`` through the
outbox (kind ``loop_test``: sent like any other, never capped) and expects it back within
``sim.loop_test_minutes`` of being sent. The result (time, round trip, or why it failed) is
on the dashboard, ``/healthz`` and doctor; a failure raises an alert until a loop passes.

``LoopHook`` is an inbound hook of the router: the returning SMS is recognised by its marker
(and the gateway's own number) and is never routed as a villager's message, never answered,
never counted as a conversation.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway import outbox, phone
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

KIND = "loop_test"
HANDLER = "loop_test"
MARKER = "TinBao kiem tra vong"
NOT_SENT_GRACE = timedelta(minutes=30)  # a loop SMS the line could not send for this long (or its minutes) fails


def own_number(raw: str) -> str | None:
    """The gateway's own number in E.164, or None when ``gateway.phone_number`` is not a mobile number."""
    number = phone.normalise(raw or "")
    return number.value if number.kind == "mobile" else None


def start(db: Database, number: str, now: datetime, local_day: date, trigger: str) -> int:
    """Queue a loop SMS (in one transaction with its row); the test's id."""
    token = secrets.token_hex(3).upper()
    with write_transaction(db):
        outbox_id = outbox.enqueue(db, number, f"{MARKER} {token}", kind=KIND, now=now, auto=False, priority=0,
                                   max_parts=1)
        cur = db.conn.execute(
            "INSERT INTO sim_loop_tests (token, local_day, trigger, created_at, outbox_id, status)"
            " VALUES (?,?,?,?,?, 'queued')", (token, local_day.isoformat(), trigger, utcnow_iso(now), outbox_id))
    log.info("loop test %s queued to the gateway's own number", token)
    return int(cur.lastrowid)


def due(db: Database, now: datetime, local: datetime, hour: int) -> str | None:
    """"first" when none ever ran, "daily" from ``hour`` on a local day without one, else None."""
    row = db.execute("SELECT local_day, status FROM sim_loop_tests ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return "first"
    if row[1] == "queued":
        return None
    if local.hour >= hour and row[0] < local.date().isoformat():
        return "daily"
    return None


class LoopHook:
    """The router's inbound hook for the returning loop SMS (see the module docstring)."""

    def __init__(self, phone_number: str) -> None:
        self.number = own_number(phone_number)

    def __call__(self, db: Database, inbox_id: int, number: phone.Number, text: str, now: datetime) -> str | None:
        if self.number is None or number.value != self.number or MARKER.lower() not in text.lower():
            return None  # only the gateway's own number carries the loop SMS back
        token = text.lower().split(MARKER.lower(), 1)[1].strip().upper()[:12]
        row = db.execute("SELECT id, outbox_id, status FROM sim_loop_tests WHERE token=?", (token,)).fetchone()
        if row is None:
            return HANDLER  # ours, but not a test we know (a copy from another run): never routed
        test_id, outbox_id, _status = row
        sent = outbox.message_state(db, outbox_id) if outbox_id else None
        sent_at = sent[1] if sent else None
        trip = (now - datetime.fromisoformat(sent_at)).total_seconds() if sent_at else None
        db.conn.execute(
            "UPDATE sim_loop_tests SET status='ok', sent_at=COALESCE(sent_at, ?), returned_at=?, round_trip_s=?,"
            " error=CASE WHEN status='failed' THEN 'came back late' ELSE NULL END WHERE id=?",
            (sent_at, utcnow_iso(now), round(max(trip, 0.0), 1) if trip is not None else None, test_id))
        log.info("loop test %s came back (%s s)", token, f"{trip:.1f}" if trip is not None else "?")
        return HANDLER


def settle(db: Database, now: datetime, minutes: float) -> list[int]:
    """Fail the tests that did not come back in time (or could not be sent); their ids."""
    failed = []
    rows = db.execute("SELECT id, outbox_id, created_at, sent_at FROM sim_loop_tests WHERE status='queued'").fetchall()
    limit = timedelta(minutes=minutes)
    for test_id, outbox_id, created_at, sent_at in rows:
        message = outbox.message_state(db, outbox_id) if outbox_id else None
        status, out_sent_at = message if message else ("failed", None)
        sent_at = sent_at or out_sent_at
        error = None
        if sent_at is None and status in ("failed", "cancelled"):
            error = "the loop SMS could not be sent"
        elif sent_at is None and now - datetime.fromisoformat(created_at) > max(limit, NOT_SENT_GRACE):
            error = "the loop SMS could not be sent"
        elif sent_at is not None and now - datetime.fromisoformat(sent_at) > limit:
            error = f"did not come back within {minutes:g} min"
        with write_transaction(db):
            if error and sent_at is None and status == "queued":
                outbox.cancel_unsent(db, outbox_id, "loop test given up")
            if error:
                db.conn.execute("UPDATE sim_loop_tests SET status='failed', sent_at=?, error=? WHERE id=? AND"
                                " status='queued'", (sent_at, error, test_id))
                failed.append(test_id)
            elif sent_at is not None:
                db.conn.execute("UPDATE sim_loop_tests SET sent_at=? WHERE id=? AND sent_at IS NULL",
                                (sent_at, test_id))
    for test_id in failed:
        log.warning("loop test %s failed", test_id)
    return failed


def latest(db: Database) -> dict[str, Any] | None:
    """The newest finished test (ok or failed), for the page, /healthz and doctor."""
    return next(db.query("SELECT * FROM sim_loop_tests WHERE status != 'queued' ORDER BY id DESC LIMIT 1"), None)


def running(db: Database) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM sim_loop_tests WHERE status = 'queued' ORDER BY id DESC LIMIT 1"), None)
