"""``BroadcastService``: the trusted clock, the broadcast tick and the sender, started together.

Two threads, each a ``gateway.background.Worker``: the tick's (``TickThread``, every
``broadcasts.tick_interval`` seconds or when woken: judge the clock, fire what is due, settle
deliveries) and the sender's (``SenderThread``: fill the outbox window, many times a second
while a broadcast runs, rarely otherwise). Tests skip both and call ``tick()`` and ``pump()``
with a clock they set.

Wiring (``gateway/service.py``)::

    broadcasts = BroadcastService(config, dbs, clock, menus=lambda: router.book,
                                  wake_senders=lambda: [w.wake() for w in modem_workers])
    handlers = [broadcasts.subscriptions]              # each declares its keywords
    reserved = reserved_keywords(handlers)              # gateway.router: the menus cannot take them
    book = menu_versions.load_current(..., **menu_versions.book_options(config, reserved))
    router = Router(book, settings, handlers=handlers, tip_hooks=[...])
    outbox.recover_claims(dbs.get(), clock.now())  # once, before any modem worker starts
    broadcasts.start() ... broadcasts.stop()        # stop it before the modem workers
    WebServices(..., broadcasts=broadcasts,          # the web pages wake it ("send now")
                menus_reserved=router.reserved)
"""

from __future__ import annotations

import logging
import time as monotonic_time
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from gateway.background import Worker
from gateway.broadcasts import campaigns, control
from gateway.broadcasts.library import Composer, Library
from gateway.broadcasts.runs import RunStarter, record_missed
from gateway.broadcasts.sender import PumpResult, Sender, SenderSettings, publish_hold
from gateway.broadcasts.subscriptions import MenuProvider, SubscriptionHandler
from gateway.clock import BUILD_DATE, Clock, Evidence, TrustedClock
from gateway.config import Config
from gateway.storage import ThreadLocalDb

log = logging.getLogger(__name__)

BUSY_POLL = 0.1  # seconds between two looks at the outbox window while a broadcast runs
IDLE_POLL = 2.0
HELD_POLL = 15.0  # quiet hours or an untrusted clock
SETTLE_EVERY = 1.0


def sender_settings(config: Config) -> SenderSettings:
    b = config.broadcasts
    return SenderSettings(
        tz=config.timezone, quiet_start=time.fromisoformat(b.quiet_start), quiet_end=time.fromisoformat(b.quiet_end),
        per_day=b.per_day, priority=b.priority, window_parts=b.window_parts, max_parts=config.sms.max_parts,
        invitations_per_hour=b.invitations_per_hour,
    )


def warnings_path(config: Config) -> Path:
    return config.warnings_path


class BroadcastService:
    """Scheduled broadcasts for one gateway (see the module docstring)."""

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock | None = None, *,
                 menus: MenuProvider = lambda: None, wake_senders: Callable[[], object] = lambda: None,
                 library: Library | None = None, clock_floor: datetime = BUILD_DATE,
                 clock_evidence: Evidence | None = None) -> None:
        self.config = config
        self.dbs = dbs
        self.tz = config.timezone
        if isinstance(clock, TrustedClock):  # the gateway's one clock: records and rules share it
            self.clock, self.records_clock = clock, clock
        else:  # alone (tests): judge the given clock by clock_evidence; rows carry it uncorrected
            self.records_clock = clock or Clock()
            self.clock = TrustedClock(self.records_clock, floor=clock_floor, evidence=clock_evidence)
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
        self.tick_thread = TickThread(self)
        self.sender_thread = SenderThread(self)
        self.last_pump: PumpResult | None = None

    # -- one step each (the threads call these; so do the tests) ------------------------------
    def tick(self) -> list[int]:
        """Judge the clock, fire what is due (if the clock is trusted), settle deliveries."""
        db = self.dbs.get()
        reading = self.clock.check(db)
        now = self.clock.now()
        fired: list[int] = []
        if reading.trusted:
            fired = control.fire_due(db, now, self.tz, self.grace, self.starter, record_missed)
            campaigns.close_ended(db, now)  # a province campaign's window is over
        control.settle(db, now)
        if fired:
            log.info("broadcast run(s) started: %s", fired)
            self.sender_thread.wake()
        return fired

    def pump(self) -> PumpResult:
        """One sender pass; wakes the modem workers when it queued something. Why it holds is
        published when that changes (campaign progress in the heartbeat reads it)."""
        db = self.dbs.get()
        now = self.clock.now()
        result = self.sender.pump(db, now, trusted=self.clock.trusted, system_now=self.records_clock.now())
        if self.last_pump is None or result.held != self.last_pump.held:
            publish_hold(db, result.held, now)
        self.last_pump = result
        if result.queued:
            self.wake_senders()
        return result

    def settle(self, *, reports: bool = True) -> int:
        return control.settle(self.dbs.get(), self.clock.now(), reports=reports)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.tick_thread.start()
        self.sender_thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.sender_thread.request_stop()
        self.tick_thread.request_stop()
        self.sender_thread.stop(timeout)
        self.tick_thread.stop(timeout)

    def wake(self) -> None:
        """An officer changed something (send now, pause, resume): look at once (a wake
        during a tick makes the tick thread go round once more)."""
        self.tick_thread.wake()
        self.sender_thread.wake()


class TickThread(Worker):
    """The broadcast tick's thread (``broadcast-tick``): every ``broadcasts.tick_interval``
    seconds, or at once when woken. Its rest is measured on the monotonic clock, so a wall
    clock set back (the Pi learning the real time) never makes it sleep longer."""

    def __init__(self, service: BroadcastService) -> None:
        super().__init__("broadcast-tick")
        self.service = service
        self.error_delay = service.interval  # a failed tick (logged) waits like a normal one

    def tick(self) -> float:
        self.service.tick()
        return self.service.interval


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
