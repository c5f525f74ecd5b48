"""Province-wide campaigns at the commune: each becomes ONE ordinary local broadcast.

A hub admin schedules a campaign: one province warning to the subscribers of all communes or
of chosen ones, between two moments (``starts_at``, ``ends_at``). The gateway receives it with
its sync pull or a USB file (``gateway.sync.province``) and turns it, in the same transaction
as its ``province_campaigns`` row (this module owns that table), into a broadcast of
``gateway.broadcasts.control``: everyone subscribed, "once" at the window's start, with a
grace as long as the window. From there it is a broadcast like the commune's own: the same
tick fires it, the same sender hands it to the outbox, so it keeps the commune's quiet hours,
its per-day cap and whatever else the sender obeys (SIM pacing, the credit reserve), and rule 4
(one delivery row per person) holds across every restart. The broadcast's id is unique in
``province_campaigns``: a campaign fetched again, by sync or by file, never makes a second one.

- First heard of after its window: recorded as ``missed`` (no broadcast is made).
- Cancelled by the hub: the local broadcast is cancelled (nothing more goes out).
- Its window over (``close_ended``, on every broadcast tick): whatever has not gone out is
  cancelled; a Pi that was off for the whole window shows its run as missed.

Its progress (recipients, sent, delivered, failed, paused and why) goes up to the hub in the
heartbeat's ``campaigns`` section (:func:`progress_section`): counts only, nothing personal.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts import control, runs, sender
from gateway.broadcasts.control import BroadcastError, Draft
from gateway.broadcasts.library import ENCODINGS, body_problems
from gateway.broadcasts.province import TITLE_MAX, VIAS, library_id
from gateway.config import Config
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

HUB_STATUSES = ("active", "cancelled")
#: A campaign is reported in heartbeats until this long after its window (delivery reports come late).
REPORTED_AFTER = timedelta(days=3)
WINDOW_END = "hết thời gian chiến dịch / campaign window over"


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**62 else None


def check(item: Any) -> tuple[dict[str, Any] | None, str | None]:
    """A clean copy of one campaign from the hub, or why it is refused."""
    if not isinstance(item, dict):
        return None, "not an object"
    campaign_id, seq = _whole(item.get("id")), _whole(item.get("seq"))
    if campaign_id is None or seq is None:
        return None, "id and seq must be whole numbers"
    warning = item.get("warning")
    if not isinstance(warning, dict) or _whole(warning.get("id")) is None or _whole(warning.get("version")) is None:
        return None, f"{campaign_id}: warning with id and version missing"
    texts = [warning.get(k) for k in ("title", "accented", "khong_dau")]
    if not all(isinstance(t, str) for t in texts) or not " ".join(texts[0].split()):
        return None, f"{campaign_id}: the warning's title and texts must be texts"
    problems = body_problems(texts[1], texts[2])
    if problems:
        return None, f"{campaign_id}: {' '.join(problems)}"
    starts, ends = _moment(item.get("starts_at")), _moment(item.get("ends_at"))
    if starts is None or ends is None or ends <= starts:
        return None, f"{campaign_id}: starts_at and ends_at must be ISO moments with a zone, the end after the start"
    if item.get("status") not in HUB_STATUSES or item.get("encoding") not in ENCODINGS:
        return None, f"{campaign_id}: status or encoding unknown"
    return {"id": campaign_id, "seq": seq, "warning_id": warning["id"], "warning_version": warning["version"],
            "title": " ".join(texts[0].split())[:TITLE_MAX], "body": texts[1].strip(),
            "body_khong_dau": texts[2].strip(), "encoding": item["encoding"], "starts_at": starts,
            "ends_at": ends, "hub_status": item["status"]}, None


def apply(db: Database, items: list[Any], now: datetime, *, via: str, tz: tzinfo, hub_name: str = "") -> list[int]:
    """Keep the hub's new and changed campaigns; a new one in its window becomes one local
    broadcast in the same transaction. Returns the campaign ids that changed something here."""
    assert via in VIAS
    changed: list[int] = []
    with write_transaction(db):
        for item in items:
            clean, problem = check(item)
            if clean is None:
                log.warning("a campaign from the hub was refused: %s", problem)
                continue
            held = get(db, clean["id"])
            if held is not None and held["seq"] >= clean["seq"]:
                continue  # the same or an older word (a USB file written before the last sync)
            if held is None:
                _take_new(db, clean, now, via=via, tz=tz, hub_name=hub_name)
            else:
                _take_change(db, held, clean, now, hub_name=hub_name)
            changed.append(clean["id"])
    return changed


def _take_new(db: Database, c: dict[str, Any], now: datetime, *, via: str, tz: tzinfo, hub_name: str) -> None:
    status, note, broadcast_id = "broadcast", None, None
    if c["hub_status"] == "cancelled":
        status, note = "cancelled", "Công an tỉnh đã hủy trước khi xã nhận được / cancelled before it arrived"
    elif c["ends_at"] <= now:
        status, note = "missed", "nhận được sau khi hết thời gian chiến dịch / heard of after its window"
        log.warning("campaign %s arrived after its window (%s): recorded as missed", c["id"], c["ends_at"])
    else:
        run_at = max(c["starts_at"], now)
        draft = Draft(
            title=f"{hub_name or 'Công an tỉnh'}: {c['title']}"[:TITLE_MAX], body=c["body"], encoding=c["encoding"],
            warning_id=library_id(c["warning_id"]), body_khong_dau=c["body_khong_dau"], everyone=True,
            schedule="once", run_at=run_at,
            # A gateway that was off at the start still sends once it is up inside the window.
            grace_minutes=max((c["ends_at"] - run_at).total_seconds() / 60, 1.0),
        )
        try:
            broadcast_id = control.create(db, draft, by=hub_name or "Công an tỉnh", now=now, tz=tz)
        except BroadcastError as exc:  # never expected (the hub's item was checked): kept, not retried forever
            log.error("campaign %s could not become a broadcast: %s", c["id"], exc)
            status, note = "cancelled", f"không tạo được bản tin / could not be made: {exc}"[:300]
    db.conn.execute(
        "INSERT INTO province_campaigns (id, seq, warning_id, warning_version, title, body, body_khong_dau, encoding,"
        " starts_at, ends_at, hub_status, status, broadcast_id, hub_name, note, received_at, received_via)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (c["id"], c["seq"], c["warning_id"], c["warning_version"], c["title"], c["body"], c["body_khong_dau"],
         c["encoding"], utcnow_iso(c["starts_at"]), utcnow_iso(c["ends_at"]), c["hub_status"], status, broadcast_id,
         hub_name or None, note, utcnow_iso(now), via),
    )


def _take_change(db: Database, held: dict[str, Any], c: dict[str, Any], now: datetime, *, hub_name: str) -> None:
    """A campaign held already: only the hub's cancel changes what happens here."""
    status, note = held["status"], held["note"]
    if c["hub_status"] == "cancelled" and held["hub_status"] != "cancelled":
        if held["broadcast_id"] is not None and held["status"] == "broadcast":
            _cancel_broadcast(db, held["broadcast_id"], hub_name or "Công an tỉnh", now)
        if held["status"] == "broadcast":
            status, note = "cancelled", "Công an tỉnh đã hủy / cancelled by the province"
    db.conn.execute("UPDATE province_campaigns SET seq=?, hub_status=?, status=?, note=? WHERE id=?",
                    (c["seq"], c["hub_status"], status, note, held["id"]))


