"""Phone numbers: one normal form for storage, and whether a sender is a person we may answer.

Vietnamese numbers arrive in many spellings (``0912 345 678``, ``+84912345678``,
``84912345678``, ``0084-912-345-678``, Excel's ``912345678`` with its leading zero eaten) and
are stored as E.164 ``+84xxxxxxxxx`` so one villager is one row. Landlines carry their area
code (``0214 3880 113``); the police's own fixed network, whose ``069`` numbers police units
publish (``069 2693 113``), counts as a landline. Senders that are not people
(carrier short codes such as 5656 or 9000, 1900/1800 service numbers, alphanumeric senders
such as "VIETTEL", the emergency numbers) are kept exactly as they came and are never
auto-answered: a reply to a carrier's promo code costs money or starts a reply loop.

Pure functions, no I/O; ``normalise`` is cached because the router calls it per message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Kind = Literal[
    "mobile", "landline", "international", "short_code", "alphanumeric", "emergency", "invalid"
]

#: Mobile prefixes after the 2018 switch to ten digits, without the trunk 0 (so "91" is 091).
#: Number portability means a prefix no longer proves the network; it still proves a mobile.
#: When a network opens a new prefix, add it here: an unknown prefix is "invalid".
_NETWORKS = {
    "Viettel": "32 33 34 35 36 37 38 39 86 96 97 98",
    "MobiFone": "70 76 77 78 79 89 90 93",
    "VinaPhone": "81 82 83 84 85 88 91 94",
    "Vietnamobile": "52 56 58 92",
    "Gmobile": "59 99",
    "iTel": "87",
    "Wintel": "55",  # formerly Reddi (Mobicast); missing from some older lists
}
MOBILE_PREFIXES: dict[str, str] = {
    prefix: network for network, prefixes in _NETWORKS.items() for prefix in prefixes.split()
}

#: Police, fire and rescue, ambulance, and the national search-and-rescue number.
EMERGENCY_NUMBERS: frozenset[str] = frozenset({"112", "113", "114", "115"})
#: The short numbers a post publishes as hotlines: the emergency numbers and 111, the national
#: child-protection line. Never a sender to answer, never one person's number.
HOTLINES: frozenset[str] = EMERGENCY_NUMBERS | {"111"}
#: The police network's fixed numbers: 069 and seven digits, without the trunk 0 here.
POLICE_NETWORK = "69"
#: Area codes of eight-digit landlines (Hà Nội, TP HCM): written 024 3825 1234, others 0214 3880 113.
_SHORT_AREA_CODES = ("24", "28")

_PEOPLE: frozenset[str] = frozenset({"mobile", "landline", "international"})
_SEPARATORS = str.maketrans("", "", " .-()/\t\u00a0")


@dataclass(frozen=True, slots=True)
class Number:
    """A sender or recipient after normalisation.

    ``value`` is E.164 for people (``+84...`` or ``+<digits>``) and the received text, stripped,
    for everything else, so a short code or an unparseable sender is never silently rewritten.
    """

    value: str
    kind: Kind

    @property
    def can_auto_reply(self) -> bool:
        """True only for numbers that belong to a person (mobile, landline, international)."""
        return self.kind in _PEOPLE

    @property
    def is_vietnamese(self) -> bool:
        """True for +84 mobile and landline numbers."""
        return self.kind in ("mobile", "landline")

    def __str__(self) -> str:
        return self.value


@lru_cache(maxsize=4096)
def normalise(raw: str) -> Number:
    """Classify ``raw`` and bring it to its stored form (see the module docstring)."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        return Number("", "invalid")
    compact = text.translate(_SEPARATORS)
    if any(ch.isalpha() for ch in compact):
        # GSM allows 11 characters, but some modems report longer names: what the network
        # delivered is what it is.
        return Number(text, "alphanumeric")

    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        return Number(text, "invalid")

    if plus or digits.startswith("00"):
        international = digits if plus else digits[2:]
        if international.startswith("84"):
            return _vietnamese(international[2:], text)
        if 8 <= len(international) <= 15 and not international.startswith("0"):
            return Number("+" + international, "international")
        return Number(text, "invalid")

    if digits in HOTLINES:
        return Number(text, "emergency")
    if digits.startswith("0"):
        return _vietnamese(digits[1:], text)
    if digits.startswith("84") and len(digits) in (11, 12, 13):
        return _vietnamese(digits[2:], text)
    if _is_service_number(digits) or 3 <= len(digits) <= 6:
        return Number(text, "short_code")
    if len(digits) in (9, 10):
        # A national number whose trunk 0 was dropped (spreadsheets do this).
        return _vietnamese(digits, text)
    return Number(text, "invalid")


