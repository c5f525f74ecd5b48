"""A broadcast's life: what officers do with it (compose, schedule, pause, resume, cancel),
when it fires, and when it is done.

This module owns ``broadcasts`` and ``broadcast_groups``: every write to them is here, and
``settle_status`` is the one rule for a live broadcast's status (running while a run is
running, else scheduled while a firing is ahead, else done). The web page (and the tests)
call the officers' actions; the broadcast tick calls ``fire_due`` and ``settle``; runs and
deliveries are written through ``gateway.broadcasts.runs``.

Pausing and cancelling take back the broadcast's SMS that are still waiting in the outbox and
have not started (no part in a modem), so a pause stops the modem within one SMS, and the
deliveries go back to pending (pause) or become cancelled (cancel). Nothing already sent is
touched, and nothing is lost: a resumed broadcast continues with who is still pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from sqlite_utils import Database

from gateway.broadcasts import runs
from gateway.broadcasts.library import ENCODINGS, body_problems
from gateway.broadcasts.scheduler import KINDS, evaluate, schedule_of
from gateway.errors import TinBaoError
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

LIVE = ("scheduled", "running")

# A run starter: (db, broadcast row, due moment, now) -> run id (``runs.RunStarter``), and the
# record of a missed firing (``runs.record_missed``): passed in, so tests may watch them.
StartRun = Callable[[Database, dict, datetime, datetime], int]
RecordMissed = Callable[[Database, dict, datetime, datetime], None]


class BroadcastError(TinBaoError):
    """An officer's request that cannot be done; the message (Vietnamese) is shown as is."""


@dataclass
class Draft:
    """A broadcast as the compose form fills it in."""

    title: str
    body: str
    encoding: str = "khong_dau"
    warning_id: str | None = None
    body_khong_dau: str | None = None
    group_ids: list[int] = field(default_factory=list)
    everyone: bool = False
    schedule: str = "now"
    run_at: datetime | None = None  # once: an aware moment
    weekday: int | None = None  # weekly: 0 Monday .. 6 Sunday
    day_of_month: int | None = None  # monthly: 1-31
    time_of_day: str | None = None  # weekly/monthly: "HH:MM" local
    grace_minutes: float | None = None

    def problems(self, now: datetime) -> list[str]:
        """What is wrong, in Vietnamese, for the form (empty: fine)."""
        out = []
        if not self.title.strip():
            out.append("Hãy đặt tiêu đề cho bản tin.")
        out += body_problems(self.body)
        if self.encoding not in ENCODINGS:
            out.append("Chọn gửi có dấu hay không dấu.")
        if not self.everyone and not self.group_ids:
            out.append("Chọn ít nhất một thôn/nhóm, hoặc “tất cả người đăng ký”.")
        if self.schedule not in KINDS:
            out.append("Chọn thời điểm gửi.")
        elif self.schedule == "once":
            if self.run_at is None:
                out.append("Chọn ngày giờ gửi.")
            elif self.run_at < now - timedelta(minutes=1):
                out.append("Thời điểm gửi đã qua.")
        elif self.schedule in ("weekly", "monthly"):
            if not _valid_time(self.time_of_day):
                out.append("Giờ gửi phải có dạng HH:MM, ví dụ 08:00.")
            if self.schedule == "weekly" and self.weekday not in range(7):
                out.append("Chọn thứ trong tuần.")
            if self.schedule == "monthly" and self.day_of_month not in range(1, 32):
                out.append("Chọn ngày trong tháng (1-31).")
        return out


def _valid_time(value: str | None) -> bool:
    try:
        time.fromisoformat(value or "")
    except ValueError:
        return False
    return len(value or "") == 5


