"""USSD credit replies: from a ``+CUSD`` line to the balance in VND and the validity date.

Pure functions, no modem and no clock. Modems hand a USSD reply back in three forms,
whatever the network sent (27.007 ``+CUSD: <m>[,<str>,<dcs>]``, 23.038 data coding):

- plain text, the modem having converted the GSM alphabet to its character set (``dcs`` 15);
- GSM 7-bit **packed** octets in hex (Huawei sticks and some Quectel firmware, ``dcs`` 15);
- UCS-2 in hex (``dcs`` 72, 0x48), which is how accented Vietnamese arrives;
- ``dcs`` 68 (0x44, "8-bit data"): networks put UCS-2 octets there too, so it is read as
  UCS-2 when the octets are UCS-2 text, else as 8-bit text.

The operators' wording changes often and comes accented or not ("TKC 25.300đ, HSD
15/03/2027", "Tai khoan chinh cua Quy khach la 48000 dong, han su dung den 20/05/2027"), so
the parser folds the text (no diacritics, lower case) and looks for an amount near the words
for the main account and a date near the words for validity; it never guesses between two
amounts: a reply it cannot read is kept as it came, for the officer to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from gateway.sms import gsm7
from gateway.sms.text import fold

#: Balance codes by operator, as the network names itself in ``AT+COPS?`` (folded, no spaces).
OPERATOR_CODES = {
    "viettel": "*101#",
    "vinaphone": "*101#",
    "vnpt": "*101#",
    "mobifone": "*101#",
    "vietnamobile": "*101#",
    "gmobile": "*101#",
    "itel": "*101#",
}
DEFAULT_CODE = "*101#"

CUSD_RE = re.compile(r'^\+CUSD:\s*(\d)(?:\s*,\s*"(.*)"\s*(?:,\s*(\d+))?)?\s*$', re.S)
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})+$")


def code_for(operator: str | None, configured: str = "") -> str:
    """``sim.balance_ussd`` when set, else the operator's own code (``*101#`` for the big three)."""
    if configured:
        return configured
    name = re.sub(r"[^a-z]", "", fold(operator or ""))
    for key, code in OPERATOR_CODES.items():
        if key in name:
            return code
    return DEFAULT_CODE


@dataclass(frozen=True, slots=True)
class UssdReply:
    """One ``+CUSD`` line: ``mode`` (0 done, 1 more asked, 2 ended by the network, 4 not
    supported, 5 timed out), the text decoded, and the ``dcs`` it came with."""

    mode: int
    text: str
    dcs: int | None


def parse_cusd(line: str) -> UssdReply | None:
    """``+CUSD: 0,"...",15`` → its parts, the text decoded; None when the line is not one."""
    match = CUSD_RE.match(line.strip())
    if not match:
        return None
    dcs = int(match.group(3)) if match.group(3) else None
    raw = match.group(2) or ""
    return UssdReply(int(match.group(1)), decode(raw, dcs), dcs)


def decode(raw: str, dcs: int | None) -> str:
    """The reply's text, whatever form the modem gave it in (see the module docstring)."""
    text = raw.strip()
    if not text or not _HEX.match(text):
        return raw
    group = (dcs or 0) >> 4
    alphabet = ((dcs or 0) >> 2) & 0x03 if group in (0x04, 0x05, 0x06, 0x07, 0x09) else None
    octets = bytes.fromhex(text)
    if dcs == 0x11 or alphabet == 0x02:  # UCS-2 (0x48 = 72; 0x11: UCS-2 with a language)
        return _ucs2(octets) or raw
    if alphabet == 0x01:  # "8-bit data" (0x44 = 68): UCS-2 octets in practice, else 8-bit text
        return _ucs2(octets) or octets.decode("latin-1")
    # GSM 7-bit (dcs 15 and the other 0x0X/0x1X/0x3X groups): packed hex, or text that looks like hex
    unpacked = _packed(octets)
    return unpacked if unpacked is not None else raw


