"""A GSM modem on a pseudo-terminal, so the gateway can be tested through the real stack.

The gateway opens the pty with pyserial and python-gsmmodem exactly as it opens a SIM800
or SIM7600 on /dev/ttyUSB2; the tests, the benchmarks and the web page's phone simulator
play the network from the other side (`deliver`, `sent_messages`, faults). One reader
thread per plugged-in pty answers each command with one write and emits the unsolicited
codes (+CMTI, +CDSI) between replies, as a real modem buffers them with CNMI mode 2.

Run `python -m gateway.modem.emulator --link PATH` for an emulator in its own process
(see `control`), so a gateway can be SIGKILLed while the SIM keeps its messages.
"""

from __future__ import annotations

import heapq
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from gateway.errors import ModemError, PduError
from gateway.sms import pdu as pdu_codec

from .at import VN_TZ, AtCommandSet, AtSettings, Reply, cms, ok
from .at_sim import Call, SimCommandSet
from .at_sms import SmsCommandSet
from .client import EmulatorClient
from .line import LineModel
from .models import ModemModel, get_model
from .pty import PtyPort
from .store import (
    STAT_READ,
    STAT_UNREAD,
    SentLog,
    SentMessage,
    SentPart,
    SmsStore,
    StoredSms,
    UnionStore,
    tpdu_length,
)
from .wire import WireSession

logger = logging.getLogger(__name__)

__all__ = ["Call", "EmulatorClient", "Faults", "LineModel", "ModemEmulator", "SentMessage", "SentPart", "StoredSms"]

PHYSICAL_STORES = ("SM", "ME", "SR")  # "MT" is SM and ME seen as one (store.UnionStore)


@dataclass
class Faults:
    """Misbehaviour on demand; change through `ModemEmulator.set_fault` (it wakes the modem)."""

    cms_error: int = 0  # the next N AT+CMGS answer +CMS ERROR: cms_error_code
    cms_error_code: int = 500
    send_delay: float = 0.0  # seconds each AT+CMGS takes, like a real modem's 2-10 s
    silent: bool = False  # answer nothing at all
    pin: str | None = None  # the SIM wants this PIN
    no_network: bool = False  # not registered: CREG 0,2, sends fail, the network holds SMS
    sim_full: bool = False  # store reports full and the network holds inbound SMS
    garbage_byte: int = 0  # send b"\xff\r\n" this many times (kills python-gsmmodem's reader)
    cmti_mid_reply: int = 0  # put pending +CMTI inside the next N replies (set_fault True: all)
    # A Huawei-style line (report_line) after every +CMGL:/+CMGR: header of the next N
    # listings, between the header and its PDU, whatever AT^CURC says (set_fault True: all).
    report_in_listing: int = 0
    report_line: str = "^RSSI:17"
    registration_error: bool = False  # AT+CREG?/+CGREG?/+CEREG? answer ERROR
    cnmi_fallback_only: bool = False  # AT+CNMI with <ds>=2 refused: reports come as +CDS <pdu>


