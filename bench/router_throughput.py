"""Router messages per second with every handler and hook, as the gateway wires them.

The router is the one ``Gateway(config)`` builds (the DK/HUY subscriptions handler; the duty
alert and sync tip hooks), with an officer on the duty roster and Zalo and the district
switched on, so each tip writes the tip, its reply, a duty alert SMS and two sync rows. It
routes queued inbox rows of the realistic mix (``_harness.CONVERSATIONS``) in a real SQLite
file: tip, replies planned into PDUs, sessions, subscriptions, all in the router's
transactions. No modem: this is the router's share of the inbound path.

    python bench/router_throughput.py [--messages 20000] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import time

from _harness import figure, mix_summary, mixed_messages, offline_destinations, workdir

from gateway import duty
from gateway.config import load_config
from gateway.service import Gateway
from gateway.storage import utcnow_iso

COMMAND = "python bench/router_throughput.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--quick", action="store_true", help="a smoke run (2,000 messages)")
    args = parser.parse_args()
    count = 2000 if args.quick else args.messages
    messages = mixed_messages(count)
    work = workdir()
    try:
        config = load_config(env={"TINBAO_STORAGE_PATH": str(work / "router.db"),
                                  "TINBAO_ROUTER_AUTO_REPLIES_PER_HOUR": "1000", **offline_destinations()})
        gateway = Gateway(config)  # wired, not started: no modem, no threads
        db = gateway.dbs.get()
        now = gateway.clock.now()
        duty.add(db, "0912 999 001", "Truc ban", by="bench", now=now)
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO inbox (received_at, sender, sender_kind, text, encoding, parts) VALUES (?,?,?,?,?,?)",
                [(utcnow_iso(now), sender, "mobile", text, "ucs2" if len(text) > 134 else "gsm7",
                  3 if len(text) > 134 else 1) for sender, text in messages],
            )
        start, cpu_start = time.perf_counter(), time.process_time()
        while gateway.router.run_once(db, gateway.clock.now()):
            pass
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        done, tips, alerts, sync_rows = db.execute(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE status = 'done'), (SELECT COUNT(*) FROM tips),"
            " (SELECT COUNT(*) FROM outbox WHERE kind = 'duty_alert'), (SELECT COUNT(*) FROM sync_queue)").fetchone()
        gateway.dbs.close_all()
        gateway.durable_dbs.close_all()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done != count:
        raise SystemExit(f"only {done} of {count} messages were routed")
    print(f"{mix_summary(messages)} routed in {elapsed:.2f} s: {tips} tips, {alerts} duty alerts, "
          f"{sync_rows} sync rows")
    figure("router messages per second, every handler and hook, realistic mix", "≥ 5,000/s",
           f"{count / elapsed:,.0f} msg/s ({count:,} messages); {cpu * 1e6 / count:,.0f} µs of CPU each"
           f" ({count / cpu:,.0f}/s of CPU)",
           leaves_out="the modem and the serial port", command=COMMAND)


if __name__ == "__main__":
    main()
