"""``BroadcastService``: the trusted clock, the scheduler tick and the sender, started together.

Two threads: APScheduler's (the tick, every ``broadcasts.tick_interval`` seconds: judge the
clock, fire what is due, settle deliveries) and the sender's (``SenderThread``, a
``gateway.background.Worker``: fill the outbox window, many times a second while a broadcast
runs, rarely otherwise). Tests skip both and call ``tick()``
and ``pump()`` with a clock they set.

Wiring (``gateway/service.py``)::

    broadcasts = BroadcastService(config, dbs, clock, menus=lambda: router.book,
                                  wake_senders=lambda: [w.wake() for w in modem_workers])
    book = menu_versions.load_current(..., **menu_versions.book_options(config, RESERVED_KEYWORDS))
    router = Router(book, settings, handlers=[broadcasts.subscriptions], tip_hooks=[...])
    outbox.recover_claims(dbs.get(), clock.now())  # once, before any modem worker starts
    broadcasts.start() ... broadcasts.stop()        # stop it before the modem workers
    WebServices(..., broadcasts=broadcasts,          # the web pages wake it ("send now")
                menus_reserved=RESERVED_KEYWORDS)
"""

from __future__ import annotations

import logging
import threading
import time as monotonic_time
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from gateway.background import Worker, pass_failed
from gateway.broadcasts import runs
from gateway.broadcasts.library import Composer, Library
from gateway.broadcasts.runs import RunStarter, record_missed
from gateway.broadcasts.scheduler import Ticker, fire_due
from gateway.broadcasts.sender import PumpResult, Sender, SenderSettings
from gateway.broadcasts.subscriptions import RESERVED_KEYWORDS, MenuProvider, SubscriptionHandler
from gateway.clock import BUILD_DATE, Clock, TrustedClock
from gateway.config import Config
from gateway.storage import ThreadLocalDb

log = logging.getLogger(__name__)

__all__ = ["RESERVED_KEYWORDS", "BroadcastService"]

BUSY_POLL = 0.1  # seconds between two looks at the outbox window while a broadcast runs
IDLE_POLL = 2.0
HELD_POLL = 15.0  # quiet hours or an untrusted clock
SETTLE_EVERY = 1.0


def sender_settings(config: Config) -> SenderSettings:
    b = config.broadcasts
    return SenderSettings(
        tz=config.timezone, quiet_start=time.fromisoformat(b.quiet_start), quiet_end=time.fromisoformat(b.quiet_end),
        per_day=b.per_day, priority=b.priority, window_parts=b.window_parts, max_parts=config.sms.max_parts,
    )


def warnings_path(config: Config) -> Path:
    return config.warnings_path


class BroadcastService:
    """Scheduled broadcasts for one gateway (see the module docstring)."""

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock | None = None, *,
                 menus: MenuProvider = lambda: None, wake_senders: Callable[[], object] = lambda: None,
                 library: Library | None = None, clock_floor: datetime = BUILD_DATE) -> None:
        self.config = config
        self.dbs = dbs
        self.tz = config.timezone
        if isinstance(clock, TrustedClock):  # the gateway's one clock: records and rules share it
            self.clock, self.records_clock = clock, clock
        else:  # alone (tests): judge the given clock; rows carry it uncorrected
            self.records_clock = clock or Clock()
            self.clock = TrustedClock(self.records_clock, floor=clock_floor)
        self.library = library or Library.load(warnings_path(config))
        self.composer = Composer.from_config(config, self.library)
        self.subscriptions = SubscriptionHandler(self.composer, menus)
        self.sender = Sender(sender_settings(config))
        self.starter = RunStarter(self.composer)
        self.wake_senders = wake_senders
        interval = config.broadcasts.tick_interval
        self.interval = interval
        # A firing is looked at once per tick: the grace window is never shorter than two.
        self.grace = max(timedelta(minutes=config.broadcasts.grace_minutes), timedelta(seconds=2 * interval))
        self.ticker = Ticker(self._tick_safely, interval, self.tz)
        self.sender_thread = SenderThread(self)
        self._again = threading.Event()  # woken while a tick ran: tick once more
        self._ticking = threading.Event()
        self._last_tick = monotonic_time.monotonic()
        self.last_pump: PumpResult | None = None

    # -- one step each (the threads call these; so do the tests) ------------------------------
    def tick(self) -> list[int]:
        """Judge the clock, fire what is due (if the clock is trusted), settle deliveries."""
        db = self.dbs.get()
        reading = self.clock.check(db)
        now = self.clock.now()
        fired: list[int] = []
        if reading.trusted:
            fired = fire_due(db, now, self.tz, self.grace, self.starter, record_missed)
        runs.settle(db, now)
        self._last_tick = monotonic_time.monotonic()
        if fired:
            log.info("broadcast run(s) started: %s", fired)
            self.sender_thread.wake()
        return fired

    def pump(self) -> PumpResult:
        """One sender pass; wakes the modem workers when it queued something."""
        db = self.dbs.get()
        result = self.sender.pump(db, self.clock.now(), trusted=self.clock.trusted,
                                  system_now=self.records_clock.now())
        self.last_pump = result
        if result.queued:
            self.wake_senders()
        return result

    def settle(self, *, reports: bool = True) -> int:
        return runs.settle(self.dbs.get(), self.clock.now(), reports=reports)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.ticker.start()
        self.sender_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.sender_thread.stop(timeout)
        self.ticker.stop()

    def wake(self) -> None:
        """An officer changed something (send now, pause, resume): look at once."""
        self._again.set()
        if not self._ticking.is_set():  # a running tick sees _again and goes round once more
            self.ticker.wake()
        self.sender_thread.wake()

    def _tick_safely(self) -> None:
        self._ticking.set()
        try:
            for _ in range(3):
                self._again.clear()
                try:
                    self.tick()
                except Exception as exc:  # noqa: BLE001 - logged in pass_failed; the next tick comes
                    pass_failed("broadcast tick", exc)
                if not self._again.is_set():
                    break
        finally:
            self._ticking.clear()

    def tick_if_late(self) -> None:
        """APScheduler follows the wall clock: if it jumped backwards the tick may sleep for as
        long. Ticks are also counted on the monotonic clock, and pushed if late."""
        if monotonic_time.monotonic() - self._last_tick > 3 * self.interval + 5:
            self._last_tick = monotonic_time.monotonic()
            self.ticker.wake()


class SenderThread(Worker):
    """The sender's thread (``broadcast-sender``): fill the outbox window, then rest.

    Many times a second while a broadcast's parts move, every ``IDLE_POLL`` seconds otherwise,
    ``HELD_POLL`` while quiet hours or an untrusted clock hold it; woken at once when a run
    starts or an officer acts.
    """

    error_delay = HELD_POLL

    def __init__(self, service: BroadcastService) -> None:
        super().__init__("broadcast-sender")
        self.service = service
        self.next_settle = 0.0
        self.was_active = False

    def tick(self) -> float:
        service = self.service
        service.tick_if_late()
        result = service.pump()
        mono = monotonic_time.monotonic()
        if (result.active or self.was_active) and mono >= self.next_settle:
            service.settle(reports=False)  # progress bars move, a finished run closes at once
            self.next_settle = mono + SETTLE_EVERY
        self.was_active = result.active
        if result.held:
            return HELD_POLL
        # Busy while SMS move; a run held only by the daily limit just waits.
        return BUSY_POLL if (result.queued or result.in_outbox) else IDLE_POLL
