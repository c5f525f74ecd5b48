"""Time as a dependency, and the one rule for when the time can be trusted.

``Clock``/``ManualClock``: schedules, expiries and back-off are tested without sleeping.
APScheduler's tests freeze time the same way; here every worker asks its ``Clock``.

``judge``/``trusted``: whether the Pi's clock, the modem's network time or an SMS centre
timestamp is the time (see the section below).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


class Clock:
    """The system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock(Clock):
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


# -- the one clock-trust rule ----------------------------------------------------------------
#
# A Pi has no real-time clock: it boots at 1970, or at the time fake-hwclock saved at the last
# shutdown (days behind after a long power cut). The network knows the time: the modem's
# clock set by the operator (NITZ, ``AT+CCLK?``) and the SMS centre's timestamps. The rule
# (DESIGN.md, rule 7): the network's time wins when the Pi's clock disagrees with it by more
# than ``NETWORK_WINS_BEYOND``; a system clock that cannot be now (before the build, or decades
# after it) is never believed; with no believable source the clock is not trusted, and the
# page says so. Whoever judges (the broadcasts' ``TrustedClock``) and whoever shows the
# verdict (the page, ``/healthz``) use these functions and nothing else.

#: No real moment the gateway runs at is earlier than its build.
BUILD_DATE = datetime(2026, 11, 1, tzinfo=UTC)
#: A modem that never heard NITZ may report 2080 (some Quectel models): too far is wrong too.
PLAUSIBLE_YEARS = 25
#: The network's time wins when our clock is further than this from it (DESIGN.md, rule 7).
NETWORK_WINS_BEYOND = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ClockReading:
    """The verdict of one check; ``offset_seconds`` is added to the system clock."""

    trusted: bool
    source: str  # system | modem | sms
    offset_seconds: float


def plausible(moment: datetime, floor: datetime = BUILD_DATE) -> bool:
    """True when ``moment`` could be now: not before the build, not decades after it."""
    return floor <= moment <= floor.replace(year=floor.year + PLAUSIBLE_YEARS)


def judge(
    system_now: datetime,
    modem: tuple[datetime, datetime] | None,
    sms: tuple[datetime, datetime] | None,
    floor: datetime = BUILD_DATE,
) -> ClockReading:
    """Pick the time source (pure: the tests feed it readings).

    ``modem`` and ``sms`` are (their time, the system clock's reading when it was taken).

    1. The modem's network time, when it is plausible and our clock is more than
       ``NETWORK_WINS_BEYOND`` from it (or our clock is not plausible at all).
    2. Otherwise a plausible system clock (within five minutes of the network, or no network).
    3. Otherwise the newest SMS centre timestamp, when it makes a plausible time. Only as the
       last resort: an SMS may wait at the centre for hours, so its stamp proves the day,
       not the minute.
    """
    system_ok = plausible(system_now, floor)
    if modem is not None:
        theirs, ours = modem
        offset = (theirs - ours).total_seconds()
        if plausible(system_now + timedelta(seconds=offset), floor):
            if not system_ok or abs(offset) > NETWORK_WINS_BEYOND.total_seconds():
                return ClockReading(True, "modem", offset)
    if system_ok:
        return ClockReading(True, "system", 0.0)
    if sms is not None:
        theirs, ours = sms
        offset = (theirs - ours).total_seconds()
        if plausible(system_now + timedelta(seconds=offset), floor):
            return ClockReading(True, "sms", offset)
    return ClockReading(False, "system", 0.0)


def trusted(published: Mapping[str, Any] | None, system_now: datetime) -> bool:
    """Whether the page may call the time trusted.

    ``published`` is the trusted clock's last verdict (``state`` key ``clock``, written by
    ``gateway.broadcasts.clock.TrustedClock.check``); without one (nothing judged yet, or the
    database could not be read) the system clock is judged alone, by the same ``plausible``.
    """
    if published is not None and isinstance(published.get("trusted"), bool):
        return published["trusted"]
    return plausible(system_now)
