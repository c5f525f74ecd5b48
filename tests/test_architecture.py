"""docs/architecture.md kept honest: every table has an owner on the page, every room exists,
and the code obeys the page's ownership rule: only a table's owner writes it, and SQL that
reads it lives only in the owner's area (or a reader the page names)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

from gateway.database import prepare_gateway, prepare_hub
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


def test_one_transaction_style():
    """``storage.write_transaction`` is the one way to write statements together."""
    found = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        if path.name == "storage.py":
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\.atomic\(\)|with \w+\.conn:|execute\(\s*\"BEGIN", text):
            found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1} {match.group(0)}")
    assert found == []


# -- imports: no cycle in gateway/, no page that loads a worker --------------------------------

PACKAGE = ROOT / "gateway"
# What a page module must never bring into the page's process by importing it: the modem's
# library and the workers (they are the wiring's, gateway/service.py).
WORKERS = ("gsmmodem", "gateway.modem.worker", "gateway.modem.transport", "gateway.sync.worker",
           "gateway.broadcasts.service", "gateway.service")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(name: str) -> set[str]:
    """The gateway modules ``name`` imports: at module level and inside functions alike (a
    function-local import is a cycle that waits for its first call), not for type checking.

    ``from pkg import sub`` of a submodule is an edge to the submodule; a name of the package
    itself (``from gateway.web import current_services``) is an edge to the package. A package
    above the importer is loaded before it anyway, so the path there is no edge.
    """
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
    found: set[str] = set()

    def add(module: str, *, explicit: bool = False) -> None:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and (prefix not in own or (explicit and prefix == module)):
                found.add(prefix)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                for statement in child.orelse:
                    visit_statement(statement)
            else:
                visit_statement(child)

    def visit_statement(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            submodules = [f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in MODULES]
            for submodule in submodules:
                add(submodule)
            if len(submodules) < len(node.names):
                add(module, explicit=True)
        else:
            visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(name)
    return found


def _import_graph() -> dict[str, set[str]]:
    return {name: _imports(name) for name in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_one_cycle(graph, set(group)) for group in groups]


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A readable cycle inside a strongly connected group: a → b → … → a."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return sorted(group)


def _blueprint_modules() -> list[str]:
    """Modules that make a Flask blueprint (a page area of the gateway or the hub)."""
    return sorted(name for name, path in MODULES.items()
                  if re.search(r"^bp = Blueprint\(", path.read_text(encoding="utf-8"), re.M))


def test_the_import_graph_sees_module_level_and_function_local_imports():
    graph = _import_graph()
    assert "gateway.database" in graph["gateway.service"]  # at module level
    assert "gateway.web.simulator" in graph["gateway.web"]  # inside create_app
    assert "gateway.simulation" not in graph["gateway.web"]  # for type checking only: no edge
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_in_gateway():
    assert _cycles(_import_graph()) == []


def test_blueprints_do_not_import_each_other():
    blueprints = _blueprint_modules()
    assert len(blueprints) >= 14
    graph = _import_graph()
    found = [f"{name} imports {other}" for name in blueprints for other in sorted(graph[name]) if other in blueprints]
    assert found == []


def test_the_leaves_import_what_they_say():
    graph = _import_graph()
    # "Which tables a file has" is schema: the database module imports schema modules only.
    schema_modules = {name for name in MODULES if name.endswith(".schema")} | {"gateway.schema"}
    areas = {name.rpartition(".")[0] for name in schema_modules}  # a schema's package comes with it
    assert graph["gateway.database"] - schema_modules - areas - {"gateway.state", "gateway.storage"} == set()
    # The clock judges evidence it is given: it imports no area (not the inbox, not the modem).
    assert graph["gateway.clock"] <= {"gateway.state", "gateway.storage"}
    # What the pages are given is typed here, and it imports no page and no worker.
    assert not {name for name in graph["gateway.web.services"] if name.startswith("gateway.web.")}
    assert not graph["gateway.web.services"] & set(WORKERS)


def test_no_page_module_loads_a_worker():
    """Each page module, imported alone in a fresh interpreter, leaves the modem and the workers unloaded."""
    probe = ("import importlib, json, sys; importlib.import_module(sys.argv[1]); "
             f"print(json.dumps([m for m in {list(WORKERS)!r} if m in sys.modules]))")
    modules = [*_blueprint_modules(), "gateway.web", "gateway.database", "gateway.clock"]
    running = {name: subprocess.Popen([sys.executable, "-c", probe, name], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for name in modules}
    loaded = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {err}"
        loaded[name] = json.loads(out)
    assert {name: found for name, found in loaded.items() if found} == {}


def test_the_page_is_given_every_service():
    """No page builds a part of its own when none was given: every field is required."""
    import dataclasses

    from gateway.web.services import WebServices

    assert [f.name for f in dataclasses.fields(WebServices)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING] == []
    built_here = re.compile(r"\b(?:DryRun|SyncWorker|BroadcastService|Library\.load|Composer\.from_config)\(")
    found = [path.name for path in sorted((PACKAGE / "web").glob("*.py")) if built_here.search(path.read_text())]
    assert found == []
