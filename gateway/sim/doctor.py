"""Doctor's lines for the SIM: the line, credit, validity, identity and the last loop test.

Read from what the running gateway keeps (``gateway.sim.status``), never from the modem's
port, like the modem's own lines. Each failing line says the fix in one clause. When the
line, the credit, the validity, the identity or the loop test fails is the dashboard's rule
(``gateway.alerts.sim_line``), so the page and the doctor agree; doctor adds only what an
installer needs before any alert can stand (no reading yet, no loop test yet, no own number).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import alerts
from gateway.doctor_line import Check
from gateway.sim import line, loop, status

SIM_CHECKS = ("SIM line", "SIM credit", "SIM validity", "SIM identity", "loop test")
LOOP_STALE = timedelta(hours=48)


def checks(config, db: Database, running: bool, now: datetime) -> list[Check]:
    """One line per SIM check (``SIM_CHECKS``), in that order."""
    if not running:
        return [Check(name, False, "unknown: the gateway is not running",
                      "sudo systemctl start tinbao, then run doctor again") for name in SIM_CHECKS]
    sim = status.read(db, config, now)
    standing = {alert.key for alert in alerts.sim_line(db, config, now)}
    return [_line(sim, standing), _credit(sim, config, standing), _validity(sim, config, standing),
            _identity(sim, standing), _loop(sim, config, now, standing)]


def _line(sim: dict, standing: set[str]) -> Check:
    if "sim_line" in standing:
        why = sim["detail"] or (f"CMS ERROR {sim['code']}" if sim["code"] is not None else "credit reading")
        return Check("SIM line", False, f"{sim['state'].replace('_', ' ')} ({why})", line.FIXES_EN[sim["state"]])
    if sim["state"] == "ok":
        return Check("SIM line", True, "sends")
    return Check("SIM line", True, "no SMS sent since the gateway started")


def _credit(sim: dict, config, standing: set[str]) -> Check:
    amount = sim["balance_vnd"]
    if sim["ussd"] == "unsupported" and amount is None:
        return Check("SIM credit", False, "the modem has no USSD: the credit cannot be read",
                     "check the credit from another phone (*101#), or use a modem with USSD")
    if amount is None:
        return Check("SIM credit", False, "no reading yet",
                     "wait a minute after start or press Đọc số dư on the dashboard; check sim.balance_ussd")
    read = _local(sim["read_at"], config)
    if "sim_credit" in standing:
        return Check("SIM credit", False, f"{amount:,} VND (read {read}), below sim.balance_alert "
                     f"{config.sim.balance_alert:,}", "top up the SIM")
    return Check("SIM credit", True, f"{amount:,} VND (read {read})")


def _local(iso: str | None, config) -> str:
    """A stored time as the post reads it (``gateway.timezone``): ``07/12/2026 09:30``."""
    try:
        return f"{datetime.fromisoformat(iso).astimezone(config.timezone):%d/%m/%Y %H:%M}" if iso else "?"
    except ValueError:
        return str(iso)


def _validity(sim: dict, config, standing: set[str]) -> Check:
    days = sim["valid_days_left"]
    if days is None:
        return Check("SIM validity", False, "unknown (no reading with a date)",
                     "press Đọc số dư on the dashboard; check sim.balance_ussd")
    if days < 0:
        return Check("SIM validity", False, f"expired on {sim['valid_until']}",
                     "top up the SIM now: the line is locked one way, then both, then the number is taken back")
    if "sim_validity" in standing:
        return Check("SIM validity", False, f"until {sim['valid_until']} ({days} days)",
                     "top up the SIM before that date")
    return Check("SIM validity", True, f"until {sim['valid_until']} ({days} days)")


def _identity(sim: dict, standing: set[str]) -> Check:
    hashes = sim["identity"]
    if "sim_identity" in standing:
        return Check("SIM identity", False, f"a new SIM or modem since the last connect (SIM {hashes['sim']},"
                     f" modem {hashes['modem']})", "the SIM's owner re-verifies (VNeID, the operator's app or a"
                     " shop) within about 2 hours, then an officer presses Đã xác thực lại on /sim")
    if not hashes["sim"] and not hashes["modem"]:
        return Check("SIM identity", False, "not read yet", "see modem answers")
    return Check("SIM identity", True, f"SIM {hashes['sim']}, modem {hashes['modem']}")


def _loop(sim: dict, config, now: datetime, standing: set[str]) -> Check:
    if loop.own_number(config.gateway.phone_number) is None:
        return Check("loop test", False, "gateway.phone_number is not set (a mobile number)",
                     "set gateway.phone_number to the SIM's own number")
    test = sim["loop_test"]
    if test["ok"] is None:
        return Check("loop test", False, "none yet", "wait a minute after start, or press Kiểm tra vòng ngay on /sim")
    at = datetime.fromisoformat(test["at"]) if test["at"] else None
    when = f"{at.astimezone(config.timezone):%d/%m/%Y %H:%M}" if at else "?"  # the post's own time
    if "sim_loop" in standing:
        return Check("loop test", False, f"failed at {when}: {test['error']}",
                     "check the SIM (credit, validity, barred) and the operator's notices on /sim")
    if at is not None and now - at > LOOP_STALE:
        return Check("loop test", False, f"last passed {when}", "journalctl -u tinbao | grep loop")
    return Check("loop test", True, f"came back in {test['round_trip_s']} s ({when})")
