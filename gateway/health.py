"""The gateway's health as facts: the one state builder behind ``/healthz``, the heartbeat to
the hub (``gateway.sync.heartbeat``) and the gateway's own ``/metrics``.

Nothing personal goes in: no number, no SMS text (the inbox's last error is reduced to its
kind). Each figure is read through the area that owns it. A database that cannot be read
gives ``database: error`` and unknown (None) queues, never zeros. Flask-free, so the
heartbeat worker builds the same state outside any request.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway import backup, inbox, outbox, tips
from gateway import clock as clock_rule
from gateway.config import Config
from gateway.modem import status as modem_status
from gateway.sim import status as sim_status
from gateway.sync import queue as sync_queue

log = logging.getLogger(__name__)

#: When this process started (``uptime_seconds``): a gateway that restarts every hour shows it.
STARTED = time.monotonic()

QUEUE_KEYS = ("inbox_queued", "inbox_failed", "outbox_queued", "outbox_failed", "tips_new", "tips_to_confirm",
              "zalo_queued", "district_queued")


def queue_depths(db: Database) -> dict[str, int]:
    """How many rows wait in each queue the officers care about (``QUEUE_KEYS``)."""
    sync = sync_queue.depths(db)
    return {
        "inbox_queued": inbox.queued_count(db),
        "inbox_failed": inbox.failed_count(db),
        "outbox_queued": outbox.queued_count(db),
        "outbox_failed": outbox.failed_count(db),
        "tips_new": tips.count_new(db),
        "tips_to_confirm": tips.count_to_confirm(db),
        "zalo_queued": sync["zalo"],
        "district_queued": sync["district"],
    }


def free_bytes(path: Path) -> int | None:
    """Free space where the database lives (None when the folder cannot be asked)."""
    try:
        return shutil.disk_usage(path.parent if path.parent.exists() else Path.cwd()).free
    except OSError:
        return None


def state(db: Database | None, config: Config, now: datetime, *, version: str,
          write_problem: dict[str, str] | None, setup_complete: bool | None,
          modem_report: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """``/healthz``'s body and whether all is well (the modem connected, the database read and
    written). ``db`` None, or one that cannot be read, gives the unknowns. ``modem_report``
    instead of the one in the database: a command run without the gateway (the heartbeat of
    ``python app.py sync``) knows no modem runs, whatever the last report says."""
    database_ok = db is not None
    try:
        if db is None:
            raise sqlite3.OperationalError("no database")
        modem = modem_status.read(db) if modem_report is None else modem_report
        queues: dict[str, int | None] = dict(queue_depths(db))
        clock = clock_rule.published(db, now)
        failure = inbox.last_failure(db) if queues["inbox_failed"] else None
        fresh = backup.freshness(db, now)
        backup_state: dict[str, Any] = {
            "at": fresh.at.isoformat() if fresh.at else None,
            "age_seconds": round(fresh.age.total_seconds()) if fresh.age is not None else None,
            "stale": fresh.stale}
        sim = sim_status.read(db, config, now)
    except sqlite3.Error:
        if db is not None:
            log.exception("the health state could not read the database")
        database_ok = False
        modem = modem_status.read_nothing("unknown")
        queues = dict.fromkeys(QUEUE_KEYS)  # unknown, not zero
        clock = clock_rule.published(None, now)  # the same rule, without the verdict it could not read
        failure = None
        setup_complete = None
        backup_state = {"at": None, "age_seconds": None, "stale": None}
        sim = sim_status.empty()
    # A line the operator refuses (barred, no credit) stops replies as surely as an unplugged modem.
    healthy = (database_ok and modem["state"] == "connected" and write_problem is None
               and not sim_status.faulty(sim))
    body = {
        "status": "ok" if healthy else "degraded",
        "version": version,
        "gateway_id": config.gateway.id,
        "uptime_seconds": round(time.monotonic() - STARTED),
        "modem": {
            "state": modem["state"],
            "signal": modem["signal"],
            "registered": modem["registered"],
        },
        "queues": queues,
        # What the modem says of the network (nothing personal: the SMS centre is the operator's).
        "network": {key: modem[key] for key in ("technology", "operator", "rsrp", "rsrq", "smsc", "profile")},
        "database": "ok" if database_ok else "error",
        # Said in memory by the workers: the database cannot be written (disk full, read-only).
        "storage": {"writable": write_problem is None, "reason": write_problem["reason"] if write_problem else None,
                    "since": write_problem["since"] if write_problem else None,
                    "free_bytes": free_bytes(config.storage_path)},
        "clock_trusted": clock["trusted"],
        "clock": {key: clock[key] for key in ("trusted", "source", "offset_seconds", "corrected_at", "doubt_before")},
        # The kind of error only (its message may quote the SMS): the page shows the rest.
        "inbox_failed": {"count": queues["inbox_failed"],
                         "last_error": (failure["last_error"] or "").split(":")[0] if failure else None,
                         "last_at": failure["received_at"] if failure else None},
        # No placeholder left in the menus in use (None: unknown); not part of "ok" (a restart fixes nothing).
        "setup_complete": setup_complete,
        "backup": backup_state,
        # The SIM as a contract (gateway.sim.status): line state in words, credit, validity, identity
        # (hashes only), the loop test.
        "sim": sim,
        "time": now.isoformat(),
    }
    return body, healthy
