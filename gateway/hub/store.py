"""The hub's data: tips stored once, status decisions for the gateways to pull, the door's log.

``store_batch`` is the one way tips come in (online batches and USB files alike), so both
paths obey the same rules: a uid belongs to the gateway whose id starts it, a uid already
held with the same content is simply acknowledged again, and a uid held with *different*
content is refused (never silently acknowledged: that tip would be lost).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from gateway import state
from gateway.hub import schema
from gateway.sms.text import fold
from gateway.storage import prepare, utcnow_iso, write_transaction
from gateway.web import accounts_schema

STATUSES = ("new", "handling", "closed")
MAX_TEXT = 20_000
MAX_SHORT = 64
UID_TAIL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
EVENTS_KEPT = 5000
CHUNK = 500  # SQLite host parameters per IN (...)

DEFAULT_MESSAGES = {
    "handling": "Tin {reference} da duoc tiep nhan. Cam on ban da bao tin.",
    "closed": "Tin {reference} da duoc xu ly xong. Cam on ban da bao tin.",
}


def hub_migrations() -> list[Migrations]:
    """Every table the hub's file holds: ``state`` (its secret), accounts for hub logins, its own."""
    return [state.migrations, accounts_schema.migrations, schema.migrations]


def prepare_hub(path: str | Path) -> None:
    """Make or bring up to date the hub's database file: hub tables only, no gateway table."""
    prepare(path, hub_migrations())


def digest(received_at: str, text: str) -> str:
    return hashlib.sha256(json.dumps([received_at, text], ensure_ascii=False).encode()).hexdigest()


@dataclass
class BatchResult:
    accepted: list[str]
    rejected: list[dict[str, str]]
    new: int


def _check(item: Any, gateway_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """A clean copy of one incoming tip, or the reason it is refused."""
    if not isinstance(item, dict):
        return None, "not an object"
    uid, reference, received_at, text = (item.get(k) for k in ("uid", "reference", "received_at", "text"))
    prefix = f"{gateway_id.lower()}-"
    if not isinstance(uid, str) or not uid.startswith(prefix) or not UID_TAIL.fullmatch(uid[len(prefix):]):
        return None, f"uid must look like {prefix}<id>"
    if not isinstance(reference, str) or not 0 < len(reference) <= MAX_SHORT:
        return None, "reference missing"
    if not isinstance(received_at, str):
        return None, "received_at missing"
    try:
        datetime.fromisoformat(received_at)
    except ValueError:
        return None, "received_at is not ISO 8601"
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return None, "text missing or too long"
    clean = {"uid": uid, "reference": reference, "received_at": received_at, "text": text}
    for key in ("tipster_masked", "tipster"):
        value = item.get(key)
        clean[key] = value[:MAX_SHORT] if isinstance(value, str) else None
    return clean, None


def _held(db: Database, uids: list[str]) -> dict[str, str]:
    held: dict[str, str] = {}
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start: start + CHUNK]
        marks = ",".join("?" * len(chunk))
        held.update(db.execute(f"SELECT uid, digest FROM hub_tips WHERE uid IN ({marks})", chunk).fetchall())
    return held


def store_batch(db: Database, gateway_id: str, items: Iterable[Any], *, source: str, now: datetime,
                gateway_name: str | None = None) -> BatchResult:
    """Store each new tip once; answer every uid the hub now holds (new or already held)."""
    accepted: list[str] = []
    rejected: list[dict[str, str]] = []
    clean_items: list[dict[str, Any]] = []
    for item in items:
        clean, problem = _check(item, gateway_id)
        if clean is None:
            uid = item.get("uid") if isinstance(item, dict) and isinstance(item.get("uid"), str) else ""
            rejected.append({"uid": uid[:MAX_SHORT], "error": problem or "invalid"})
        else:
            clean_items.append(clean)
    now_iso = utcnow_iso(now)
    name = gateway_name[:120] if isinstance(gateway_name, str) else None
    with write_transaction(db):
        held = _held(db, [c["uid"] for c in clean_items])
        fresh: dict[str, tuple] = {}
        for c in clean_items:
            mark = digest(c["received_at"], c["text"])
            known = held.get(c["uid"]) or (fresh[c["uid"]][10] if c["uid"] in fresh else None)
            if known is None:
                fresh[c["uid"]] = (
                    c["uid"], gateway_id, name, c["reference"], c["received_at"], c["text"],
                    fold(f"{c['reference']} {c['text']}"), c["tipster_masked"], c["tipster"], source, mark, now_iso,
                )
                accepted.append(c["uid"])
            elif known == mark:
                accepted.append(c["uid"])
            else:
                rejected.append({"uid": c["uid"], "error": "uid conflict: the hub holds another tip with this uid"})
        db.conn.executemany(
            "INSERT INTO hub_tips (uid, gateway_id, gateway_name, reference, received_at, text, folded,"
            " tipster_masked, tipster, source, digest, first_seen_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            list(fresh.values()),
        )
    return BatchResult(accepted, rejected, len(fresh))


