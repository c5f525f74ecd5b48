"""What the modem worker and the inbox hand each other, with no serial library behind it.

These small types live apart from the transport so that the inbox, the page and the tests can
use them without importing pyserial and python-gsmmodem. ``Transport`` is what the modem worker
asks of a modem (RapidSMS's backend idea): ``transport.ModemTransport`` is the one on
python-gsmmodem, and ``ModemWorker(transport_factory=...)`` takes any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Protocol, runtime_checkable


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


@runtime_checkable
class Transport(Protocol):
    """One modem as the worker drives it, from its own thread only (see ``ModemWorker``).

    Errors are ours (``gateway.errors``): ``connect`` raises ``ModemUnavailable`` with one line
    for the page; the other calls raise ``ModemError`` when the modem is gone; ``send_pdu``
    raises ``SendError`` (``NoNetwork`` for ``+CMS ERROR: 331``). Notifications (``+CMTI``,
    ``+CDSI``, ``+CDS``; ``RING``, ``+CLIP``, ``+CUSD`` for the SIM area) go to the
    ``on_notify(kind, slot_or_pdu)`` the factory was given, from
    whatever thread reads the port: they only wake the worker, which then drains.
    """

    @property
    def alive(self) -> bool:
        """False once the port failed or its reader stopped: the worker connects again."""
        ...

    @property
    def memory(self) -> str:
        """The store a ``+CMTI`` normally names ("SM"); notices for other stores are read by slot."""
        ...

    @property
    def listed(self) -> frozenset[str]:
        """The stores the last ``list_stored()`` did list (a notice for one of them needs no read)."""
        ...

    def connect(self) -> None:
        """Open the port and set the modem up; ``ModemUnavailable`` with one clear line if not."""
        ...

    def close(self) -> None:
        """Let go of the port; safe to call twice."""
        ...

    def list_stored(self) -> tuple[list[StoredPdu], bool]:
        """Every message in every store, nothing deleted; and whether a notice came inside a reply."""
        ...

    def read_slot(self, slot: str) -> StoredPdu | None:
        """One slot ("SR:2"), or None when it is empty."""
        ...

    def delete(self, slot: str) -> None:
        """Delete one stored message: only ever after it was committed."""
        ...

    def send_pdu(self, pdu_hex: str, tpdu_length: int) -> int:
        """Send one SMS part; the message reference (TP-MR) of its ``+CMGS``."""
        ...

    def poll(self) -> ModemStatus:
        """Signal, registration, technology, operator, store use, SMS centre."""
        ...

    def network_time(self, default_zone: tzinfo = ...) -> datetime | None:
        """The modem's clock as an aware moment, or None when it gives none."""
        ...

    def command(self, command: str, *, timeout: float | None = None) -> list[str]:
        """One AT command for the SIM area (USSD, identity, hang-up): its answer's lines;
        ``ModemRefused`` when the modem answers ERROR. A ringing call or a USSD answer that
        came inside the reply goes to ``on_notify`` (kinds ``RING``, ``CLIP``, ``CUSD``)."""
        ...
