"""``python app.py doctor``: not ready on a fresh default config, ready on a set-up post.

The set-up post is real: the emulator in its own process (a modem the gateway opens through
its pty link), the gateway running, and doctor run as a separate process beside it, reading
what the gateway publishes without taking its port.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import FAST, ROOT, make_config, rows, wait_until

from gateway import backup, doctor, tls
from gateway.accounts import users
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.service import Gateway
from gateway.sim import status as sim_status
from gateway.sim.doctor import SIM_CHECKS
from gateway.storage import open_db

CHECKS = [
    "config file", "web page on the LAN", "commune code", "commune name", "SIM number", "storage",
    "gateway running", "modem port", "real modem unused", "modem link", *doctor.MODEM_CHECKS, *SIM_CHECKS,
    "clock trusted", "last backup", "menus filled in", "menus in use", "retention purge",
    "officer accounts", "Zalo token", "disk free",
    "hub reachable", "backup key", "HTTPS certificate",
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
    assert line(out, "SIM number").startswith("✗") and "gateway.phone_number" in line(out, "SIM number")
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


OWN_NUMBER = "0900000017"  # the post's SIM (obviously fake)


@pytest.fixture
def post_emulator(tmp_path):
    """The emulator in its own process, its SIM's own number set (the loop test comes back)."""
    from gateway.modem.emulator.process import start_emulator_process, stop_emulator_process

    proc, link, client = start_emulator_process(tmp_path, own_number=OWN_NUMBER)
    yield link, client
    stop_emulator_process(proc)


def sim_published(config) -> bool:
    """The gateway has read the credit, who the SIM is, and a loop test came back."""
    from gateway.sim import status as sim_status

    with open_db(config.storage_path) as db:
        sim = sim_status.read(db, config, datetime.now(UTC))
    return sim["balance_vnd"] is not None and sim["identity"]["sim"] and sim["loop_test"]["ok"] is True


def test_a_set_up_post_is_ready_while_its_gateway_runs(tmp_path, post_emulator):
    link, client = post_emulator
    menus = filled_menus(tmp_path / "menus")
    config_file = tmp_path / "gateway.toml"
    certificates = tmp_path / "tls"
    made = run_doctor("tls", "init", "--dir", str(certificates), "--hostname", "don-coclau",
                      env={"TINBAO_STORAGE_PATH": str(tmp_path / "x.db")})
    assert made.returncode == 0, made.stderr
    config_file.write_text(
        f'[gateway]\nid = "bp"\nname = "Công an xã Bản Phố"\nphone_number = "{OWN_NUMBER}"\n'
        f'[storage]\npath = "{tmp_path / "data" / "tinbao.db"}"\n'
        f'[modem]\nport = "{link}"\n'
        '[web]\nhost = "0.0.0.0"\nsecret_key = "0123456789abcdef0123456789abcdef"\n'
        f'tls_cert = "{certificates / "server.crt"}"\ntls_key = "{certificates / "server.key"}"\n'
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
        assert wait_until(lambda: sim_published(config), 20)
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
        before = client.status()["sent"]  # the loop test's SMS went out already
        client.deliver("0912345678", "MENU")
        assert client.wait_for_sent(before + 1, 15)
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


# -- README step 5: which commune, and the SIM's number -------------------------------------------

def identity(**env: str) -> dict[str, doctor.Check]:
    config = load_config(env={"TINBAO_STORAGE_PATH": "/nonexistent/x.db", **env})
    return {check.name: check for check in doctor.check_identity(config)}


def test_the_installers_identity_is_not_a_commune():
    # What install.sh writes for every commune: Cốc Lầu's code, a name without a commune, no number.
    found = identity(TINBAO_GATEWAY_ID="cl", TINBAO_GATEWAY_NAME="Công an xã", TINBAO_GATEWAY_PHONE_NUMBER="")
    assert not found["commune code"].ok and "gateway.id" in found["commune code"].fix
    assert not found["commune name"].ok and "gateway.name" in found["commune name"].fix
    assert not found["SIM number"].ok and "gateway.phone_number" in found["SIM number"].fix
    for bare in ("CÔNG AN XÃ", "Công an phường", "Công an thị trấn ", "công an xã  "):
        assert not identity(TINBAO_GATEWAY_NAME=bare)["commune name"].ok, bare


def test_a_communes_own_identity_passes():
    found = identity(TINBAO_GATEWAY_ID="bp", TINBAO_GATEWAY_NAME="Công an xã Bản Phố",
                     TINBAO_GATEWAY_PHONE_NUMBER="0912345678")
    assert all(check.ok for check in found.values()), found
    assert found["SIM number"].found == "0912 345 678"
    # Cốc Lầu itself keeps the shipped code; another commune keeping the shipped name does not pass.
    assert identity(TINBAO_GATEWAY_ID="cl", TINBAO_GATEWAY_NAME="Công an xã Cốc Lầu")["commune code"].ok
    assert not identity(TINBAO_GATEWAY_ID="bp", TINBAO_GATEWAY_NAME="Công an xã Cốc Lầu")["commune name"].ok


@pytest.mark.parametrize("number", ["0214 3880 113", "113", "069 2693 113", "12345"])
def test_the_sim_number_is_a_mobile(number):
    check = identity(TINBAO_GATEWAY_PHONE_NUMBER=number)["SIM number"]
    assert not check.ok and "mobile" in check.found


# -- README steps 3-5: the modem link is the modem the profile is for ----------------------------

def fake_sys(tmp_path: Path, usb_id: str) -> tuple[Path, Path]:
    """A /sys with one USB modem whose ttyUSB2 is its AT port, and /dev/tinbao-modem pointing at it."""
    sys_root = tmp_path / "sys"
    device = sys_root / "devices" / "platform" / "usb1" / "1-1"
    interface = device / "1-1:1.2"
    interface.mkdir(parents=True)
    vendor, product = usb_id.split(":")
    (device / "idVendor").write_text(vendor + "\n")
    (device / "idProduct").write_text(product + "\n")
    (sys_root / "class" / "tty" / "ttyUSB2").mkdir(parents=True)
    (sys_root / "class" / "tty" / "ttyUSB2" / "device").symlink_to(interface)
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "ttyUSB2").write_text("")
    (dev / "tinbao-modem").symlink_to(dev / "ttyUSB2")
    return sys_root, dev / "tinbao-modem"


