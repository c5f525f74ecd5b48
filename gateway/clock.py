"""Time as a dependency, the one rule for when the time can be trusted, and the one clock of a gateway.

``Clock``/``ManualClock``: schedules, expiries and back-off are tested without sleeping.
APScheduler's tests freeze time the same way; here every worker asks its ``Clock``.

``judge``/``trusted``: whether the Pi's clock, the modem's network time or an SMS centre
timestamp is the time (see the section below).

``TrustedClock``: the clock a running gateway shares between every worker and the page
(``gateway/service.py`` builds one). It is the system clock corrected by the network's
offset when the Pi is more than five minutes off, so every record (inbox, tips, outbox,
sync queue, audit log, broadcasts) carries the network's time (DESIGN.md, rule 7).

A leaf: the clock reads its evidence through the callables it is given (``Evidence``, wired
in ``gateway/service.py``: the modem's network time, the SMS centre's stamps), so importing
it loads no area, and the hub's clock no inbox.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.storage import utcnow_iso

log = logging.getLogger(__name__)


class Clock:
    """The system clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def system_now(self) -> datetime:
        """The system clock itself, never corrected: what network time is compared with."""
        return self.now()


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
# than ``NETWORK_WINS_BEYOND``; a time that cannot be now (before the build, or decades after
# it: a modem that never heard the network says 2004 or 2080) is never believed; with no
# believable source the clock is not trusted, and the page says so. Whoever judges
# (``TrustedClock``) and whoever shows the verdict (the page, ``/healthz``) use these
# functions and nothing else.

#: No real moment the gateway runs at is earlier than its build.
BUILD_DATE = datetime(2026, 11, 1, tzinfo=UTC)
#: A modem that never heard NITZ may report 2080 (some Quectel models): too far is wrong too.
PLAUSIBLE_YEARS = 25
#: The network's time wins when our clock is further than this from it (DESIGN.md, rule 7).
NETWORK_WINS_BEYOND = timedelta(minutes=5)


def published_now(db: Database | None) -> datetime:
    """The gateway's time for a command run beside it (``purge``, ``export-tips``, doctor): the
    system clock plus the offset the gateway's ``TrustedClock`` last published (``published``);
    the Pi's own clock may be off. ``PublishedClock`` is the same for a process that runs on."""
    system_now = datetime.now(UTC)
    return system_now + timedelta(seconds=published(db, system_now)["offset_seconds"])


