"""Officers' accounts, the audit log and login attempts: the accounts area's migration set.

The set keeps its name ``tinbao-web`` (files made before the area left ``gateway/web/`` have
applied it under that name).

``m001_accounts``: officers' accounts, the audit log and the login attempts that throttling
counts. Attempts live in the database (not in memory) so a restart of the gateway does not
hand a password guesser a fresh set of tries. The session-signing secret is kept in the
``state`` table (``gateway.state``, key ``web_secret_key``), so it needs no table here.
Both the gateway's file and the district hub's hold this set (hub officers log in too).

Add changes as new ``@migrations()`` functions below the last one (never edit one that has
been applied: it will not run again on an existing database).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-web")


@migrations()
def m001_accounts(db: Database) -> None:
    db.executescript(
        """
        -- Officers' accounts. Usernames are compared without regard to case.
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,                  -- admin | officer | viewer
            active INTEGER NOT NULL DEFAULT 1,   -- 0: disabled, cannot log in
            language TEXT,                       -- vi | en, the page language they chose
            auth_version INTEGER NOT NULL DEFAULT 1, -- bumped on password reset/disable: ends sessions
            created_at TEXT NOT NULL,
            created_by TEXT,
            password_changed_at TEXT,
            last_login_at TEXT
        );

        -- Who did what, when: logins, user changes, tip status changes, number reveals...
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            who TEXT NOT NULL,                   -- a username, or "system" / "cli"
            action TEXT NOT NULL,                -- dotted word: login.ok, user.create, tip.reveal
            target TEXT NOT NULL DEFAULT '',     -- what it was done to: a username, CL-0042
            detail TEXT NOT NULL DEFAULT '',
            ip TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_log_at ON audit_log(at);
        CREATE INDEX audit_log_who ON audit_log(who, at);
        CREATE INDEX audit_log_action ON audit_log(action, at);

        -- Every login attempt; throttling counts the recent failures per username and per IP.
        CREATE TABLE login_attempts (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            username TEXT NOT NULL COLLATE NOCASE,
            ip TEXT NOT NULL,
            ok INTEGER NOT NULL
        );
        CREATE INDEX login_attempts_username ON login_attempts(username, at);
        CREATE INDEX login_attempts_ip ON login_attempts(ip, at);
        """
    )
