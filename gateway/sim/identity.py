"""Who the SIM and the modem are: ICCID, IMSI and IMEI, read at every connect and kept.

Since 15 June 2026 (Circular 08/2026/TT-BKHCN) a SIM moved into a different device has its
outgoing calls and SMS blocked within about two hours until its registered owner re-verifies
(face match in VNeID, the operator's app or a shop); after 30 days it is locked both ways.
Putting the post's SIM into a new modem, or a new SIM into the modem, is such a move. So a
connect that finds another SIM (ICCID/IMSI) or another modem (IMEI) than the last one raises
an alert with the owner's steps, until an officer says the owner re-verified.

The first identity a gateway ever sees is recorded without an alert: installing the post is
that move, and the README's install steps include the re-verification. The raw values stay in
the gateway's own database; ``/healthz`` and the hub see only ``short_hash``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.storage import utcnow_iso, write_transaction

# Commands that answer the ICCID, by vendor: SIMCom SIM7600 AT+CCID / A7670 AT+CICCID,
# many others AT+ICCID, Quectel AT+QCCID, Huawei AT^ICCID?. The first that answers wins.
ICCID_COMMANDS = ("AT+CCID", "AT+ICCID", "AT+CICCID", "AT+QCCID", "AT^ICCID?")
_ICCID_RE = re.compile(r"(89\d{16,18})[Ff]?")
IMSI_RE = re.compile(r"(?<!\d)(\d{14,15})(?!\d)")
IMEI_RE = re.compile(r"(?<!\d)(\d{14,17})(?!\d)")


@dataclass(frozen=True, slots=True)
class Identity:
    """What a connect read; a value the modem would not give is None."""

    iccid: str | None
    imsi: str | None
    imei: str | None

    @property
    def known(self) -> bool:
        return bool(self.iccid or self.imsi or self.imei)


def parse_iccid(lines: list[str]) -> str | None:
    for line in lines:
        match = _ICCID_RE.search(line.replace(" ", ""))
        if match:
            return match.group(1)
    return None


def parse_digits(lines: list[str], pattern: re.Pattern[str] = IMEI_RE) -> str | None:
    for line in lines:
        match = pattern.search(line.split(":", 1)[-1].replace('"', "").strip())
        if match:
            return match.group(1)
    return None


def short_hash(value: str | None) -> str | None:
    """Eight hex digits of SHA-256: tells two SIMs apart at the hub, gives nothing away."""
    if not value:
        return None
    return hashlib.sha256(value.encode()).hexdigest()[:8]


def record(db: Database, modem: str, found: Identity, now: datetime) -> str | None:
    """Keep what this connect read; returns what changed since the last one ('sim', 'modem', 'both') or None."""
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        last = db.execute("SELECT id, iccid, imsi, imei FROM sim_identity WHERE modem=? ORDER BY id DESC LIMIT 1",
                          (modem,)).fetchone()
        if last is not None:
            row_id, iccid, imsi, imei = last
            sim_changed = _differs(iccid, found.iccid) or _differs(imsi, found.imsi)
            modem_changed = _differs(imei, found.imei)
            if not sim_changed and not modem_changed:
                db.conn.execute(
                    "UPDATE sim_identity SET last_seen=?, iccid=COALESCE(iccid, ?), imsi=COALESCE(imsi, ?),"
                    " imei=COALESCE(imei, ?) WHERE id=?", (now_iso, found.iccid, found.imsi, found.imei, row_id))
                return None
            changed = "both" if sim_changed and modem_changed else "sim" if sim_changed else "modem"
        else:
            changed = None
        db.conn.execute(
            "INSERT INTO sim_identity (modem, iccid, imsi, imei, first_seen, last_seen, changed)"
            " VALUES (?,?,?,?,?,?,?)", (modem, found.iccid, found.imsi, found.imei, now_iso, now_iso, changed))
    return changed


def _differs(before: str | None, now: str | None) -> bool:
    """A value that was read both times and is not the same (an unanswered read proves nothing)."""
    return bool(before and now and before != now)


def current(db: Database, modem: str = "modem0") -> dict[str, Any] | None:
    """The newest identity of a modem worker, with ``alert`` True while a change waits for its owner."""
    found = next(db.query("SELECT * FROM sim_identity WHERE modem=? ORDER BY id DESC LIMIT 1", (modem,)), None)
    if found is None:
        return None
    found["alert"] = bool(found["changed"]) and not found["acknowledged_at"]
    return found


def unacknowledged(db: Database) -> list[dict[str, Any]]:
    """Every modem's newest identity that changed and waits for the owner's re-verification."""
    return list(db.query(
        "SELECT * FROM sim_identity i WHERE id = (SELECT MAX(id) FROM sim_identity WHERE modem = i.modem)"
        " AND changed IS NOT NULL AND acknowledged_at IS NULL ORDER BY modem"))


def acknowledge(db: Database, identity_id: int, by: str, now: datetime) -> bool:
    """An officer: the SIM's owner re-verified. True when that ended an alert."""
    with write_transaction(db):
        done = db.conn.execute(
            "UPDATE sim_identity SET acknowledged_at=?, acknowledged_by=? WHERE id=? AND changed IS NOT NULL"
            " AND acknowledged_at IS NULL", (utcnow_iso(now), by, identity_id)).rowcount
    return bool(done)
