"""The only module that speaks python-gsmmodem: AT commands over pyserial, in PDU mode.

The rest of the gateway sees a tiny interface (RapidSMS's backend idea): ``connect()``,
``list_stored()``, ``delete()``, ``send_pdu()``, ``poll()``, ``alive``, ``close()``. This
module maps the library's camelCase and its exceptions (``TimeoutException``, ``CmsError``,
``CmeError``, ``PinRequiredError``, pyserial's ``SerialException``) to ours.

It deliberately bypasses three library behaviours that lose or duplicate messages
(MODEM_NOTES.md): the library's ``+CMTI`` handler (reads, calls back, deletes, and misses the
second of two notifications), ``processStoredSms`` (deletes before the callback) and its
text encoder (raises on emoji, mis-maps ``§``). Notifications here only wake the worker,
which drains every store: list, commit, then delete.

What it does per modem comes from its profile (``profiles.py``): the commands that start it
(network time, Huawei reports off), the stores to drain (SM, ME, and SR for status reports
on SIMCom), and how to read the LTE signal. Registration is read from all three domains
(``+CREG``, ``+CGREG``, ``+CEREG``): an LTE modem says ``+CREG: 0,0`` and still sends.
A listing is parsed so that no line but a hex PDU of the announced length is ever taken for
a message: Huawei sticks slip ``^RSSI:17`` between a ``+CMGL:`` header and its PDU.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

import serial
from gsmmodem.exceptions import (
    CmeError,
    CmsError,
    CommandError,
    GsmModemException,
    IncorrectPinError,
    PinRequiredError,
    TimeoutException,
)
from gsmmodem.modem import GsmModem
from gsmmodem.serial_comms import SerialComms

from gateway.errors import ModemError, ModemUnavailable, SendError
from gateway.modem.cclk import parse_clock
from gateway.modem.profiles import ModemProfile
from gateway.modem.types import ModemStatus, StoredPdu

log = logging.getLogger(__name__)

CMGL_RE = re.compile(r"^\+CMGL:\s*(\d+),\s*(\d+),(?:.*,)?\s*(\d*)\s*$")  # index, stat, [alpha], length
CMGR_RE = re.compile(r"^\+CMGR:\s*(\d*),(?:.*,)?\s*(\d*)\s*$")  # stat, [alpha], length
CMGS_RE = re.compile(r"^\+CMGS:\s*(\d+)")
CSQ_RE = re.compile(r"^\+CSQ:\s*(\d+),")
REG_RE = re.compile(r"^\+C[EG]?REG:\s*\d+,\s*(\d+)")  # +CREG/+CGREG/+CEREG: <n>,<stat>[,...]
COPS_RE = re.compile(r'^\+COPS:\s*\d+(?:,\s*\d+,\s*"([^"]*)"(?:,\s*(\d+))?)?')
CPMS_RE = re.compile(r'^\+CPMS:\s*"?[A-Z]*"?,\s*(\d+),\s*(\d+)')
NOTIFY_RE = re.compile(r'^\+(CMTI|CDSI):\s*"([^"]*)",\s*(\d+)')
CDS_RE = re.compile(r"^\+CDS:\s*(\d+)")
HEX_RE = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")
CPSI_RE = re.compile(r"^\+CPSI:\s*([^,]+)")
QCSQ_RE = re.compile(r'^\+QCSQ:\s*"([^"]+)"(?:,\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),\s*(-?\d+))?')
HCSQ_RE = re.compile(r'^\^HCSQ:\s*"([^"]+)"(?:,\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+))?')
SMSC_RE = re.compile(r'^\+CSCA:\s*"([^"]*)"')
SMSC_VALUE_RE = re.compile(r"^\+?\d{3,20}$")

REGISTERED = ("1", "5")  # home network, roaming (27.007 <stat>)
NO_NETWORK = 331  # +CMS ERROR: no network service
# 27.007 <AcT> of +COPS? -> what the page shows. 8/9 are LTE-M and NB-IoT (LTE radio too).
ACT_GENERATION = {"0": "2G", "1": "2G", "3": "2G", "2": "3G", "4": "3G", "5": "3G", "6": "3G",
                  "7": "4G", "8": "4G", "9": "4G", "10": "4G", "13": "4G"}
SYSTEM_GENERATION = {"GSM": "2G", "EDGE": "2G", "GPRS": "2G", "WCDMA": "3G", "HSPA": "3G", "UMTS": "3G",
                     "TDSCDMA": "3G", "LTE": "4G", "CAT-M": "4G", "NB-IOT": "4G"}
CTRL_Z = "\x1a"
ESC = "\x1b"

# CMS errors that will not get better by trying again (27.005 §3.2.5): bad PDU or number,
# barred destination. Anything else (network out of order, unknown, memory) is retried.
FINAL_CMS_ERRORS = frozenset({1, 21, 28, 29, 50, 96, 97, 98, 99, 111, 112, 113, 202, 204, 205, 304, 305})


class _Comms(SerialComms):
    """The library's serial layer, opening the port with the profile's flow control.

    python-gsmmodem-new hard-codes ``rtscts=True, dsrdtr=True``; a modem on bare UART pins
    has no such lines. ``_Modem`` puts this class after ``GsmModem`` in its MRO, so
    ``GsmModem.connect()``'s ``super().connect()`` lands here.
    """

    rtscts = True
    dsrdtr = True

    def connect(self) -> None:
        self.serial = serial.Serial(
            self.port, self.baudrate, *self.com_args, timeout=self.timeout,
            rtscts=self.rtscts, dsrdtr=self.dsrdtr, **self.com_kwargs,
        )
        self.alive = True
        self._unread = 0
        self.reader_ended = False
        self.rxThread = threading.Thread(target=self._readLoop, daemon=True)
        self.rxThread.start()

    def _readLoop(self) -> None:  # noqa: N802 - the library's name, overridden
        """The library's reader, reading what the port holds in one call instead of one byte
        per call: a pyserial read (and its select) per byte cost about 1.5 ms of CPU per SMS,
        half of the inbound budget. Lines are still cut and handed on byte by byte, exactly
        as the library does; ``_unread`` counts the bytes of this read not yet handed on, for
        ``_handleLineRead``'s "is more of this notification on the way" rule."""
        try:
            term = bytearray(self.RX_EOL_SEQ)
            rx = bytearray()
            while self.alive:
                chunk = self.serial.read(max(1, self.serial.in_waiting))
                for index, byte in enumerate(chunk):
                    self._unread = len(chunk) - index - 1
                    rx.append(byte)
                    if rx[-len(term):] == term:
                        line = rx[:-len(term)].decode()
                        rx = bytearray()
                        if line:
                            self._handleLineRead(line)
                    elif self._expectResponseTermSeq and rx[-len(self._expectResponseTermSeq):] == \
                            self._expectResponseTermSeq:
                        line = rx.decode()
                        rx = bytearray()
                        self._handleLineRead(line, checkForResponseTerm=False)
                self._unread = 0
        except serial.SerialException as exc:
            self.alive = False
            try:
                self.serial.close()
            except Exception:  # noqa: BLE001 - as the library: closing a dead port must not hide why
                pass
            self.fatalErrorCallback(exc)
        finally:
            # The reader ends (a dead port, or a byte that is no text kills it as it kills the
            # library's): a command waiting for its answer will get none, so it stops waiting
            # now (``_write`` sees the dead reader) rather than after its timeout (30 s for a
            # listing).
            self.reader_ended = True  # before the wake: the waiting writer must see it
            waiting = self._responseEvent
            if waiting is not None:
                waiting.set()

    def _handleLineRead(self, line: str, checkForResponseTerm: bool = True) -> None:  # noqa: N802
        """The library's, with "nothing more on the way" counting the bytes read but not yet
        handed on (``_unread``) as well as those still in the port."""
        if self._responseEvent and not self._responseEvent.is_set():
            self._response.append(line)
            if not checkForResponseTerm or self.RESPONSE_TERM.match(line):
                self.log.debug("response: %s", self._response)
                self._responseEvent.set()
        else:
            self._notification.append(line)
            if self._unread == 0 and self.serial.in_waiting == 0:
                self.log.debug("notification: %s", self._notification)
                self.notifyCallback(self._notification)
                self._notification = []


