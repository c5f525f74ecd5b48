"""What the modem workers publish in table ``state``: the owner of those keys and their readers.

``STATE_KEY``/``state_key(index)``: each worker's report (``modem`` for the first modem,
``modem1``... for the others), one JSON object. ``TIME_KEY``: the network's time beside the
system clock's reading when a modem read it (the trusted clock's evidence,
``network_time``). The workers (``gateway.modem.worker``) write them; the dashboard,
``/healthz``, doctor and the trusted clock read them here, checked field by field, so a row
written by an older or newer worker never breaks a reader.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.modem.profiles import GENERATIONS

STATE_KEY = "modem"  # the first modem's report; ``state_key(index)`` for each of them
TIME_KEY = "modem_time"  # {"network_time", "system_time", "port"}: the last network time a modem read
MODEM_STATES = ("connected", "connecting", "error", "unplugged", "stopped")
TECHNOLOGIES = ("2G", "3G", "4G")


def state_key(index: int) -> str:
    """The ``state`` row of modem ``index`` (0: ``modem.port``, then ``modem.extra_ports``)."""
    return STATE_KEY if index == 0 else f"{STATE_KEY}{index}"


def network_time(db: Database) -> tuple[datetime, datetime] | None:
    """The network's time a modem last read and the system clock's reading then, or None.

    The trusted clock's evidence (``gateway.clock.TrustedClock``, wired in ``gateway.service``);
    a row that is not what a worker writes is no evidence.
    """
    value = state.get_json(db, TIME_KEY)
    if not isinstance(value, dict):
        return None
    try:
        return datetime.fromisoformat(value["network_time"]), datetime.fromisoformat(value["system_time"])
    except (ValueError, KeyError, TypeError):
        return None


def read_nothing(state_name: str) -> dict[str, Any]:
    """The report when there is none to read: every field unknown, ``state`` as given."""
    return {
        "state": state_name,
        "signal": None,
        "operator": None,
        "registered": False,
        "error": None,
        "last_contact": None,
        "sim_used": None,
        "sim_total": None,
        "port": None,
        "technology": None,
        "rsrp": None,
        "rsrq": None,
        "smsc": None,
        "profile": None,
        "generation": None,
    }


def read(db: Database, key: str = STATE_KEY) -> dict[str, Any]:
    """The modem worker's last report, checked field by field.

    A missing row means the worker has not started yet (``state`` = ``not_started``); a row
    that is not the expected JSON is reported as ``unknown`` rather than breaking the page.
    A database error is raised: the page shows it, it does not guess.
    """
    result = read_nothing("not_started")
    text = state.get(db, key)
    if text is None:
        return result
    try:
        raw = json.loads(text)
    except (TypeError, ValueError):
        raw = None
    if not isinstance(raw, dict):
        result["state"] = "unknown"
        return result

    def pick(name: str, kinds: tuple[type, ...]) -> Any:
        value = raw.get(name)
        if isinstance(value, bool) and bool not in kinds:
            return None
        return value if isinstance(value, kinds) else None

    result["state"] = raw.get("state") if raw.get("state") in MODEM_STATES else "unknown"
    result["signal"] = pick("signal", (int,))
    result["operator"] = pick("operator", (str,))
    result["registered"] = raw.get("registered") is True
    result["error"] = pick("error", (str,))
    result["last_contact"] = pick("last_contact", (str,))
    result["sim_used"] = pick("sim_used", (int,))
    result["sim_total"] = pick("sim_total", (int,))
    result["port"] = pick("port", (str,))
    result["technology"] = raw.get("technology") if raw.get("technology") in TECHNOLOGIES else None
    result["rsrp"] = pick("rsrp", (int,))
    result["rsrq"] = pick("rsrq", (int, float))
    result["smsc"] = pick("smsc", (str,))
    result["profile"] = pick("profile", (str,))
    result["generation"] = raw.get("generation") if raw.get("generation") in GENERATIONS else None
    return result
