"""The only module that speaks python-gsmmodem: AT commands over pyserial, in PDU mode.

The rest of the gateway sees a tiny interface (RapidSMS's backend idea): ``connect()``,
``list_stored()``, ``delete()``, ``send_pdu()``, ``poll()``, ``alive``, ``close()``. This
module maps the library's camelCase and its exceptions (``TimeoutException``, ``CmsError``,
``CmeError``, ``PinRequiredError``, pyserial's ``SerialException``) to ours.

It deliberately bypasses three library behaviours that lose or duplicate messages
(MODEM_NOTES.md): the library's ``+CMTI`` handler (reads, calls back, deletes, and misses the
second of two notifications), ``processStoredSms`` (deletes before the callback) and its
text encoder (raises on emoji, mis-maps ``§``). Notifications here only wake the worker,
which drains the whole store: list, commit, then delete.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Callable, Iterator

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
from gateway.modem.types import ModemStatus, StoredPdu

log = logging.getLogger(__name__)

CMGL_RE = re.compile(r"^\+CMGL:\s*(\d+),\s*(\d+),")
CMGR_RE = re.compile(r"^\+CMGR:\s*(\d*),")
CMGS_RE = re.compile(r"^\+CMGS:\s*(\d+)")
CSQ_RE = re.compile(r"^\+CSQ:\s*(\d+),")
CREG_RE = re.compile(r"^\+CREG:\s*\d+,\s*(\d+)")
COPS_RE = re.compile(r'^\+COPS:\s*\d+(?:,\s*\d+,\s*"([^"]*)")?')
CPMS_RE = re.compile(r'^\+CPMS:\s*"?[A-Z]*"?,\s*(\d+),\s*(\d+)')
NOTIFY_RE = re.compile(r'^\+(CMTI|CDSI):\s*"([^"]*)",\s*(\d+)')
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
            port=self.port, baudrate=self.baudrate, timeout=self.timeout,
            rtscts=self.rtscts, dsrdtr=self.dsrdtr, *self.com_args, **self.com_kwargs,
        )
        self.alive = True
        self.rxThread = threading.Thread(target=self._readLoop, daemon=True)
        self.rxThread.start()


class _Modem(GsmModem, _Comms):
    """python-gsmmodem's modem with its notification handling replaced by a wake-up call.

    The library starts a thread per notification and reads/deletes SMS itself; here the
    reader thread only reports which store slots were announced, and the worker drains.
    """

    def __init__(self, *args, on_notify: Callable[[str, str], None], rtscts: bool = True,
                 dsrdtr: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._tinbao_notify = on_notify
        self.rtscts = rtscts
        self.dsrdtr = dsrdtr

    def _handleModemNotification(self, lines: list[str]) -> None:  # noqa: N802 (library name)
        for line in lines:
            match = NOTIFY_RE.match(line)
            if match:
                self._tinbao_notify(match.group(1), f"{match.group(2)}:{match.group(3)}")
            elif line.startswith("+CDS"):
                self._tinbao_notify("CDS", "")
            else:
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
    ) -> None:
        self.port = port
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
        )
        modem.fatalErrorCallback = self._on_fatal
        try:
            modem.connect(pin=self.pin)
        except serial.SerialException as exc:
            self._close_quietly(modem)
            text = str(exc)
            if "No such file" in text or "could not open port" in text and "Errno 2" in text:
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
        log.info("modem connected on %s (store %s)", self.port, self.memory)

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
            return modem.write(command, timeout=timeout or self.command_timeout, **kwargs)
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._fatal.set()
            raise ModemError(f"modem port {self.port} failed: {exc}") from exc
        except TimeoutException as exc:
            raise ModemError(f"modem did not answer {command.split('=')[0]}") from exc

    def list_stored(self) -> tuple[list[StoredPdu], bool]:
        """Every message in the store, without deleting (``AT+CMGL=4``).

        Returns the messages and whether a ``+CMTI`` was swallowed inside the reply (then the
        caller drains again at once: python-gsmmodem gives such a line to the command).
        """
        try:
            lines = self._write("AT+CMGL=4", timeout=max(self.command_timeout, 30))
        except CommandError as exc:
            raise ModemError(f"modem refused to list stored SMS: {exc}") from exc
        found: list[StoredPdu] = []
        saw_notice = False
        pending: tuple[int, int] | None = None
        for line in lines:
            if pending is not None:
                found.append(StoredPdu(f"{self.memory}:{pending[0]}", pending[1], line.strip()))
                pending = None
                continue
            match = CMGL_RE.match(line)
            if match:
                pending = (int(match.group(1)), int(match.group(2)))
            elif NOTIFY_RE.match(line):
                saw_notice = True
        return found, saw_notice

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
        for i, line in enumerate(lines):
            match = CMGR_RE.match(line)
            if match and i + 1 < len(lines):
                stat = int(match.group(1)) if match.group(1) else 0
                return StoredPdu(slot, stat, lines[i + 1].strip())
        return None

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
        """Signal, registration, operator and store use; raises ModemError if the modem is gone."""

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
        creg = first("AT+CREG?", CREG_RE)
        cops = first("AT+COPS?", COPS_RE)
        cpms = first("AT+CPMS?", CPMS_RE)
        signal = int(csq.group(1)) if csq else None
        return ModemStatus(
            signal=None if signal == 99 else signal,
            registered=bool(creg and creg.group(1) in ("1", "5")),
            operator=(cops.group(1) or None) if cops else None,
            sim_used=int(cpms.group(1)) if cpms else None,
            sim_total=int(cpms.group(2)) if cpms else None,
        )

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