def link_check(tmp_path: Path, profile: str, usb_id: str | None = "2c7c:0125") -> doctor.Check:
    sys_root, link = fake_sys(tmp_path, usb_id or "0000:0000")
    if usb_id is None:
        link.unlink()
    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "x.db"), "TINBAO_MODEM_PORT": str(link),
                              "TINBAO_MODEM_PROFILE": profile})
    return doctor.check_modem_link(config, sys_root)


def test_a_modem_of_another_kind_than_the_profile_is_named_with_the_right_profile(tmp_path):
    check = link_check(tmp_path, "sim7600-usb", "2c7c:0125")  # a Quectel EC25 behind a SIMCom profile
    assert not check.ok and "2c7c:0125" in check.found and 'modem.profile = "ec25-usb"' in check.fix


def test_the_modem_the_profile_is_for_passes(tmp_path):
    check = link_check(tmp_path, "ec25-usb", "2c7c:0125")
    assert check.ok and "ttyUSB2" in check.found and "2c7c:0125" in check.found


def test_generic_takes_any_modem(tmp_path):
    assert link_check(tmp_path, "generic", "1234:abcd").ok


def test_no_link_for_the_profile_says_how_to_get_one(tmp_path):
    check = link_check(tmp_path, "a7670-usb", None)
    assert not check.ok and "does not exist" in check.found and "1e0e:9011" in check.found
    assert "udev" in check.fix


def test_an_unknown_modem_behind_a_vendor_profile_is_sent_to_generic(tmp_path):
    check = link_check(tmp_path, "huawei-usb", "1234:abcd")
    assert not check.ok and 'modem.profile = "generic"' in check.fix


# -- the hub answers an authenticated request with this token ------------------------------------

def hub_check(tmp_path: Path, url: str, token: str, gateway_id: str = "cl") -> doctor.Check:
    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "x.db"), "TINBAO_DISTRICT_URL": url,
                              "TINBAO_DISTRICT_TOKEN": token, "TINBAO_GATEWAY_ID": gateway_id})
    return doctor.check_hub(config)


