"""Reading what a modem answers: pure functions from AT reply lines to our types.

No serial port, no python-gsmmodem: the transport (``transport.py``) writes the commands and
hands the lines here, so every parser is tested with the lines real modems send
(MODEM_NOTES.md). What lives here:

- stored-message listings (``AT+CMGL``/``AT+CMGR``), told apart from the notifications a modem
  slips between their lines (``parse_listing``);
- a poll's answers (signal, registration in all three domains, operator, store use) into a
  ``ModemStatus`` (``modem_status``);
- the vendor serving-cell commands (technology, LTE RSRP/RSRQ), one registered parser per
  command: a modem profile names its command (``serving_cell = "AT+CPSI?"``) and
  ``SERVING_CELL_PARSERS`` holds the parser. Supporting another vendor's command is one
  function here::

      @serving_cell("AT+XCELL?")
      def _xcell(lines: list[str]) -> ServingCell:
          ...

- the network time (``AT+CCLK?``), the SMS centre (``AT+CSCA?``), a send's reference
  (``+CMGS``), and which ``+CMS ERROR`` codes are final.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from gateway.modem.cclk import parse_clock
from gateway.modem.types import ModemStatus, StoredPdu
from gateway.sms.pdu import for_log as pdu_for_log

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
REGISTRATION_DOMAINS = ("CREG", "CGREG", "CEREG")  # circuit, packet, EPS (LTE)
# What a poll asks, in this order; then the profile's serving-cell command, if any.
POLL_COMMANDS = ("AT+CSQ", *(f"AT+{name}?" for name in REGISTRATION_DOMAINS), "AT+COPS?", "AT+CPMS?")
NO_NETWORK = 331  # +CMS ERROR: no network service
# 27.007 <AcT> of +COPS? -> what the page shows. 8/9 are LTE-M and NB-IoT (LTE radio too).
ACT_GENERATION = {"0": "2G", "1": "2G", "3": "2G", "2": "3G", "4": "3G", "5": "3G", "6": "3G",
                  "7": "4G", "8": "4G", "9": "4G", "10": "4G", "13": "4G"}
SYSTEM_GENERATION = {"GSM": "2G", "EDGE": "2G", "GPRS": "2G", "WCDMA": "3G", "HSPA": "3G", "UMTS": "3G",
                     "TDSCDMA": "3G", "LTE": "4G", "CAT-M": "4G", "NB-IOT": "4G"}

# CMS errors that will not get better by trying again (27.005 §3.2.5): bad PDU or number,
# barred destination. Anything else (network out of order, unknown, memory) is retried.
FINAL_CMS_ERRORS = frozenset({1, 21, 28, 29, 50, 96, 97, 98, 99, 111, 112, 113, 202, 204, 205, 304, 305})


def first_match(lines: list[str], pattern: re.Pattern[str]) -> re.Match[str] | None:
    """The first line of a reply that ``pattern`` matches, or None."""
    for line in lines:
        match = pattern.match(line)
        if match:
            return match
    return None


# -- listings -----------------------------------------------------------------------------------


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
                log.warning("slot %s holds %s, not a PDU of %s octets: kept as undecodable",
                            pending[0], pdu_for_log(line), pending[2])
            result.messages.append(StoredPdu(pending[0], pending[1], line))
            pending = None
            continue
        notice = NOTIFY_RE.match(line)
        if notice:
            result.notices.append((notice.group(1), f"{notice.group(2)}:{notice.group(3)}"))
        elif CDS_RE.match(line):
            cds_next = True
        elif line not in ("OK",):
            log.debug("line inside a listing taken for a notification: %s", pdu_for_log(line))
    if pending is not None:
        result.headers_without_pdu.append(pending[0])
    if result.headers_without_pdu:
        log.warning("listing of %s: no PDU after the header of %s; left on the modem",
                    memory, ", ".join(result.headers_without_pdu))
    return result


# -- the serving cell: one parser per vendor command ----------------------------------------------


@dataclass(frozen=True, slots=True)
class ServingCell:
    """Technology ("2G"/"3G"/"4G") and, on LTE, RSRP (dBm) and RSRQ (dB); None when not said."""

    technology: str | None = None
    rsrp: int | None = None
    rsrq: float | None = None


#: The profile's ``serving_cell`` command -> the parser of its answer.
SERVING_CELL_PARSERS: dict[str, Callable[[list[str]], ServingCell]] = {}


def serving_cell(command: str) -> Callable[[Callable[[list[str]], ServingCell]], Callable[[list[str]], ServingCell]]:
    """Register the parser of one vendor's serving-cell command (the name a profile gives)."""

    def register(parser: Callable[[list[str]], ServingCell]) -> Callable[[list[str]], ServingCell]:
        SERVING_CELL_PARSERS[command] = parser
        return parser

    return register


