"""The deadlines of a person's request about their data, and the working days they count.

Law 91/2025/QH15 (with Decree 356/2025): the post acknowledges a request within 2 working days,
and completes it within 15 days for a withdrawal of consent, 10 days to see or correct the
data, 20 days to delete it. Days are counted as the Civil Code counts a period: the day the
request reached the post is not counted, a deadline ends with its day (local time).

- Working days are Monday to Friday, less the public holidays listed in
  ``firmware_config/holidays_vn.toml`` (a year the file does not list counts weekends only).
- The other deadlines are calendar days. One that falls on a weekend or a holiday is not moved
  to the next working day (the Civil Code would allow it): the page keeps the earlier day, so
  a missing holiday or a moved day can only make a deadline come sooner, never later.

Pure functions of dates; the holidays file is read once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

from gateway.config import SHIPPED

HOLIDAYS_FILE = SHIPPED / "holidays_vn.toml"

#: What a person may ask, and the calendar days the post has to complete it.
KIND_DAYS: dict[str, int] = {"see": 10, "correct": 10, "delete": 20, "withdraw": 15}
KINDS = tuple(KIND_DAYS)
ACKNOWLEDGE_WORKING_DAYS = 2
#: A deadline this many days away or closer is listed on the dashboard.
NEAR_DAYS = 2


@lru_cache(maxsize=4)
def holidays(path: Path = HOLIDAYS_FILE) -> frozenset[date]:
    """The public holidays the file lists (every year in it)."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    years = data.get("days", {})
    return frozenset(date.fromisoformat(day) for days in years.values() for day in days)


def is_working_day(day: date, off: Collection[date] | None = None) -> bool:
    """Monday to Friday and not a public holiday."""
    off = holidays() if off is None else off
    return day.weekday() < 5 and day not in off


def working_days_after(start: date, n: int, off: Collection[date] | None = None) -> date:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted)."""
    off = holidays() if off is None else off
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        if is_working_day(day, off):
            counted += 1
    return day


@dataclass(frozen=True)
class Deadlines:
    """When the post must have acknowledged a request, and completed each thing asked."""

    acknowledge: date
    per_kind: dict[str, date]

    @property
    def complete(self) -> date:
        """The earliest of the kinds' deadlines: the request is done when all are."""
        return min(self.per_kind.values())


def deadlines(received_on: date, kinds: Iterable[str], off: Collection[date] | None = None) -> Deadlines:
    """The deadlines of a request that reached the post on ``received_on`` (a local date)."""
    asked = [kind for kind in kinds if kind in KIND_DAYS]
    if not asked:
        raise ValueError("a request asks for at least one of " + ", ".join(KINDS))
    return Deadlines(
        acknowledge=working_days_after(received_on, ACKNOWLEDGE_WORKING_DAYS, off),
        per_kind={kind: received_on + timedelta(days=KIND_DAYS[kind]) for kind in asked},
    )


def urgency(deadline: date, today: date) -> str:
    """``late`` (past its day), ``near`` (its day is at most ``NEAR_DAYS`` away) or ``ok``."""
    if today > deadline:
        return "late"
    if (deadline - today).days <= NEAR_DAYS:
        return "near"
    return "ok"
