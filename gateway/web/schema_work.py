"""Tables for the officers' daily work on tips: village, assignment, history, notes, duty roster,
and the accent-insensitive search index. Its own migration set, applied by storage.prepare.

Search: the FTS5 index holds each tip's text and village with đ/Đ turned into d/D by the
triggers (SQLite's built-in ``replace``), and the ``unicode61 remove_diacritics 2`` tokenizer
folds every other accent and the case. Together that is ``gateway.sms.text.fold`` done by
SQLite itself, so every connection (the router's, a sqlite3 shell, a restore script) keeps the
index right without registering a Python function, and the tip text is stored once
(an external-content table reads ``tips``). Queries are folded with ``fold`` in Python.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-web-work")


def _folded(expr: str) -> str:
    """SQL that maps the letters unicode61 does not fold (đ, Đ and their eth look-alikes)."""
    return f"replace(replace(replace(replace({expr}, 'đ', 'd'), 'Đ', 'D'), 'ð', 'd'), 'Ð', 'D')"


@migrations()
def m001_tip_work(db: Database) -> None:
    """Village and assignment on tips, their history and notes, the duty roster, the indexes."""
    statements = [
        "ALTER TABLE tips ADD COLUMN village TEXT",
        "ALTER TABLE tips ADD COLUMN assigned_to TEXT",
        "ALTER TABLE tips ADD COLUMN assigned_at TEXT",
        # Filters and the 30-day chart read by time and by village, newest first.
        "CREATE INDEX tips_received ON tips(received_at)",
        "CREATE INDEX tips_village ON tips(village, id) WHERE village IS NOT NULL",
        "CREATE INDEX tips_assigned ON tips(assigned_to, id) WHERE assigned_to IS NOT NULL",
        # The keywords chart counts the last 30 days of inbound messages.
        "CREATE INDEX inbox_received ON inbox(received_at)",
        """
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
        )
        """,
        "CREATE INDEX tip_history_tip ON tip_history(tip_id, id)",
        """
        -- Officers' internal notes on a tip: never sent to anybody.
        CREATE TABLE tip_notes (
            id INTEGER PRIMARY KEY,
            tip_id INTEGER NOT NULL REFERENCES tips(id),
            created_at TEXT NOT NULL,
            author TEXT NOT NULL,
            text TEXT NOT NULL
        )
        """,
        "CREATE INDEX tip_notes_tip ON tip_notes(tip_id, id)",
        """
        -- Numbers that get a short SMS when a tip arrives (officers on patrol).
        CREATE TABLE duty_roster (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,   -- E.164
            name TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            changed_at TEXT,
            changed_by TEXT
        )
        """,
        """
        CREATE VIRTUAL TABLE tips_fts USING fts5(
            text, village,
            content='tips', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2',
            prefix='2 3'
        )
        """,
        f"""
        CREATE TRIGGER tips_fts_insert AFTER INSERT ON tips BEGIN
            INSERT INTO tips_fts(rowid, text, village)
            VALUES (new.id, {_folded('new.text')}, {_folded('new.village')});
        END
        """,
        f"""
        CREATE TRIGGER tips_fts_delete AFTER DELETE ON tips BEGIN
            INSERT INTO tips_fts(tips_fts, rowid, text, village)
            VALUES ('delete', old.id, {_folded('old.text')}, {_folded('old.village')});
        END
        """,
        f"""
        CREATE TRIGGER tips_fts_update AFTER UPDATE OF text, village ON tips BEGIN
            INSERT INTO tips_fts(tips_fts, rowid, text, village)
            VALUES ('delete', old.id, {_folded('old.text')}, {_folded('old.village')});
            INSERT INTO tips_fts(rowid, text, village)
            VALUES (new.id, {_folded('new.text')}, {_folded('new.village')});
        END
        """,
        f"""
        INSERT INTO tips_fts(rowid, text, village)
        SELECT id, {_folded('text')}, {_folded('village')} FROM tips
        """,
    ]
    for statement in statements:
        db.execute(statement)
