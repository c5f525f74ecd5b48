"""Inbound SMS per second through the serial port on a realistic mix, and CPU time per SMS.

``python app.py`` (modem worker, router, sync, broadcasts, waitress) against the modem
emulator in its own process, on a pseudo-terminal: emulator → pty → pyserial →
python-gsmmodem → drain (AT+CMGL) → durable commit (synchronous=FULL) → AT+CMGD → router
(every handler and hook) → outbox → AT+CMGS → emulator, with delivery reports on (each part
sent comes back as a status report the gateway reads and records).

The burst is a day's mix (``_harness.CONVERSATIONS``): menu navigation (MENU, 1, 1.2, 0),
tips (``TIN ...``; each queues a duty alert SMS to the officer on the roster and a sync row
for Zalo and for the district, both switched on and unreachable), DK/HUY, unknown texts and
typos, and 3-part UCS-2 SMS. The clock runs from the burst's arrival until the gateway has
nothing left to do: every SMS handled, every reply and alert sent, every report read.
CPU time is the gateway process's user + system time over the same span, divided by the SMS.

    python bench/inbound_throughput.py [--messages 2000] [--quick]
"""

from __future__ import annotations

import argparse
import time

from _harness import (
    RunningGateway,
    figure,
    mix_summary,
    mixed_messages,
    offline_destinations,
)

COMMAND = "python bench/inbound_throughput.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="a smoke run (300 SMS)")
    args = parser.parse_args()
    count = 300 if args.quick else args.messages
    messages = mixed_messages(count)
    with RunningGateway(users=(("bench-admin", "admin"),), **offline_destinations()) as run:
        run.add_duty_officer()
        cpu_before = run.cpu_seconds()
        start = time.perf_counter()
        run.emulator.deliver_many(messages)
        if not run.wait_handled(count, 60 + count / 10):
            raise SystemExit(f"the gateway did not finish: {run.pending()}")
        elapsed = time.perf_counter() - start
        cpu = run.cpu_seconds() - cpu_before
        replies = run.emulator.status()
        tips, alerts, sync_rows = run.query(
            "SELECT (SELECT COUNT(*) FROM tips), (SELECT COUNT(*) FROM outbox WHERE kind = 'duty_alert'),"
            " (SELECT COUNT(*) FROM sync_queue)")[0]
    print(f"{mix_summary(messages)} answered in {elapsed:.2f} s; the emulator took {replies['sent']:,} SMS "
          f"({replies['sent_parts']:,} parts); {tips} tips, {alerts} duty alerts, {sync_rows} sync rows")
    figure("inbound SMS per second through the serial port, realistic mix, delivery reports on", "≥ 300/s",
           f"{count / elapsed:,.0f} SMS/s ({count:,} SMS)",
           leaves_out="a real modem's 2-10 s per SMS sent", command=COMMAND)
    figure("gateway CPU time per inbound SMS (same run)", "≤ 3 ms", f"{cpu * 1000 / count:.2f} ms",
           leaves_out="the emulator's own CPU", command=COMMAND)


if __name__ == "__main__":
    main()
