"""Sync to the district hub on loopback: tips per second in batches, and time to drain 10,000.

The hub runs as its own process (``python app.py district``), as it would at the district;
the gateway's sync worker runs here against a real SQLite file with the tips queued.

Two figures:
- pushed/s: ``DistrictClient.push`` of claimed batches back to back (claim, HTTP, mark done);
- drain: the whole ``SyncWorker`` from start (connectivity check included) until every
  queued tip is acknowledged (target ≤ 15 s for 10,000).

    python bench/sync_throughput.py [--tips 10000] [--batch 200]
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from _harness import ROOT, workdir

from gateway.clock import Clock
from gateway.config import load_config
from gateway.service import prepare_gateway
from gateway.storage import ThreadLocalDb, open_db
from gateway.sync import queue
from gateway.sync.district import DistrictClient
from gateway.sync.worker import SyncWorker

# The tip seeder lives beside the fake hub in tests/, which is not an installed package.
add_tips = runpy.run_path(str(ROOT / "tests" / "fake_zalo.py"))["add_tips"]

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_hub(work, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update({"TINBAO_STORAGE_PATH": str(work / "hub.db"), "TINBAO_WEB_PORT": str(port),
                "TINBAO_HUB_GATEWAYS": f"cl:{TOKEN}", "TINBAO_HUB_MAX_BATCH": "5000"})
    proc = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "district"], cwd=ROOT, env=env)
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


def gateway_config(work, name: str, port: int, batch: int):
    env = {"TINBAO_STORAGE_PATH": str(work / f"{name}.db"), "TINBAO_DISTRICT_URL": f"http://127.0.0.1:{port}",
           "TINBAO_DISTRICT_TOKEN": TOKEN, "TINBAO_SYNC_BATCH_SIZE": str(batch), "TINBAO_SYNC_POLL_INTERVAL": "0.01",
           "TINBAO_GATEWAY_ID": "cl"}
    config = load_config(env=env)
    prepare_gateway(config.storage_path)
    return config


def pushed_per_second(work, port: int, tips: int, batch: int) -> float:
    config = gateway_config(work, "push", port, batch)
    add_tips(config.storage_path, tips, destinations=("district",))
    db = open_db(config.storage_path)
    client = DistrictClient(config, Clock())
    start = time.perf_counter()
    done = 0
    while True:
        claimed = queue.claim(db, "district", Clock().now(), batch)
        if not claimed:
            break
        accepted, _ = client.push(claimed)
        done += queue.mark_done(db, [t.row_id for t in claimed if t.uid in accepted], Clock().now())
    elapsed = time.perf_counter() - start
    client.close()
    db.close()
    assert done == tips, (done, tips)
    return tips / elapsed


def drain_seconds(work, port: int, tips: int, batch: int) -> float:
    """The whole worker, start to last acknowledgement (run against a fresh hub database)."""
    config = gateway_config(work, "drain", port, batch)
    add_tips(config.storage_path, tips, destinations=("district",), text="Drain")
    dbs = ThreadLocalDb(config.storage_path)
    worker = SyncWorker(config, dbs)
    db = dbs.get()
    start = time.perf_counter()
    worker.start()
    while db.execute("SELECT COUNT(*) FROM sync_queue WHERE status='done'").fetchone()[0] < tips:
        time.sleep(0.005)
        if time.perf_counter() - start > 120:
            raise SystemExit("drain did not finish in 120 s")
    elapsed = time.perf_counter() - start
    worker.stop()
    dbs.close_all()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    work = workdir()
    try:
        port = free_port()
        hub = start_hub(work, port)
        try:
            rate = pushed_per_second(work, port, args.tips, args.batch)
        finally:
            hub.terminate()
            hub.wait(10)
        (work / "hub.db").unlink()  # a fresh hub: the drain's tips are new there too
        for extra in ("hub.db-wal", "hub.db-shm"):
            (work / extra).unlink(missing_ok=True)
        hub = start_hub(work, port)
        try:
            drain = drain_seconds(work, port, args.tips, args.batch)
        finally:
            hub.terminate()
            hub.wait(10)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"tips pushed to the hub per second, batches of {args.batch}: {rate:,.0f}/s (target >= 1,000/s)")
    print(f"time to drain {args.tips:,} queued tips with the sync worker: {drain:.2f} s "
          f"({args.tips / drain:,.0f}/s; target <= 15 s)")


if __name__ == "__main__":
    main()
