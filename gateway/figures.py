"""The dashboard's 30-day figures, counted in the background and kept in memory.

Tips per local day and how often each handler answered, over the last 30 days: with a year
of a busy commune (100,000 tips, 200,000 messages) counting them costs about 40 ms of CPU,
and the dashboard is drawn by every officer of the post, again every few seconds. So one
``Figures`` is shared by the gateway: ``FiguresWorker`` (thread ``figures``) looks every few
seconds and counts again when it is due; a page only reads the count.

A count is due when a tip arrived or a message was handled since it was made (two index
lookups tell), when the local day turned, or when it is a minute old (a tip removed leaves
no other mark); never twice within ``MIN_GAP`` seconds, so a burst of SMS does not make the
counting itself the load. Without a worker (a tool or a test serving the page alone) the
first page that finds the count due makes it, the same way. A count that fails raises on
the page (an error page, never a chart of zeros); the worker logs it and tries again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from gateway import inbox, tips
from gateway.storage import utcnow_iso

DAYS = 30


@dataclass(frozen=True)
class Count:
    """One count of the 30-day figures."""

    days: tuple[tuple[date, int], ...]  # every local day of the window, oldest first, zeros included
    handlers: tuple[tuple[str, int], ...]  # (handler, answers) over the window, most used first
    marker: tuple[int, int, date]  # newest tip, newest handled message, local day: what makes it due
    made_at: float  # time.monotonic()


def count(db: Database, now: datetime, tz: ZoneInfo, days: int = DAYS) -> tuple[tuple[tuple[date, int], ...],
                                                                              tuple[tuple[str, int], ...]]:
    """Tips per local day for the last ``days`` days (today last) and handler use since ``days`` ago."""
    local_now = now.astimezone(tz)
    first = local_now.date() - timedelta(days=days - 1)
    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    offset = local_now.utcoffset() or timedelta(0)
    per_day = tips.per_day(db, utcnow_iso(start), int(offset.total_seconds() // 60))
    series = tuple((day, per_day.get(day.isoformat(), 0)) for day in (first + timedelta(days=i) for i in range(days)))
    handlers = tuple(inbox.handler_counts(db, utcnow_iso(now - timedelta(days=days))))
    return series, handlers


class Figures:
    """The latest count, shared by the worker that makes it and the pages that read it."""

    MIN_GAP = 5.0  # seconds: never count twice within this
    MAX_AGE = 60.0  # seconds: count again after this, even with no new tip or message

    def __init__(self) -> None:
        self._count: Count | None = None
        self._lock = threading.Lock()  # one count at a time; the others wait and read it
        self.counts = 0  # counts made (tests read it)

    @staticmethod
    def marker(db: Database, now: datetime, tz: ZoneInfo) -> tuple[int, int, date]:
        return tips.newest_id(db), inbox.newest_handled_id(db), now.astimezone(tz).date()

    def _fresh(self, found: Count | None, marker: tuple[int, int, date]) -> bool:
        if found is None:
            return False
        age = time.monotonic() - found.made_at
        return age < self.MIN_GAP or (found.marker == marker and age < self.MAX_AGE)

    def read(self, db: Database, now: datetime, tz: ZoneInfo) -> Count:
        """The count, made now when it is due (sqlite3.Error when it cannot be made)."""
        found = self._count
        if self._fresh(found, self.marker(db, now, tz)):
            assert found is not None
            return found
        return self.refresh(db, now, tz)

    def refresh(self, db: Database, now: datetime, tz: ZoneInfo) -> Count:
        """Count again unless another thread just did (under the lock)."""
        with self._lock:
            marker = self.marker(db, now, tz)
            found = self._count
            if self._fresh(found, marker):
                assert found is not None
                return found
            series, handlers = count(db, now, tz)
            self._count = made = Count(series, handlers, marker, time.monotonic())
            self.counts += 1
            return made
