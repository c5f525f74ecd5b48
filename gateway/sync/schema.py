"""The sync area's tables: its own migration set, beside the code that reads and writes them.

``m001_sync``: the durable sync queue (one row per tip and destination), what each Zalo
officer got (so a retry never sends one officer the same tip twice), the Zalo token pairs
(the single-use refresh token is committed before the access token is used) and a note of
each sneakernet export. ``m002_zalo_officers``: per-officer retries and the SMS fallback in
``zalo_deliveries``, and ``zalo_officers`` (what Zalo's 48-hour reply window allows each one).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-sync")


@migrations()
def m001_sync(db: Database) -> None:
    db.executescript(
        """
        -- One row per (tip, destination): a tip leaves the queue only after the receiver
        -- acknowledged it (DESIGN.md rule 3). received_at is the tip's, copied so the queue
        -- drains in the order tips came in without a join.
        CREATE TABLE sync_queue (
            id INTEGER PRIMARY KEY,
            tip_id INTEGER NOT NULL REFERENCES tips(id),
            destination TEXT NOT NULL,             -- zalo | district
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | in_progress | done | failed | dead
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            acked_at TEXT,
            UNIQUE(tip_id, destination)
        );
        CREATE INDEX sync_queue_due ON sync_queue(destination, status, next_attempt_at, received_at, tip_id);

        -- What each Zalo officer got for a tip. 'sending' is written (and committed) before
        -- the request: a row still 'sending' after a crash is in doubt, and the mirror looks
        -- in that officer's conversation before sending again.
        CREATE TABLE zalo_deliveries (
            tip_id INTEGER NOT NULL REFERENCES tips(id),
            officer_id TEXT NOT NULL,
            status TEXT NOT NULL,                  -- sending | sent | unreachable
            message_id TEXT,
            error TEXT,
            attempted_at TEXT NOT NULL,
            done_at TEXT,
            PRIMARY KEY (tip_id, officer_id)
        );

        -- Zalo OA token pairs, newest last. A refresh token works once: the pair it buys is
        -- inserted here (committed) before the new access token is used.
        CREATE TABLE zalo_tokens (
            id INTEGER PRIMARY KEY,
            access_token TEXT,
            access_expires_at TEXT,
            refresh_token TEXT NOT NULL,
            source TEXT NOT NULL,                  -- config | refresh | officer
            obtained_at TEXT NOT NULL
        );

        -- Files written by export-tips (for a USB stick): what went into each.
        CREATE TABLE sync_exports (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            path TEXT NOT NULL,
            tips INTEGER NOT NULL,
            digest TEXT NOT NULL
        );
        """
    )


@migrations()
def m002_zalo_officers(db: Database) -> None:
    db.executescript(
        """
        -- Each officer on their own: a failed message is retried for that officer only, with
        -- back-off; after the limit it is dead for that officer; an officer Zalo cannot reach
        -- gets the tip by SMS (sms_outbox_id: the duty alert that carried it).
        ALTER TABLE zalo_deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE zalo_deliveries ADD COLUMN next_attempt_at TEXT;
        ALTER TABLE zalo_deliveries ADD COLUMN sms_outbox_id INTEGER;

        -- What Zalo's rules allow for each officer: their latest message to the OA (a reply to
        -- it is free for 48 h, 8 times), the replies used since, the last check of their
        -- conversation, the last SMS reminder, and the last problem Zalo reported.
        CREATE TABLE zalo_officers (
            officer_id TEXT PRIMARY KEY,
            last_message_id TEXT,
            last_message_at TEXT,
            replies_used INTEGER NOT NULL DEFAULT 0,
            checked_at TEXT,
            reminded_at TEXT,
            reminded_for TEXT,                     -- the last_message_id (or '') the reminder was about
            last_error TEXT,
            last_error_at TEXT
        );
        """
    )
