"""The AT command set of the emulated modem (27.007 / 27.005, SIM800/SIM7600 flavour).

Only parsing and answers live here; the wire, the thread and the "network" are in
`emulator.py`. `AtCommandSet` is a mixin so that each handler reads like the spec entry
it implements: `_at_csq(op, args) -> Reply`. It needs from its host class: `settings`,
`faults`, `signal`, `operator`, `own_number`, `_sim_ready()`, `_registered()`,
`_pump_network()`, `clock()`, `set_clock()`, `spec` (the `models.ModemModel`), `rsrp`,
`rsrq`, `network_time_on` and `curc`. The SMS commands are in `at_sms`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta, timezone

from gateway.modem.cclk import format_clock, parse_clock

logger = logging.getLogger(__name__)

VN_TZ = timezone(timedelta(hours=7))

# What AT+CLAC lists. No +WIND / +ZPAS / ^DTMF: python-gsmmodem would then switch to
# Wavecom/ZTE/Huawei call handling. +CSCS must be there or sendSms() cannot pick UCS2.
SUPPORTED = (
    "AT", "ATZ", "ATE", "ATI", "AT&F", "AT&W", "AT+CFUN", "AT+CMEE", "AT+CPIN", "AT+CLAC",
    "AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN", "AT+CIMI", "AT+CNUM", "AT+COPS", "AT+CREG",
    "AT+CSQ", "AT+CCLK", "AT+CSCS", "AT+CMGF", "AT+CSCA", "AT+CSMP", "AT+CPMS", "AT+CNMI",
    "AT+CMGL", "AT+CMGR", "AT+CMGD", "AT+CMGS", "AT+CLIP", "AT+CRC", "AT+CVHU", "AT+DDET",
)
CHARSETS = ("IRA", "GSM", "UCS2")
# Commands that need an unlocked SIM; the SMS ones answer +CMS ERROR: 311, others +CME: 11.
SMS_NEEDS_SIM = {"+CMGL", "+CMGR", "+CMGD", "+CMGS", "+CPMS", "+CSCA"}
NEEDS_SIM = {"+CIMI", "+CNUM"} | SMS_NEEDS_SIM

_EXTENDED = re.compile(r"([+^$#%*][A-Z0-9]+)(=\?|\?|=(.*))?$", re.IGNORECASE | re.DOTALL)
_BASIC = re.compile(r"(&?[A-Z])(\d*)", re.IGNORECASE)


@dataclass
class Reply:
    """Information lines plus a final result code ("OK", "ERROR", "+CMS ERROR: n", ...)."""

    lines: list[str] = field(default_factory=list)
    final: str = "OK"
    prompt: int | None = None  # AT+CMGS <length>: answer "> " and wait for the PDU instead

    @property
    def failed(self) -> bool:
        return self.final != "OK"


def ok(*lines: str) -> Reply:
    return Reply(list(lines))


def error() -> Reply:
    return Reply(final="ERROR")


def cme(code: int) -> Reply:
    return Reply(final=f"+CME ERROR: {code}")


def cms(code: int) -> Reply:
    return Reply(final=f"+CMS ERROR: {code}")


@dataclass
class AtSettings:
    """What ATZ and a power cycle put back: per-session settings, not the SIM's contents."""

    echo: bool = False
    cmee: int = 0
    cfun: int = 1
    cmgf: int = 0
    cnmi: tuple[int, ...] = (2, 1, 0, 2, 0)
    cscs: str = "GSM"
    csmp: str = "17,167,0,0"
    creg_n: int = 0
    cops_format: int = 0
    clip: int = 0
    crc: int = 0
    memories: tuple[str, str, str] = ("ME", "ME", "ME")