class ModemEmulator(SimCommandSet, AtCommandSet, SmsCommandSet):
    """An AT-command GSM/LTE modem with SM, ME and SR stores, on a pty. See the module docstring.

    ``model`` (a name of ``models.MODELS``) picks identity, registration answers, stores and
    quirks; the default answers as the emulator always has. ``one_memory``: the store names
    (SM, ME, SR, MT) all name one memory, so listing two of them shows each SMS twice under
    the same index, as a modem that takes every name for its one store would.
    """

    def __init__(
        self,
        *,
        link: str | None = None,
        capacity: int = 50,
        pin: str | None = None,
        echo: bool = False,
        report_delay: float | None = 0.2,
        report_status: int = 0,
        smsc: str = "+84980200030",
        operator: str = "Viettel",
        operator_numeric: str = "45204",
        signal: int = 20,
        own_number: str | None = None,
        urc_gap: float = 0.0,
        model: str | ModemModel = "emulator",
        cnmi_fallback_only: bool = False,
        rsrp: int = -85,
        rsrq: int = -9,
        one_memory: bool = False,
    ) -> None:
        self.spec = get_model(model)
        self.manufacturer, self.model, self.revision = (
            self.spec.manufacturer, self.spec.model, self.spec.revision)
        self.rsrp, self.rsrq = rsrp, rsrq  # LTE signal (dBm, dB) for AT+CPSI?/+QCSQ/^HCSQ?
        self.link = link
        self.default_echo = echo
        self.report_delay = report_delay  # seconds until a requested status report; None: never
        self.report_status = report_status  # TP-ST of those reports (0 delivered, 70 expired...)
        self.smsc = smsc
        self.operator, self.operator_numeric = operator, operator_numeric
        self.signal = signal
        self.own_number = own_number
        self.urc_gap = urc_gap  # minimum seconds between two unsolicited codes
        self.faults = Faults(pin=pin, cnmi_fallback_only=cnmi_fallback_only)
        self.settings = AtSettings(echo=echo)
        self.stores: dict[str, SmsStore | UnionStore]
        if one_memory:  # every name is one memory, as this emulator was before its LTE models
            memory = SmsStore(capacity, "ME")
            self.stores = {m: memory for m in (*PHYSICAL_STORES, "MT")}
        else:
            self.stores = {m: SmsStore(capacity, m) for m in PHYSICAL_STORES}
            self.stores["MT"] = UnionStore(self.stores["SM"], self.stores["ME"])
        self.capacity = capacity
        self.network_time_on = not self.spec.network_time  # AT+CLTS=1 / AT+CTZU=1 (kept in NV)
        self.curc = 1  # Huawei periodic reports, until AT^CURC=0 (back on at power-up)
        self.sent = SentLog()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # store or sent log changed
        self._sim_unlocked = pin is None
        self._network: deque[tuple[str, str]] = deque()  # (kind, pdu) the SMSC still holds
        self._urcs: deque[bytes] = deque()
        self._reports: list[tuple[float, int, int, str, datetime]] = []  # heap by due time
        self._report_seq = 0
        self._clock_offset = timedelta(0)
        self._mr = 0
        self._concat_ref = int.from_bytes(os.urandom(1), "big")
        self._session: WireSession | None = None  # None while unplugged or stopped
        self.line = LineModel()  # the SIM's contract: credit, validity, barring, identity (at_sim, line)
        self.calls: list[Call] = []
        self.ringing: Call | None = None

    # --- lifecycle ------------------------------------------------------------------

    @property
    def store(self) -> SmsStore | UnionStore:
        """The store AT+CMGL/+CMGR/+CMGD work on (<mem1> of AT+CPMS)."""
        return self.stores[self.settings.memories[0]]

    def receiving_memory(self, kind: str = "deliver") -> str:
        """Where an arriving SMS (or, on SIMCom, a status report: "SR") is stored."""
        if kind == "status-report" and self.spec.report_memory:
            return self.spec.report_memory
        return self.settings.memories[2]

    @property
    def path(self) -> str | None:
        """What the gateway should open (the link, or the pty), None while unplugged."""
        return self._session.port.path if self._session else None

    @property
    def device(self) -> str | None:
        """The pty slave itself (/dev/pts/N)."""
        return self._session.port.device if self._session else None

    @property
    def plugged(self) -> bool:
        return self._session is not None

    def start(self) -> str:
        """Open the pty and start answering; returns the path the gateway should open."""
        with self._lock:
            if self._session is not None:
                raise ModemError("emulator already started")
            return self._plug()

    def stop(self) -> None:
        """Stop answering and remove the pty and link. The SIM store is kept."""
        self._unplug()

    def unplug(self) -> None:
        """Vanish like a pulled USB stick: pty closed, link removed, pending URCs lost."""
        self._unplug()

    def replug(self) -> str:
        """Come back on a new pty at the same link, with the SIM store as it was."""
        self._unplug()
        with self._lock:
            if self.faults.pin is not None:
                self._sim_unlocked = False  # a power cycle locks the SIM again
            self.settings = AtSettings(echo=self.default_echo)
            self.curc = 1
            return self._plug()

    def __enter__(self) -> ModemEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _plug(self) -> str:
        self._session = WireSession(self, PtyPort(self.link))
        self._session.start()
        self._pump_network()
        logger.info("modem emulator on %s (%s)", self.path, self.device)
        return self._session.port.path

    def _unplug(self) -> None:
        with self._lock:
            session, self._session = self._session, None
            self._urcs.clear()  # the modem lost power: its unsent URCs are gone
        if session is not None:
            session.close()  # outside the lock: its thread may be waiting for it
            logger.info("modem emulator unplugged from %s", session.port.path)

    def _wake(self) -> None:
        session = self._session
        if session is not None:
            session.wake()

    # --- the phone/network side ------------------------------------------------------

    def clock(self) -> datetime:
        """The network time (Vietnam, UTC+7), as +CCLK reports and DELIVER PDUs carry."""
        return datetime.now(VN_TZ) + self._clock_offset

    def set_clock(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=VN_TZ)
        self._clock_offset = moment - datetime.now(VN_TZ)

    def encode(self, sender: str, text: str, *, timestamp: datetime | None = None,
               order: list[int] | None = None) -> list[str]:
        """The DELIVER PDUs a network would send for `text`; `order` picks and orders the
        parts by 0-based index (a subset loses parts, a repeat duplicates one)."""
        with self._lock:
            self._concat_ref = (self._concat_ref + 1) % 256
            ref = self._concat_ref
        if timestamp is None:
            timestamp = self.clock()
        elif timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=VN_TZ)  # a naive time is local (UTC+7)
        pdus = pdu_codec.encode_deliver(
            sender, text, timestamp=timestamp, concat_ref=ref, smsc=self.smsc)
        if order is None:
            return pdus
        if any(not 0 <= i < len(pdus) for i in order):
            raise ValueError(f"order {order} does not index {len(pdus)} parts")
        return [pdus[i] for i in order]

    def deliver(self, sender: str, text: str, *, order: list[int] | None = None,
                timestamp: datetime | None = None) -> None:
        """An SMS from `sender` reaches the network; stored and announced if there is room."""
        pdus = self.encode(sender, text, timestamp=timestamp, order=order)
        self._arrive([("deliver", p) for p in pdus])

    def deliver_many(self, messages: list[dict | tuple[str, str]]) -> None:
        """A burst: each item {sender, text[, order]} or (sender, text), in one go."""
        items = []
        for msg in messages:
            if isinstance(msg, dict):
                pdus = self.encode(msg["sender"], msg["text"], order=msg.get("order"))
            else:
                pdus = self.encode(*msg)
            items += [("deliver", p) for p in pdus]
        self._arrive(items)

    def deliver_pdu(self, pdu_hex: str) -> None:
        """A raw PDU (with SMSC prefix) reaches the modem; kept as-is even if undecodable."""
        self._arrive([(_kind_of(pdu_hex), pdu_hex.strip().upper())])

    def preload(self, sender: str, text: str, *, timestamp: datetime | None = None,
                order: list[int] | None = None, read: bool = False, memory: str | None = None) -> list[int]:
        """Put an SMS on the SIM without any +CMTI, as if it came while the gateway was down.

        ``memory`` ("SM", "ME", "SR", "MT") picks the store, as a modem reset or a modem with
        its own default would have left it; None: where an arriving SMS goes now.
        """
        return self._preload(self.encode(sender, text, timestamp=timestamp, order=order), read, memory)

    def preload_pdu(self, pdu_hex: str, *, read: bool = False, memory: str | None = None) -> list[int]:
        return self._preload([pdu_hex.strip().upper()], read, memory)

    def _preload(self, pdus: list[str], read: bool, memory: str | None = None) -> list[int]:
        if memory is not None and memory not in self.stores:
            raise ValueError(f"unknown store {memory!r}: one of {', '.join(self.stores)}")
        indexes = []
        with self._lock:
            for pdu in pdus:
                store = self.stores[memory or self.receiving_memory(_kind_of(pdu))]
                index = store.put(pdu, stat=STAT_READ if read else STAT_UNREAD, kind=_kind_of(pdu))
                if index is None:
                    self._network.append((_kind_of(pdu), pdu))  # SIM full: the SMSC holds it
                else:
                    indexes.append(index)
            self._changed.notify_all()
        return indexes

    def _arrive(self, items: list[tuple[str, str]]) -> None:
        with self._lock:
            self._network.extend(items)
            self._pump_network()

    def sent_messages(self) -> list[SentMessage]:
        """Whole messages the gateway sent (concatenated parts reassembled), oldest first."""
        with self._lock:
            return list(self.sent.messages)

    def sent_parts(self) -> list[SentPart]:
        """Every accepted AT+CMGS, oldest first."""
        with self._lock:
            return list(self.sent.parts)

    def wait_for_sent(self, count: int, timeout: float) -> bool:
        """Block until at least `count` whole messages were sent; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.sent.messages) >= count, timeout)

    def wait_for_stored(self, count: int, timeout: float) -> bool:
        """Block until exactly `count` SMS are on the SIM (e.g. 0: the gateway drained it)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._used() == count, timeout)

    def stored(self, memory: str | None = None) -> list[StoredSms]:
        """What the stores hold (``memory``: one of them), each record naming its store."""
        with self._lock:
            stores = [self.stores[memory]] if memory else self._physical()
            return [sms for store in stores for sms in store.snapshot()]

    def stored_count(self) -> int:
        """SMS and reports in every store (SM, ME and SR) together."""
        with self._lock:
            return self._used()

    def _used(self) -> int:
        return sum(store.used for store in self._physical())

    def _physical(self) -> list[SmsStore | UnionStore]:
        """SM, ME and SR, each memory once (with ``one_memory`` they are one)."""
        return list({id(store): store for store in (self.stores[m] for m in PHYSICAL_STORES)}.values())

    def inject(self, line: str) -> None:
        """An unsolicited line ("^RSSI:17", "^MODE:5,4", "+CMTI: ...") written at the next gap."""
        with self._lock:
            self._urcs.append(f"\r\n{line}\r\n".encode())
        self._wake()

    def network_backlog(self) -> int:
        """Messages (and status reports) the network holds because the modem can't take them."""
        with self._lock:
            return len(self._network)

    def set_fault(self, name: str, value: object) -> None:
        """Turn a fault on or off (names as in `Faults`, plus report_delay, report_status,
        signal, capacity, urc_gap). `cms_error` takes N, [N, code] or {count, code}."""
        with self._lock:
            if name == "cms_error" and isinstance(value, (list, tuple, dict)):
                count, code = (value["count"], value.get("code", 500)) if isinstance(value, dict) else value
                self.faults.cms_error, self.faults.cms_error_code = int(count), int(code)
            elif name == "pin":
                self.faults.pin = None if value is None else str(value)
                self._sim_unlocked = value is None
            elif name in ("cmti_mid_reply", "report_in_listing"):  # True: until cleared
                setattr(self.faults, name, 1 << 30 if value is True else int(value or 0))
            elif name in ("cms_error", "garbage_byte"):  # True: once
                setattr(self.faults, name, int(value or 0))
            elif name in {f.name for f in fields(Faults)}:
                setattr(self.faults, name, value)
            elif name == "capacity":
                self.capacity = int(value)
                for memory in PHYSICAL_STORES:
                    self.stores[memory].capacity = int(value)
            elif name in ("report_delay", "report_status", "signal", "urc_gap", "rsrp", "rsrq"):
                setattr(self, name, value)
            else:
                raise ValueError(f"unknown fault {name!r}")
            self._pump_network()
        self._wake()

    def status(self) -> dict:
        """A summary for the control server and for humans."""
        with self._lock:
            return {
                "path": self.path, "device": self.device, "plugged": self.plugged,
                "stored": self._used(), "capacity": self.capacity, "model": self.spec.name,
                "stores": {m: self.stores[m].used for m in PHYSICAL_STORES},
                "backlog": len(self._network), "sent": len(self.sent.messages),
                "sent_parts": len(self.sent.parts), "registered": self._registered(),
                "faults": {f.name: getattr(self.faults, f.name) for f in fields(Faults)},
                "line": {f.name: str(v) if isinstance(v := getattr(self.line, f.name), date) else v
                         for f in fields(LineModel)},
                "calls": [c.to_dict() for c in self.calls],
            }

    def set_line(self, **values: object) -> None:
        """Change the SIM's contract (``LineModel`` fields: barred, credit_parts, ussd_form...)."""
        with self._lock:
            for name, value in values.items():
                self.line.set(name, value)
            self._pump_network()
        self._wake()

    def swap(self, *, sim: bool = True, modem: bool = False) -> dict:
        """Another SIM and/or another modem: the gateway sees new identities at its next connect."""
        with self._lock:
            self.line.swap(sim, modem)
            return {"iccid": self.line.iccid, "imsi": self.line.imsi, "imei": self.line.imei}

    # --- state the AT layer asks about -----------------------------------------------

    def _sim_ready(self) -> bool:
        return self._sim_unlocked or self.faults.pin is None

    def _registered(self) -> bool:
        return self._sim_ready() and self.settings.cfun == 1 and not self.faults.no_network

    def _pump_network(self) -> None:
        """Move what the network holds into the store while there is room, queueing the
        +CMTI/+CDSI for the wire. Called whenever room, coverage or power may have come."""
        with self._lock:
            self._changed.notify_all()  # callers just changed the store, or may have
            if self._session is None or not self._registered():
                return  # modem off or out of coverage: the SMSC keeps trying later
            queued = len(self._urcs)
            while self._network:
                kind, pdu = self._network[0]
                route = self._accepts(kind)
                if route == "direct":  # CNMI mt=2 / ds=1: to the host, never stored
                    self._network.popleft()
                    tag = "+CDS: " if kind == "status-report" else "+CMT: ,"
                    self._urcs.append(f"\r\n{tag}{tpdu_length(pdu)}\r\n{pdu}\r\n".encode())
                    continue
                memory = self.receiving_memory(kind)
                index = None if self.faults.sim_full else self.stores[memory].put(pdu, kind=kind)
                if index is None:
                    break
                self._network.popleft()
                if route == "store+cmti":
                    tag = "+CDSI" if kind == "status-report" else "+CMTI"
                    self._urcs.append(f'\r\n{tag}: "{memory}",{index}\r\n'.encode())
            if len(self._urcs) > queued:
                self._wake()

    def _submit(self, pdu_hex: str, length: int) -> Reply:
        """Accept one SMS-SUBMIT: record it and maybe schedule its report."""
        with self._lock:
            return self._submit_locked(pdu_hex, length)

    def _submit_locked(self, pdu_hex: str, length: int) -> Reply:
        if not self._registered():
            return cms(331)
        if self.faults.cms_error > 0:
            self.faults.cms_error -= 1
            return cms(self.faults.cms_error_code)
        refused = self._line_refusal()  # barred, out of credit
        if refused is not None:
            return refused
        try:
            decoded = pdu_codec.decode(pdu_hex, has_smsc=True)
        except PduError as exc:
            logger.warning("AT+CMGS with bad PDU: %s", exc)
            return cms(304)
        if decoded.type != "SMS-SUBMIT" or tpdu_length(pdu_hex) != length:
            return cms(304)
        mr, self._mr = self._mr, (self._mr + 1) % 256
        now = self.clock()
        part = SentPart(decoded.number or "", decoded.text or "", mr, decoded.concat, pdu_hex,
                        now, bool(decoded.request_status_report))
        self.sent.add(part)
        self._line_accepted(part.destination, part.text)
        self._changed.notify_all()
        if part.status_report and self.report_delay is not None:
            self._report_seq += 1
            due = time.monotonic() + self.report_delay
            heapq.heappush(self._reports, (due, self._report_seq, mr, part.destination, now))
        return ok(f"+CMGS: {mr}")

    def _next_report_due(self) -> float | None:
        """When the next status report is due (time.monotonic), for the wire's poll."""
        with self._lock:
            return self._reports[0][0] if self._reports else None

    def _fire_due_reports(self) -> None:
        with self._lock:
            if not self._reports or self._reports[0][0] > time.monotonic():
                return
            while self._reports and self._reports[0][0] <= time.monotonic():
                _, _, mr, recipient, sent = heapq.heappop(self._reports)
                report = pdu_codec.encode_status_report(
                    mr, recipient, sent=sent, done=self.clock(), status=self.report_status,
                    smsc=self.smsc)
                self._network.append(("status-report", report))
            self._pump_network()


def _kind_of(pdu_hex: str) -> str:
    """Store kind of a raw PDU: "deliver", "status-report" or "raw" when undecodable."""
    try:
        decoded = pdu_codec.decode(pdu_hex, has_smsc=True)
    except PduError:
        return "raw"
    return {"SMS-DELIVER": "deliver", "SMS-STATUS-REPORT": "status-report"}.get(decoded.type, "raw")
