"""The emulated modem's serial side: one thread that turns bytes in into replies out.

A `WireSession` lives as long as one plugged-in pty. Its thread polls the pty and a wake
pipe (no sleeps, so it keeps up with thousands of commands a second), answers each
command line with a single write, collects the PDU after "> ", and writes the pending
unsolicited codes only when no command is arriving or being answered, as a modem with
CNMI mode 2 buffers them while the link is busy.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import TYPE_CHECKING

from .at import Reply, ok, split_commands
from .pty import PtyPort

if TYPE_CHECKING:
    from .modem import ModemEmulator

logger = logging.getLogger(__name__)

CTRL_Z, ESC = 0x1A, 0x1B
_PDU_BYTES = frozenset(b"0123456789abcdefABCDEF \r\n")
_MAX_LINE = 4096
URC_WRITE_TIMEOUT = 0.5  # a host that reads nothing for this long has lost its URCs


class WireSession:
    """Serves one pty for `modem`; `close()` ends the thread and the pty."""

    def __init__(self, modem: ModemEmulator, port: PtyPort) -> None:
        self.modem = modem
        self.port = port
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._pipe_lock = threading.Lock()  # no wake() into a closed (maybe reused) fd
        self._closed = False
        self._rx = bytearray()
        self._prompt: int | None = None  # AT+CMGS length while waiting for the PDU
        self._next_urc_at = 0.0
        self._input_pending = select.poll()  # poll(0) on it: is a command arriving?
        self._input_pending.register(port.master, select.POLLIN)
        self._thread = threading.Thread(target=self._run, name="modem-emulator", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Make the thread look at URCs, reports and faults now."""
        with self._pipe_lock:
            if self._closed:
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass  # pipe full: it is awake anyway

    def close(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.port.close()
        with self._pipe_lock:
            self._closed = True
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)

    # --- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.port.master, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        try:
            while not self._stop.is_set():
                for fd, event in poller.poll(self._poll_timeout_ms()):
                    if fd == self._wake_r:
                        os.read(self._wake_r, 4096)
                    elif event & select.POLLIN:
                        self._rx += self.port.read()
                        self._process_input()
                    elif event & (select.POLLHUP | select.POLLERR):
                        self._stop.wait(0.05)  # unexpected while we hold the slave open
                if self._stop.is_set():
                    break
                self.modem._fire_due_reports()
                self._emit_urcs()
        except Exception:  # never die silently: a dead modem thread looks like a hung modem
            logger.exception("modem emulator reader crashed")

    def _poll_timeout_ms(self) -> int:
        due = self.modem._next_report_due()
        if self.modem._urcs and self.modem.urc_gap:
            due = min(due or self._next_urc_at, self._next_urc_at)
        if due is None:
            return -1
        return max(0, int((due - time.monotonic()) * 1000) + 1)

    def _process_input(self) -> None:
        while self._rx and not self._stop.is_set():
            if self.modem.faults.silent:
                self._rx.clear()
                self._prompt = None
                return
            if self._prompt is not None:
                if not self._read_submit():
                    return
                continue
            end = self._rx.find(b"\r")
            if end < 0:
                if len(self._rx) > _MAX_LINE:
                    self._rx.clear()
                return
            raw = bytes(self._rx[:end])
            del self._rx[:end + 1]
            line = raw.decode("latin-1").strip()
            if line[:2].upper() != "AT":
                if line:
                    logger.debug("ignored line without AT: %r", line)
                continue
            with self.modem._lock:
                echo = raw + b"\r" if self.modem.settings.echo else b""
                reply = self._run_line(line[2:])
                out = echo + self._render(reply)
            self._prompt = reply.prompt
            self.port.write(out)

    def _run_line(self, body: str) -> Reply:
        """All commands of one line (";"-chained), stopping at the first failure."""
        commands = split_commands(body)
        if commands is None:
            return Reply(final="ERROR")
        lines: list[str] = []
        for command in commands:
            reply = self.modem.execute(command)
            logger.debug("AT%s -> %s %s", command, reply.lines, reply.final)
            lines += reply.lines
            if reply.prompt is not None or reply.failed:
                return Reply(lines, reply.final, reply.prompt)
        return Reply(lines)

    def _read_submit(self) -> bool:
        """Collect the PDU after "> " up to Ctrl-Z (ESC cancels); False if more is needed."""
        for pos, byte in enumerate(self._rx):
            if byte in (CTRL_Z, ESC):
                break
            if byte not in _PDU_BYTES:
                # Not a PDU: the sender died mid-send and a new one is talking. Drop the
                # half PDU and re-read from its "AT", so the newcomer's ATZ is answered.
                at = pos and self._rx[pos - 1] in b"Aa" and byte in b"Tt"
                logger.warning("abandoned AT+CMGS: non-PDU byte %r", bytes([byte]))
                del self._rx[:pos - 1 if at else pos]
                self._prompt = None
                return True
        else:
            return False
        pdu_hex = bytes(self._rx[:pos]).decode("ascii").replace(" ", "").strip()
        del self._rx[:pos + 1]
        length, self._prompt = self._prompt, None
        if byte == ESC:
            reply = ok()
        else:
            if self.modem.faults.send_delay:
                self._stop.wait(self.modem.faults.send_delay)  # radio busy: so is the modem
            reply = self.modem._submit(pdu_hex, length or 0)
        with self.modem._lock:
            out = self._render(reply)
        self.port.write(out)
        return True

    def _render(self, reply: Reply) -> bytes:
        """One reply as bytes; a pending URC goes inside it if `cmti_mid_reply` is on."""
        if reply.prompt is not None:
            return b"\r\n> "
        modem = self.modem
        final = reply.final
        if final.startswith("+CME ERROR") and modem.settings.cmee == 0:
            final = "ERROR"
        out = ("".join(f"\r\n{line}" for line in reply.lines) + "\r\n").encode() if reply.lines else b""
        if modem.faults.cmti_mid_reply and modem._urcs:
            modem.faults.cmti_mid_reply -= 1
            out += modem._urcs.popleft()
        return out + f"\r\n{final}\r\n".encode()

    def _emit_urcs(self) -> None:
        """Write pending unsolicited codes, each on its own, never inside a reply."""
        modem = self.modem
        pending = self._input_pending
        while True:
            with modem._lock:
                if modem.faults.garbage_byte > 0:
                    modem.faults.garbage_byte -= 1
                    urc = b"\xff\r\n"
                elif (not modem._urcs or modem.faults.silent or modem.faults.cmti_mid_reply
                      or self._prompt is not None or self._rx or pending.poll(0)
                      or time.monotonic() < self._next_urc_at):
                    return  # a command is coming or being answered: it goes first
                else:
                    urc = modem._urcs.popleft()
                    self._next_urc_at = time.monotonic() + modem.urc_gap
            if not self.port.write(urc, timeout=URC_WRITE_TIMEOUT):
                with modem._lock:
                    logger.warning("host not reading: %d pending URCs lost", len(modem._urcs))
                    modem._urcs.clear()  # like a UART overrun; the SIM still has the SMS
                return
