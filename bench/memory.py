"""The gateway's resident memory after 10,000 messages (a Pi Zero 2 has 512 MB for everything).

Runs ``python app.py`` (modem worker, router, web server) against the emulator in its own
process, answers 10,000 SMS, then reads the gateway process's RSS with psutil.

    python bench/memory.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time

import psutil
from _harness import ROOT, gateway_env, numbers, start_emulator, workdir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    args = parser.parse_args()
    work = workdir()
    emulator_proc, link, emulator = start_emulator(work)
    gateway = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING"], cwd=ROOT,
                               env=gateway_env(work, link), stderr=subprocess.DEVNULL)
    try:
        process = psutil.Process(gateway.pid)
        time.sleep(2)
        rss_start = process.memory_info().rss
        texts = ["MENU", "1", "CCCD", "TIN co nguoi la vao thon", "xin chao"]
        senders = numbers(500)
        sent = 0
        for start in range(0, args.messages, 1000):
            batch = [(senders[(start + i) % len(senders)], texts[(start + i) % len(texts)])
                     for i in range(min(1000, args.messages - start))]
            emulator.deliver_many(batch)
            sent += len(batch)
            if not emulator.wait_for_sent(int(sent * 0.6), 300):
                raise SystemExit("gateway stopped answering")
        time.sleep(3)
        rss = process.memory_info().rss
        answered = len(emulator.sent_messages())
        print(f"resident memory: {rss / 2**20:.1f} MB after {args.messages} inbound messages "
              f"({answered} replies; {rss_start / 2**20:.1f} MB at start) for the whole gateway process "
              f"(modem worker, router, web server)")
    finally:
        gateway.terminate()
        gateway.wait(10)
        emulator.shutdown()
        emulator_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
