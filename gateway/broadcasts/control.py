"""What officers do with a broadcast: compose, schedule, pause, resume, cancel.

The web page (and the tests) call these; the scheduler and the sender only read the rows.
Pausing and cancelling take back the broadcast's SMS that are still waiting in the outbox and
have not started (no part in a modem), so a pause stops the modem within one SMS, and the
deliveries go back to pending (pause) or become cancelled (cancel). Nothing already sent is
touched, and nothing is lost: a resumed broadcast continues with who is still pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, tzinfo

from sqlite_utils import Database

from gateway import outbox
from gateway.broadcasts.library import ENCODINGS, MAX_BODY_CHARS
from gateway.broadcasts.scheduler import KINDS
from gateway.errors import TinBaoError
from gateway.storage import utcnow_iso, write_transaction

LIVE = ("scheduled", "running")


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
        if not self.body.strip():
            out.append("Nội dung trống.")
        elif len(self.body) > MAX_BODY_CHARS:
            out.append(f"Nội dung quá dài (tối đa {MAX_BODY_CHARS} ký tự).")
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
    from gateway.broadcasts.scheduler import schedule_of

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
        taken = _withdraw(db, broadcast_id, "tạm dừng / paused")
        _set_status(db, broadcast_id, "paused", by, now)
    return taken


def resume(db: Database, broadcast_id: int, *, by: str, now: datetime) -> None:
    with write_transaction(db):
        row = _get(db, broadcast_id)
        if row["status"] != "paused":
            raise BroadcastError("Bản tin này không ở trạng thái tạm dừng.")
        running = db.execute(
            "SELECT 1 FROM broadcast_runs WHERE broadcast_id=? AND status='running' LIMIT 1", (broadcast_id,)
        ).fetchone()
        status = "running" if running else ("scheduled" if row["next_run_at"] else "done")
        _set_status(db, broadcast_id, status, by, now)


def cancel(db: Database, broadcast_id: int, *, by: str, now: datetime) -> int:
    """Stop for good: nothing more fires or goes out; returns SMS taken back."""
    with write_transaction(db):
        row = _get(db, broadcast_id)
        if row["status"] in ("done", "cancelled"):
            raise BroadcastError("Bản tin này đã kết thúc.")
        taken = _withdraw(db, broadcast_id, "hủy / cancelled")
        now_iso = utcnow_iso(now)
        db.conn.execute(
            "UPDATE broadcast_deliveries SET status='cancelled', reason='bản tin bị hủy / broadcast cancelled'"
            " WHERE status='pending' AND run_id IN (SELECT id FROM broadcast_runs WHERE broadcast_id=?)",
            (broadcast_id,),
        )
        db.conn.execute(
            "UPDATE broadcast_runs SET status='cancelled', finished_at=? WHERE broadcast_id=? AND status='running'",
            (now_iso, broadcast_id),
        )
        db.conn.execute("UPDATE broadcasts SET next_run_at=NULL WHERE id=?", (broadcast_id,))
        _set_status(db, broadcast_id, "cancelled", by, now)
    return taken


def _withdraw(db: Database, broadcast_id: int, why: str) -> int:
    """Take back this broadcast's outbox rows that no modem has started; deliveries → pending."""
    rows = db.execute(
        "SELECT d.id, d.outbox_id FROM broadcast_deliveries d"
        " JOIN broadcast_runs r ON r.id = d.run_id JOIN outbox o ON o.id = d.outbox_id"
        " WHERE r.broadcast_id = ? AND d.status = 'queued' AND o.status = 'queued' AND o.parts_sent = 0"
        " AND o.claimed_by IS NULL",
        (broadcast_id,),
    ).fetchall()
    outbox.cancel_unstarted(db, [o for _, o in rows], f"withdrawn: {why}")
    db.conn.executemany(
        "UPDATE broadcast_deliveries SET status='pending', outbox_id=NULL, queued_at=NULL WHERE id=?",
        [(d,) for d, _ in rows],
    )
    return len(rows)


def _set_status(db: Database, broadcast_id: int, status: str, by: str, now: datetime) -> None:
    db.conn.execute(
        "UPDATE broadcasts SET status=?, updated_at=?, updated_by=? WHERE id=?",
        (status, utcnow_iso(now), by, broadcast_id),
    )


def _get(db: Database, broadcast_id: int) -> dict:
    cursor = db.execute("SELECT * FROM broadcasts WHERE id=?", (broadcast_id,))
    row = cursor.fetchone()
    if row is None:
        raise BroadcastError("Không có bản tin này.")
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def get(db: Database, broadcast_id: int) -> dict:
    """A broadcast row as a dict, with its group ids (BroadcastError if none)."""
    row = _get(db, broadcast_id)
    row["group_ids"] = [g for (g,) in db.execute(
        "SELECT group_id FROM broadcast_groups WHERE broadcast_id=?", (broadcast_id,)).fetchall()]
    return row
