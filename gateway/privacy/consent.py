"""The seam to the subscribers' consent (issue 17, part 1): read, withdraw, erase a subscription.

A person's request to withdraw consent, or to delete what the post holds, reaches the scam
warnings through these functions and nothing else. The consent ledger is the broadcasts
area's (``gateway.broadcasts.consent``, written by ``gateway.broadcasts.subscribers``):

- ``withdraw``: ``subscribers.withdraw`` with ``via="request"`` (warnings and any invitation
  stop at once; the ledger keeps the withdrawal, with the request's reference as its note);
- ``erase``: ``subscribers.erase`` (the subscriber, their groups, deliveries and invitation
  go; the ledger keeps what happened and when, not the number);
- ``subscription``, ``consents``, ``invitation``: what is held, for the person's export.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts import consent as ledger
from gateway.broadcasts import queries, subscribers
from gateway.storage import write_transaction

#: The subscriber row goes on erasure (the ledger keeps its events without the number).
ERASES_SUBSCRIBER = True


def subscription(db: Database, number: str) -> dict[str, Any] | None:
    """The subscriber row of ``number`` (E.164), whatever its status, with village and labels; None if none."""
    rows, _ = queries.subscribers(db, status=None, number=number)
    return rows[0] if rows else None


def consents(db: Database, number: str) -> list[dict[str, Any]]:
    """The consent ledger's events for ``number`` (given, invited, withdrawn), oldest first."""
    return [{k: v for k, v in asdict(entry).items() if k not in ("id", "number")}
            for entry in ledger.history(db, number)]


def invitation(db: Database, number: str) -> dict[str, Any] | None:
    """The one invitation SMS this number was (or is to be) sent, or None."""
    return ledger.invitation_of(db, number)


def withdraw(db: Database, number: str, *, by: str, now: datetime, note: str | None = None) -> str:
    """Stop every warning to ``number`` at once; the outcome word of ``subscribers.Change``
    (``never`` for a number that was never on the list: nothing is written for it)."""
    if subscription(db, number) is None:
        return "never"
    with write_transaction(db):
        return subscribers.withdraw(db, number, "request", now, by=by, note=note).outcome


def erase(db: Database, number: str, *, by: str, now: datetime, note: str | None = None) -> str:
    """Erase ``number``'s subscription and its ledger's personal fields: ``erased`` or ``never``
    (a number the list and the ledger never held: nothing is written)."""
    if subscription(db, number) is None and not ledger.history(db, number) and invitation(db, number) is None:
        return "never"
    with write_transaction(db):
        return "erased" if subscribers.erase(db, number, now, by, note) else "never"
