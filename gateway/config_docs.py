"""The README's configuration table and ``firmware_config/gateway.toml``, written from ``SCHEMA``.

Each config key is declared once, as a field of its section in ``gateway/config.py``. The two
places people read about keys are generated from those fields, so they cannot drift:

    python -m gateway.config_docs update   # rewrite both (from the project folder)
    python -m gateway.config_docs check    # exit 1 naming the stale file; tests/test_config.py asks the same

The README keeps its own words around the table; only the part between the two
``config-table`` marker comments is generated. ``gateway.toml`` is generated whole.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from gateway.config import LEGACY_SECTIONS, SCHEMA, Key, section_types

README_START = "<!-- config-table: written by `python -m gateway.config_docs update` from gateway/config.py -->"
README_END = "<!-- /config-table -->"
COMMENT_COLUMN = 35  # where a key's comment starts in gateway.toml, when it fits on the line
TOML_WIDTH = 110

TOML_HEADER = """\
# TinBao gateway defaults: every key, its default and what it does. Copy this file per commune,
# or override any key with an environment variable TINBAO_<SECTION>_<KEY> (for example
# TINBAO_MODEM_PORT=/dev/ttyUSB0).
# Written by `python -m gateway.config_docs update` from gateway/config.py: change a key there.
"""


# -- values -------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """``value`` as TOML writes it (a whole float without its ``.0``, as people write seconds)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"no TOML form for {value!r}")


def readme_value(spec: Key) -> str:
    """The README's default column: what the shipped file sets, as one would type it."""
    value = spec.shipped_value
    if value in ("", [], {}):
        return "empty"
    if spec.kind == "list":
        return f"`{','.join(value)}`"
    if spec.kind in ("str", "table"):
        return f"`{value}`"
    return f"`{toml_value(value)}`"


# -- the two files ------------------------------------------------------------------------------


def _section_comment(cls: type) -> str | None:
    """A section's docstring, unless it is the one ``dataclass`` makes up."""
    doc = cls.__doc__ or ""
    if not doc or doc.startswith(f"{cls.__name__}("):
        return None
    return " ".join(doc.split())


def _comment_lines(text: str, indent: str = "") -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text.replace("`", ""), TOML_WIDTH - len(indent) - 2)]


def render_toml() -> str:
    """The whole shipped defaults file."""
    lines = [TOML_HEADER.rstrip("\n")]
    types = section_types()
    for section, keys in SCHEMA.items():
        if section in LEGACY_SECTIONS:
            continue  # still read from older files, never written into a new one
        lines.append("")
        comment = _section_comment(types[section])
        if comment:
            lines += _comment_lines(comment)
        lines.append(f"[{section}]")
        for name, spec in keys.items():
            assignment = f"{name} = {toml_value(spec.shipped_value)}"
            what = spec.what.replace("`", "")
            if len(assignment) < COMMENT_COLUMN and COMMENT_COLUMN + 2 + len(what) <= TOML_WIDTH:
                lines.append(f"{assignment.ljust(COMMENT_COLUMN)}# {what}")
            else:
                lines += _comment_lines(spec.what)
                lines.append(assignment)
    return "\n".join(lines) + "\n"


def render_table() -> str:
    """The README's table: one row per key."""
    rows = ["| key | environment | default | what |", "| --- | --- | --- | --- |"]
    for section, keys in SCHEMA.items():
        for name, spec in keys.items():
            what = spec.what.replace("|", "\\|")
            rows.append(f"| `{section}.{name}` | `{spec.env}` | {readme_value(spec)} | {what} |")
    return "\n".join(rows)


def render_readme(readme: str) -> str:
    """``readme`` with the part between the markers replaced by the current table."""
    before, start, rest = readme.partition(README_START)
    _table, end, after = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"README has no {README_START} ... {README_END} markers around the config table")
    return f"{before}{README_START}\n{render_table()}\n{README_END}{after}"


def stale(root: Path) -> list[Path]:
    """The generated files under ``root`` that differ from what ``update`` would write."""
    readme, toml = root / "README.md", root / "firmware_config" / "gateway.toml"
    found = []
    if readme.read_text(encoding="utf-8") != render_readme(readme.read_text(encoding="utf-8")):
        found.append(readme)
    if toml.read_text(encoding="utf-8") != render_toml():
        found.append(toml)
    return found


def update(root: Path) -> list[Path]:
    """Rewrite the stale files under ``root``; returns them."""
    changed = stale(root)
    for path in changed:
        text = path.read_text(encoding="utf-8")
        path.write_text(render_readme(text) if path.name == "README.md" else render_toml(), encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["update"], ["check"]):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    root = Path.cwd()
    if args == ["check"]:
        found = stale(root)
        for path in found:
            print(f"{path} is stale: python -m gateway.config_docs update", file=sys.stderr)
        return 1 if found else 0
    for path in update(root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
