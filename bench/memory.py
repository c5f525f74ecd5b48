"""The gateway's resident memory after 10,000 mixed SMS and 20 logins (a Pi Zero 2 has 512 MB
for everything).

Runs ``python app.py`` (modem worker, router, sync, broadcasts, waitress) against the
emulator in its own process, with an officer on duty and Zalo and the district switched on
and unreachable. Sends the realistic mix (``_harness.CONVERSATIONS``) in bursts of 1,000
with delivery reports on, and after each burst two officers log in through the real login
form (the password hash is the one moment that asks for memory: see
``gateway.accounts.users.PASSWORD_HASH_METHOD``). Reads the gateway process's resident memory
at the end, and its peak.

With ``--https`` the page is served as installed on the Pi (``python app.py tls init``, cheroot
on TLS, its threads and OpenSSL's buffers), each login over its own TLS connection.

    python bench/memory.py [--messages 10000] [--logins 20] [--quick] [--https]
"""

from __future__ import annotations

import argparse
import time

from _harness import RunningGateway, figure, mixed_messages, offline_destinations

COMMAND = "python bench/memory.py"
BURST = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a smoke run (1,000 SMS, 20 logins)")
    parser.add_argument("--https", action="store_true", help="serve as installed on the Pi: HTTPS through cheroot")
    args = parser.parse_args()
    total = 1000 if args.quick else args.messages
    burst = min(BURST, total)
    bursts = max(1, total // burst)
    with RunningGateway(users=(("bench-admin", "admin"), ("canbo", "officer")), https=args.https,
                        **offline_destinations()) as run:
        run.add_duty_officer()
        rss_start, _ = run.memory()
        logins = 0
        for k in range(bursts):
            run.emulator.deliver_many(mixed_messages(burst, first_sender=k * burst))
            if not run.wait_handled((k + 1) * burst, 60 + burst / 10):
                raise SystemExit(f"the gateway stopped answering: {run.pending()}")
            while logins < args.logins * (k + 1) // bursts:
                run.officer("canbo").close()
                logins += 1
        time.sleep(2)
        rss, peak = run.memory()
    served = ", HTTPS through cheroot (as installed)" if args.https else ", plain http through waitress"
    figure(f"gateway resident memory after {bursts * burst:,} mixed SMS and {logins} logins{served}", "≤ 64 MB",
           f"{rss:.0f} MB (peak {peak:.0f} MB; {rss_start:.0f} MB at start)",
           leaves_out="the emulator and the page's browser", command=f"{COMMAND} --https" if args.https else COMMAND)


if __name__ == "__main__":
    main()
