"""When a broadcast fires: a pure function of (schedule, next due moment, now).

The Pi has no real-time clock: its system clock may be wrong for hours after boot (see
``clock.py``). So the firing decision takes ``now`` from the trusted clock and nothing else:
:func:`evaluate` decides from the schedule, the stored ``next_run_at`` and ``now``, and the
broadcast tick (``gateway.broadcasts.service``, a ``gateway.background.Worker``) calls it
through ``control.fire_due``. Tests call the tick with a clock they set. (Why this is not an
APScheduler trigger: the README, "Scam-warning broadcasts".)

Weekly and monthly schedules fire at a local time in ``gateway.timezone`` (Asia/Ho_Chi_Minh);
a monthly day beyond the month's end fires on its last day (31 → 30 April, 28 February).
A firing missed while the Pi was off fires once, at the next tick, if it is still within the
grace window; older ones (and all but the newest) are recorded as missed runs.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

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
