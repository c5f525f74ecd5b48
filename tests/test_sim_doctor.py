"""Doctor exits non-zero for each fault of the SIM, with the line that names it and its fix.

A set-up post (the emulator in its own process, the gateway running, doctor a separate
process beside it) is ready; then, one at a time, the SIM is barred, its credit falls, its
validity nears, it is swapped, its loop SMS stops coming back: doctor fails on that line, and
is ready again once the fault is gone.
"""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

from conftest import FAST, wait_until
from test_doctor import OWN_NUMBER, filled_menus, line, post_emulator, run_doctor, sim_published  # noqa: F401

from gateway import backup
from gateway.accounts import users as accounts
from gateway.config import load_config
from gateway.service import Gateway
from gateway.sim import status as sim_status
from gateway.storage import open_db


def doctor(config_file) -> tuple[int, str]:
    result = run_doctor("--config", str(config_file), "doctor", env={**FAST, "TINBAO_MODEM_COMMAND_TIMEOUT": "1",
                                                                       "TINBAO_SIM_LOOP_TEST_MINUTES": "0.05"})
    return result.returncode, result.stdout


def sim_now(config) -> dict:
    from datetime import UTC, datetime

    with open_db(config.storage_path) as db:
        return sim_status.read(db, config, datetime.now(UTC))


def test_doctor_fails_for_each_fault_of_the_sim(tmp_path, post_emulator):  # noqa: F811
    link, client = post_emulator
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(
        f'[gateway]\nphone_number = "{OWN_NUMBER}"\n'
        f'[storage]\npath = "{tmp_path / "data" / "tinbao.db"}"\n'
        f'[modem]\nport = "{link}"\n'
        '[web]\nhost = "0.0.0.0"\nsecret_key = "0123456789abcdef0123456789abcdef"\n'
        f'[router]\nmenus_path = "{filled_menus(tmp_path / "menus")}"\n', encoding="utf-8")
    config_file.chmod(0o640)
    config = load_config(config_file, env={**FAST, "TINBAO_MODEM_COMMAND_TIMEOUT": "1",
                                           "TINBAO_SIM_LOOP_TEST_MINUTES": "0.05"})
    gateway = Gateway(config)
    gateway.start()
    try:
        assert wait_until(lambda: sim_published(config), 20)
        with open_db(config.storage_path) as db:
            accounts.create_user(db, "an", "mật khẩu đủ dài 2026", "admin", by="test")
        backup.backup_command(config, SimpleNamespace(file=str(config.backup_path)))
        code, out = doctor(config_file)
        assert code == 0, out

        # Barred: a villager's reply meets +CMS ERROR: 10.
        client.set_line(barred=10)
        client.deliver("0912345678", "MENU")
        assert wait_until(lambda: sim_now(config)["state"] == "barred", 20)
        code, out = doctor(config_file)
        assert code == 1 and line(out, "SIM line").startswith("✗") and "re-verifies" in line(out, "SIM line")
        client.set_line(barred=0)
        assert wait_until(lambda: sim_now(config)["state"] == "ok", 20)

        # The credit falls under sim.balance_alert.
        client.set_line(balance_vnd=5_000)
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["balance_vnd"] == 5_000, 20)
        code, out = doctor(config_file)
        assert code == 1 and line(out, "SIM credit").startswith("✗") and "top up" in line(out, "SIM credit")
        assert line(out, "SIM validity").startswith("✓")

        # The validity date is three days away.
        soon = (date.today() + timedelta(days=3)).isoformat()
        client.set_line(balance_vnd=50_000, valid_until=soon)
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["valid_until"] == soon, 20)
        code, out = doctor(config_file)
        assert code == 1 and line(out, "SIM validity").startswith("✗") and soon in line(out, "SIM validity")
        assert line(out, "SIM credit").startswith("✓")
        client.set_line(valid_until=(date.today() + timedelta(days=90)).isoformat())
        gateway.sim.request_balance()
        assert wait_until(lambda: sim_now(config)["valid_days_left"] and sim_now(config)["valid_days_left"] > 80, 20)

        # The loop SMS stops coming back.
        client.set_line(loop=False)
        assert gateway.sim.request_loop_test()
        assert wait_until(lambda: sim_now(config)["loop_test"]["ok"] is False, 20)
        code, out = doctor(config_file)
        assert code == 1 and line(out, "loop test").startswith("✗") and "did not come back" in line(out, "loop test")
        client.set_line(loop=True)
        assert gateway.sim.request_loop_test()
        assert wait_until(lambda: sim_now(config)["loop_test"]["ok"] is True, 20)

        # A new SIM in the modem.
        client.swap(sim=True)
        client.replug()
        assert wait_until(lambda: sim_now(config)["identity_changed"], 20)
        code, out = doctor(config_file)
        assert code == 1 and line(out, "SIM identity").startswith("✗") and "VNeID" in line(out, "SIM identity")
        for name in ("SIM line", "SIM credit", "SIM validity", "loop test"):
            assert line(out, name).startswith("✓"), line(out, name)
    finally:
        gateway.stop()
