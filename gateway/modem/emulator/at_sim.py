"""The SIM half of the emulated modem: USSD, identity, calls, and the line's refusals on send.

A mixin before ``at.AtCommandSet`` (its identity answers win); it needs from its host class
``line`` (a ``line.LineModel``), ``settings``, ``operator``, ``own_number``, ``clock()``,
``_lock``, ``_urcs``, ``_wake()``, ``deliver()`` and ``spec``. ``ModemEmulator._submit_locked``
asks ``_line_refusal()`` before accepting a part and calls ``_line_accepted(part)`` after.

Calls ring as a real modem rings: ``RING`` (``+CRING: VOICE`` after ``AT+CRC=1``) every
``interval`` seconds, each followed by ``+CLIP: "<number>",<type>,"",0,"",<validity>`` once the
host said ``AT+CLIP=1`` and the call carries the number (a hidden number: empty, validity 1),
until the host hangs up (``AT+CHUP`` or ``ATH``) or the caller gives up (``NO CARRIER``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from gateway import phone

from .at import SUPPORTED, Reply, cms, ok, unquote

logger = logging.getLogger(__name__)

SIM_COMMANDS = ("AT+CUSD", "AT+CCID", "AT+ICCID", "AT+CHUP")


@dataclass
class Call:
    """One incoming call as the emulator plays it; ``hung_up`` says the host ended it."""

    number: str
    clip: bool = True
    hidden: bool = False
    rings: int = 4
    interval: float = 1.0
    rung: int = 0
    hung_up: bool = False
    ended: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class SimCommandSet:
    """Handlers for the SIM's commands and the phone side of calls (see the module docstring)."""

    def _at__clac(self, op: str, args: list[str]) -> Reply:
        return ok(*SUPPORTED, *SIM_COMMANDS)

    # --- identity ----------------------------------------------------------------------

    def _at__ccid(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.line.iccid)

    def _at__iccid(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(f"+ICCID: {self.line.iccid}")

    def _at__cimi(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.line.imsi)

    def _at__cgsn(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.line.imei)

    # --- USSD --------------------------------------------------------------------------

    def _at__cusd(self, op: str, args: list[str]) -> Reply:
        if self.line.ussd == "unsupported":
            return cms(303) if self.settings.cmee else Reply(final="ERROR")
        if op == "?":
            return ok("+CUSD: 1")
        if op == "=?":
            return ok("+CUSD: (0-2)")
        mode = args[0].strip() if args else "0"
        if mode == "2" or len(args) < 2:  # cancel the session / only set the presentation
            return ok()
        if not self._sim_ready() or not self._registered():
            return Reply(final="+CME ERROR: 30")  # no network service
        code = unquote(args[1])
        self.line.ussd_requests += 1
        answer = self.line.cusd(self.operator, self.clock().date()) if code.endswith("#") else '+CUSD: 4'
        if self.line.ussd == "silent":
            return ok()
        if self.line.ussd == "before_ok":
            return ok(answer)
        self._urcs.append(f"\r\n{answer}\r\n".encode())
        self._wake()
        return ok()

    # --- calls -------------------------------------------------------------------------

    def _at__chup(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else self._hang_up()

    def _at_h(self, op: str, args: list[str]) -> Reply:
        return self._hang_up()

    def _hang_up(self) -> Reply:
        call = self.ringing
        if call is not None and not call.ended:
            call.hung_up = call.ended = True
            logger.info("emulator: call from %s hung up by the host after %d ring(s)", call.number, call.rung)
        self.ringing = None
        return ok()

    def call(self, number: str, *, clip: bool = True, hidden: bool = False, rings: int = 4,
             interval: float = 1.0) -> Call:
        """A phone rings the SIM: RING (+CLIP) every ``interval`` s until hung up or ``rings`` rang."""
        new = Call(number, clip=clip, hidden=hidden, rings=max(1, int(rings)), interval=float(interval))
        with self._lock:
            self.calls.append(new)
            self.ringing = new
        self._ring(new)
        return new

    def _ring(self, call: Call) -> None:
        with self._lock:
            if call.ended or self.ringing is not call:
                return
            if call.rung >= call.rings:  # the caller gives up: a missed call
                call.ended = True
                self.ringing = None
                self._urcs.append(b"\r\nNO CARRIER\r\n")
                self._wake()
                return
            call.rung += 1
            ring = "+CRING: VOICE" if self.settings.crc else "RING"
            self._urcs.append(f"\r\n{ring}\r\n".encode())
            if self.settings.clip and call.clip:
                if call.hidden or not call.number:
                    self._urcs.append(b'\r\n+CLIP: "",128,"",0,"",1\r\n')
                else:
                    kind = 145 if call.number.startswith("+") else 129
                    self._urcs.append(f'\r\n+CLIP: "{call.number}",{kind},"",0,"",0\r\n'.encode())
        self._wake()
        timer = threading.Timer(call.interval, self._ring, (call,))
        timer.daemon = True
        timer.start()

    # --- the line on send --------------------------------------------------------------

    def _line_refusal(self) -> Reply | None:
        code = self.line.refusal()
        return None if code is None else cms(code)

    def _line_accepted(self, destination: str, text: str) -> None:
        """A part went out: charge it, count it towards a bar, and loop it back if it was to ourselves."""
        self.line.accepted()
        own = phone.normalise(self.own_number or "")
        if self.line.loop and own.kind == "mobile" and phone.normalise(destination).value == own.value:
            timer = threading.Timer(self.line.loop_delay, self.deliver, (own.value, text))
            timer.daemon = True
            timer.start()

    # --- operator notices ----------------------------------------------------------------

    def operator_notice(self, topic: str, *, sender: str | None = None, accented: bool = True) -> str:
        """The operator texts the subscriber (``line.NOTICES``); returns the text sent."""
        from .line import NOTICE_SENDERS, _operator_key, notice_text

        text = notice_text(topic, self.line, self.clock().date(), accented)
        self.deliver(sender or NOTICE_SENDERS[_operator_key(self.operator)], text)
        return text
