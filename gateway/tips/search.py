"""The tips list: its filters, accent-insensitive search (``tips_fts``), pages and the export.

Search works on folded text ("Lừa đảo" and "lua dao" find the same tips); the index is kept
by triggers in SQLite, so every writer of ``tips`` keeps it current without knowing of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
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

    def source(self) -> tuple[str, str, list[Any], str]:
        """(FROM, WHERE, parameters, the tip's id) for a page or a count, newest first by that id.

        A search reads from the full-text index and joins each match to its tip: FTS5 walks
        its matches newest first and stops at the page (or the count's cap), where
        ``t.id IN (MATCH ...)`` would first collect every match (a common word: 8 → 0.4 ms).
        """
        if not self.search:
            clause, params = self.where()
            return "tips t", clause, params, "t.id"
        rest, params = replace(self, search=None).where()
        if rest == "1":  # the words alone: the index answers without the tips' rows
            return "tips_fts", "tips_fts MATCH ?", [self.search], "tips_fts.rowid"
        return ("tips_fts JOIN tips t ON t.id = tips_fts.rowid", f"tips_fts MATCH ? AND {rest}",
                [self.search, *params], "tips_fts.rowid")


TIP_LIST_COLUMNS = (
    # SQLite's substr stops at a NUL: such a text (rare, from SMS) is read whole.
    "t.id, t.reference, t.received_at, t.tipster,"
    " CASE WHEN instr(t.text, char(0)) > 0 THEN t.text ELSE substr(t.text, 1, ?) END AS text_start, t.status,"
    " t.status_changed_at, t.status_changed_by, t.village, t.assigned_to, t.confirmation"
)


def list_tips(db: Database, where: TipFilter, *, limit: int, offset: int = 0,
              text_chars: int = 200) -> list[dict[str, Any]]:
    """One page of tips matching ``where``, newest first.

    The page's ids are picked first, from the indexes alone, and only their rows are read:
    a filter on days reads 50 rows, not every tip of the month sorted by id (33 → 5 ms).
    """
    source, clause, params, tip_id = where.source()
    return list(db.query(
        f"SELECT {TIP_LIST_COLUMNS} FROM tips t WHERE t.id IN"
        f" (SELECT {tip_id} FROM {source} WHERE {clause} ORDER BY {tip_id} DESC LIMIT ? OFFSET ?) ORDER BY t.id DESC",
        [text_chars, *params, limit, offset],
    ))


def count_tips(db: Database, where: TipFilter, *, cap: int) -> int:
    """How many tips match, counting at most ``cap + 1`` (a page says "more than cap")."""
    source, clause, params, _order = where.source()
    row = db.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE {clause} LIMIT ?)", [*params, cap + 1]
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
