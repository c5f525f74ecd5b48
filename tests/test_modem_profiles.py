"""Modem profiles: the serial line's flow control comes from data, and reaches pyserial."""

from __future__ import annotations

import pytest
from conftest import make_config, wait_until

from gateway.errors import ConfigError
from gateway.modem.profiles import load_profile
from gateway.modem.worker import settings_from_config
from gateway.service import Gateway


def test_shipped_profiles_load():
    assert load_profile("generic").rtscts is True
    uart = load_profile("sim800-uart")
    assert (uart.rtscts, uart.dsrdtr) == (False, False)


def test_an_unknown_profile_is_one_line_naming_the_key(tmp_path):
    config = make_config(tmp_path, TINBAO_MODEM_PROFILE="sim900-on-a-string")
    with pytest.raises(ConfigError) as caught:
        settings_from_config(config)
    assert "modem.profile" in str(caught.value) and "sim800-uart" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("profile", "flow"), [("generic", True), ("sim800-uart", False)])
def test_the_profile_sets_flow_control_on_the_real_port(tmp_path, emulator, phone, profile, flow):
    gateway = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), TINBAO_MODEM_PROFILE=profile))
    gateway.start()
    try:
        assert wait_until(lambda: gateway.modem.state.state == "connected", 10)
        port = gateway.modem.transport._modem.serial
        assert (port.rtscts, port.dsrdtr) == (flow, flow)
        assert phone.send("0912345678", "MENU") is not None
    finally:
        gateway.stop()


def test_app_refuses_an_unknown_profile_with_one_line(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "TINBAO_MODEM_PROFILE": "nokia", "TINBAO_STORAGE_PATH": str(tmp_path / "t.db")},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinbao: config key modem.profile: 'nokia' is not one of")


# --- the LTE modems of 2026 (issue 8) ---------------------------------------------------------

@pytest.mark.parametrize(("name", "time_command", "serving_cell"), [
    ("sim7600-usb", "AT+CLTS=1", "AT+CPSI?"), ("a7670-usb", "AT+CTZU=1", "AT+CPSI?"),
    ("ec25-usb", "AT+CTZU=1", "AT+QCSQ"), ("huawei-usb", "", "AT^HCSQ?"), ("generic", "", ""),
])
def test_lte_profiles_carry_their_commands(name, time_command, serving_cell):
    profile = load_profile(name)
    assert profile.generation == "lte" and profile.warn_if_2g() is None
    assert profile.network_time == time_command and profile.serving_cell == serving_cell
    assert {"SM", "ME"} <= set(profile.drain_stores) and "MT" not in profile.drain_stores  # MT = SM + ME


def test_simcom_drains_sr_and_huawei_turns_its_reports_off():
    assert load_profile("sim7600-usb").drain_stores == ("SM", "ME", "SR")
    assert "AT^CURC=0" in load_profile("huawei-usb").start_commands


def test_sim800_is_a_2g_profile_with_a_warning():
    profile = load_profile("sim800-uart")
    assert profile.generation == "2g" and "Vietnam" in profile.warn_if_2g()


def test_a_bad_profile_table_is_one_line(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[odd]\nstores = ["SM", "XX"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_profile("odd", path)
    assert "stores" in str(caught.value) and "\n" not in str(caught.value)


def test_the_udev_rule_names_each_listed_modem_and_the_pi5_uart():
    from conftest import ROOT

    rules = (ROOT / "firmware_config" / "udev" / "99-tinbao-modem.rules").read_text()
    for usb_id in ('"1e0e", ATTR{idProduct}=="9001"', '"1e0e", ATTR{idProduct}=="9011"',
                   '"2c7c", ATTR{idProduct}=="0125"', '"12d1", ATTR{idProduct}=="1506"'):
        assert f'ENV{{DEVTYPE}}=="usb_device", ATTR{{idVendor}}=={usb_id}, ENV{{ID_MM_DEVICE_IGNORE}}="1"' in rules
    assert "ttyAMA10" in rules