def _ucs2(octets: bytes) -> str | None:
    if len(octets) % 2:
        return None
    try:
        text = octets.decode("utf-16-be")
    except UnicodeDecodeError:
        return None
    readable = sum(ch.isprintable() or ch in "\r\n" for ch in text)
    return text if text and readable == len(text) else None


def _packed(octets: bytes) -> str | None:
    """Packed GSM-7 when every septet reads as text (plain digits that happen to be hex stay digits)."""
    if len(octets) < 4:
        return None
    count = len(octets) * 8 // 7
    try:
        text = gsm7.from_septets(gsm7.unpack_septets(octets, count))
    except ValueError:
        return None
    if text.endswith("@") and len(octets) * 8 % 7 == 0:  # 7 spare bits decode as '@' (CR padding rule aside)
        text = text[:-1]
    text = text.rstrip("\r")
    readable = sum(ch.isprintable() or ch in "\r\n" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    return text if readable == len(text) and letters >= len(text) // 4 else None


# -- reading the amount and the date --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Balance:
    """What a reply says: the main account in VND and the validity date, each None when absent."""

    balance_vnd: int | None
    valid_until: date | None

    @property
    def read(self) -> bool:
        return self.balance_vnd is not None


# Words before the main account's amount, folded: "TKC", "TK chinh", "tai khoan chinh (cua Quy khach) (la|con)",
# "so du (tai khoan chinh)", "TK goc".
_MAIN = r"(?:tkc|tk\s*chinh|tk\s*goc|tai\s*khoan\s*(?:chinh|goc)|so\s*du(?:\s*tai\s*khoan)?(?:\s*chinh)?|balance)"
_FILLER = r"(?:\s*(?:cua\s*(?:quy\s*khach|thue\s*bao|ban)|hien\s*tai|hien\s*co|con\s*lai|con|la|=|:|\(|\)|-)\s*)*"
_AMOUNT = r"(\d{1,3}(?:[.,\s]\d{3})+|\d+)(?:[.,]\d{1,2})?\s*(?:vnd|vnđ|dong|d|đ)\b"
MAIN_RE = re.compile(_MAIN + _FILLER + _AMOUNT)
_DATE = r"(\d{1,2})\s*[/.-]\s*(\d{1,2})\s*[/.-]\s*(\d{2,4})"
# Words before the validity date: "HSD", "han su dung (den)", "su dung den (0h ngay)", "het han (vao) ngay".
_VALID = (r"(?:hsd|han\s*(?:su\s*dung|sd|dung)|su\s*dung\s*den|dung\s*den|het\s*han|hieu\s*luc"
          r"|expir\w*|valid\s*until)")
# A time of day may stand between the words and the date ("su dung den 0h ngay 15/03/2027").
_TIME = r"(?:\d{1,2}(?:(?::\d{2}){1,2}|\s*(?:h|gio)\d{0,2})[^0-9]{0,20}?)?"
VALID_RE = re.compile(_VALID + r"[^0-9]{0,30}?" + _TIME + _DATE)
ANY_AMOUNT_RE = re.compile(_AMOUNT)


def parse_balance(text: str) -> Balance:
    """The main account and the validity date in an operator's reply (accented or not)."""
    folded = fold(text).replace("đ", "d")
    amount = MAIN_RE.search(folded)
    balance = _vnd(amount.group(1)) if amount else None
    if balance is None:
        amounts = ANY_AMOUNT_RE.findall(folded)
        if len(amounts) == 1 and not re.search(r"\bkm\d?\b|khuyen\s*mai|goi\b", folded):
            balance = _vnd(amounts[0])  # one amount and nothing else it could be
    when = VALID_RE.search(folded)
    return Balance(balance, _date(*when.groups()) if when else None)


def _vnd(figure: str) -> int | None:
    digits = re.sub(r"[.,\s]", "", figure)
    return int(digits) if digits.isdigit() else None


def _date(day: str, month: str, year: str) -> date | None:
    full = int(year) + (2000 if len(year) == 2 else 0)
    try:
        return date(full, int(month), int(day))
    except ValueError:
        return None
