"""SMS PDUs (3GPP TS 23.040): encode SMS-SUBMIT for sending, decode whatever a modem hands us.

Our own codec rather than python-gsmmodem's ``decodeSmsPdu``, which misreads DCS group 1111
(F0-FF) as GSM-7 when bit 2 says 8-bit, reads user data past TP-UDL, breaks on emoji, has a
backtick where ``§`` belongs, and lets ValueError/StopIteration escape on bad input. Here every
decode failure is a :class:`gateway.errors.PduError`, so a loop draining the SIM can keep the
raw PDU and carry on.

The DELIVER and STATUS-REPORT encoders exist for the modem emulator and the tests: they build
what a GSM network would hand a modem.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gateway.errors import EncodingError, PduError
from gateway.sms import gsm7
from gateway.sms.segments import Encoding, SegmentPlan, plan

# Type-of-address octets (TS 23.040 9.1.2.5): bit 7 set, TON in bits 6-4, NPI in bits 3-0.
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN = 0x81
TOA_ALPHANUMERIC = 0xD0
_TON_INTERNATIONAL = 1
_TON_ALPHANUMERIC = 5

_MTI_NAMES = {0: "SMS-DELIVER", 1: "SMS-SUBMIT", 2: "SMS-STATUS-REPORT"}
_HEX = re.compile(r"[0-9A-Fa-f]*")
_DIGITS = re.compile(r"\+?[0-9]+")
# Semi-octet values 0xA-0xE in an address (TS 24.008 BCD number); 0xF is the filler.
_BCD_CHARS = "0123456789*#abc"
_MAX_ADDRESS_DIGITS = 20
_MAX_SMSC_OCTETS = 12
_MAX_USER_DATA = 140


@dataclass(frozen=True, slots=True)
class SubmitPdu:
    """One part of an outgoing message, ready for ``AT+CMGS=<tpdu_length>`` then ``hex``."""

    hex: str
    tpdu_length: int
    reference: int
    seq: int
    total: int
    text: str


@dataclass(frozen=True, slots=True)
class DecodedPdu:
    """What a PDU says. Fields that do not apply to its type are None.

    ``number`` is the sender (DELIVER), the destination (SUBMIT) or the recipient
    (STATUS-REPORT); "+" marks an international number, alphanumeric senders are plain text.
    ``encoding`` is "gsm7", "ucs2" or "8bit"; 8-bit user data is in ``data`` and ``text`` is
    None (we never guess a character set). ``concat`` is (reference, total, seq) from an 8- or
    16-bit concatenation IE; ``udh`` is the raw user data header without its length octet.
    ``time`` is TP-SCTS; ``discharge`` and ``status`` are TP-DT and TP-ST of a status report.
    ``tpdu_length`` counts the octets after the SMSC field, as ``+CMGR``/``AT+CMGS`` do.
    """

    type: str
    smsc: str | None
    number: str | None
    text: str | None = None
    data: bytes | None = None
    encoding: str | None = None
    time: datetime | None = None
    concat: tuple[int, int, int] | None = None
    reference: int | None = None
    status: int | None = None
    discharge: datetime | None = None
    request_status_report: bool | None = None
    udh: bytes | None = None
    ports: tuple[int, int] | None = None
    protocol_id: int | None = None
    dcs: int | None = None
    validity: timedelta | datetime | None = None
    tpdu_length: int = 0


# --------------------------------------------------------------------------- encoding


def encode_submit(
    number: str,
    text: str,
    *,
    reference: int,
    concat_ref: int = 0,
    request_status_report: bool = True,
    validity_hours: int | None = 24 * 3,
    segment_plan: SegmentPlan | None = None,
) -> list[SubmitPdu]:
    """SMS-SUBMIT PDUs for ``text``, one per part, using the SIM's default SMSC ("00").

    Part i gets TP-MR ``(reference + i) % 256``; python-gsmmodem raises above 255, we wrap.
    ``segment_plan`` is ``plan(text)`` when the caller has it already.
    """
    address = _encode_address(number, allow_alphanumeric=False)
    segment_plan = segment_plan or plan(text)
    total = segment_plan.count
    if total > 255:
        raise EncodingError(f"text needs {total} parts, more than 255")
    first = 0x01  # TP-MTI SMS-SUBMIT
    vp = b""
    if validity_hours is not None:
        first |= 0x10  # TP-VPF relative
        vp = bytes([_relative_validity(validity_hours)])
    if request_status_report:
        first |= 0x20
    if total > 1:
        first |= 0x40  # TP-UDHI
    dcs = 0x00 if segment_plan.encoding == "gsm7" else 0x08
    pdus = []
    for i, part in enumerate(segment_plan.parts):
        mr = (reference + i) % 256
        udh = _concat_ie(concat_ref, total, i + 1) if total > 1 else None
        udl, ud = _user_data(part, segment_plan.encoding, udh)
        tpdu = bytes([first, mr]) + address + bytes([0x00, dcs]) + vp + bytes([udl]) + ud
        pdus.append(SubmitPdu(("00" + tpdu.hex()).upper(), len(tpdu), mr, i + 1, total, part))
    return pdus


def encode_deliver(
    sender: str,
    text: str,
    *,
    timestamp: datetime,
    concat_ref: int | None = None,
    smsc: str = "+84980200030",
    encoding: Encoding | None = None,
) -> list[str]:
    """Full SMS-DELIVER PDUs (SMSC prefix included) as a network delivers ``text`` to a modem.

    ``sender`` may be +84..., national, a short code or alphanumeric ("VIETTEL").
    ``encoding`` ("gsm7" / "ucs2") forces the alphabet, e.g. to mimic a phone that always
    sends UCS-2. Multipart messages share ``concat_ref`` (random when None).
    """
    prefix = _encode_smsc(smsc)
    address = _encode_address(sender, allow_alphanumeric=True)
    scts = _encode_timestamp(timestamp)
    segment_plan = plan(text, encoding)
    total = segment_plan.count
    if total > 255:
        raise EncodingError(f"text needs {total} parts, more than 255")
    if concat_ref is None:
        concat_ref = random.randrange(256)
    dcs = 0x00 if segment_plan.encoding == "gsm7" else 0x08
    first = 0x04 | (0x40 if total > 1 else 0)  # SMS-DELIVER, TP-MMS: no more messages
    pdus = []
    for i, part in enumerate(segment_plan.parts):
        udh = _concat_ie(concat_ref, total, i + 1) if total > 1 else None
        udl, ud = _user_data(part, segment_plan.encoding, udh)
        tpdu = bytes([first]) + address + bytes([0x00, dcs]) + scts + bytes([udl]) + ud
        pdus.append((prefix + tpdu).hex().upper())
    return pdus


def encode_deliver_binary(
    sender: str, data: bytes, *, timestamp: datetime, smsc: str = "+84980200030"
) -> str:
    """One 8-bit (DCS 0x04) SMS-DELIVER, like an operator's configuration or WAP message."""
    if len(data) > _MAX_USER_DATA:
        raise EncodingError(f"binary SMS holds {_MAX_USER_DATA} octets, got {len(data)}")
    tpdu = (
        bytes([0x04])
        + _encode_address(sender, allow_alphanumeric=True)
        + bytes([0x00, 0x04])
        + _encode_timestamp(timestamp)
        + bytes([len(data)])
        + data
    )
    return (_encode_smsc(smsc) + tpdu).hex().upper()


