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
    """What a poll learns: signal (CSQ 0-31, 99 = unknown), registration, operator, store use.

    ``registered`` is None when the modem refused every registration query: unknown, which
    must not stop sending. ``technology`` is "2G", "3G" or "4G"; ``rsrp`` (dBm) and ``rsrq``
    (dB) come from the profile's serving-cell command on LTE; ``registration`` is what each
    domain said ("CREG 0 CGREG 1 CEREG 1"); ``smsc`` is the SMS centre the modem uses.
    """

    signal: int | None
    registered: bool | None
    operator: str | None
    sim_used: int | None
    sim_total: int | None
    technology: str | None = None
    rsrp: int | None = None
    rsrq: float | None = None
    registration: str | None = None
    smsc: str | None = None
