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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway.sms.text import fold, khong_dau
from gateway.sql import Where
from gateway.storage import utcnow_iso, write_transaction
from gateway.tips import UPSTREAM_TEXT_MAX

STATUSES = ("new", "handling", "closed")
MAX_TEXT = UPSTREAM_TEXT_MAX  # one limit, shared with the gateways (they cut a longer tip with a marker)
MAX_SHORT = 64
MAX_TIMESTAMP = 40
UID_TAIL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)  # no commune had a TinBao gateway before
FUTURE_SLACK = timedelta(days=1)  # a gateway's clock a little ahead is not a lie
EVENTS_KEPT = 5000
REFUSALS_KEPT = 1000  # remotes remembered in hub_refusals (the least recent go first)
CHUNK = 500  # SQLite host parameters per IN (...)
MESSAGE_MAX = 300  # the SMS to a tipster, with the hub's name

DEFAULT_MESSAGES = {
    "handling": "Tin {reference} da duoc tiep nhan. Cam on ba con da bao tin.",
    "closed": "Tin {reference} da duoc xu ly xong. Cam on ba con da bao tin.",
}


def digest(received_at: str, text: str) -> str:
    return hashlib.sha256(json.dumps([received_at, text], ensure_ascii=False).encode()).hexdigest()


@dataclass
class BatchResult:
    accepted: list[str]
    rejected: list[dict[str, str]]
    new: int


