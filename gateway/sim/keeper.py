"""``LineKeeper``: what a modem worker does for its SIM, in the modem worker's own thread.

The modem worker owns the modem; the SIM's work needs the modem too, so the worker calls
this object at a few points of its loop and it speaks AT through the transport's
``command()`` only:

- at connect (``connected``): read who the SIM and the modem are (``identity``);
- on each look (``serve``): hang up a ringing call and file it (``calls``), read the credit
  by USSD when a reading is due (``balance``), publish the line state;
- around each send (``may_send``, ``allowed_kinds``, ``failed``, ``sent``): the line as a
  state (``line``: barred, no credit, refused, with probes) and the caps on what is not a reply
  (``pacing``).

Notifications (a ring, the caller's number, a USSD answer) come from python-gsmmodem's
reader thread through ``notify``, which only records them: never AT from that thread.

A USSD session blocks the modem worker for at most its own timeout (three times
``modem.command_timeout``), between two parts, never in the middle of one; a modem that
refuses ``AT+CUSD`` is said to have no USSD once (the log, the page) and not asked again on
that connection unless an officer asks.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlite_utils import Database

from gateway import outbox, state
from gateway.errors import ModemError, ModemRefused, SendError
from gateway.sim import balance, calls, identity, lines, pacing, ussd
from gateway.sim.line import LineState
from gateway.storage import ThreadLocalDb

if TYPE_CHECKING:
    from gateway.modem.transport import ModemTransport
    from gateway.outbox import DuePart

log = logging.getLogger(__name__)

CLIP_WAIT = 1.0  # seconds a RING waits for its +CLIP before the call is hung up without a number
LOOK_EVERY = 0.5  # seconds between two looks at the database for a due reading
COUNT_EVERY = 30.0  # seconds between two counts of the capped parts sent (kept in memory between)


@dataclass
class SimSettings:
    """The SIM's settings for one modem worker (``from_config``); the defaults keep a bare worker quiet."""

    balance_ussd: str = ""
    balance_hours: float = 12.0
    ussd_timeout: float = 30.0
    probe_base: float = 5.0
    probe_max: float = 600.0
    max_per_hour: int = 0
    max_per_day: int = 0
    tz: object = None  # the local zone of the per-day cap (None: UTC days)
    calls: bool = True  # the profile's: the modem reports calls (AT+CLIP=1 at connect)
    hangup: str = "AT+CHUP"
    read_balance: bool = True  # False: no USSD at all (a bare worker in a test of something else)


def from_config(config, profile=None) -> SimSettings:
    """The settings every modem worker of this gateway uses."""
    return SimSettings(
        balance_ussd=config.sim.balance_ussd, balance_hours=config.sim.balance_hours,
        ussd_timeout=3 * config.modem.command_timeout, probe_base=config.outbox.retry_base,
        probe_max=config.outbox.retry_max, max_per_hour=config.sms.max_per_hour,
        max_per_day=config.sms.max_per_day, tz=config.timezone,
        calls=getattr(profile, "calls", True), hangup=getattr(profile, "hangup", "") or "AT+CHUP",
    )


