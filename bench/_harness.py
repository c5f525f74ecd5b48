"""Shared set-up for the benchmarks: an emulator process, a gateway, a burst of SMS."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway.modem.emulator.client import EmulatorClient

ROOT = Path(__file__).resolve().parent.parent


def start_emulator(workdir: Path, capacity: int = 50) -> tuple[subprocess.Popen, Path, EmulatorClient]:
    """The modem emulator in its own process, as a real modem is its own device."""
    from gateway.modem.emulator.process import start_emulator_process

    return start_emulator_process(workdir, capacity=capacity, client_timeout=60)


def gateway_env(workdir: Path, link: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TINBAO_MODEM_PORT": str(link),
        "TINBAO_STORAGE_PATH": str(workdir / "tinbao.db"),
        "TINBAO_WEB_PORT": "0",
        "TINBAO_ROUTER_AUTO_REPLIES_PER_HOUR": "1000",
        **extra,
    }


def numbers(count: int) -> list[str]:
    """Distinct test numbers (Viettel-looking 0912 000 000 + i), one per villager."""
    return [f"+849{12000000 + i:08d}" for i in range(count)]


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tinbao-bench-"))


class RunningGateway:
    """``python app.py`` against an emulator process, both stopped on exit (a context manager).

    ``emulator`` is the EmulatorClient; ``gateway`` the Popen; ``work`` the scratch folder.
    """

    def __init__(self, capacity: int = 50, **env: str) -> None:
        self.capacity = capacity
        self.env = env

    def __enter__(self) -> "RunningGateway":
        import time

        self.work = workdir()
        self.emulator_proc, link, self.emulator = start_emulator(self.work, self.capacity)
        self.gateway = subprocess.Popen(
            [sys.executable, "app.py", "--log-level", "WARNING"], cwd=ROOT,
            env=gateway_env(self.work, link, **self.env), stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not self.connected():
            if time.monotonic() > deadline or self.gateway.poll() is not None:
                self.__exit__(None, None, None)
                raise SystemExit("gateway did not connect to the emulator")
            time.sleep(0.1)
        return self

    def connected(self) -> bool:
        """True once the gateway has published a registered modem state."""
        import json
        import sqlite3

        try:
            conn = sqlite3.connect(str(self.work / "tinbao.db"))
            try:
                row = conn.execute("SELECT value FROM state WHERE key='modem'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return False
        return bool(row) and json.loads(row[0]).get("registered") is True

    def __exit__(self, *exc: object) -> None:
        import shutil

        self.gateway.terminate()
        self.gateway.wait(10)
        self.emulator.shutdown()
        self.emulator_proc.wait(10)
        shutil.rmtree(self.work, ignore_errors=True)
