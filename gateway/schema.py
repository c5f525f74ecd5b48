"""The core tables, complete: what the modem, the router and the outbox hand each other.

Inbound PDUs, long-SMS parts, the inbox, the outbox and its parts (with the modem workers'
claims), tips (with village, assignment, history, notes and their search index) and menu
sessions. Each area keeps its own tables next to its code (``gateway.menus.schema``,
``gateway.sync.schema``, ``gateway.broadcasts.schema``, ``gateway.duty.schema``,
``gateway.accounts.schema``; the ``state`` table is ``gateway.state``'s); which sets a
database file gets is ``gateway.database``'s (``gateway_migrations``, ``hub_migrations``).

Search: the FTS5 index holds each tip's text and village with đ/Đ turned into d/D by the
triggers (SQLite's built-in ``replace``), and the ``unicode61 remove_diacritics 2`` tokenizer
folds every other accent and the case. Together that is ``gateway.sms.text.fold`` done by
SQLite itself, so every connection (the router's, a sqlite3 shell, a restore script) keeps the
index right without registering a Python function, and the tip text is stored once
(an external-content table reads ``tips``). Queries are folded with ``fold`` in Python.

Databases made before the core tables were complete got the claim columns from the broadcasts
set and the tip columns, history, notes and search index from a web set (``tinbao-web-work``);
both are recorded as applied there, so nothing here runs twice. Add a change as a new
``@migrations()`` function below the last one: one that has been applied never runs again.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao")


def _folded(expr: str) -> str:
    """SQL that maps the letters unicode61 does not fold (đ, Đ and their eth look-alikes)."""
    return f"replace(replace(replace(replace({expr}, 'đ', 'd'), 'Đ', 'D'), 'ð', 'd'), 'Ð', 'D')"


_CORE = """
        -- Every PDU read from the SIM, raw, committed before the SIM copy is deleted.
        -- slot is the SIM slot ("ME:3") while the SIM still holds it; NULL once deleted,
        -- so a message read twice (crash between commit and delete) is recognised.
        CREATE TABLE pdus (
            id INTEGER PRIMARY KEY,
            read_at TEXT NOT NULL,
            slot TEXT,
            pdu TEXT NOT NULL,
            kind TEXT NOT NULL,            -- deliver | status-report | submit | undecodable
            sender TEXT,
            decode_error TEXT,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | assembled | done | error
            last_error TEXT
        );
        CREATE INDEX pdus_slot ON pdus(slot, pdu) WHERE slot IS NOT NULL;
        CREATE INDEX pdus_status ON pdus(status);

        -- Parts of concatenated SMS waiting for their siblings (survives restarts).
        CREATE TABLE parts (
            id INTEGER PRIMARY KEY,
            pdu_id INTEGER NOT NULL REFERENCES pdus(id),
            sender TEXT NOT NULL,
            concat_ref INTEGER NOT NULL,
            total INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            text TEXT NOT NULL,
            encoding TEXT NOT NULL,
            sent_at TEXT,
            received_at TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id)
        );
        CREATE INDEX parts_open ON parts(sender, concat_ref, total) WHERE inbox_id IS NULL;

        -- Whole inbound messages, one per SMS (or per reassembled long SMS).
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            sent_at TEXT,
            sender TEXT NOT NULL,
            sender_kind TEXT NOT NULL,
            text TEXT,
            encoding TEXT,
            kind TEXT NOT NULL DEFAULT 'text',   -- text | binary | undecodable
            parts INTEGER NOT NULL DEFAULT 1,
            partial INTEGER NOT NULL DEFAULT 0,  -- 1: a part never came; kept, never dropped
            status TEXT NOT NULL DEFAULT 'queued', -- queued | done | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            handled_at TEXT,
            handler TEXT,
            pdu_id INTEGER REFERENCES pdus(id)
        );
        CREATE INDEX inbox_status ON inbox(status, id);
        CREATE INDEX inbox_sender ON inbox(sender, id);
        -- The keywords chart counts the last 30 days of inbound messages.
        CREATE INDEX inbox_received ON inbox(received_at);

        -- Outbound SMS. kind says why it is sent (menu, help, tip_ack, officer, ...).
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            number TEXT NOT NULL,
            text TEXT NOT NULL,
            kind TEXT NOT NULL,
            auto INTEGER NOT NULL DEFAULT 1,     -- 1: an automatic reply (rate limited)
            priority INTEGER NOT NULL DEFAULT 0, -- lower goes first: replies before broadcasts
            in_reply_to INTEGER REFERENCES inbox(id),
            encoding TEXT NOT NULL,
            parts_total INTEGER NOT NULL,
            parts_sent INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | sent | delivered | failed | cancelled
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            sent_at TEXT,
            delivered_at TEXT,
            claimed_by TEXT                      -- the modem worker sending it (all parts, one modem)
        );
        CREATE INDEX outbox_due ON outbox(status, priority, next_attempt_at, id);
        CREATE INDEX outbox_number ON outbox(number, created_at);
        CREATE INDEX outbox_claimed ON outbox(claimed_by) WHERE claimed_by IS NOT NULL;

        -- One row per SMS part: sent only after the modem answered +CMGS.
        CREATE TABLE outbox_parts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            seq INTEGER NOT NULL,
            pdu TEXT NOT NULL,
            tpdu_length INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued', -- queued | sent | delivered | failed
            mr INTEGER,                            -- TP-MR from +CMGS, to match status reports
            sent_at TEXT,
            report_status INTEGER,
            reported_at TEXT,
            claimed_by TEXT,                       -- set right before AT+CMGS: in the modem now
            claimed_at TEXT,
            UNIQUE(outbox_id, seq)
        );
        CREATE INDEX outbox_parts_mr ON outbox_parts(mr, sent_at) WHERE mr IS NOT NULL;
        CREATE INDEX outbox_parts_claimed ON outbox_parts(claimed_by) WHERE claimed_by IS NOT NULL;

        CREATE TABLE tips (
            id INTEGER PRIMARY KEY,
            reference TEXT NOT NULL UNIQUE,       -- shown to the tipster: CL-0042
            uid TEXT NOT NULL UNIQUE,             -- global id: gateway id + local id
            received_at TEXT NOT NULL,
            tipster TEXT NOT NULL,
            text TEXT NOT NULL,
            inbox_id INTEGER REFERENCES inbox(id),
            status TEXT NOT NULL DEFAULT 'new',   -- new | handling | closed
            status_changed_at TEXT,
            status_changed_by TEXT,
            village TEXT,
            assigned_to TEXT,                     -- a username
            assigned_at TEXT
        );
        CREATE INDEX tips_status ON tips(status, id);
        -- Filters and the 30-day chart read by time and by village, newest first.
        CREATE INDEX tips_received ON tips(received_at);
        CREATE INDEX tips_village ON tips(village, id) WHERE village IS NOT NULL;
        CREATE INDEX tips_assigned ON tips(assigned_to, id) WHERE assigned_to IS NOT NULL;

        -- Who did what to a tip and when: status changes, assignment, village, replies, views.
        CREATE TABLE tip_history (
            id INTEGER PRIMARY KEY,
            tip_id INTEGER NOT NULL REFERENCES tips(id),
            at TEXT NOT NULL,
            by TEXT NOT NULL,
            action TEXT NOT NULL,      -- status | assign | village | reply
            old_value TEXT,
            new_value TEXT,
            outbox_id INTEGER REFERENCES outbox(id)
        );
        CREATE INDEX tip_history_tip ON tip_history(tip_id, id);

        -- Officers' internal notes on a tip: never sent to anybody.
        CREATE TABLE tip_notes (
            id INTEGER PRIMARY KEY,
            tip_id INTEGER NOT NULL REFERENCES tips(id),
            created_at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX tip_notes_tip ON tip_notes(tip_id, id);

        -- Accent-insensitive search over each tip's text and village (see the module docstring).
        CREATE VIRTUAL TABLE tips_fts USING fts5(
            text, village,
            content='tips', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2',
            prefix='2 3'
        );
        CREATE TRIGGER tips_fts_insert AFTER INSERT ON tips BEGIN
            INSERT INTO tips_fts(rowid, text, village)
            VALUES (new.id, {new_text}, {new_village});
        END;
        CREATE TRIGGER tips_fts_delete AFTER DELETE ON tips BEGIN
            INSERT INTO tips_fts(tips_fts, rowid, text, village)
            VALUES ('delete', old.id, {old_text}, {old_village});
        END;
        CREATE TRIGGER tips_fts_update AFTER UPDATE OF text, village ON tips BEGIN
            INSERT INTO tips_fts(tips_fts, rowid, text, village)
            VALUES ('delete', old.id, {old_text}, {old_village});
            INSERT INTO tips_fts(rowid, text, village)
            VALUES (new.id, {new_text}, {new_village});
        END;

        -- Per-number menu state (open menu, awaiting a tip) and language.
        CREATE TABLE sessions (
            number TEXT PRIMARY KEY,
            language TEXT NOT NULL,
            path TEXT NOT NULL DEFAULT '',
            awaiting TEXT,
            expires_at TEXT,
            last_help_at TEXT
        );
"""


@migrations()
def m001_spine(db: Database) -> None:
    """Inbound PDUs, long-SMS parts, inbox, outbox and its parts, tips and their work, menu sessions."""
    db.executescript(_CORE.format(
        new_text=_folded("new.text"), new_village=_folded("new.village"),
        old_text=_folded("old.text"), old_village=_folded("old.village"),
    ))


@migrations()
def m002_tip_confirmation(db: Database) -> None:
    """Tips filed from a message without the keyword wait for an officer: to confirm or dismiss.

    ``confirmation`` is NULL for a tip sent as one (``TIN ...`` or after the tip prompt);
    ``pending`` for a message with content that was neither a keyword nor a menu choice,
    until an officer makes it ``confirmed`` or ``dismissed`` (gateway/tips/).
    """
    db.executescript("""
        ALTER TABLE tips ADD COLUMN confirmation TEXT;  -- NULL | pending | confirmed | dismissed
        CREATE INDEX tips_to_confirm ON tips(id) WHERE confirmation = 'pending';
    """)


@migrations()
def m003_inbox_retry(db: Database) -> None:
    """A message the router failed on is tried again later: when (``next_attempt_at``)."""
    db.execute("ALTER TABLE inbox ADD COLUMN next_attempt_at TEXT")


@migrations()
def m004_retention(db: Database) -> None:
    """What the retention purge and a person's requests need (``gateway.privacy``).

    A tip an officer put on hold (``hold_reason``, who and when) is never purged nor its number
    detached; ``number_detached_at``: when its tipster's number was removed (the tip is kept);
    ``text_purged_at``: when its text went (the row stays, so its reference and uid are never
    given to another tip). ``sessions.touched_at``: the last time a number's menu state was
    written, so a number not heard of for ``privacy.messages_days`` loses it too.
    """
    db.executescript("""
        ALTER TABLE tips ADD COLUMN hold_reason TEXT;
        ALTER TABLE tips ADD COLUMN held_at TEXT;
        ALTER TABLE tips ADD COLUMN held_by TEXT;
        ALTER TABLE tips ADD COLUMN number_detached_at TEXT;
        ALTER TABLE tips ADD COLUMN text_purged_at TEXT;
        CREATE INDEX tips_closed ON tips(status_changed_at) WHERE status = 'closed';
        ALTER TABLE sessions ADD COLUMN touched_at TEXT;
        UPDATE sessions SET touched_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now');
    """)


@migrations()
def m005_tip_hub_status(db: Database) -> None:
    """The hub's decision on a tip, kept beside the commune's own status, never over it.

    ``status`` is what the commune's officers set; ``hub_status`` (NULL until the hub decides)
    what the hub's officers set, with when and who ("<officer>, <hub name>"). The tip page shows
    both side by side.
    """
    db.executescript("""
        ALTER TABLE tips ADD COLUMN hub_status TEXT;     -- NULL | new | handling | closed
        ALTER TABLE tips ADD COLUMN hub_status_at TEXT;
        ALTER TABLE tips ADD COLUMN hub_status_by TEXT;
    """)


@migrations()
def m006_tips_by_tipster(db: Database) -> None:
    """The tips of one number in the last hour (the duty alerts' per-sender cap, on every tip)
    and a tipster's tips are read by number: without this index each new tip scanned them all."""
    db.execute("CREATE INDEX tips_tipster ON tips(tipster, received_at)")
