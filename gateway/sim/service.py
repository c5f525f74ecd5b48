"""``SimWatch``: the ``sim-watch`` thread, the SIM's work that does not need the modem itself.

Each pass (every ``TICK`` seconds, or at once when woken):

- the loop test: start today's (``loop.due``) once a modem is connected, fail the ones that
  did not come back in time (``loop.settle``);
- missed calls the modem worker filed: answer each as ``calls.on_missed`` says (``calls.handle``);
- credit: ask the modem worker for a reading after each broadcast run and while a running
  broadcast spends towards the reserve (half the distance left, so readings come closer as
  the reserve nears), and pause the running broadcasts when a reading falls under
  ``sim.reserve`` (``balance.hold_broadcasts``).

The page asks it for a credit reading or a loop test now (``request_balance``,
``request_loop_test``); it writes the request and wakes the modem workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlite_utils import Database

from gateway import outbox
from gateway.background import Worker
from gateway.broadcasts import control, queries
from gateway.clock import Clock
from gateway.modem import status as modem_status
from gateway.sim import balance, calls, loop
from gateway.storage import ThreadLocalDb

log = logging.getLogger(__name__)

TICK = 2.0

MenuFor = Callable[[Database, str, datetime], "str | None"]


class SimWatch(Worker):
    """See the module docstring."""

    def __init__(self, config, dbs: ThreadLocalDb, clock: Clock, *, menu_for: MenuFor,
                 wake_modems: Callable[[], None] = lambda: None) -> None:
        super().__init__("sim-watch")
        self.config = config
        self.dbs = dbs
        self.clock = clock
        self.menu_for = menu_for
        self.wake_modems = wake_modems
        self.own_number = loop.own_number(config.gateway.phone_number)
        self._loop_now: str | None = None
        self._last_reading: int | None = None  # readings up to this id were looked at for the reserve
        self._last_run: int | None = None  # broadcast runs finished up to this id asked for a reading

    # -- asked by the page -------------------------------------------------------------------
    def request_balance(self) -> None:
        """A credit reading at the modem worker's next look."""
        balance.request(self.dbs.get(), "page", self.clock.now())
        self.wake_modems()

    def request_loop_test(self) -> bool:
        """A loop test now (False: no ``gateway.phone_number`` to send it to)."""
        if self.own_number is None:
            return False
        self._loop_now = "page"
        self.wake()
        return True

    # -- the pass ----------------------------------------------------------------------------
    def tick(self) -> float:
        db = self.dbs.get()
        now = self.clock.now()
        self._loop_test(db, now)
        if calls.handle(db, now, self.config.calls.on_missed, self.menu_for, max_parts=self.config.sms.max_parts,
                        replies_per_hour=self.config.router.auto_replies_per_hour):
            self.wake_modems()
        self._credit(db, now)
        return TICK

    def _loop_test(self, db: Database, now: datetime) -> None:
        if self.own_number is None:
            return
        loop.settle(db, now, self.config.sim.loop_test_minutes)
        why, self._loop_now = self._loop_now, None
        local = now.astimezone(self.config.timezone)
        why = why if why and loop.running(db) is None else loop.due(db, now, local, self.config.sim.loop_test_hour)
        if why and modem_status.read(db)["state"] == "connected":
            loop.start(db, self.own_number, now, local.date(), why)
            self.wake_modems()

    def _credit(self, db: Database, now: datetime) -> None:
        reserve = self.config.sim.reserve
        if self._last_reading is None:  # readings from before this start were handled then
            last = balance.latest(db)
            self._last_reading = last["id"] if last else 0
            finished = queries.last_finished_run(db)
            self._last_run = finished[0] if finished else 0
        for reading in balance.readings_since(db, self._last_reading):
            self._last_reading = reading["id"]
            if balance.hold_broadcasts(db, reading, reserve, now, control.pause):
                self.wake_modems()
        finished = queries.last_finished_run(db)
        if finished and finished[0] != self._last_run:
            self._last_run = finished[0]
            balance.request(db, "broadcast", now)  # after each broadcast: what is left
            self.wake_modems()
            return
        if queries.live_ids(db):
            self._spending(db, now, reserve)

    def _spending(self, db: Database, now: datetime, reserve: int) -> None:
        """A running broadcast spends: read again when half the distance to the reserve may be gone."""
        last = balance.latest_read(db)
        asked = balance.pending_request(db)
        if last is None or last["balance_vnd"] is None or (asked and str(asked.get("at", "")) > last["read_at"]):
            return
        parts = outbox.parts_sent_since(db, datetime.fromisoformat(last["read_at"]))
        spent = parts * self.config.broadcasts.price_per_part
        if spent > 0 and 2 * spent >= last["balance_vnd"] - reserve:
            balance.request(db, "spending", now)
            self.wake_modems()
