"""The receive side: commit what the SIM holds, then let it be deleted.

``commit_batch`` takes every PDU listed from the modem's store and, in one durable
transaction, stores it raw (``pdus``), decodes it, joins the parts of long SMS (``parts``,
kept in the database so a restart between parts loses nothing), applies delivery reports to
the outbox and writes whole messages to ``inbox`` for the router. It returns the slots that
are now safe to delete from the SIM: rule 1 of DESIGN.md lives here.

A PDU already committed from the same slot (the gateway died between commit and delete) is
recognised and not stored twice. A PDU that cannot be decoded is kept raw with its error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from gateway import backoff, outbox, phone
from gateway.errors import PduError
from gateway.modem.types import StoredPdu
from gateway.sms import pdu as pdu_codec
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

MISSING_PART = "[…]"


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one commit did: slots safe to delete, how many new messages reached the inbox."""

    deletable: list[str]
    pdu_ids: list[int]
    new_messages: int
    duplicates: int
    reports: int


def commit_batch(db: Database, stored: Iterable[StoredPdu], now: datetime) -> BatchResult:
    """Store every listed PDU exactly once; one transaction for the whole batch."""
    deletable: list[str] = []
    pdu_ids: list[int] = []
    new_messages = duplicates = reports = 0
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        for item in stored:
            known = db.execute(
                "SELECT id FROM pdus WHERE slot = ? AND pdu = ?", (item.slot, item.pdu)
            ).fetchone()
            if known:
                duplicates += 1
                deletable.append(item.slot)
                pdu_ids.append(known[0])
                continue
            pdu_id, made, was_report = _store_one(db, item, now_iso)
            new_messages += made
            reports += was_report
            deletable.append(item.slot)
            pdu_ids.append(pdu_id)
    return BatchResult(deletable, pdu_ids, new_messages, duplicates, reports)


def forget_slots(db: Database, pdu_ids: list[int]) -> None:
    """Record that these PDUs left the SIM, so their slots can hold new messages."""
    if not pdu_ids:
        return
    with write_transaction(db):
        db.conn.executemany("UPDATE pdus SET slot = NULL WHERE id = ?", [(i,) for i in pdu_ids])


def _store_one(db: Database, item: StoredPdu, now_iso: str) -> tuple[int, int, int]:
    """Store one PDU and what follows from it; returns (pdu id, new inbox rows, 1 if report)."""
    try:
        decoded = pdu_codec.decode(item.pdu)
    except PduError as exc:
        pdu_id = _insert_pdu(db, item, now_iso, kind="undecodable", sender=None, error=str(exc), status="done")
        _insert_inbox(
            db, now_iso, sender="?", sender_kind="invalid", text=None, encoding=None, kind="undecodable",
            pdu_id=pdu_id, sent_at=None, status="done", handler="undecodable", last_error=str(exc),
        )
        log.warning("stored undecodable PDU %s from %s: %s", pdu_id, item.slot, exc)
        return pdu_id, 1, 0

    if decoded.type == "SMS-STATUS-REPORT":
        pdu_id = _insert_pdu(db, item, now_iso, kind="status-report", sender=decoded.number, error=None, status="done")
        outbox.apply_status_report(db, phone.normalise(decoded.number or "").value, decoded.reference,
                                   decoded.status, now_iso, decoded.time)
        return pdu_id, 0, 1

    if decoded.type != "SMS-DELIVER":
        # A SUBMIT in the inbound store (some modems keep sent copies): keep it, route nothing.
        pdu_id = _insert_pdu(db, item, now_iso, kind="submit", sender=decoded.number, error=None, status="done")
        return pdu_id, 0, 0

    sender = phone.normalise(decoded.number or "")
    sent_at = utcnow_iso(decoded.time) if decoded.time else None
    pdu_id = _insert_pdu(db, item, now_iso, kind="deliver", sender=sender.value, error=None, status="done")
    if decoded.text is None:
        _insert_inbox(
            db, now_iso, sender=sender.value, sender_kind=sender.kind, text=None, encoding=decoded.encoding,
            kind="binary", pdu_id=pdu_id, sent_at=sent_at, status="done", handler="binary",
        )
        return pdu_id, 1, 0
    if decoded.concat is None or decoded.concat[1] <= 1:
        _insert_inbox(
            db, now_iso, sender=sender.value, sender_kind=sender.kind, text=decoded.text,
            encoding=decoded.encoding, kind="text", pdu_id=pdu_id, sent_at=sent_at,
        )
        return pdu_id, 1, 0
    return pdu_id, _add_part(db, pdu_id, sender, decoded, sent_at, now_iso), 0


