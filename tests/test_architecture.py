"""docs/architecture.md kept honest: every table has an owner on the page, every room exists,
and the web layer writes no SQL against another area's tables."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.database import prepare_gateway, prepare_hub
from gateway.storage import open_db

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
# The web area owns the accounts and the audit log; every other table belongs to another room.
WEB_TABLES = {"users", "login_attempts", "audit_log"}


def _tables(path: Path) -> set[str]:
    db = open_db(path)
    try:
        names = set(db.table_names())
    finally:
        db.close()
    # SQLite's own and FTS5's shadow tables are not ours to document.
    return {n for n in names if not n.startswith(("_sqlite", "sqlite_")) and not re.search(r"_fts_\w+$", n)}


def _documented_tables() -> set[str]:
    section = DOC.split("## Tables and their owners", 1)[1].split("\n## ", 1)[0]
    return {name for row in section.splitlines() if row.startswith("| `")
            for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


def test_every_table_of_a_gateway_and_a_hub_file_has_an_owner_on_the_page(tmp_path):
    prepare_gateway(tmp_path / "gateway.db")
    prepare_hub(tmp_path / "hub.db")
    tables = _tables(tmp_path / "gateway.db") | _tables(tmp_path / "hub.db")
    documented = _documented_tables()
    assert tables - documented == set(), "tables missing from docs/architecture.md"
    assert documented - tables == set(), "docs/architecture.md names tables the code does not make"


def test_every_room_on_the_page_exists():
    section = DOC.split("## Rooms", 1)[1].split("\n## ", 1)[0]
    rooms = [re.match(r"\| `([^`]+)`", row).group(1) for row in section.splitlines() if row.startswith("| `")]
    assert len(rooms) > 20
    missing = [room for room in rooms if not (ROOT / room).exists()]
    assert missing == []


def test_the_web_layer_writes_no_sql_against_other_areas_tables():
    found = []
    for path in sorted((ROOT / "gateway" / "web").glob("*.py")):
        for table in re.findall(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+([a-z_]+)", path.read_text(encoding="utf-8")):
            if table not in WEB_TABLES:
                found.append(f"{path.name}: {table}")
    assert found == []
