"""What the modem worker published for the page: table ``state``, key ``modem``, one JSON object.

The worker (``gateway.modem.worker``) writes it; the dashboard and ``/healthz`` read it here,
checked field by field, so a row written by an older or newer worker never breaks the page.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from gateway import state

STATE_KEY = "modem"
MODEM_STATES = ("connected", "connecting", "error", "unplugged", "stopped")


def read(db: Database, key: str = STATE_KEY) -> dict[str, Any]:
    """The modem worker's last report, checked field by field.

    A missing row means the worker has not started yet (``state`` = ``not_started``); a row
    that is not the expected JSON is reported as ``unknown`` rather than breaking the page.
    A database error is raised: the page shows it, it does not guess.
    """
    result: dict[str, Any] = {
        "state": "not_started",
        "signal": None,
        "operator": None,
        "registered": False,
        "error": None,
        "last_contact": None,
        "sim_used": None,
        "sim_total": None,
        "port": None,
    }
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
    return result
