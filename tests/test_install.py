"""firmware_config/install.sh into a temporary root, the units it installs, and clean stops.

``TINBAO_PREFIX`` puts every file under tmp_path (the config, the wrapper and the venv point
there); ``TINBAO_NO_SYSTEM=1`` skips what changes the running system (apt, pip, useradd,
chown, systemctl, udevadm, raspi-config). The installed ``tinbao`` command runs from there.
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

from conftest import INSTALL_SCRIPT as SCRIPT
from conftest import ROOT, install, make_config, missing_tool, rows, wait_until

from gateway import filekeys
from gateway.config import load_config

SYSTEMD = ROOT / "firmware_config" / "systemd"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keys as written
    parser.read(path)
    return parser


def test_install_into_a_temporary_root(tmp_path):
    root = tmp_path / "root"
    done = install(root)
    for line in done.stdout.splitlines():  # every path the installer names is under the prefix
        if line.startswith("==> ") and any(part in line for part in ("/opt/", "/etc/", "/var/")):
            assert str(root) in line, line

    app = root / "opt/tinbao/app"
    assert (app / "app.py").is_file() and (app / "gateway/web/templates").is_dir()
    assert (app / "firmware_config/menus/vi.toml").is_file() and (app / "requirements.lock").is_file()
    assert not (app / "tests").exists() and not list(app.rglob("__pycache__"))
    assert (root / "opt/tinbao/venv/bin/python").exists()
    venv_python = root / "opt/tinbao/venv/bin/python"
    imports = subprocess.run([str(venv_python), "-c", "import flask, cryptography, cheroot; print('ok')"],
                             capture_output=True, text=True, timeout=60)
    assert imports.stdout.strip() == "ok", imports.stderr  # the dry run's venv runs the app

    config_file = root / "etc/tinbao/gateway.toml"
    assert mode(config_file) == 0o640
    config = load_config(config_file, env={})
    assert config.modem.port == "/dev/tinbao-modem" and config.modem.profile == "generic"
    assert config.web.host == "0.0.0.0"
    assert config.storage.path == str(root / "var/lib/tinbao/tinbao.db")
    assert config.backup.path == str(root / "var/lib/tinbao/backups")
    assert re.fullmatch(r"[0-9a-f]{64}", config.web.secret_key)
    assert (config.web.port, config.web.http_redirect_port) == (443, 80)
    assert config.web.tls_cert == str(root / "etc/tinbao/tls/server.crt")
    assert config.backup.key_path == str(root / "etc/tinbao/backup.key")
    key = filekeys.load(root / "etc/tinbao/backup.key")
    assert mode(key.path) == 0o600 and key.recovery_shown.endswith("by install.sh")
    code = filekeys.recovery_code(key.key).split()
    assert " ".join(code[:6]) in done.stdout and " ".join(code[6:]) in done.stdout  # printed, once
    tls_dir = root / "etc/tinbao/tls"
    assert mode(tls_dir) == 0o700
    assert sorted(p.name for p in tls_dir.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]
    assert all(mode(p) == 0o600 for p in tls_dir.iterdir())

    data = root / "var/lib/tinbao"
    assert mode(data) == 0o700 and mode(data / "backups") == 0o700

    units = root / "etc/systemd/system"
    service = unit(units / "tinbao.service")["Service"]
    assert service["UMask"] == "0077" and service["User"] == "tinbao" and service["StateDirectoryMode"] == "0700"
    assert service["Environment"] == "TINBAO_CONFIG=/etc/tinbao/gateway.toml"
    python, script = service["ExecStart"].split()
    assert (root / python.lstrip("/")).exists() and (root / script.lstrip("/")).is_file()
    assert service["ExecStartPre"].startswith("-+") and service["ExecStartPre"].endswith("app.py modem-probe")
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"  # 443 and 80 as user tinbao
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
    assert "modem-probe" in (root / "etc/udev/rules.d/98-tinbao-modem-local.rules").read_text()
    wrapper = root / "usr/local/bin/tinbao"
    assert mode(wrapper) & 0o111
    for line in wrapper.read_text().splitlines():  # nothing hard-coded outside the prefix
        for part in ("/opt/", "/etc/", "/var/"):
            assert part not in line or f"{root}{part}" in line, line

    # The installed tree runs from the temporary root, through the installed command.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    done = subprocess.run([str(wrapper), "doctor"], capture_output=True, text=True, timeout=60, env=clean)
    assert done.returncode == 1, done.stderr  # no database, no gateway: not ready, but it ran
    for line in ("✓ config file", "✓ web page on the LAN", "✓ backup key", "✓ HTTPS certificate"):
        assert line in done.stdout, done.stdout
    assert str(root / "var/lib/tinbao/tinbao.db") in done.stdout


def test_the_real_wrapper_runs_as_the_gateways_user(tmp_path):
    """Without the dry run, the wrapper switches to user tinbao (read, not run: no such user here)."""
    text = (ROOT / "firmware_config/install.sh").read_text()
    assert 'runuser -u "$run_as"' in text and 'run_as="$SERVICE_USER"' in text


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

    ca_before = (root / "etc/tinbao/tls/ca.crt").read_bytes()
    key_before = (root / "etc/tinbao/backup.key").read_bytes()
    second = install(root)
    assert f"keeping {config_file}" in second.stdout
    assert (root / "etc/tinbao/tls/ca.crt").read_bytes() == ca_before  # phones keep trusting it
    assert (root / "etc/tinbao/backup.key").read_bytes() == key_before
    assert "keeping the backup key" in second.stdout and "recovery code of the backup key" not in second.stdout
    assert config_file.read_text() == edited  # the secret and the officer's edit kept
    assert load_config(config_file, env={}).gateway.id == "bh"
    assert database.read_bytes() == b"the commune's tips" and mode(database) == 0o600
    assert not stale.exists()
    assert not (root / "opt/tinbao/app.new").exists() and not (root / "opt/tinbao/app.old").exists()


def test_an_older_config_gets_the_keys_for_sealed_backups_and_https(tmp_path):
    root = tmp_path / "root"
    etc = root / "etc/tinbao"
    etc.mkdir(parents=True)
    old = ('# an officer\'s own config\n[gateway]\nid = "bh"\n\n[web]\nhost = "0.0.0.0"\nport = 8080\n'
           '\n[backup]\nkeep = 30\n')
    (etc / "gateway.toml").write_text(old)
    done = install(root)
    assert "added to" in done.stdout
    config = load_config(etc / "gateway.toml", env={})
    assert (config.gateway.id, config.web.port, config.backup.keep) == ("bh", 8080, 30)  # kept
    assert config.backup.key_path == str(etc / "backup.key") and config.web.tls_cert == str(etc / "tls/server.crt")
    assert config.web.http_redirect_port == 80
    assert (etc / "gateway.toml").read_text().startswith(old.split("[web]")[0])
    again = install(root)
    assert "added to" not in again.stdout


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


def test_modem_probe_links_the_first_port_that_answers_at(tmp_path, emulator):
    """A generic modem: the service's ExecStartPre names the first port that answers AT."""
    link = tmp_path / "tinbao-modem"
    silent = tmp_path / "silent"
    silent.write_text("")  # not a serial port: no answer
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env["TINBAO_MODEM_PORT"] = str(link)
    args = [sys.executable, str(ROOT / "app.py"), "modem-probe", "--link", str(link), "--timeout", "2"]
    done = subprocess.run([*args, "--ports", str(silent), str(tmp_path / "modem")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.path.realpath(link) == os.path.realpath(tmp_path / "modem")
    assert f"{silent}: no answer to AT" in done.stdout and "answers AT" in done.stdout
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to do" in again.stdout  # the link is there: no port touched
    other = subprocess.run(args[:3], env={**env, "TINBAO_MODEM_PORT": "/dev/ttyUSB9"}, capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 0 and "nothing to do" in other.stdout  # another port configured
