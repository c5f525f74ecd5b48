"""The retention rules: what may go now, and the purge that removes it.

``plan`` reads (nothing is written) and answers, kind by kind, which rows the rules let go at
``now``; ``python app.py purge --dry-run`` prints its counts. ``purge`` computes the same plan
and carries it out through each table's owner, a batch per transaction (a year of messages
never holds the write lock for long: the modem worker commits between two batches), then
shrinks the search index and the WAL so removed text leaves the file (``PRAGMA
secure_delete`` zeroes it in place: ``gateway.storage``). Each batch checks its rows again as
it deletes them: a tip put on hold or reopened since the plan is left alone.

The rules (``privacy.*`` keys; docs/privacy.md has the table):

- non-tip messages (menus, replies, chatter, broadcasts, duty alerts: inbox rows that made no
  tip, outbox rows that are no tip's acknowledgement or officer's reply, their raw PDUs and
  parts, menu sessions, the number on a broadcast delivery) after ``messages_days``;
- messages the gateway failed on (router or modem gave up) after ``failed_days``;
- a tip's number ``tip_number_days`` after it was closed and acknowledged by every receiver
  (with a hub set, the hub among them; a message dismissed as no tip needs none): the tip's
  inbound message and its acknowledgement SMS go, officers' replies keep their text without
  the number;
- a tip's text, notes and replies ``tip_text_months`` after it was closed (the row stays with
  its reference, status and dates, so its uid is never reused);
- the audit log and closed personal-data requests after ``audit_months``;
- backups beyond ``backup.keep`` days (the nightly copy prunes them too; the newest stays).

Never touched: a queued message, an open tip, a tip an officer put on hold with a reason, a
tip some receiver has not acknowledged (rule 3 of DESIGN.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway import backup, inbox, outbox, router, state, tips
from gateway.accounts import audit
from gateway.broadcasts import runs
from gateway.config import Config
from gateway.privacy import requests
from gateway.storage import checkpoint_truncate, utcnow_iso, write_transaction
from gateway.sync import queue as sync_queue
from gateway.sync.hooks import destinations
from gateway.tips import history

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction
STATE_KEY = "purge"  # the last purge: when, what it removed, what it kept
AUDIT_ACTION = "privacy.purge"

#: Each kind a purge counts, in the order ``--dry-run`` prints them, with its words.
KINDS: dict[str, str] = {
    "messages_in": "inbound messages (menus, chatter) older than privacy.messages_days",
    "messages_out": "outbound messages (replies, broadcasts, duty alerts) older than privacy.messages_days",
    "failed_in": "inbound messages the router gave up on, older than privacy.failed_days",
    "failed_out": "outbound messages the modem gave up on, older than privacy.failed_days",
    "pdus": "raw PDUs of those messages, and delivery reports",
    "parts": "long-SMS parts of those messages",
    "sessions": "menu sessions (language, open menu) of numbers not heard of in privacy.messages_days",
    "broadcast_numbers": "broadcast deliveries whose number is removed (the run keeps its counts)",
    "tip_numbers": "tips whose tipster's number is removed (privacy.tip_number_days after closing)",
    "tip_texts": "tips whose text is removed (privacy.tip_text_months after closing)",
    "tip_notes": "officers' notes on those tips",
    "tip_replies": "replies to those tipsters: acknowledgements deleted, officers' replies keep their text"
                   " without the number (deleted with the text)",
    "audit": "audit log entries older than privacy.audit_months",
    "requests": "closed personal-data requests older than privacy.audit_months",
    "backups": "backup files beyond backup.keep days",
}
#: What a purge kept that the rules would otherwise reach.
KEPT: dict[str, str] = {
    "tips_on_hold": "closed tips on hold (an officer's reason)",
    "tips_unacknowledged": "closed tips a receiver has not acknowledged yet",
}


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes a short month's last)."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last_day = (datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=moment.tzinfo) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


@dataclass(frozen=True)
class Cutoffs:
    """The moments (ISO, UTC) before which each rule lets rows go."""

    messages: str
    failed: str
    tip_number: str
    tip_text: str
    audit: str

    @classmethod
    def at(cls, config: Config, now: datetime) -> Cutoffs:
        rules = config.privacy
        now = now.astimezone(UTC)
        return cls(
            messages=utcnow_iso(now - timedelta(days=rules.messages_days)),
            failed=utcnow_iso(now - timedelta(days=rules.failed_days)),
            tip_number=utcnow_iso(now - timedelta(days=rules.tip_number_days)),
            tip_text=utcnow_iso(months_before(now, rules.tip_text_months)),
            audit=utcnow_iso(months_before(now, rules.audit_months)),
        )


@dataclass
class Plan:
    """What the rules let go at one moment, by kind (ids), and what they would but may not."""

    now: datetime
    cutoffs: Cutoffs
    tip_texts: list[int] = field(default_factory=list)
    tip_numbers: list[int] = field(default_factory=list)
    tip_inbox: list[int] = field(default_factory=list)
    tip_replies: list[int] = field(default_factory=list)
    tip_notes: int = 0
    deliveries: list[int] = field(default_factory=list)
    messages_out: list[int] = field(default_factory=list)
    failed_out: list[int] = field(default_factory=list)
    messages_in: list[int] = field(default_factory=list)
    failed_in: list[int] = field(default_factory=list)
    parts: list[int] = field(default_factory=list)
    pdus: list[int] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    audit: int = 0
    requests: list[int] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)
    held_back: dict[str, set[int]] = field(default_factory=lambda: {kind: set() for kind in KEPT})

    @property
    def kept(self) -> dict[str, int]:
        """How many tips of each kind of ``KEPT`` the rules reach but the purge leaves."""
        return {kind: len(ids) for kind, ids in self.held_back.items()}

    def counts(self) -> dict[str, int]:
        """How many rows (files) of each kind of ``KINDS``."""
        return {
            "messages_in": len(self.messages_in), "messages_out": len(self.messages_out),
            "failed_in": len(self.failed_in), "failed_out": len(self.failed_out),
            "pdus": len(self.pdus), "parts": len(self.parts), "sessions": len(self.sessions),
            "broadcast_numbers": len(self.deliveries), "tip_numbers": len(self.tip_numbers),
            "tip_texts": len(self.tip_texts), "tip_notes": self.tip_notes, "tip_replies": len(self.tip_replies),
            "audit": self.audit, "requests": len(self.requests), "backups": len(self.backups),
        }


def _tips_due(db: Database, config: Config, before: str, unset: str, kept: dict[str, set[int]]) -> list[int]:
    """Closed tips past ``before``, not on hold, acknowledged by every receiver (the hub when set)."""
    found = tips.closed_before(db, before, unset=unset)
    kept["tips_on_hold"].update(row["id"] for row in tips.closed_before(db, before, unset=unset, held=True))
    hub = ("district",) if "district" in destinations(config) else ()
    up = {row["id"]: () if row["confirmation"] == tips.DISMISSED else hub for row in found}
    done: set[int] = set()
    for required in set(up.values()):
        ids = [tip_id for tip_id, need in up.items() if need == required]
        done |= sync_queue.acknowledged(db, ids, required=required, before=before)
    kept["tips_unacknowledged"].update(set(up) - done)
    return sorted(done)


def plan(db: Database, config: Config, now: datetime) -> Plan:
    """What the retention rules let go at ``now`` (reads only)."""
    cut = Cutoffs.at(config, now)
    result = Plan(now, cut)
    result.tip_texts = _tips_due(db, config, cut.tip_text, "text_purged_at", result.held_back)
    texts = set(result.tip_texts)
    result.tip_numbers = [t for t in _tips_due(db, config, cut.tip_number, "number_detached_at", result.held_back)
                          if t not in texts]
    result.held_back["tips_unacknowledged"] -= texts
    planned = [*result.tip_texts, *result.tip_numbers]
    tip_rows = [tips.get(db, tip_id) for tip_id in planned]
    result.tip_inbox = sorted(row["inbox_id"] for row in tip_rows if row and row["inbox_id"] is not None)
    result.tip_replies = sorted(history.reply_outbox_ids(db, planned) | set(outbox.answers_to(db, result.tip_inbox)))
    result.tip_notes = history.notes_count(db, result.tip_texts)

    result.deliveries = runs.numbers_before(db, cut.messages)
    keep_out = (history.reply_outbox_ids(db) | set(outbox.answers_to(db, tips.inbox_ids(db)))
                | runs.outbox_ids_in_use(db, excluding=result.deliveries))
    out = outbox.purgeable(db, before=cut.messages, failed_before=cut.failed, keep=keep_out)
    result.messages_out, result.failed_out = out["settled"], out["failed"]

    going_out = {*result.messages_out, *result.failed_out, *result.tip_replies}
    keep_in = tips.inbox_ids(db) | outbox.reply_targets(db, excluding=going_out)
    found = inbox.purgeable(db, before=cut.messages, failed_before=cut.failed, keep=keep_in)
    result.messages_in, result.failed_in = found["done"], found["failed"]
    result.parts, pdus = inbox.raw_of(db, [*result.messages_in, *result.failed_in, *result.tip_inbox])
    result.pdus = sorted(set(pdus) | set(inbox.orphan_pdus(db, cut.messages)))

    result.sessions = router.stale_sessions(db, cut.messages)
    result.audit = audit.count_before(db, cut.audit)
    result.requests = requests.closed_before(db, cut.audit)
    result.backups = [path for folder in backup.folders(config)
                      for path in backup.prunable(folder, config.backup.keep, now)]
    return result


def _batches(ids: Iterable[Any], size: int = BATCH) -> Iterable[list[Any]]:
    items = list(ids)
    for start in range(0, len(items), size):
        yield items[start: start + size]


def _without_answered(db: Database, inbox_ids: list[int]) -> list[int]:
    """Those messages no remaining outbox row answers (the foreign key would refuse the others)."""
    answered = outbox.reply_targets(db, among=inbox_ids)
    return [inbox_id for inbox_id in inbox_ids if inbox_id not in answered]


def _add(counts: dict[str, int], removed: inbox.Removed, messages: str | None = None) -> None:
    if messages:
        counts[messages] += removed.messages
    counts["parts"] += removed.parts
    counts["pdus"] += removed.pdus


def remove_tip_texts(db: Database, tip_ids: list[int], now: datetime, counts: dict[str, int]) -> None:
    """Texts, notes, replies and inbound messages of these tips (one transaction)."""
    with write_transaction(db):
        done = tips.purge_texts(db, tip_ids, now)
        ids = [tip_id for tip_id, _ in done]
        inbox_ids = [inbox_id for _, inbox_id in done if inbox_id is not None]
        counts["tip_texts"] += len(done)
        counts["tip_notes"] += history.forget_notes(db, ids)
        replies = history.reply_outbox_ids(db, ids) | set(outbox.answers_to(db, inbox_ids))
        history.unlink_outbox(db, replies)
        counts["tip_replies"] += outbox.delete(db, replies)
        _add(counts, inbox.delete(db, _without_answered(db, inbox_ids)))


def detach_tip_numbers(db: Database, tip_ids: list[int], now: datetime, counts: dict[str, int], *,
                       closed_only: bool = True) -> list[int]:
    """The tipster's number off these tips, their replies and inbound messages (one transaction).

    Returns the tips done (one on hold, or open with ``closed_only``, is not)."""
    with write_transaction(db):
        done = tips.detach_numbers(db, tip_ids, now, closed_only=closed_only)
        ids = [tip_id for tip_id, _ in done]
        inbox_ids = [inbox_id for _, inbox_id in done if inbox_id is not None]
        counts["tip_numbers"] += len(done)
        replies = history.reply_outbox_ids(db, ids)
        acknowledgements = set(outbox.answers_to(db, inbox_ids)) - replies
        counts["tip_replies"] += len(outbox.detach_numbers(db, replies)) + outbox.delete(db, acknowledgements)
        _add(counts, inbox.delete(db, _without_answered(db, inbox_ids)))
    return ids


def purge(db: Database, config: Config, now: datetime, *, by: str = "system",
          stopping: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Carry out the plan at ``now``: counts of what went (``KINDS``) and what was kept (``KEPT``).

    Audited (``privacy.purge``, by ``by``) and published in ``state`` key ``purge``. A purge
    asked to stop (``stopping``) ends between two batches; what it did is recorded.
    """
    todo = plan(db, config, now)
    counts = dict.fromkeys(KINDS, 0)
    for batch in _batches(todo.tip_texts):
        if stopping():
            break
        remove_tip_texts(db, batch, now, counts)
    for batch in _batches(todo.tip_numbers):
        if stopping():
            break
        detach_tip_numbers(db, batch, now, counts)
    for batch in _batches(todo.deliveries):
        counts["broadcast_numbers"] += runs.forget_numbers(db, batch)
    for kind, ids in (("messages_out", todo.messages_out), ("failed_out", todo.failed_out)):
        for batch in _batches(ids):
            if stopping():
                break
            counts[kind] += outbox.delete(db, batch)
    for kind, ids in (("messages_in", todo.messages_in), ("failed_in", todo.failed_in)):
        for batch in _batches(ids):
            if stopping():
                break
            _add(counts, inbox.delete(db, _without_answered(db, batch)), kind)
    for batch in _batches(inbox.orphan_pdus(db, todo.cutoffs.messages)):
        counts["pdus"] += inbox.delete_pdus(db, batch)
    for batch in _batches(todo.sessions):
        counts["sessions"] += router.forget_sessions(db, batch)
    counts["audit"] = audit.purge_before(db, todo.cutoffs.audit)
    counts["requests"] = requests.purge(db, todo.requests)
    for folder in backup.folders(config):
        counts["backups"] += len(backup.prune(folder, config.backup.keep, now))
    if counts["tip_texts"] or counts["tip_numbers"]:
        tips.optimize_search(db)
    result = {"at": utcnow_iso(now), "counts": counts, "kept": todo.kept,
              "stopped": stopping(), "wal_truncated": False}
    audit.record(db, by, AUDIT_ACTION, "", {k: v for k, v in {**counts, **todo.kept}.items() if v}, now=now)
    state.put_json(db, STATE_KEY, result, now)
    result["wal_truncated"] = checkpoint_truncate(db)
    log.info("retention purge: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing to remove")
    return result


def last(db: Database) -> dict[str, Any] | None:
    """The last purge (``at``, ``counts``, ``kept``), or None."""
    value = state.get_json(db, STATE_KEY)
    return value if value is not None and isinstance(value.get("at"), str) else None
