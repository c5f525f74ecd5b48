"""Rule 4 for real: SIGKILL the gateway half way through a broadcast to 500, then restart it.

The emulator runs in its own process (a real modem keeps going when the Pi's software dies),
the gateway in another (``python app.py``), and the test kills it with SIGKILL while the
modem is busy sending.

After the restart each remaining person gets exactly one message and nobody a second one.
The only person who may miss it is the one whose SMS was inside the modem at the kill: the
gateway cannot know whether it left, so it records that delivery as ``unknown`` and does
not send it again (a duplicate warning is the thing rule 4 forbids).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from conftest import FAST, ROOT, make_config, rows, wait_until

SUBSCRIBERS = 200  # enough for a kill half-way with hundreds of parts on each side
LIVE = {
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
    # 500 warnings in a minute: the SIM's caps on what is not a reply (tested in test_sim_broadcasts) are off.
    "TINBAO_SMS_MAX_PER_HOUR": "0",
    "TINBAO_SMS_MAX_PER_DAY": "0",
}


def environment(tmp_path: Path, link: Path) -> dict[str, str]:
    return {**FAST, **LIVE, "TINBAO_MODEM_PORT": str(link), "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"),
            "TINBAO_WEB_PORT": "0"}


def start_gateway(tmp_path: Path, link: Path) -> subprocess.Popen:
    log = open(tmp_path / "gateway.log", "ab")
    return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT,
                            env={**os.environ, **environment(tmp_path, link)}, stdout=log, stderr=log)


def prepare_broadcast(tmp_path: Path, link: Path) -> list[str]:
    """SUBSCRIBERS subscribers and one "send now" warning, written before the gateway starts."""
    from gateway.broadcasts import control, subscribers
    from gateway.broadcasts.library import Library
    from gateway.database import prepare_gateway
    from gateway.storage import ThreadLocalDb, write_transaction

    config = make_config(tmp_path, **{k: v for k, v in environment(tmp_path, link).items() if k not in FAST})
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    db = dbs.get()
    now = datetime.now(UTC)
    numbers = [f"+849130{i:05d}" for i in range(SUBSCRIBERS)]
    with write_transaction(db):
        for n in numbers:
            subscribers.save_member(db, subscribers.Member(n, village="Na Hối"), source="import", now=now)
    warning = Library.load().warnings["05_gia_nguoi_than"]
    control.create(db, control.Draft(warning.title, warning.accented, body_khong_dau=warning.khong_dau,
                                     warning_id=warning.id, everyone=True), by="officer", now=now, tz=config.timezone)
    dbs.close_all()
    return numbers


def test_sigkill_half_way_through_a_broadcast_to_200_sends_nobody_a_second_one(tmp_path, emulator_process):
    link, emulator = emulator_process
    emulator.set_fault("send_delay", 0.01)  # the modem is the bottleneck, as on the real thing
    numbers = prepare_broadcast(tmp_path, link)
    log = tmp_path / "gateway.log"
    gateway = start_gateway(tmp_path, link)
    try:
        assert emulator.wait_for_sent(SUBSCRIBERS // 2, 60), log.read_text()[-3000:]
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(10)
        killed_at = len(emulator.sent_messages())
        assert killed_at < SUBSCRIBERS, "the kill came too late to test anything"

        gateway = start_gateway(tmp_path, link)
        db = tmp_path / "tinbao.db"
        assert wait_until(lambda: rows(db, "SELECT status FROM broadcasts")[0][0] == "done", 90), \
            log.read_text()[-3000:]
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(10)

    per_number = Counter(m.destination for m in emulator.sent_messages())
    assert max(per_number.values()) == 1, f"sent twice: {[n for n, c in per_number.items() if c > 1]}"
    statuses = dict(rows(db, "SELECT number, status FROM broadcast_deliveries"))
    unknown = [n for n, s in statuses.items() if s == "unknown"]
    assert len(unknown) <= 1, unknown  # at most the one in the modem at the kill
    in_doubt = rows(db, "SELECT o.number FROM outbox_parts p JOIN outbox o ON o.id = p.outbox_id"
                        " WHERE p.status = 'unknown'")
    assert [n for (n,) in in_doubt] == unknown, "the part in the modem at the kill is the delivery in doubt"
    assert set(statuses.values()) <= {"sent", "delivered", "unknown"}
    missing = set(numbers) - set(per_number)
    assert missing <= set(unknown), f"never sent: {sorted(missing)[:5]}"
    assert set(per_number) <= set(numbers) and len(per_number) >= SUBSCRIBERS - 1
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT number) FROM outbox WHERE kind='broadcast'")[0] == (
        SUBSCRIBERS, SUBSCRIBERS), "one outbox row per person, even across the kill"
    text = emulator.sent_messages()[0].text
    assert text.startswith("Cong an xa Coc Lau: CANH BAO: Ke gian chiem Zalo") and text.endswith("de ngung nhan.")
