"""``gateway.health.state`` for the running page: its database, clock, version and the
workers' word that the database cannot be written. Read by ``/healthz`` (``status``) and the
gateway's ``/metrics`` (``metrics``); no blueprint, so neither imports the other.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from gateway import health
from gateway.web import menus_live
from gateway.web.services import current_config, current_services

log = logging.getLogger(__name__)


def current() -> tuple[dict[str, Any], bool]:
    """The health state now, and whether all is well."""
    config, services = current_config(), current_services()
    now = services.clock.now()
    try:
        db = services.db.get()
        complete = menus_live.setup_complete(db)
    except sqlite3.Error:
        log.exception("the health state could not read the database")
        db, complete = None, None
    return health.state(db, config, now, version=services.version, write_problem=services.write_health.problem(),
                        setup_complete=complete)