def encode_status_report(
    reference: int,
    recipient: str,
    *,
    sent: datetime,
    done: datetime,
    status: int = 0,
    smsc: str = "+84980200030",
) -> str:
    """SMS-STATUS-REPORT for the message sent with TP-MR ``reference`` (0 = delivered)."""
    if not 0 <= status <= 255:
        raise ValueError("status must be 0..255")
    tpdu = (
        bytes([0x06, reference % 256])  # SMS-STATUS-REPORT, TP-MMS
        + _encode_address(recipient, allow_alphanumeric=False)
        + _encode_timestamp(sent)
        + _encode_timestamp(done)
        + bytes([status])
    )
    return (_encode_smsc(smsc) + tpdu).hex().upper()


def _concat_ie(ref: int, total: int, seq: int) -> bytes:
    """Concatenation IE with an 8-bit reference: the 6-octet UDH the 153/67 limits assume."""
    return bytes([0x00, 0x03, ref % 256, total, seq])


@functools.lru_cache(maxsize=512)
def _user_data(text: str, encoding: str, udh: bytes | None) -> tuple[int, bytes]:
    """(TP-UDL, TP-UD) for one part; UDL counts septets for GSM-7, octets otherwise.

    Cached: the gateway sends the same menu texts to many numbers.
    """
    header = bytes([len(udh)]) + udh if udh else b""
    if encoding == "gsm7":
        septets = gsm7.to_septets(text)
        header_septets = (len(header) * 8 + 6) // 7
        fill = header_septets * 7 - len(header) * 8
        return header_septets + len(septets), header + gsm7.pack_septets(septets, fill)
    payload = text.encode("utf-16-be", "surrogatepass")
    return len(header) + len(payload), header + payload


