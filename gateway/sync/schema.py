"""The sync area's tables: its own migration set, applied by gateway.storage.prepare."""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

migrations = Migrations("tinbao-sync")