def valid_unicode(value: str) -> bool:
    """False for text that cannot be stored as UTF-8 (a lone surrogate such as ``"\\ud800"``)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(value: str) -> str:
    """``value`` with anything UTF-8 cannot hold (lone surrogates) replaced by U+FFFD."""
    if valid_unicode(value):
        return value
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def received_moment(value: Any, now: datetime) -> tuple[str | None, str | None]:
    """An incoming ``received_at`` as the hub stores it (ISO UTC), or the reason it is refused."""
    if not isinstance(value, str) or not value:
        return None, "received_at missing"
    if len(value) > MAX_TIMESTAMP or not valid_unicode(value):
        return None, "received_at is not ISO 8601"
    out_of_range = f"received_at must be between {EARLIEST.date().isoformat()} and a day after the hub's now"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, "received_at is not ISO 8601"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a gateway always sends UTC
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 9999 with a negative offset
        return None, out_of_range
    if moment < EARLIEST or moment > now + FUTURE_SLACK:
        return None, out_of_range
    return moment.isoformat(), None


def _short(item: dict[str, Any], key: str, limit: int = MAX_SHORT) -> tuple[str | None, str | None]:
    """An optional short text field: None, or a clean string, or the reason it is refused."""
    value = item.get(key)
    if value is None:
        return None, None
    if not isinstance(value, str) or len(value) > limit or not valid_unicode(value):
        return None, f"{key} must be text of at most {limit} characters"
    return value, None


def _check(item: Any, gateway_id: str, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
    """A clean copy of one incoming tip, or the reason it is refused (each field checked)."""
    if not isinstance(item, dict):
        return None, "not an object"
    uid, reference, text = (item.get(k) for k in ("uid", "reference", "text"))
    prefix = f"{gateway_id.lower()}-"
    if not isinstance(uid, str) or not uid.startswith(prefix) or not UID_TAIL.fullmatch(uid[len(prefix):]):
        return None, f"uid must look like {prefix}<id>"
    if not isinstance(reference, str) or not reference.strip():
        return None, "reference missing"
    if len(reference) > MAX_SHORT or not valid_unicode(reference):
        return None, f"reference must be text of at most {MAX_SHORT} characters"
    if not reference.upper().startswith(f"{gateway_id.upper()}-"):
        # A reference names its gateway (CL-0042 is Cốc Lầu's): another gateway's would pass a
        # tip off as Cốc Lầu's on the hub's pages.
        return None, f"reference must start with {gateway_id.upper()}- (the pushing gateway's own id)"
    received_at, problem = received_moment(item.get("received_at"), now)
    if problem:
        return None, problem
    if not isinstance(text, str):
        return None, "text missing"
    if len(text) > MAX_TEXT:
        return None, f"text longer than {MAX_TEXT} characters (the gateway cuts it, with a marker)"
    if not valid_unicode(text):
        return None, "text is not valid Unicode (a lone surrogate)"
    clean = {"uid": uid, "reference": reference, "received_at": received_at, "raw_received_at": item["received_at"],
             "text": text}
    for key in ("tipster_masked", "tipster"):
        clean[key], problem = _short(item, key)
        if problem:
            return None, problem
    status = item.get("status")
    if status is not None and status not in STATUSES:
        return None, "status must be new, handling or closed"
    clean["status"] = status
    chars = item.get("text_chars")
    if chars is not None and (isinstance(chars, bool) or not isinstance(chars, int) or not 0 <= chars <= 10_000_000):
        return None, "text_chars must be a whole number"
    clean["text_chars"] = chars if chars and chars > len(text) else None
    return clean, None


def _held(db: Database, uids: list[str]) -> dict[str, str]:
    held: dict[str, str] = {}
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start: start + CHUNK]
        marks = ",".join("?" * len(chunk))
        held.update(db.execute(f"SELECT uid, digest FROM hub_tips WHERE uid IN ({marks})", chunk).fetchall())
    return held


def store_batch(db: Database, gateway_id: str, items: Iterable[Any], *, source: str, now: datetime) -> BatchResult:
    """Store each new tip once; answer every uid the hub now holds (new or already held).

    Each item is checked on its own (``_check``): a bad one is listed in ``rejected`` with
    its reason and never stops the others. A held tip pushed again brings its commune status.
    The gateway is known by the id its token belongs to, never by a name it sends (DESIGN.md:
    the hub names each gateway from its own config), and its tips' references carry that id.
    """
    accepted: list[str] = []
    rejected: list[dict[str, str]] = []
    clean_items: list[dict[str, Any]] = []
    for item in items:
        clean, problem = _check(item, gateway_id, now)
        if clean is None:
            uid = item.get("uid") if isinstance(item, dict) and isinstance(item.get("uid"), str) else ""
            rejected.append({"uid": clean_text(uid[:MAX_SHORT]), "error": problem or "invalid"})
        else:
            clean_items.append(clean)
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        held = _held(db, [c["uid"] for c in clean_items])
        fresh: dict[str, tuple] = {}
        statuses: list[tuple] = []
        for c in clean_items:
            # The digest is of the text and the time as the gateway sent them (as it always was).
            mark = digest(c["raw_received_at"], c["text"])
            known = held.get(c["uid"]) or (fresh[c["uid"]][10] if c["uid"] in fresh else None)
            if known is None:
                fresh[c["uid"]] = (
                    c["uid"], gateway_id, None, c["reference"], c["received_at"], c["text"],
                    fold(f"{c['reference']} {c['text']}"), c["tipster_masked"], c["tipster"], source, mark, now_iso,
                    c["status"], now_iso if c["status"] else None, c["text_chars"],
                )
                accepted.append(c["uid"])
            elif known == mark:
                accepted.append(c["uid"])
                if c["status"]:
                    statuses.append((c["status"], now_iso, c["uid"], c["status"]))
            else:
                rejected.append({"uid": c["uid"], "error": "uid conflict: the hub holds another tip with this uid"})
        db.conn.executemany(
            "INSERT INTO hub_tips (uid, gateway_id, gateway_name, reference, received_at, text, folded,"
            " tipster_masked, tipster, source, digest, first_seen_at, commune_status, commune_status_at, text_chars)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            list(fresh.values()),
        )
        db.conn.executemany(
            "UPDATE hub_tips SET commune_status=?, commune_status_at=? WHERE uid=?"
            " AND commune_status IS NOT ?", statuses,
        )
    return BatchResult(accepted, rejected, len(fresh))


def store_statuses(db: Database, gateway_id: str, items: Iterable[Any], *, now: datetime) -> BatchResult:
    """Status changes made at the commune (``POST /api/v1/status``): each kept on its tip.

    ``accepted`` lists every uid whose change the hub now holds; an unknown uid is rejected
    (the tip itself carries its status when it arrives). The hub's own status is not touched:
    the commune's is shown beside it.
    """
    accepted: list[str] = []
    rejected: list[dict[str, str]] = []
    updates: list[tuple] = []
    prefix = f"{gateway_id.lower()}-"
    checked: list[tuple[str, str, str, str | None]] = []
    for item in items:
        uid = item.get("uid") if isinstance(item, dict) else None
        if not isinstance(uid, str) or not uid.startswith(prefix) or not UID_TAIL.fullmatch(uid[len(prefix):]):
            shown = clean_text(uid[:MAX_SHORT]) if isinstance(uid, str) else ""
            rejected.append({"uid": shown, "error": f"uid must look like {prefix}<id>"})
            continue
        status = item.get("status")
        if status not in STATUSES:
            rejected.append({"uid": uid, "error": "status must be new, handling or closed"})
            continue
        at, problem = received_moment(item.get("changed_at"), now)
        if problem:
            rejected.append({"uid": uid, "error": problem.replace("received_at", "changed_at")})
            continue
        by, problem = _short(item, "by")
        if problem:
            rejected.append({"uid": uid, "error": problem})
            continue
        checked.append((uid, status, at, by))
    with write_transaction(db):
        held = _held(db, [uid for uid, *_ in checked])
        for uid, status, at, by in checked:
            if uid not in held:
                rejected.append({"uid": uid, "error": "unknown uid: the tip has not reached the hub yet"})
                continue
            updates.append((status, at, by, uid, at))
            accepted.append(uid)
        # A change older than the one held (a repeated push) does not undo a newer one.
        db.conn.executemany(
            "UPDATE hub_tips SET commune_status=?, commune_status_at=?, commune_status_by=? WHERE uid=?"
            " AND (commune_status_at IS NULL OR commune_status_at <= ?)", updates,
        )
    return BatchResult(accepted, rejected, 0)


def imported_before(db: Database, digest: str) -> bool:
    """Whether a USB file with this SHA-256 was taken in already (the same file twice changes nothing)."""
    return db.execute("SELECT 1 FROM hub_imports WHERE digest=?", (digest,)).fetchone() is not None


def note_import(db: Database, digest: str, gateway_id: str, path: str, tips: int, new_tips: int,
                now: datetime) -> None:
    """Remember a USB file taken in: when, whose, how many tips and how many were new."""
    with write_transaction(db):
        db.conn.execute(
            "INSERT OR IGNORE INTO hub_imports (at, digest, gateway_id, path, tips, new_tips) VALUES (?,?,?,?,?,?)",
            (utcnow_iso(now), digest, gateway_id, path, tips, new_tips),
        )


# -- status decisions --------------------------------------------------------------------------

def signature(sender: str) -> str:
    """What the hub adds to its SMS so the villager knows who writes: `` - Cong an tinh ...``."""
    return f" - {khong_dau(sender.strip())}" if sender.strip() else ""


def sign_message(text: str, sender: str) -> str:
    """The officer's SMS with the hub's name, unless the text already names it."""
    text = text.strip()
    if not sender.strip() or fold(khong_dau(sender)) in fold(text):
        return text
    return text + signature(sender)


def set_status(db: Database, uid: str, status: str, *, by: str, now: datetime, notify_tipster: bool = False,
               message: str | None = None, sender: str = "") -> bool:
    """Record a decision on a tip; the commune's gateway learns it on its next sync.

    An SMS to the tipster is signed with ``sender`` (the hub's name) and kept within
    ``MESSAGE_MAX`` characters.
    """
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
        text = sign_message(clean_text(message or ""), sender)[:MESSAGE_MAX] if notify_tipster else None
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
    """A real event at the door (a batch, an import): refusals go to ``note_refusal`` instead."""
    with write_transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO hub_events (at, event, gateway_id, remote, detail) VALUES (?,?,?,?,?)",
            (utcnow_iso(now), event, gateway_id, clean_text(remote or "")[:64], clean_text(detail)[:500]),
        )
        if cursor.lastrowid and cursor.lastrowid % 100 == 0:
            db.conn.execute("DELETE FROM hub_events WHERE id <= ?", (cursor.lastrowid - EVENTS_KEPT,))


def note_refusal(db: Database, remote: str, now: datetime, detail: str) -> int:
    """Count one refused request from ``remote`` (one row per address, never one per request,
    so a flood of junk tokens can never push real events out). Returns that address's count."""
    remote = clean_text(remote or "")[:64]
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        db.conn.execute(
            "INSERT INTO hub_refusals (remote, count, first_at, last_at, last_detail) VALUES (?, 1, ?, ?, ?)"
            " ON CONFLICT(remote) DO UPDATE SET count = count + 1, last_at = excluded.last_at,"
            " last_detail = excluded.last_detail",
            (remote, now_iso, now_iso, clean_text(detail)[:500]),
        )
        count = db.execute("SELECT count FROM hub_refusals WHERE remote=?", (remote,)).fetchone()[0]
        if count == 1:
            db.conn.execute(
                "DELETE FROM hub_refusals WHERE remote IN (SELECT remote FROM hub_refusals"
                " ORDER BY last_at DESC LIMIT -1 OFFSET ?)", (REFUSALS_KEPT,),
            )
    return count


def refusals(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    """The addresses refused most recently, with how many times and the last reason."""
    return list(db.query("SELECT remote, count, first_at, last_at, last_detail AS detail FROM hub_refusals"
                         " ORDER BY last_at DESC LIMIT ?", [limit]))


def recent_events(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    return list(db.query("SELECT at, event, gateway_id, remote, detail FROM hub_events ORDER BY id DESC LIMIT ?",
                         [limit]))


# -- the page's list ---------------------------------------------------------------------------

@dataclass
class TipQuery:
    gateway_id: str | None = None
    status: str | None = None
    since: str | None = None   # ISO UTC, inclusive
    until: str | None = None   # ISO UTC, exclusive
    search: str | None = None  # folded words


def _where(query: TipQuery) -> tuple[str, list[Any]]:
    where = (Where().equal("gateway_id", query.gateway_id).equal("status", query.status)
             .at_or_after("received_at", query.since).before("received_at", query.until))
    for word in (query.search or "").split()[:8]:
        where.contains("folded", word)
    return f" WHERE {where.sql()}", where.params


def list_tips(db: Database, query: TipQuery, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    where, params = _where(query)
    total = db.execute(f"SELECT COUNT(*) FROM hub_tips{where}", params).fetchone()[0]
    rows = list(db.query(
        "SELECT uid, gateway_id, gateway_name, reference, received_at, substr(text, 1, 400) AS text_start,"
        " tipster_masked, status, status_changed_at, status_changed_by, source, commune_status"
        f" FROM hub_tips{where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ))
    return rows, total


def get_tip(db: Database, uid: str) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM hub_tips WHERE uid=?", [uid]), None)


def tip_history(db: Database, uid: str) -> list[dict[str, Any]]:
    return list(db.query("SELECT seq, status, notify_tipster, message, at, by FROM hub_changes WHERE uid=?"
                         " ORDER BY seq", [uid]))


def communes(db: Database, configured: Iterable[str]) -> list[str]:
    held = [row[0] for row in db.execute("SELECT DISTINCT gateway_id FROM hub_tips").fetchall()]
    return sorted(set(held) | set(configured))


def status_counts(db: Database) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(db.execute("SELECT status, COUNT(*) FROM hub_tips GROUP BY status").fetchall())
    return counts
