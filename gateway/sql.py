"""The SQL pieces every area's read functions share: a WHERE clause built from a page's filters,
and LIKE with an officer's text taken literally.

Values always travel as parameters; only column names and fixed clauses (from the code, never
from a request) are written into the SQL. Imports nothing of the gateway: any area may use it.
"""

from __future__ import annotations

from typing import Any


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: its ``%``, ``_`` and ``\\`` match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Where:
    """The AND of a page's filters; a filter left empty (None, "") adds nothing.

    ``Where().equal("status", "new").contains("folded", "lua dao").sql()`` is
    ``"status = ? AND folded LIKE ? ESCAPE '\\'"`` with ``params`` ``["new", "%lua dao%"]``.
    """

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def add(self, clause: str, *params: Any) -> Where:
        """Any condition, with its ``?`` parameters."""
        self.clauses.append(clause)
        self.params.extend(params)
        return self

    def equal(self, column: str, value: Any) -> Where:
        return self.add(f"{column} = ?", value) if value else self

    def at_or_after(self, column: str, moment: str | None) -> Where:
        """``column >= moment`` (ISO UTC text sorts as time)."""
        return self.add(f"{column} >= ?", moment) if moment else self

    def before(self, column: str, moment: str | None) -> Where:
        """``column < moment``: a time range is from inclusive, until exclusive."""
        return self.add(f"{column} < ?", moment) if moment else self

    def contains(self, column: str, text: str | None) -> Where:
        """``column`` holds ``text`` anywhere, taken literally."""
        return self.add(f"{column} LIKE ? ESCAPE '\\'", f"%{like_literal(text)}%") if text else self

    def starts_with(self, column: str, text: str | None) -> Where:
        """``column`` begins with ``text``, taken literally."""
        return self.add(f"{column} LIKE ? ESCAPE '\\'", f"{like_literal(text)}%") if text else self

    def sql(self, empty: str = "1") -> str:
        """The conditions joined by AND (``empty`` when there are none: ``1``, always true)."""
        return " AND ".join(self.clauses) or empty
