"""Docs kept honest (sqlite-utils' test_docs.py): the README names every key, command and bench."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.config import SCHEMA

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_config_key_is_in_the_readme():
    for section, keys in SCHEMA.items():
        for key in keys:
            assert f"{section}.{key}" in README or f"`{section}.*`" in README, f"{section}.{key} not in README"


def test_the_first_two_commands_install_run_and_test():
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert "pip install -r requirements.txt" in blocks[0] and "python app.py" in blocks[0]
    assert "pytest" in blocks[1]
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_every_app_command_is_documented():
    from app import COMMANDS

    for command, target in COMMANDS.items():
        module = target.split(":")[0]
        if command != "run" and (ROOT / (module.replace(".", "/") + ".py")).exists():
            assert f"python app.py {command}" in README, command


def test_every_bench_script_is_in_the_readme():
    for script in (ROOT / "bench").glob("*.py"):
        if not script.name.startswith("_"):
            assert f"bench/{script.name}" in README, script.name