def test_the_hub_is_asked_with_this_gateways_token(tmp_path):
    from fake_zalo import HubServer

    hub = HubServer(tmp_path, gateways="cl:token-cl", TINBAO_HUB_NAME="Công an tỉnh Lào Cai")
    url = hub.start()
    try:
        right = hub_check(tmp_path, url, "token-cl")
        assert right.ok and "accepts this gateway's token" in right.found and "Lào Cai" in right.found
        wrong = hub_check(tmp_path, url, "token-wrong")  # /healthz would still answer 200
        assert not wrong.ok and "refuses" in wrong.found and "401" in wrong.found
        assert "hub.token" in wrong.fix and '"cl"' in wrong.fix
        empty = hub_check(tmp_path, url, "")
        assert not empty.ok and "hub.token" in empty.fix
        assert rows(hub.path, "SELECT COUNT(*) FROM hub_tips") == [(0,)]  # doctor sent nothing
    finally:
        hub.close()
    gone = hub_check(tmp_path, url, "token-cl")  # nobody listens there any more
    assert not gone.ok and "internet" in gone.fix


@contextlib.contextmanager
def socketserver_answering_html():
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>router login</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_address_that_is_no_hub_is_named(tmp_path, live_gateway):
    _, url = live_gateway  # a gateway's page: /healthz answers, /api/v1/changes is no hub's
    check = hub_check(tmp_path, url, "token-cl")
    assert not check.ok and "no TinBao hub there" in check.found and "hub.url" in check.fix
    with socketserver_answering_html() as other:  # any web server at the address: a page, not the hub's JSON
        check = hub_check(tmp_path, other, "token-cl")
        assert not check.ok and "no TinBao hub there" in check.found


# -- each step of the README's install has its doctor lines -------------------------------------

def test_each_install_step_of_the_readme_names_its_doctor_lines():
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install on the Pi", 1)[1].split("**Upgrade:**", 1)[0]
    steps = re.split(r"\n(?=\d\. \*\*)", install)[1:]
    assert len(steps) >= 8
    names = set(CHECKS)
    for number, step in enumerate(steps, 1):
        lines = re.findall(r"doctor:\s+((?:`[^`]+`(?:,\s+|\s+and\s+)?)+)", step)
        named = {name for found in lines for name in re.findall(r"`([^`]+)`", found)}
        if number == 2:  # getting the code: nothing to check on the post yet
            continue
        assert named, f"README install step {number} names no doctor line"
        assert named <= names, f"step {number} names {sorted(named - names)}, which doctor does not print"


# -- the SIM's faults, one at a time (a set-up post, doctor a separate process beside it) -----------

def sim_doctor(config_file) -> tuple[int, str]:
    result = run_doctor("--config", str(config_file), "doctor", env={**FAST, "TINBAO_MODEM_COMMAND_TIMEOUT": "1",
                                                                       "TINBAO_SIM_LOOP_TEST_MINUTES": "0.05"})
    return result.returncode, result.stdout


def sim_now(config) -> dict:
    with open_db(config.storage_path) as db:
        return sim_status.read(db, config, datetime.now(UTC))


