"""docs/architecture.md kept honest: every table has an owner on the page, every room exists,
and the web layer writes no SQL against another area's tables."""

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
