"""Missed calls ("nháy máy"): a villager with no credit rings and hangs up; that is free.

The modem worker hangs every incoming call up without answering (``AT+CHUP`` or ``ATH`` per
profile) and files it here (``record``: a ``calls`` row, status ``new``), with the caller's
number when the modem gave one (``+CLIP``). The SIM watcher then handles each new row in one
transaction (``handle``), as ``calls.on_missed`` says:

- ``menu`` (default): the main menu by SMS, through the outbox (kind ``missed_call``, a reply:
  never capped, sent before broadcasts), at most once per number per hour and within the
  router's per-number limit; hidden numbers, short codes and landlines get nothing;
- ``alert``: the call goes on the officers' call-back list (the dashboard), masked like any
  tipster's number, until an officer marks it called back;
- ``both``; ``none`` (only logged).

A call row and the outbox row of its menu are written together, so a crash neither loses the
answer nor sends it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from gateway import outbox, phone
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

KIND = "missed_call"
ONE_MENU_PER = timedelta(hours=1)
ACTIONS = ("menu", "alert", "both", "none")
CALLBACK_KINDS = ("mobile", "landline", "international")


def record(db: Database, modem: str, raw_number: str, hidden: bool, now: datetime) -> int:
    """File one call the modem hung up; its id. ``raw_number`` is empty when the modem gave none."""
    if raw_number:
        number = phone.normalise(raw_number)
        value, kind = number.value, number.kind
    else:
        value, kind = None, "hidden" if hidden else "unknown"
    with write_transaction(db):
        cur = db.conn.execute("INSERT INTO calls (modem, at, number, number_kind) VALUES (?,?,?,?)",
                              (modem, utcnow_iso(now), value, kind))
    log.info("missed call from %s", phone.mask(value) if value else kind)
    return int(cur.lastrowid)


def handle(db: Database, now: datetime, on_missed: str, menu_for: Callable[[Database, str, datetime], str | None],
           *, max_parts: int = 10, replies_per_hour: int = 20) -> int:
    """Handle every new call (see the module docstring); how many."""
    rows = db.execute("SELECT id, number, number_kind FROM calls WHERE status='new' ORDER BY id").fetchall()
    for call_id, number, kind in rows:
        with write_transaction(db):
            action, outbox_id = "none", None
            if on_missed in ("menu", "both"):
                action = "not_a_mobile" if kind != "mobile" else "paced" if _answered_recently(
                    db, number, now, call_id) or outbox.auto_replies_since(
                    db, number, now - timedelta(hours=1)) >= replies_per_hour else "menu"
                if action == "menu":
                    text = menu_for(db, number, now)
                    if text:
                        outbox_id = outbox.enqueue(db, number, text, kind=KIND, now=now, khong_dau=True,
                                                   max_parts=max_parts)
                    else:
                        action = "no_menu"
            callback = "pending" if on_missed in ("alert", "both") and kind in CALLBACK_KINDS else None
            db.conn.execute("UPDATE calls SET status='done', action=?, outbox_id=?, callback=? WHERE id=?"
                            " AND status='new'", (action, outbox_id, callback, call_id))
    return len(rows)


def _answered_recently(db: Database, number: str, now: datetime, call_id: int) -> bool:
    return db.execute("SELECT 1 FROM calls WHERE number=? AND outbox_id IS NOT NULL AND at >= ? AND id != ? LIMIT 1",
                      (number, utcnow_iso(now - ONE_MENU_PER), call_id)).fetchone() is not None


def _dicts(db: Database, sql: str, args: Any = ()) -> list[dict[str, Any]]:
    return list(db.query(sql, args))


def recent(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest calls, newest first (numbers as stored: the page masks them)."""
    return _dicts(db, "SELECT * FROM calls ORDER BY id DESC LIMIT ?", (limit,))


def callbacks(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Calls waiting for an officer to ring back, oldest first."""
    return _dicts(db, "SELECT * FROM calls WHERE callback='pending' ORDER BY id LIMIT ?", (limit,))


def get(db: Database, call_id: int) -> dict[str, Any] | None:
    found = _dicts(db, "SELECT * FROM calls WHERE id=?", (call_id,))
    return found[0] if found else None


def called_back(db: Database, call_id: int, by: str, now: datetime) -> bool:
    """An officer rang the villager back: the call leaves the list. True if it was on it."""
    with write_transaction(db):
        return bool(db.conn.execute(
            "UPDATE calls SET callback='done', callback_at=?, callback_by=? WHERE id=? AND callback='pending'",
            (utcnow_iso(now), by, call_id)).rowcount)
