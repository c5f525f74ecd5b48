"""The modem worker: the one thread that owns the modem, in and out.

Its loop: (re)connect with back-off; drain the store whenever a ``+CMTI``/``+CDSI`` arrives
and every ``drain_interval`` seconds anyway (python-gsmmodem misses notifications, see
MODEM_NOTES.md): list → commit → delete; send due outbox parts, one at a time, marking each
sent only after ``+CMGS``; poll signal and registration; publish its state for the page and
``/healthz``. A dead port, a dead reader thread or a silent modem sends it back to connect.

It drives a ``Transport`` (``types.py``) and nothing more: by default python-gsmmodem's
(``transport.ModemTransport``), or whatever its ``transport_factory`` makes. Its thread is
named after its port (``modem-worker:/dev/ttyUSB2``), so two modems' log lines differ.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlite_utils import Database

from gateway import backoff, inbox, outbox, state
from gateway.background import Worker
from gateway.clock import Clock
from gateway.errors import ModemError, ModemUnavailable, NoNetwork, SendError
from gateway.modem import status as modem_status
from gateway.modem.profiles import ModemProfile, load_profile
from gateway.modem.transport import ModemTransport
from gateway.modem.types import ModemStatus, StoredPdu, Transport
from gateway.sim import keeper as sim_keeper
from gateway.storage import ThreadLocalDb, WriteHealth, cannot_write, utcnow_iso

log = logging.getLogger(__name__)

SEND_BURST = 5  # parts sent between two looks at the inbound store
THREAD_PREFIX = "modem-worker:"  # + the port: one thread per modem, named after it


@dataclass
class WorkerSettings:
    port: str
    # With several modems, one worker per port: ``name`` marks the outbox rows it claims (keep
    # it stable across restarts, e.g. "modem0", "modem1"), ``state_key`` is its row in ``state``.
    name: str = "modem0"
    state_key: str = modem_status.STATE_KEY
    baudrate: int = 115200
    pin: str = ""
    drain_interval: float = 120.0
    # While parts go out, the stores are listed at least this often anyway: a +CMTI lost
    # during a long broadcast must not make a villager's MENU wait for its end.
    busy_drain_interval: float = 30.0
    signal_interval: float = 30.0
    reassembly_timeout: float = 900.0
    command_timeout: float = 10.0
    send_timeout: float = 35.0
    reconnect_max: float = 60.0
    max_attempts: int = 5
    retry_base: float = 5.0
    retry_max: float = 600.0
    rtscts: bool = True  # serial flow control, from the modem profile
    dsrdtr: bool = True
    profile: ModemProfile | None = None  # start commands, stores, serving cell (None: generic)
    smsc: str = ""  # modem.smsc: AT+CSCA at connect; empty keeps the SIM's
    sim: sim_keeper.SimSettings | None = None  # the SIM's line, credit, calls (None: identity and line only)


@dataclass
class ModemState:
    """What the page and /healthz show about the modem (nothing personal)."""

    state: str = "starting"  # starting | connecting | connected | error | stopped
    port: str = ""
    signal: int | None = None
    registered: bool = False
    operator: str | None = None
    technology: str | None = None  # "2G" | "3G" | "4G"
    rsrp: int | None = None  # LTE reference signal power, dBm (the profile's serving-cell command)
    rsrq: float | None = None  # LTE reference signal quality, dB
    smsc: str | None = None  # the SMS centre the modem uses
    profile: str | None = None  # modem.profile in use
    generation: str | None = None  # the profile's: "lte" | "2g" (2G no longer works in Vietnam)
    sim_used: int | None = None
    sim_total: int | None = None
    error: str | None = None
    last_contact: str | None = None
    connected_since: str | None = None
    reconnects: int = 0
    extra: dict = field(default_factory=dict)


class ModemWorker(Worker):
    """The modem loop in its own thread (``modem-worker:<port>``); ``wake()`` when the outbox has new rows.

    Each tick either (re)connects, with back-off, or serves the connected modem once: drain
    the store if a notification came or ``drain_interval`` passed, poll, sweep stale parts,
    send a burst. A dead port, a dead reader thread or a silent modem ends the connection
    and the next tick connects again.
    """

    RECONNECT_BASE = 1.0  # seconds before the first reconnect; doubling up to reconnect_max
    cannot_write_note = "SMS stay on the SIM until it can"

    def __init__(self, settings: WorkerSettings, dbs: ThreadLocalDb, clock: Clock,
                 on_inbound: Callable[[], None] = lambda: None,
                 on_network_time: Callable[[], None] = lambda: None,
                 write_health: WriteHealth | None = None,
                 transport_factory: TransportFactory | None = None) -> None:
        super().__init__(f"{THREAD_PREFIX}{settings.port}", write_health=write_health, health_name=settings.name,
                         now=clock.now)
        self.settings = settings
        self.dbs = dbs
        self.clock = clock
        self.on_inbound = on_inbound
        self.on_network_time = on_network_time  # the gateway judges its clock again
        self.storage_retry_base = self.RECONNECT_BASE
        self.storage_retry_max = max(settings.reconnect_max, 1.0)
        profile = settings.profile
        self.state = ModemState(port=settings.port, profile=profile.name if profile else None,
                                generation=profile.generation if profile else None)
        self._drain = threading.Event()
        self._te_reports: list[str] = []
        self._other_slots: list[str] = []
        self._lock = threading.Lock()
        # How a connection is made: python-gsmmodem's unless told otherwise (see serial_transport).
        self.transport_factory = transport_factory or serial_transport
        self.transport: Transport | None = None
        self._claims_settled = False
        self._connect_failures = 0
        self._next_drain = self._next_poll = self._next_sweep = 0.0
        self._last_drain = 0.0  # time.monotonic() of the last listing
        # The SIM's side of this modem: identity, credit by USSD, calls, the line as a state, caps.
        self.line = sim_keeper.LineKeeper(settings.sim or sim_keeper.SimSettings(read_balance=False), settings.name,
                                          "sim_line" + settings.state_key[len("modem"):], dbs, clock)
        self._identify = False

    # -- life cycle ----------------------------------------------------------------------
    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current part: by default wait as long as one send may take."""
        if timeout is None:
            timeout = self.settings.send_timeout + self.settings.command_timeout + 5
        super().stop(timeout)
        self._publish(state="stopped")

    def _on_notify(self, kind: str, slot: str) -> None:
        """Called from python-gsmmodem's reader thread: only record and wake, never talk AT."""
        if kind in ("RING", "CLIP", "CUSD"):  # the SIM's: a call to hang up, a USSD answer
            self.line.notify(kind, slot)
            self.wake()
            return
        with self._lock:
            if kind == "CDS":
                self._te_reports.append(slot)
            elif self.transport is not None and not slot.startswith(f"{self.transport.memory}:"):
                self._other_slots.append(slot)
        self._drain.set()
        self.wake()

    # -- the loop ------------------------------------------------------------------------
    def tick(self) -> float:
        if not self._claims_settled:
            self._claims_settled = True
            self._settle_claims()
        transport = self.transport
        if transport is None:
            return self._connect()
        try:
            rest = self._serve_once(transport, self.dbs.get())
        except sqlite3.Error:
            raise  # the database's trouble, not the modem's: the loop's (cannot write: it waits and retries)
        except ModemError as exc:
            log.error("modem lost: %s; reconnecting", exc)
            self._publish(state="error", error=str(exc), reconnects=self.state.reconnects + 1)
        except Exception:
            log.exception("modem worker failed; reconnecting")
            self._publish(state="error", error="internal error, see log",
                          reconnects=self.state.reconnects + 1)
        else:
            return rest
        self._disconnect()
        self.sleep(self.RECONNECT_BASE)
        return 0.0

    def on_cannot_write(self) -> None:
        """The database refused a write (disk full, read-only, I/O error): the modem is fine.

        The step that failed rolled back: what it read stays on the SIM (nothing is deleted
        before its commit), what it would have sent stays queued or claimed (nothing is marked
        sent). The loop said so and waits; when writes come back, the SIM is looked at first.
        """
        self._drain.set()

    def finish(self) -> None:
        self._disconnect()

    def _settle_claims(self) -> None:
        """Parts this worker left in the modem when the gateway last stopped."""
        try:
            resend, doubt = outbox.recover_claims(self.dbs.get(), self.clock.now(), worker=self.settings.name)
            if resend or doubt:
                log.warning("%s: %d part(s) were in the modem at the last stop: %d to send again,"
                            " %d broadcast part(s) in doubt, not resent", self.settings.name,
                            resend + doubt, resend, doubt)
        except Exception:
            log.exception("could not settle the outbox claims of %s", self.settings.name)

    def _connect(self) -> float:
        s = self.settings
        transport = self.transport_factory(s, self._on_notify)
        self._publish(state="connecting", error=self.state.error)
        try:
            transport.connect()
        except ModemUnavailable as exc:
            self._connect_failures += 1
            # No jitter: one Pi, one modem; a wake (new outbox rows) must not cut this short.
            delay = backoff.delay(self._connect_failures, self.RECONNECT_BASE, s.reconnect_max, jitter=0)
            log.error("%s; retrying in %.0f s", exc, delay)
            self._publish(state="error", error=str(exc), registered=False, signal=None)
            self.sleep(delay)
            return 0.0
        except BaseException:
            transport.close()
            raise
        self.transport = transport
        self._connect_failures = 0
        self._publish(state="connected", error=None, connected_since=utcnow_iso(self.clock.now()))
        self._next_drain = self._next_poll = self._next_sweep = 0.0
        self._drain.set()
        self._identify = True  # who the SIM and the modem are: read on the first look
        return 0.0

    def _disconnect(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.close()

    def _serve_once(self, transport: Transport, db: Database) -> float:
        """One look at the connected modem; the seconds until the next (0: more to do)."""
        s = self.settings
        if not transport.alive:
            raise ModemError(f"modem on {s.port} stopped answering (port closed or reader died)")
        mono = time.monotonic()
        if mono >= self._next_poll:  # first: the network's time is known before the first SMS is stamped
            self._poll(transport)
            self._next_poll = mono + s.signal_interval
        if self._identify:
            self._identify = False
            self.line.connected(transport, db)
        self.line.serve(transport, db, self.state.operator)  # a ringing call, a credit reading due
        if self._drain.is_set() or mono >= self._next_drain:
            self._drain.clear()
            self._drain_store(transport, db)
            self._last_drain = mono
            self._next_drain = mono + s.drain_interval
        if mono >= self._next_sweep:
            if inbox.flush_stale_parts(db, self.clock.now(), s.reassembly_timeout):
                self.on_inbound()
            self._next_sweep = mono + min(60.0, s.reassembly_timeout / 4)
        sent = self._send_some(transport, db) if self.state.registered else 0
        if self._drain.is_set() or sent:
            return 0.0
        rest = max(0.05, min(1.0, self._next_drain - time.monotonic()))
        return min(rest, 0.2) if self.line.wants_attention() else rest

    # -- inbound -------------------------------------------------------------------------
    def _drain_store(self, transport: Transport, db: Database) -> None:
        with self._lock:
            te_reports, self._te_reports = self._te_reports, []
            other_slots, self._other_slots = self._other_slots, []
        stored, swallowed = transport.list_stored()
        for slot in dict.fromkeys(other_slots):
            if slot.split(":", 1)[0] in transport.listed:
                continue  # its store's listing just read it: a second copy would be deleted twice
            item = transport.read_slot(slot)
            if item is not None:
                stored.append(item)
        now = self.clock.now()
        extra = [StoredPdu(f"TE:{i}", 0, pdu) for i, pdu in enumerate(te_reports)]
        if not stored and not extra:
            self._touch()
            return
        result = inbox.commit_batch(db, stored + extra, now)  # durable before any delete
        sim_ids, deleted = [], set()
        for slot, pdu_id in zip(result.deletable, result.pdu_ids, strict=False):
            # Once per slot: a freed slot is filled again at once (lowest free index), and a
            # second AT+CMGD would delete the newcomer unread.
            if not slot.startswith("TE:") and slot not in deleted:
                deleted.add(slot)
                transport.delete(slot)
            sim_ids.append(pdu_id)
        inbox.forget_slots(db, sim_ids)
        self._touch()
        if result.new_messages:
            self.on_inbound()
        if stored or swallowed:
            self._drain.set()  # more may have arrived while we were busy: look again

    # -- outbound ------------------------------------------------------------------------
    def _send_some(self, transport: Transport, db: Database) -> int:
        s = self.settings
        sent = 0
        part = None
        if not self._drain.is_set() and not self.stopping and self.line.may_send():
            # Claimed for this worker; only replies while a cap on the rest is reached (gateway.sim.pacing).
            part = outbox.next_due(db, self.clock.now(), worker=s.name, kinds=self.line.allowed_kinds(db))
        while part is not None:
            try:
                mr = transport.send_pdu(part.pdu, part.tpdu_length)
            except SendError as exc:
                no_network = isinstance(exc, NoNetwork)  # not the message's fault: back off, never give up
                if not no_network and self.line.failed(db, part, exc):  # the line's: the part waits untouched
                    if not transport.alive:
                        raise ModemError(f"modem on {s.port} failed while sending") from exc
                    break
                gave_up = outbox.mark_failure(
                    db, part, str(exc), self.clock.now(), retryable=exc.retryable,
                    max_attempts=1 << 30 if no_network else s.max_attempts,
                    retry_base=s.retry_base, retry_max=s.retry_max,
                )
                if no_network:  # wait for the next poll to see the network again
                    self._publish(registered=False, error="the network refused to send (+CMS ERROR: 331)")
                log.warning("SMS %s part %s/%s not sent: %s%s", part.outbox_id, part.seq, part.parts_total,
                            exc, " (giving up)" if gave_up else "")
                if not transport.alive:
                    raise ModemError(f"modem on {s.port} failed while sending") from exc
                break
            sent += 1
            self.line.sent(db, part)
            more = (sent < SEND_BURST and not self._drain.is_set() and not self.stopping
                    and time.monotonic() < self._last_drain + s.busy_drain_interval and not self.line.wants_attention())
            # Marking this part and claiming the next is one commit: the modem waits less.
            part = outbox.mark_part_sent(db, part, mr, self.clock.now(), claim_next_for=s.name if more else None,
                                         kinds=self.line.allowed_kinds(db) if more else None)
        if sent:
            self._touch()
            # Still sending: the next listing is due busy_drain_interval after the last one.
            self._next_drain = min(self._next_drain, self._last_drain + s.busy_drain_interval)
        return sent

    # -- state ---------------------------------------------------------------------------
    def _poll(self, transport: Transport) -> None:
        status: ModemStatus = transport.poll()
        error = None if status.registered else "SIM not registered on a network (no signal?)"
        if status.registered is None:  # every registration query refused: unknown must not block sending
            error = "modem does not say whether it is registered (AT+CREG?/CGREG?/CEREG? refused)"
        if status.sim_used is not None and status.sim_total and status.sim_used >= status.sim_total:
            error = "SIM message store is full: new SMS cannot arrive"
        self._publish(
            signal=status.signal, registered=status.registered is not False, operator=status.operator,
            technology=status.technology, rsrp=status.rsrp, rsrq=status.rsrq, smsc=status.smsc,
            sim_used=status.sim_used, sim_total=status.sim_total, error=error,
            last_contact=utcnow_iso(self.clock.now()),
        )
        self._publish_network_time(transport)

    def _publish_network_time(self, transport: Transport) -> None:
        """The modem's network time beside our clock's reading, for the trusted clock.

        The Pi has no real-time clock; ``gateway.clock.TrustedClock`` decides from this (and
        the SMS timestamps) which time every record carries. Published as read beside the
        system clock's own reading (never the corrected one), judged by the gateway's clock.
        """
        network = transport.network_time()
        if network is None:
            return
        now = self.clock.system_now()
        value = {"network_time": utcnow_iso(network), "system_time": utcnow_iso(now), "port": self.settings.port}
        self._set_state(modem_status.TIME_KEY, value, self.clock.now())
        self.on_network_time()

    def _touch(self) -> None:
        self.state.last_contact = utcnow_iso(self.clock.now())

    def _publish(self, **changes: object) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)
        self._set_state(self.settings.state_key, asdict(self.state), self.clock.now())

    def _set_state(self, key: str, value: dict, now: datetime) -> None:
        try:
            state.put_json(self.dbs.get(), key, value, now)
            if not self.write_failures:  # else the step that failed must pass first
                self.write_health.ok(self.settings.name)
        except sqlite3.Error as exc:
            reason = cannot_write(exc)
            if reason is None:
                log.exception("could not publish %s state", key)
            else:  # said in memory instead; the loop's next write tells when it is back
                self.write_health.failed(self.settings.name, reason, str(exc), now)
        except Exception:
            log.exception("could not publish %s state", key)


