"""The modem misbehaving: unplugged, a bad byte, a locked SIM, no network, a flood."""

from __future__ import annotations

import json
import os

import pytest
from conftest import make_config, rows, wait_until

from gateway.service import Gateway, emulator_link


def modem_state(config) -> dict:
    found = rows(config.storage_path, "SELECT value FROM state WHERE key='modem'")
    return json.loads(found[0][0]) if found else {}


def test_serial_port_disappears_and_comes_back(gateway, phone, emulator, config):
    assert phone.send("0912345678", "MENU") is not None
    # unplugging between the modem's +CMGS and our commit would rightly send it again (rule 2)
    assert wait_until(lambda: rows(config.storage_path, "SELECT COUNT(*) FROM outbox WHERE status='queued'")[0][0] == 0)
    emulator.unplug()
    assert wait_until(lambda: modem_state(config).get("state") in ("error", "connecting"), 10)
    emulator.deliver("0912345678", "CCCD")  # the SMSC holds it until the modem is back
    emulator.replug()
    assert emulator.wait_for_sent(2, 20)
    assert "can cuoc" in emulator.sent_messages()[1].text.lower()
    assert modem_state(config)["reconnects"] >= 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_bad_byte_that_kills_the_library_reader_is_survived(gateway, phone, emulator, config):
    emulator.set_fault("garbage_byte", True)
    assert wait_until(lambda: modem_state(config).get("reconnects", 0) >= 1, 10)
    assert phone.send("0912345678", "MENU", timeout=20) is not None


def test_sim_pin_missing_then_given(tmp_path, emulator):
    emulator.set_fault("pin", "4321")
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem")))
    gw.start()
    try:
        assert wait_until(lambda: "PIN" in (modem_state(gw.config).get("error") or ""), 10)
        assert modem_state(gw.config)["state"] in ("error", "connecting")
    finally:
        gw.stop()
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), TINBAO_MODEM_PIN="4321"))
    gw.start()
    try:
        assert wait_until(lambda: modem_state(gw.config).get("state") == "connected", 10)
    finally:
        gw.stop()


def test_missing_port_is_one_clear_line_and_retried(tmp_path):
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "no-such-tty")))
    gw.start()
    try:
        assert wait_until(lambda: modem_state(gw.config).get("error") is not None, 10)
        error = modem_state(gw.config)["error"]
        assert "does not exist" in error and "\n" not in error
    finally:
        gw.stop()


def test_the_built_in_emulator_is_found_again_when_another_program_took_its_old_pty(tmp_path):
    """On a busy machine the kernel gives an unplugged pty's number to the next program that
    opens one; the worker must find its modem at its fixed link, never knock on that terminal."""
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT="emulator"))
    gw.start()
    taken: list[int] = []
    try:
        emulator = gw.emulator
        assert gw.modem.settings.port == emulator_link(gw.emulator_folder, 0) == emulator.path
        assert wait_until(lambda: modem_state(gw.config).get("state") == "connected", 15)
        old = emulator.device
        emulator.unplug()
        assert wait_until(lambda: modem_state(gw.config).get("state") != "connected", 10)
        for _ in range(64):  # another program opens ptys until it holds the old number
            master, slave = os.openpty()
            taken += [master, slave]
            if os.ttyname(slave) == old:
                break
        else:  # another program on this machine took it first: the same case
            assert os.path.exists(old), f"{old} is free, yet 64 new ptys did not get it"
        emulator.replug()
        assert emulator.device != old
        assert wait_until(lambda: modem_state(gw.config).get("state") == "connected", 15), modem_state(gw.config)
        assert modem_state(gw.config)["reconnects"] >= 1
        emulator.deliver("0912345678", "MENU")
        assert emulator.wait_for_sent(1, 20)  # the menu's answer: the worker talks to its modem
    finally:
        for fd in taken:
            os.close(fd)
        gw.stop()
    assert not os.path.lexists(gw.emulator_folder)  # the link and its folder gone with the gateway


def test_no_network_holds_replies_until_registered(gateway, phone, emulator, config):
    emulator.set_fault("no_network", True)
    assert wait_until(lambda: modem_state(config).get("registered") is False, 10)
    emulator.preload("0912345678", "MENU")  # it reached the SIM just before the signal went
    assert wait_until(lambda: rows(config.storage_path, "SELECT status FROM outbox") == [("queued",)])
    assert not emulator.wait_for_sent(1, 1.5)
    emulator.set_fault("no_network", False)
    assert emulator.wait_for_sent(1, 10)


def test_flood_of_500_from_one_number(gateway, emulator, config):
    emulator.deliver_many([("0912345678", "MENU")] * 500)
    assert wait_until(lambda: rows(config.storage_path,
                                   "SELECT COUNT(*) FROM inbox WHERE status='done'")[0][0] == 500, 60)
    assert wait_until(lambda: emulator.stored_count() == 0 and emulator.network_backlog() == 0)
    cap = config.router.auto_replies_per_hour
    assert rows(config.storage_path, "SELECT COUNT(*) FROM outbox")[0][0] == cap  # all 500 handled: no more coming
    assert wait_until(lambda: len(emulator.sent_messages()) == cap, 20)
    limited = rows(config.storage_path, "SELECT COUNT(*) FROM inbox WHERE handler LIKE '%(no reply: limit)'")[0][0]
    assert limited == 500 - cap
    # a different villager is still answered during the flood
    emulator.deliver("0987654321", "MENU")
    assert emulator.wait_for_sent(cap + 1, 10)


def test_cmti_swallowed_inside_a_reply_is_caught_by_the_drain(gateway, emulator, config):
    emulator.set_fault("cmti_mid_reply", True)
    for i in range(10):
        emulator.deliver(f"09120000{i:02d}", "MENU")
    assert emulator.wait_for_sent(10, 20)
    assert rows(config.storage_path, "SELECT COUNT(*) FROM inbox")[0][0] == 10
