"""The duty roster's table: its own migration set, next to the roster code that reads it.

``IF NOT EXISTS``: databases made before this set got the table from a web set
(``tinbao-web-work``), recorded as applied there.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-duty")


@migrations()
def m001_duty_roster(db: Database) -> None:
    db.executescript(
        """
        -- Numbers that get a short SMS when a tip arrives (officers on patrol).
        CREATE TABLE IF NOT EXISTS duty_roster (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,   -- E.164
            name TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            changed_at TEXT,
            changed_by TEXT
        );
        """
    )


@migrations()
def m002_zalo_user_id(db: Database) -> None:
    db.executescript(
        """
        -- The officer's Zalo user_id (zalo.officer_ids): this number gets the tip by SMS while
        -- Zalo cannot reach the officer, and a reminder before their Zalo window closes.
        ALTER TABLE duty_roster ADD COLUMN zalo_user_id TEXT;
        CREATE UNIQUE INDEX duty_roster_zalo ON duty_roster(zalo_user_id) WHERE zalo_user_id IS NOT NULL;
        """
    )