class PublishedClock(Clock):
    """``published_now`` for a process run beside the gateway (``python app.py sync``): the
    offset read again every ``refresh`` seconds, not at every ``now()``. Its records and its
    heartbeat's time then agree with the gateway's own, even on a Pi whose clock is off."""

    def __init__(self, db: Callable[[], Database], refresh: float = 60.0) -> None:
        self._db = db
        self.refresh = refresh
        self._offset = timedelta(0)
        self._read_at: float | None = None

    def now(self) -> datetime:
        system = datetime.now(UTC)
        moment = time.monotonic()
        if self._read_at is None or moment - self._read_at >= self.refresh:
            self._read_at = moment
            try:
                self._offset = timedelta(seconds=published(self._db(), system)["offset_seconds"])
            except Exception:  # the database cannot be read: the last offset known
                log.warning("could not read the gateway's clock offset; using %s", self._offset, exc_info=True)
        return system + self._offset

    def system_now(self) -> datetime:
        return datetime.now(UTC)


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
       ``NETWORK_WINS_BEYOND`` from it (or our clock is not plausible at all). A modem that
       agrees with a plausible system clock settles it: the system clock.
    2. Otherwise the newest SMS centre timestamp, when it makes a plausible time and either
       our clock is not plausible or the SMS was stamped more than ``NETWORK_WINS_BEYOND``
       *after* we say it arrived (an SMS cannot arrive before it was sent: our clock is
       behind). A stamp earlier than its arrival proves nothing (an SMS may wait at the
       centre for hours), so an SMS never moves the clock back.
    3. Otherwise a plausible system clock; with none, not trusted.
    """
    system_ok = plausible(system_now, floor)
    beyond = NETWORK_WINS_BEYOND.total_seconds()
    if modem is not None:
        theirs, ours = modem
        offset = (theirs - ours).total_seconds()
        if plausible(system_now + timedelta(seconds=offset), floor):
            if not system_ok or abs(offset) > beyond:
                return ClockReading(True, "modem", offset)
            return ClockReading(True, "system", 0.0)
    if sms is not None:
        theirs, ours = sms
        offset = (theirs - ours).total_seconds()
        if plausible(system_now + timedelta(seconds=offset), floor) and (not system_ok or offset > beyond):
            return ClockReading(True, "sms", offset)
    if system_ok:
        return ClockReading(True, "system", 0.0)
    return ClockReading(False, "system", 0.0)


def trusted(published: Mapping[str, Any] | None, system_now: datetime) -> bool:
    """Whether the page may call the time trusted.

    ``published`` is the trusted clock's last verdict (``state`` key ``clock``, written by
    ``TrustedClock.check``); without one (nothing judged yet, or the database could not be
    read) the system clock is judged alone, by the same ``plausible``.
    """
    if published is not None and isinstance(published.get("trusted"), bool):
        return published["trusted"]
    return plausible(system_now)


# -- the one clock of a running gateway -------------------------------------------------------

#: ``state`` key of each check's verdict:
#: ``{"trusted": bool, "source": "system|modem|sms", "offset_seconds": float, "checked_at": iso}``.
STATE_KEY = "clock"
#: ``state`` key of the last correction: ``{"at": iso, "doubt_before": iso, "change_seconds": float,
#: "source": str}``. Records stamped before ``doubt_before`` were written by the clock as it
#: was before the correction: their times may be wrong by up to ``change_seconds``.
CORRECTED_KEY = "clock_corrected"
#: A network time older than this (the modem worker stopped publishing) is not used.
MODEM_READING_MAX_AGE = timedelta(hours=6)


def _no_network_time(db: Database) -> tuple[datetime, datetime] | None:
    return None


def _no_centre_stamps(db: Database, after_id: int) -> tuple[int, tuple[str, str] | None]:
    return after_id, None


@dataclass(frozen=True)
class Evidence:
    """Where the network's time is read; the gateway wires both (``gateway.service.CLOCK_EVIDENCE``).

    ``network_time(db)``: the network time a modem last read and the system clock's reading
    then, or None (``gateway.modem.status.network_time``). ``centre_stamps(db, after_id)``: the
    highest inbox id, and the SMS centre's stamp with our ``received_at`` of the newest message
    after ``after_id`` (``gateway.inbox.newest_centre_stamp``). Without evidence (the default)
    the system clock is judged alone.
    """

    network_time: Callable[[Database], tuple[datetime, datetime] | None] = _no_network_time
    centre_stamps: Callable[[Database, int], tuple[int, tuple[str, str] | None]] = _no_centre_stamps


class TrustedClock(Clock):
    """The system clock corrected by the last check's offset; ``trusted`` says if schedules may run.

    One per gateway, shared by every worker and the page. ``check(db)`` reads the sources
    through its ``Evidence`` (the modem's network time, the SMS centre timestamps of the
    messages received since the last check) and judges them by ``judge``; the gateway
    checks at start, whenever the modem worker publishes a network time, and on every
    broadcast tick. ``now()`` is cheap and thread-safe. Before the first check the clock
    is the system clock, untrusted.

    SMS evidence: an inbox row's ``received_at`` was written by this clock, with the offset
    in force since the last check; the check takes that offset off again to compare the
    centre's stamp with the system clock. Rows from before this process's first check are
    not used (their offset is not known).
    """

    def __init__(self, base: Clock | None = None, *, floor: datetime = BUILD_DATE,
                 evidence: Evidence | None = None) -> None:
        self.base = base or Clock()
        self.floor = floor
        self.evidence = evidence or Evidence()
        self._reading = ClockReading(False, "system", 0.0)
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._sms_after: int | None = None  # inbox ids up to this were looked at
        # (centre stamp, system clock at arrival, system clock and time.monotonic() when seen)
        self._sms: tuple[datetime, datetime, datetime, float] | None = None

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

    def system_now(self) -> datetime:
        return self.base.system_now()

    def check(self, db: Database) -> ClockReading:
        """Judge the sources now, apply the verdict, publish it in ``state``; a correction of
        more than five minutes is published too (``CORRECTED_KEY``) and logged loudly."""
        with self._check_lock:  # the broadcast tick and the modem worker may check at once
            system_now = self.base.now()
            old = self.reading
            sms = self._sms_evidence(db, system_now, old.offset_seconds)
            reading = judge(system_now, self._modem_reading(db, system_now), sms, self.floor)
            with self._lock:
                self._reading = reading
            change = reading.offset_seconds - old.offset_seconds
            corrected = reading.trusted and abs(change) > NETWORK_WINS_BEYOND.total_seconds()
            if corrected or reading.trusted != old.trusted or reading.source != old.source:
                log.log(logging.WARNING if corrected or not reading.trusted else logging.INFO,
                        "clock %s (source %s, offset %+.0f s)%s",
                        "trusted" if reading.trusted else "NOT trusted", reading.source, reading.offset_seconds,
                        "" if reading.trusted else ": broadcasts wait until the time is known")
            value = {**asdict(reading), "checked_at": utcnow_iso(system_now)}
            state.put_json(db, STATE_KEY, value, system_now)
            if corrected:
                before = system_now + timedelta(seconds=old.offset_seconds)  # the clock records used until now
                after = system_now + timedelta(seconds=reading.offset_seconds)
                log.warning("clock corrected by %+.0f s from the %s: times written before %s may be wrong",
                            change, reading.source, utcnow_iso(max(before, after)))
                state.put_json(db, CORRECTED_KEY, {
                    "at": utcnow_iso(after), "doubt_before": utcnow_iso(max(before, after)),
                    "change_seconds": change, "source": reading.source,
                }, after)
            return reading

    def _sms_evidence(self, db: Database, system_now: datetime,
                      offset_seconds: float) -> tuple[datetime, datetime] | None:
        """The newest SMS centre stamp and the system clock when it arrived, while it holds.

        It holds while the system clock runs steadily since (measured on the monotonic
        clock): a system clock set meanwhile (NTP, an officer) makes it void.
        """
        top, newest = self.evidence.centre_stamps(db, self._sms_after or 0)
        first, self._sms_after = self._sms_after is None, top
        if newest is not None and not first:
            try:
                stamp, received = datetime.fromisoformat(newest[0]), datetime.fromisoformat(newest[1])
                self._sms = (stamp, received - timedelta(seconds=offset_seconds), system_now, time.monotonic())
            except (TypeError, ValueError):
                pass
        if self._sms is None:
            return None
        stamp, ours, seen_at, mono = self._sms
        if abs(system_now - seen_at - timedelta(seconds=time.monotonic() - mono)) > NETWORK_WINS_BEYOND:
            self._sms = None  # the system clock was set since: the comparison no longer holds
            return None
        return stamp, ours

    def _modem_reading(self, db: Database, system_now: datetime) -> tuple[datetime, datetime] | None:
        """The modem's network time and the system clock's reading then, while it is fresh."""
        reading = self.evidence.network_time(db)
        if reading is None:
            return None
        if abs(system_now - reading[1]) > MODEM_READING_MAX_AGE:
            return None  # stale, or taken before the system clock jumped
        return reading


def published(db: Database | None, system_now: datetime) -> dict[str, Any]:
    """The clock as the page and ``/healthz`` show it, from what ``TrustedClock`` published.

    ``{"trusted", "source", "offset_seconds", "checked_at", "corrected_at", "doubt_before",
    "corrected_by_seconds"}``; fields checked one by one, a missing verdict judged by ``trusted``.
    ``db`` None (the database could not be read) gives the system clock's own verdict.
    """
    verdict = state.get_json(db, STATE_KEY) if db is not None else None
    corrected = state.get_json(db, CORRECTED_KEY) if db is not None else None
    verdict, corrected = verdict or {}, corrected or {}

    def number(value: Any) -> float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0

    def moment(value: Any) -> str | None:
        try:
            return utcnow_iso(datetime.fromisoformat(value)) if isinstance(value, str) else None
        except ValueError:
            return None

    source = verdict.get("source")
    return {
        "trusted": trusted(verdict or None, system_now),
        "source": source if source in ("system", "modem", "sms") else "system",
        "offset_seconds": number(verdict.get("offset_seconds")),
        "checked_at": moment(verdict.get("checked_at")),
        "corrected_at": moment(corrected.get("at")),
        "doubt_before": moment(corrected.get("doubt_before")),
        "corrected_by_seconds": number(corrected.get("change_seconds")),
    }