class LineKeeper:
    """The SIM's side of one modem worker (see the module docstring)."""

    def __init__(self, settings: SimSettings, name: str, state_key: str, dbs: ThreadLocalDb, clock) -> None:
        self.settings = settings
        self.name = name
        self.state_key = state_key  # "sim_line", "sim_line1", ...
        self.dbs = dbs
        self.clock = clock
        self.line = LineState(settings.probe_base, settings.probe_max)
        self._restored = False
        self._ring: tuple[float, str | None, bool] | None = None  # (monotonic, number, hidden)
        self._lock = threading.Lock()
        self._cusd: queue.Queue[str] = queue.Queue()
        self.operator: str | None = None
        self.ussd_supported: bool | None = None
        self.connected_at = clock.now()
        self._next_look = 0.0
        self._counted_at = -COUNT_EVERY
        self._hour: list[float] = []  # monotonic times of capped parts sent within the hour
        self._day_count = 0
        self._day: str | None = None
        self.on_call: Callable[[], None] = lambda: None  # the SIM watcher answers filed calls

    # -- from the reader thread ------------------------------------------------------------
    def notify(self, kind: str, line: str) -> None:
        """A ring, a caller's number or a USSD answer: recorded for the worker's next look."""
        if kind == "CUSD":
            self._cusd.put(line)
            return
        with self._lock:
            if kind == "RING":
                if self._ring is None:
                    self._ring = (time.monotonic(), None, False)
            elif kind == "CLIP":
                number, hidden = lines.caller(line)
                started = self._ring[0] if self._ring else time.monotonic()
                self._ring = (started, number or None, hidden)

    def wants_attention(self) -> bool:
        """True while a call rings: the worker should look again within a second."""
        return self._ring is not None

    # -- connect -----------------------------------------------------------------------------
    def connected(self, transport: ModemTransport, db: Database) -> None:
        """Who the SIM and the modem are; a change raises the re-verification alert."""
        now = self.clock.now()
        self.connected_at = now
        self.ussd_supported = None
        self._next_look = 0.0
        self._restore(db, now)
        found = read_identity(transport)
        if not found.known:
            log.warning("%s: the modem gave neither ICCID, IMSI nor IMEI", self.name)
            return
        changed = identity.record(db, self.name, found, now)
        if changed:
            log.warning("%s: %s changed since the last connect (ICCID %s, IMEI %s): the SIM's owner must"
                        " re-verify within about 2 hours or outgoing SMS are blocked", self.name,
                        {"sim": "the SIM", "modem": "the modem", "both": "the SIM and the modem"}[changed],
                        identity.short_hash(found.iccid), identity.short_hash(found.imei))

    def _restore(self, db: Database, now: datetime) -> None:
        if not self._restored:
            self._restored = True
            self.line.restore(state.get_json(db, self.state_key), now)
            self.publish(db)

    # -- each look ---------------------------------------------------------------------------
    def serve(self, transport: ModemTransport, db: Database, operator: str | None) -> None:
        """Hang up a ringing call; read the credit when due. Called between two parts."""
        if operator:
            self.operator = operator
        self._answer_ring(transport, db)
        mono = time.monotonic()
        if mono < self._next_look or not self.settings.read_balance:
            return
        self._next_look = mono + LOOK_EVERY
        now = self.clock.now()
        why = balance.due(db, self.name, now, self.settings.balance_hours, started=self.connected_at)
        if why is None or (self.ussd_supported is False and why in ("start", "schedule")):
            return
        self.read_balance(transport, db, why)

    def _answer_ring(self, transport: ModemTransport, db: Database) -> None:
        with self._lock:
            ring = self._ring
            if ring is None or (ring[1] is None and not ring[2] and time.monotonic() - ring[0] < CLIP_WAIT):
                return
            self._ring = None
        _, number, hidden = ring
        for command in dict.fromkeys((self.settings.hangup, "ATH")):
            try:
                transport.command(command)
                break
            except ModemRefused as exc:
                log.warning("%s: the modem refused %s: %s", self.name, command, exc)
        calls.record(db, self.name, number or "", hidden, self.clock.now())
        self.on_call()

    def read_balance(self, transport: ModemTransport, db: Database, trigger: str) -> None:
        """One USSD session: ask, wait for ``+CUSD`` (at most ``ussd_timeout``), keep what it says."""
        code = ussd.code_for(self.operator, self.settings.balance_ussd)
        while not self._cusd.empty():  # an answer to an older session, late
            self._cusd.get_nowait()
        now = self.clock.now()
        common = {"modem": self.name, "source": "ussd", "trigger": trigger, "code": code, "operator": self.operator}
        started = time.monotonic()
        try:
            transport.command(f'AT+CUSD=1,"{code}",15', timeout=self.settings.ussd_timeout)
        except ModemRefused as exc:
            if self.ussd_supported is not False:
                log.warning("%s: the modem has no USSD (%s): credit and validity cannot be read", self.name, exc)
            self.ussd_supported = False
            balance.record(db, now=now, status="unsupported", error=str(exc), **common)
            return
        except ModemError as exc:
            balance.record(db, now=now, status="failed", error=str(exc), **common)
            return
        self.ussd_supported = True
        reply = None
        deadline = started + self.settings.ussd_timeout
        while reply is None and time.monotonic() < deadline:
            try:
                reply = ussd.parse_cusd(self._cusd.get(timeout=min(0.5, max(0.0, deadline - time.monotonic()))))
            except queue.Empty:
                if not transport.alive:  # the reader died (a bad byte): no answer can come
                    raise ModemError("the modem stopped answering during a USSD session") from None
        now = self.clock.now()
        if reply is None:
            self._cancel_ussd(transport)
            balance.record(db, now=now, status="failed",
                           error=f"no USSD answer within {self.settings.ussd_timeout:g} s", **common)
            return
        if reply.mode == 1:  # the network asks for more (a menu): close the session
            self._cancel_ussd(transport)
        if reply.mode == 4:
            self.ussd_supported = False
            balance.record(db, now=now, status="unsupported", error="+CUSD: 4 (operation not supported)", **common)
            return
        parsed = ussd.parse_balance(reply.text)
        status = "ok" if parsed.read else "unreadable" if reply.text else "failed"
        balance.record(db, now=now, status=status, parsed=parsed, text=reply.text, dcs=reply.dcs,
                       error=None if parsed.read else f"+CUSD: {reply.mode} without an amount", **common)
        log.info("%s: credit %s VND, valid until %s (USSD %s, %s)", self.name, parsed.balance_vnd,
                 parsed.valid_until, code, trigger)

    def _cancel_ussd(self, transport: ModemTransport) -> None:
        try:
            transport.command("AT+CUSD=2")
        except ModemError:
            pass

    # -- sending -----------------------------------------------------------------------------
    def may_send(self) -> bool:
        return self.line.may_send()

    def allowed_kinds(self, db: Database) -> frozenset[str] | None:
        """None: anything may go; else only these kinds (a cap on what is not a reply is reached)."""
        s = self.settings
        if not s.max_per_hour and not s.max_per_day:
            return None
        self._count(db)
        cutoff = time.monotonic() - 3600
        self._hour = [t for t in self._hour if t > cutoff]
        over_hour = s.max_per_hour and len(self._hour) >= s.max_per_hour
        if over_hour or (s.max_per_day and self._day_count >= s.max_per_day):
            return pacing.UNCAPPED_KINDS
        return None

    def _count(self, db: Database) -> None:
        """Capped parts sent this hour and this local day, from the outbox now and then, in memory between."""
        now = self.clock.now()
        day = now.astimezone(self.settings.tz).date().isoformat() if self.settings.tz else now.date().isoformat()
        if time.monotonic() - self._counted_at < COUNT_EVERY and day == self._day:
            return
        local = now.astimezone(self.settings.tz) if self.settings.tz else now
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        hour = outbox.parts_sent_since(db, now - timedelta(hours=1), except_kinds=pacing.UNCAPPED_KINDS)
        self._day_count = outbox.parts_sent_since(db, midnight, except_kinds=pacing.UNCAPPED_KINDS)
        mono = time.monotonic()
        self._hour = [mono] * hour  # their exact times are not needed: they leave within the hour at the latest
        self._counted_at, self._day = mono, day

    def failed(self, db: Database, part: DuePart, exc: SendError) -> bool:
        """True when the refusal is the line's: the part goes back untouched and the state is published."""
        now = self.clock.now()
        was = self.line.state
        if not self.line.failed(exc, now):
            return False
        outbox.release(db, part, f"{exc} (line {self.line.state}: waiting, not counted as a try)")
        if was != self.line.state:
            log.error("%s: the line is %s (%s): sending stops, probing again from %s", self.name, self.line.state,
                      exc, self.line.next_probe_at)
        self.publish(db)
        return True

    def sent(self, db: Database, part: DuePart) -> None:
        if pacing.capped(part.kind):
            self._hour.append(time.monotonic())
            self._day_count += 1
        if self.line.sent(self.clock.now()):
            log.info("%s: the line sends again", self.name)
            self.publish(db)

    def publish(self, db: Database) -> None:
        try:
            state.put_json(db, self.state_key, self.line.view(), self.clock.now())
        except sqlite3.Error:
            log.exception("could not publish %s", self.state_key)


def read_identity(transport: ModemTransport) -> identity.Identity:
    """ICCID (the first of the vendors' commands that answers), IMSI and IMEI; None for what is refused."""

    def ask(command: str) -> list[str]:
        try:
            return transport.command(command)
        except ModemRefused:
            return []

    iccid = None
    for command in identity.ICCID_COMMANDS:
        iccid = identity.parse_iccid(ask(command))
        if iccid:
            break
    imsi = identity.parse_digits(ask("AT+CIMI"), identity.IMSI_RE)
    imei = identity.parse_digits(ask("AT+CGSN"))
    return identity.Identity(iccid, imsi, imei)
