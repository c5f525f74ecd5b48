"""Delivery reports find their part when TP-MR has wrapped: two parts to one number share it.

TP-MR is one octet. A duty officer's number gets a part with every tip, so within 256 sends
it can be given the same reference twice; the report's TP-SCTS (when the SMS centre took the
part) tells which one it is about. Real SQLite file, the outbox's own functions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway import outbox
from gateway.database import prepare_gateway
from gateway.storage import open_db, utcnow_iso

OFFICER = "+84900000001"
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _sent(db, text: str, mr: int, at: datetime) -> int:
    outbox.enqueue(db, OFFICER, text, kind="duty_alert", now=at, auto=False)
    part = outbox.next_due(db, at)
    outbox.mark_part_sent(db, part, mr, at)
    return part.part_id


def _status(db, part_id: int) -> str:
    return db.execute("SELECT status FROM outbox_parts WHERE id = ?", [part_id]).fetchone()[0]


def test_a_late_report_for_the_older_part_marks_the_older_part(tmp_path):
    prepare_gateway(tmp_path / "t.db")
    db = open_db(tmp_path / "t.db")
    older = _sent(db, "Tin bao moi CL-0001", 5, T0)
    newer = _sent(db, "Tin bao moi CL-0002", 5, T0 + timedelta(seconds=3))
    # The older part's report arrives only now, after the newer part took the same TP-MR.
    outbox.apply_status_report(db, OFFICER, 5, 0, utcnow_iso(T0 + timedelta(seconds=4)), submitted=T0)
    assert (_status(db, older), _status(db, newer)) == ("delivered", "sent")
    outbox.apply_status_report(db, OFFICER, 5, 0, utcnow_iso(T0 + timedelta(seconds=5)),
                               submitted=T0 + timedelta(seconds=3))
    assert (_status(db, older), _status(db, newer)) == ("delivered", "delivered")


def test_within_the_stamps_second_the_part_still_waiting_is_taken(tmp_path):
    prepare_gateway(tmp_path / "t.db")
    db = open_db(tmp_path / "t.db")
    older = _sent(db, "Tin bao moi CL-0001", 9, T0)
    newer = _sent(db, "Tin bao moi CL-0002", 9, T0 + timedelta(milliseconds=800))
    stamp = T0.replace(microsecond=0)  # TP-SCTS has whole seconds: both parts are as close
    outbox.apply_status_report(db, OFFICER, 9, 0, utcnow_iso(T0), submitted=stamp)
    outbox.apply_status_report(db, OFFICER, 9, 0, utcnow_iso(T0), submitted=stamp)
    assert (_status(db, older), _status(db, newer)) == ("delivered", "delivered")
