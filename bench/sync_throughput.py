"""Tips into the district hub per second, over HTTP, every commit fsync'd; and one gateway's drain.

The hub runs as ``python app.py district`` (waitress, its durable connections: the hub
fsyncs each batch before it answers "accepted", because the gateway then forgets the tip).
Each commune gateway is ``python app.py sync`` in its own process with its own
database, as on its own Pi. Tips are queued in every gateway's database in one moment (as
a router would: tip and sync row together); the clock runs until every gateway has every
tip acknowledged by the hub.

Two figures:
- hub ingest: ``--clients`` gateways (default 4) drain ``--tips`` between them at once;
- drain: one gateway drains ``--tips`` alone (target ≤ 15 s for 10,000).

    python bench/sync_throughput.py [--tips 10000] [--clients 4] [--batch 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _harness import ROOT, figure, free_port, workdir

from gateway import tips
from gateway.clock import Clock
from gateway.storage import open_db
from gateway.sync import hooks

COMMAND = "python bench/sync_throughput.py"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}


def start_hub(work: Path, port: int, gateways: list[str]) -> subprocess.Popen:
    env = clean_env()
    env.update({"TINBAO_STORAGE_PATH": str(work / "hub.db"), "TINBAO_WEB_PORT": str(port),
                "TINBAO_HUB_GATEWAYS": ",".join(f"{g}:token-{g}" for g in gateways)})
    proc = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "hub"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                if json.load(response)["status"] == "ok":
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the hub did not start")


def start_gateway(work: Path, gateway_id: str, port: int, batch: int) -> tuple[subprocess.Popen, Path]:
    """A commune's sync worker alone, in its own process (it creates its database)."""
    path = work / f"{gateway_id}.db"
    env = clean_env()
    env.update({"TINBAO_STORAGE_PATH": str(path), "TINBAO_GATEWAY_ID": gateway_id,
                "TINBAO_HUB_URL": f"http://127.0.0.1:{port}", "TINBAO_HUB_TOKEN": f"token-{gateway_id}",
                "TINBAO_SYNC_BATCH_SIZE": str(batch), "TINBAO_SYNC_POLL_INTERVAL": "0.05"})
    proc = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "sync"], cwd=ROOT, env=env)
    return proc, path


def wait_ready(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                if conn.execute("SELECT 1 FROM sqlite_master WHERE name='sync_queue'").fetchone():
                    return
            finally:
                conn.close()
        except sqlite3.Error:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the sync worker for {path.name} did not start")


def done_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT COUNT(*) FROM sync_queue WHERE status = 'done'").fetchone()[0]
    finally:
        conn.close()


def run_round(work: Path, port: int, gateway_ids: list[str], per_gateway: int, batch: int) -> float:
    """Seconds from the tips' commit in every gateway until the hub has acknowledged them all."""
    workers = [start_gateway(work, g, port, batch) for g in gateway_ids]
    try:
        for proc, path in workers:
            wait_ready(path, proc)
        clock = Clock()
        dbs = [open_db(path) for _, path in workers]
        for db, gateway_id in zip(dbs, gateway_ids, strict=True):  # the tips wait in open transactions ...
            db.conn.execute("BEGIN IMMEDIATE")
            now = clock.now()
            for i in range(per_gateway):
                tip = tips.create(db, gateway_id=gateway_id, tipster=f"+8491{i % 10_000_000:07d}",
                                  text=f"Có người lạ vào thôn hỏi mua đất giá cao, hẹn đặt cọc #{i}", inbox_id=None,
                                  now=now)
                hooks.enqueue_tip(db, tip, now, ("district",))
        start = time.perf_counter()
        for db in dbs:  # ... and arrive together
            db.conn.execute("COMMIT")
        for db in dbs:
            db.close()
        deadline = start + 60 + per_gateway * len(workers) / 50
        while any(done_count(path) < per_gateway for _, path in workers):
            if time.perf_counter() > deadline:
                raise SystemExit("the hub did not take every tip in time")
            time.sleep(0.02)
        return time.perf_counter() - start
    finally:
        for proc, _ in workers:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in workers:
            proc.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tips", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a smoke run (1,000 tips)")
    args = parser.parse_args()
    total = 1000 if args.quick else args.tips
    per_client = total // args.clients
    alone = "g0"
    several = [f"g{k}" for k in range(1, args.clients + 1)]
    work = workdir()
    port = free_port()
    hub = start_hub(work, port, [alone, *several])
    try:
        ingest = run_round(work, port, several, per_client, args.batch)
        drain = run_round(work, port, [alone], total, args.batch)
    finally:
        hub.terminate()
        hub.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    figure(f"hub ingest over HTTP, fsync'd commits, {args.clients} gateways at once, batches of {args.batch}",
           "≥ 1,000 tips/s", f"{per_client * args.clients / ingest:,.0f} tips/s ({per_client * args.clients:,} tips)",
           leaves_out="a real network (loopback)", command=COMMAND)
    figure(f"one gateway's sync worker draining {total:,} queued tips to the hub", "≤ 15 s for 10,000",
           f"{drain:.2f} s ({total / drain:,.0f} tips/s)", leaves_out="a real network (loopback)", command=COMMAND)


if __name__ == "__main__":
    main()
