"""What needs a person: the one set of alert rules, read by the dashboard and by the doctor.

Each rule looks at facts the areas publish or count (the modem's state, the clock's verdict,
the sync report and queue, the inbox, the last backup, the menus in use) and says whether an
alert stands: a key, a tone (``bad``: act now; ``wait``: keep an eye on it) and the values its
sentence needs. The words are the reader's: the dashboard says each key in the officer's
language (``gateway/web/status.py``), ``python app.py doctor`` in its one-line check with the
fix (``gateway/doctor.py``). So the page and the doctor cannot disagree about when, say, the
SIM is nearly full. Every figure is read through the area that owns it; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from gateway import backup, inbox, state
from gateway import clock as clock_rule
from gateway.broadcasts import subscribers
from gateway.privacy import requests as data_requests
from gateway.sim import calls, identity, line, notices
from gateway.sim import status as sim_status
from gateway.sync import queue as sync_queue
from gateway.sync import report as sync_report
from gateway.sync import zalo_officers, zalo_tokens

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.menus.versions import InUse

#: SIM storage used at or above this share: new SMS may not fit (``bad`` when full).
SIM_NEARLY_FULL = 0.8
#: How long after a clock correction the times written before it are said to be doubtful.
CORRECTION_ALERT_FOR = timedelta(days=30)
#: Modem states that mean no SMS comes in or goes out.
MODEM_DOWN = ("unplugged", "error", "unknown")


@dataclass(frozen=True)
class Alert:
    """One alert: ``key`` names the rule, ``values`` what its sentence needs."""

    key: str
    tone: str
    values: dict[str, Any] = field(default_factory=dict)


# -- one rule each ------------------------------------------------------------------------------

def storage(problem: dict[str, str] | None) -> Alert | None:
    """The workers said (in memory, ``WriteHealth``) that the database cannot be written."""
    if problem is None:
        return None
    return Alert("storage", "bad", {"reason": problem["reason"], "since": problem["since"]})


def modem_down(modem: dict[str, Any]) -> Alert | None:
    if modem["state"] not in MODEM_DOWN:
        return None
    return Alert("modem", "bad", {"state": modem["state"], "error": modem["error"] or ""})


def gateway_stopped(running: bool) -> Alert | None:
    """No gateway holds the database (``storage.lock_holder``): said by a command run alone
    (``python app.py sync``, ``export-tips``), whose modem report would be the last one the
    gateway wrote before it stopped or was killed."""
    return None if running else Alert("gateway_stopped", "bad")


def sim_full(modem: dict[str, Any]) -> Alert | None:
    """The SIM's message store nearly full (``SIM_NEARLY_FULL``): the modem worker is not draining it."""
    used, total = modem["sim_used"], modem["sim_total"]
    if used is None or not total or used / total < SIM_NEARLY_FULL:
        return None
    return Alert("sim", "bad" if used >= total else "wait", {"used": used, "total": total})


def clock_untrusted(db: Database | None, now: datetime) -> Alert | None:
    """The clock's own verdict (``clock.trusted``, the one rule): no believable time yet."""
    if clock_rule.trusted(state.get_json(db, clock_rule.STATE_KEY) if db is not None else None, now):
        return None
    return Alert("clock", "wait")


def clock_corrected(db: Database, now: datetime) -> list[Alert]:
    """The Pi's clock is off and the network's time is used; which times written before may be wrong."""
    clock = clock_rule.published(db, now)
    found = []
    if clock["trusted"] and clock["source"] != "system":
        found.append(Alert("clock_offset", "wait", {"offset_seconds": clock["offset_seconds"],
                                                    "source": clock["source"]}))
    doubt = clock["doubt_before"]
    if doubt and now - datetime.fromisoformat(doubt) < CORRECTION_ALERT_FOR:
        found.append(Alert("clock_corrected", "wait", {"by_seconds": clock["corrected_by_seconds"],
                                                       "at": clock["corrected_at"], "before": doubt}))
    return found


def modem_2g(modem: dict[str, Any]) -> Alert | None:
    if modem["generation"] != "2g":
        return None
    return Alert("modem_2g", "bad", {"profile": modem["profile"] or "?"})


def sync_refused(db: Database) -> list[Alert]:
    """A destination refused our credentials (``needs_reauth``): tips wait for a person."""
    sync = sync_report.read(db)
    return [Alert(destination, "bad") for destination in ("zalo", "district")
            if sync[destination]["state"] == "needs_reauth"]


def zalo_account(db: Database, config: Config, now: datetime) -> list[Alert]:
    """The OA's proactive quota running low, its refresh token close to expiring (Zalo on only)."""
    if not config.zalo.enabled:
        return []
    found = []
    low = zalo_officers.quota_low(db, config.zalo.quota_alert)
    if low:
        found.append(Alert("zalo_quota", "bad" if not low["remain"] else "wait", {"remain": low["remain"]}))
    expiring = zalo_tokens.refresh_expiring(db, now)
    if expiring:
        found.append(Alert("zalo_token", "bad", {"expires_at": expiring.isoformat()}))
    return found