def _insert_pdu(db: Database, item: StoredPdu, now_iso: str, *, kind: str, sender: str | None,
                error: str | None, status: str) -> int:
    cur = db.conn.execute(
        "INSERT INTO pdus (read_at, slot, pdu, kind, sender, decode_error, status) VALUES (?,?,?,?,?,?,?)",
        (now_iso, item.slot, item.pdu, kind, sender, error, status),
    )
    return int(cur.lastrowid)


def _insert_inbox(db: Database, now_iso: str, *, sender: str, sender_kind: str, text: str | None,
                  encoding: str | None, kind: str, pdu_id: int | None, sent_at: str | None,
                  parts: int = 1, partial: bool = False, status: str = "queued",
                  handler: str | None = None, last_error: str | None = None) -> int:
    cur = db.conn.execute(
        "INSERT INTO inbox (received_at, sent_at, sender, sender_kind, text, encoding, kind, parts, partial,"
        " status, handler, handled_at, last_error, pdu_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (now_iso, sent_at, sender, sender_kind, text, encoding, kind, parts, int(partial), status, handler,
         now_iso if status == "done" else None, last_error, pdu_id),
    )
    return int(cur.lastrowid)


def add_simulated(db: Database, sender: phone.Number, text: str, now: datetime) -> int:
    """A message typed into the simulator's dry run (its sandbox file only), queued for its router."""
    with write_transaction(db):
        return _insert_inbox(db, utcnow_iso(now), sender=sender.value, sender_kind=sender.kind, text=text,
                             encoding="simulated", kind="text", pdu_id=None, sent_at=None)


def forget_sender(db: Database, sender: str) -> int:
    """Delete every message from ``sender`` (the dry run's "start again", in its sandbox only)."""
    with write_transaction(db):
        return db.conn.execute("DELETE FROM inbox WHERE sender = ?", (sender,)).rowcount


def _add_part(db: Database, pdu_id: int, sender: phone.Number, decoded: pdu_codec.DecodedPdu,
              sent_at: str | None, now_iso: str) -> int:
    """Keep one part; when its siblings are all here, write the whole message. Returns 0 or 1."""
    ref, total, seq = decoded.concat
    key = (sender.value, ref, total)
    same_seq = db.execute(
        "SELECT 1 FROM parts WHERE sender=? AND concat_ref=? AND total=? AND seq=? AND inbox_id IS NULL",
        (*key, seq),
    ).fetchone()
    if same_seq:
        db.conn.execute("UPDATE pdus SET status='duplicate-part' WHERE id=?", (pdu_id,))
        return 0
    db.conn.execute(
        "INSERT INTO parts (pdu_id, sender, concat_ref, total, seq, text, encoding, sent_at, received_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (pdu_id, *key, seq, decoded.text, decoded.encoding, sent_at, now_iso),
    )
    rows = db.execute(
        "SELECT id, seq, text, encoding, sent_at FROM parts WHERE sender=? AND concat_ref=? AND total=?"
        " AND inbox_id IS NULL ORDER BY seq",
        key,
    ).fetchall()
    if len({r[1] for r in rows}) < total:
        return 0
    _close_group(db, sender.value, sender.kind, rows, total, now_iso, partial=False)
    return 1


