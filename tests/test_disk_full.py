"""Disk full: when SQLite cannot write, nothing leaves the SIM, nothing is marked sent, the page
and /healthz say why, and the gateway carries on by itself when space returns.

For real: the gateway runs as ``python app.py`` with the emulator in a process of its own (a
modem keeps its SIM), and the test lowers the gateway process's RLIMIT_FSIZE (``prlimit``), so
every write past the first bytes of a file fails as on a full card (SQLITE_FULL). Lifting the
limit is the space coming back.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from conftest import FAST, ROOT, TEST_PASSWORD, csrf_token_from, make_user, rows, wait_until

from gateway.storage import WriteHealth, cannot_write

pytestmark = pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")

NUMBERS = ["+84912000001", "+84912000002", "+84912000003"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """``python app.py`` with its log read from a pipe (a pipe is not a file: no size limit)."""

    def __init__(self, tmp_path: Path, link: Path) -> None:
        self.port = free_port()
        env = {**os.environ, **FAST, "TINBAO_MODEM_PORT": str(link), "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"),
               "TINBAO_WEB_HOST": "127.0.0.1", "TINBAO_WEB_PORT": str(self.port)}
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.log.append(line)

    def health(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)
        except OSError:
            return 0, {}

    def login(self, username: str) -> urllib.request.OpenerDirector:
        """An officer's browser: logged in through the form, with its cookie."""
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        base = f"http://127.0.0.1:{self.port}"
        token = csrf_token_from(opener.open(f"{base}/login", timeout=5).read().decode())
        form = urllib.parse.urlencode({"username": username, "password": TEST_PASSWORD, "csrf_token": token})
        opener.open(f"{base}/login", data=form.encode(), timeout=5)
        opener.addheaders = [("X-CSRFToken", token)]
        return opener

    def dashboard_alerts(self, opener: urllib.request.OpenerDirector) -> dict[str, str]:
        with opener.open(f"http://127.0.0.1:{self.port}/api/dashboard", timeout=5) as response:
            return {alert["key"]: alert["text"] for alert in json.load(response)["alerts"]}

    def limit_file_size(self, size: int) -> None:
        _, hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (size, hard))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def test_a_full_disk_keeps_sms_on_the_sim_says_why_and_recovers_by_itself(tmp_path, emulator_process):
    link, emulator = emulator_process
    db = tmp_path / "tinbao.db"
    officer = make_user(db, "viewer")
    gateway = GatewayProcess(tmp_path, link)
    try:
        assert wait_until(lambda: gateway.health()[0] == 200, 30), "".join(gateway.log)[-3000:]
        browser = gateway.login(officer)
        assert "storage" not in gateway.dashboard_alerts(browser)
        status, body = gateway.health()
        free = body["storage"].pop("free_bytes")
        assert body["storage"] == {"writable": True, "reason": None, "since": None} and free > 0

        gateway.limit_file_size(4096)  # the card is full: no write reaches the files any more
        for i, number in enumerate(NUMBERS):
            emulator.deliver(number, f"MENU {i}")
        assert emulator.wait_for_stored(3, 10)
        assert wait_until(lambda: gateway.health()[1].get("storage", {}).get("writable") is False, 20), (
            "".join(gateway.log)[-3000:])
        status, body = gateway.health()
        assert status == 503 and body["status"] == "degraded"
        # A write past the limit fails with EFBIG: SQLite says SQLITE_IOERR_WRITE (a short one, FULL).
        assert body["storage"]["reason"] in ("I/O error", "disk full") and body["storage"]["since"]
        assert body["database"] == "ok"  # reading still works: the page can say why
        assert "thẻ nhớ" in gateway.dashboard_alerts(browser)["storage"]

        # A few more drain attempts while full: the SMS stay on the SIM, none is stored or answered.
        assert not wait_until(lambda: emulator.stored_count() < 3, 3.0)
        assert rows(db, "SELECT count(*) FROM inbox")[0][0] == 0
        assert rows(db, "SELECT count(*) FROM outbox")[0][0] == 0
        assert emulator.sent_messages() == []
        assert "the database cannot be written (" in "".join(gateway.log)
        assert "Traceback" not in "".join(gateway.log)

        gateway.limit_file_size(resource.RLIM_INFINITY)  # space is back
        assert wait_until(lambda: emulator.stored_count() == 0, 30), "".join(gateway.log)[-3000:]
        assert emulator.wait_for_sent(3, 30)
        assert wait_until(lambda: gateway.health()[0] == 200, 20)
        assert gateway.health()[1]["storage"]["writable"] is True
        assert "storage" not in gateway.dashboard_alerts(browser)
    finally:
        gateway.stop()

    texts = Counter(text for (text,) in rows(db, "SELECT text FROM inbox"))
    assert texts == Counter(f"MENU {i}" for i in range(3)), "each SMS committed exactly once"
    answered = Counter(m.destination for m in emulator.sent_messages())
    assert len(answered) == 3 and set(answered.values()) == {1}, "each villager answered once"
    assert rows(db, "SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')")[0][0] == 3


def test_cannot_write_names_the_three_storage_errors(tmp_path):
    import sqlite3

    path = tmp_path / "ro.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as info:
        readonly.execute("INSERT INTO t VALUES (1)")
    assert cannot_write(info.value) == "read-only"

    full = sqlite3.connect(path)
    full.execute("PRAGMA max_page_count = 2")
    with pytest.raises(sqlite3.Error) as info:
        full.execute("INSERT INTO t VALUES (?)", ["x" * 20000])
    assert cannot_write(info.value) == "disk full"
    with pytest.raises(sqlite3.OperationalError) as info:
        full.execute("SELECT * FROM nowhere")
    assert cannot_write(info.value) is None  # a bug in a query is not the disk's fault
    assert cannot_write(ValueError("x")) is None

    health = WriteHealth()
    health.failed("modem0", "disk full", "database or disk is full")
    health.failed("router", "disk full", "database or disk is full")
    assert health.problem()["who"] == "modem0"
    health.ok("modem0")
    assert health.problem()["who"] == "router"
    health.ok("router")
    assert health.problem() is None