@functools.lru_cache(maxsize=256)
def _encode_address(number: str, *, allow_alphanumeric: bool) -> bytes:
    """TP-OA/DA/RA: digit count (or useful semi-octets), type of address, semi-octets.

    Cached: a villager's menu conversation and every duty alert go to the same few numbers,
    about 4 µs each to swap into semi-octets again.
    """
    if _DIGITS.fullmatch(number):
        toa = TOA_INTERNATIONAL if number.startswith("+") else TOA_UNKNOWN
        digits = number.lstrip("+")
        if len(digits) > _MAX_ADDRESS_DIGITS:
            raise EncodingError(f"number too long: {number!r}")
        return bytes([len(digits), toa]) + _semi_octets(digits)
    if not allow_alphanumeric:
        raise EncodingError(f"not a phone number: {number!r}")
    if not number or len(number) > 11 or not gsm7.is_gsm7(number):
        raise EncodingError(f"not a usable alphanumeric sender: {number!r}")
    septets = gsm7.to_septets(number)
    packed = gsm7.pack_septets(septets)
    return bytes([(len(septets) * 7 + 3) // 4, TOA_ALPHANUMERIC]) + packed


def _encode_smsc(smsc: str | None) -> bytes:
    """SMSC prefix: length in octets (type octet included), or a single 00 for "use the SIM's"."""
    if not smsc:
        return b"\x00"
    if not _DIGITS.fullmatch(smsc):
        raise EncodingError(f"not an SMSC number: {smsc!r}")
    toa = TOA_INTERNATIONAL if smsc.startswith("+") else TOA_UNKNOWN
    body = bytes([toa]) + _semi_octets(smsc.lstrip("+"))
    return bytes([len(body)]) + body


def _semi_octets(digits: str) -> bytes:
    """Swapped-nibble BCD, F-padded: "84912" -> 48 19 F2."""
    if len(digits) % 2:
        digits += "F"
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2)))