def _cancel_broadcast(db: Database, broadcast_id: int, by: str, now: datetime) -> None:
    try:
        control.cancel(db, broadcast_id, by=by, now=now)
    except BroadcastError:
        pass  # already over: nothing left to stop


def close_ended(db: Database, now: datetime) -> int:
    """Campaigns whose window is over: what has not gone out is cancelled (the broadcast tick)."""
    closed = 0
    for row in list(db.query("SELECT id, broadcast_id FROM province_campaigns WHERE status='broadcast'"
                             " AND ends_at <= ?", [utcnow_iso(now)])):
        with write_transaction(db):
            if row["broadcast_id"] is not None:
                _cancel_broadcast(db, row["broadcast_id"], WINDOW_END, now)
            db.conn.execute("UPDATE province_campaigns SET status='closed', closed_at=? WHERE id=?"
                            " AND status='broadcast'", (utcnow_iso(now), row["id"]))
        closed += 1
    return closed


# -- reads --------------------------------------------------------------------------------------

def get(db: Database, campaign_id: int) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM province_campaigns WHERE id=?", [campaign_id]), None)


def listing(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Campaigns held here, newest window first, each with its progress (as the hub sees it)."""
    rows = list(db.query("SELECT * FROM province_campaigns ORDER BY starts_at DESC, id DESC LIMIT ?", [limit]))
    return [{**row, "progress": _progress(db, row, None, None)} for row in rows]


def by_broadcast(db: Database, broadcast_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The campaign each of these broadcasts came from (the broadcasts page marks them)."""
    if not broadcast_ids:
        return {}
    marks = ",".join("?" * len(broadcast_ids[:500]))
    return {row["broadcast_id"]: row for row in db.query(
        f"SELECT id, broadcast_id, hub_name, starts_at, ends_at, status FROM province_campaigns"
        f" WHERE broadcast_id IN ({marks})", broadcast_ids[:500])}


# -- progress for the heartbeat -------------------------------------------------------------------

def heartbeat_section(db: Database, config: Config, now: datetime) -> dict[str, Any]:
    """The ``campaigns`` section of this gateway's heartbeat (see :func:`progress_section`)."""
    return progress_section(db, now, price_per_part=config.broadcasts.price_per_part,
                            hold=sender.published_hold(db))


def progress_section(db: Database, now: datetime, *, price_per_part: int, hold: str | None = None) -> dict[str, Any]:
    """The heartbeat's ``campaigns`` section: each campaign this commune holds (until
    ``REPORTED_AFTER`` its window), with counts and why it waits. No number, no text.

    ``hold`` is why the broadcast sender holds right now (``sender.published_hold``: quiet
    hours, an untrusted clock, or whatever else the sender waits for).
    """
    since = utcnow_iso(now - REPORTED_AFTER)
    rows = list(db.query("SELECT * FROM province_campaigns WHERE ends_at >= ? OR status = 'broadcast'"
                         " ORDER BY id", [since]))
    return {"price_per_part": price_per_part,
            "items": [{"id": row["id"], **_progress(db, row, now, hold)} for row in rows]}


def _progress(db: Database, row: dict[str, Any], now: datetime | None, hold: str | None) -> dict[str, Any]:
    """One campaign's state here: status, why it waits, the deliveries of its run by status."""
    out: dict[str, Any] = {"status": row["status"], "held": None, "recipients": 0, "parts": None,
                           "encoding": row["encoding"], "started_at": None, "finished_at": None}
    counts: dict[str, int] = {}
    if row["broadcast_id"] is not None:
        broadcast = control.get(db, row["broadcast_id"])
        latest = next(db.query("SELECT * FROM broadcast_runs WHERE broadcast_id=? ORDER BY status='missed', id DESC"
                               " LIMIT 1", [row["broadcast_id"]]), None)
        if latest is not None and latest["status"] != "missed":
            counts = runs.progress(db, latest["id"])
            out.update(recipients=latest["recipients"], parts=latest["parts"], started_at=latest["fired_at"],
                       finished_at=latest["finished_at"])
        out["status"] = _status(row, broadcast["status"], latest)
        if out["status"] == "paused":
            out["held"] = "paused"
        elif out["status"] == "running" and now is not None and counts.get("pending"):
            out["held"] = hold or _daily_limit(db, latest["id"] if latest else None, now)
    for key in ("pending", "queued", "sent", "delivered", "failed", "unknown", "skipped", "cancelled"):
        out[key] = counts.get(key, 0)
    return out


def _status(row: dict[str, Any], broadcast_status: str, latest: dict[str, Any] | None) -> str:
    """scheduled | running | paused | done | missed | cancelled | closed (window over, not all sent)."""
    if latest is not None and latest["status"] == "missed":
        return "missed"  # the Pi was off for the whole window
    if broadcast_status in ("draft", "scheduled"):
        return "closed" if row["status"] == "closed" else "scheduled"
    if broadcast_status in ("running", "paused", "done"):
        return broadcast_status
    # cancelled: by the province, by the window's end, or by the commune's officer
    return {"closed": "closed", "cancelled": "cancelled"}.get(row["status"], "cancelled")


def _daily_limit(db: Database, run_id: int | None, now: datetime) -> str | None:
    """Every pending delivery waits for tomorrow (``broadcasts.per_day``): say so."""
    if run_id is None:
        return None
    waiting = db.execute("SELECT COUNT(*), SUM(not_before > ?) FROM broadcast_deliveries WHERE run_id=?"
                         " AND status='pending'", (utcnow_iso(now), run_id)).fetchone()
    return "per_day" if waiting[0] and waiting[0] == (waiting[1] or 0) else None
