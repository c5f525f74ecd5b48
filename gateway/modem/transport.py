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
What the modem answers is read by ``at_parse.py`` (pure functions of the reply lines): a
listing is parsed so that no line but a hex PDU of the announced length is ever taken for a
message (Huawei sticks slip ``^RSSI:17`` between a ``+CMGL:`` header and its PDU), and the
profile's serving-cell command is read by the parser registered under its name.

``ModemTransport`` is the python-gsmmodem ``Transport`` (``types.py``): the modem worker sees
only that protocol, and takes any other through its ``transport_factory``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
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

from gateway.errors import ModemError, ModemRefused, ModemUnavailable, NoNetwork, SendError
from gateway.modem import at_parse
from gateway.modem.at_parse import CDS_RE, HEX_RE, NOTIFY_RE, Listing, parse_listing
from gateway.modem.profiles import ModemProfile
from gateway.modem.types import ModemStatus, StoredPdu
from gateway.sim import lines as sim_lines

log = logging.getLogger(__name__)

CTRL_Z = "\x1a"
ESC = "\x1b"


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
        # Named after the port, as the modem worker is: two modems' log lines can be told apart.
        self.rxThread = threading.Thread(target=self._read_until_dead, name=f"modem-reader:{self.port}",
                                         daemon=True)
        self.rxThread.start()

    def _read_until_dead(self) -> None:
        """The library's read loop, and what it leaves undone when it ends.

        A byte it cannot decode kills its loop with an exception, and a failed port ends it
        after its own callback; either way a command waiting for its answer would wait out its
        whole timeout (30 s for a listing). So the end is reported and the waiting command
        released: ``ModemTransport._write`` then sees the failure and raises at once.
        """
        try:
            self._readLoop()
        except Exception as exc:  # noqa: BLE001 (anything that killed the library's reader)
            self.alive = False
            if self.fatalErrorCallback is not None:
                self.fatalErrorCallback(exc)
        finally:
            waiting = self._responseEvent
            if waiting is not None:
                waiting.set()

    def _readLoop(self) -> None:  # noqa: N802 - the library's name, overridden
        """The library's reader, reading what the port holds in one call instead of one byte
        per call: a pyserial read (and its select) per byte cost about 1.5 ms of CPU per SMS,
        half of the inbound budget. Lines are still cut and handed on byte by byte, exactly
        as the library does (a byte that is no text still ends it: ``_read_until_dead``);
        ``_unread`` counts the bytes of this read not yet handed on, for ``_handleLineRead``'s
        "is more of this notification on the way" rule."""
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
            elif sim_lines.kind_of(line):  # a call ringing, its caller's number, a USSD answer
                self._tinbao_notify(sim_lines.kind_of(line), line)
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
        commands = self.profile.start_commands + (("AT+CLIP=1",) if self.profile.calls else ())
        for command in commands:
            try:
                self._write(command)
            except CommandError as exc:
                log.warning("modem refused %s (profile %s): %s", command, self.profile.name, exc)
        if self.smsc_wanted:
            if at_parse.is_smsc_number(self.smsc_wanted):
                kind = 145 if self.smsc_wanted.startswith("+") else 129
                try:
                    self._write(f'AT+CSCA="{self.smsc_wanted}",{kind}')
                except CommandError as exc:
                    log.warning("modem refused modem.smsc %s: %s", self.smsc_wanted, exc)
            else:
                log.error("modem.smsc %r is not a number like +84980200030: the SIM's SMS centre is kept",
                          self.smsc_wanted)
        try:
            self.smsc = at_parse.smsc_of(self._write("AT+CSCA?"))
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
        name = command.split("=")[0]
        try:
            lines = modem.write(command, timeout=timeout or self.command_timeout, **kwargs)
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._fatal.set()
            raise ModemError(f"modem port {self.port} failed: {exc}") from exc
        except TimeoutException as exc:
            if self._fatal.is_set():
                raise ModemError(f"modem port {self.port} failed during {name}") from exc
            raise ModemError(f"modem did not answer {name}") from exc
        except (CommandError, IndexError) as exc:
            if self._fatal.is_set():  # released by a dying reader: no answer, whatever it looks like
                raise ModemError(f"modem port {self.port} failed during {name}") from exc
            raise
        if self._fatal.is_set():
            raise ModemError(f"modem port {self.port} failed during {name}")
        return lines

    def command(self, command: str, *, timeout: float | None = None) -> list[str]:
        """One AT command for the SIM area (USSD, identity, hang-up); its answer's lines.

        Raises ``ModemRefused`` when the modem answers ERROR, ``ModemError`` when it does not
        answer. A call or a USSD answer that came inside the reply goes the way of notifications.
        """
        try:
            lines = self._write(command, timeout=timeout)
        except CommandError as exc:
            raise ModemRefused(f"modem refused {command.split('=')[0]}: {exc}") from exc
        for line in lines:
            kind = sim_lines.kind_of(line.strip())
            if kind:
                self._on_notify(kind, line.strip())
        return lines

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
            if exc.code == at_parse.NO_NETWORK:
                raise NoNetwork("CMS ERROR 331 (no network service)") from exc
            raise SendError(f"CMS ERROR {exc.code}", retryable=not at_parse.cms_error_is_final(exc.code),
                            code=exc.code) from exc
        except CmeError as exc:
            raise SendError(f"CME ERROR {exc.code}") from exc
        except CommandError as exc:
            raise SendError(f"modem refused the SMS: {exc}") from exc
        except TimeoutException as exc:
            self._cancel_prompt()
            raise SendError("modem did not confirm the SMS (timeout)", timeout=True) from exc
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._fatal.set()
            raise SendError(f"modem port {self.port} failed while sending: {exc}") from exc
        reference = at_parse.message_reference(lines)
        if reference is None:
            raise SendError("modem answered without +CMGS")
        return reference

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

        The questions are ``at_parse.POLL_COMMANDS`` and the profile's serving-cell command; a
        refused one counts as no answer, and ``at_parse.modem_status`` reads the rest (an LTE-only
        attach is registered through ``+CEREG`` alone; every domain refused is unknown, not "no").
        """
        command = self.profile.serving_cell
        answers = {each: self._answer(each) for each in (*at_parse.POLL_COMMANDS, *([command] if command else []))}
        return at_parse.modem_status(answers, command, self.smsc)

    def _answer(self, command: str) -> list[str]:
        """The reply lines of one command, or none when the modem refused it (ERROR)."""
        try:
            return self._write(command)
        except CommandError:
            return []

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
        return at_parse.network_time(lines, default_zone)
