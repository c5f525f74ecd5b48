"""How a text is split into SMS parts, counted exactly as the network counts them.

A reply that is one character too long costs a second SMS (and, in UCS-2, a third), so the
router asks :func:`plan` before sending and the outbox sends exactly the parts it returns.

Limits (TS 23.040 / 23.038): one SMS carries 140 octets of user data, i.e. 160 GSM-7 septets or
70 UCS-2 code units. A concatenated part loses 6 octets to the UDH (8-bit reference IE), leaving
153 septets or 67 code units. An extension character (ESC + code) and a UTF-16 surrogate pair
(emoji) are never split across parts: phones show garbage when they are.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from gateway.sms.gsm7 import ALL_CHARS, EXTENSION_CHARS

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

Encoding = Literal["gsm7", "ucs2"]


@dataclass(frozen=True, slots=True)
class SegmentPlan:
    """The parts a text is sent as.

    ``units`` counts septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text, without
    UDH overhead, so a UI can show "143/160".
    """

    encoding: Encoding
    parts: tuple[str, ...]
    units: int

    @property
    def count(self) -> int:
        """Number of SMS this text costs."""
        return len(self.parts)


@functools.lru_cache(maxsize=256)
def plan(text: str, encoding: Encoding | None = None) -> SegmentPlan:
    """Split ``text`` the way a handset would.

    GSM-7 when every character is in the default alphabet or its extension table, UCS-2
    otherwise; ``encoding`` forces one (ValueError if "gsm7" is forced on a text that is not).

    Remembered for the last 256 texts (a plan is frozen): the outbox plans every reply it
    queues, and most are a menu's or a keyword's same words for every villager, about 9 µs
    each to plan again.
    """
    if encoding is None:
        if set(text) <= ALL_CHARS:
            return _plan_gsm7(text, checked=True)
        encoding = "ucs2"
    if encoding == "gsm7":
        return _plan_gsm7(text)
    if encoding == "ucs2":
        return _plan_ucs2(text)
    raise ValueError(f"unknown encoding {encoding!r}")


def count_parts(text: str) -> int:
    """Number of SMS ``text`` costs."""
    return plan(text).count


def _plan_gsm7(text: str, *, checked: bool = False) -> SegmentPlan:
    """``checked``: the caller has just seen that every character is GSM-7 (not twice)."""
    if not checked and not set(text) <= ALL_CHARS:
        bad = next(ch for ch in text if ch not in ALL_CHARS)
        raise ValueError(f"character {bad!r} is not in the GSM 7-bit alphabet")
    extended = EXTENSION_CHARS.intersection(text)
    units = len(text) + sum(text.count(ch) for ch in extended)
    if units <= GSM7_SINGLE:
        return SegmentPlan("gsm7", (text,), units)
    if not extended:
        # One septet per character: plain slices (the common case, and fast).
        parts = tuple(text[i : i + GSM7_PART] for i in range(0, len(text), GSM7_PART))
        return SegmentPlan("gsm7", parts, units)
    return SegmentPlan("gsm7", _split(text, GSM7_PART, extended), units)


def _plan_ucs2(text: str) -> SegmentPlan:
    astral = bool(text) and max(text) > "\uffff"
    units = len(text) + (sum(1 for ch in text if ch > "\uffff") if astral else 0)
    if units <= UCS2_SINGLE:
        return SegmentPlan("ucs2", (text,), units)
    if not astral:
        parts = tuple(text[i : i + UCS2_PART] for i in range(0, len(text), UCS2_PART))
        return SegmentPlan("ucs2", parts, units)
    return SegmentPlan("ucs2", _split(text, UCS2_PART, None), units)


def _split(text: str, limit: int, extended: frozenset[str] | set[str] | None) -> tuple[str, ...]:
    """Greedy split where some characters cost 2 units (extension chars, or astral for UCS-2)."""
    parts: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        if extended is None:
            cost = 2 if ch > "\uffff" else 1
        else:
            cost = 2 if ch in extended else 1
        if used + cost > limit:
            parts.append(text[start:i])
            start = i
            used = 0
        used += cost
    parts.append(text[start:])
    return tuple(parts)
