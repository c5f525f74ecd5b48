"""The send side as a table: what to send, each part's fate, retries with back-off.

Anything that wants an SMS sent inserts a row with ``enqueue`` (the router, later the web
page and broadcasts); only the modem worker sends. Each message is planned into PDUs once,
at enqueue time, so a retry of part 3 sends exactly the same bytes and parts 1-2 are not
sent again. A part is marked sent only after the modem answered ``+CMGS`` (rule 2): a crash
in between leaves it queued, so it is sent again at most once.

Broadcasts are the exception (rule 4): a broadcast part that was in the modem when the
gateway died is marked ``unknown`` instead of being sent again, so nobody gets a warning
twice. That is why a worker claims each part before ``AT+CMGS`` (``next_due(..., worker=)``)
and settles leftover claims when it starts (``recover_claims``). The claims also let several
modem workers share one outbox: a message belongs to the worker that sent its first part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from gateway import backoff
from gateway.sms import pdu as pdu_codec
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau as strip_diacritics
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

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
    kind: str = ""


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
    parts = plan(body)  # planned once: the row says its parts, the PDUs are cut from the same plan
    if parts.count > max_parts:
        body = _cut_to_parts(body, max_parts)
        parts = plan(body)
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        cur = db.conn.execute(
            "INSERT INTO outbox (created_at, number, text, kind, auto, priority, in_reply_to, encoding,"
            " parts_total, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (now_iso, number, body, kind, int(auto), priority, in_reply_to, parts.encoding, parts.count, now_iso),
        )
        outbox_id = int(cur.lastrowid)
        # The concatenation reference is the row's id: known only once the row is in.
        pdus = pdu_codec.encode_submit(number, body, reference=0, concat_ref=outbox_id % 256, segment_plan=parts)
        db.conn.executemany(
            "INSERT INTO outbox_parts (outbox_id, seq, pdu, tpdu_length) VALUES (?,?,?,?)",
            [(outbox_id, i + 1, p.hex, p.tpdu_length) for i, p in enumerate(pdus)],
        )
    return outbox_id


def _cut_to_parts(text: str, max_parts: int) -> str:
    """The longest start of ``text`` that fits ``max_parts`` with a cut marker after it.

    The marker keeps the text's alphabet: "…" is not GSM-7, and adding it to a GSM-7 text
    would turn every part into UCS-2 and more than double the count.
    """
    full = plan(text)
    marker = "…" if full.encoding == "ucs2" else "..."
    body = "".join(full.parts[:max_parts])
    while body and plan(body + marker).count > max_parts:
        body = body[:-1]
    return body + marker


def next_due(db: Database, now: datetime, worker: str | None = None,
             kinds: frozenset[str] | None = None) -> DuePart | None:
    """The first unsent part of the most urgent due message (replies before broadcasts).

    With ``worker`` (one name per modem worker) the part is also claimed, in the same
    transaction, right before the modem is asked to send it: the message belongs to that
    worker from then on (all parts of one SMS leave through one modem, and two workers never
    send the same part), and a part still claimed at start-up was in the modem when the
    gateway died (see ``recover_claims``).

    ``kinds``: only messages of these kinds, or already started (the SIM's pacing caps hold
    the others back: ``gateway.sim.pacing``); None: any.
    """
    now_iso = utcnow_iso(now)
    if worker is None:
        row = db.execute(_DUE_SQL.format(claim=_kinds_sql(kinds)), (now_iso, *sorted(kinds or ()))).fetchone()
        return DuePart(*row) if row else None
    with write_transaction(db):
        return _claim_next(db, now_iso, worker, kinds)


def _kinds_sql(kinds: frozenset[str] | None) -> str:
    if kinds is None:
        return ""
    return f" AND (o.parts_sent > 0 OR o.kind IN ({', '.join('?' for _ in kinds) or 'NULL'}))"


def _claim_next(db: Database, now_iso: str, worker: str, kinds: frozenset[str] | None = None) -> DuePart | None:
    row = db.execute(
        _DUE_SQL.format(claim=" AND (o.claimed_by IS NULL OR o.claimed_by = ?)" + _kinds_sql(kinds)),
        (now_iso, worker, *sorted(kinds or ())),
    ).fetchone()
    if row is None:
        return None
    part = DuePart(*row)
    db.conn.execute("UPDATE outbox SET claimed_by=? WHERE id=?", (worker, part.outbox_id))
    db.conn.execute("UPDATE outbox_parts SET claimed_by=?, claimed_at=? WHERE id=?", (worker, now_iso, part.part_id))
    return part


_DUE_SQL = (
    "SELECT p.id, o.id, p.seq, o.parts_total, o.number, p.pdu, p.tpdu_length, o.attempts, o.kind"
    " FROM outbox o JOIN outbox_parts p ON p.outbox_id = o.id AND p.status = 'queued'"
    " WHERE o.status = 'queued' AND o.next_attempt_at <= ?{claim}"
    " ORDER BY o.priority, o.next_attempt_at, o.id, p.seq LIMIT 1"
)

#: Kinds sent at most once: a part in doubt after a crash is not sent again (DESIGN.md rule
#: 4: a broadcast never reaches one person twice). Every other kind is sent again (rule 2).
AT_MOST_ONCE_KINDS = frozenset({"broadcast"})
IN_DOUBT = "in doubt: the gateway stopped while the modem was sending a part; not sent again"


def recover_claims(db: Database, now: datetime, worker: str | None = None) -> tuple[int, int]:
    """Settle the claims a stopped worker left (``worker=None``: every worker's).

    Call it when a worker starts, before it sends (and, for all workers, once at start-up
    before any starts). A part still claimed was handed to the modem, and the gateway died
    before the answer was recorded: it may or may not have gone out. Replies are sent again
    (at most one duplicate, rule 2); broadcast parts are marked ``unknown`` and not resent.
    A message none of whose parts went out is released for any worker. Returns
    (parts released to send again, parts left in doubt).
    """
    who, args = ("", ()) if worker is None else (" AND p.claimed_by = ?", (worker,))
    now_iso = utcnow_iso(now)
    resend = doubt = 0
    with write_transaction(db):
        rows = db.execute(
            "SELECT p.id, p.outbox_id, o.kind FROM outbox_parts p JOIN outbox o ON o.id = p.outbox_id"
            f" WHERE p.claimed_by IS NOT NULL AND p.status = 'queued'{who}",
            args,
        ).fetchall()
        for part_id, outbox_id, kind in rows:
            if kind in AT_MOST_ONCE_KINDS:
                doubt += 1
                db.conn.execute(
                    "UPDATE outbox_parts SET status='unknown', claimed_by=NULL, claimed_at=NULL WHERE id=?",
                    (part_id,),
                )
                left, total = db.execute(
                    "SELECT SUM(status = 'queued'), COUNT(*) FROM outbox_parts WHERE outbox_id=?", (outbox_id,)
                ).fetchone()
                db.conn.execute(
                    "UPDATE outbox SET parts_sent=?, last_error=?, status=CASE WHEN ? THEN 'sent' ELSE status END,"
                    " sent_at=CASE WHEN ? THEN ? ELSE sent_at END WHERE id=? AND status='queued'",
                    (total - left, IN_DOUBT, int(left == 0), int(left == 0), now_iso, outbox_id),
                )
            else:
                resend += 1
                db.conn.execute("UPDATE outbox_parts SET claimed_by=NULL, claimed_at=NULL WHERE id=?", (part_id,))
        owner = "" if worker is None else " AND claimed_by = ?"
        db.conn.execute(
            f"UPDATE outbox SET claimed_by=NULL WHERE claimed_by IS NOT NULL AND status='queued'"
            f" AND parts_sent=0{owner}",
            args,
        )
    return resend, doubt


def queued_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM outbox WHERE status = 'queued'").fetchone()[0]


def mark_part_sent(db: Database, part: DuePart, mr: int, now: datetime, *,
                   claim_next_for: str | None = None, kinds: frozenset[str] | None = None) -> DuePart | None:
    """Record +CMGS for one part; the message is sent when its last part is.

    ``claim_next_for``: also claim the next due part for that worker, in the same (durable)
    transaction, and return it: one commit per part instead of two, so the modem waits less.
    """
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        db.conn.execute(
            "UPDATE outbox_parts SET status='sent', mr=?, sent_at=?, claimed_by=NULL, claimed_at=NULL"
            " WHERE id=? AND status='queued'",
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
        return _claim_next(db, now_iso, claim_next_for, kinds) if claim_next_for else None


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
    delay = backoff.delay(attempts, retry_base, retry_max)
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
        # The part is back from the modem. A message none of whose parts went out may be
        # tried by another modem; one half sent stays with this one (a phone joins the
        # parts of a long SMS only when they come from the same number).
        db.conn.execute("UPDATE outbox_parts SET claimed_by=NULL, claimed_at=NULL WHERE id=?", (part.part_id,))
        db.conn.execute("UPDATE outbox SET claimed_by=NULL WHERE id=? AND parts_sent=0", (part.outbox_id,))
        if give_up:
            db.conn.execute(
                "UPDATE outbox_parts SET status='failed' WHERE outbox_id=? AND status='queued'", (part.outbox_id,)
            )
    return give_up


def release(db: Database, part: DuePart, why: str) -> None:
    """The line refused the part, not the message (``gateway.sim.line``): it goes back to the
    queue as it was, no attempt counted, with the reason in ``last_error`` for the page."""
    with write_transaction(db):
        db.conn.execute("UPDATE outbox SET last_error=? WHERE id=?", (why, part.outbox_id))
        db.conn.execute("UPDATE outbox_parts SET claimed_by=NULL, claimed_at=NULL WHERE id=?", (part.part_id,))
        db.conn.execute("UPDATE outbox SET claimed_by=NULL WHERE id=? AND parts_sent=0", (part.outbox_id,))


def apply_status_report(db: Database, recipient: str, reference: int, status: int | None, now_iso: str,
                        submitted: datetime | None = None) -> None:
    """Mark the sent part this report is about as delivered or failed.

    TP-MR wraps at 256, so several parts to one number (the duty officer's) can share it. The
    report's TP-SCTS (``submitted``: when the SMS centre took the part) picks the part sent
    closest to that moment (within 2 s counts as equally close, the stamp has whole seconds);
    among those, one still waiting for its report, the oldest first. Without a stamp: the newest,
    still waiting first. The inbox calls this inside its own transaction.
    """
    if submitted is not None:
        order = ("CAST(abs(julianday(p.sent_at) - julianday(?)) * 86400 / 2 AS INTEGER),"
                 " p.status = 'sent' DESC, p.sent_at ASC")
        params: tuple = (reference, recipient, submitted.astimezone(UTC).isoformat())
    else:
        order, params = "p.status = 'sent' DESC, p.sent_at DESC", (reference, recipient)
    row = db.execute(
        "SELECT p.id, p.outbox_id FROM outbox_parts p JOIN outbox o ON o.id = p.outbox_id"
        " WHERE p.mr = ? AND o.number = ? AND p.status IN ('sent', 'delivered')"
        f" ORDER BY {order} LIMIT 1",
        params,
    ).fetchone()
    if row is None:
        log.info("status report for unknown message reference %s", reference)
        return
    part_id, outbox_id = row
    status = status or 0
    delivered = status < 0x20  # 27.005/23.040: 0x00-0x1F completed; others temporary or permanent failure
    final_failure = status >= 0x40
    db.conn.execute(
        "UPDATE outbox_parts SET report_status=?, reported_at=?, status=? WHERE id=?",
        (status, now_iso, "delivered" if delivered else ("failed" if final_failure else "sent"), part_id),
    )
    if delivered:
        remaining = db.execute(
            "SELECT COUNT(*) FROM outbox_parts WHERE outbox_id=? AND status != 'delivered'", (outbox_id,)
        ).fetchone()[0]
        if remaining == 0:
            db.conn.execute(
                "UPDATE outbox SET status='delivered', delivered_at=? WHERE id=? AND status='sent'",
                (now_iso, outbox_id),
            )
    elif final_failure:
        db.conn.execute(
            "UPDATE outbox SET last_error=? WHERE id=?",
            (f"network reports not delivered (status {status:#04x})", outbox_id),
        )


def cancel_unstarted(db: Database, outbox_ids: list[int], why: str) -> None:
    """Cancel messages no modem has started (the caller checked ``parts_sent = 0``, no claim)."""
    db.conn.executemany("UPDATE outbox SET status='cancelled', last_error=? WHERE id=?",
                        [(why, outbox_id) for outbox_id in outbox_ids])


def cancel_unsent(db: Database, outbox_id: int, why: str) -> bool:
    """Cancel one message if no part of it went out or is in a modem (call inside a transaction)."""
    return bool(db.conn.execute(
        "UPDATE outbox SET status='cancelled', last_error=? WHERE id=? AND status='queued' AND parts_sent=0"
        " AND claimed_by IS NULL", (why, outbox_id)).rowcount)


def hold_unstarted(db: Database, kind: str, until_iso: str) -> None:
    """Messages of ``kind`` that no modem has started wait until ``until_iso`` (quiet hours)."""
    db.conn.execute(
        "UPDATE outbox SET next_attempt_at=? WHERE status='queued' AND kind=? AND parts_sent=0"
        " AND claimed_by IS NULL AND next_attempt_at < ?",
        (until_iso, kind, until_iso),
    )


def unstarted(db: Database, outbox_ids: list[int]) -> list[int]:
    """Those of ``outbox_ids`` still queued that no modem has started or claimed (may be cancelled)."""
    found: list[int] = []
    for chunk in _chunks(outbox_ids):
        found += [row[0] for row in db.execute(
            f"SELECT id FROM outbox WHERE id IN ({_marks(chunk)}) AND status = 'queued' AND parts_sent = 0"
            " AND claimed_by IS NULL", chunk).fetchall()]
    return found


def unsent_parts(db: Database, kind: str) -> int:
    """Parts of queued messages of ``kind`` not sent yet (the broadcast window's fill)."""
    return db.execute(
        "SELECT COALESCE(SUM(parts_total - parts_sent), 0) FROM outbox WHERE status='queued' AND kind=?", (kind,),
    ).fetchone()[0]


def parts_unsent_of(db: Database, outbox_ids: list[int]) -> int:
    """Parts not sent yet of those of ``outbox_ids`` still queued (a running broadcast's rest)."""
    return sum(db.execute(
        f"SELECT COALESCE(SUM(parts_total - parts_sent), 0) FROM outbox WHERE status = 'queued'"
        f" AND id IN ({_marks(chunk)})", chunk).fetchone()[0] for chunk in _chunks(outbox_ids))


def outcomes(db: Database, outbox_ids: list[int]) -> dict[int, dict]:
    """Each message's fate so far: ``status``, ``in_doubt`` (a part was in the modem when the
    gateway died: sent or not, nobody knows), ``sent_at``, ``delivered_at``, ``last_error``."""
    found: dict[int, dict] = {}
    for chunk in _chunks(outbox_ids):
        for row in db.query(
            "SELECT o.id, o.status, o.sent_at, o.delivered_at, o.last_error,"
            " EXISTS (SELECT 1 FROM outbox_parts p WHERE p.outbox_id = o.id AND p.status = 'unknown') AS in_doubt"
            f" FROM outbox o WHERE o.id IN ({_marks(chunk)})", chunk):
            row["in_doubt"] = bool(row["in_doubt"])
            found[row.pop("id")] = row
    return found


def messages(db: Database, outbox_ids: list[int]) -> dict[int, dict]:
    """Whole outbox rows by id (a tip's replies with their delivery state)."""
    found: dict[int, dict] = {}
    for chunk in _chunks(outbox_ids):
        found.update((row["id"], row) for row in db.query(
            f"SELECT * FROM outbox WHERE id IN ({_marks(chunk)})", chunk))
    return found


def last_auto_reply(db: Database, number: str) -> str | None:
    """The text of the newest automatic reply to ``number`` (a bot echoing it back is silenced)."""
    row = db.execute("SELECT text FROM outbox WHERE number=? AND auto=1 ORDER BY id DESC LIMIT 1", (number,)).fetchone()
    return row[0] if row else None


def replies_to(db: Database, inbox_id: int) -> list[dict]:
    """The messages queued in answer to one inbound message, in order."""
    return list(db.query(
        "SELECT id, text, kind, parts_total, encoding, status FROM outbox WHERE in_reply_to = ? ORDER BY id",
        [inbox_id]))


def mark_dry_run(db: Database, inbox_id: int) -> None:
    """The replies to ``inbox_id`` are the simulator's dry run (its sandbox file): status
    ``dry_run``, never sent, even by a modem worker pointed at that file by mistake."""
    with write_transaction(db):
        db.conn.execute(
            "UPDATE outbox_parts SET status = 'dry_run' WHERE outbox_id IN"
            " (SELECT id FROM outbox WHERE in_reply_to = ?)", (inbox_id,))
        db.conn.execute("UPDATE outbox SET status = 'dry_run' WHERE in_reply_to = ?", (inbox_id,))


def forget_number(db: Database, number: str) -> None:
    """Delete every message to ``number`` (the dry run's "start again", in its sandbox only)."""
    with write_transaction(db):
        db.conn.execute(
            "DELETE FROM outbox_parts WHERE outbox_id IN (SELECT id FROM outbox WHERE number = ?)", (number,))
        db.conn.execute("DELETE FROM outbox WHERE number = ?", (number,))


CHUNK = 500  # SQLite host parameters per IN (...)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i: i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _marks(chunk: list[int]) -> str:
    return ",".join("?" * len(chunk))


def auto_replies_since(db: Database, number: str, since: datetime) -> int:
    """Automatic replies queued for this number since a moment (the flood guard's count)."""
    return db.execute(
        "SELECT COUNT(*) FROM outbox WHERE number=? AND created_at >= ? AND auto = 1",
        (number, utcnow_iso(since)),
    ).fetchone()[0]


# -- reads for the page ------------------------------------------------------------------------

def parts_sent_since(db: Database, since: datetime, *, except_kinds: frozenset[str] = frozenset()) -> int:
    """SMS parts the modems sent since a moment (each costs the SIM), ``except_kinds`` left out."""
    marks = ", ".join("?" for _ in except_kinds)
    where = f" AND o.kind NOT IN ({marks})" if except_kinds else ""
    return int(db.execute(
        "SELECT COUNT(*) FROM outbox_parts p JOIN outbox o ON o.id = p.outbox_id"
        f" WHERE p.sent_at >= ? AND p.status IN ('sent', 'delivered', 'failed'){where}",
        (utcnow_iso(since), *sorted(except_kinds)),
    ).fetchone()[0])


def message_state(db: Database, outbox_id: int) -> tuple[str, str | None] | None:
    """(status, sent_at) of one outbound message, None when there is no such row."""
    row = db.execute("SELECT status, sent_at FROM outbox WHERE id=?", (outbox_id,)).fetchone()
    return (row[0], row[1]) if row else None


def failed_count(db: Database) -> int:
    """Messages the modem gave up on (a person should look)."""
    return int(db.execute("SELECT count(*) FROM outbox WHERE status = 'failed'").fetchone()[0])


def recent(db: Database, limit: int = 20) -> list[dict]:
    """The newest outbound messages, newest first."""
    return list(db.query(
        "SELECT id, created_at, sent_at, number, text, kind, status, parts_total, parts_sent,"
        " last_error FROM outbox ORDER BY id DESC LIMIT ?",
        [limit],
    ))
