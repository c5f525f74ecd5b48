"""The SIM in one object: ``/healthz``'s ``sim``, what the hub's heartbeat carries, what doctor reads.

The shape is a contract (DESIGN.md, Health): every key is always there, ``None`` when not
known, so a monitor or the provincial hub can read it without guessing::

    {"state": "ok"|"barred"|"no_credit"|"refused"|"unknown", "reason": "<words>",
     "balance_vnd": int|None, "valid_until": "YYYY-MM-DD"|None, "read_at": iso|None,
     "identity_changed": bool, "loop_test": {"ok": bool|None, "at": iso|None, "round_trip_s": float|None},
     ...}

plus ``fix`` (what to do, in words), ``code`` (the +CMS ERROR that set the state),
``balance_low``, ``valid_days_left``, ``ussd`` (``ok``/``unsupported``/``failed``/None),
``identity`` (``sim``/``modem``: eight hex digits of a hash, never the ICCID, IMSI or IMEI) and
``notices`` (operator notices waiting to be read) and ``calls_to_return``. Nothing personal.

``state`` is the line's when it is at fault; otherwise ``no_credit`` when the last reading says
the credit is under the price of one SMS, else the line's (``ok`` or ``unknown``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.sim import balance, calls, identity, line, loop, notices

EMPTY_CREDIT_VND = 500  # under this, no SMS goes out: the credit is gone whatever the line says
NO_CREDIT_REASON = line.N_("SIM hết tiền (theo lần đọc số dư gần nhất)")


def read(db: Database, config, now: datetime, modem: str = "modem0") -> dict[str, Any]:
    """The ``sim`` object (see the module docstring)."""
    line_state = line.read(state.get_json(db, "sim_line" + modem[len("modem0"):]))
    reading = balance.latest_read(db)
    last_try = balance.latest(db, modem)
    who = identity.current(db, modem)
    test = loop.latest(db)
    amount = reading["balance_vnd"] if reading else None
    valid = reading["valid_until"] if reading else None
    days = balance.days_left(valid, now.astimezone(config.timezone).date())
    result_state, reason, fix = line_state["state"], line_state["reason"], line.fix(line_state)
    if result_state not in line.FAULTS and amount is not None and amount < EMPTY_CREDIT_VND:
        result_state, reason, fix = "no_credit", NO_CREDIT_REASON, line.FIXES["no_credit"] % {"code": "-"}
    return {
        "state": result_state,
        "reason": reason,
        "fix": fix,
        "code": line_state["code"],
        "detail": line_state["detail"],
        "since": line_state["since"],
        "balance_vnd": amount,
        "valid_until": valid,
        "read_at": reading["read_at"] if reading else None,
        "balance_low": amount is not None and amount < config.sim.balance_alert,
        "valid_days_left": days,
        "ussd": _ussd(last_try),
        "identity_changed": bool(who and who["alert"]),
        "identity": {"sim": identity.short_hash((who or {}).get("iccid") or (who or {}).get("imsi")),
                     "modem": identity.short_hash((who or {}).get("imei"))},
        "loop_test": {"ok": None if test is None else test["status"] == "ok",
                      "at": None if test is None else (test["returned_at"] or test["sent_at"] or test["created_at"]),
                      "round_trip_s": None if test is None else test["round_trip_s"],
                      "error": None if test is None else test["error"]},
        "notices": len(notices.alerting(db)),
        "calls_to_return": len(calls.callbacks(db)),
    }


def _ussd(last: dict[str, Any] | None) -> str | None:
    if last is None:
        return None
    return {"ok": "ok", "unreadable": "ok", "unsupported": "unsupported"}.get(last["status"], "failed")


def empty() -> dict[str, Any]:
    """The object when the database cannot be read: every key, nothing known."""
    return {"state": "unknown", "reason": None, "fix": "", "code": None, "detail": None, "since": None,
            "balance_vnd": None, "valid_until": None, "read_at": None, "balance_low": False, "valid_days_left": None,
            "ussd": None,
            "identity_changed": False, "identity": {"sim": None, "modem": None},
            "loop_test": {"ok": None, "at": None, "round_trip_s": None, "error": None},
            "notices": None, "calls_to_return": None}


def faulty(sim: dict[str, Any]) -> bool:
    """The line cannot carry SMS now: /healthz says degraded."""
    return sim["state"] in line.FAULTS
