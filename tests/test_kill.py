"""Nothing lost, nothing twice: SIGKILL the gateway in the middle of a burst, then restart it.

The emulator runs in its own process (a real modem keeps its SIM when the Pi's software
dies), the gateway is ``python app.py`` in another, and the test kills it for real.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from conftest import FAST, ROOT, rows, wait_until


def start_gateway(tmp_path: Path, link: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        **FAST,
        "TINBAO_MODEM_PORT": str(link),
        "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"),
        "TINBAO_WEB_PORT": "0",
    }
    log = open(tmp_path / "gateway.log", "ab")
    return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=log)


def test_sigkill_in_a_burst_of_200_loses_nothing_and_answers_once(tmp_path, emulator_process):
    link, emulator = emulator_process
    numbers = [f"+849120{i:05d}" for i in range(200)]
    gateway = start_gateway(tmp_path, link)
    try:
        emulator.deliver_many([(n, f"TIN kiem tra so {i}") for i, n in enumerate(numbers)])
        assert emulator.wait_for_sent(40, 60), (tmp_path / "gateway.log").read_text()
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(10)
        killed_at = len(emulator.sent_messages())
        assert killed_at < 200, "the kill came too late to test anything"

        gateway = start_gateway(tmp_path, link)
        assert emulator.wait_for_sent(200, 90), (tmp_path / "gateway.log").read_text()[-3000:]
        db = tmp_path / "tinbao.db"
        assert wait_until(lambda: rows(db, "SELECT COUNT(*) FROM outbox WHERE status='queued'")[0][0] == 0, 20)
        # delivery reports keep arriving for a moment; the SIM ends empty
        assert wait_until(lambda: emulator.stored_count() == 0 and emulator.network_backlog() == 0, 20)
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(10)

    texts = Counter(t for (t,) in rows(db, "SELECT text FROM inbox"))
    assert len(texts) == 200 and set(texts.values()) == {1}, "every SMS in the database exactly once"
    tips = rows(db, "SELECT COUNT(DISTINCT reference), COUNT(*) FROM tips")[0]
    assert tips == (200, 200)

    per_number = Counter(m.destination for m in emulator.sent_messages())
    assert set(per_number) == set(numbers), "every villager got an answer"
    twice = [n for n, c in per_number.items() if c > 1]
    assert len(twice) <= 1 and max(per_number.values()) <= 2, f"answered twice: {twice}"
