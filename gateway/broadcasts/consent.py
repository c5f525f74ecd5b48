"""The consent ledger and the invitations: what each number said, and the one SMS that asks.

Scam-warning subscriptions rest on consent (Law 91/2025/QH15): specific, verifiable, never
by default. ``consent_ledger`` is the proof, append-only (triggers in the migration refuse
any other change): a row per event, ``given`` (a DK by SMS with its raw text, or a consent
an officer saw on paper, with the officer's note), ``withdrawn`` (HUY/TC by SMS, an
officer's removal, a person's request), ``invited`` (an officer asked for the one
invitation), ``erased`` (a person's request to erase: the number's rows lose their personal
fields, the events stay), each with the version of the notice the person was sent.

``invitations`` holds the one invitation SMS a number an officer added or imported may get
(``number`` is unique: never a second one). The broadcast sender hands pending ones to the
outbox, paced, each in the same transaction as its outbox row (``queued``), so a restart
never sends one twice; an answer (DK, HUY) or a removal first cancels it.

This module writes both tables and nothing else; ``gateway.broadcasts.subscribers`` decides
when (it owns a subscriber's state and calls :func:`record` in the same transaction). Every
function takes a connection inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.storage import utcnow_iso

EVENTS = ("given", "withdrawn", "invited", "erased")
#: sms: the person's own SMS; paper: a consent an officer saw on paper (note required);
#: officer / import: an officer's action (an invitation, a removal); request: a person's
#: request recorded by an officer; legacy_sms: a DK taken before the ledger kept its text.
BASES = ("sms", "paper", "officer", "import", "request", "legacy_sms")
#: The one rule of who receives warnings, for every query that picks recipients (``s`` is the
#: subscribers table): a subscriber whose current consent is recorded in this ledger.
RECEIVES = "(s.status = 'subscribed' AND s.consent_id IS NOT NULL)"
RAW_TEXT_MAX = 500
NOTE_MAX = 300


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row as the pages show it (``number`` None once erased)."""

    id: int
    event: str
    basis: str
    at: str
    number: str | None
    raw_text: str | None
    notice_version: str | None
    note: str | None
    by: str


def record(db: Database, event: str, basis: str, *, number: str | None, subscriber_id: int | None,
           now: datetime, by: str, raw_text: str | None = None, inbox_id: int | None = None,
           notice_version: str | None = None, note: str | None = None) -> int:
    """Append one event; returns its id (a ``given`` row is what a subscription rests on)."""
    if event not in EVENTS or basis not in BASES:
        raise ValueError(f"consent event {event!r} / basis {basis!r}")
    cur = db.conn.execute(
        "INSERT INTO consent_ledger (subscriber_id, number, event, basis, at, raw_text, inbox_id, notice_version,"
        " note, by) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (subscriber_id, number, event, basis, utcnow_iso(now), raw_text[:RAW_TEXT_MAX] if raw_text else raw_text,
         inbox_id, notice_version, note.strip()[:NOTE_MAX] if note else None, by),
    )
    return int(cur.lastrowid)


def history(db: Database, number: str) -> list[Entry]:
    """Every event of ``number``, oldest first."""
    rows = db.execute(
        "SELECT id, event, basis, at, number, raw_text, notice_version, note, by FROM consent_ledger"
        " WHERE number = ? ORDER BY id", (number,)).fetchall()
    return [Entry(*row) for row in rows]


def entry(db: Database, entry_id: int | None) -> Entry | None:
    """One ledger row (the consent a subscription rests on), or None."""
    if entry_id is None:
        return None
    row = db.execute("SELECT id, event, basis, at, number, raw_text, notice_version, note, by FROM consent_ledger"
                     " WHERE id = ?", (entry_id,)).fetchone()
    return Entry(*row) if row else None


def erase(db: Database, number: str, now: datetime, by: str, note: str | None = None) -> int:
    """A person's erasure: their rows keep what happened and when, not who (number, SMS text,
    note, links cleared), and one ``erased`` event without a number says it was done.
    Returns how many rows were cleared."""
    cleared = db.conn.execute(
        "UPDATE consent_ledger SET number = NULL, raw_text = NULL, note = NULL, subscriber_id = NULL,"
        " inbox_id = NULL WHERE number = ?", (number,)).rowcount
    record(db, "erased", "request", number=None, subscriber_id=None, now=now, by=by, note=note)
    return cleared


# -- invitations ---------------------------------------------------------------------------------

def invite(db: Database, subscriber_id: int, number: str, text: str, notice_version: str, *, basis: str,
           now: datetime, by: str) -> bool:
    """Ask once: a pending invitation and its ``invited`` ledger row. False when this number
    was invited before (whatever came of it): nobody gets a second invitation."""
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO invitations (subscriber_id, number, text, notice_version, created_at, created_by)"
        " VALUES (?,?,?,?,?,?)", (subscriber_id, number, text, notice_version, utcnow_iso(now), by))
    if cur.rowcount == 0:
        return False
    record(db, "invited", basis, number=number, subscriber_id=subscriber_id, now=now, by=by,
           notice_version=notice_version)
    return True


def ever_invited(db: Database, number: str) -> bool:
    return db.execute("SELECT 1 FROM invitations WHERE number = ?", (number,)).fetchone() is not None


def cancel_invitation(db: Database, number: str, reason: str) -> None:
    """The person answered (or was removed) before the invitation went: it never will."""
    db.conn.execute("UPDATE invitations SET status = 'cancelled', reason = ? WHERE number = ? AND status = 'pending'",
                    (reason, number))


def due_invitations(db: Database, limit: int) -> list[tuple[int, str, str, str]]:
    """Pending invitations, oldest first: (id, number, text, the subscriber's status now)."""
    return db.execute(
        "SELECT i.id, i.number, i.text, COALESCE(s.status, 'gone') FROM invitations i"
        " LEFT JOIN subscribers s ON s.id = i.subscriber_id WHERE i.status = 'pending' ORDER BY i.id LIMIT ?",
        (limit,)).fetchall()


def invitation_queued(db: Database, invitation_id: int, outbox_id: int, now: datetime) -> None:
    """Handed to the outbox (in the transaction that wrote its outbox row: never twice)."""
    db.conn.execute("UPDATE invitations SET status = 'queued', outbox_id = ?, queued_at = ? WHERE id = ?",
                    (outbox_id, utcnow_iso(now), invitation_id))


def invitation_dropped(db: Database, invitation_id: int, reason: str) -> None:
    """Not sent, for good (the number is no longer waiting for it)."""
    db.conn.execute("UPDATE invitations SET status = 'cancelled', reason = ? WHERE id = ? AND status = 'pending'",
                    (reason, invitation_id))


def queued_since(db: Database, since: datetime) -> int:
    """Invitations handed to the outbox since ``since`` (the hourly pace)."""
    return db.execute("SELECT COUNT(*) FROM invitations WHERE queued_at >= ?", (utcnow_iso(since),)).fetchone()[0]


def pending_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM invitations WHERE status = 'pending'").fetchone()[0]


def invitation_of(db: Database, number: str) -> dict[str, Any] | None:
    """The number's invitation (status, when, by whom, its text), or None."""
    rows = list(db.query("SELECT status, text, notice_version, created_at, created_by, queued_at, reason"
                         " FROM invitations WHERE number = ?", (number,)))
    return rows[0] if rows else None