def _vietnamese(subscriber: str, received: str) -> Number:
    """Classify the digits after +84 (or after the trunk 0)."""
    if subscriber.startswith("0"):  # "+84 0912..." is a common slip: drop the extra 0
        subscriber = subscriber[1:]
    if len(subscriber) == 9 and subscriber[:2] in MOBILE_PREFIXES:
        return Number("+84" + subscriber, "mobile")
    if len(subscriber) == 10 and subscriber.startswith("2"):
        return Number("+84" + subscriber, "landline")
    if len(subscriber) == 9 and subscriber.startswith(POLICE_NETWORK):
        return Number("+84" + subscriber, "landline")
    if _is_service_number(subscriber):
        return Number(received, "short_code")
    return Number(received, "invalid")


def _is_service_number(digits: str) -> bool:
    """1800 (free) and 1900 (premium) numbers: 8 or 10 digits, never a person."""
    return digits[:4] in ("1800", "1900") and len(digits) in (8, 10)


def national(number: str) -> str:
    """The domestic spelling of a Vietnamese number (``+84912345678`` → ``0912345678``).

    Anything else is returned in its normal form unchanged.
    """
    n = normalise(number)
    if n.is_vietnamese:
        return "0" + n.value[3:]
    return n.value


_GROUPED = re.compile(r"0\d{1,4}(?:[ .-]\d{2,5})+")


def grouped(raw: str) -> str:
    """A number as people read it off a basic phone's screen and dial it: the grouping typed.

    An officer's ``0912 345 678`` or ``0214.3880.113`` is kept as typed (runs of spaces made
    one); a number typed without groups, or with ``+84``, gets the usual grouping
    (``0912 345 678``, ``0214 3880 113``, ``024 3825 1234``, ``069 2693 113``). A hotline is
    its digits (``113``); anything that is no Vietnamese number comes back in its normal form.
    Every SMS that gives villagers a number (the menus' contacts, the broadcasts' stop line)
    uses this: ``0912345678`` in one run is hard to read off a small screen.
    """
    text = unicodedata.normalize("NFKC", raw or "").strip()
    n = normalise(text)
    if n.kind == "emergency":
        return n.value.translate(_SEPARATORS)
    if not n.is_vietnamese:
        return n.value
    domestic = national(n.value)
    typed = re.sub(r"\s+", " ", text)
    if _GROUPED.fullmatch(typed) and typed.translate(_SEPARATORS) == domestic:
        return typed
    return " ".join(_standard_groups(domestic))


def _standard_groups(domestic: str) -> list[str]:
    """``0912345678`` → 0912 345 678; landlines by their area code; 069 numbers 069 2693 113."""
    if len(domestic) == 10 and domestic[1:3] == POLICE_NETWORK:
        return [domestic[:3], domestic[3:7], domestic[7:]]
    if len(domestic) == 11:  # a landline: 0 + area code + subscriber, 11 digits in all
        lead = 3 if domestic[1:3] in _SHORT_AREA_CODES else 4
        return [domestic[:lead], domestic[lead:lead + 4], domestic[lead + 4:]]
    return [domestic[:4], domestic[4:7], domestic[7:]]


#: How many digits a masked number shows: its last two (see ``mask``).
SHOWN_DIGITS = 2


def mask(number: str | None) -> str:
    """Hide a person's number for lists: only its last two digits show (``+84912345678`` → ``0*** *** *78``).

    Tipsters' numbers are personal data (DESIGN.md, rule 6). Short codes, alphanumeric senders
    and emergency numbers are not personal and are shown as they are. This is the one masker:
    the officers' page (its ``mask`` filter), exports, the mirror, the hub and the logs all use it.

    Why two digits: a mask is shown beside other lists, and the subscribers list pairs masks
    with names. The old mask (``0912 *** 678``) showed 7 of 10 digits; in a commune of one to
    three thousand numbers that is unique, so a masked tipster could be matched to a named
    subscriber by eye, and the 1,000 numbers it leaves open were found in 655 searches. With
    the last two digits, one mask fits a hundredth of the numbers, ten to thirty people in a
    commune, so no list can be joined to another on the mask; the leading ``0`` or ``+`` and the
    grouping only tell a Vietnamese number from a foreign one. Telling two tipsters apart is the
    job of the reference and the conversation (grouped by the real number); the full number is
    for an officer who asks (audited). Searches match a number only when it is typed whole.
    """
    n = normalise(number or "")
    if n.kind in ("short_code", "alphanumeric", "emergency"):
        return n.value
    if not n.value:
        return ""
    text = national(n.value) if n.is_vietnamese else n.value
    if len(text) <= 6:
        return "*" * len(text)
    lead = text[0] if text[0] in "0+" else "*"
    hidden = lead + "*" * (len(text) - 1 - SHOWN_DIGITS) + text[-SHOWN_DIGITS:]
    if n.kind == "invalid":
        return hidden
    # The familiar grouping of the spelled-out number: four, the middle, three.
    return f"{hidden[:4]} {hidden[4:-3]} {hidden[-3:]}"