def split_args(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside double quotes, keeping the quotes (27.007 argument lists)."""
    parts, current, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unquote(arg: str) -> str:
    arg = arg.strip()
    return arg[1:-1] if len(arg) >= 2 and arg[0] == arg[-1] == '"' else arg


def split_commands(body: str) -> list[str] | None:
    """The commands of one line after its "AT": "E0", "+CMGF=0", ...; None if unparsable."""
    commands: list[str] = []
    for piece in split_args(body, ";"):
        piece = piece.strip()
        while piece and piece[0] not in "+^$#%*":
            match = _BASIC.match(piece)
            if not match:
                return None
            commands.append(match.group(0).upper())
            piece = piece[match.end():]
        if piece:
            commands.append(piece)
    return commands or [""]


def to_int(arg: str) -> int | None:
    try:
        return int(arg.strip())
    except ValueError:
        return None


class AtCommandSet:
    """Handlers for the AT commands the gateway and python-gsmmodem send."""

    manufacturer = "SIMCOM INCORPORATED"
    model = "SIMCOM_SIM7600E-H"
    revision = "Revision: SIM7600M22_V2.0 (TinBao emulator)"
    imei = "861234050000017"
    imsi = "452040000000017"

    def execute(self, command: str) -> Reply:
        """Run one command (no "AT" prefix, no terminator) and return its reply."""
        if command == "":
            return ok()
        match = _EXTENDED.match(command)
        if match:
            name = match.group(1).upper()
            op = "=?" if match.group(2) == "=?" else (match.group(2) or "")[:1]
            args = split_args(match.group(3)) if match.group(3) is not None else []
        else:
            basic = _BASIC.fullmatch(command)
            if not basic:
                return error()
            name, op, args = basic.group(1).upper(), "", [basic.group(2)]
        handler = getattr(self, "_at_" + re.sub(r"\W", "_", name.lower()), None)
        if handler is None:
            return error()
        if name in NEEDS_SIM and op != "=?" and not self._sim_ready():
            return cms(311) if name in SMS_NEEDS_SIM else cme(11)
        return handler(op, args)

    # --- basic commands -------------------------------------------------------------

    def _at_z(self, op: str, args: list[str]) -> Reply:
        self._reset_settings()
        return ok()

    _at__f = _at_z

    def _at__w(self, op: str, args: list[str]) -> Reply:
        return ok()

    def _at_e(self, op: str, args: list[str]) -> Reply:
        if args[0] not in ("", "0", "1"):
            return error()
        self.settings.echo = args[0] == "1"
        return ok()

    def _at_v(self, op: str, args: list[str]) -> Reply:
        return ok() if args[0] in ("", "1") else error()  # numeric results not emulated

    _at_q = _at_h = _at__w

    def _at_i(self, op: str, args: list[str]) -> Reply:
        return ok(self.manufacturer, self.model, self.revision)

    # --- identity and general --------------------------------------------------------

    def _at__cgmi(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.manufacturer)

    def _at__cgmm(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.model)

    def _at__cgmr(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.revision)

    def _at__cgsn(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.imei)

    def _at__cimi(self, op: str, args: list[str]) -> Reply:
        return ok() if op == "=?" else ok(self.imsi)

    def _at__cnum(self, op: str, args: list[str]) -> Reply:
        return ok(f'+CNUM: "","{self.own_number}",145') if self.own_number else ok()

    def _at__clac(self, op: str, args: list[str]) -> Reply:
        return ok(*SUPPORTED)  # one per line, as SIM800/SIM7600 do

    def _at__cfun(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CFUN: {self.settings.cfun}")
        if op == "=?":
            return ok("+CFUN: (0,1,4),(0,1)")
        value = to_int(args[0]) if args else None
        if value not in (0, 1, 4):
            return cme(50)
        self.settings.cfun = value
        self._pump_network()
        return ok()

    def _at__cmee(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CMEE: {self.settings.cmee}")
        if op == "=?":
            return ok("+CMEE: (0-2)")
        value = to_int(args[0]) if args and args[0] else 0
        if value not in (0, 1, 2):
            return error()
        self.settings.cmee = value
        return ok()

    def _at__cpin(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok("+CPIN: READY" if self._sim_ready() else "+CPIN: SIM PIN")
        if op == "=?":
            return ok()
        if self._sim_ready():
            return cme(3)  # no PIN is wanted right now
        if args and unquote(args[0]) == self.faults.pin:
            self._sim_unlocked = True
            self._pump_network()
            return ok()
        return cme(16)

    def _at__ccid(self, op: str, args: list[str]) -> Reply:
        return ok("89840400000000000017")

    _at__ddet = _at__cvhu = _at__w

    def _at__clip(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CLIP: {self.settings.clip},1")
        if args:
            self.settings.clip = to_int(args[0]) or 0
        return ok()

    def _at__crc(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            return ok(f"+CRC: {self.settings.crc}")
        if args:
            self.settings.crc = to_int(args[0]) or 0
        return ok()

    # --- network --------------------------------------------------------------------

    def _at__csq(self, op: str, args: list[str]) -> Reply:
        if op == "=?":
            return ok("+CSQ: (0-31,99),(0-7,99)")
        return ok(f"+CSQ: {self.signal},0" if self._registered() else "+CSQ: 99,99")

    def _registration(self, name: str, op: str, args: list[str]) -> Reply:
        """+CREG (circuit switched), +CGREG (GPRS/UMTS), +CEREG (LTE): 1 home, 2 searching, 0 not.

        An LTE-only attach leaves the circuit-switched domain at 0 (not searching) while the
        packet domains say 1, and SMS still go (SGs or IMS): what issue 8 saw on LTE modems.
        """
        if self.faults.registration_error:
            return error()
        if op == "?":
            off = self.settings.cfun != 1 or not self._sim_ready()
            if name == "+CREG" and self.spec.lte_only:
                stat = 0
            else:
                stat = 1 if self._registered() else 0 if off else 2
            return ok(f"{name}: {self.settings.creg_n},{stat}")
        if op == "=?":
            return ok(f"{name}: (0-2)")
        value = to_int(args[0]) if args else None
        if value not in (0, 1, 2):
            return error()
        self.settings.creg_n = value
        return ok()

    def _at__creg(self, op: str, args: list[str]) -> Reply:
        return self._registration("+CREG", op, args)

    def _at__cgreg(self, op: str, args: list[str]) -> Reply:
        return self._registration("+CGREG", op, args)

    def _at__cereg(self, op: str, args: list[str]) -> Reply:
        return self._registration("+CEREG", op, args) if self.spec.cereg else error()

    def _at__cops(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            if not self._registered():
                return ok("+COPS: 0")
            name = self.operator_numeric if self.settings.cops_format == 2 else self.operator
            return ok(f'+COPS: 0,{self.settings.cops_format},"{name}",{self.spec.act}')
        if op == "=?":
            return ok(f'+COPS: (2,"{self.operator}","{self.operator}","{self.operator_numeric}",7),,(0-4),(0-2)')
        if len(args) >= 2 and to_int(args[1]) in (0, 1, 2):
            self.settings.cops_format = to_int(args[1]) or 0
        return ok()

    # --- serving cell (vendor commands: the LTE signal, RSRP and RSRQ) -----------------

    def _at__cpsi(self, op: str, args: list[str]) -> Reply:
        """SIMCom: system mode, ..., RSRQ (0.1 dB), RSRP (0.1 dBm), RSSI (0.1 dBm), SNR."""
        if self.spec.serving_cell != "cpsi":
            return error()
        if op != "?":
            return ok()
        if not self._registered():
            return ok("+CPSI: NO SERVICE,Online")
        mcc_mnc = f"{self.operator_numeric[:3]}-{self.operator_numeric[3:]}"
        return ok(f"+CPSI: LTE,Online,{mcc_mnc},0x1A2B,27447297,310,EUTRAN-BAND3,1650,5,5,"
                  f"{self.rsrq * 10},{self.rsrp * 10},-545,15")

    def _at__qcsq(self, op: str, args: list[str]) -> Reply:
        """Quectel: "LTE", RSSI, RSRP, SINR, RSRQ (dBm and dB)."""
        if self.spec.serving_cell != "qcsq":
            return error()
        return ok(f'+QCSQ: "LTE",-55,{self.rsrp},195,{self.rsrq}' if self._registered() else '+QCSQ: "NOSERVICE"')

    def _at__hcsq(self, op: str, args: list[str]) -> Reply:
        """Huawei: "LTE", RSSI, RSRP, SINR, RSRQ as levels (RSRP = level-141 dBm, RSRQ = level/2-20 dB)."""
        if self.spec.serving_cell != "hcsq":
            return error()
        if not self._registered():
            return ok('^HCSQ: "NOSERVICE"')
        return ok(f'^HCSQ: "LTE",50,{self.rsrp + 141},120,{(self.rsrq + 20) * 2}')

    def _at__curc(self, op: str, args: list[str]) -> Reply:
        """Huawei: AT^CURC=0 stops the periodic ^RSSI/^MODE/^HCSQ reports."""
        if not self.spec.huawei_reports:
            return error()
        if op == "?":
            return ok(f"^CURC: {self.curc}")
        value = to_int(args[0]) if args else None
        if value not in (0, 1):
            return error()
        self.curc = value
        return ok()

    # --- network time ----------------------------------------------------------------

    def _network_time_switch(self, command: str, op: str, args: list[str]) -> Reply:
        """SIMCom AT+CLTS=1 / Quectel AT+CTZU=1: set the clock from the network (NITZ)."""
        if self.spec.network_time != command:
            return error()
        if op == "?":
            return ok(f"{command}: {int(self.network_time_on)}")
        if op == "=?":
            return ok(f"{command}: (0,1)")
        value = to_int(args[0]) if args else None
        if value not in (0, 1):
            return error()
        self.network_time_on = value == 1
        return ok()

    def _at__clts(self, op: str, args: list[str]) -> Reply:
        return self._network_time_switch("+CLTS", op, args)

    def _at__ctzu(self, op: str, args: list[str]) -> Reply:
        return self._network_time_switch("+CTZU", op, args)

    def _at__cclk(self, op: str, args: list[str]) -> Reply:
        if op == "?":
            if not self.network_time_on:
                return ok('+CCLK: "80/01/06,00:00:27+00"')  # power-on default: never heard the network
            return ok(f'+CCLK: "{format_clock(self.clock())}"')
        if op == "=?":
            return ok()
        moment = parse_clock(unquote(args[0]), VN_TZ) if args else None
        if moment is None:
            return cme(50)
        self.set_clock(moment)
        self.network_time_on = True  # set by hand: the clock is what the host says now
        return ok()

    def _reset_settings(self) -> None:
        """ATZ: back to the power-on profile, except the radio, which ATZ doesn't touch."""
        self.settings = AtSettings(echo=self.default_echo, cfun=self.settings.cfun)