class NoNetwork(SendError):
    """The modem refused a send with ``+CMS ERROR: 331``: no network, not the message's fault."""


def pdu_fits(line: str, length: int | None) -> bool:
    """Is ``line`` a hex PDU of the length a ``+CMGL:``/``+CMGR:`` header announced?

    27.005 counts the TPDU without the SMSC prefix; a modem that leaves the prefix out is
    matched on the whole length. Anything else (``^RSSI:17``, ``+CMTI: ...``) is not the PDU.
    """
    if not HEX_RE.match(line):
        return False
    if length is None:
        return True
    octets = len(line) // 2
    return octets - 1 - int(line[:2], 16) == length or octets == length


# Unsolicited words a modem may write at any time (27.007 result codes, SIMCom/Quectel start-up).
NOTIFICATION_WORDS = frozenset({
    "RING", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "RDY", "SMS READY", "CALL READY",
    "PB DONE", "NORMAL POWER DOWN", "POWERED DOWN", "OK", "ERROR",
})


def is_notification(line: str) -> bool:
    """A line that cannot be a stored message's text: ``^RSSI:17``, ``+CMTI: ...``, ``RING``.

    No PDU starts with ``^`` or ``+`` (hex has neither), and result words are not hex either.
    """
    return line[:1] in ("^", "+") or line.upper() in NOTIFICATION_WORDS