@serving_cell("AT+CPSI?")
def _simcom_cpsi(lines: list[str]) -> ServingCell:
    """SIMCom: ``+CPSI: LTE,Online,mcc-mnc,tac,cell,pci,band,earfcn,dl,ul,RSRQ,RSRP,RSSI,SNR`` (tenths)."""
    match = first_match(lines, CPSI_RE)
    if not match:
        return ServingCell()
    fields = [f.strip() for f in match.string.split(":", 1)[1].split(",")]
    technology = SYSTEM_GENERATION.get(fields[0].upper())
    if fields[0].upper() == "LTE" and len(fields) >= 12:
        with contextlib.suppress(ValueError):
            return ServingCell(technology, rsrp=round(int(fields[11]) / 10), rsrq=int(fields[10]) / 10)
    return ServingCell(technology)


@serving_cell("AT+QCSQ")
def _quectel_qcsq(lines: list[str]) -> ServingCell:
    """Quectel: ``+QCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`` in dBm and dB."""
    match = first_match(lines, QCSQ_RE)
    if not match:
        return ServingCell()
    technology = SYSTEM_GENERATION.get(match.group(1).upper())
    if match.group(1).upper() == "LTE" and match.group(3):
        return ServingCell(technology, rsrp=int(match.group(3)), rsrq=float(match.group(5)))
    return ServingCell(technology)


@serving_cell("AT^HCSQ?")
def _huawei_hcsq(lines: list[str]) -> ServingCell:
    """Huawei: ``^HCSQ: "LTE",<rssi>,<rsrp>,<sinr>,<rsrq>`` as 3GPP levels (RSRP -141 + n, RSRQ n/2 - 20)."""
    match = first_match(lines, HCSQ_RE)
    if not match:
        return ServingCell()
    technology = SYSTEM_GENERATION.get(match.group(1).upper())
    if match.group(1).upper() == "LTE" and match.group(3):
        return ServingCell(technology, rsrp=int(match.group(3)) - 141, rsrq=int(match.group(5)) / 2 - 20)
    return ServingCell(technology)


# -- a poll ---------------------------------------------------------------------------------------


def modem_status(answers: Mapping[str, list[str]], serving_cell_command: str = "",
                 smsc: str | None = None) -> ModemStatus:
    """A poll's answers (command -> reply lines; a refused command has none) as a ``ModemStatus``.

    Registered means any of ``+CREG``, ``+CGREG``, ``+CEREG`` says 1 (home) or 5 (roaming): an
    LTE-only attach leaves ``+CREG`` at 0 and carries SMS over SGs or IMS. When the modem
    refused all three, registration is unknown (None), never "no".
    """
    csq = first_match(answers.get("AT+CSQ", []), CSQ_RE)
    domains = {name: first_match(answers.get(f"AT+{name}?", []), REG_RE) for name in REGISTRATION_DOMAINS}
    answered = {name: match.group(1) for name, match in domains.items() if match}
    cops = first_match(answers.get("AT+COPS?", []), COPS_RE)
    cpms = first_match(answers.get("AT+CPMS?", []), CPMS_RE)
    signal = int(csq.group(1)) if csq else None
    technology = ACT_GENERATION.get(cops.group(2)) if cops and cops.group(2) else None
    parser = SERVING_CELL_PARSERS.get(serving_cell_command)
    cell = parser(answers.get(serving_cell_command, [])) if parser else ServingCell()
    return ModemStatus(
        signal=None if signal == 99 else signal,
        registered=any(stat in REGISTERED for stat in answered.values()) if answered else None,
        operator=(cops.group(1) or None) if cops else None,
        sim_used=int(cpms.group(1)) if cpms else None,
        sim_total=int(cpms.group(2)) if cpms else None,
        technology=cell.technology or technology,
        rsrp=cell.rsrp,
        rsrq=cell.rsrq,
        registration=" ".join(f"{name} {stat}" for name, stat in answered.items()) or None,
        smsc=smsc,
    )


# -- single answers -------------------------------------------------------------------------------


def network_time(lines: list[str], default_zone: tzinfo = timezone(timedelta(hours=7))) -> datetime | None:
    """The moment an ``AT+CCLK?`` reply holds, or None (see ``cclk.parse_clock``)."""
    for line in lines:
        if line.startswith("+CCLK:"):
            return parse_clock(line[len("+CCLK:"):], default_zone)
    return None


def smsc_of(lines: list[str]) -> str | None:
    """The SMS centre an ``AT+CSCA?`` reply names, or None."""
    match = first_match(lines, SMSC_RE)
    return match.group(1) if match else None


def is_smsc_number(value: str) -> bool:
    """Could ``value`` (``modem.smsc``) be written with ``AT+CSCA``: digits with an optional +?"""
    return bool(SMSC_VALUE_RE.match(value))


def message_reference(lines: list[str]) -> int | None:
    """The TP-MR of a ``+CMGS: <mr>`` answer, or None when the modem gave none."""
    match = first_match(lines, CMGS_RE)
    return int(match.group(1)) if match else None


def cms_error_is_final(code: int) -> bool:
    """Will a send refused with ``+CMS ERROR: <code>`` fail again whatever we do?"""
    return code in FINAL_CMS_ERRORS
