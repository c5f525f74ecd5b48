"""The broadcasts area's tables: its own migration set, beside the code that reads and writes them.

Every hand-off is a table with a status column (DESIGN.md): a broadcast fires ``broadcast_runs``
(one per firing, a missed one included), each run has one ``broadcast_deliveries`` row per
recipient, and a delivery points at the ``outbox`` row that carries it. The delivery row and
its outbox row are written in one transaction, so a restart finds every recipient either
still pending or already handed to the outbox: nobody is sent a broadcast twice (rule 4).

The outbox's claim columns (a modem worker claims a message so all its parts leave through
one modem, and marks the part in the modem right before ``AT+CMGS``) are the core's
(``gateway.schema``). Databases made before that got them from ``m001_broadcasts``.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-broadcasts")


@migrations()
def m001_broadcasts(db: Database) -> None:
    """Subscribers and their groups, broadcasts, runs, deliveries."""
    db.executescript(
        """
        -- Villagers who get the warnings. A number that left is kept (status 'left'), so an
        -- import never adds it again; only the villager (DK) or, if an officer removed it,
        -- an officer brings it back.
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,              -- E.164
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'subscribed', -- subscribed | left
            source TEXT NOT NULL,                      -- sms | officer | import
            left_via TEXT,                             -- sms | officer (who removed it)
            village_request TEXT,                      -- "DK <village>" with no such village
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT,
            subscribed_at TEXT,
            left_at TEXT
        );
        CREATE INDEX subscribers_status ON subscribers(status, id);

        -- Villages ("thôn") and any other label officers group people by.
        CREATE TABLE subscriber_groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE,        -- folded, without "thôn"/"bản": for DK <village>, imports
            kind TEXT NOT NULL DEFAULT 'village', -- village | label
            created_at TEXT NOT NULL
        );

        CREATE TABLE subscriber_group_members (
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
            group_id INTEGER NOT NULL REFERENCES subscriber_groups(id) ON DELETE CASCADE,
            PRIMARY KEY (subscriber_id, group_id)
        ) WITHOUT ROWID;
        CREATE INDEX subscriber_group_members_group ON subscriber_group_members(group_id, subscriber_id);

        -- What officers compose. schedule: now | once | weekly | monthly; weekly/monthly fire
        -- at time_of_day in gateway.timezone. next_run_at is the next due moment (UTC).
        CREATE TABLE broadcasts (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            body TEXT NOT NULL,                 -- accented, as written (sender and stop line added when sent)
            body_khong_dau TEXT,                -- the library's hand-written "không dấu" form, else NULL
            warning_id TEXT,                    -- library id when taken from the library
            encoding TEXT NOT NULL DEFAULT 'khong_dau', -- accented | khong_dau
            all_subscribers INTEGER NOT NULL DEFAULT 0, -- 1: everyone, else broadcast_groups
            schedule TEXT NOT NULL DEFAULT 'now',
            run_at TEXT,                        -- once: the moment (UTC)
            weekday INTEGER,                    -- weekly: 0 Monday .. 6 Sunday
            day_of_month INTEGER,               -- monthly: 1-31 (short months: their last day)
            time_of_day TEXT,                   -- weekly/monthly: "HH:MM", local time
            grace_minutes REAL,                 -- NULL: broadcasts.grace_minutes
            status TEXT NOT NULL DEFAULT 'draft', -- draft | scheduled | running | paused | done | cancelled
            next_run_at TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT,
            updated_at TEXT NOT NULL,
            updated_by TEXT
        );
        CREATE INDEX broadcasts_due ON broadcasts(status, next_run_at);

        CREATE TABLE broadcast_groups (
            broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
            group_id INTEGER NOT NULL REFERENCES subscriber_groups(id) ON DELETE CASCADE,
            PRIMARY KEY (broadcast_id, group_id)
        ) WITHOUT ROWID;

        -- One row per firing. A firing missed while the Pi was off (beyond the grace window)
        -- is a row too, status 'missed', so officers see it did not go out.
        CREATE TABLE broadcast_runs (
            id INTEGER PRIMARY KEY,
            broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id),
            due_at TEXT NOT NULL,               -- the scheduled moment (UTC)
            fired_at TEXT,                      -- NULL when missed
            finished_at TEXT,
            status TEXT NOT NULL,               -- running | done | cancelled | missed
            text TEXT,                          -- exactly what each recipient gets
            encoding TEXT,                      -- gsm7 | ucs2
            parts INTEGER,                      -- SMS parts per recipient
            recipients INTEGER NOT NULL DEFAULT 0,
            note TEXT,
            UNIQUE (broadcast_id, due_at)
        );
        CREATE INDEX broadcast_runs_status ON broadcast_runs(status, id);

        -- One row per (run, recipient): what happened to that villager's copy.
        CREATE TABLE broadcast_deliveries (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES broadcast_runs(id),
            subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),
            number TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
                -- pending | queued | sent | delivered | failed | unknown | skipped | cancelled
            not_before TEXT,                    -- held until then (daily limit reached)
            outbox_id INTEGER REFERENCES outbox(id),
            queued_at TEXT,
            sent_at TEXT,
            delivered_at TEXT,
            reason TEXT,
            UNIQUE (run_id, subscriber_id)
        );
        CREATE INDEX broadcast_deliveries_status ON broadcast_deliveries(status, run_id, id);
        CREATE INDEX broadcast_deliveries_number ON broadcast_deliveries(number, queued_at);
        CREATE UNIQUE INDEX broadcast_deliveries_outbox ON broadcast_deliveries(outbox_id)
            WHERE outbox_id IS NOT NULL;
        """
    )


@migrations()
def m002_consent(db: Database) -> None:
    """Consent you can show (issue 17): the ledger, one invitation per number, no default.

    A subscriber receives warnings only with a current consent: ``status`` 'subscribed' and
    ``consent_id`` naming the ledger's 'given' row it rests on. A number an officer added or
    imported waits as 'invited' (one invitation SMS asks for DK) or, without any recorded
    consent, as 'no_consent'. Rows the older code subscribed are judged here: a number that
    texted DK keeps a consent (basis 'legacy_sms': its raw text was not kept then); an added
    or imported one is 'no_consent' until it replies DK (the dashboard suggests inviting).
    """
    db.executescript(
        """
        ALTER TABLE subscribers ADD COLUMN consent_id INTEGER; -- the ledger's 'given' row in force

        -- Append-only: what each number said or was asked, on what basis, with the notice
        -- version it was sent. Only an erasure (a person's request) clears the personal
        -- fields of its rows (number, raw text, note); nothing else changes or goes.
        CREATE TABLE consent_ledger (
            id INTEGER PRIMARY KEY,
            subscriber_id INTEGER,              -- NULL once erased
            number TEXT,                        -- E.164; NULL once erased
            event TEXT NOT NULL,                -- given | withdrawn | invited | erased
            basis TEXT NOT NULL,                -- sms | paper | officer | import | request | legacy_sms
            at TEXT NOT NULL,
            raw_text TEXT,                      -- the SMS (DK, HUY...) exactly as received
            inbox_id INTEGER,                   -- that SMS's inbox row
            notice_version TEXT,                -- the notice the person was sent with it
            note TEXT,                          -- the officer's note (where the paper is kept)
            by TEXT NOT NULL                    -- an officer's username, or 'sms'
        );
        CREATE INDEX consent_ledger_number ON consent_ledger(number, id);
        CREATE INDEX consent_ledger_subscriber ON consent_ledger(subscriber_id, id);
        CREATE TRIGGER consent_ledger_append_only BEFORE UPDATE ON consent_ledger
        WHEN NEW.id IS NOT OLD.id OR NEW.event IS NOT OLD.event OR NEW.basis IS NOT OLD.basis
          OR NEW.at IS NOT OLD.at OR NEW.notice_version IS NOT OLD.notice_version OR NEW.by IS NOT OLD.by
          OR (NEW.subscriber_id IS NOT NULL AND NEW.subscriber_id IS NOT OLD.subscriber_id)
          OR (NEW.number IS NOT NULL AND NEW.number IS NOT OLD.number)
          OR (NEW.raw_text IS NOT NULL AND NEW.raw_text IS NOT OLD.raw_text)
          OR (NEW.inbox_id IS NOT NULL AND NEW.inbox_id IS NOT OLD.inbox_id)
          OR (NEW.note IS NOT NULL AND NEW.note IS NOT OLD.note)
        BEGIN
            SELECT RAISE(ABORT, 'consent_ledger is append-only (an erasure only clears personal fields)');
        END;
        CREATE TRIGGER consent_ledger_no_delete BEFORE DELETE ON consent_ledger
        BEGIN
            SELECT RAISE(ABORT, 'consent_ledger is append-only');
        END;

        -- One invitation SMS per number, ever: pending until the sender hands it to the
        -- outbox (paced, in the same transaction as its outbox row, so a restart never sends
        -- it twice), cancelled when the person answered (DK, HUY) or was removed first.
        CREATE TABLE invitations (
            id INTEGER PRIMARY KEY,
            subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE CASCADE,
            number TEXT NOT NULL UNIQUE,        -- E.164: one invitation per number
            status TEXT NOT NULL DEFAULT 'pending', -- pending | queued | cancelled
            text TEXT NOT NULL,                 -- exactly what is sent
            notice_version TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            outbox_id INTEGER,                  -- the outbox row that carries it (no key: purged apart)
            queued_at TEXT,
            reason TEXT
        );
        CREATE INDEX invitations_status ON invitations(status, id);
        CREATE INDEX invitations_queued ON invitations(queued_at) WHERE queued_at IS NOT NULL;

        -- The older code's subscriptions, judged once.
        UPDATE subscribers SET status = 'no_consent'
            WHERE status = 'subscribed' AND source != 'sms' AND COALESCE(updated_by, '') != 'sms';
        INSERT INTO consent_ledger (subscriber_id, number, event, basis, at, notice_version, by)
            SELECT id, number, 'given', 'legacy_sms', COALESCE(subscribed_at, created_at), 'legacy', 'sms'
            FROM subscribers WHERE status = 'subscribed' ORDER BY id;
        INSERT INTO consent_ledger (subscriber_id, number, event, basis, at, notice_version, by)
            SELECT id, number, 'withdrawn', CASE WHEN left_via = 'sms' THEN 'sms' ELSE 'officer' END,
                   COALESCE(left_at, updated_at), 'legacy', COALESCE(updated_by, left_via, 'sms')
            FROM subscribers WHERE status = 'left' ORDER BY id;
        UPDATE subscribers SET consent_id = (SELECT MAX(c.id) FROM consent_ledger c
            WHERE c.subscriber_id = subscribers.id AND c.event = 'given') WHERE status = 'subscribed';
        """
    )


# -- what the province sends: its warnings and its campaigns (issue 16) ---------------------------
# Their own set, after the broadcasts' (a campaign points at the local broadcast it became).
province_migrations = Migrations("tinbao-province")


@province_migrations()
def m001_province(db: Database) -> None:
    """Province warnings (the commune's library, marked "Công an tỉnh") and campaigns."""
    db.executescript(
        """
        -- Warnings written at the hub, as the hub last sent them (by sync or USB file). The
        -- commune's own warnings are files and broadcasts: nothing here ever touches them.
        -- A new version goes back to 'waiting' until an officer accepts it (or
        -- broadcasts.accept_province takes it at once).
        CREATE TABLE province_warnings (
            id INTEGER PRIMARY KEY,             -- the hub's warning id
            version INTEGER NOT NULL,           -- the hub's version: each edit is one more
            title TEXT NOT NULL,
            accented TEXT NOT NULL,
            khong_dau TEXT NOT NULL,
            hub_name TEXT,                      -- who wrote it (the hub's own name)
            hub_updated_at TEXT,
            status TEXT NOT NULL,               -- waiting | accepted
            accepted_version INTEGER,
            accepted_at TEXT,
            accepted_by TEXT,
            received_at TEXT NOT NULL,
            received_via TEXT NOT NULL          -- sync | usb
        );
        CREATE INDEX province_warnings_status ON province_warnings(status, id);

        -- Campaigns addressed to this commune. A campaign becomes at most ONE local broadcast
        -- (broadcast_id, unique), written in the same transaction as this row: a campaign
        -- fetched again, by sync or by file, after any restart, never makes a second one.
        CREATE TABLE province_campaigns (
            id INTEGER PRIMARY KEY,             -- the hub's campaign id
            seq INTEGER NOT NULL,               -- the hub's change number of what is held here
            warning_id INTEGER NOT NULL,
            warning_version INTEGER NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,                 -- accented
            body_khong_dau TEXT NOT NULL,
            encoding TEXT NOT NULL,             -- khong_dau | accented
            starts_at TEXT NOT NULL,            -- the window (UTC)
            ends_at TEXT NOT NULL,
            hub_status TEXT NOT NULL,           -- active | cancelled (the hub's word)
            status TEXT NOT NULL,               -- broadcast → closed; missed; cancelled
            broadcast_id INTEGER UNIQUE REFERENCES broadcasts(id),
            hub_name TEXT,
            note TEXT,
            received_at TEXT NOT NULL,
            received_via TEXT NOT NULL,         -- sync | usb
            closed_at TEXT
        );
        CREATE INDEX province_campaigns_status ON province_campaigns(status, ends_at);
        """
    )
