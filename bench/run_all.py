"""Every benchmark, one after the other, and one table of figures with their targets.

Runs each script of ``bench/`` in its own process (so one's threads and memory do not
touch the next), collects the figures each reports, and prints the machine and a
Markdown table: figure | target | measured | command. It reports, it does not judge: the
exit code is 0 even when a figure misses its target or a script fails (its row says so).

    python bench/run_all.py            # the real figures (several minutes)
    python bench/run_all.py --quick    # a smoke run of every script, under a minute
    python bench/run_all.py --only inbound_throughput --only memory
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _harness import FIGURES_FILE_ENV, ROOT, machine

BENCH = Path(__file__).resolve().parent
# The order of the table; a new script in bench/ is run too, after these.
ORDER = ("inbound_throughput", "router_throughput", "sync_throughput", "web_response", "broadcast_pacing",
         "memory", "page_weight", "province_load")
#: Scripts run a second time with these arguments: the pages as installed on the Pi (HTTPS).
AGAIN = {"web_response": ("--https",), "memory": ("--https",)}


def scripts() -> list[str]:
    found = {p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.stem != "run_all"}
    return [name for name in ORDER if name in found] + sorted(found - set(ORDER))


def runs(names: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Each script with its arguments, in table order: once as is, then again per ``AGAIN``."""
    return [(name, extra) for name in names for extra in ((), *([AGAIN[name]] if name in AGAIN else []))]


def run(name: str, quick: bool, timeout: float, verbose: bool,
        extra: tuple[str, ...] = ()) -> tuple[list[dict], str | None, float]:
    """(figures, error or None, seconds) of one script."""
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", encoding="utf-8") as figures:
        command = [sys.executable, str(BENCH / f"{name}.py"), *extra, *(["--quick"] if quick else [])]
        env = {**os.environ, FIGURES_FILE_ENV: figures.name}
        start = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
            error = None
            if done.returncode != 0:
                last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
                error = f"failed (exit {done.returncode}): {last}"
            output = done.stdout + done.stderr
        except subprocess.TimeoutExpired as exc:
            error = f"did not finish in {timeout:.0f} s"
            output = str(exc.stdout or "")
        elapsed = time.perf_counter() - start
        if verbose or error:
            print(output.rstrip(), file=sys.stderr)
        return [json.loads(line) for line in figures.read().splitlines() if line.strip()], error, elapsed


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of each script (under a minute in all)")
    parser.add_argument("--only", action="append", metavar="SCRIPT", help="run only this script (repeatable)")
    parser.add_argument("--timeout", type=float, help="seconds per script (default 120 with --quick, else 1800)")
    parser.add_argument("--verbose", action="store_true", help="also show each script's own output")
    args = parser.parse_args()
    names = scripts()
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))} (there are: {', '.join(names)})")
        names = [n for n in names if n in args.only]
    timeout = args.timeout or (120.0 if args.quick else 1800.0)
    machine_before = machine()
    rows = []
    total = time.perf_counter()
    for name, extra in runs(names):
        suffix = "".join(f" {arg}" for arg in extra) + (" --quick" if args.quick else "")
        print(f"running bench/{name}.py{suffix} ...", file=sys.stderr, flush=True)
        figures, error, elapsed = run(name, args.quick, timeout, args.verbose, extra)
        print(f"  {elapsed:.1f} s", file=sys.stderr, flush=True)
        for item in figures:
            rows.append((f"{item['figure']}; leaves out {item['leaves_out']}", item["target"], item["measured"],
                         f"`{item['command']}{' --quick' if args.quick else ''}`"))  # its own arguments said
        if error:
            rows.append((f"bench/{name}.py{suffix}", "—", error, f"`python bench/{name}.py{suffix}`"))
    print()
    print(f"TinBao figures, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
          f"{' (--quick: smoke-run sizes, not the real figures)' if args.quick else ''}, "
          f"{time.perf_counter() - total:.0f} s")
    print(f"Machine: {machine_before} (at the start); {machine().rsplit(', ', 1)[-1]} at the end")
    print()
    print("| figure | target | measured | command |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(cell(c) for c in row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
