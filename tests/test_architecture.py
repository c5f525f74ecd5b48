"""docs/architecture.md kept honest: every table has an owner on the page, every room exists,
and the code obeys the page's ownership rule: only a table's owner writes it, and SQL that
reads it lives only in the owner's area (or a reader the page names)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.hub.store import prepare_hub
from gateway.service import prepare_gateway
from gateway.storage import open_db

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

_WRITE = re.compile(r"\b(?:INSERT(?:\s+OR\s+[A-Z]+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+[A-Z]+)?|DELETE\s+FROM)"
                    r"\s+([a-z_][a-z0-9_]*)")
_READ = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_][a-z0-9_]*)")
_CREATE = re.compile(r"\bCREATE\s+(?:VIRTUAL\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)")


def _tables(path: Path) -> set[str]:
    db = open_db(path)
    try:
        names = set(db.table_names())
    finally:
        db.close()
    # SQLite's own and FTS5's shadow tables are not ours to document.
    return {n for n in names if not n.startswith(("_sqlite", "sqlite_")) and not re.search(r"_fts_\w+$", n)}


def _owner_rows() -> list[tuple[list[str], list[str], list[str]]]:
    """(tables, owners, readers) of each row of "Tables and their owners"."""
    section = DOC.split("## Tables and their owners", 1)[1].split("\n## ", 1)[0]
    rows = []
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cells = row.split("|")
        owners, _, readers = cells[2].partition("read also by")
        rows.append((re.findall(r"`([a-z_]+)`", cells[1]), re.findall(r"`(gateway/[^`]+)`", owners),
                     re.findall(r"`(gateway/[^`]+)`", readers)))
    return rows


def _ownership() -> dict[str, tuple[list[str], list[str]]]:
    """table → (its owner modules or packages, other modules the page lets read it)."""
    return {table: (owners, readers) for tables, owners, readers in _owner_rows() for table in tables}


def _documented_tables() -> set[str]:
    return set(_ownership())


def _area(module: str) -> str:
    """The room a module is in: itself (``gateway/outbox.py``) or its package (``gateway/tips/``)."""
    parts = module.split("/")
    return module if len(parts) == 2 else "/".join(parts[:2]) + "/"


def _is(module: str, named: str) -> bool:
    return module == named or (named.endswith("/") and module.startswith(named))


def violations(module: str, text: str, ownership: dict[str, tuple[list[str], list[str]]]) -> list[str]:
    """What ``module`` (a path like ``gateway/router.py``) does against the ownership rule in ``text``.

    A write (INSERT, UPDATE, DELETE, REPLACE) of a table is its owner's alone; a read (FROM,
    JOIN) is the owner's area's, or a named reader's. The module that creates a table (its
    migration) may touch it.
    """
    created = set(_CREATE.findall(text))
    found = []
    for kind, pattern in (("writes", _WRITE), ("reads", _READ)):
        for match in pattern.finditer(text):
            table = match.group(1)
            if table not in ownership or table in created:
                continue
            owners, readers = ownership[table]
            allowed = any(_is(module, o) for o in owners)
            if kind == "reads":
                allowed = allowed or any(_area(module) == _area(o) for o in owners) or module in readers
            if not allowed:
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{module}:{line} {kind} {table} (owner: {', '.join(owners)})")
    return found


def test_every_table_of_a_gateway_and_a_hub_file_has_an_owner_on_the_page(tmp_path):
    prepare_gateway(tmp_path / "gateway.db")
    prepare_hub(tmp_path / "hub.db")
    tables = _tables(tmp_path / "gateway.db") | _tables(tmp_path / "hub.db")
    documented = _documented_tables()
    assert tables - documented == set(), "tables missing from docs/architecture.md"
    assert documented - tables == set(), "docs/architecture.md names tables the code does not make"


def test_every_owner_and_reader_on_the_page_exists():
    named = {path for _, owners, readers in _owner_rows() for path in (*owners, *readers)}
    assert len(named) > 15
    assert sorted(path for path in named if not (ROOT / path).exists()) == []
    assert all(owners for _, owners, _ in _owner_rows()), "a table row without an owner"


def test_every_room_on_the_page_exists():
    section = DOC.split("## Rooms", 1)[1].split("\n## ", 1)[0]
    rooms = [re.match(r"\| `([^`]+)`", row).group(1) for row in section.splitlines() if row.startswith("| `")]
    assert len(rooms) > 20
    missing = [room for room in rooms if not (ROOT / room).exists()]
    assert missing == []


def test_only_the_owner_writes_a_table_and_reads_go_through_its_area():
    ownership = _ownership()
    found = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        found += violations(module, path.read_text(encoding="utf-8"), ownership)
    assert found == []


def test_the_ownership_check_sees_a_write_and_a_read_outside_the_owner():
    ownership = _ownership()
    assert ownership["outbox"][0] == ["gateway/outbox.py"] and ownership["tips"][0] == ["gateway/tips/"]
    router = 'db.execute("UPDATE tips SET status=? WHERE id=?")\ndb.execute("SELECT text FROM outbox LIMIT 1")'
    assert violations("gateway/router.py", router, ownership) == [
        "gateway/router.py:1 writes tips (owner: gateway/tips/)",
        "gateway/router.py:2 reads outbox (owner: gateway/outbox.py)",
    ]
    join = '"SELECT q.id FROM sync_queue q JOIN tips t ON t.id = q.tip_id"'
    assert violations("gateway/sync/queue.py", join, ownership) == [
        "gateway/sync/queue.py:1 reads tips (owner: gateway/tips/)"]
    # The owner's area reads, the owner writes, a named reader reads.
    assert violations("gateway/tips/search.py", '"SELECT 1 FROM tips t"', ownership) == []
    assert violations("gateway/outbox.py", '"INSERT OR IGNORE INTO outbox (x) VALUES (1)"', ownership) == []
    assert violations("gateway/conversations.py", '"SELECT id FROM inbox"', ownership) == []
    assert violations("gateway/conversations.py", '"DELETE FROM inbox"', ownership) != []


# Pending their move out of gateway/web/ (issue 18, part 1): still ``with db.conn:``.
_OLD_TRANSACTIONS = {"accounts.py", "security.py", "audit.py"}


def test_one_transaction_style():
    """``storage.write_transaction`` is the one way to write statements together."""
    found = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        if path.name == "storage.py" or path.name in _OLD_TRANSACTIONS:
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\.atomic\(\)|with \w+\.conn:|execute\(\s*\"BEGIN", text):
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1} {match.group(0)}")
    assert found == []
