"""Login throttling: failed logins are rows in ``login_attempts``.

After ``web.login_max_failures`` failures for one username (or four times as many from one
address) within ``web.login_lockout_minutes``, that name (or address) waits. A restart does
not reset it. The gateway's login and the hub's use the same functions, each on its own
database. (The page's other guards, CSRF and the session key, are ``gateway.web.frame``'s.)
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

ATTEMPTS_KEPT = timedelta(days=2)  # longer than any lockout window (web.login_lockout_minutes ≤ 1 day)
IP_FAILURE_FACTOR = 4  # one address (the post's shared laptop) may fail 4x as often as one name


# -- login throttling --------------------------------------------------------------------------


def note_login_attempt(db: Database, username: str, ip: str, ok: bool, now: datetime) -> None:
    """Remember one attempt (the throttle counts failures since the last success).

    Attempts older than ``ATTEMPTS_KEPT`` are dropped here (the audit log keeps the story),
    so a guesser hammering the page cannot grow the table without end.
    """
    with write_transaction(db):
        db.conn.execute(
            "INSERT INTO login_attempts (at, username, ip, ok) VALUES (?, ?, ?, ?)",
            [utcnow_iso(now), (username or "").strip()[:64], ip or "", int(ok)],
        )
        db.conn.execute("DELETE FROM login_attempts WHERE at < ?", [utcnow_iso(now - ATTEMPTS_KEPT)])


def _wait_for(
    db: Database, column: str, value: str, limit: int, window: timedelta, now: datetime
) -> float:
    """Seconds ``value`` (a username or an IP) must still wait, 0 when it may try now.

    A success ends a name's failures, not an address's: a guesser with one account of their
    own must not clear the address's count by logging in between guesses.
    """
    since = utcnow_iso(now - window)
    last_ok = db.execute(
        f"SELECT coalesce(max(id), 0) FROM login_attempts WHERE {column} = ? AND ok = 1", [value]
    ).fetchone()[0] if column == "username" else 0
    failures = db.execute(
        f"SELECT at FROM login_attempts WHERE {column} = ? AND ok = 0 AND at > ? AND id > ?"
        " ORDER BY id DESC LIMIT ?",
        [value, since, last_ok, limit],
    ).fetchall()
    if len(failures) < limit:
        return 0.0
    # The limit-th most recent failure leaves the window at this moment.
    oldest = datetime.fromisoformat(failures[-1][0])
    return max(0.0, (oldest + window - now).total_seconds())


def login_wait_seconds(
    db: Database, username: str, ip: str, now: datetime, *, max_failures: int, lockout_minutes: float
) -> float:
    """How long a login for ``username`` from ``ip`` must wait (0: go ahead)."""
    window = timedelta(minutes=lockout_minutes)
    by_name = _wait_for(db, "username", (username or "").strip()[:64], max_failures, window, now)
    by_ip = _wait_for(db, "ip", ip or "", max_failures * IP_FAILURE_FACTOR, window, now) if ip else 0.0
    return max(by_name, by_ip)


def clear_login_failures(db: Database, username: str) -> None:
    """An admin lets a locked-out name try again at once (the failures stay in the audit log)."""
    with write_transaction(db):
        db.conn.execute("DELETE FROM login_attempts WHERE username = ? AND ok = 0", [username])