def _close_group(db: Database, sender: str, sender_kind: str, rows: list[tuple], total: int,
                 now_iso: str, *, partial: bool) -> int:
    """Join the parts held (in order, a marker where one is missing) into one inbox row."""
    by_seq = {r[1]: r for r in rows}
    text = "".join(by_seq[s][2] if s in by_seq else MISSING_PART for s in range(1, total + 1))
    first = by_seq[min(by_seq)]
    encodings = {r[3] for r in rows}
    inbox_id = _insert_inbox(
        db, now_iso, sender=sender, sender_kind=sender_kind, text=text,
        encoding=encodings.pop() if len(encodings) == 1 else "mixed", kind="text", pdu_id=None,
        sent_at=first[4], parts=total, partial=partial,
    )
    db.conn.executemany("UPDATE parts SET inbox_id=? WHERE id=?", [(inbox_id, r[0]) for r in rows])
    return inbox_id


def flush_stale_parts(db: Database, now: datetime, timeout_seconds: float) -> int:
    """Turn parts whose siblings never came into partial messages: kept, never dropped."""
    cutoff = utcnow_iso(now - timedelta(seconds=timeout_seconds))
    now_iso = utcnow_iso(now)
    made = 0
    with write_transaction(db):
        groups = db.execute(
            "SELECT sender, concat_ref, total FROM parts WHERE inbox_id IS NULL"
            " GROUP BY sender, concat_ref, total HAVING MIN(received_at) < ?",
            (cutoff,),
        ).fetchall()
        for sender, ref, total in groups:
            rows = db.execute(
                "SELECT id, seq, text, encoding, sent_at FROM parts WHERE sender=? AND concat_ref=? AND total=?"
                " AND inbox_id IS NULL ORDER BY seq",
                (sender, ref, total),
            ).fetchall()
            kind = phone.normalise(sender).kind
            _close_group(db, sender, kind, rows, total, now_iso, partial=True)
            made += 1
    if made:
        log.warning("kept %d long SMS with missing parts as partial messages", made)
    return made


def queued(db: Database, limit: int, now: datetime | None = None) -> list[tuple[int, str, str, str | None]]:
    """The oldest messages due for the router: (id, sender, sender kind, text).

    A message the router failed on waits until its ``next_attempt_at`` (``now`` given) before
    it is tried again.
    """
    due = utcnow_iso(now) if now is not None else "9999"
    return db.execute(
        "SELECT id, sender, sender_kind, text FROM inbox WHERE status='queued'"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?", (due, limit)
    ).fetchall()


