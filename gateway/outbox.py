"""The send side as a table: what to send, each part's fate, retries with back-off.

Anything that wants an SMS sent inserts a row with ``enqueue`` (the router, later the web
page and broadcasts); only the modem worker sends. Each message is planned into PDUs once,
at enqueue time, so a retry of part 3 sends exactly the same bytes and parts 1-2 are not
sent again. A part is marked sent only after the modem answered ``+CMGS`` (rule 2): a crash
in between leaves it queued, so it is sent again at most once.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway.sms import pdu as pdu_codec
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau as strip_diacritics
from gateway.storage import utcnow_iso, write_transaction

AUTO_KINDS = ("menu", "help", "tip_ack", "tip_prompt")


@dataclass(frozen=True, slots=True)
class DuePart:
    """The next part the modem should send."""

    part_id: int
    outbox_id: int
    seq: int
    parts_total: int
    number: str
    pdu: str
    tpdu_length: int
    attempts: int


def enqueue(
    db: Database,
    number: str,
    text: str,
    *,
    kind: str,
    now: datetime,
    auto: bool = True,
    priority: int = 0,
    in_reply_to: int | None = None,
    khong_dau: bool = False,
    max_parts: int = 10,
) -> int:
    """Queue one SMS (planned into parts now); call inside or outside a transaction.

    A text longer than ``max_parts`` parts is cut at the last whole part with "…", since a
    villager's phone may not join more and the commune pays for each one.
    """
    body = strip_diacritics(text) if khong_dau else text
    now_iso = utcnow_iso(now)
    with db.atomic():
        cur = db.conn.execute(
            "INSERT INTO outbox (created_at, number, text, kind, auto, priority, in_reply_to, encoding,"
            " parts_total, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (now_iso, number, body, kind, int(auto), priority, in_reply_to, "", 0, now_iso),
        )
        outbox_id = int(cur.lastrowid)
        pdus = pdu_codec.encode_submit(number, body, reference=0, concat_ref=outbox_id % 256)
        if len(pdus) > max_parts:
            body = _cut_to_parts(body, max_parts)
            pdus = pdu_codec.encode_submit(number, body, reference=0, concat_ref=outbox_id % 256)
        encoding = plan(body).encoding
        db.conn.execute(
            "UPDATE outbox SET text=?, encoding=?, parts_total=? WHERE id=?",
            (body, encoding, len(pdus), outbox_id),
        )
        db.conn.executemany(
            "INSERT INTO outbox_parts (outbox_id, seq, pdu, tpdu_length) VALUES (?,?,?,?)",
            [(outbox_id, i + 1, p.hex, p.tpdu_length) for i, p in enumerate(pdus)],
        )
    return outbox_id


def _cut_to_parts(text: str, max_parts: int) -> str:
    parts = plan(text).parts
    return "".join(parts[:max_parts])[:-1] + "…"


def next_due(db: Database, now: datetime) -> DuePart | None:
    """The first unsent part of the most urgent due message (replies before broadcasts)."""
    row = db.execute(
        "SELECT p.id, o.id, p.seq, o.parts_total, o.number, p.pdu, p.tpdu_length, o.attempts"
        " FROM outbox o JOIN outbox_parts p ON p.outbox_id = o.id AND p.status = 'queued'"
        " WHERE o.status = 'queued' AND o.next_attempt_at <= ?"
        " ORDER BY o.priority, o.next_attempt_at, o.id, p.seq LIMIT 1",
        (utcnow_iso(now),),
    ).fetchone()
    return DuePart(*row) if row else None


def queued_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'queued'").fetchone()[0]


def mark_part_sent(db: Database, part: DuePart, mr: int, now: datetime) -> None:
    """Record +CMGS for one part; the message is sent when its last part is."""
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        db.conn.execute(
            "UPDATE outbox_parts SET status='sent', mr=?, sent_at=? WHERE id=? AND status='queued'",
            (mr, now_iso, part.part_id),
        )
        sent = db.execute(
            "SELECT COUNT(*) FROM outbox_parts WHERE outbox_id=? AND status != 'queued'", (part.outbox_id,)
        ).fetchone()[0]
        done = sent >= part.parts_total
        db.conn.execute(
            "UPDATE outbox SET parts_sent=?, status=?, sent_at=CASE WHEN ? THEN ? ELSE sent_at END,"
            " last_error=NULL WHERE id=?",
            (sent, "sent" if done else "queued", int(done), now_iso, part.outbox_id),
        )


def mark_failure(
    db: Database,
    part: DuePart,
    error: str,
    now: datetime,
    *,
    retryable: bool,
    max_attempts: int,
    retry_base: float,
    retry_max: float,
) -> bool:
    """Count a failed attempt; back off with jitter, or give up. Returns True if given up."""
    attempts = part.attempts + 1
    give_up = not retryable or attempts >= max_attempts
    delay = min(retry_max, retry_base * (2 ** (attempts - 1))) * random.uniform(0.8, 1.2)
    with write_transaction(db):
        db.conn.execute(
            "UPDATE outbox SET attempts=?, last_error=?, status=?, next_attempt_at=? WHERE id=?",
            (
                attempts,
                error,
                "failed" if give_up else "queued",
                utcnow_iso(now + timedelta(seconds=delay)),
                part.outbox_id,
            ),
        )
        if give_up:
            db.conn.execute(
                "UPDATE outbox_parts SET status='failed' WHERE outbox_id=? AND status='queued'", (part.outbox_id,)
            )
    return give_up


def auto_replies_since(db: Database, number: str, since: datetime) -> int:
    """Automatic replies queued for this number since a moment (the flood guard's count)."""
    return db.execute(
        "SELECT COUNT(*) FROM outbox WHERE number=? AND created_at >= ? AND auto = 1",
        (number, utcnow_iso(since)),
    ).fetchone()[0]
