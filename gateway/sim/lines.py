"""Which unsolicited modem lines belong to the SIM area: a call ringing, its caller, a USSD answer.

The transport's reader thread asks ``kind_of`` for every notification line it does not know
and hands the line on; it never acts on one (the modem worker does, in its own thread).
Pure: no modem, no state.
"""

from __future__ import annotations

import re

# 27.007: "RING" (AT+CRC=0) or "+CRING: VOICE" (AT+CRC=1); "+CLIP: <number>,<type>[,...]"
# after each ring once AT+CLIP=1; "+CUSD: <m>[,<str>,<dcs>]" for a USSD answer.
_RING_RE = re.compile(r"^(?:RING|\+CRING:.*)$")
CLIP_RE = re.compile(r'^\+CLIP:\s*"([^"]*)"\s*,\s*(\d+)(?:\s*,[^,]*,[^,]*(?:,\s*"[^"]*")?\s*,\s*(\d+))?')


def kind_of(line: str) -> str | None:
    """"RING", "CLIP", "CUSD" or None."""
    if _RING_RE.match(line):
        return "RING"
    if line.startswith("+CLIP:"):
        return "CLIP"
    if line.startswith("+CUSD:"):
        return "CUSD"
    return None


def caller(line: str) -> tuple[str, bool]:
    """The number in a ``+CLIP:`` line and whether the caller hid it.

    ``+CLIP: "",128,"",0,"",1``: no number, CLI validity 1 (withheld) or 2 (not available).
    """
    match = CLIP_RE.match(line.strip())
    if not match:
        return "", True
    number = match.group(1).strip()
    validity = match.group(3)
    hidden = not number or validity in ("1", "2")
    return ("" if hidden else number), hidden
