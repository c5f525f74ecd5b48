"""Table ``state``: small named values the workers publish for the page (and each other).

Reads only here; a database error is raised, never turned into "missing".
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database


def get(db: Database, key: str) -> str | None:
    """The raw value stored under ``key``; None when nothing was stored yet."""
    row = db.execute("SELECT value FROM state WHERE key = ?", [key]).fetchone()
    return None if row is None else row[0]


def get_json(db: Database, key: str) -> dict[str, Any] | None:
    """The JSON object stored under ``key``; None when missing or not a JSON object."""
    raw = get(db, key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None