def sync_dead(db: Database) -> Alert | None:
    dead = sync_queue.dead_count(db)
    return Alert("sync_dead", "bad", {"n": dead}) if dead else None


def inbox_failed(db: Database) -> Alert | None:
    failed = inbox.failed_count(db)
    return Alert("inbox_failed", "bad", {"n": failed}) if failed else None


def setup_unfinished(complete: bool | None) -> Alert | None:
    """Placeholders (xxxx, 09xx) left in the menus in use (``complete`` False; None: unknown)."""
    return Alert("setup", "bad") if complete is False else None


def menus(in_use: InUse | None) -> list[Alert]:
    """The menus in use keep a keyword the gateway reserves, or newer versions no longer load."""
    if in_use is None:
        return []
    found = []
    if in_use.clashes:
        found.append(Alert("menus_clash", "bad", {"version": in_use.version, "keywords": list(in_use.clashes)}))
    if in_use.skipped:
        found.append(Alert("menus_skipped", "bad", {"version": in_use.version,
                                                    "skipped": [v for v, _ in in_use.skipped],
                                                    "reason": in_use.skipped[0][1]}))
    return found


def consent_missing(db: Database) -> Alert | None:
    """Numbers on the subscribers' list without any recorded consent (added or imported,
    the older code's imports included) that may still get their one invitation: they receive
    nothing until they reply DK, and the page can invite them all."""
    n = subscribers.invitable_count(db)
    return Alert("consent_missing", "wait", {"n": n}) if n else None


def sim_line(db: Database, config: Config, now: datetime) -> list[Alert]:
    """The SIM as a contract (``gateway.sim``): the line refused, credit low, validity near its end,
    a new SIM or modem not yet re-verified, the loop test failed, an operator's worrying notice,
    missed calls waiting for a call back."""
    sim = sim_status.read(db, config, now)
    found = []
    if sim["state"] in line.FAULTS:
        found.append(Alert("sim_line", "bad", {k: sim[k] for k in ("state", "reason", "code", "detail")}))
    if sim["balance_vnd"] is not None and sim["balance_low"]:
        found.append(Alert("sim_credit", "bad" if sim["balance_vnd"] < config.sim.reserve else "wait",
                           {"balance_vnd": sim["balance_vnd"], "read_at": sim["read_at"]}))
    days = sim["valid_days_left"]
    if days is not None and days <= config.sim.validity_alert_days:
        found.append(Alert("sim_validity", "bad" if days <= 0 else "wait",
                           {"valid_until": sim["valid_until"], "days": days}))
    for changed in identity.unacknowledged(db):
        found.append(Alert("sim_identity", "bad", {"changed": changed["changed"], "first_seen": changed["first_seen"]}))
    test = sim["loop_test"]
    if test["ok"] is False:
        found.append(Alert("sim_loop", "bad", {"at": test["at"], "error": test["error"]}))
    for notice in notices.alerting(db)[:3]:
        found.append(Alert("sim_notice", "bad", {k: notice[k] for k in ("sender", "received_at", "topics", "text")}))
    waiting = calls.callbacks(db)
    if waiting:
        found.append(Alert("calls", "wait", {"n": len(waiting)}))
    return found


def backup_stale(db: Database, now: datetime) -> Alert | None:
    """No copy of the database for more than two days (``backup.STALE_AFTER``)."""
    return Alert("backup", "wait") if backup.freshness(db, now).stale else None


def data_requests_due(db: Database, now: datetime, config: Config) -> Alert | None:
    """A person's request about their data near its deadline (two days or less) or past it:
    ``bad`` when one is late. Each with its reference, what is due (acknowledge / complete) and the day."""
    today = now.astimezone(config.timezone).date()
    due = data_requests.due(db, today)
    if not due:
        return None
    return Alert("data_requests", "bad" if any(level == "late" for *_, level in due) else "wait", {
        "requests": [{"reference": request.reference, "due": what, "day": day.isoformat(), "urgency": level}
                     for request, what, day, level in due]})


# -- all of them, in the order the dashboard lists them ------------------------------------------

def gather(db: Database, modem: dict[str, Any], now: datetime, config: Config, *,
           write_problem: dict[str, str] | None = None, setup_complete: bool | None = None,
           menus_in_use: InUse | None = None, gateway_running: bool = True) -> list[Alert]:
    """Every alert that stands now, most urgent kinds first."""
    found: list[Alert | None] = [gateway_stopped(gateway_running), storage(write_problem), modem_down(modem),
                                 sim_full(modem), clock_untrusted(db, now), *clock_corrected(db, now), modem_2g(modem),
                                 *sync_refused(db), *zalo_account(db, config, now), sync_dead(db),
                                 inbox_failed(db), setup_unfinished(setup_complete), *menus(menus_in_use),
                                 backup_stale(db, now), *sim_line(db, config, now), data_requests_due(db, now, config),
                                 consent_missing(db)]
    return [alert for alert in found if alert is not None]