Notify = Callable[[str, str], None]
#: Makes the transport of one connection: (the worker's settings, where notifications go).
TransportFactory = Callable[[WorkerSettings, Notify], Transport]


def serial_transport(s: WorkerSettings, on_notify: Notify) -> Transport:
    """The default transport: python-gsmmodem over pyserial, set up from the worker's settings."""
    return ModemTransport(
        s.port, baudrate=s.baudrate, pin=s.pin, command_timeout=s.command_timeout,
        send_timeout=s.send_timeout, on_notify=on_notify, rtscts=s.rtscts, dsrdtr=s.dsrdtr,
        profile=s.profile, smsc=s.smsc,
    )


def settings_from_config(config, port: str | None = None, index: int = 0) -> WorkerSettings:
    """Settings of the worker for ``modem.port`` (index 0) or one of ``modem.extra_ports``."""
    m, o = config.modem, config.outbox
    profile = load_profile(m.profile)
    profile.warn_if_2g()
    baudrate = profile.baudrate if profile.baudrate and m.baudrate == 115200 else m.baudrate
    return WorkerSettings(
        port=m.port if port is None else port, name=f"modem{index}",
        state_key=modem_status.state_key(index),
        rtscts=profile.rtscts, dsrdtr=profile.dsrdtr, profile=profile, smsc=m.smsc,
        baudrate=baudrate, pin=m.pin, drain_interval=m.drain_interval,
        signal_interval=m.signal_interval, reassembly_timeout=m.reassembly_timeout,
        command_timeout=m.command_timeout, send_timeout=m.send_timeout, reconnect_max=m.reconnect_max,
        max_attempts=o.max_attempts, retry_base=o.retry_base, retry_max=o.retry_max,
        sim=sim_keeper.from_config(config, profile),
    )


def all_settings_from_config(config) -> list[WorkerSettings]:
    """One worker per modem: ``modem.port`` first, then each of ``modem.extra_ports``.

    Every worker sends from the same outbox; claims keep them from sending the same part.
    """
    extra = list(config.modem.extra_ports)
    return [settings_from_config(config, port, i) for i, port in enumerate([config.modem.port, *extra])]
