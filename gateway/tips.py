"""Tips ("tin báo"): what a villager reports, kept with a short reference they can quote.

The reference (``CL-0042``) is what the tipster sees in the confirmation SMS and quotes on
the phone; the ``uid`` (``cl-42``) is globally unique across communes, so the district hub
can hold every commune's tips and a repeated push is harmless (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from gateway.storage import utcnow_iso

STATUSES = ("new", "handling", "closed")


@dataclass(frozen=True, slots=True)
class Tip:
    id: int
    reference: str
    uid: str


def create(db: Database, *, gateway_id: str, tipster: str, text: str, inbox_id: int | None,
           now: datetime) -> Tip:
    """Store a tip; call inside the router's write transaction so the id cannot race."""
    next_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM tips").fetchone()[0]
    reference = f"{gateway_id.upper()}-{next_id:04d}"
    uid = f"{gateway_id.lower()}-{next_id}"
    db.conn.execute(
        "INSERT INTO tips (id, reference, uid, received_at, tipster, text, inbox_id) VALUES (?,?,?,?,?,?,?)",
        (next_id, reference, uid, utcnow_iso(now), tipster, text, inbox_id),
    )
    return Tip(next_id, reference, uid)


def set_status(db: Database, reference: str, status: str, *, by: str, now: datetime) -> None:
    """Move a tip along new → handling → closed (any order: an officer may reopen)."""
    if status not in STATUSES:
        raise ValueError(f"unknown tip status {status!r}")
    db.execute(
        "UPDATE tips SET status=?, status_changed_at=?, status_changed_by=? WHERE reference=?",
        (status, utcnow_iso(now), by, reference),
    )
