"""The SQL pieces the areas share (``gateway.sql``): one WHERE builder, one LIKE escaping."""

from __future__ import annotations

from pathlib import Path

from gateway.sql import Where, like_literal
from gateway.storage import open_db

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"


def test_like_takes_the_officers_text_literally(tmp_path):
    db = open_db(tmp_path / "x.db")
    db.execute("CREATE TABLE t (name TEXT)")
    for name in ("100% lừa đảo", "1000 lừa đảo", "a_b", "axb", "c\\d"):
        db.execute("INSERT INTO t VALUES (?)", (name,))

    def names(where: Where) -> list[str]:
        return [r[0] for r in db.execute(f"SELECT name FROM t WHERE {where.sql()} ORDER BY name", where.params)]

    assert names(Where().contains("name", "100%")) == ["100% lừa đảo"]
    assert names(Where().contains("name", "a_b")) == ["a_b"]
    assert names(Where().contains("name", "c\\d")) == ["c\\d"]
    assert names(Where().starts_with("name", "10")) == ["100% lừa đảo", "1000 lừa đảo"]
    assert names(Where().equal("name", "").contains("name", None)) == sorted(
        ["100% lừa đảo", "1000 lừa đảo", "a_b", "axb", "c\\d"])  # empty filters add nothing
    assert like_literal("50%_\\") == "50\\%\\_\\\\"
    db.close()


def test_where_joins_filters_in_order_with_their_parameters():
    where = (Where().equal("status", "new").at_or_after("at", "2026-01-01").before("at", "2026-02-01")
             .add("id IN (SELECT rowid FROM f WHERE f MATCH ?)", '"lua"*'))
    assert where.sql() == "status = ? AND at >= ? AND at < ? AND id IN (SELECT rowid FROM f WHERE f MATCH ?)"
    assert where.params == ["new", "2026-01-01", "2026-02-01", '"lua"*']
    assert Where().sql() == "1"


def test_no_twin_is_left_in_the_gateway():
    """One LIKE escaping, rows as dicts by sqlite-utils' ``db.query()``, not by hand."""
    twins = []
    for path in sorted(GATEWAY.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name != "sql.py" and '.replace("%"' in text:
            twins.append(f"{path.name}: LIKE escaping")
        if "cursor.description" in text:
            twins.append(f"{path.name}: dict(zip(cursor.description...))")
    assert twins == []
