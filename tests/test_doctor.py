"""``python app.py doctor``: not ready on a fresh default config, ready on a set-up post.

The set-up post is real: the emulator in its own process (a modem the gateway opens through
its pty link), the gateway running, and doctor run as a separate process beside it, reading
what the gateway publishes without taking its port.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from gateway import backup, doctor
from gateway.accounts import users
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.service import Gateway
from gateway.storage import open_db
from tests.conftest import FAST, ROOT, wait_until

CHECKS = [
    "config file", "web page on the LAN", "storage", "gateway running", "modem port", "real modem unused",
    *doctor.MODEM_CHECKS, "clock trusted", "last backup", "menus filled in", "officer accounts",
    "Zalo token", "disk free", "hub reachable",
]


def run_doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60, cwd=ROOT)


def line(output: str, name: str) -> str:
    found = [row for row in output.splitlines() if row[2:].startswith(name + " ")]
    assert found, f"no line for {name!r} in\n{output}"
    return found[0]


def test_a_fresh_default_config_is_not_ready_and_every_check_has_its_line(tmp_path):
    env = {"TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db")}
    before = run_doctor("doctor", env=env)
    assert before.returncode == 1, before.stdout
    for name in CHECKS:
        line(before.stdout, name)
    assert not (tmp_path / "tinbao.db").exists(), "doctor must not make the database"

    prepare_gateway(tmp_path / "tinbao.db")  # the file the first run made; the gateway stopped since
    result = run_doctor("doctor", env=env)
    assert result.returncode == 1
    out = result.stdout
    for name in CHECKS:
        line(out, name)
    assert line(out, "config file").startswith("✗") and "install.sh" in line(out, "config file")
    assert line(out, "web page on the LAN").startswith("✗") and "0.0.0.0" in line(out, "web page on the LAN")
    assert line(out, "modem port").startswith("✗") and "/dev/tinbao-modem" in line(out, "modem port")
    assert line(out, "gateway running").startswith("✗")
    assert line(out, "modem answers").startswith("✗") and "not running" in line(out, "modem answers")
    assert line(out, "menus filled in").startswith("✗") and "xxxx" in line(out, "menus filled in")
    assert line(out, "officer accounts").startswith("✗") and "create-user" in line(out, "officer accounts")
    assert line(out, "last backup").startswith("✗") and "python app.py backup" in line(out, "last backup")
    assert line(out, "storage").startswith("✓") and line(out, "database sound").startswith("✓")
    assert out.strip().endswith("check(s) to fix before the field")


def filled_menus(folder: Path) -> Path:
    text = (ROOT / "firmware_config" / "menus" / "vi.toml").read_text(encoding="utf-8")
    text = text.replace("09xx xxx xxx", "0209 000 000").replace("xxxx", "Cốc Lầu")
    folder.mkdir()
    (folder / "vi.toml").write_text(text, encoding="utf-8")
    return folder


def test_a_set_up_post_is_ready_while_its_gateway_runs(tmp_path, emulator_process):
    link, client = emulator_process
    menus = filled_menus(tmp_path / "menus")
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(
        f'[storage]\npath = "{tmp_path / "data" / "tinbao.db"}"\n'
        f'[modem]\nport = "{link}"\n'
        '[web]\nhost = "0.0.0.0"\nsecret_key = "0123456789abcdef0123456789abcdef"\n'
        f'[router]\nmenus_path = "{menus}"\n', encoding="utf-8")
    config_file.chmod(0o640)
    config = load_config(config_file, env=FAST)
    gateway = Gateway(config)
    gateway.start()
    try:
        def published() -> bool:
            with open_db(config.storage_path) as db:
                modem = doctor.state.get_json(db, "modem") or {}
            return modem.get("state") == "connected" and bool(modem.get("smsc")) and modem.get("sim_total")

        assert wait_until(published, 20)
        with open_db(config.storage_path) as db:
            users.create_user(db, "an", "mật khẩu đủ dài 2026", "admin", by="test")
        backup.backup_command(config, SimpleNamespace(file=str(config.backup_path)))

        result = run_doctor("--config", str(config_file), "doctor", env=FAST)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        for name in CHECKS:
            assert line(out, name).startswith("✓"), line(out, name)
        assert "in use by the gateway" in line(out, "modem port")
        assert out.strip().endswith("ready for the field")

        # Doctor took nothing from the gateway: the modem still answers villagers.
        assert gateway.modem.state.state == "connected" and gateway.modem.state.reconnects == 0
        client.deliver("0912345678", "MENU")
        assert client.wait_for_sent(1, 15)
    finally:
        gateway.stop()

    stopped = run_doctor("--config", str(config_file), "doctor", env=FAST)
    assert stopped.returncode == 1
    assert line(stopped.stdout, "gateway running").startswith("✗")
    assert "free" in line(stopped.stdout, "modem port")


def test_a_port_held_by_another_program_is_named(tmp_path, emulator_process):
    link, _ = emulator_process
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(link)!r}, 'rb'); import time; time.sleep(60)"])
    try:
        config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "x.db"), "TINBAO_MODEM_PORT": str(link)})
        assert wait_until(lambda: doctor.port_holders(os.path.realpath(link)), 10)
        found = {check.name: check for check in doctor.check_port(config, None, None)}
        assert not found["modem port"].ok
        assert f"process {holder.pid}" in found["modem port"].found
    finally:
        holder.kill()
        holder.wait()
    found = {check.name: check for check in doctor.check_port(config, None, None)}
    assert found["modem port"].ok and "free" in found["modem port"].found


def test_health_reads_the_configured_port(tmp_path, live_gateway):
    _, url = live_gateway
    port = url.rsplit(":", 1)[1]
    env = {"TINBAO_STORAGE_PATH": str(tmp_path / "other.db"), "TINBAO_WEB_PORT": port}
    answered = run_doctor("doctor", "--health", env=env)
    assert answered.returncode == 0, answered.stderr
    assert f":{port}/healthz" in answered.stdout
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = str(free.getsockname()[1])
    silent = run_doctor("doctor", "--health", env={**env, "TINBAO_WEB_PORT": closed})
    assert silent.returncode == 1 and "no answer" in silent.stderr
