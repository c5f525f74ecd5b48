"""Broadcast pacing: is the modem ever left waiting for the software? And what does "không dấu" save?

1. A broadcast to 2,000 subscribers (a library warning, "không dấu": 2 parts each) through the
   whole gateway (scheduler tick, sender window, outbox claims, modem worker, python-gsmmodem)
   to the emulator in its own process, which takes ``--send-delay`` seconds per part, a real
   modem's 2 s scaled down. Delivery reports are on, as in the field: each part sent comes back
   as a status report the gateway must read between two sends. Busy share = parts × send
   delay / time from the first part to the last: what is missing is time the modem waited
   for the gateway (AT round trips, reading reports, database).
2. Every warning of the library composed as it goes out (sender first, stop line last),
   accented and "không dấu", sent through the emulator: the parts the modem accepted, per
   recipient and for the audience.

    python bench/broadcast_pacing.py [--recipients 2000] [--send-delay 0.02] [--baseline] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import UTC, datetime

from _harness import figure, numbers, start_emulator, workdir

from gateway import outbox
from gateway.broadcasts import control, subscribers
from gateway.broadcasts.library import Composer, Library
from gateway.broadcasts.service import BroadcastService
from gateway.config import load_config
from gateway.service import Gateway
from gateway.storage import utcnow_iso, write_transaction

COMMAND = "python bench/broadcast_pacing.py"


def build(work, link) -> tuple[Gateway, BroadcastService]:
    env = {
        "TINBAO_MODEM_PORT": str(link), "TINBAO_STORAGE_PATH": str(work / "tinbao.db"),
        "TINBAO_BROADCASTS_TICK_INTERVAL": "0.5",
        "TINBAO_BROADCASTS_QUIET_START": "00:00", "TINBAO_BROADCASTS_QUIET_END": "00:00",  # run at any hour
        "TINBAO_MODEM_SIGNAL_INTERVAL": "30", "TINBAO_MODEM_DRAIN_INTERVAL": "120",
        # The gateway's own cost per part is measured, not the SIM's caps (sms.max_per_*, issue 15).
        "TINBAO_SMS_MAX_PER_HOUR": "0", "TINBAO_SMS_MAX_PER_DAY": "0",
    }
    gateway = Gateway(load_config(env=env))
    gateway.start()
    return gateway, gateway.broadcasts


def wait_connected(gateway: Gateway) -> None:
    deadline = time.monotonic() + 30
    while not (gateway.modem.state.state == "connected" and gateway.modem.state.registered):
        if time.monotonic() > deadline:
            raise SystemExit(f"gateway did not connect: {gateway.modem.state}")
        time.sleep(0.05)


def busy_share(emulator, recipients: int, delay: float) -> tuple[float, float, int, float]:
    sent = emulator.sent_messages()[-recipients:]
    parts = sum(m.parts for m in sent)
    first_start = sent[0].time.timestamp() - sent[0].parts * delay
    span = sent[-1].time.timestamp() - first_start
    return parts * delay / span, (span - parts * delay) / parts, parts, span


def library_parts(gateway: Gateway, emulator, library: Library) -> tuple[int, int]:
    """Each warning sent once in each form to one phone; the parts the modem accepted."""
    composer = Composer.from_config(gateway.config, library)
    db = gateway.dbs.get()
    totals = {}
    for form in ("accented", "khong_dau"):
        before = len(emulator.sent_messages())
        first_part = sum(m.parts for m in emulator.sent_messages())
        with write_transaction(db):
            for warning in library.warnings.values():
                text = composer.text(warning.accented, form=form, body_khong_dau=warning.khong_dau)
                outbox.enqueue(db, "+84912999999", text, kind="bench", now=gateway.clock.now(), auto=False)
        gateway.modem.wake()
        if not emulator.wait_for_sent(before + len(library.warnings), 120):
            raise SystemExit("the library was not sent")
        totals[form] = sum(m.parts for m in emulator.sent_messages()) - first_part
    return totals["accented"], totals["khong_dau"]


def plain_outbox(gateway: Gateway, emulator, count: int, text: str, delay: float) -> tuple[float, float]:
    """The same SMS queued straight into the outbox (no scheduler, no pacing): the baseline."""
    db = gateway.dbs.get()
    emulator.set_fault("send_delay", 0)
    with write_transaction(db):
        for i in range(count):
            outbox.enqueue(db, f"+849{13000000 + i:08d}", text, kind="baseline", now=gateway.clock.now(),
                           priority=10, auto=False)
    emulator.set_fault("send_delay", delay)
    gateway.modem.wake()
    while db.execute("SELECT COUNT(*) FROM outbox WHERE kind='baseline' AND status IN ('sent', 'delivered')"
                     ).fetchone()[0] < count:
        time.sleep(0.2)
    share, gap, _, _ = busy_share(emulator, count, delay)
    return share, gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--send-delay", type=float, default=0.02, help="seconds per part (a real modem: about 2)")
    parser.add_argument("--baseline", action="store_true",
                        help="also send the same SMS straight through the outbox, without the broadcast machinery")
    parser.add_argument("--quick", action="store_true", help="a smoke run (100 recipients)")
    args = parser.parse_args()
    if args.quick:
        args.recipients = 100
    baseline = None
    work = workdir()
    proc, link, emulator = start_emulator(work)
    gateway = service = None
    try:
        gateway, service = build(work, link)
        wait_connected(gateway)
        db = gateway.dbs.get()
        now = datetime.now(UTC)
        with write_transaction(db):
            for n in numbers(args.recipients):
                subscribers.save_member(db, subscribers.Member(n, village="Na Hối"), source="import", now=now)
        warning = service.library.warnings["01_gia_danh_cong_an"]
        emulator.set_fault("send_delay", args.send_delay)
        start = time.perf_counter()
        control.create(db, control.Draft(warning.title, warning.accented, body_khong_dau=warning.khong_dau,
                                         everyone=True), by="bench", now=now, tz=service.tz)
        service.wake()
        # Watch the database, not the emulator: asking the emulator process for its whole sent
        # log every few milliseconds would slow the very modem being measured.
        deadline = time.monotonic() + args.recipients * args.send_delay * 4 + 120
        while db.execute("SELECT COUNT(*) FROM outbox WHERE kind='broadcast' AND status IN ('sent', 'delivered')"
                         ).fetchone()[0] < args.recipients:
            if time.monotonic() > deadline:
                raise SystemExit("the broadcast did not finish")
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        share, gap, parts, span = busy_share(emulator, args.recipients, args.send_delay)
        real = 2.0 / (2.0 + gap)

        if args.baseline:
            text = db.execute("SELECT text FROM broadcast_runs ORDER BY id DESC LIMIT 1").fetchone()[0]
            baseline = plain_outbox(gateway, emulator, args.recipients, text, args.send_delay)
        emulator.set_fault("send_delay", 0)
        accented, plain = library_parts(gateway, emulator, service.library)
        count = len(service.library.warnings)
    finally:
        if gateway is not None:
            gateway.stop()
        emulator.shutdown()
        proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)

    print(f"broadcast to {args.recipients} subscribers, {parts} parts, modem {args.send_delay * 1000:.0f} ms/part: "
          f"{elapsed:.1f} s from 'send now' to the last part ({span:.1f} s sending)")
    print(f"  modem busy {share * 100:.1f}% of the time; the gateway kept it waiting {gap * 1000:.2f} ms per part "
          f"(AT round trip + database), i.e. {real * 100:.2f}% busy at a real modem's 2 s per part")
    if baseline:
        print(f"  baseline, the same SMS straight into the outbox (no scheduler, no pacing): modem busy "
              f"{baseline[0] * 100:.1f}%, {baseline[1] * 1000:.2f} ms per part")
    print(f"warning library ({count} warnings, sender and stop line included), parts per recipient: "
          f"accented {accented}, không dấu {plain} ({accented / plain:.2f}x fewer); for {args.recipients} "
          f"recipients: {accented * args.recipients:,} vs {plain * args.recipients:,} SMS")
    print(f"(measured {utcnow_iso()[:16]}Z)")
    figure(f"modem busy during a {args.recipients:,}-recipient broadcast ({parts:,} parts), delivery reports on",
           "≥ 98% at 2 s/part", f"{share * 100:.1f}% at {args.send_delay * 1000:.0f} ms/part; the gateway's "
           f"{gap * 1000:.1f} ms per part make {real * 100:.2f}% at 2 s/part",
           leaves_out="the radio's own delays (emulated)", command=COMMAND)
    figure("SMS parts per recipient for the warning library, accented vs không dấu", "about 2x fewer",
           f"{accented} vs {plain} ({accented / plain:.1f}x)", leaves_out="nothing (counted by the emulator)",
           command=COMMAND)


if __name__ == "__main__":
    main()
