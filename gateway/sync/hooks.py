"""Putting tips into the sync queue: a router tip hook, and a sweep for tips without rows.

The hook runs inside the router's transaction, so a tip and its sync rows are committed
together (a crash cannot leave a tip that will never be mirrored). The sweep catches the
rest: tips stored before a destination was switched on, or by a router without the hook.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import tips
from gateway.config import Config
from gateway.storage import utcnow_iso
from gateway.sync import queue
from gateway.tips import Tip


def destinations(config: Config) -> tuple[str, ...]:
    """Where tips go: Zalo when switched on with officers; the district when it has a token."""
    chosen = []
    if config.zalo.enabled and any(config.zalo.officer_ids):
        chosen.append("zalo")
    if config.hub.token:
        chosen.append("district")
    return tuple(chosen)


def enqueue_tip(db: Database, tip: Tip, now: datetime, destinations: tuple[str, ...]) -> None:
    """Queue ``tip`` for each destination (inside the caller's transaction)."""
    received_at = tip.received_at
    if received_at is None:
        row = tips.get(db, tip.id)
        received_at = row["received_at"] if row else utcnow_iso(now)
    queue.enqueue(db, tip.id, received_at, destinations, now)


class SyncTipHook:
    """A ``router.TipHook``: ``Router(..., tip_hooks=[SyncTipHook(config)])``."""

    def __init__(self, config: Config) -> None:
        self.destinations = destinations(config)

    def __call__(self, db: Database, tip: Tip, tipster: str, text: str, now: datetime) -> None:
        # A message filed without the tip keyword stays in the commune until an officer
        # confirms it is a tip (``gateway.web.tip_actions.confirm`` queues it then).
        if self.destinations and not tip.to_confirm:
            enqueue_tip(db, tip, now, self.destinations)


def sweep(db: Database, config: Config, now: datetime) -> dict[str, int]:
    """Queue tips that have no row yet for an enabled destination; returns how many per one.

    The district gets every tip (its database should be complete); Zalo only those of the
    last ``zalo.backfill_days`` days, so switching the mirror on does not flood the officers'
    phones with last year's tips.
    """
    added = {}
    for destination in destinations(config):
        since = None
        if destination == "zalo" and config.zalo.backfill_days:
            since = now - timedelta(days=config.zalo.backfill_days)
        added[destination] = queue.sweep(db, destination, now, since)
    return added
