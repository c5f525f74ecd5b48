"""Zalo OA tokens: the access token (about 25 hours) and the single-use refresh token.

Zalo kills a refresh token the moment it is used and hands back a new pair, so the pair is
written and committed here *before* the new access token is used: a crash at any point
after the answer arrived leaves the new refresh token on disk. ``zalo.refresh_token`` in the
config is only the first one (or a new one an officer got by re-authorising the OA); later
ones live only in this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway.storage import utcnow_iso, write_transaction

# Refresh a little before Zalo's expiry, so a message is never sent with a dying token.
EXPIRY_MARGIN = timedelta(minutes=5)
# A refresh token lives about 3 months; it dies unused after that and an admin must re-authorise.
# The lane refreshes every ``zalo.refresh_hours`` whatever happens, so only a long outage (or a
# refused refresh) lets one grow old: the page warns ``REFRESH_WARN`` before it would die.
REFRESH_LIFE = timedelta(days=90)
REFRESH_WARN = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class TokenPair:
    row_id: int
    access_token: str | None
    access_expires_at: str | None
    refresh_token: str
    source: str
    obtained_at: str | None = None

    @property
    def refresh_expires_at(self) -> datetime | None:
        """When the refresh token dies unused (about 3 months after Zalo handed it over)."""
        return datetime.fromisoformat(self.obtained_at) + REFRESH_LIFE if self.obtained_at else None

    def refresh_due(self, now: datetime, every: timedelta) -> bool:
        """Time for the scheduled refresh: the pair is ``every`` old, or its access token is dying."""
        if self.obtained_at is None or now - datetime.fromisoformat(self.obtained_at) >= every:
            return True
        return bool(self.access_token) and not self.access_usable(now + every / 2)

    def access_usable(self, now: datetime) -> bool:
        if not self.access_token or not self.access_expires_at:
            return False
        return datetime.fromisoformat(self.access_expires_at) > now + EXPIRY_MARGIN


def current(db: Database) -> TokenPair | None:
    """The newest pair (the only one whose refresh token can still work)."""
    row = db.execute(
        "SELECT id, access_token, access_expires_at, refresh_token, source, obtained_at FROM zalo_tokens"
        " ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return TokenPair(*row) if row else None


def seed(db: Database, refresh_token: str, now: datetime, source: str = "config") -> bool:
    """Take a refresh token from the config (or an officer) unless it was taken before.

    Returns True when it became the current token. A token seen before (for example the
    config's first token, long since rotated) is ignored, so restarts do not bring back a
    dead one.
    """
    token = refresh_token.strip()
    if not token:
        return False
    with write_transaction(db):
        seen = db.execute("SELECT 1 FROM zalo_tokens WHERE refresh_token=? LIMIT 1", (token,)).fetchone()
        if seen:
            return False
        db.conn.execute(
            "INSERT INTO zalo_tokens (access_token, access_expires_at, refresh_token, source, obtained_at)"
            " VALUES (NULL, NULL, ?, ?, ?)",
            (token, source, utcnow_iso(now)),
        )
    return True


def save_pair(db: Database, access_token: str, expires_in: float, refresh_token: str, now: datetime) -> TokenPair:
    """Commit the pair a refresh bought (before anything uses it) and return it."""
    expires_at = utcnow_iso(now + timedelta(seconds=expires_in))
    with write_transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO zalo_tokens (access_token, access_expires_at, refresh_token, source, obtained_at)"
            " VALUES (?,?,?,?,?)",
            (access_token, expires_at, refresh_token, "refresh", utcnow_iso(now)),
        )
        row_id = int(cursor.lastrowid)
    return TokenPair(row_id, access_token, expires_at, refresh_token, "refresh", utcnow_iso(now))


def forget_access(db: Database, row_id: int) -> None:
    """Zalo said the access token is invalid: the next send refreshes first."""
    with write_transaction(db):
        db.conn.execute("UPDATE zalo_tokens SET access_expires_at=NULL WHERE id=?", (row_id,))


def refresh_expiring(db: Database, now: datetime) -> datetime | None:
    """When the current refresh token dies, if that is within ``REFRESH_WARN`` (or past), else None."""
    pair = current(db)
    expires = pair.refresh_expires_at if pair else None
    return expires if expires is not None and expires - now <= REFRESH_WARN else None
