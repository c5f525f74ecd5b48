"""Province-wide campaigns at the hub: this module owns ``hub_campaigns``,
``hub_campaign_communes`` and ``hub_campaign_progress``.

A hub admin schedules one province warning (its text as it is at that moment) to the
subscribers of all communes or of chosen ones, between two moments. Each gateway pulls the
campaigns addressed to it (``GET /api/v1/campaigns?since=N``, or the USB file) and turns each
into one local broadcast that keeps its own rules; it says how far it got in its heartbeats
(the ``campaigns`` section: :func:`take_progress`). The page shows each commune's newest word
and the total, with the cost at each commune's own price per SMS part.

A commune that never said anything by the end of the window is "missed" here, as is one whose
last word came before the window and nothing since (its gateway was off or offline throughout);
a gateway that first hears of a campaign after its window says "missed" itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts.library import ENCODINGS
from gateway.errors import TinBaoError
from gateway.hub import warnings
from gateway.storage import utcnow_iso, write_transaction

#: What a gateway may say a campaign is doing (``gateway.broadcasts.campaigns._status``).
STATUSES = ("scheduled", "running", "paused", "done", "missed", "cancelled", "closed")
COUNTS = ("recipients", "pending", "queued", "sent", "delivered", "failed", "unknown", "skipped", "cancelled")
COUNT_MAX = 10_000_000
HELD_MAX = 32
PRICE_MAX = 100_000
PARTS_MAX = 255


class CampaignError(TinBaoError):
    """A campaign the form cannot schedule; the message (Vietnamese) says why."""


def _next_seq(db: Database) -> int:
    return db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM hub_campaigns").fetchone()[0]


def schedule(db: Database, *, warning_id: int, encoding: str, communes: list[str] | None, starts_at: datetime,
             ends_at: datetime, by: str, now: datetime, known: list[str]) -> int:
    """Schedule a campaign of ``warning_id`` (``communes`` None: all of ``known``, now and later)."""
    found = []
    warning = warnings.get(db, warning_id)
    if warning is None:
        found.append("Chọn một cảnh báo.")
    if encoding not in ENCODINGS:
        found.append("Chọn gửi có dấu hay không dấu.")
    if ends_at <= starts_at:
        found.append("Ngày kết thúc phải sau ngày bắt đầu.")
    elif ends_at <= now:
        found.append("Thời gian chiến dịch đã qua.")
    if communes is not None:
        if not communes:
            found.append("Chọn ít nhất một xã, hoặc “tất cả các xã”.")
        unknown = sorted(set(communes) - set(known))
        if unknown:
            found.append(f"Không có xã {', '.join(unknown)[:80]} trong hub.gateways.")
    if found:
        raise CampaignError(" ".join(found))
    assert warning is not None
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        cur = db.conn.execute(
            "INSERT INTO hub_campaigns (seq, warning_id, warning_version, title, accented, khong_dau, encoding,"
            " all_communes, starts_at, ends_at, created_at, created_by, updated_at, updated_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (_next_seq(db), warning_id, warning["version"], warning["title"], warning["accented"],
             warning["khong_dau"], encoding, int(communes is None), utcnow_iso(starts_at), utcnow_iso(ends_at),
             now_iso, by, now_iso, by))
        campaign_id = int(cur.lastrowid)
        db.conn.executemany("INSERT INTO hub_campaign_communes (campaign_id, gateway_id) VALUES (?, ?)",
                            [(campaign_id, gateway_id) for gateway_id in sorted(set(communes or []))])
    return campaign_id


def cancel(db: Database, campaign_id: int, *, by: str, now: datetime) -> None:
    """Stop a campaign: gateways cancel what they have not sent at their next pull."""
    with write_transaction(db):
        row = get(db, campaign_id)
        if row is None:
            raise CampaignError("Không có chiến dịch này.")
        if row["status"] == "cancelled":
            raise CampaignError("Chiến dịch này đã bị hủy.")
        db.conn.execute("UPDATE hub_campaigns SET status='cancelled', seq=?, updated_at=?, updated_by=? WHERE id=?",
                        (_next_seq(db), utcnow_iso(now), by, campaign_id))


# -- what gateways receive -----------------------------------------------------------------------

_FOR_GATEWAY = ("(c.all_communes = 1 OR EXISTS (SELECT 1 FROM hub_campaign_communes m"
                " WHERE m.campaign_id = c.id AND m.gateway_id = ?))")


def as_sent(row: dict[str, Any]) -> dict[str, Any]:
    """A campaign as gateways receive it (by sync and in the USB file)."""
    return {"id": row["id"], "seq": row["seq"], "status": row["status"], "encoding": row["encoding"],
            "starts_at": row["starts_at"], "ends_at": row["ends_at"], "all_communes": bool(row["all_communes"]),
            "warning": {"id": row["warning_id"], "version": row["warning_version"], "title": row["title"],
                        "accented": row["accented"], "khong_dau": row["khong_dau"]}}


def for_gateway_since(db: Database, gateway_id: str, seq: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The campaigns addressed to ``gateway_id`` changed after ``seq``, and the last number."""
    rows = list(db.query(f"SELECT c.* FROM hub_campaigns c WHERE c.seq > ? AND {_FOR_GATEWAY} ORDER BY c.seq"
                         " LIMIT ?", [seq, gateway_id, limit]))
    return [as_sent(row) for row in rows], (rows[-1]["seq"] if rows else seq)


def for_gateway(db: Database, gateway_id: str) -> list[dict[str, Any]]:
    """Every campaign addressed to ``gateway_id`` (the USB file carries them all)."""
    return [as_sent(row) for row in db.query(f"SELECT c.* FROM hub_campaigns c WHERE {_FOR_GATEWAY}"
                                             " ORDER BY c.seq", [gateway_id])]


