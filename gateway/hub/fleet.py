"""The province's posts as the hub sees them: each gateway's newest heartbeat, an hourly
rollup, and the one judgement of a post's state (ok, warning, fault, silent).

``record`` is the one way a heartbeat comes in (``POST /api/v1/heartbeat`` and the USB file's
alike); the campaigns' progress it carries goes to ``gateway.hub.campaigns`` in the same
transaction. The newest heartbeat of each gateway is kept whole (``hub_heartbeats.state``, JSON), so a
section a newer gateway adds (campaign progress, the SIM) is there without a schema change;
older beats leave only their hour's row in ``hub_fleet_hours`` (beats, the worst judgement,
beats with the line down, the alert codes seen), so a month of a hundred posts stays a few MB.
An hour without a row is an hour the post was not heard.

The judgement (``judge``) is read by the fleet page, the gateway page, the hub's ``/healthz``
and ``/metrics``, so they cannot disagree. A post is named by the hub's own config
(``hub.names``), never by what it sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway.hub import campaigns
from gateway.hub.store import clean_text, received_moment
from gateway.storage import utcnow_iso, write_transaction

STATES = ("silent", "fault", "warning", "ok")  # worst first: the fleet page's order
RANK = {"ok": 0, "warning": 1, "fault": 2}
MAX_STATE_BYTES = 64 * 1024  # a heartbeat is a few KB; more is not a heartbeat
MAX_DEPTH = 6
MAX_ITEMS = 200
MAX_STRING = 2000
ROLLUP_DAYS = 90  # hours older than this are let go (the gateway page shows 7 days)
LINE_BAD_SIM = ("barred", "no_credit", "refused")
MODEM_DOWN = ("unplugged", "error", "unknown", "not_started", "stopped")


class BadHeartbeat(ValueError):
    """A heartbeat the hub refuses as a whole; the message says why (a 400's ``error``)."""


def _clean(value: Any, depth: int = 0) -> Any:
    """A copy the hub can store and draw: text UTF-8 can hold, bounded depth, length and count."""
    if isinstance(value, str):
        return clean_text(value[:MAX_STRING])
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    if depth >= MAX_DEPTH:
        return None
    if isinstance(value, dict):
        return {clean_text(str(k))[:64]: _clean(v, depth + 1) for k, v in list(value.items())[:MAX_ITEMS]}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value[:MAX_ITEMS]]
    return None


