"""The nightly retention purge (``PurgeWorker``) and ``python app.py purge [--dry-run]``.

The worker looks once in a while and purges once a local day, at ``privacy.purge_hour`` or
later (a Pi that was off then purges when it runs again). Only under a trusted clock: a Pi
that booted at a wrong time (no real-time clock, DESIGN.md rule 7) could otherwise take
"three years from now" for today and remove what must stay. The untrusted clock waits, the
purge comes once the network has said the time.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import clock as clock_rule
from gateway import state
from gateway.background import Worker
from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import TinBaoError
from gateway.privacy import retention
from gateway.storage import ThreadLocalDb, open_db

log = logging.getLogger(__name__)


def clock_trusted(db: Database, now: datetime) -> bool:
    """The one rule (``gateway.clock.trusted``) on the verdict the gateway's clock published."""
    return clock_rule.trusted(state.get_json(db, clock_rule.STATE_KEY), now)


def due(config: Config, db: Database, now: datetime) -> bool:
    """Due when no purge ran today (local) and ``privacy.purge_hour`` has passed."""
    tz = config.timezone
    local = now.astimezone(tz)
    last = retention.last(db)
    if last is not None:
        try:
            if datetime.fromisoformat(last["at"]).astimezone(tz).date() >= local.date():
                return False
        except ValueError:
            pass
    return local.hour >= config.privacy.purge_hour


class PurgeWorker(Worker):
    """The ``purge`` thread: the retention purge once a night, under the trusted clock."""

    START_DELAY = 300.0  # a gateway restarting in a loop does not purge at every start
    LOOK_EVERY = 600.0

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock, *, start_delay: float | None = None) -> None:
        super().__init__("purge", now=clock.now)
        self.config = config
        self.dbs = dbs
        self.clock = clock
        self._first = True
        self.start_delay = self.START_DELAY if start_delay is None else start_delay
        self.last_result: dict[str, Any] | None = None

    def tick(self) -> float:
        if self._first:
            self._first = False
            if self.start_delay:
                return self.start_delay
        db = self.dbs.get()
        now = self.clock.now()
        if not due(self.config, db, now):
            return self.LOOK_EVERY
        if not clock_trusted(db, now):
            log.info("retention purge waits: the clock is not trusted yet")
            return self.LOOK_EVERY
        self.last_result = retention.purge(db, self.config, now, by="system", stopping=lambda: self.stopping)
        return self.LOOK_EVERY


# -- python app.py purge [--dry-run] ------------------------------------------------------------

def describe(counts: dict[str, int], kept: dict[str, int]) -> list[str]:
    """One line per kind of ``retention.KINDS`` (and of what was kept), count first."""
    width = max(len(str(n)) for n in [*counts.values(), *kept.values(), 0])
    name = max(len(kind) for kind in [*retention.KINDS, *retention.KEPT])
    lines = [f"{counts.get(kind, 0):>{width}}  {kind:<{name}}  {words}" for kind, words in retention.KINDS.items()]
    lines += [f"{kept.get(kind, 0):>{width}}  {kind:<{name}}  kept: {words}" for kind, words in retention.KEPT.items()]
    return lines


def purge_command(config: Config, args: Any) -> int:
    """``python app.py purge --dry-run`` prints what the retention rules would remove, per kind;
    without ``--dry-run`` the purge runs now (audited, as the nightly one)."""
    path = config.storage_path
    if not path.is_file():
        raise TinBaoError(f"no database at {path} (storage.path)")
    from gateway.database import prepare_gateway

    prepare_gateway(path)
    db = open_db(path)
    try:
        now = clock_rule.published_now(db)
        if not clock_trusted(db, now):
            raise TinBaoError("the gateway's clock is not trusted (no network time yet): nothing is purged;"
                              " see python app.py doctor")
        try:
            if args.dry_run:
                todo = retention.plan(db, config, now)
                print(f"retention purge, dry run at {now.astimezone(config.timezone):%Y-%m-%d %H:%M} "
                      f"({config.gateway.timezone}): nothing is removed")
                print("\n".join(describe(todo.counts(), todo.kept)))
                return 0
            result = retention.purge(db, config, now, by="cli")
        except sqlite3.Error as exc:
            raise TinBaoError(f"the purge could not read or write {path}: {exc}") from None
        print(f"retention purge at {now.astimezone(config.timezone):%Y-%m-%d %H:%M} ({config.gateway.timezone}):")
        print("\n".join(describe(result["counts"], result["kept"])))
        if not result["wal_truncated"]:
            print("note: the write-ahead log could not be emptied now (a reader held it); the next purge tries again")
        return 0
    finally:
        db.close()
