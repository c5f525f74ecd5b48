"""What Zalo's rules allow for each officer, and what the OA's quota says (table ``zalo_officers``).

Zalo's OA rules (the OA help centre; DESIGN.md, "Zalo mirror"): an OA may send a *reply*, free,
8 times within 48 h of a user's latest message to the OA, when the message names that message
(``recipient.message_id``). Anything else (only ``user_id``, later than 48 h, or the 9th) is
*proactive*: only a verified OA may send it, within a monthly quota, and Zalo refuses it with
-230 when the user has not written to the OA for 7 days.

So for each officer this module keeps their latest message to the OA (read from the OA's
conversation API), the replies used since, the last reminder SMS and the last problem Zalo
reported; ``Reach`` turns that into "Zalo can reach them now, and until when". The quota the
last answer reported is kept in ``state`` (key ``zalo_quota``). Only the Zalo lane writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.storage import utcnow_iso, write_transaction

REPLY_WINDOW = timedelta(hours=48)
FREE_REPLIES = 8
PROACTIVE_LIMIT = timedelta(days=7)
QUOTA_KEY = "zalo_quota"

_COLUMNS = ("officer_id, last_message_id, last_message_at, replies_used, checked_at, reminded_at, reminded_for,"
            " last_error, last_error_at")


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class Reach:
    """One officer as Zalo's rules see them (nothing known yet: every field None)."""

    officer_id: str
    last_message_id: str | None = None
    last_message_at: str | None = None
    replies_used: int = 0
    checked_at: str | None = None
    reminded_at: str | None = None
    reminded_for: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None

    @property
    def window_until(self) -> datetime | None:
        """When the free reply window closes (48 h after their latest message), None: never opened."""
        at = _at(self.last_message_at)
        return at + REPLY_WINDOW if at else None

    @property
    def proactive_until(self) -> datetime | None:
        """Until when a proactive message may still reach them (7 days after their latest message)."""
        at = _at(self.last_message_at)
        return at + PROACTIVE_LIMIT if at else None

    def replies_left(self) -> int:
        return max(0, FREE_REPLIES - self.replies_used)

    def reply_open(self, now: datetime) -> bool:
        """A reply to their latest message is free now (within 48 h, fewer than 8 used)."""
        until = self.window_until
        return bool(self.last_message_id and until and now < until and self.replies_left() > 0)

    def kind(self, now: datetime) -> str:
        """``reply`` (free now), ``proactive`` (only with a verified OA's quota), ``closed`` or ``unknown``."""
        if self.checked_at is None and self.last_message_at is None:
            return "unknown"
        if self.reply_open(now):
            return "reply"
        until = self.proactive_until
        return "proactive" if until and now < until else "closed"


def get(db: Database, officer_id: str) -> Reach:
    row = db.execute(f"SELECT {_COLUMNS} FROM zalo_officers WHERE officer_id = ?", (officer_id,)).fetchone()
    return Reach(*row) if row else Reach(officer_id)


def all_of(db: Database, officers: list[str]) -> list[Reach]:
    """Each configured officer's reach, in the config's order (unknown officers included)."""
    found = {row[0]: Reach(*row) for row in db.execute(f"SELECT {_COLUMNS} FROM zalo_officers").fetchall()}
    return [found.get(officer, Reach(officer)) for officer in officers]




def _upsert(db: Database, officer_id: str, assignments: str, values: tuple) -> None:
    with write_transaction(db):  # the caller's when one is open: an SMS and its note commit together
        db.conn.execute("INSERT OR IGNORE INTO zalo_officers (officer_id) VALUES (?)", (officer_id,))
        db.conn.execute(f"UPDATE zalo_officers SET {assignments} WHERE officer_id = ?", (*values, officer_id))


def note_checked(db: Database, officer_id: str, message_id: str | None, message_at: datetime | None,
                 now: datetime) -> Reach:
    """The conversation was read: their latest message (a new one restarts the 8 free replies)."""
    before = get(db, officer_id)
    if message_id and message_id != before.last_message_id:
        _upsert(db, officer_id, "last_message_id=?, last_message_at=?, replies_used=0, checked_at=?",
                (message_id, utcnow_iso(message_at) if message_at else None, utcnow_iso(now)))
    else:
        _upsert(db, officer_id, "checked_at=?", (utcnow_iso(now),))
    return get(db, officer_id)


def note_sent(db: Database, officer_id: str, reply_to: str | None, quota: dict[str, Any] | None,
              now: datetime) -> None:
    """A message went out: a reply uses one of the 8 (or says how many are left); the error clears."""
    if reply_to:
        remain = _int(quota.get("remain")) if quota and quota.get("quota_type") == "reply" else None
        used = FREE_REPLIES - remain if remain is not None else None
        _upsert(db, officer_id, "replies_used=COALESCE(?, replies_used + 1), last_error=NULL, last_error_at=NULL",
                (used,))
    else:
        _upsert(db, officer_id, "last_error=NULL, last_error_at=NULL", ())
    if quota and quota.get("quota_type") != "reply":
        note_quota(db, quota, now)


def note_error(db: Database, officer_id: str, error: str, now: datetime, *, window_closed: bool = False) -> None:
    """Zalo refused a message to this officer; ``window_closed``: their reply window is gone too."""
    extra = ", replies_used=?" if window_closed else ""
    values: tuple = (error[:300], utcnow_iso(now)) + ((FREE_REPLIES,) if window_closed else ())
    _upsert(db, officer_id, f"last_error=?, last_error_at=?{extra}", values)


def note_reminded(db: Database, officer_id: str, about: str, now: datetime) -> None:
    _upsert(db, officer_id, "reminded_at=?, reminded_for=?", (utcnow_iso(now), about))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def note_quota(db: Database, quota: dict[str, Any], now: datetime) -> None:
    """Keep what Zalo's last answer said of the OA's proactive quota (type, remaining, total)."""
    value = {"quota_type": str(quota.get("quota_type") or ""), "remain": _int(quota.get("remain")),
             "total": _int(quota.get("total")), "at": utcnow_iso(now)}
    with write_transaction(db):
        state.put_json(db, QUOTA_KEY, value, now)


def quota(db: Database) -> dict[str, Any] | None:
    """The OA's quota as last reported: ``{"quota_type", "remain", "total", "at"}``, or None."""
    return state.get_json(db, QUOTA_KEY)


def quota_low(db: Database, threshold: int) -> dict[str, Any] | None:
    """The reported quota when ``remain`` is at or under ``threshold`` (admins must act), else None."""
    found = quota(db)
    if found and isinstance(found.get("remain"), int) and found["remain"] <= threshold:
        return found
    return None
