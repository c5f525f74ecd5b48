"""The SIM area's tables: its own migration set (``tinbao-sim``), beside the code that writes them.

Each table has one writer in ``gateway/sim/`` and a status column where something moves:

- ``sim_identity``: who the SIM and the modem are (ICCID, IMSI, IMEI), one row per identity a
  modem worker has seen; a row that differs from the one before carries ``changed`` until an
  officer says the SIM's owner re-verified (``identity.py``).
- ``sim_balance``: every credit reading by USSD (or from an operator's SMS), kept as read
  (``balance.py``).
- ``sim_loop_tests``: the daily SMS to the gateway's own number, queued → sent → ok / failed
  (``loop.py``).
- ``sim_notices``: SMS from operators (alphanumeric senders, short codes), written in the
  router's transaction beside their inbox row, with what they speak of (``notices.py``).
- ``calls``: incoming calls the modem hung up, new → done, and the call-back list
  (``calls.py``).
- ``sim_holds``: broadcasts paused because the credit fell under ``sim.reserve`` (``balance.py``).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-sim")


@migrations()
def m001_sim(db: Database) -> None:
    db.executescript(
        """
        -- One row per identity a modem worker saw at connect; last_seen moves at every connect.
        CREATE TABLE sim_identity (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,          -- the worker's name: modem0, modem1...
            iccid TEXT,                   -- the SIM card's serial (AT+CCID / AT+ICCID)
            imsi TEXT,                    -- the subscriber identity (AT+CIMI)
            imei TEXT,                    -- the modem's identity (AT+CGSN)
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            changed TEXT,                 -- NULL (first or same) | 'sim' | 'modem' | 'both'
            acknowledged_at TEXT,         -- an officer: the SIM's owner re-verified
            acknowledged_by TEXT
        );
        CREATE INDEX sim_identity_modem ON sim_identity (modem, id);

        -- Credit readings, newest last; text is the operator's reply as decoded.
        CREATE TABLE sim_balance (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            read_at TEXT NOT NULL,
            source TEXT NOT NULL,         -- 'ussd' | 'sms' (an operator's notice that states it)
            trigger TEXT,                 -- 'start' | 'schedule' | 'page' | 'broadcast' | 'spending'
            code TEXT,                    -- the USSD code asked
            operator TEXT,
            status TEXT NOT NULL,         -- 'ok' | 'unreadable' | 'failed' | 'unsupported'
            balance_vnd INTEGER,
            valid_until TEXT,             -- YYYY-MM-DD
            text TEXT,
            dcs INTEGER,
            error TEXT
        );
        CREATE INDEX sim_balance_status ON sim_balance (status, id);

        -- The daily loop: an SMS to the gateway's own number that must come back.
        CREATE TABLE sim_loop_tests (
            id INTEGER PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,
            local_day TEXT NOT NULL,      -- the local date it counts for
            trigger TEXT NOT NULL,        -- 'daily' | 'first' | 'page'
            created_at TEXT NOT NULL,
            outbox_id INTEGER,
            status TEXT NOT NULL,         -- 'queued' | 'ok' | 'failed'
            sent_at TEXT,
            returned_at TEXT,
            round_trip_s REAL,
            error TEXT
        );
        CREATE INDEX sim_loop_tests_status ON sim_loop_tests (status);

        -- SMS from the operator (never answered), with the topics found in them.
        CREATE TABLE sim_notices (
            id INTEGER PRIMARY KEY,
            inbox_id INTEGER NOT NULL UNIQUE,
            sender TEXT NOT NULL,
            received_at TEXT NOT NULL,
            text TEXT NOT NULL,
            topics TEXT NOT NULL DEFAULT '',  -- comma-separated: lock, verify, biometric, expiry, balance
            alert INTEGER NOT NULL DEFAULT 0,
            read_at TEXT,                 -- an officer marked it read: its alert ends
            read_by TEXT
        );

        -- Incoming calls, hung up without answering ("nháy máy"): new → done.
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY,
            modem TEXT NOT NULL,
            at TEXT NOT NULL,
            number TEXT,                  -- E.164 for people, as received otherwise; NULL: not shown
            number_kind TEXT NOT NULL,    -- phone.Kind, or 'hidden' / 'unknown' (no +CLIP)
            status TEXT NOT NULL DEFAULT 'new',  -- 'new' → 'done'
            action TEXT,                  -- what was done: 'menu', 'paced', 'not_a_mobile', 'none'
            outbox_id INTEGER,            -- the menu SMS it was answered with
            callback TEXT,                -- NULL | 'pending' | 'done'
            callback_at TEXT,
            callback_by TEXT
        );
        CREATE INDEX calls_status ON calls (status);
        CREATE INDEX calls_number ON calls (number, at);

        -- Broadcasts the gateway paused because the credit fell under sim.reserve.
        CREATE TABLE sim_holds (
            id INTEGER PRIMARY KEY,
            broadcast_id INTEGER NOT NULL,
            balance_id INTEGER NOT NULL,
            held_at TEXT NOT NULL,
            balance_vnd INTEGER NOT NULL,
            reserve INTEGER NOT NULL
        );
        CREATE INDEX sim_holds_broadcast ON sim_holds (broadcast_id, id);
        """
    )
