"""What the modem worker and the inbox hand each other, with no serial library behind it.

These small types live apart from the transport so that the inbox, the page and the tests can
use them without importing pyserial and python-gsmmodem.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredPdu:
    """One message as the modem's store holds it: its slot ("ME:3"), 27.005 stat, raw PDU."""

    slot: str
    stat: int
    pdu: str


@dataclass(frozen=True, slots=True)
class ModemStatus:
    """What a poll learns: signal (CSQ 0-31, 99 = unknown), registration, operator, store use."""

    signal: int | None
    registered: bool
    operator: str | None
    sim_used: int | None
    sim_total: int | None
