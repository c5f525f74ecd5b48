"""Inbound SMS answered per second through the full path, with zero modem delay.

Path: emulator process (pty) → pyserial → python-gsmmodem → drain (AT+CMGL) → durable commit
(synchronous=FULL) → AT+CMGD → router → outbox → AT+CMGS → emulator. The clock runs from the
burst's arrival at the emulator until the emulator has accepted the last reply.

    python bench/inbound_throughput.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import time

from _harness import RunningGateway, numbers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    with RunningGateway() as run:
        start = time.perf_counter()
        run.emulator.deliver_many([(n, "MENU") for n in numbers(args.messages)])
        if not run.emulator.wait_for_sent(args.messages, 600):
            raise SystemExit("not every SMS was answered")
        elapsed = time.perf_counter() - start
    print(f"inbound SMS answered: {args.messages} in {elapsed:.2f} s = {args.messages / elapsed:.0f} SMS/s "
          f"(full emulator path, zero modem delay, each SMS committed with fsync before leaving the SIM)")


if __name__ == "__main__":
    main()