def _encode_timestamp(when: datetime) -> bytes:
    """TP-SCTS: 6 swapped-BCD octets plus the time zone in quarter-hours (Vietnam: +28)."""
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("timestamp must be timezone-aware")
    quarters = round(offset.total_seconds() / 900)
    if abs(quarters) > 79:
        raise ValueError("time zone offset out of range")
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    tz = ((abs(quarters) % 10) << 4) | (abs(quarters) // 10)
    out.append(tz | (0x08 if quarters < 0 else 0))
    return bytes(out)


def _relative_validity(hours: int) -> int:
    """TP-VP relative octet for at least ``hours`` (72 h -> 0xA9), capped at 63 weeks."""
    if hours <= 0:
        raise ValueError("validity_hours must be positive")
    if hours <= 12:
        return hours * 12 - 1
    if hours <= 24:
        return 143 + (hours - 12) * 2
    days = -(-hours // 24)
    if days <= 30:
        return 166 + days
    return min(192 + -(-days // 7), 255)


# --------------------------------------------------------------------------- decoding


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC part: the <length> of ``AT+CMGS`` / ``+CMGR`` / ``+CMGL``."""
    return decode(pdu_hex).tpdu_length


def decode(pdu_hex: str, *, has_smsc: bool = True) -> DecodedPdu:
    """Decode a PDU as a modem prints it. Raises PduError, and only PduError, when malformed.

    TP-UDL is the truth: octets after the user data (SIM padding, garbage) are ignored, and
    user data shorter than TP-UDL says is an error rather than a guess.
    """
    if not isinstance(pdu_hex, str):
        raise PduError("PDU must be a hex string")
    pdu_hex = pdu_hex.strip()
    if not pdu_hex or not _HEX.fullmatch(pdu_hex) or len(pdu_hex) % 2:
        raise PduError("PDU is not an even-length hex string")
    reader = _Reader(bytes.fromhex(pdu_hex))
    smsc = _read_smsc(reader) if has_smsc else None
    start = reader.pos
    first = reader.octet("first octet")
    mti = first & 0x03
    if mti == 0:
        fields = _decode_deliver(reader, first)
    elif mti == 1:
        fields = _decode_submit(reader, first)
    elif mti == 2:
        fields = _decode_status_report(reader)
    else:
        raise PduError("reserved TP-MTI 3")
    return DecodedPdu(
        type=_MTI_NAMES[mti], smsc=smsc, tpdu_length=len(reader.data) - start, **fields
    )


class _Reader:
    """Bytes with a cursor; running off the end is a PduError, never an IndexError."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"PDU ends before {what}")
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise PduError(f"PDU ends inside {what}")
        self.pos += n
        return self.data[self.pos - n : self.pos]


def _decode_deliver(r: _Reader, first: int) -> dict:
    number = _read_address(r, "originating address")
    pid = r.octet("TP-PID")
    dcs = r.octet("TP-DCS")
    scts = _read_timestamp(r, "TP-SCTS")
    user_data = _read_user_data(r, first, dcs)
    return dict(number=number, protocol_id=pid, dcs=dcs, time=scts, **user_data)


def _decode_submit(r: _Reader, first: int) -> dict:
    reference = r.octet("TP-MR")
    number = _read_address(r, "destination address")
    pid = r.octet("TP-PID")
    dcs = r.octet("TP-DCS")
    validity = _read_validity(r, (first >> 3) & 0x03)
    return dict(
        number=number,
        reference=reference,
        protocol_id=pid,
        dcs=dcs,
        validity=validity,
        request_status_report=bool(first & 0x20),
        **_read_user_data(r, first, dcs),
    )


def _decode_status_report(r: _Reader) -> dict:
    # TP-PI and the optional PID/DCS/UD after TP-ST are ignored: SIMs pad this record with FF,
    # which would read as "everything present".
    reference = r.octet("TP-MR")
    number = _read_address(r, "recipient address")
    scts = _read_timestamp(r, "TP-SCTS")
    discharge = _read_timestamp(r, "TP-DT")
    status = r.octet("TP-ST")
    return dict(number=number, reference=reference, time=scts, discharge=discharge, status=status)


def _read_smsc(r: _Reader) -> str | None:
    length = r.octet("SMSC length")
    if length == 0:
        return None
    if length > _MAX_SMSC_OCTETS:
        raise PduError(f"SMSC field of {length} octets")
    body = r.take(length, "SMSC address")
    toa = body[0]
    if not toa & 0x80:
        raise PduError(f"bad SMSC type of address {toa:02X}")
    if length == 1:
        return None
    return _address_text(toa, body[1:], 2 * (length - 1))


def _read_address(r: _Reader, what: str) -> str | None:
    digits = r.octet(what)
    toa = r.octet(what)
    if not toa & 0x80:
        raise PduError(f"bad type of address {toa:02X} in {what}")
    if digits > _MAX_ADDRESS_DIGITS:
        raise PduError(f"{what} of {digits} digits")
    body = r.take((digits + 1) // 2, what)
    if digits == 0:
        return None
    return _address_text(toa, body, digits)


def _address_text(toa: int, body: bytes, semi_octets: int) -> str:
    ton = (toa >> 4) & 0x07
    if ton == _TON_ALPHANUMERIC:
        try:
            return gsm7.from_septets(gsm7.unpack_septets(body, semi_octets * 4 // 7))
        except ValueError as exc:
            raise PduError(f"bad alphanumeric address: {exc}") from None
    nibbles = []
    for octet in body:
        nibbles.append(octet & 0x0F)
        nibbles.append(octet >> 4)
    nibbles = nibbles[:semi_octets]
    # Filler at the end is dropped: the SMSC field counts octets, not digits, and some encoders
    # (python-gsmmodem's own test vector babca-pdu-8) count the filler as a digit.
    while nibbles and nibbles[-1] == 0x0F:
        nibbles.pop()
    if 0x0F in nibbles:
        raise PduError("filler semi-octet inside a number")
    number = "".join(_BCD_CHARS[n] for n in nibbles)
    return "+" + number if ton == _TON_INTERNATIONAL else number


def _bcd(octet: int, what: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise PduError(f"bad BCD {octet:02X} in {what}")
    return low * 10 + high


def _read_timestamp(r: _Reader, what: str) -> datetime:
    raw = r.take(7, what)
    year, month, day, hour, minute, second = (_bcd(b, what) for b in raw[:6])
    # Two-digit year: no SMSC stamped a message before 1990, and gammu's corpus has a 1999 one.
    year += 1900 if year >= 90 else 2000
    # The zone is read leniently (units nibble may exceed 9): a ZTE modem was seen writing C2
    # and losing a delivery report over it would be worse than an odd offset.
    tz = raw[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    if tz & 0x08:
        quarters = -quarters
    try:
        return datetime(
            year, month, day, hour, minute, second,
            tzinfo=timezone(timedelta(minutes=15 * quarters)),
        )
    except ValueError as exc:
        raise PduError(f"bad {what}: {exc}") from None


def _read_validity(r: _Reader, vpf: int) -> timedelta | datetime | None:
    if vpf == 0:
        return None
    if vpf == 2:
        return _relative_to_timedelta(r.octet("TP-VP"))
    if vpf == 3:
        return _read_timestamp(r, "TP-VP")
    enhanced = r.take(7, "enhanced TP-VP")  # TS 23.040 9.2.3.12.3
    form = enhanced[0] & 0x07
    if form == 1:
        return _relative_to_timedelta(enhanced[1])
    if form == 2:
        return timedelta(seconds=enhanced[1])
    if form == 3:
        h, m, s = (_bcd(b, "enhanced TP-VP") for b in enhanced[1:4])
        return timedelta(hours=h, minutes=m, seconds=s)
    return None


def _relative_to_timedelta(vp: int) -> timedelta:
    if vp <= 143:
        return timedelta(minutes=(vp + 1) * 5)
    if vp <= 167:
        return timedelta(hours=12, minutes=(vp - 143) * 30)
    if vp <= 196:
        return timedelta(days=vp - 166)
    return timedelta(weeks=vp - 192)


def _alphabet(dcs: int) -> str:
    """TS 23.038 section 4: which alphabet a DCS octet means.

    Group 1111 uses bit 2 for 8-bit data (python-gsmmodem gets this wrong). Reserved codings
    are read as GSM-7, as the spec tells receivers to; compressed text is refused.
    """
    if dcs < 0x80:  # general data coding (00xx) and automatic deletion (01xx)
        if dcs & 0x20:
            raise PduError(f"compressed user data (DCS {dcs:02X}) is not supported")
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if 0xE0 <= dcs <= 0xEF:  # message waiting, store, UCS-2
        return "ucs2"
    if dcs >= 0xF0:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"  # reserved groups 1000-1011, message waiting 1100/1101


def _read_user_data(r: _Reader, first: int, dcs: int) -> dict:
    encoding = _alphabet(dcs)
    udl = r.octet("TP-UDL")
    size = (udl * 7 + 7) // 8 if encoding == "gsm7" else udl
    ud = r.take(size, f"user data (TP-UDL {udl})")
    header = b""
    if first & 0x40 and ud:  # TP-UDHI; an empty UD with UDHI set is read as an empty message
        header_length = ud[0] + 1
        if header_length > size:
            raise PduError("user data header longer than the user data")
        header = ud[:header_length]
    fields = _read_udh(header[1:]) if header else {}
    if encoding == "gsm7":
        header_septets = (len(header) * 8 + 6) // 7
        count = udl - header_septets
        if count < 0:
            raise PduError("user data header longer than TP-UDL")
        fill = header_septets * 7 - len(header) * 8
        try:
            text = gsm7.from_septets(gsm7.unpack_septets(ud[len(header) :], count, fill))
        except ValueError as exc:
            raise PduError(f"bad GSM-7 user data: {exc}") from None
        return dict(text=text, encoding=encoding, **fields)
    payload = ud[len(header) :]
    if encoding == "8bit":
        return dict(data=payload, encoding=encoding, **fields)
    if len(payload) % 2:
        raise PduError("odd number of octets in UCS-2 user data")
    # UTF-16 so emoji (surrogate pairs) decode; a lone surrogate (a pair split across parts
    # by a sloppy sender) becomes U+FFFD, since a lone surrogate cannot be stored as UTF-8.
    return dict(text=payload.decode("utf-16-be", "replace"), encoding=encoding, **fields)


def _read_udh(udh: bytes) -> dict:
    """Concatenation (IEI 00, 08) and port (04, 05) IEs; others are kept only in ``udh``."""
    concat = None
    ports = None
    i = 0
    while i < len(udh):
        if i + 2 > len(udh):
            raise PduError("truncated information element in user data header")
        iei, length = udh[i], udh[i + 1]
        ie = udh[i + 2 : i + 2 + length]
        if len(ie) < length:
            raise PduError("truncated information element in user data header")
        i += 2 + length
        if iei == 0x00 and length == 3:
            candidate = (ie[0], ie[1], ie[2])
        elif iei == 0x08 and length == 4:
            candidate = ((ie[0] << 8) | ie[1], ie[2], ie[3])
        elif iei == 0x04 and length == 2:
            ports = (ie[0], ie[1])
            continue
        elif iei == 0x05 and length == 4:
            ports = ((ie[0] << 8) | ie[1], (ie[2] << 8) | ie[3])
            continue
        else:
            continue
        # TS 23.040 9.2.3.24.1: a concatenation IE with total 0 or seq outside 1..total is
        # ignored, so the part is treated as a message of its own.
        if 1 <= candidate[2] <= candidate[1]:
            concat = candidate
    return dict(udh=udh, concat=concat, ports=ports)


_LOG_HEX = re.compile(r"[0-9A-Fa-f]{12,}")
_LOG_DIGITS = re.compile(r"\d{5,}")
LOG_CHARS = 80


def for_log(line: str) -> str:
    """A line from the modem as a log may show it: never a number inside it.

    A PDU holds the sender's number in swapped BCD (``0912345678`` is ``9021436587``), so a
    run of hex is shown only by its size (``<hex: 48 octets>``), never its digits; any other
    long run of digits (text mode, a garbled line) keeps only its last two. The rest, cut to
    ``LOG_CHARS``, is shown as ``repr`` would (control characters visible). DESIGN.md rule 6:
    numbers are masked wherever a full number is not needed, the logs included.
    """
    shown = _LOG_HEX.sub(lambda m: f"<hex: {len(m.group()) // 2} octets>", line)
    shown = _LOG_DIGITS.sub(lambda m: "*" * (len(m.group()) - 2) + m.group()[-2:], shown)
    return repr(shown[:LOG_CHARS] + ("…" if len(shown) > LOG_CHARS else ""))
