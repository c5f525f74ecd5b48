"""The tips list: its filters, accent-insensitive search (``tips_fts``), pages and the export.

Search works on folded text ("Lừa đảo" and "lua dao" find the same tips); the index is kept
by triggers in SQLite, so every writer of ``tips`` keeps it current without knowing of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from gateway.sms.text import fold
from gateway.sql import Where

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SEARCH_TERMS = 8


def fts_query(text: str) -> str | None:
    """An FTS5 MATCH expression for what an officer typed: every word, as a prefix, folded.

    "Lừa  đảo" and "lua dao" both become ``"lua"* "dao"*``. Operators and quotes typed by
    the officer are not FTS syntax here, only words, so no input can break the query.
    """
    words = _WORD.findall(fold(text or ""))[:MAX_SEARCH_TERMS]
    words = [w.replace("_", "") for w in words]
    words = [w for w in words if w]
    if not words:
        return None
    # A one-letter prefix would walk most of the index: one letter is a whole word ("ô", "ở").
    return " ".join(f'"{word}"*' if len(word) > 1 else f'"{word}"' for word in words)


@dataclass(frozen=True)
class TipFilter:
    """The tips list's filters; times are UTC ISO bounds (from inclusive, until exclusive)."""

    status: str | None = None
    village: str | None = None
    since: str | None = None
    until: str | None = None
    search: str | None = None  # an FTS5 MATCH expression from fts_query
    assigned_to: str | None = None
    confirmation: str | None = None  # "pending": only messages waiting to be confirmed

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition on ``tips t`` and its parameters (``gateway.sql.Where``)."""
        where = (Where().equal("t.status", self.status).equal("t.village", self.village)
                 .equal("t.assigned_to", self.assigned_to).equal("t.confirmation", self.confirmation)
                 .at_or_after("t.received_at", self.since).before("t.received_at", self.until))
        if self.search:
            where.add("t.id IN (SELECT rowid FROM tips_fts WHERE tips_fts MATCH ?)", self.search)
        return where.sql(), where.params


TIP_LIST_COLUMNS = (
    # SQLite's substr stops at a NUL: such a text (rare, from SMS) is read whole.
    "t.id, t.reference, t.received_at, t.tipster,"
    " CASE WHEN instr(t.text, char(0)) > 0 THEN t.text ELSE substr(t.text, 1, ?) END AS text_start, t.status,"
    " t.status_changed_at, t.status_changed_by, t.village, t.assigned_to, t.confirmation"
)


def list_tips(db: Database, where: TipFilter, *, limit: int, offset: int = 0,
              text_chars: int = 200) -> list[dict[str, Any]]:
    """One page of tips matching ``where``, newest first."""
    clause, params = where.where()
    return list(db.query(
        f"SELECT {TIP_LIST_COLUMNS} FROM tips t WHERE {clause} ORDER BY t.id DESC LIMIT ? OFFSET ?",
        [text_chars, *params, limit, offset],
    ))


def count_tips(db: Database, where: TipFilter, *, cap: int) -> int:
    """How many tips match, counting at most ``cap + 1`` (a page says "more than cap")."""
    clause, params = where.where()
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM tips t WHERE {clause} LIMIT ?)", [*params, cap + 1]
    ).fetchone()
    return int(row[0])


def iter_tips(db: Database, where: TipFilter, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every matching tip with its whole text, newest first, read in batches (CSV export)."""
    clause, params = where.where()
    last_id: int | None = None
    while True:
        keyset = "AND t.id < ?" if last_id is not None else ""
        rows = list(db.query(
            f"SELECT t.id, t.reference, t.received_at, t.tipster, t.text, t.status,"
            f" t.status_changed_at, t.status_changed_by, t.village, t.assigned_to"
            f" FROM tips t WHERE ({clause}) {keyset} ORDER BY t.id DESC LIMIT ?",
            [*params, *([last_id] if last_id is not None else []), batch],
        ))
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]
