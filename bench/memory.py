"""The gateway's resident memory after 10,000 messages (a Pi Zero 2 has 512 MB for everything).

Runs ``python app.py`` (modem worker, router, web server) against the emulator in its own
process, answers 10,000 SMS, then reads the gateway process's RSS with psutil.

    python bench/memory.py [--messages 10000]
"""

from __future__ import annotations

import argparse
import time

import psutil
from _harness import RunningGateway, numbers

TEXTS = ["MENU", "1", "CCCD", "TIN co nguoi la vao thon", "xin chao"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10000)
    args = parser.parse_args()
    with RunningGateway() as run:
        process = psutil.Process(run.gateway.pid)
        rss_start = process.memory_info().rss
        senders = numbers(500)
        sent = 0
        for start in range(0, args.messages, 1000):
            count = min(1000, args.messages - start)
            run.emulator.deliver_many([(senders[(start + i) % len(senders)], TEXTS[(start + i) % len(TEXTS)])
                                       for i in range(count)])
            sent += count
            if not run.emulator.wait_for_sent(int(sent * 0.6), 300):
                raise SystemExit("gateway stopped answering")
        time.sleep(3)
        rss = process.memory_info().rss
        answered = len(run.emulator.sent_messages())
    print(f"resident memory: {rss / 2**20:.1f} MB after {args.messages} inbound messages "
          f"({answered} replies; {rss_start / 2**20:.1f} MB at start) for the whole gateway process "
          f"(modem worker, router, web server)")


if __name__ == "__main__":
    main()