def create(db: Database, draft: Draft, *, by: str, now: datetime, tz: tzinfo, start: bool = True) -> int:
    """Store a broadcast; ``start`` schedules it at once (otherwise it stays a draft)."""
    problems = draft.problems(now)
    if problems:
        raise BroadcastError(" ".join(problems))
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        cur = db.conn.execute(
            "INSERT INTO broadcasts (title, body, body_khong_dau, warning_id, encoding, all_subscribers, schedule,"
            " run_at, weekday, day_of_month, time_of_day, grace_minutes, status, created_at, created_by,"
            " updated_at, updated_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'draft',?,?,?,?)",
            (draft.title.strip()[:120], draft.body.strip(), draft.body_khong_dau, draft.warning_id, draft.encoding,
             int(draft.everyone), draft.schedule,
             (utcnow_iso(now if draft.schedule == "now" else draft.run_at)
              if draft.schedule in ("now", "once") else None),
             draft.weekday if draft.schedule == "weekly" else None,
             draft.day_of_month if draft.schedule == "monthly" else None,
             draft.time_of_day if draft.schedule in ("weekly", "monthly") else None,
             draft.grace_minutes, now_iso, by, now_iso, by),
        )
        broadcast_id = int(cur.lastrowid)
        db.conn.executemany(
            "INSERT OR IGNORE INTO broadcast_groups (broadcast_id, group_id) VALUES (?, ?)",
            [(broadcast_id, gid) for gid in ([] if draft.everyone else draft.group_ids)],
        )
        if start:
            _schedule(db, broadcast_id, by, now, tz)
    return broadcast_id


def schedule(db: Database, broadcast_id: int, *, by: str, now: datetime, tz: tzinfo) -> None:
    """A draft goes live: its first due moment is computed now."""
    with write_transaction(db):
        _schedule(db, broadcast_id, by, now, tz)


def _schedule(db: Database, broadcast_id: int, by: str, now: datetime, tz: tzinfo) -> None:
    row = _get(db, broadcast_id)
    if row["status"] != "draft":
        raise BroadcastError("Bản tin này đã được lên lịch.")
    if row["schedule"] == "now":  # "now" means when the officer pressed the button
        row["run_at"] = utcnow_iso(now)
    first: datetime | None = schedule_of(row, tz).first(now)
    db.conn.execute(
        "UPDATE broadcasts SET status='scheduled', run_at=?, next_run_at=?, updated_at=?, updated_by=? WHERE id=?",
        (row["run_at"], utcnow_iso(first) if first else None, utcnow_iso(now), by, broadcast_id),
    )


def pause(db: Database, broadcast_id: int, *, by: str, now: datetime) -> int:
    """Stop sending (and firing) until resumed; returns SMS taken back from the outbox."""
    with write_transaction(db):
        row = _get(db, broadcast_id)
        if row["status"] not in LIVE:
            raise BroadcastError("Chỉ tạm dừng được bản tin đang chờ hoặc đang gửi.")
        taken = runs.withdraw(db, broadcast_id, "tạm dừng / paused")
        _set_status(db, broadcast_id, "paused", by, now)
    return taken


def resume(db: Database, broadcast_id: int, *, by: str, now: datetime) -> None:
    with write_transaction(db):
        row = _get(db, broadcast_id)
        if row["status"] != "paused":
            raise BroadcastError("Bản tin này không ở trạng thái tạm dừng.")
        settle_status(db, broadcast_id, now, by=by, only=("paused",))


def cancel(db: Database, broadcast_id: int, *, by: str, now: datetime) -> int:
    """Stop for good: nothing more fires or goes out; returns SMS taken back."""
    with write_transaction(db):
        row = _get(db, broadcast_id)
        if row["status"] in ("done", "cancelled"):
            raise BroadcastError("Bản tin này đã kết thúc.")
        taken = runs.withdraw(db, broadcast_id, "hủy / cancelled")
        runs.cancel_open(db, broadcast_id, now)
        db.conn.execute("UPDATE broadcasts SET next_run_at=NULL WHERE id=?", (broadcast_id,))
        _set_status(db, broadcast_id, "cancelled", by, now)
    return taken


def _set_status(db: Database, broadcast_id: int, status: str, by: str, now: datetime) -> None:
    db.conn.execute(
        "UPDATE broadcasts SET status=?, updated_at=?, updated_by=? WHERE id=?",
        (status, utcnow_iso(now), by, broadcast_id),
    )


def _get(db: Database, broadcast_id: int) -> dict:
    row = _row(db, broadcast_id)
    if row is None:
        raise BroadcastError("Không có bản tin này.")
    return row


def _row(db: Database, broadcast_id: int) -> dict | None:
    return next(db.query("SELECT * FROM broadcasts WHERE id=?", [broadcast_id]), None)