def mark_handled(db: Database, inbox_id: int, handler: str, now: datetime) -> None:
    """The router decided (``handler`` names how); inside the router's transaction."""
    db.conn.execute("UPDATE inbox SET status='done', handler=?, handled_at=? WHERE id=?",
                    (handler, utcnow_iso(now), inbox_id))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often the router tries a message it failed on, and how long it waits in between."""

    max_attempts: int = 5
    base: float = 30.0  # seconds after the first failure; doubling (gateway.backoff)
    maximum: float = 1800.0


def mark_failed(db: Database, inbox_id: int, error: str, now: datetime | None = None,
                policy: RetryPolicy | None = None) -> int:
    """The router failed on this message: kept, counted, tried again later, never dropped.

    Until ``policy.max_attempts`` failures the row stays queued with a ``next_attempt_at``
    (the one back-off); after that it is ``failed`` and waits for an officer's "retry"
    (``retry``), shown on the dashboard and in ``/healthz``. Without a policy it is failed
    at once. Returns the number of attempts so far (1 after the first failure).
    """
    row = db.execute("SELECT attempts FROM inbox WHERE id=?", (inbox_id,)).fetchone()
    attempts = (int(row[0]) if row else 0) + 1
    if policy is not None and attempts < policy.max_attempts:
        wait = backoff.delay(attempts, policy.base, policy.maximum)
        due = utcnow_iso((now or datetime.now(UTC)) + timedelta(seconds=wait))
        db.conn.execute("UPDATE inbox SET status='queued', attempts=?, last_error=?, next_attempt_at=? WHERE id=?",
                        (attempts, error, due, inbox_id))
    else:
        db.conn.execute("UPDATE inbox SET status='failed', attempts=?, last_error=?, next_attempt_at=NULL"
                        " WHERE id=?", (attempts, error, inbox_id))
    return attempts


def retry(db: Database, inbox_id: int) -> bool:
    """An officer asks for one more try of a failed message; False when it is not failed."""
    with write_transaction(db):
        cur = db.conn.execute("UPDATE inbox SET status='queued', next_attempt_at=NULL WHERE id=? AND status='failed'",
                              (inbox_id,))
    return cur.rowcount == 1


# -- reads for the page ------------------------------------------------------------------------

def handler_of(db: Database, inbox_id: int) -> str | None:
    """How the router answered one message (None: not routed yet, or no such message)."""
    row = db.execute("SELECT handler FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
    return row[0] if row else None


def queued_count(db: Database) -> int:
    """Whole messages still waiting for the router."""
    return int(db.execute("SELECT count(*) FROM inbox WHERE status = 'queued'").fetchone()[0])


def failed_count(db: Database) -> int:
    """Messages the router gave up on: they wait for an officer's "retry"."""
    return int(db.execute("SELECT count(*) FROM inbox WHERE status = 'failed'").fetchone()[0])


def last_failure(db: Database) -> dict | None:
    """The most recent message the router gave up on (id, received_at, attempts, last_error)."""
    rows = list(db.query(
        "SELECT id, received_at, attempts, last_error FROM inbox WHERE status = 'failed' ORDER BY id DESC LIMIT 1"
    ))
    return rows[0] if rows else None


def failed(db: Database, limit: int = 100) -> list[dict]:
    """Messages the router gave up on, newest first, for the officers' list."""
    return list(db.query(
        "SELECT id, received_at, sender, sender_kind, text, kind, attempts, last_error FROM inbox"
        " WHERE status = 'failed' ORDER BY id DESC LIMIT ?",
        [limit],
    ))


def retrying_count(db: Database) -> int:
    """Messages the router failed on and will try again (queued, with a next attempt)."""
    return int(db.execute(
        "SELECT count(*) FROM inbox WHERE status = 'queued' AND attempts > 0").fetchone()[0])


def recent(db: Database, limit: int = 20) -> list[dict]:
    """The newest inbound messages, newest first."""
    return list(db.query(
        "SELECT id, received_at, sender, sender_kind, text, kind, parts, partial, status,"
        " handler, last_error FROM inbox ORDER BY id DESC LIMIT ?",
        [limit],
    ))


def newest_handled_id(db: Database) -> int:
    """The highest id the router has handled (0 when none): it moves when a handler answered."""
    return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM inbox WHERE status = 'done'").fetchone()[0])


def handler_counts(db: Database, since: str) -> list[tuple[str, int]]:
    """How often each handler answered inbound messages since ``since``, most used first."""
    rows = db.execute(
        "SELECT handler, count(*) AS n FROM inbox WHERE received_at >= ? AND handler IS NOT NULL"
        " GROUP BY handler ORDER BY n DESC",
        [since],
    ).fetchall()
    return [(row[0], int(row[1])) for row in rows]


def newest_centre_stamp(db: Database, after_id: int) -> tuple[int, tuple[str, str] | None]:
    """For the trusted clock (``gateway.clock``): the highest inbox id, and the SMS centre's
    timestamp (``sent_at``) with our ``received_at`` of the newest message after ``after_id``."""
    top = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM inbox").fetchone()[0])
    row = db.execute(
        "SELECT sent_at, received_at FROM inbox WHERE id > ? AND sent_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        [after_id],
    ).fetchone()
    return top, (None if row is None else (row[0], row[1]))
