"""Tips ("tin báo"): what a villager reports, kept with a short reference they can quote.

The reference (``CL-0042``) is what the tipster sees in the confirmation SMS and quotes on
the phone; the ``uid`` (``cl-42``) is globally unique across communes, so the district hub
can hold every commune's tips and a repeated push is harmless (DESIGN.md).

This package owns table ``tips`` and what hangs off it: the writes and reads of one tip here,
the list's filters and search in ``search``, the tip's history, notes and replies in ``history``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.storage import utcnow_iso, write_transaction

STATUSES = ("new", "handling", "closed")
#: A tip filed from a message without the tip keyword waits for an officer (``confirmation``):
#: "pending" until confirmed (a tip like any other) or dismissed (not a tip: closed). A tip
#: sent as one has no confirmation at all (NULL).
PENDING, CONFIRMED, DISMISSED = "pending", "confirmed", "dismissed"
CONFIRMATIONS = (PENDING, CONFIRMED, DISMISSED)

# The longest tip text the upstream hub holds: the gateway and the hub share this one limit.
# A longer tip (a villager may send dozens of SMS parts) goes up cut, with a marker that says
# so; the whole text stays here at the commune.
UPSTREAM_TEXT_MAX = 20_000


@dataclass(frozen=True, slots=True)
class Tip:
    id: int
    reference: str
    uid: str
    #: True while an officer has not said whether it is a tip (held back from the sync queue).
    to_confirm: bool = False
    #: When it was received (ISO UTC), as stored; None when the caller did not read it.
    received_at: str | None = None


def create(db: Database, *, gateway_id: str, tipster: str, text: str, inbox_id: int | None,
           now: datetime, to_confirm: bool = False) -> Tip:
    """Store a tip; call inside the router's write transaction so the id cannot race.

    ``to_confirm``: the message carried content but no tip keyword; officers confirm or
    dismiss it (:func:`set_confirmation`).
    """
    next_id = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM tips").fetchone()[0]
    reference = f"{gateway_id.upper()}-{next_id:04d}"
    uid = f"{gateway_id.lower()}-{next_id}"
    received_at = utcnow_iso(now)
    db.conn.execute(
        "INSERT INTO tips (id, reference, uid, received_at, tipster, text, inbox_id, confirmation)"
        " VALUES (?,?,?,?,?,?,?,?)",
        (next_id, reference, uid, received_at, tipster, text, inbox_id, PENDING if to_confirm else None),
    )
    return Tip(next_id, reference, uid, to_confirm, received_at)


def set_confirmation(db: Database, tip_id: int, value: str) -> None:
    """An officer said whether a to-confirm tip is one; the caller writes the history."""
    if value not in (CONFIRMED, DISMISSED):
        raise ValueError(f"unknown confirmation {value!r}")
    db.execute("UPDATE tips SET confirmation = ? WHERE id = ?", (value, tip_id))


def set_status(db: Database, reference: str, status: str, *, by: str, now: datetime) -> None:
    """Move a tip along new → handling → closed (any order: an officer may reopen)."""
    if status not in STATUSES:
        raise ValueError(f"unknown tip status {status!r}")
    db.execute(
        "UPDATE tips SET status=?, status_changed_at=?, status_changed_by=? WHERE reference=?",
        (status, utcnow_iso(now), by, reference),
    )


def set_hub_status(db: Database, tip_id: int, status: str, *, by: str, now: datetime) -> None:
    """What the hub decided about a tip, kept beside the commune's ``status`` (never over it)."""
    if status not in STATUSES:
        raise ValueError(f"unknown tip status {status!r}")
    db.execute(
        "UPDATE tips SET hub_status=?, hub_status_at=?, hub_status_by=? WHERE id=?",
        (status, utcnow_iso(now), by, tip_id),
    )


def assign(db: Database, tip_id: int, username: str | None, *, now: datetime) -> None:
    """Give a tip to an officer (``None``: to nobody); the caller writes the history."""
    db.execute(
        "UPDATE tips SET assigned_to = ?, assigned_at = ? WHERE id = ?",
        (username, utcnow_iso(now) if username else None, tip_id),
    )


