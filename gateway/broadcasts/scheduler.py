"""When a broadcast fires: a pure function of (schedule, next due moment, now), and a tick.

APScheduler 3 takes its time from the system clock, which on a Pi without a real-time clock
may be wrong for hours after boot (see ``clock.py``) and cannot be set in a test. So the
firing decision is not APScheduler's: :func:`evaluate` decides from the schedule, the stored
``next_run_at`` and ``now`` (the trusted clock's), and APScheduler only runs a periodic tick
(``Ticker``, an interval job) that calls it. Tests call the tick with a clock they set.

Weekly and monthly schedules fire at a local time in ``gateway.timezone`` (Asia/Ho_Chi_Minh);
a monthly day beyond the month's end fires on its last day (31 → 30 April, 28 February).
A firing missed while the Pi was off fires once, at the next tick, if it is still within the
grace window; older ones (and all but the newest) are recorded as missed runs.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlite_utils import Database

from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

KINDS = ("now", "once", "weekly", "monthly")
#: At most this many missed firings are written for one broadcast (a Pi off for years).
MAX_MISSED = 60


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a broadcast goes out. ``at`` for now/once (aware), weekday (0 = Monday) or day of
    month plus ``time_of_day`` (local, in ``tz``) for weekly/monthly."""

    kind: str
    tz: tzinfo
    at: datetime | None = None
    weekday: int | None = None
    day: int | None = None
    time_of_day: time | None = None

    def first(self, moment: datetime) -> datetime | None:
        """The first due moment at or after ``moment`` (the one a new schedule starts with)."""
        if self.kind in ("now", "once"):
            return self.at
        return self._next(moment, inclusive=True)

    def after(self, moment: datetime) -> datetime | None:
        """The next due moment strictly after ``moment``; None for one-off schedules."""
        if self.kind in ("now", "once"):
            return None
        return self._next(moment, inclusive=False)

    def _next(self, moment: datetime, *, inclusive: bool) -> datetime | None:
        assert self.time_of_day is not None
        local = moment.astimezone(self.tz)
        for candidate_day in self._days_from(local.date()):
            candidate = datetime.combine(candidate_day, self.time_of_day, tzinfo=self.tz)
            if candidate > moment or (inclusive and candidate == moment):
                return candidate.astimezone(UTC)
        return None

    def _days_from(self, start: date):
        if self.kind == "weekly":
            assert self.weekday is not None
            first = start + timedelta(days=(self.weekday - start.weekday()) % 7)
            return (first + timedelta(days=7 * k) for k in range(3))
        assert self.kind == "monthly" and self.day is not None
        days = []
        for k in range(3):
            year, month = divmod(start.month - 1 + k, 12)
            year, month = start.year + year, month + 1
            days.append(date(year, month, min(self.day, calendar.monthrange(year, month)[1])))
        return days


@dataclass(frozen=True, slots=True)
class Firing:
    """What a tick does for one broadcast: fire once (``fire``: its due moment), record
    ``missed`` moments, and store ``next_run_at`` (None: nothing more to fire)."""

    fire: datetime | None
    missed: tuple[datetime, ...]
    next_run_at: datetime | None


def evaluate(schedule: Schedule, next_run_at: datetime | None, now: datetime, grace: timedelta) -> Firing:
    """The firing decision, a pure function of its arguments (see the module docstring)."""
    if next_run_at is None or next_run_at > now:
        return Firing(None, (), next_run_at)
    due = [next_run_at]
    following = schedule.after(next_run_at)
    while following is not None and following <= now:
        due.append(following)
        following = schedule.after(following)
    newest = due[-1]
    if now - newest <= grace:
        return Firing(newest, tuple(due[:-1][-MAX_MISSED:]), following)
    return Firing(None, tuple(due[-MAX_MISSED:]), following)


def schedule_of(row: dict, tz: tzinfo) -> Schedule:
    """The ``Schedule`` of a ``broadcasts`` row."""
    kind = row["schedule"]
    at = datetime.fromisoformat(row["run_at"]) if row.get("run_at") else None
    time_of_day = time.fromisoformat(row["time_of_day"]) if row.get("time_of_day") else None
    return Schedule(kind, tz, at=at, weekday=row.get("weekday"), day=row.get("day_of_month"),
                    time_of_day=time_of_day)


# A run starter: (db, broadcast row, due moment, now) -> run id. Lives in runs.py; passed in so
# this module stays about time only.
StartRun = Callable[[Database, dict, datetime, datetime], int]
RecordMissed = Callable[[Database, dict, datetime, datetime], None]


def fire_due(db: Database, now: datetime, tz: tzinfo, default_grace: timedelta,
             start_run: StartRun, record_missed: RecordMissed) -> list[int]:
    """Evaluate every live broadcast that is due; start runs, record misses. Returns run ids.

    One transaction per broadcast: its runs, its deliveries and its new ``next_run_at`` are
    written together, so a crash never fires one due moment twice (``broadcast_runs`` is also
    unique on (broadcast, due moment)).
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
        if row is None or row["status"] not in ("scheduled", "running") or not row["next_run_at"]:
            return None
        grace = timedelta(minutes=row["grace_minutes"]) if row["grace_minutes"] is not None else default_grace
        firing = evaluate(schedule_of(row, tz), datetime.fromisoformat(row["next_run_at"]), now, grace)
        for moment in firing.missed:
            record_missed(db, row, moment, now)
        if firing.missed:
            log.warning("broadcast %s: %d firing(s) missed (gateway off beyond the grace window)",
                        broadcast_id, len(firing.missed))
        run_id = start_run(db, row, firing.fire, now) if firing.fire is not None else None
        running = run_id is not None or db.execute(
            "SELECT 1 FROM broadcast_runs WHERE broadcast_id=? AND status='running' LIMIT 1", (broadcast_id,)
        ).fetchone() is not None
        status = "running" if running else ("scheduled" if firing.next_run_at else "done")
        db.conn.execute(
            "UPDATE broadcasts SET next_run_at=?, status=?, updated_at=? WHERE id=?",
            (utcnow_iso(firing.next_run_at) if firing.next_run_at else None, status, utcnow_iso(now), broadcast_id),
        )
    return run_id


def _row(db: Database, broadcast_id: int) -> dict | None:
    cursor = db.execute("SELECT * FROM broadcasts WHERE id=?", (broadcast_id,))
    row = cursor.fetchone()
    return dict(zip([c[0] for c in cursor.description], row, strict=True)) if row else None


class Ticker:
    """An APScheduler 3 ``BackgroundScheduler`` running ``tick`` every ``interval`` seconds.

    ``wake()`` runs the tick at once (an officer pressed "send now"). Missed ticks are
    coalesced into one and never dropped (``misfire_grace_time=None``).
    """

    JOB_ID = "broadcasts-tick"

    def __init__(self, tick: Callable[[], None], interval: float, tz: tzinfo) -> None:
        self.tick = tick
        self.interval = interval
        self.tz = tz
        self._scheduler = None

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        # Two INFO lines per tick ("Running job", "executed successfully") would fill the
        # journal on a Pi; failures are still logged (and the tick logs its own).
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        scheduler = BackgroundScheduler(timezone=self.tz)
        scheduler.add_job(
            self.tick, "interval", seconds=self.interval, id=self.JOB_ID, max_instances=1,
            coalesce=True, misfire_grace_time=None, next_run_time=datetime.now(self.tz),
        )
        scheduler.start()
        self._scheduler = scheduler

    def wake(self) -> None:
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            job = scheduler.get_job(self.JOB_ID)
            if job is not None:
                job.modify(next_run_time=datetime.now(self.tz))

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
