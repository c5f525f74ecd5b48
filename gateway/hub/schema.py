"""The hub's tables: its own migration set, applied by ``gateway.database.prepare_hub``.

Besides these the hub's file holds only ``state`` (its session secret) and the accounts set
(users, audit log, login attempts), so ``python app.py hub create-user`` makes hub logins in
it. No gateway table (pdus, outbox, tips...) is made there.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-hub")


@migrations()
def m001_hub(db: Database) -> None:
    db.executescript(
        """
        -- Every commune's tips, each once: uid is global (gateway id + local id).
        -- digest (received_at + text) tells a repeat from a different tip under the same uid
        -- (a gateway whose database was wiped starts counting again).
        CREATE TABLE hub_tips (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            gateway_id TEXT NOT NULL,
            gateway_name TEXT,
            reference TEXT NOT NULL,
            received_at TEXT NOT NULL,
            text TEXT NOT NULL,
            folded TEXT NOT NULL,                  -- text without diacritics, for search
            tipster_masked TEXT,
            tipster TEXT,                          -- only when the commune shares numbers
            digest TEXT NOT NULL,
            source TEXT NOT NULL,                  -- online | file
            first_seen_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',    -- new | handling | closed
            status_changed_at TEXT,
            status_changed_by TEXT
        );
        CREATE INDEX hub_tips_received ON hub_tips(received_at);
        CREATE INDEX hub_tips_gateway ON hub_tips(gateway_id, received_at);
        CREATE INDEX hub_tips_status ON hub_tips(status, received_at);

        -- Status decisions, in order; each gateway pulls its own (GET /api/v1/changes?since=seq).
        CREATE TABLE hub_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            gateway_id TEXT NOT NULL,
            uid TEXT NOT NULL,
            status TEXT NOT NULL,
            notify_tipster INTEGER NOT NULL DEFAULT 0,
            message TEXT,
            at TEXT NOT NULL,
            by TEXT NOT NULL
        );
        CREATE INDEX hub_changes_gateway ON hub_changes(gateway_id, seq);

        -- What happened at the door: refused tokens, batches, imports (shown to officers).
        CREATE TABLE hub_events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,                   -- refused | batch | import | import_refused
            gateway_id TEXT,
            remote TEXT,
            detail TEXT
        );

        -- Sneakernet files taken in (by content digest: the same file twice changes nothing).
        CREATE TABLE hub_imports (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            digest TEXT NOT NULL UNIQUE,
            gateway_id TEXT NOT NULL,
            path TEXT NOT NULL,
            tips INTEGER NOT NULL,
            new_tips INTEGER NOT NULL
        );
        """
    )


@migrations()
def m002_commune_status_and_refusals(db: Database) -> None:
    db.executescript(
        """
        -- The status the commune gave the tip (pushed with the tip, then POST /api/v1/status),
        -- shown beside the hub's own; and the full length when the gateway cut the text.
        ALTER TABLE hub_tips ADD COLUMN commune_status TEXT;
        ALTER TABLE hub_tips ADD COLUMN commune_status_at TEXT;
        ALTER TABLE hub_tips ADD COLUMN commune_status_by TEXT;
        ALTER TABLE hub_tips ADD COLUMN text_chars INTEGER;

        -- Refused requests (wrong or missing token), counted per address: a flood of them is
        -- one row, so it can never push the real events of hub_events out.
        CREATE TABLE hub_refusals (
            remote TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            first_at TEXT NOT NULL,
            last_at TEXT NOT NULL,
            last_detail TEXT
        );
        CREATE INDEX hub_refusals_last ON hub_refusals(last_at);
        """
    )


@migrations()
def m003_fleet(db: Database) -> None:
    db.executescript(
        """
        -- The newest heartbeat of each gateway, its state kept whole as JSON (a section a newer
        -- gateway adds shows up without a schema change). Only the newest counts: an older one
        -- (a USB file carried for days) leaves it as it is. heard_at is what "last heard" means:
        -- the hub's time for an online beat, the beat's own time for one taken from a file.
        CREATE TABLE hub_heartbeats (
            gateway_id TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            heard_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,                  -- online | file
            state TEXT NOT NULL
        );

        -- One row per gateway and hour it was heard in: a month of a province stays small.
        -- An hour without a row was silent; worst is the worst judgement of its beats.
        CREATE TABLE hub_fleet_hours (
            gateway_id TEXT NOT NULL,
            hour TEXT NOT NULL,                    -- ISO UTC start of the hour
            beats INTEGER NOT NULL,
            worst TEXT NOT NULL,                   -- ok | warning | fault
            line_failed INTEGER NOT NULL DEFAULT 0,  -- beats whose modem or SIM line was down
            codes TEXT NOT NULL DEFAULT '',        -- alert codes seen, comma-separated
            PRIMARY KEY (gateway_id, hour)
        ) WITHOUT ROWID;
        CREATE INDEX hub_fleet_hours_hour ON hub_fleet_hours(hour);
        """
    )


# -- the province's warnings and campaigns (issue 16): their own set -----------------------------
province_migrations = Migrations("tinbao-hub-province")


@province_migrations()
def m001_hub_province(db: Database) -> None:
    db.executescript(
        """
        -- Warnings written once for the province. seq is the change number gateways pull by
        -- (GET /api/v1/warnings?since=seq): every save takes the next one; version counts edits.
        CREATE TABLE hub_warnings (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            version INTEGER NOT NULL DEFAULT 1,
            title TEXT NOT NULL,
            accented TEXT NOT NULL,
            khong_dau TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );

        -- Campaigns: one warning (its text as it was when scheduled) to all communes or the
        -- chosen ones (hub_campaign_communes), between starts_at and ends_at (UTC).
        CREATE TABLE hub_campaigns (
            id INTEGER PRIMARY KEY,
            seq INTEGER NOT NULL UNIQUE,
            warning_id INTEGER NOT NULL REFERENCES hub_warnings(id),
            warning_version INTEGER NOT NULL,
            title TEXT NOT NULL,
            accented TEXT NOT NULL,
            khong_dau TEXT NOT NULL,
            encoding TEXT NOT NULL,                -- khong_dau | accented
            all_communes INTEGER NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active', -- active | cancelled
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        );
        CREATE INDEX hub_campaigns_seq ON hub_campaigns(all_communes, seq);

        CREATE TABLE hub_campaign_communes (
            campaign_id INTEGER NOT NULL REFERENCES hub_campaigns(id),
            gateway_id TEXT NOT NULL,
            PRIMARY KEY (campaign_id, gateway_id)
        ) WITHOUT ROWID;
        CREATE INDEX hub_campaign_communes_gateway ON hub_campaign_communes(gateway_id, campaign_id);

        -- Each commune's newest word on each campaign (from its heartbeats): counts only.
        CREATE TABLE hub_campaign_progress (
            campaign_id INTEGER NOT NULL REFERENCES hub_campaigns(id),
            gateway_id TEXT NOT NULL,
            status TEXT NOT NULL,   -- scheduled | running | paused | done | missed | cancelled | closed
            held TEXT,              -- why it waits: quiet, clock, per_day, paused, ...
            recipients INTEGER NOT NULL DEFAULT 0,
            parts INTEGER,
            pending INTEGER NOT NULL DEFAULT 0,
            queued INTEGER NOT NULL DEFAULT 0,
            sent INTEGER NOT NULL DEFAULT 0,
            delivered INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0,
            price_per_part INTEGER,
            reported_at TEXT NOT NULL,  -- the heartbeat's "at"
            received_at TEXT NOT NULL,
            PRIMARY KEY (campaign_id, gateway_id)
        ) WITHOUT ROWID;
        """
    )