@dataclass
class Listing:
    """What one ``AT+CMGL``/``AT+CMGR`` reply held, told apart line by line."""

    messages: list[StoredPdu] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)  # ("CMTI"|"CDSI", "SM:3")
    te_reports: list[str] = field(default_factory=list)  # PDUs of +CDS lines inside the reply
    headers_without_pdu: list[str] = field(default_factory=list)  # slots left alone


def parse_listing(lines: list[str], memory: str, *, single_slot: str | None = None) -> Listing:
    """Split a listing into messages and notifications; a notification is never a message.

    After a header the message is a hex PDU of the announced length. A line that is neither
    that nor a notification (``is_notification``) is what the slot holds, broken: it is kept
    verbatim and stored as undecodable, as a malformed PDU always was. Every notification
    goes the way of notifications: ``+CMTI``/``+CDSI`` are returned to wake a drain, a
    ``+CDS`` takes the next line as its report PDU, Huawei ``^RSSI``/``^MODE``/``^BOOT``
    lines are dropped. ``single_slot`` reads a ``+CMGR`` reply (no index in its header) for
    that slot. A header whose content never comes leaves its slot out: it is never deleted.
    """
    result = Listing()
    pending: tuple[str, int, int | None] | None = None  # slot, stat, announced length
    cds_next = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if cds_next:
            cds_next = False
            if HEX_RE.match(line):
                result.te_reports.append(line)
                continue
        header = CMGR_RE.match(line) if single_slot else CMGL_RE.match(line)
        if header:
            if pending is not None:
                result.headers_without_pdu.append(pending[0])
            groups = header.groups()
            slot = single_slot or f"{memory}:{groups[0]}"
            stat = groups[-2] or "0"
            pending = (slot, int(stat), int(groups[-1]) if groups[-1] else None)
            continue
        if pending is not None and (pdu_fits(line, pending[2]) or not is_notification(line)):
            if not pdu_fits(line, pending[2]):
                log.warning("slot %s holds %r, not a PDU of %s octets: kept as undecodable",
                            pending[0], line[:40], pending[2])
            result.messages.append(StoredPdu(pending[0], pending[1], line))
            pending = None
            continue
        notice = NOTIFY_RE.match(line)
        if notice:
            result.notices.append((notice.group(1), f"{notice.group(2)}:{notice.group(3)}"))
        elif CDS_RE.match(line):
            cds_next = True
        elif line not in ("OK",):
            log.debug("line inside a listing taken for a notification: %r", line)
    if pending is not None:
        result.headers_without_pdu.append(pending[0])
    if result.headers_without_pdu:
        log.warning("listing of %s: no PDU after the header of %s; left on the modem",
                    memory, ", ".join(result.headers_without_pdu))
    return result


