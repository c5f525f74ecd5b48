"""A person's requests about their data (``data_requests``): recorded, acknowledged, closed.

Who asked (a name and how to answer them), when it reached the post, what they ask (see,
correct, delete, withdraw consent: one or more), the number looked up for it, and where it
stands: ``open`` → ``acknowledged`` → ``closed`` (with what was done). The deadlines come from
``deadlines``; each step is audited by the page with the request's reference as target.

This module is the only writer of ``data_requests``. Its functions validate what an admin
typed and raise ``RequestError`` (a message for the page, in Vietnamese with ``N_``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlite_utils import Database

from gateway.errors import TinBaoError
from gateway.privacy.deadlines import KINDS, Deadlines, deadlines, urgency
from gateway.storage import utcnow_iso, write_transaction

CHANNELS = ("in_person", "phone", "letter", "sms", "other")
STATUSES = ("open", "acknowledged", "closed")
NAME_MAX_CHARS = 120
CONTACT_MAX_CHARS = 200
NOTE_MAX_CHARS = 2000
OUTCOME_MAX_CHARS = 4000


def N_(message: str) -> str:
    """Marks a message for the translators; the page translates it."""
    return message


class RequestError(TinBaoError):
    """What an admin typed cannot be saved; ``message`` is the Vietnamese source (``N_``)."""

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Request:
    id: int
    received_on: date
    recorded_at: str
    recorded_by: str
    requester: str
    contact: str
    channel: str
    kinds: tuple[str, ...]
    note: str
    number: str | None
    status: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    closed_at: str | None
    closed_by: str | None
    outcome: str | None

    @property
    def reference(self) -> str:
        """What the post and the person call it: ``YC-0007`` (yêu cầu)."""
        return reference_of(self.id)

    @property
    def deadlines(self) -> Deadlines:
        return deadlines(self.received_on, self.kinds)

    def next_deadline(self) -> tuple[str, date] | None:
        """What is due next and by when: ("acknowledge", day) until acknowledged, then
        ("complete", day); None once closed."""
        if self.status == "closed":
            return None
        if self.status == "open":
            return "acknowledge", self.deadlines.acknowledge
        return "complete", self.deadlines.complete

    def urgency(self, today: date) -> str | None:
        """``late``, ``near`` or ``ok`` for the next deadline; None once closed."""
        due = self.next_deadline()
        return None if due is None else urgency(due[1], today)


def reference_of(request_id: int) -> str:
    return f"YC-{request_id:04d}"


def id_of(reference: str) -> int | None:
    """``YC-0007`` (any case, zeros or not) → 7; None when it is not a reference."""
    head, _, number = reference.strip().upper().partition("-")
    return int(number) if head == "YC" and number.isdigit() and len(number) <= 9 else None


_COLUMNS = ("id, received_on, recorded_at, recorded_by, requester, contact, channel, kinds, note, number, status,"
            " acknowledged_at, acknowledged_by, closed_at, closed_by, outcome")


def _request(row: tuple) -> Request:
    values = list(row)
    values[1] = date.fromisoformat(values[1])
    values[7] = tuple(kind for kind in values[7].split(",") if kind)
    return Request(*values)


def _tidy(text: str | None, limit: int) -> str:
    return " ".join((text or "").split())[:limit + 1]


def record(db: Database, *, requester: str, contact: str, channel: str, kinds: Iterable[str],
           received_on: date, note: str = "", by: str, now: datetime, today: date) -> Request:
    """A request as it reached the post. ``today`` (local) bounds ``received_on``: not in the future."""
    requester, contact = _tidy(requester, NAME_MAX_CHARS), _tidy(contact, CONTACT_MAX_CHARS)
    note = (note or "").strip()
    chosen = [kind for kind in KINDS if kind in set(kinds)]
    if not requester:
        raise RequestError(N_("Hãy ghi tên người yêu cầu."))
    if len(requester) > NAME_MAX_CHARS:
        raise RequestError(N_("Tên dài quá %(n)d ký tự."), n=NAME_MAX_CHARS)
    if not contact:
        raise RequestError(N_("Hãy ghi cách liên lạc để trả lời người yêu cầu (địa chỉ, số điện thoại)."))
    if len(contact) > CONTACT_MAX_CHARS:
        raise RequestError(N_("Cách liên lạc dài quá %(n)d ký tự."), n=CONTACT_MAX_CHARS)
    if channel not in CHANNELS:
        raise RequestError(N_("Hãy chọn yêu cầu đến bằng cách nào."))
    if not chosen:
        raise RequestError(N_("Hãy chọn người đó yêu cầu gì (xem, sửa, xoá, rút lại đồng ý)."))
    if len(note) > NOTE_MAX_CHARS:
        raise RequestError(N_("Ghi chú dài quá %(n)d ký tự."), n=NOTE_MAX_CHARS)
    if received_on > today:
        raise RequestError(N_("Ngày nhận yêu cầu không thể sau hôm nay."))
    if (today - received_on).days > 366:
        raise RequestError(N_("Ngày nhận yêu cầu quá xa (hơn một năm trước)."))
    with write_transaction(db):
        cursor = db.conn.execute(
            "INSERT INTO data_requests (received_on, recorded_at, recorded_by, requester, contact, channel, kinds,"
            " note) VALUES (?,?,?,?,?,?,?,?)",
            (received_on.isoformat(), utcnow_iso(now), by, requester, contact, channel, ",".join(chosen), note))
        found = get(db, int(cursor.lastrowid))
    assert found is not None
    return found


def get(db: Database, request_id: int) -> Request | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM data_requests WHERE id = ?", (request_id,)).fetchone()
    return _request(row) if row else None


def listing(db: Database, *, closed: bool = False, limit: int = 200) -> list[Request]:
    """Requests still open (oldest received first), or the closed ones (newest first)."""
    where, order = ("status = 'closed'", "closed_at DESC") if closed else ("status != 'closed'", "received_on, id")
    return [_request(row) for row in db.execute(
        f"SELECT {_COLUMNS} FROM data_requests WHERE {where} ORDER BY {order} LIMIT ?", (limit,))]


def acknowledge(db: Database, request_id: int, *, by: str, now: datetime) -> bool:
    """The person was told their request was received; False when it already was (or is closed)."""
    with write_transaction(db):
        return db.conn.execute(
            "UPDATE data_requests SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ?"
            " WHERE id = ? AND status = 'open'", (utcnow_iso(now), by, request_id)).rowcount == 1


def set_number(db: Database, request_id: int, number: str) -> None:
    """The number (E.164) this request is about, as looked up by an admin (audited by the page)."""
    with write_transaction(db):
        db.conn.execute("UPDATE data_requests SET number = ? WHERE id = ? AND status != 'closed'",
                        (number, request_id))


def close(db: Database, request_id: int, outcome: str, *, by: str, now: datetime) -> bool:
    """Done: what was done, in words (required). A request not yet acknowledged is acknowledged
    by its closing. False when it was closed already."""
    outcome = (outcome or "").strip()
    if not outcome:
        raise RequestError(N_("Hãy ghi đã làm gì cho yêu cầu này trước khi đóng."))
    if len(outcome) > OUTCOME_MAX_CHARS:
        raise RequestError(N_("Kết quả dài quá %(n)d ký tự."), n=OUTCOME_MAX_CHARS)
    stamp = utcnow_iso(now)
    with write_transaction(db):
        return db.conn.execute(
            "UPDATE data_requests SET status = 'closed', closed_at = ?, closed_by = ?, outcome = ?,"
            " acknowledged_at = COALESCE(acknowledged_at, ?), acknowledged_by = COALESCE(acknowledged_by, ?)"
            " WHERE id = ? AND status != 'closed'", (stamp, by, outcome, stamp, by, request_id)).rowcount == 1


def due(db: Database, today: date) -> list[tuple[Request, str, date, str]]:
    """Requests whose next deadline is near or past: (request, what, day, urgency), soonest first."""
    found = []
    for request in listing(db):
        next_due = request.next_deadline()
        if next_due is None:
            continue
        level = urgency(next_due[1], today)
        if level != "ok":
            found.append((request, next_due[0], next_due[1], level))
    return sorted(found, key=lambda item: (item[2], item[0].id))


def closed_before(db: Database, before: str) -> list[int]:
    """Requests closed before ``before`` (``privacy.audit_months``: the retention purge removes them)."""
    return [row[0] for row in db.execute(
        "SELECT id FROM data_requests WHERE status = 'closed' AND closed_at < ? ORDER BY id", (before,))]


def purge(db: Database, request_ids: list[int]) -> int:
    """Delete these closed requests (the retention purge); how many."""
    with write_transaction(db):
        return db.conn.execute(
            "DELETE FROM data_requests WHERE status = 'closed' AND id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(request_ids)),)).rowcount


def as_dict(request: Request) -> dict[str, Any]:
    """A request as plain data (its export to the person)."""
    return {
        "reference": request.reference, "received_on": request.received_on.isoformat(),
        "requester": request.requester, "contact": request.contact, "channel": request.channel,
        "kinds": list(request.kinds), "status": request.status, "acknowledged_at": request.acknowledged_at,
        "closed_at": request.closed_at, "outcome": request.outcome,
    }