def get(db: Database, broadcast_id: int) -> dict:
    """A broadcast row as a dict, with its group ids (BroadcastError if none)."""
    row = _get(db, broadcast_id)
    row["group_ids"] = [g for (g,) in db.execute(
        "SELECT group_id FROM broadcast_groups WHERE broadcast_id=?", (broadcast_id,)).fetchall()]
    return row


# -- the one status rule, the firing and the end of a run (the broadcast tick) ---------------------

def settle_status(db: Database, broadcast_id: int, now: datetime, *, by: str | None = None,
                  only: tuple[str, ...] = LIVE) -> str | None:
    """The one rule for a broadcast's status: ``running`` while a run of it is running, else
    ``scheduled`` while a firing is ahead (``next_run_at``), else ``done``.

    Applied only to a broadcast whose status is one of ``only`` (a paused or cancelled one
    stays so until an officer acts). Returns the status now, None when there is no such
    broadcast. Call inside the caller's transaction.
    """
    row = _row(db, broadcast_id)
    if row is None:
        return None
    if row["status"] not in only:
        return row["status"]
    status = "running" if runs.running(db, broadcast_id) else ("scheduled" if row["next_run_at"] else "done")
    if status != row["status"]:
        db.conn.execute(
            "UPDATE broadcasts SET status=?, updated_at=?, updated_by=COALESCE(?, updated_by) WHERE id=?",
            (status, utcnow_iso(now), by, broadcast_id),
        )
    return status


def fire_due(db: Database, now: datetime, tz: tzinfo, default_grace: timedelta,
             start_run: StartRun, record_missed: RecordMissed) -> list[int]:
    """Evaluate every live broadcast that is due; start runs, record misses. Returns run ids.

    One transaction per broadcast: its runs, its deliveries and its new ``next_run_at`` are
    written together, so a crash never fires one due moment twice (``broadcast_runs`` is also
    unique on (broadcast, due moment)). When it fires is ``scheduler.evaluate``'s decision.
    """
    due = db.execute(
        "SELECT id FROM broadcasts WHERE status IN ('scheduled', 'running') AND next_run_at <= ?"
        " ORDER BY next_run_at, id",
        (utcnow_iso(now),),
    ).fetchall()
    fired: list[int] = []
    for (broadcast_id,) in due:
        try:
            run_id = _fire_one(db, broadcast_id, now, tz, default_grace, start_run, record_missed)
        except Exception:
            log.exception("broadcast %s could not be fired", broadcast_id)
            continue
        if run_id is not None:
            fired.append(run_id)
    return fired


def _fire_one(db: Database, broadcast_id: int, now: datetime, tz: tzinfo, default_grace: timedelta,
              start_run: StartRun, record_missed: RecordMissed) -> int | None:
    with write_transaction(db):
        row = _row(db, broadcast_id)
        if row is None or row["status"] not in LIVE or not row["next_run_at"]:
            return None
        grace = timedelta(minutes=row["grace_minutes"]) if row["grace_minutes"] is not None else default_grace
        firing = evaluate(schedule_of(row, tz), datetime.fromisoformat(row["next_run_at"]), now, grace)
        for moment in firing.missed:
            record_missed(db, row, moment, now)
        if firing.missed:
            log.warning("broadcast %s: %d firing(s) missed (gateway off beyond the grace window)",
                        broadcast_id, len(firing.missed))
        run_id = start_run(db, row, firing.fire, now) if firing.fire is not None else None
        db.conn.execute(
            "UPDATE broadcasts SET next_run_at=?, updated_at=? WHERE id=?",
            (utcnow_iso(firing.next_run_at) if firing.next_run_at else None, utcnow_iso(now), broadcast_id),
        )
        settle_status(db, broadcast_id, now)
    return run_id


def settle(db: Database, now: datetime, *, reports: bool = True) -> int:
    """Deliveries take their outbox outcomes; a broadcast whose last run closed is scheduled
    again or done (one transaction). Returns how many runs closed."""
    with write_transaction(db):
        finished = runs.settle(db, now, reports=reports)
        for broadcast_id in dict.fromkeys(finished):
            settle_status(db, broadcast_id, now, only=("running",))
    return len(finished)
