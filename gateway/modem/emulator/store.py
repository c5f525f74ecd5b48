"""The emulated modem's memory: the "ME" SMS store and the log of what the gateway sent.

Kept apart from the AT layer so the store's rules (lowest free index, read marking, the
27.005 delete flags) can be read in one go, and so the out-of-process control server can
serialise the same records the tests use in process.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime

logger = logging.getLogger(__name__)

# <stat> values of 27.005 (PDU mode).
STAT_UNREAD = 0
STAT_READ = 1
STAT_UNSENT = 2
STAT_SENT = 3
STAT_ALL = 4


def tpdu_length(pdu_hex: str) -> int:
    """Length in octets of a PDU without its SMSC prefix, as +CMGL/+CMGR/+CMGS count it.

    Works on undecodable PDUs too (the store keeps those as-is), falling back to half the
    hex length when the SMSC length octet itself is missing or bad.
    """
    try:
        data = bytes.fromhex(pdu_hex)
    except ValueError:
        return len(pdu_hex) // 2
    if not data:
        return 0
    rest = len(data) - 1 - data[0]
    return rest if rest >= 0 else len(data)


@dataclass
class StoredSms:
    """One occupied slot of the SIM/ME store."""

    index: int
    pdu: str
    stat: int = STAT_UNREAD
    kind: str = "deliver"  # "deliver", "status-report" or "raw"
    memory: str = "ME"  # which store holds it: "SM", "ME" or "SR"

    def to_dict(self) -> dict:
        return asdict(self)


class SmsStore:
    """Slots 1..capacity holding PDUs, as `AT+CPMS="ME"` exposes them.

    Not thread-safe by itself: the emulator guards it with its own lock.
    """

    def __init__(self, capacity: int = 50, memory: str = "ME") -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.memory = memory
        self._slots: dict[int, StoredSms] = {}

    @property
    def used(self) -> int:
        return len(self._slots)

    def has_room(self) -> bool:
        return self.free_index() is not None

    def free_index(self) -> int | None:
        """Lowest free index, as real modems fill their store (None when full)."""
        for index in range(1, self.capacity + 1):
            if index not in self._slots:
                return index
        return None

    def put(self, pdu: str, *, stat: int = STAT_UNREAD, kind: str = "deliver") -> int | None:
        """Store at the lowest free index; None when there is no room."""
        index = self.free_index()
        if index is None:
            return None
        self._slots[index] = StoredSms(index, pdu, stat, kind, self.memory)
        return index

    def get(self, index: int) -> StoredSms | None:
        return self._slots.get(index)

    def valid_index(self, index: int) -> bool:
        return 1 <= index <= self.capacity

    def list(self, stat: int) -> list[StoredSms]:
        """Messages whose <stat> matches (4 = all), in index order, as +CMGL lists them."""
        return [
            sms for _, sms in sorted(self._slots.items()) if stat == STAT_ALL or sms.stat == stat
        ]

    def index_of(self, sms: StoredSms) -> int:
        """The index a listing of this store shows for `sms` (see UnionStore)."""
        return sms.index

    def delete(self, index: int) -> bool:
        return self._slots.pop(index, None) is not None

    def delete_flagged(self, flag: int) -> int:
        """`AT+CMGD=<i>,<flag>` for flag 1-4 (27.005 §3.5.4); returns how many went."""
        doomed = {
            1: {STAT_READ},
            2: {STAT_READ, STAT_SENT},
            3: {STAT_READ, STAT_SENT, STAT_UNSENT},
            4: {STAT_UNREAD, STAT_READ, STAT_SENT, STAT_UNSENT},
        }[flag]
        gone = [i for i, sms in self._slots.items() if sms.stat in doomed]
        for index in gone:
            del self._slots[index]
        return len(gone)

    def snapshot(self) -> list[StoredSms]:
        return [StoredSms(**asdict(sms)) for _, sms in sorted(self._slots.items())]


class UnionStore:
    """"MT" (27.005: every store of the ME): the SIM's slots first, then the modem's own.

    SM index i is MT index i, ME index i is MT index SM-capacity + i, as SIMCom and Quectel
    number them; a message put in MT lands in SM while it has room. Listing MT therefore
    shows every SMS of SM and ME a second time under another slot name.
    """

    memory = "MT"

    def __init__(self, sim: SmsStore, modem: SmsStore) -> None:
        self.sim, self.modem = sim, modem

    @property
    def capacity(self) -> int:
        return self.sim.capacity + self.modem.capacity

    @property
    def used(self) -> int:
        return self.sim.used + self.modem.used

    def has_room(self) -> bool:
        return self.sim.has_room() or self.modem.has_room()

    def _split(self, index: int) -> tuple[SmsStore, int]:
        if index <= self.sim.capacity:
            return self.sim, index
        return self.modem, index - self.sim.capacity

    def put(self, pdu: str, *, stat: int = STAT_UNREAD, kind: str = "deliver") -> int | None:
        index = self.sim.put(pdu, stat=stat, kind=kind)
        if index is not None:
            return index
        index = self.modem.put(pdu, stat=stat, kind=kind)
        return None if index is None else index + self.sim.capacity

    def get(self, index: int) -> StoredSms | None:
        """The stored record itself (so reading marks it read), under its own index."""
        store, local = self._split(index)
        return store.get(local)

    def valid_index(self, index: int) -> bool:
        return 1 <= index <= self.capacity

    def list(self, stat: int) -> list[StoredSms]:
        return [*self.sim.list(stat), *self.modem.list(stat)]

    def index_of(self, sms: StoredSms) -> int:
        """The MT index of a record listed from SM or ME."""
        return sms.index + (self.sim.capacity if sms.memory == self.modem.memory else 0)

    def delete(self, index: int) -> bool:
        store, local = self._split(index)
        return store.delete(local)

    def delete_flagged(self, flag: int) -> int:
        return self.sim.delete_flagged(flag) + self.modem.delete_flagged(flag)

    def snapshot(self) -> list[StoredSms]:
        return [*self.sim.snapshot(), *self.modem.snapshot()]


@dataclass
class SentPart:
    """One accepted `AT+CMGS`: a single SMS-SUBMIT as the network saw it."""

    destination: str
    text: str
    reference: int  # the TP-MR the emulator answered with (+CMGS: <mr>)
    concat: tuple[int, int, int] | None  # (reference, total, seq) from the UDH
    pdu: str
    time: datetime
    status_report: bool = False


@dataclass
class SentMessage:
    """A whole outgoing SMS: one part, or every part of a concatenated one, reassembled."""

    destination: str
    text: str
    parts: int
    references: list[int] = field(default_factory=list)
    time: datetime | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["time"] = self.time.isoformat() if self.time else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SentMessage:
        time = datetime.fromisoformat(data["time"]) if data.get("time") else None
        return cls(data["destination"], data["text"], data["parts"], list(data["references"]), time)


class SentLog:
    """Accepted parts, and whole messages once every part of them has arrived.

    Parts are keyed by (destination, concat reference, total) as a phone would
    reassemble them; a part sent twice (a gateway retry) replaces the earlier copy.
    """

    def __init__(self) -> None:
        self.parts: list[SentPart] = []
        self.messages: list[SentMessage] = []
        self._partial: dict[tuple[str, int, int], dict[int, SentPart]] = {}

    def add(self, part: SentPart) -> SentMessage | None:
        """Record a part; return the message it completes, if any."""
        self.parts.append(part)
        if part.concat is None or part.concat[1] <= 1:
            message = SentMessage(part.destination, part.text, 1, [part.reference], part.time)
            self.messages.append(message)
            return message
        ref, total, seq = part.concat
        key = (part.destination, ref, total)
        pending = self._partial.setdefault(key, {})
        pending[seq] = part
        if len(pending) < total or set(pending) != set(range(1, total + 1)):
            return None
        del self._partial[key]
        ordered = [pending[i] for i in range(1, total + 1)]
        message = SentMessage(
            part.destination,
            "".join(p.text for p in ordered),
            total,
            [p.reference for p in ordered],
            part.time,
        )
        self.messages.append(message)
        return message

    def incomplete(self) -> int:
        """How many concatenated messages still miss a part."""
        return len(self._partial)
