"""The heartbeat: every ``sync.heartbeat_minutes`` the gateway tells the hub how it is.

``POST {hub.url}/api/v1/heartbeat`` with ``{"gateway_id", "at", "state": {...}}`` (DESIGN.md,
Fleet). ``state`` is the gateway's ``/healthz`` state (``gateway.health.state``: modem, network,
clock, queues, storage with its free space, the last backup's age, setup, uptime, version)
plus one entry per named section of ``SECTIONS``: the dashboard's active alerts (code, tone and
words in Vietnamese and English) and whatever another area adds. **To add a section, add one
entry to ``SECTIONS``**: a name and a function of ``Inputs`` that returns JSON-ready data with
nothing personal in it (campaign progress, for one). The hub stores the newest heartbeat's JSON
whole, so a new section reaches its pages without a schema change.

Nothing personal travels: no number, no SMS text. ``impersonal`` masks anything that still
looks like a phone number in any string (a modem's error message, say) before it leaves.

Only the newest state matters, so nothing is queued: each beat is built when it is sent. A
beat that fails is tried again after the one back-off, never later than the next beat would
be, and then carries the state of that moment; a post that was offline for a day sends one
heartbeat when it comes back, not a day of them. The USB file (``export-tips``) carries one
built the same way (``build``), which the hub's import takes like an online one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlite_utils import Database

from gateway import alerts as alert_rules
from gateway import backoff, health, state
from gateway.background import Worker
from gateway.broadcasts import campaigns
from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import ConfigError
from gateway.menus import versions as menu_versions
from gateway.modem import status as modem_status
from gateway.storage import ThreadLocalDb, WriteHealth, utcnow_iso
from gateway.sync.district import DistrictClient
from gateway.sync.http import SyncError

log = logging.getLogger(__name__)

STATE_KEY = "heartbeat"  # {"state": ok|failing|off, "last_ok_at", "last_error", "sent"}: the sync page's
AlertWords = Callable[[list[alert_rules.Alert]], list[dict[str, Any]]]
# A Vietnamese number anywhere in a string (+84…, 84…, 0…, 9-11 digits, spaces or dots between).
PHONE_LIKE = re.compile(r"(?<![\d])(?:\+?84|0)(?:[ .]?\d){8,10}(?![\d])")


class Inputs:
    """What every section is built from, read once per heartbeat."""

    def __init__(self, db: Database, config: Config, now: datetime, *, version: str,
                 write_problem: dict[str, str] | None = None, reserved: Collection[str] = (),
                 words: AlertWords | None = None, gateway_running: bool = True) -> None:
        self.db = db
        self.config = config
        self.now = now
        self.version = version
        self.write_problem = write_problem
        self.reserved = tuple(reserved)
        self.words = words
        self.gateway_running = gateway_running

    @cached_property
    def modem(self) -> dict[str, Any]:
        """The modem worker's report; ``stopped`` when no gateway runs (its last report would be
        whatever the gateway wrote before it stopped, or was killed: "connected", perhaps)."""
        return modem_status.read(self.db) if self.gateway_running else modem_status.read_nothing("stopped")

    @cached_property
    def menus_in_use(self) -> menu_versions.InUse | None:
        options = menu_versions.book_options(self.config, self.reserved)
        try:
            return menu_versions.in_use(self.db, self.config.menus_path, **options)
        except ConfigError:
            return None

    @cached_property
    def setup_complete(self) -> bool | None:
        found = self.menus_in_use
        return None if found is None else not found.book.unset_contacts()


def health_section(inputs: Inputs) -> dict[str, Any]:
    """``/healthz``'s state (``gateway.health.state``): the heartbeat's top level."""
    body, _ = health.state(inputs.db, inputs.config, inputs.now, version=inputs.version,
                           write_problem=inputs.write_problem, setup_complete=inputs.setup_complete,
                           modem_report=inputs.modem)
    return body


def alerts_section(inputs: Inputs) -> list[dict[str, Any]]:
    """The dashboard's active alerts (``gateway.alerts``): code, tone, and words when given."""
    found = alert_rules.gather(inputs.db, inputs.modem, inputs.now, inputs.config,
                               write_problem=inputs.write_problem, setup_complete=inputs.setup_complete,
                               menus_in_use=inputs.menus_in_use, gateway_running=inputs.gateway_running)
    if inputs.words is not None:
        return inputs.words(found)
    return [{"code": alert.key, "tone": alert.tone, "text": None, "text_en": None} for alert in found]


