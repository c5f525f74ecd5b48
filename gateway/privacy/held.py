"""Everything the post holds for one number, its export for the person, and its erasure.

A person who asks to see, or to delete, what the post holds about their number gets it
through here: every table that can hold a number is read through its owner (messages in and
out, raw PDUs, tips, the subscription and its consent, broadcast deliveries, the duty roster,
the menu session). The page looks the number up first (audited, tied to the request).

Erasure takes away what may go: the subscription (through ``consent``), the conversations
and every non-tip message, the raw PDUs and delivery reports, the menu session, the number on
broadcast deliveries. A tip keeps its text and loses the number, unless an officer put it on
hold (the reason is shown to whoever erases). Kept and said: a message still waiting to be
sent or routed (the next erasure or the retention purge takes it), the duty roster (an
officer's work phone: an admin removes it on the roster page), the audit log (it holds no full
number, and it is the proof of what was done).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import duty, inbox, outbox, phone, router, tips
from gateway.broadcasts import runs
from gateway.privacy import consent
from gateway.privacy.retention import KINDS, detach_tip_numbers
from gateway.storage import write_transaction
from gateway.tips import history


def forms(number: str) -> list[str]:
    """The spellings one number may be stored in: E.164 first, then the national and bare forms
    (a delivery report's PDU keeps the number as the network wrote it)."""
    value = phone.normalise(number).value
    found = [value]
    if value.startswith("+84"):
        found += ["0" + value[3:], value[1:]]
    elif value.startswith("+"):
        found.append(value[1:])
    return found


@dataclass
class Held:
    """What the post holds for ``number`` (E.164)."""

    number: str
    messages_in: list[dict[str, Any]] = field(default_factory=list)
    messages_out: list[dict[str, Any]] = field(default_factory=list)
    raw_pdus: int = 0
    tips: list[dict[str, Any]] = field(default_factory=list)
    subscription: dict[str, Any] | None = None
    consents: list[dict[str, Any]] = field(default_factory=list)
    invitation: dict[str, Any] | None = None
    broadcasts: int = 0
    duty: duty.DutyEntry | None = None
    session: dict[str, Any] | None = None

    @property
    def empty(self) -> bool:
        return not (self.messages_in or self.messages_out or self.raw_pdus or self.tips or self.subscription
                    or self.consents or self.invitation or self.broadcasts or self.duty or self.session)


def held_for(db: Database, number: str) -> Held:
    """Everything held for ``number`` (any spelling), read through each table's owner."""
    spelled = forms(number)
    return Held(
        number=spelled[0],
        messages_in=inbox.of_numbers(db, spelled),
        messages_out=outbox.to_numbers(db, spelled),
        raw_pdus=inbox.raw_count_of_numbers(db, spelled),
        tips=tips.of_numbers(db, spelled),
        subscription=consent.subscription(db, spelled[0]),
        consents=consent.consents(db, spelled[0]),
        invitation=consent.invitation(db, spelled[0]),
        broadcasts=runs.count_to(db, spelled),
        duty=duty.by_number(db, spelled[0]),
        session=router.session_of(db, spelled),
    )


TIP_EXPORT_COLUMNS = ("reference", "received_at", "text", "status", "village", "hold_reason")


def export(held: Held, request: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the person is given: their own data, plainly (no officer's notes, no other person's)."""
    subscription = held.subscription
    return {
        "exported_at": now.isoformat(),
        "request": request,
        "number": held.number,
        "messages_from_you": [{k: row[k] for k in ("received_at", "text")} for row in held.messages_in],
        "messages_to_you": [{k: row[k] for k in ("created_at", "text", "status")} for row in held.messages_out],
        "tips": [{k: row[k] for k in TIP_EXPORT_COLUMNS} for row in held.tips],
        "subscription": None if subscription is None else {
            k: subscription.get(k) for k in ("status", "name", "village", "labels", "source", "subscribed_at",
                                             "left_at")},
        "consent": held.consents,
        "invitation": None if held.invitation is None else {
            k: held.invitation.get(k) for k in ("status", "text", "created_at", "queued_at")},
        "warnings_sent": held.broadcasts,
        "menu_language": held.session["language"] if held.session else None,
        "duty_roster": None if held.duty is None else {"name": held.duty.name, "active": held.duty.active},
        "raw_sms_records": held.raw_pdus,
    }


@dataclass
class Erasure:
    """What an erasure removed (``retention.KINDS`` counts) and what it kept, with why."""

    counts: dict[str, int]
    subscription: str  # the consent seam's outcome word ("erased", "never")
    held_tips: list[dict[str, str]]  # {"reference", "reason"}
    waiting: int  # messages still queued (to send or to route): kept for now
    on_duty_roster: bool


def erase(db: Database, number: str, *, by: str, now: datetime, note: str | None = None) -> Erasure:
    """Erase what may be erased for ``number`` (see the module docstring); one transaction.
    ``note`` (the request's reference) goes with the ledger's record of the erasure."""
    spelled = forms(number)
    counts = dict.fromkeys(KINDS, 0)
    with write_transaction(db):
        own = tips.of_numbers(db, spelled)
        held_tips = [{"reference": t["reference"], "reason": t["hold_reason"]} for t in own if t["hold_reason"]]
        detach_tip_numbers(db, [t["id"] for t in own if not t["hold_reason"]], now, counts, closed_only=False)

        deliveries = runs.deliveries_to(db, spelled)
        counts["broadcast_numbers"] += runs.forget_numbers(db, deliveries)
        kept_tips = tips.inbox_ids(db)
        tip_linked = history.reply_outbox_ids(db) | set(outbox.answers_to(db, kept_tips))
        going_out = [row["id"] for row in outbox.to_numbers(db, spelled) if row["id"] not in tip_linked]
        counts["messages_out"] += outbox.delete(db, going_out)
        answered = outbox.reply_targets(db)
        going_in = [row["id"] for row in inbox.of_numbers(db, spelled)
                    if row["id"] not in kept_tips and row["id"] not in answered]
        removed = inbox.delete(db, going_in)
        counts["messages_in"] += removed.messages
        counts["parts"] += removed.parts
        counts["pdus"] += removed.pdus + inbox.delete_pdus(db, inbox.orphan_pdus_of_numbers(db, spelled))
        counts["sessions"] += router.forget_sessions(db, spelled)
        outcome = consent.erase(db, spelled[0], by=by, now=now, note=note)
        waiting = (sum(1 for row in outbox.to_numbers(db, spelled) if row["status"] == "queued")
                   + sum(1 for row in inbox.of_numbers(db, spelled) if row["status"] == "queued"))
        on_roster = duty.by_number(db, spelled[0]) is not None
    return Erasure(counts, outcome, held_tips, waiting, on_roster)
