"""The menus editor's table: every saved version of the SMS menus (its own migration set).

Menus edited in the page live in the database, not in ``firmware_config/menus/*.toml``: the
shipped files stay as they came (the "original", version 0) and each save adds a row, so a
bad edit is undone by restoring an older row, and the page can say who changed what, when.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-web-menus")


@migrations()
def m001_menu_versions(db: Database) -> None:
    db.executescript(
        """
        -- One row per save of the menus (all languages together), newest = in use.
        CREATE TABLE menu_versions (
            id INTEGER PRIMARY KEY,
            saved_at TEXT NOT NULL,
            saved_by TEXT NOT NULL,           -- a username
            comment TEXT NOT NULL DEFAULT '',
            restored_from INTEGER,            -- undo: the version copied (0 = shipped files)
            sources TEXT NOT NULL             -- JSON {"vi.toml": {parsed TOML}, ...}
        );
        """
    )
