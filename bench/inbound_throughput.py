"""Inbound SMS answered per second through the full path, with zero modem delay.

Path: emulator process (pty) → pyserial → python-gsmmodem → drain (AT+CMGL) → durable commit
(synchronous=FULL) → AT+CMGD → router → outbox → AT+CMGS → emulator. The clock runs from the
burst's arrival at the emulator until the emulator has accepted the last reply.

    python bench/inbound_throughput.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

from _harness import ROOT, gateway_env, numbers, start_emulator, workdir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    work = workdir()
    emulator_proc, link, emulator = start_emulator(work)
    gateway = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING"], cwd=ROOT,
                               env=gateway_env(work, link), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while emulator.status().get("registered") is not True or not _connected(work):
            if time.monotonic() > deadline:
                raise SystemExit("gateway did not connect")
            time.sleep(0.1)
        burst = [(n, "MENU") for n in numbers(args.messages)]
        start = time.perf_counter()
        emulator.deliver_many(burst)
        if not emulator.wait_for_sent(args.messages, 600):
            raise SystemExit("not every SMS was answered")
        elapsed = time.perf_counter() - start
        print(f"inbound SMS answered: {args.messages} in {elapsed:.2f} s = {args.messages / elapsed:.0f} SMS/s "
              f"(full emulator path, zero modem delay, each SMS committed with fsync before leaving the SIM)")
    finally:
        gateway.terminate()
        gateway.wait(10)
        emulator.shutdown()
        emulator_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def _connected(work) -> bool:
    import json
    import sqlite3

    try:
        conn = sqlite3.connect(str(work / "tinbao.db"))
        row = conn.execute("SELECT value FROM state WHERE key='modem'").fetchone()
        conn.close()
    except sqlite3.Error:
        return False
    return bool(row) and json.loads(row[0]).get("registered") is True


if __name__ == "__main__":
    main()
