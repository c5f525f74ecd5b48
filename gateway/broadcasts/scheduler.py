"""When a broadcast fires: a pure function of (schedule, next due moment, now).

The Pi has no real-time clock: its system clock may be wrong for hours after boot (see
``clock.py``). So the firing decision takes ``now`` from the trusted clock and nothing else:
:func:`evaluate` decides from the schedule, the stored ``next_run_at`` and ``now``, and the
broadcast tick (``gateway.broadcasts.service``, a ``gateway.background.Worker``) calls it
through ``control.fire_due``. Tests call the tick with a clock they set.

The calendar itself is APScheduler 3's triggers (``CronTrigger``, ``OrTrigger``): asked for the
next firing after a moment *we* give them, they are pure calendar arithmetic. Its scheduler
thread is not used: it sleeps on the system clock, and the firing rule here (one firing within
``broadcasts.grace_minutes``, older ones recorded as missed) is ours, not its misfire policy.

Weekly and monthly schedules fire at a local time in ``gateway.timezone`` (Asia/Ho_Chi_Minh);
a monthly day beyond the month's end fires on its last day (31 → 30 April, 28 February).
A firing missed while the Pi was off fires once, at the next tick, if it is still within the
grace window; older ones (and all but the newest) are recorded as missed runs.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

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
        # APScheduler's trigger answers "the first firing at or after ``now``" for the ``now``
        # we give it (the trusted clock's, never the system clock), to the whole second.
        start = moment if inclusive else moment + timedelta(seconds=1)
        found = calendar_trigger(self).get_next_fire_time(None, start)
        return found.astimezone(UTC) if found is not None else None


def calendar_trigger(schedule: Schedule) -> BaseTrigger:
    """The APScheduler 3 calendar trigger of a weekly or monthly schedule.

    A monthly day beyond a month's end means that month's last day: ``min(day, last)`` is the
    day itself in the months that have it, or-ed with ``day="last"`` in the months that are
    shorter (February for 29 and 30; February, April, June, September, November for 31).

    APScheduler is imported here, when a weekly or monthly schedule is first asked: with asyncio
    and tzlocal behind it, it is a few MB that a post without such schedules never needs.
    """
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    assert schedule.time_of_day is not None
    at = {"hour": schedule.time_of_day.hour, "minute": schedule.time_of_day.minute,
          "second": schedule.time_of_day.second, "timezone": schedule.tz}
    if schedule.kind == "weekly":
        assert schedule.weekday is not None
        return CronTrigger(day_of_week=schedule.weekday, **at)
    assert schedule.kind == "monthly" and schedule.day is not None
    day = schedule.day
    if day <= 28:
        return CronTrigger(day=day, **at)
    short = ",".join(str(m) for m in range(1, 13) if _SHORTEST_MONTH[m] < day)
    return OrTrigger([CronTrigger(day=day, **at), CronTrigger(month=short, day="last", **at)])


#: The fewest days each month can have (February outside a leap year: in a leap year day 29
#: is both the day itself and February's last, which is one firing).
_SHORTEST_MONTH = {m: calendar.monthrange(2023, m)[1] for m in range(1, 13)}


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