def test_doctor_fails_for_each_fault_of_the_sim(tmp_path, post_emulator):
    link, client = post_emulator
    config_file = tmp_path / "gateway.toml"
    certificates = tmp_path / "tls"  # a post ready for the field serves its page over https
    tls.tls_command(make_config(tmp_path), SimpleNamespace(tls_command="init", dir=str(certificates),
                                                           hostname="pi", address=[], new_ca=False))
    config_file.write_text(
        f'[gateway]\nid = "bp"\nname = "Công an xã Bản Phố"\nphone_number = "{OWN_NUMBER}"\n'
        f'[storage]\npath = "{tmp_path / "data" / "tinbao.db"}"\n'
        f'[modem]\nport = "{link}"\n'
        '[web]\nhost = "0.0.0.0"\nsecret_key = "0123456789abcdef0123456789abcdef"\n'
        f'tls_cert = "{certificates / "server.crt"}"\ntls_key = "{certificates / "server.key"}"\n'
        f'[router]\nmenus_path = "{filled_menus(tmp_path / "menus")}"\n', encoding="utf-8")
    config_file.chmod(0o640)
    config = load_config(config_file, env={**FAST, "TINBAO_MODEM_COMMAND_TIMEOUT": "1",
                                           "TINBAO_SIM_LOOP_TEST_MINUTES": "0.05"})
    gateway = Gateway(config)
    gateway.start()
    try:
        assert wait_until(lambda: sim_published(config), 20)
        with open_db(config.storage_path) as db:
            users.create_user(db, "an", "mật khẩu đủ dài 2026", "admin", by="test")
        backup.backup_command(config, SimpleNamespace(file=str(config.backup_path)))
        code, out = sim_doctor(config_file)
        assert code == 0, out

        # Barred: a villager's reply meets +CMS ERROR: 10.
        client.set_line(barred=10)
        client.deliver("0912345678", "MENU")
        assert wait_until(lambda: sim_now(config)["state"] == "barred", 20)
        code, out = sim_doctor(config_file)
        assert code == 1 and line(out, "SIM line").startswith("✗") and "re-verifies" in line(out, "SIM line")
        client.set_line(barred=0)
        assert wait_until(lambda: sim_now(config)["state"] == "ok", 20)

        # The credit falls under sim.balance_alert.
        client.set_line(balance_vnd=5_000)
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["balance_vnd"] == 5_000, 20)
        code, out = sim_doctor(config_file)
        assert code == 1 and line(out, "SIM credit").startswith("✗") and "top up" in line(out, "SIM credit")
        assert line(out, "SIM validity").startswith("✓")

        # The validity date is three days away.
        soon = (date.today() + timedelta(days=3)).isoformat()
        client.set_line(balance_vnd=50_000, valid_until=soon)
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["valid_until"] == soon, 20)
        code, out = sim_doctor(config_file)
        assert code == 1 and line(out, "SIM validity").startswith("✗") and soon in line(out, "SIM validity")
        assert line(out, "SIM credit").startswith("✓")
        client.set_line(valid_until=(date.today() + timedelta(days=90)).isoformat())
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["valid_days_left"] and sim_now(config)["valid_days_left"] > 80, 20)

        # The loop SMS stops coming back.
        client.set_line(loop=False)
        assert gateway.sim.request_loop_test()
        assert wait_until(lambda: sim_now(config)["loop_test"]["ok"] is False, 20)
        code, out = sim_doctor(config_file)
        assert code == 1 and line(out, "loop test").startswith("✗") and "did not come back" in line(out, "loop test")
        client.set_line(loop=True)
        assert gateway.sim.request_loop_test()
        assert wait_until(lambda: sim_now(config)["loop_test"]["ok"] is True, 20)

        # A new SIM in the modem.
        client.swap(sim=True)
        client.replug()
        assert wait_until(lambda: sim_now(config)["identity_changed"], 20)
        code, out = sim_doctor(config_file)
        assert code == 1 and line(out, "SIM identity").startswith("✗") and "VNeID" in line(out, "SIM identity")
        for name in ("SIM line", "SIM credit", "SIM validity", "loop test"):
            assert line(out, name).startswith("✓"), line(out, name)
    finally:
        gateway.stop()


def test_the_retention_purge_line_fails_on_data_kept_long_past_its_time(tmp_path):
    """Law 91/2025: data only as long as its purpose needs. A purge that stopped running shows."""
    from gateway.accounts import audit
    from gateway.privacy import retention
    from gateway.privacy.retention import months_before

    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    # A fixed day: 24 months back from 1-2 March lands where February's length moves the cutoff.
    now = datetime(2026, 12, 6, 13, 0, tzinfo=UTC)
    cutoff = months_before(now, config.privacy.audit_months)  # audit rows older than this may go
    with open_db(config.storage_path) as db:
        assert doctor.check_purge(config, db, now) == doctor.Check(
            "retention purge", True, "no purge yet; nothing kept past its time")
        audit.record(db, "cli", "test.aged", now=cutoff - timedelta(days=1))  # tonight's purge takes it
        assert doctor.check_purge(config, db, now).ok
        audit.record(db, "cli", "test.forgotten", now=cutoff - timedelta(days=3))  # three nights without a purge
        said = doctor.check_purge(config, db, now)
        assert not said.ok and "1 record(s) kept over 2 days past their time" in said.found, said
        assert "python app.py purge --dry-run" in said.fix
        retention.purge(db, config, now)
        said = doctor.check_purge(config, db, now)
        assert said.ok and said.found.startswith("last purge "), said