def check(body: Any, gateway_id: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """The beat's time (ISO UTC) and its clean state, or ``BadHeartbeat``."""
    if not isinstance(body, dict):
        raise BadHeartbeat('the body must be JSON: {"gateway_id": .., "at": .., "state": {..}}')
    if body.get("gateway_id") != gateway_id:
        raise BadHeartbeat(f"gateway_id must be {gateway_id}")
    at, problem = received_moment(body.get("at"), now)
    if problem:
        raise BadHeartbeat(problem.replace("received_at", "at"))
    state = body.get("state")
    if not isinstance(state, dict):
        raise BadHeartbeat("state must be an object")
    clean = _clean(state)
    if len(json.dumps(clean, ensure_ascii=False).encode("utf-8")) > MAX_STATE_BYTES:
        raise BadHeartbeat(f"state is larger than {MAX_STATE_BYTES // 1024} KB")
    assert at is not None
    return at, clean


def _hour(moment: str) -> str:
    when = datetime.fromisoformat(moment).astimezone(UTC)
    return when.replace(minute=0, second=0, microsecond=0).isoformat()


def record(db: Database, gateway_id: str, body: Any, *, source: str, now: datetime) -> bool:
    """Take one heartbeat in; True when it is now the gateway's newest (an older one only
    counts in its hour). ``BadHeartbeat`` for one that is refused as a whole."""
    at, state = check(body, gateway_id, now)
    now_iso = utcnow_iso(now)
    # Online: heard now. From a file: heard when it was written (never later than now).
    heard = now_iso if source == "online" else min(at, now_iso)
    verdict = judge_state(state)
    line_failed = int(line_down(state))
    codes = {str(a.get("code"))[:32] for a in alerts_of(state)}
    hour = _hour(heard)
    with _no_fsync(db), write_transaction(db):
        held = db.execute("SELECT at FROM hub_heartbeats WHERE gateway_id=?", (gateway_id,)).fetchone()
        newest = held is None or held[0] <= at
        if newest:
            db.conn.execute(
                "INSERT INTO hub_heartbeats (gateway_id, at, heard_at, received_at, source, state)"
                " VALUES (?,?,?,?,?,?) ON CONFLICT(gateway_id) DO UPDATE SET at=excluded.at,"
                " heard_at=max(heard_at, excluded.heard_at), received_at=excluded.received_at,"
                " source=excluded.source, state=excluded.state",
                (gateway_id, at, heard, now_iso, source, json.dumps(state, ensure_ascii=False)),
            )
        elif source == "online":  # an older beat still proves the post is alive now
            db.conn.execute("UPDATE hub_heartbeats SET heard_at=max(heard_at, ?) WHERE gateway_id=?",
                            (heard, gateway_id))
        row = db.execute("SELECT beats, worst, line_failed, codes FROM hub_fleet_hours WHERE gateway_id=? AND hour=?",
                         (gateway_id, hour)).fetchone()
        if row is None:
            db.conn.execute("INSERT INTO hub_fleet_hours (gateway_id, hour, beats, worst, line_failed, codes)"
                            " VALUES (?,?,1,?,?,?)", (gateway_id, hour, verdict, line_failed, ",".join(sorted(codes))))
            cutoff = (now - timedelta(days=ROLLUP_DAYS)).replace(minute=0, second=0, microsecond=0)
            db.conn.execute("DELETE FROM hub_fleet_hours WHERE gateway_id=? AND hour < ?",
                            (gateway_id, cutoff.astimezone(UTC).isoformat()))
        else:
            beats, worst, failed, seen = row
            worst = worst if RANK.get(worst, 0) >= RANK[verdict] else verdict
            seen_codes = sorted({c for c in seen.split(",") if c} | codes)
            db.conn.execute("UPDATE hub_fleet_hours SET beats=?, worst=?, line_failed=?, codes=?"
                            " WHERE gateway_id=? AND hour=?",
                            (beats + 1, worst, failed + line_failed, ",".join(seen_codes)[:500], gateway_id, hour))
        # The province's campaigns as this post last said (its owner keeps only the newest word).
        campaigns.take_progress(db, gateway_id, state.get("campaigns"), reported_at=datetime.fromisoformat(at),
                                now=now)
    return newest


@contextmanager
def _no_fsync(db: Database) -> Iterator[None]:
    """A heartbeat's commit without waiting for the disk (``synchronous=NORMAL`` in WAL mode):
    only the newest counts and the next comes in minutes, so one lost to a power cut costs
    nothing, while an fsync per beat (about 5 ms, under the write lock) would hold up the tips
    of a hundred posts. Tips keep their fsync'd commits; the next one makes these durable too."""
    before = db.execute("PRAGMA synchronous").fetchone()[0]
    db.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        db.execute(f"PRAGMA synchronous={int(before)}")


# -- reading a state (it came from a gateway: every field is checked as it is read) ---------------

def dig(state: dict[str, Any] | None, *path: str, kind: type | tuple[type, ...] = (int, float)) -> Any:
    """``state[path[0]][path[1]]...`` when it is there and of ``kind``; else None."""
    value: Any = state
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    if isinstance(value, bool) and kind not in (bool, (bool,)):
        return None
    return value if isinstance(value, kind) else None


def alerts_of(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (state or {}).get("alerts")
    return [a for a in found if isinstance(a, dict)] if isinstance(found, list) else []


def line_down(state: dict[str, Any]) -> bool:
    """The post cannot send or receive SMS: modem down or unregistered, or its SIM line refused."""
    modem = dig(state, "modem", "state", kind=str)
    registered = dig(state, "modem", "registered", kind=bool)
    sim = dig(state, "sim", "state", kind=str)
    return modem in MODEM_DOWN or (modem == "connected" and registered is False) or sim in LINE_BAD_SIM


def judge_state(state: dict[str, Any]) -> str:
    """ok, warning or fault for one heartbeat's state (silence is judged by time: ``judge``)."""
    alerts = alerts_of(state)
    if (any(a.get("tone") == "bad" for a in alerts) or state.get("database") == "error"
            or dig(state, "storage", "writable", kind=bool) is False or line_down(state)):
        return "fault"
    if alerts or state.get("status") == "degraded":
        return "warning"
    return "ok"


@dataclass
class Judgement:
    """A post's state now and why: the alert that decides it (its code and words), or a kind."""

    state: str
    why: str = ""  # silent | never | alert | line | storage | database | degraded | ""
    alert: dict[str, Any] = field(default_factory=dict)


def judge(beat: dict[str, Any] | None, now: datetime, silent_minutes: float) -> Judgement:
    """The one judgement: silent when not heard for ``silent_minutes``, else the state's."""
    if beat is None:
        return Judgement("silent", "never")
    heard = datetime.fromisoformat(beat["heard_at"])
    if now - heard > timedelta(minutes=silent_minutes):
        return Judgement("silent", "silent")
    state = beat["state"]
    verdict = judge_state(state)
    if verdict == "ok":
        return Judgement("ok")
    alerts = alerts_of(state)
    tone = "bad" if verdict == "fault" else "wait"
    chosen = next((a for a in alerts if a.get("tone") == tone), alerts[0] if alerts else None)
    if chosen is not None:
        return Judgement(verdict, "alert", chosen)
    if state.get("database") == "error":
        return Judgement(verdict, "database")
    if dig(state, "storage", "writable", kind=bool) is False:
        return Judgement(verdict, "storage")
    if line_down(state):
        return Judgement(verdict, "line")
    return Judgement(verdict, "degraded")


# -- the pages', /healthz's and /metrics' reads --------------------------------------------------

def newest(db: Database, gateway_id: str) -> dict[str, Any] | None:
    row = next(db.query("SELECT gateway_id, at, heard_at, received_at, source, state FROM hub_heartbeats"
                        " WHERE gateway_id=?", [gateway_id]), None)
    if row is not None:
        row["state"] = _load(row["state"])
    return row


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Post:
    """One gateway on the fleet page: its id, the hub's name for it, its newest beat, the judgement."""

    gateway_id: str
    name: str
    beat: dict[str, Any] | None
    judgement: Judgement

    @property
    def state(self) -> dict[str, Any]:
        return self.beat["state"] if self.beat else {}


def posts(db: Database, gateway_ids: Iterable[str], names: dict[str, str], now: datetime,
          silent_minutes: float) -> list[Post]:
    """Every configured gateway, worst first (silent, fault, warning, ok), then by name."""
    beats = {row["gateway_id"]: row for row in db.query(
        "SELECT gateway_id, at, heard_at, received_at, source, state FROM hub_heartbeats")}
    found = []
    for gateway_id in gateway_ids:
        beat = beats.get(gateway_id)
        if beat is not None:
            beat = {**beat, "state": _load(beat["state"])}
        name = (names.get(gateway_id) or "").strip() or gateway_id.upper()
        found.append(Post(gateway_id, name, beat, judge(beat, now, silent_minutes)))
    found.sort(key=lambda p: (STATES.index(p.judgement.state), p.name.lower()))
    return found


def counts(found: Iterable[Post]) -> dict[str, int]:
    """How many posts are in each state (the hub's ``/healthz``)."""
    tally = dict.fromkeys(STATES, 0)
    for post in found:
        tally[post.judgement.state] += 1
    return tally


def hours(db: Database, gateway_id: str, since: datetime) -> dict[str, dict[str, Any]]:
    """The hourly rows of one gateway from ``since``, by the hour's ISO UTC start."""
    return {row["hour"]: row for row in db.query(
        "SELECT hour, beats, worst, line_failed, codes FROM hub_fleet_hours WHERE gateway_id=? AND hour>=?"
        " ORDER BY hour", [gateway_id, since.astimezone(UTC).isoformat()])}