def set_village(db: Database, tip_id: int, village: str | None) -> None:
    """Write down which village (thôn) a tip is about; the caller writes the history."""
    db.execute("UPDATE tips SET village = ? WHERE id = ?", (village, tip_id))


HOLD_REASON_MAX_CHARS = 500


def hold(db: Database, tip_id: int, reason: str, *, by: str, now: datetime) -> None:
    """An officer keeps a tip out of the retention purge and a person's erasure (an investigation
    needs it): the reason is required and shown wherever the purge or an erasure skips it. The
    caller writes the history and the audit entry in the same transaction."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValueError("a hold needs a reason")
    db.execute("UPDATE tips SET hold_reason = ?, held_at = ?, held_by = ? WHERE id = ?",
               (reason[:HOLD_REASON_MAX_CHARS], utcnow_iso(now), by, tip_id))


def release_hold(db: Database, tip_id: int) -> None:
    """The hold is lifted: the retention rules apply to the tip again (the caller writes history and audit)."""
    db.execute("UPDATE tips SET hold_reason = NULL, held_at = NULL, held_by = NULL WHERE id = ?", (tip_id,))


# -- retention and a person's erasure (``gateway.privacy`` decides, this package writes) --------

def _ids(ids: Collection[int]) -> str:
    return json.dumps(sorted(int(i) for i in ids))


def inbox_ids(db: Database) -> set[int]:
    """The inbound message each tip was made from (kept while the tip keeps its number)."""
    return {row[0] for row in db.execute("SELECT inbox_id FROM tips WHERE inbox_id IS NOT NULL")}


def closed_before(db: Database, before: str, *, unset: str, held: bool = False) -> list[dict[str, Any]]:
    """Closed tips not on hold (``held``: on hold), closed before ``before``, whose ``unset``
    column (``number_detached_at`` or ``text_purged_at``) is still empty: what the retention
    rules may reach, before the sync queue has its say. (id, reference, confirmation, inbox_id)."""
    if unset not in ("number_detached_at", "text_purged_at"):
        raise ValueError(unset)
    hold = "IS NOT NULL" if held else "IS NULL"
    return list(db.query(
        f"SELECT id, reference, confirmation, inbox_id FROM tips WHERE status = 'closed' AND hold_reason {hold}"
        f" AND {unset} IS NULL AND status_changed_at < ? ORDER BY id", [before]))


def detach_numbers(db: Database, tip_ids: Collection[int], now: datetime, *,
                   closed_only: bool = True) -> list[tuple[int, int | None]]:
    """Remove the tipster's number from these tips; the tip, its text and history stay.

    Never a tip on hold; with ``closed_only`` (the purge) only closed ones, a person's
    erasure takes open ones too. The tip lets go of its inbound message (``inbox_id``), which
    holds the number: returns (tip id, that message's id) of each tip done, for the caller to
    delete the message and take the number off the replies.
    """
    closed = " AND status = 'closed'" if closed_only else ""
    with write_transaction(db):
        done = [(row[0], row[1]) for row in db.execute(
            f"SELECT id, inbox_id FROM tips WHERE id IN (SELECT value FROM json_each(?)) AND hold_reason IS NULL"
            f" AND (tipster != '' OR inbox_id IS NOT NULL){closed}", (_ids(tip_ids),))]
        db.conn.execute(
            "UPDATE tips SET tipster = '', inbox_id = NULL, number_detached_at = COALESCE(number_detached_at, ?)"
            " WHERE id IN (SELECT value FROM json_each(?))", (utcnow_iso(now), _ids(tip_id for tip_id, _ in done)))
    return done


def purge_texts(db: Database, tip_ids: Collection[int], now: datetime) -> list[tuple[int, int | None]]:
    """Remove the text (and the number) of these closed tips not on hold; the row stays, so its
    reference and uid are never given to another tip. The search index follows (its trigger).
    Returns (tip id, its inbound message's id) of each tip done, as ``detach_numbers``."""
    stamp = utcnow_iso(now)
    with write_transaction(db):
        done = [(row[0], row[1]) for row in db.execute(
            "SELECT id, inbox_id FROM tips WHERE id IN (SELECT value FROM json_each(?)) AND hold_reason IS NULL"
            " AND status = 'closed' AND text_purged_at IS NULL", (_ids(tip_ids),))]
        db.conn.execute(
            "UPDATE tips SET text = '', tipster = '', inbox_id = NULL, text_purged_at = ?,"
            " number_detached_at = COALESCE(number_detached_at, ?) WHERE id IN (SELECT value FROM json_each(?))",
            (stamp, stamp, _ids(tip_id for tip_id, _ in done)))
    return done


def optimize_search(db: Database) -> None:
    """Merge the search index into one segment, so words of removed texts leave it at once
    (FTS5 otherwise keeps them, marked deleted, in older segments until a later merge)."""
    db.execute("INSERT INTO tips_fts(tips_fts) VALUES ('optimize')")


def of_numbers(db: Database, numbers: Collection[str]) -> list[dict[str, Any]]:
    """Every tip any of ``numbers`` sent, whole, oldest first (a person's request)."""
    return list(db.query("SELECT * FROM tips WHERE tipster IN (SELECT value FROM json_each(?)) ORDER BY id",
                         [json.dumps(sorted(numbers))]))


def forget_tipster(db: Database, number: str) -> None:
    """Delete the tips ``number`` sent (the dry run's "start again", in its sandbox only)."""
    db.execute("DELETE FROM tips WHERE tipster = ?", (number,))


def upstream_text(text: str) -> tuple[str, bool]:
    """The text as the hub receives it, and whether it was cut (``UPSTREAM_TEXT_MAX``)."""
    if len(text) <= UPSTREAM_TEXT_MAX:
        return text, False
    marker = f"\n[… cắt bớt: tin dài {len(text)} ký tự, bản đầy đủ ở xã]"
    return text[: UPSTREAM_TEXT_MAX - len(marker)] + marker, True


# -- reads -------------------------------------------------------------------------------------

def by_reference(db: Database, reference: str) -> dict[str, Any] | None:
    """One whole tip row by the reference the tipster quotes (any letter case); None if unknown."""
    rows = list(db.query("SELECT * FROM tips WHERE reference = ?", [reference.upper()]))
    return rows[0] if rows else None


def get(db: Database, tip_id: int) -> dict[str, Any] | None:
    """One whole tip row by id; None if unknown."""
    return next(db.query("SELECT * FROM tips WHERE id = ?", [tip_id]), None)


def village_of(db: Database, tip_id: int) -> str | None:
    """The village written on a tip (None: none yet, or no such tip)."""
    row = db.execute("SELECT village FROM tips WHERE id = ?", [tip_id]).fetchone()
    return row[0] if row else None


def by_uid(db: Database, uid: str) -> dict[str, Any] | None:
    """One whole tip row by its uid (``cl-42``, what the hub names it by); None if unknown."""
    return next(db.query("SELECT * FROM tips WHERE uid = ?", [uid]), None)


SYNC_COLUMNS = ("reference", "uid", "received_at", "tipster", "text", "status")
_CHUNK = 500  # SQLite host parameters per IN (...)


def for_sync(db: Database, tip_ids: list[int]) -> dict[int, tuple]:
    """What a destination gets of each tip, by id: ``SYNC_COLUMNS`` in that order."""
    found: dict[int, tuple] = {}
    for start in range(0, len(tip_ids), _CHUNK):
        chunk = tip_ids[start: start + _CHUNK]
        found.update((row[0], tuple(row[1:])) for row in db.execute(
            f"SELECT id, {', '.join(SYNC_COLUMNS)} FROM tips WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return found


def references(db: Database, tip_ids: list[int]) -> dict[int, str]:
    """Each tip's reference (``CL-0042``), by id."""
    return {tip_id: row[0] for tip_id, row in for_sync(db, tip_ids).items()}


def syncable_since(db: Database, since: str) -> list[tuple[int, str]]:
    """(id, received_at) of every tip received at or after the ISO moment ``since`` that may
    leave the commune: not one waiting to be confirmed, nor one dismissed as no tip."""
    return db.execute(
        "SELECT id, received_at FROM tips WHERE received_at >= ?"
        " AND confirmation IS NOT 'pending' AND confirmation IS NOT 'dismissed' ORDER BY id",
        [since],
    ).fetchall()


def recent(db: Database, limit: int = 10, text_chars: int = 200) -> list[dict[str, Any]]:
    """The newest tips with only the start of their text, newest first."""
    return list(db.query(
        # SQLite's substr stops at a NUL: such a text (rare, from SMS) is read whole.
        "SELECT id, reference, received_at, tipster,"
        " CASE WHEN instr(text, char(0)) > 0 THEN text ELSE substr(text, 1, ?) END AS text_start, status,"
        " confirmation"
        " FROM tips ORDER BY id DESC LIMIT ?",
        [text_chars, limit],
    ))


def count_new(db: Database) -> int:
    """Tips nobody has taken yet (status ``new``); those waiting to be confirmed are counted apart."""
    # Two counts the indexes answer alone (tips_status; tips_to_confirm, a few rows), rather than
    # one that reads every new tip's row for its confirmation (25 ms with 10,000 new tips).
    return int(db.execute(
        "SELECT (SELECT count(*) FROM tips WHERE status = 'new')"
        " - (SELECT count(*) FROM tips WHERE confirmation = 'pending' AND +status = 'new')"
    ).fetchone()[0])


def count_to_confirm(db: Database) -> int:
    """Messages filed without the tip keyword that no officer has confirmed or dismissed yet."""
    return int(db.execute("SELECT count(*) FROM tips WHERE confirmation = 'pending'").fetchone()[0])


def of_number(db: Database, number: str, limit: int = 20) -> list[dict[str, Any]]:
    """The tips one tipster sent, newest first."""
    return list(db.query(
        "SELECT id, reference, received_at, status FROM tips WHERE tipster = ? ORDER BY id DESC LIMIT ?",
        [number, limit],
    ))


def from_tipster_since(db: Database, tipster: str, since: datetime) -> list[dict[str, Any]]:
    """The tips one number sent since ``since``, oldest first (the duty alerts' hourly cap).

    Read with ``db.execute``, not ``db.query``: sqlite-utils wraps each query in a savepoint of
    its own, two more statements for every tip the router files.
    """
    rows = db.execute(
        "SELECT id, reference, inbox_id, received_at FROM tips WHERE received_at >= ? AND tipster = ? ORDER BY id",
        [utcnow_iso(since), tipster],
    )
    return [{"id": i, "reference": r, "inbox_id": b, "received_at": a} for i, r, b, a in rows]


def villages(db: Database, limit: int = 200) -> list[str]:
    """Villages already written on tips, for the filter and the tip page's suggestions."""
    rows = db.execute(
        "SELECT DISTINCT village FROM tips WHERE village IS NOT NULL AND village != ''"
        " ORDER BY village LIMIT ?",
        [limit],
    ).fetchall()
    return [row[0] for row in rows]


def newest_id(db: Database) -> int:
    """The highest tip id (0 when none): a new tip changes it (``gateway.figures``' marker)."""
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM tips").fetchone()[0])


def per_day(db: Database, since: str, offset_minutes: int) -> dict[str, int]:
    """Tips per local day (``YYYY-MM-DD``) received since the UTC ISO moment ``since``."""
    rows = db.execute(
        "SELECT date(received_at, ?) AS day, count(*) FROM tips WHERE received_at >= ? GROUP BY day",
        [f"{offset_minutes:+d} minutes", since],
    ).fetchall()
    return {day: count for day, count in rows if day}
