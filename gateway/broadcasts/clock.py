"""A clock the schedules may trust, on a Raspberry Pi that has no real-time clock.

A Pi that boots without internet starts from a wrong time (1970, or the last time
fake-hwclock saved). A weekly warning computed from such a clock fires at the wrong hour or
counts a year of "missed" runs. So schedules ask this clock, which reads three sources and
judges them by the one rule, ``gateway.clock.judge`` (DESIGN.md, rule 7):

1. the system clock, believed when it is plausible (not before the build date, ``BUILD_DATE``)
   and within five minutes of the network's time;
2. the modem's network time (``AT+CCLK?``, set by the operator's NITZ), published by the modem
   worker in ``state`` key ``modem_time`` with the system clock's reading at that moment;
3. the newest received SMS: its service-centre timestamp (``inbox.sent_at``) against the
   moment we received it (``inbox.received_at``, our clock).

The winner's offset from the system clock is applied to every reading until the next
check. With none, the clock is untrusted and schedules hold (the sender too): an untrusted
broadcast waits, it does not fire at a wrong hour. Each check is published in ``state`` key
``clock`` for the page and ``/healthz``:
``{"trusted": bool, "source": "system|modem|sms", "offset_seconds": float, "checked_at": iso}``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import state
from gateway.clock import BUILD_DATE, Clock, ClockReading, judge
from gateway.storage import utcnow_iso

log = logging.getLogger(__name__)

#: A network time older than this (the modem worker stopped publishing) is not used.
MODEM_READING_MAX_AGE = timedelta(hours=6)
STATE_KEY = "clock"


class TrustedClock(Clock):
    """The base clock corrected by the last check's offset; ``trusted`` says if schedules may run.

    ``check(db)`` reads the sources and publishes the verdict; the broadcast tick calls it.
    ``now()`` is cheap and thread-safe. Before the first check the clock is untrusted.
    """

    def __init__(self, base: Clock | None = None, *, floor: datetime = BUILD_DATE) -> None:
        self.base = base or Clock()
        self.floor = floor
        self._reading = ClockReading(False, "system", 0.0)
        self._lock = threading.Lock()

    @property
    def reading(self) -> ClockReading:
        with self._lock:
            return self._reading

    @property
    def trusted(self) -> bool:
        return self.reading.trusted

    def now(self) -> datetime:
        offset = self.reading.offset_seconds
        now = self.base.now()
        return now + timedelta(seconds=offset) if offset else now

    def check(self, db: Database) -> ClockReading:
        """Judge the sources now, remember the verdict and publish it in ``state``."""
        system_now = self.base.now()
        reading = judge(system_now, _modem_reading(db, system_now), _sms_reading(db), self.floor)
        with self._lock:
            changed = reading.trusted != self._reading.trusted or reading.source != self._reading.source
            self._reading = reading
        if changed:
            log.log(logging.INFO if reading.trusted else logging.WARNING,
                    "clock %s (source %s, offset %+.0f s)%s", "trusted" if reading.trusted else "NOT trusted",
                    reading.source, reading.offset_seconds,
                    "" if reading.trusted else ": broadcasts wait until the time is known")
        value = {**asdict(reading), "checked_at": utcnow_iso(system_now)}
        state.put_json(db, STATE_KEY, value, system_now)
        return reading


def _modem_reading(db: Database, system_now: datetime) -> tuple[datetime, datetime] | None:
    value = state.get_json(db, "modem_time")
    if value is None:
        return None
    try:
        network = datetime.fromisoformat(value["network_time"])
        ours = datetime.fromisoformat(value["system_time"])
    except (ValueError, KeyError, TypeError):
        return None
    if abs(system_now - ours) > MODEM_READING_MAX_AGE:
        return None  # stale, or taken before the system clock jumped
    return network, ours


def _sms_reading(db: Database) -> tuple[datetime, datetime] | None:
    """The newest SMS's service-centre timestamp and when we received it (our clock)."""
    row = db.execute(
        "SELECT sent_at, received_at FROM inbox WHERE sent_at IS NOT NULL ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    try:
        return datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])
    except (TypeError, ValueError):
        return None