# -- status decisions --------------------------------------------------------------------------

def set_status(db: Database, uid: str, status: str, *, by: str, now: datetime, notify_tipster: bool = False,
               message: str | None = None) -> bool:
    """Record a decision on a tip; the commune's gateway learns it on its next sync."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    with write_transaction(db):
        row = db.execute("SELECT gateway_id FROM hub_tips WHERE uid=?", (uid,)).fetchone()
        if row is None:
            return False
        now_iso = utcnow_iso(now)
        db.conn.execute(
            "UPDATE hub_tips SET status=?, status_changed_at=?, status_changed_by=? WHERE uid=?",
            (status, now_iso, by, uid),
        )
        text = (message or "").strip()[:300] if notify_tipster else None
        db.conn.execute(
            "INSERT INTO hub_changes (gateway_id, uid, status, notify_tipster, message, at, by) VALUES (?,?,?,?,?,?,?)",
            (row[0], uid, status, int(bool(notify_tipster and text)), text or None, now_iso, by),
        )
    return True


def changes_since(db: Database, gateway_id: str, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    rows = db.execute(
        "SELECT seq, uid, status, notify_tipster, message, at, by FROM hub_changes"
        " WHERE gateway_id=? AND seq>? ORDER BY seq LIMIT ?",
        (gateway_id, since, limit),
    ).fetchall()
    changes = [
        {"seq": seq, "uid": uid, "status": status, "notify_tipster": bool(notify), "message": message,
         "changed_at": at, "by": by}
        for seq, uid, status, notify, message, at, by in rows
    ]
    return changes, (rows[-1][0] if rows else since)


# -- the door's log ----------------------------------------------------------------------------

def log_event(db: Database, event: str, now: datetime, *, gateway_id: str | None = None, remote: str | None = None,
              detail: str = "") -> None:
    with write_transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO hub_events (at, event, gateway_id, remote, detail) VALUES (?,?,?,?,?)",
            (utcnow_iso(now), event, gateway_id, (remote or "")[:64], detail[:500]),
        )
        if cursor.lastrowid and cursor.lastrowid % 100 == 0:
            db.conn.execute("DELETE FROM hub_events WHERE id <= ?", (cursor.lastrowid - EVENTS_KEPT,))


def recent_events(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    cursor = db.execute("SELECT at, event, gateway_id, remote, detail FROM hub_events ORDER BY id DESC LIMIT ?",
                        (limit,))
    return [dict(zip(("at", "event", "gateway_id", "remote", "detail"), row, strict=True)) for row in cursor.fetchall()]


# -- the page's list ---------------------------------------------------------------------------

@dataclass
class TipQuery:
    gateway_id: str | None = None
    status: str | None = None
    since: str | None = None   # ISO UTC, inclusive
    until: str | None = None   # ISO UTC, exclusive
    search: str | None = None  # folded words


def _where(query: TipQuery) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if query.gateway_id:
        clauses.append("gateway_id = ?")
        params.append(query.gateway_id)
    if query.status:
        clauses.append("status = ?")
        params.append(query.status)
    if query.since:
        clauses.append("received_at >= ?")
        params.append(query.since)
    if query.until:
        clauses.append("received_at < ?")
        params.append(query.until)
    for word in (query.search or "").split()[:8]:
        clauses.append("folded LIKE ? ESCAPE '\\'")
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def list_tips(db: Database, query: TipQuery, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    where, params = _where(query)
    total = db.execute(f"SELECT COUNT(*) FROM hub_tips{where}", params).fetchone()[0]
    cursor = db.execute(
        "SELECT uid, gateway_id, gateway_name, reference, received_at, substr(text, 1, 400), tipster_masked,"
        f" status, status_changed_at, status_changed_by, source FROM hub_tips{where}"
        " ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    names = [c[0] for c in cursor.description]
    names[5] = "text_start"
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()], total


def get_tip(db: Database, uid: str) -> dict[str, Any] | None:
    cursor = db.execute("SELECT * FROM hub_tips WHERE uid=?", (uid,))
    row = cursor.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cursor.description], row, strict=True))


def tip_history(db: Database, uid: str) -> list[dict[str, Any]]:
    cursor = db.execute("SELECT seq, status, notify_tipster, message, at, by FROM hub_changes WHERE uid=? ORDER BY seq",
                        (uid,))
    return [dict(zip(("seq", "status", "notify_tipster", "message", "at", "by"), r, strict=True))
            for r in cursor.fetchall()]


def communes(db: Database, configured: Iterable[str]) -> list[str]:
    held = [row[0] for row in db.execute("SELECT DISTINCT gateway_id FROM hub_tips").fetchall()]
    return sorted(set(held) | set(configured))


def status_counts(db: Database) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(db.execute("SELECT status, COUNT(*) FROM hub_tips GROUP BY status").fetchall())
    return counts