class _Modem(GsmModem, _Comms):
    """python-gsmmodem's modem with its notification handling replaced by a wake-up call.

    The library starts a thread per notification and reads/deletes SMS itself; here the
    reader thread only reports which store slots were announced, and the worker drains.
    """

    def __init__(self, *args, on_notify: Callable[[str, str], None], rtscts: bool = True,
                 dsrdtr: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._tinbao_notify = on_notify
        self._cds_pending = False  # a "+CDS: <length>" was seen: its PDU is the next line
        self.rtscts = rtscts
        self.dsrdtr = dsrdtr

    def _handleModemNotification(self, lines: list[str]) -> None:  # noqa: N802 (library name)
        for raw in lines:
            line = raw.strip()
            if self._cds_pending and line:
                self._cds_pending = False
                if HEX_RE.match(line):
                    self._tinbao_notify("CDS", line)
                    continue
                log.warning("+CDS without its PDU (next line %r): report lost", line)
            match = NOTIFY_RE.match(line)
            if match:
                self._tinbao_notify(match.group(1), f"{match.group(2)}:{match.group(3)}")
            elif CDS_RE.match(line):
                self._cds_pending = True  # the PDU may come in the same burst or the next
            elif line:
                log.debug("unhandled modem notification: %s", line)


class ModemTransport:
    """A connected modem, or the reason it is not. One worker thread drives it."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 115200,
        pin: str = "",
        command_timeout: float = 10.0,
        send_timeout: float = 35.0,
        on_notify: Callable[[str, str], None] = lambda kind, slot: None,
        rtscts: bool = True,
        dsrdtr: bool = True,
        profile: ModemProfile | None = None,
        smsc: str = "",
    ) -> None:
        self.port = port
        self.profile = profile or ModemProfile("generic")
        self.smsc_wanted = smsc.strip()  # modem.smsc; empty: keep the SIM's
        self.smsc: str | None = None  # what the modem uses, read at connect
        self.baudrate = baudrate
        self.pin = pin or None
        self.command_timeout = command_timeout
        self.send_timeout = send_timeout
        self._on_notify = on_notify
        self.rtscts = rtscts
        self.dsrdtr = dsrdtr
        self._modem: _Modem | None = None
        self._fatal = threading.Event()
        self.memory = "SM"
        self._aliases_logged: set[str] = set()  # stores found to be another store's memory
        self.listed: frozenset[str] = frozenset()  # the stores the last list_stored() did list

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        """Open the port and initialise the modem, or raise ModemUnavailable with one clear line."""
        self._fatal.clear()
        modem = _Modem(
            self.port,
            self.baudrate,
            on_notify=self._on_notify,
            rtscts=self.rtscts,
            dsrdtr=self.dsrdtr,
            exclusive=True,
            AT_CNMI=self.profile.cnmi,
        )
        modem.fatalErrorCallback = self._on_fatal
        try:
            modem.connect(pin=self.pin)
        except serial.SerialException as exc:
            self._close_quietly(modem)
            text = str(exc)
            if "No such file" in text or ("could not open port" in text and "Errno 2" in text):
                raise ModemUnavailable(f"modem port {self.port} does not exist") from exc
            if "busy" in text.lower() or "Errno 16" in text or "Errno 11" in text:
                raise ModemUnavailable(f"modem port {self.port} is busy (another program uses it)") from exc
            raise ModemUnavailable(f"modem port {self.port} cannot be opened: {text}") from exc
        except PinRequiredError as exc:
            self._close_quietly(modem)
            raise ModemUnavailable("the SIM asks for a PIN and modem.pin is not set") from exc
        except IncorrectPinError as exc:
            self._close_quietly(modem)
            raise ModemUnavailable("the SIM refused modem.pin (wrong PIN; check before the SIM locks)") from exc
        except TimeoutException as exc:
            self._close_quietly(modem)
            raise ModemUnavailable(f"no answer from a modem on {self.port}") from exc
        except (GsmModemException, OSError, UnicodeDecodeError) as exc:
            self._close_quietly(modem)
            raise ModemUnavailable(f"modem on {self.port} failed to start: {exc}") from exc
        memory = getattr(modem, "_smsMemReadDelete", None) or '"SM"'
        self.memory = memory.strip('"')
        self._modem = modem
        self._start_profile()
        log.info("modem connected on %s (profile %s, stores %s, SMS centre %s)", self.port, self.profile.name,
                 "/".join(self.drain_stores), self.smsc or "unknown")

    def _start_profile(self) -> None:
        """The profile's start commands (network time, Huawei reports off) and modem.smsc.

        A refusal is logged and the modem used anyway: a missing ``AT^CURC`` costs only
        noise the parser ignores, a missing ``AT+CLTS`` only the network time.
        """
        for command in self.profile.start_commands:
            try:
                self._write(command)
            except CommandError as exc:
                log.warning("modem refused %s (profile %s): %s", command, self.profile.name, exc)
        if self.smsc_wanted:
            if SMSC_VALUE_RE.match(self.smsc_wanted):
                kind = 145 if self.smsc_wanted.startswith("+") else 129
                try:
                    self._write(f'AT+CSCA="{self.smsc_wanted}",{kind}')
                except CommandError as exc:
                    log.warning("modem refused modem.smsc %s: %s", self.smsc_wanted, exc)
            else:
                log.error("modem.smsc %r is not a number like +84980200030: the SIM's SMS centre is kept",
                          self.smsc_wanted)
        try:
            self.smsc = next((m.group(1) for m in map(SMSC_RE.match, self._write("AT+CSCA?")) if m), None)
        except CommandError:
            self.smsc = None

    @property
    def drain_stores(self) -> tuple[str, ...]:
        """Every store a drain lists: the profile's, and the one python-gsmmodem chose."""
        stores = self.profile.drain_stores
        return tuple(dict.fromkeys(stores if self.memory in stores else (self.memory, *stores)))

    def _on_fatal(self, exc: BaseException) -> None:
        log.warning("modem port %s failed: %s", self.port, exc)
        self._fatal.set()

    @property
    def alive(self) -> bool:
        """False once the port failed or python-gsmmodem's reader thread died (bad byte)."""
        modem = self._modem
        if modem is None or self._fatal.is_set() or not modem.alive:
            return False
        thread = getattr(modem, "rxThread", None)
        return thread is not None and thread.is_alive()

    def close(self) -> None:
        modem, self._modem = self._modem, None
        if modem is not None:
            self._close_quietly(modem)

    @staticmethod
    def _close_quietly(modem: GsmModem) -> None:
        modem.alive = False
        try:  # the reader blocks up to a second in read(); cancel it so reconnects are quick
            if getattr(modem, "serial", None) is not None:
                modem.serial.cancel_read()
        except (OSError, serial.SerialException, AttributeError):
            pass
        try:
            thread = getattr(modem, "rxThread", None)
            if thread is not None and thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=2)
        except RuntimeError:
            pass
        try:
            if getattr(modem, "serial", None) is not None:
                modem.serial.close()
        except (OSError, serial.SerialException):
            pass

    # -- commands -----------------------------------------------------------------------
    def _write(self, command: str, *, timeout: float | None = None, **kwargs) -> list[str]:
        modem = self._modem
        if modem is None:
            raise ModemError("modem is not connected")
        try:
            lines = modem.write(command, timeout=timeout or self.command_timeout, **kwargs)
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._fatal.set()
            raise ModemError(f"modem port {self.port} failed: {exc}") from exc
        except TimeoutException as exc:
            raise ModemError(f"modem did not answer {command.split('=')[0]}") from exc
        except Exception as exc:
            if not self._reading(modem):  # the answer was cut short by the reader's end
                raise ModemError(f"modem reader died during {command.split('=')[0]}") from exc
            raise
        if not self._reading(modem):
            raise ModemError(f"modem reader died during {command.split('=')[0]}")
        return lines

    @staticmethod
    def _reading(modem: GsmModem) -> bool:
        """False once python-gsmmodem's reader (our ``_Comms._readLoop``) has ended."""
        return not getattr(modem, "reader_ended", False)

    def list_stored(self) -> tuple[list[StoredPdu], bool]:
        """Every message in every store of the profile, without deleting (``AT+CMGL=4`` each).

        Returns the messages and whether a notification was swallowed inside a reply (then
        the caller drains again at once: python-gsmmodem gives such a line to the command).
        Each such ``+CMTI``/``+CDSI`` and each ``+CDS`` report is also handed to ``on_notify``
        as if it had come on its own. A store the modem refuses is skipped with a warning;
        only the store python-gsmmodem chose must list.

        Some modems take several store names for one memory (``SM`` and ``ME`` list the same
        messages). Nothing is deleted between two listings of one drain, so the same PDU at the
        same index in a second store is that message again: it is returned once, under the
        first name, so it is stored once and its slot deleted once (deleting it under both
        names would delete whatever the network put in the freed slot meanwhile).
        """
        found: list[StoredPdu] = []
        first_name: dict[tuple[str, str], str] = {}  # (index, PDU) -> the slot it was listed as
        saw_notice = False
        listed: set[str] = set()
        self.listed = frozenset()
        for memory in self.drain_stores:
            try:
                with self._store(memory):
                    lines = self._write("AT+CMGL=4", timeout=max(self.command_timeout, 30))
            except CommandError as exc:
                if memory == self.memory:
                    raise ModemError(f"modem refused to list stored SMS: {exc}") from exc
                log.warning("modem refused to list store %s: %s", memory, exc)
                continue
            listed.add(memory)
            listing = parse_listing(lines, memory)
            for item in listing.messages:
                slot = first_name.setdefault((item.slot.split(":", 1)[1], item.pdu), item.slot)
                if slot == item.slot:
                    found.append(item)
                elif memory not in self._aliases_logged:
                    self._aliases_logged.add(memory)
                    log.warning("store %s lists what %s holds (one memory under two names): read once",
                                memory, slot.split(":", 1)[0])
            saw_notice = self._pass_on(listing) or saw_notice
        self.listed = frozenset(listed)
        return found, saw_notice

    def _pass_on(self, listing: Listing) -> bool:
        """Notifications found inside a reply go the way of notifications; True if any."""
        for kind, slot in listing.notices:
            self._on_notify(kind, slot)
        for pdu in listing.te_reports:
            self._on_notify("CDS", pdu)
        return bool(listing.notices or listing.te_reports)

    @contextlib.contextmanager
    def _store(self, memory: str) -> Iterator[None]:
        """Point the modem at another store (``SR`` for status reports) for one command."""
        if memory != self.memory:
            self._write(f'AT+CPMS="{memory}"')
        try:
            yield
        finally:
            if memory != self.memory:
                try:
                    self._write(f'AT+CPMS="{self.memory}"')
                except (CommandError, ModemError):
                    pass

    def read_slot(self, slot: str) -> StoredPdu | None:
        """Read one slot (``SR:2`` for a status report a modem keeps apart), or None if empty."""
        memory, index = slot.split(":", 1)
        try:
            with self._store(memory):
                lines = self._write(f"AT+CMGR={index}")
        except CommandError:
            return None
        listing = parse_listing(lines, memory, single_slot=slot)
        self._pass_on(listing)
        return listing.messages[0] if listing.messages else None

    def delete(self, slot: str) -> None:
        """Delete one stored message; only ever called after it was committed."""
        memory, index = slot.split(":", 1)
        try:
            with self._store(memory):
                self._write(f"AT+CMGD={index}")
        except CmsError as exc:
            if exc.code == 321:  # invalid index: already gone
                return
            raise ModemError(f"modem refused to delete {slot}: {exc}") from exc
        except CommandError as exc:
            raise ModemError(f"modem refused to delete {slot}: {exc}") from exc

    def send_pdu(self, pdu_hex: str, tpdu_length: int) -> int:
        """Send one SMS part; returns the TP-MR from ``+CMGS``. Raises SendError."""
        modem = self._modem
        if modem is None:
            raise SendError("modem is not connected")
        try:
            modem.write(f"AT+CMGS={tpdu_length}", timeout=5, expectedResponseTermSeq="> ")
            lines = modem.write(pdu_hex, timeout=self.send_timeout, writeTerm=CTRL_Z)
        except CmsError as exc:
            if exc.code == NO_NETWORK:
                raise NoNetwork("CMS ERROR 331 (no network service)") from exc
            raise SendError(f"CMS ERROR {exc.code}", retryable=exc.code not in FINAL_CMS_ERRORS) from exc
        except CmeError as exc:
            raise SendError(f"CME ERROR {exc.code}") from exc
        except CommandError as exc:
            raise SendError(f"modem refused the SMS: {exc}") from exc
        except TimeoutException as exc:
            self._cancel_prompt()
            raise SendError("modem did not confirm the SMS (timeout)") from exc
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._fatal.set()
            raise SendError(f"modem port {self.port} failed while sending: {exc}") from exc
        for line in lines:
            match = CMGS_RE.match(line)
            if match:
                return int(match.group(1))
        raise SendError("modem answered without +CMGS")

    def _cancel_prompt(self) -> None:
        """After a timeout the modem may still wait at '> ': ESC aborts the half-sent SMS."""
        modem = self._modem
        try:
            if modem is not None:
                modem.write(ESC, waitForResponse=False, writeTerm="")
        except (serial.SerialException, OSError, AttributeError):
            self._fatal.set()

    def poll(self) -> ModemStatus:
        """Signal, registration, technology, operator and store use; ModemError if the modem is gone.

        Registered means any of ``+CREG``, ``+CGREG``, ``+CEREG`` says 1 (home) or 5
        (roaming): an LTE-only attach leaves ``+CREG`` at 0 and carries SMS over SGs or IMS.
        When the modem refuses all three, registration is unknown (None), never "no".
        """

        def first(command: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
            try:
                lines = self._write(command)
            except CommandError:
                return None
            for line in lines:
                match = pattern.match(line)
                if match:
                    return match
            return None

        csq = first("AT+CSQ", CSQ_RE)
        domains = {name: first(f"AT+{name}?", REG_RE) for name in ("CREG", "CGREG", "CEREG")}
        answered = {name: match.group(1) for name, match in domains.items() if match}
        cops = first("AT+COPS?", COPS_RE)
        cpms = first("AT+CPMS?", CPMS_RE)
        signal = int(csq.group(1)) if csq else None
        technology = ACT_GENERATION.get(cops.group(2)) if cops and cops.group(2) else None
        cell = self._serving_cell(first)
        return ModemStatus(
            signal=None if signal == 99 else signal,
            registered=any(stat in REGISTERED for stat in answered.values()) if answered else None,
            operator=(cops.group(1) or None) if cops else None,
            sim_used=int(cpms.group(1)) if cpms else None,
            sim_total=int(cpms.group(2)) if cpms else None,
            technology=cell.get("technology") or technology,
            rsrp=cell.get("rsrp"),
            rsrq=cell.get("rsrq"),
            registration=" ".join(f"{name} {stat}" for name, stat in answered.items()) or None,
            smsc=self.smsc,
        )

    def _serving_cell(self, first: Callable[[str, re.Pattern[str]], re.Match[str] | None]) -> dict:
        """Technology and LTE RSRP (dBm) / RSRQ (dB) from the profile's vendor command."""
        command = self.profile.serving_cell
        if command == "AT+CPSI?":  # LTE,Online,mcc-mnc,tac,cell,pci,band,earfcn,dl,ul,RSRQ,RSRP,RSSI,SNR
            match = first(command, CPSI_RE)
            if not match:
                return {}
            line = match.string
            fields = [f.strip() for f in line.split(":", 1)[1].split(",")]
            cell = {"technology": SYSTEM_GENERATION.get(fields[0].upper())}
            if fields[0].upper() == "LTE" and len(fields) >= 12:
                with contextlib.suppress(ValueError):
                    cell.update(rsrq=int(fields[10]) / 10, rsrp=round(int(fields[11]) / 10))
            return cell
        if command == "AT+QCSQ":
            match = first(command, QCSQ_RE)
            if not match:
                return {}
            cell = {"technology": SYSTEM_GENERATION.get(match.group(1).upper())}
            if match.group(1).upper() == "LTE" and match.group(3):
                cell.update(rsrp=int(match.group(3)), rsrq=float(match.group(5)))
            return cell
        if command == "AT^HCSQ?":
            match = first(command, HCSQ_RE)
            if not match:
                return {}
            cell = {"technology": SYSTEM_GENERATION.get(match.group(1).upper())}
            if match.group(1).upper() == "LTE" and match.group(3):
                cell.update(rsrp=int(match.group(3)) - 141, rsrq=int(match.group(5)) / 2 - 20)
            return cell
        return {}

    def network_time(self, default_zone: tzinfo = timezone(timedelta(hours=7))) -> datetime | None:
        """The modem's clock (``AT+CCLK?``), which most modems set from the network (NITZ).

        Returns an aware moment, or None when the modem gives none. Whether to believe it is
        the caller's call: a modem that never heard the network's time reports its power-on
        default (2000, 2004 or 2080 depending on the model). "+28" is the zone in quarter
        hours; a modem that leaves it out is taken to report ``default_zone``.
        """
        try:
            lines = self._write("AT+CCLK?")
        except CommandError:
            return None
        for line in lines:
            if line.startswith("+CCLK:"):
                return parse_clock(line[len("+CCLK:"):], default_zone)
        return None
