"""firmware_config/install.sh into a temporary root, the units it installs, and clean stops.

``TINBAO_PREFIX`` puts every file under tmp_path; ``TINBAO_NO_SYSTEM=1`` skips what changes
the running system (apt, pip, useradd, chown, systemctl, udevadm, raspi-config).
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from gateway.config import load_config
from tests.conftest import ROOT, make_config, missing_tool, rows, wait_until

SCRIPT = ROOT / "firmware_config" / "install.sh"
SYSTEMD = ROOT / "firmware_config" / "systemd"


def install(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINBAO_PREFIX": str(prefix), "TINBAO_NO_SYSTEM": "1", "TINBAO_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys as written
    parser.read(path)
    return parser


def test_install_into_a_temporary_root(tmp_path):
    root = tmp_path / "root"
    install(root)

    app = root / "opt/tinbao/app"
    assert (app / "app.py").is_file() and (app / "gateway/web/templates").is_dir()
    assert (app / "firmware_config/menus/vi.toml").is_file() and (app / "requirements.lock").is_file()
    assert not (app / "tests").exists() and not list(app.rglob("__pycache__"))
    assert (root / "opt/tinbao/venv/bin/python").exists()

    config_file = root / "etc/tinbao/gateway.toml"
    assert mode(config_file) == 0o640
    config = load_config(config_file, env={})
    assert config.modem.port == "/dev/tinbao-modem" and config.modem.profile == "generic"
    assert config.web.host == "0.0.0.0"
    assert config.storage.path == "/var/lib/tinbao/tinbao.db"
    assert config.backup.path == "/var/lib/tinbao/backups"
    assert re.fullmatch(r"[0-9a-f]{64}", config.web.secret_key)

    data = root / "var/lib/tinbao"
    assert mode(data) == 0o700 and mode(data / "backups") == 0o700

    units = root / "etc/systemd/system"
    service = unit(units / "tinbao.service")["Service"]
    assert service["UMask"] == "0077" and service["User"] == "tinbao" and service["StateDirectoryMode"] == "0700"
    assert service["Environment"] == "TINBAO_CONFIG=/etc/tinbao/gateway.toml"
    python, script = service["ExecStart"].split()
    assert (root / python.lstrip("/")).exists() and (root / script.lstrip("/")).is_file()
    stop = int(unit(units / "tinbao.service.d/stop-timeout.conf")["Service"]["TimeoutStopSec"])
    assert stop >= config.modem.send_timeout + config.modem.command_timeout + 30
    health = unit(units / "tinbao-health.service")["Service"]
    assert "doctor --health" in health["ExecStart"] and "8080" not in health["ExecStart"]
    assert health["Environment"] == "TINBAO_CONFIG=/etc/tinbao/gateway.toml"
    assert (units / "tinbao-health.timer").is_file()
    for name in ("tinbao.service", "tinbao-health.service", "tinbao-health.timer"):
        assert mode(units / name) == 0o644
    rule = root / "etc/udev/rules.d/99-tinbao-modem.rules"
    assert rule.read_bytes() == (ROOT / "firmware_config/udev/99-tinbao-modem.rules").read_bytes()
    wrapper = root / "usr/local/bin/tinbao"
    assert mode(wrapper) & 0o111 and "runuser -u tinbao" in wrapper.read_text()

    # The copied tree runs: doctor reads the installed config (the database moved into tmp).
    done = subprocess.run([sys.executable, str(app / "app.py"), "--config", str(config_file), "doctor"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TINBAO_STORAGE_PATH": str(tmp_path / "db" / "tinbao.db")})
    assert done.returncode == 1, done.stderr  # no database, no gateway: not ready, but it ran
    assert "✓ config file" in done.stdout and "✓ web page on the LAN" in done.stdout


def test_running_it_again_upgrades_in_place_and_keeps_config_and_data(tmp_path):
    root = tmp_path / "root"
    install(root)
    config_file = root / "etc/tinbao/gateway.toml"
    edited = config_file.read_text().replace('id = "cl"', 'id = "bh"')
    config_file.write_text(edited)
    database = root / "var/lib/tinbao/tinbao.db"
    database.write_bytes(b"the commune's tips")
    database.chmod(0o644)
    stale = root / "opt/tinbao/app/gateway/removed_module.py"
    stale.write_text("# from an older version")

    second = install(root)
    assert "keeping /etc/tinbao/gateway.toml" in second.stdout
    assert config_file.read_text() == edited  # the secret and the officer's edit kept
    assert load_config(config_file, env={}).gateway.id == "bh"
    assert database.read_bytes() == b"the commune's tips" and mode(database) == 0o600
    assert not stale.exists()
    assert not (root / "opt/tinbao/app.new").exists() and not (root / "opt/tinbao/app.old").exists()


def test_uart_turns_the_serial_console_off(tmp_path):
    root = tmp_path / "root"
    boot = root / "boot/firmware"
    boot.mkdir(parents=True)
    original = "console=serial0,115200 console=tty1 root=PARTUUID=0a1b2c3d-02 rootfstype=ext4 rootwait\n"
    (boot / "cmdline.txt").write_text(original)
    (boot / "config.txt").write_text("dtparam=audio=on\n")
    install(root, "--uart", "--disable-modemmanager")
    assert (boot / "cmdline.txt").read_text() == "console=tty1 root=PARTUUID=0a1b2c3d-02 rootfstype=ext4 rootwait\n"
    assert (boot / "cmdline.txt.before-tinbao").read_text() == original
    assert (boot / "config.txt").read_text().splitlines() == ["dtparam=audio=on", "enable_uart=1"]
    assert load_config(root / "etc/tinbao/gateway.toml", env={}).modem.port == "/dev/serial0"
    install(root, "--uart")  # again: nothing doubled, the first saved copy kept
    assert (boot / "config.txt").read_text().count("enable_uart=1") == 1
    assert (boot / "cmdline.txt.before-tinbao").read_text() == original


def test_install_script_is_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        missing_tool("shellcheck is not installed (Debian package shellcheck)")
    done = subprocess.run(["shellcheck", "-x", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_shipped_unit_gives_a_send_time_to_finish():
    service = unit(SYSTEMD / "tinbao.service")["Service"]
    defaults = load_config(env={})
    assert int(service["TimeoutStopSec"]) >= defaults.modem.send_timeout + defaults.modem.command_timeout + 30
    assert service["UMask"] == "0077"
    assert "TINBAO_STORAGE_PATH" not in service.get("Environment", "")  # the config file says it


def test_a_stop_waits_for_the_part_in_the_modem(tmp_path, emulator, monkeypatch):
    """Longer than Worker.stop's own wait: the part is settled, not left in doubt."""
    from gateway.background import Worker
    from gateway.service import Gateway

    # Worker.stop's ten seconds, scaled down to one: a send of 2.5 s outlasts it as 12 s outlasts ten.
    monkeypatch.setattr(Worker.stop, "__defaults__", (1.0,))
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), TINBAO_MODEM_SEND_TIMEOUT="20")
    gateway = Gateway(config)
    gateway.start()
    try:
        assert wait_until(lambda: gateway.modem.state.state == "connected" and gateway.modem.state.registered, 15)
        emulator.set_fault("send_delay", 2.5)
        emulator.deliver("0912345678", "MENU")
        db = config.storage_path
        assert wait_until(lambda: rows(db, "SELECT count(*) FROM outbox_parts WHERE claimed_by IS NOT NULL")[0][0], 20)
    finally:
        gateway.stop()
    assert not gateway.modem.thread.is_alive()
    assert rows(db, "SELECT status, claimed_by FROM outbox_parts") == [("sent", None)]
