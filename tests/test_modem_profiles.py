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