# -- progress, from the heartbeats ---------------------------------------------------------------

def _count(value: Any, high: int = COUNT_MAX) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high else None


def take_progress(db: Database, gateway_id: str, section: Any, *, reported_at: datetime, now: datetime) -> int:
    """Keep a heartbeat's ``campaigns`` section: each item's counts for its campaign and this
    gateway, when the campaign is addressed to it and the word is not older than the one held.
    A malformed item is skipped (a heartbeat is never refused for it). Returns items kept."""
    if not isinstance(section, dict) or not isinstance(section.get("items"), list):
        return 0
    price = _count(section.get("price_per_part"), PRICE_MAX)
    reported, received = utcnow_iso(reported_at), utcnow_iso(now)
    kept = 0
    with write_transaction(db):
        for item in section["items"][:200]:
            if not isinstance(item, dict) or _count(item.get("id"), 2**62) is None:
                continue
            if item.get("status") not in STATUSES:
                continue
            counts = [_count(item.get(key, 0)) for key in COUNTS]
            if any(c is None for c in counts):
                continue
            held = item.get("held")
            held = held[:HELD_MAX] if isinstance(held, str) else None
            addressed = db.execute(f"SELECT 1 FROM hub_campaigns c WHERE c.id = ? AND {_FOR_GATEWAY}",
                                   (item["id"], gateway_id)).fetchone()
            if addressed is None:
                continue
            cur = db.conn.execute(
                "INSERT INTO hub_campaign_progress (campaign_id, gateway_id, status, held, recipients, pending, queued,"
                " sent, delivered, failed, unknown, skipped, cancelled, parts, price_per_part, reported_at,"
                " received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(campaign_id, gateway_id) DO UPDATE SET status=excluded.status, held=excluded.held,"
                " recipients=excluded.recipients, pending=excluded.pending, queued=excluded.queued,"
                " sent=excluded.sent, delivered=excluded.delivered, failed=excluded.failed,"
                " unknown=excluded.unknown, skipped=excluded.skipped, cancelled=excluded.cancelled,"
                " parts=excluded.parts, price_per_part=excluded.price_per_part, reported_at=excluded.reported_at,"
                " received_at=excluded.received_at WHERE excluded.reported_at >= hub_campaign_progress.reported_at",
                (item["id"], gateway_id, item["status"], held, *counts, _count(item.get("parts"), PARTS_MAX), price,
                 reported, received))
            kept += cur.rowcount
    return kept


# -- the page ------------------------------------------------------------------------------------

def get(db: Database, campaign_id: int) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM hub_campaigns WHERE id=?", [campaign_id]), None)


def listing(db: Database, limit: int = 200) -> list[dict[str, Any]]:
    """Campaigns, newest window first, with their chosen communes."""
    rows = list(db.query("SELECT * FROM hub_campaigns ORDER BY starts_at DESC, id DESC LIMIT ?", [limit]))
    for row in rows:
        row["communes"] = communes_of(db, row["id"])
    return rows


def communes_of(db: Database, campaign_id: int) -> list[str]:
    return [g for (g,) in db.execute("SELECT gateway_id FROM hub_campaign_communes WHERE campaign_id=?"
                                     " ORDER BY gateway_id", (campaign_id,)).fetchall()]


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def overview(db: Database, campaign: dict[str, Any], known: list[str], now: datetime) -> dict[str, Any]:
    """One row per commune (its newest word, what the page should call it, the cost at its
    own price per part) and the total."""
    progress = {row["gateway_id"]: row for row in db.query(
        "SELECT * FROM hub_campaign_progress WHERE campaign_id=?", [campaign["id"]])}
    addressed = known if campaign["all_communes"] else communes_of(db, campaign["id"])
    starts, ends = _moment(campaign["starts_at"]), _moment(campaign["ends_at"])
    rows = []
    total = dict.fromkeys((*COUNTS, "cost", "spent"), 0)
    for gateway_id in sorted(set(addressed) | set(progress)):
        word = progress.get(gateway_id)
        row: dict[str, Any] = {"gateway_id": gateway_id, **dict.fromkeys(COUNTS, 0), "parts": None, "price": None,
                               "held": None, "reported_at": None, "cost": None, "spent": None}
        if word is not None:
            row.update({k: word[k] for k in COUNTS}, parts=word["parts"], price=word["price_per_part"],
                       held=word["held"], reported_at=word["reported_at"])
        row["state"] = _state(campaign, word, starts, ends, now)
        if row["parts"] is not None and row["price"] is not None:
            row["cost"] = row["recipients"] * row["parts"] * row["price"]
            row["spent"] = (row["sent"] + row["delivered"] + row["unknown"]) * row["parts"] * row["price"]
        for key in total:
            total[key] += row[key] or 0
        rows.append(row)
    return {"rows": rows, "total": total, "missed": sum(r["state"] == "missed" for r in rows)}


def _state(campaign: dict[str, Any], word: dict[str, Any] | None, starts: datetime, ends: datetime,
           now: datetime) -> str:
    """What the page calls a commune's part: its own word, or "missed" when the window ended
    without progress, "waiting" before the window, "no_news" inside it with nothing heard."""
    reached = word is not None and (word["sent"] + word["delivered"] + word["failed"] + word["unknown"]) > 0
    if word is None or (not reached and word["status"] == "scheduled"):
        if campaign["status"] == "cancelled":
            return "cancelled"
        if now >= ends:
            return "missed"
        return "waiting" if now < starts else ("scheduled" if word is not None else "no_news")
    return word["status"]
