"""Credit and validity: the readings (table ``sim_balance``), when the next is due, the reserve.

A reading is taken by the modem worker (USSD, ``keeper.py``) when one is due: none yet at this
connect, the last older than ``sim.balance_hours``, or asked for (state ``sim_balance_request``:
the page's button, the end of a broadcast, the spending of a running one). An operator's SMS
that states the balance is a reading too (``notices.py``).

The reserve (``sim.reserve``) is money kept for replies to villagers: a broadcast whose cost
would leave less cannot be confirmed (the page asks ``confirm_check``), and a running one is
paused (``control.pause``: resumable, nothing lost, nothing twice) by the SIM watcher when a
reading falls under it (``hold_broadcasts``; table ``sim_holds`` says why on its page).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.sim.ussd import Balance
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

REQUEST_KEY = "sim_balance_request"
HELD_BY = "SIM"  # broadcasts.updated_by of a pause for credit
RETRY_AFTER_FAILURE = timedelta(minutes=10)


def record(db: Database, *, modem: str, now: datetime, source: str, status: str, trigger: str | None = None,
           code: str | None = None, operator: str | None = None, parsed: Balance | None = None,
           text: str | None = None, dcs: int | None = None, error: str | None = None) -> int:
    """Keep one reading (``status``: ok, unreadable, failed, unsupported); its id.

    Inside or outside a transaction (an operator's SMS is read in the router's).
    """
    parsed = parsed or Balance(None, None)
    with write_transaction(db):
        cur = db.conn.execute(
            "INSERT INTO sim_balance (modem, read_at, source, trigger, code, operator, status, balance_vnd,"
            " valid_until, text, dcs, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (modem, utcnow_iso(now), source, trigger, code, operator, status, parsed.balance_vnd,
             parsed.valid_until.isoformat() if parsed.valid_until else None, (text or "")[:500] or None, dcs, error),
        )
    return int(cur.lastrowid)


def request(db: Database, trigger: str, now: datetime) -> None:
    """Ask the modem worker for a reading at its next look (the page, a broadcast, spending)."""
    state.put_json(db, REQUEST_KEY, {"at": utcnow_iso(now), "trigger": trigger}, now)


def pending_request(db: Database) -> dict[str, Any] | None:
    return state.get_json(db, REQUEST_KEY)


def _row(db: Database, sql: str, args: Any = ()) -> dict[str, Any] | None:
    return next(db.query(sql, args), None)


def latest(db: Database, modem: str | None = None) -> dict[str, Any] | None:
    """The newest reading, whatever its outcome (of one modem, or of any)."""
    where, args = (" WHERE modem=?", (modem,)) if modem else ("", ())
    return _row(db, f"SELECT * FROM sim_balance{where} ORDER BY id DESC LIMIT 1", args)


def latest_read(db: Database) -> dict[str, Any] | None:
    """The newest reading that gave an amount (what the page, /healthz and the confirm page use)."""
    return _row(db, "SELECT * FROM sim_balance WHERE status='ok' ORDER BY id DESC LIMIT 1")


def recent(db: Database, limit: int = 10) -> list[dict[str, Any]]:
    """The newest readings of any outcome, newest first (the SIM page)."""
    return list(db.query("SELECT * FROM sim_balance ORDER BY id DESC LIMIT ?", (limit,)))


def readings_since(db: Database, after_id: int) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM sim_balance WHERE id > ? AND status='ok' ORDER BY id", (after_id,)))


def due(db: Database, modem: str, now: datetime, hours: float, *, started: datetime) -> str | None:
    """Why a reading is due now ("start", "schedule", or a request's trigger), or None.

    ``started``: when this connection began. A reading that failed waits before the next try
    (``RETRY_AFTER_FAILURE``, or ``hours`` if shorter); a modem without USSD is not asked
    again on this connection unless someone asks (the page's button).
    """
    asked = pending_request(db)
    last = latest(db, modem)
    if asked is not None and (last is None or last["read_at"] < str(asked.get("at", ""))):
        return str(asked.get("trigger") or "page")
    if last is None:
        return "start"
    if last["read_at"] < utcnow_iso(started):
        last_ok = latest_read(db)
        if last_ok is None or last_ok["read_at"] < utcnow_iso(now - timedelta(hours=hours)):
            return "start"
        return None
    if last["status"] == "unsupported":
        return None
    wait = timedelta(hours=hours) if last["status"] == "ok" else min(RETRY_AFTER_FAILURE, timedelta(hours=hours))
    return "schedule" if last["read_at"] < utcnow_iso(now - wait) else None


# -- the reserve ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Affordability:
    """A broadcast's cost against the last reading: ``allowed`` is False only when known short."""

    balance_vnd: int | None
    read_at: str | None
    cost_vnd: int
    reserve_vnd: int
    left_vnd: int | None

    @property
    def allowed(self) -> bool:
        return self.left_vnd is None or self.left_vnd >= self.reserve_vnd


def confirm_check(db: Database, cost_vnd: int, reserve_vnd: int) -> Affordability:
    """What the confirm page shows and obeys (no reading yet: nothing to refuse on)."""
    last = latest_read(db)
    balance = last["balance_vnd"] if last else None
    return Affordability(balance, last["read_at"] if last else None, cost_vnd, reserve_vnd,
                         None if balance is None else balance - cost_vnd)


def hold_broadcasts(db: Database, reading: dict[str, Any], reserve: int, now: datetime,
                    pause) -> list[int]:
    """A reading under the reserve pauses every running broadcast; their ids.

    ``pause`` is ``gateway.broadcasts.control.pause`` (the broadcasts area's own writer):
    the deliveries not yet with a modem go back to pending, so a resume sends each once.
    """
    if reading["balance_vnd"] is None or reading["balance_vnd"] >= reserve:
        return []
    from gateway.broadcasts import queries

    held = []
    for broadcast_id in queries.live_ids(db):
        # The reason first: a paused broadcast always says why (a crash in between leaves only a
        # reason beside a broadcast still running, which the next reading pauses).
        with write_transaction(db):
            hold_id = db.conn.execute(
                "INSERT INTO sim_holds (broadcast_id, balance_id, held_at, balance_vnd, reserve) VALUES (?,?,?,?,?)",
                (broadcast_id, reading["id"], utcnow_iso(now), reading["balance_vnd"], reserve)).lastrowid
        try:
            pause(db, broadcast_id, by=HELD_BY, now=now)
        except Exception:  # one broadcast that cannot pause must not keep the others running
            log.exception("could not pause broadcast %s for credit", broadcast_id)
            with write_transaction(db):
                db.conn.execute("DELETE FROM sim_holds WHERE id=?", (hold_id,))
            continue
        held.append(broadcast_id)
    if held:
        log.warning("credit %s VND is under sim.reserve %s VND: broadcast(s) %s paused", reading["balance_vnd"],
                    reserve, held)
    return held


def hold_of(db: Database, broadcast_id: int) -> dict[str, Any] | None:
    """The last pause for credit of a broadcast (for its page), or None."""
    return _row(db, "SELECT * FROM sim_holds WHERE broadcast_id=? ORDER BY id DESC LIMIT 1",
                           (broadcast_id,))


def days_left(valid_until: str | None, today: date) -> int | None:
    if not valid_until:
        return None
    try:
        return (date.fromisoformat(valid_until) - today).days
    except ValueError:
        return None