def campaigns_section(inputs: Inputs) -> dict[str, Any]:
    """The province's campaigns here: counts, status and why they wait, the price per part
    (``gateway.broadcasts.campaigns.heartbeat_section``; no number, no text)."""
    return campaigns.heartbeat_section(inputs.db, inputs.config, inputs.now)


#: The named sections of a heartbeat's ``state``, beside the health state: name → builder.
SECTIONS: dict[str, Callable[[Inputs], Any]] = {
    "alerts": alerts_section,
    "campaigns": campaigns_section,
}


def impersonal(value: Any) -> Any:
    """``value`` with anything in its strings that looks like a phone number masked."""
    from gateway.phone import mask

    if isinstance(value, str):
        return PHONE_LIKE.sub(lambda m: mask(re.sub(r"[ .]", "", m.group(0))), value)
    if isinstance(value, dict):
        return {key: impersonal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [impersonal(item) for item in value]
    return value


def build(inputs: Inputs) -> dict[str, Any]:
    """One heartbeat: ``{"gateway_id", "at", "state"}`` (``state``: health + ``SECTIONS``)."""
    body = health_section(inputs)
    for name, section in SECTIONS.items():
        try:
            body[name] = section(inputs)
        except Exception:  # one broken section never silences the others
            log.exception("heartbeat section %s could not be built", name)
            body[name] = None
    return {"gateway_id": inputs.config.gateway.id, "at": utcnow_iso(inputs.now), "state": impersonal(body)}


class HeartbeatWorker(Worker):
    """The ``sync-heartbeat`` thread: one heartbeat every ``sync.heartbeat_minutes`` while
    ``hub.url`` and ``hub.token`` are set; a failure waits the one back-off, capped at one beat."""

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock, *, version: str,
                 write_health: WriteHealth | None = None, reserved: Collection[str] = (),
                 words: AlertWords | None = None, gateway_running: Callable[[], bool] | None = None) -> None:
        super().__init__("sync-heartbeat", now=clock.now)
        # None: this is the gateway. A command run alone asks each time whether one runs.
        self.gateway_running = gateway_running
        self.config = config
        self.dbs = dbs
        self.clock = clock
        self.version = version
        self.gateway_health = write_health or WriteHealth()
        self.reserved = reserved
        self.words = words
        self.client = DistrictClient(config, clock)
        self.failures = 0
        self.sent = 0
        self.error_delay = self.interval

    @property
    def interval(self) -> float:
        return self.config.sync.heartbeat_minutes * 60

    @property
    def enabled(self) -> bool:
        return bool(self.config.hub.url and self.config.hub.token)

    def tick(self) -> float | None:
        if not self.enabled:
            return None  # nothing to send to: asleep until stopped
        db = self.dbs.get()
        now = self.clock.now()
        payload = build(Inputs(db, self.config, now, version=self.version,
                               write_problem=self.gateway_health.problem(), reserved=self.reserved,
                               words=self.words,
                               gateway_running=self.gateway_running() if self.gateway_running else True))
        try:
            self.client.heartbeat(payload)
        except SyncError as exc:
            self.failures += 1
            delay = backoff.delay(self.failures, self.config.sync.retry_base,
                                  min(self.config.sync.retry_max, self.interval))
            if self.failures == 1:
                log.info("heartbeat to the hub failed (%s); trying again in %.0f s", exc, delay)
            self._note(db, now, state="failing", last_error=str(exc)[:300])
            return delay
        self.failures = 0
        self.sent += 1
        self._note(db, now, state="ok", last_ok_at=utcnow_iso(now), last_error=None)
        return self.interval

    def _note(self, db: Database, now: datetime, **fields: Any) -> None:
        """What the sync page shows of the heartbeat (a write that fails is only logged: the
        heartbeat says the storage's trouble itself)."""
        try:
            noted = state.get_json(db, STATE_KEY) or {}
            state.put_json(db, STATE_KEY, {**noted, **fields, "sent": self.sent}, now)
        except Exception:
            log.warning("could not note the heartbeat in the database", exc_info=True)

    def finish(self) -> None:
        self.client.close()
