"""The seam to the subscribers' consent (issue 17, part 1): withdraw, erase, read a subscription.

A person's request to withdraw consent, or to delete what the post holds, reaches the scam
warnings through these three functions and nothing else. The consent ledger (the basis of
each subscription, its withdrawal) is the broadcasts area's (``gateway.broadcasts``): when it
lands, these call its functions; until then they call the subscribers functions there are:

- ``withdraw``: ``subscribers.leave`` (via ``officer``: warnings stop at once, the number is
  kept as ``left`` so an import never brings it back);
- ``erase``: the same (a ``left`` row with the number stays: deleting it needs the ledger's
  own erase, which also keeps the proof of the withdrawal); the caller says so on the page;
- ``subscription``: the subscriber's row with its village and labels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts import queries, subscribers
from gateway.storage import write_transaction

#: False until the consent ledger's erase is wired here: the page then says the number stays
#: on the subscribers list as "left" (so it is never imported back), not deleted.
ERASES_SUBSCRIBER = False


def subscription(db: Database, number: str) -> dict[str, Any] | None:
    """The subscriber row of ``number`` (E.164), subscribed or left, with village and labels; None if none."""
    rows, _ = queries.subscribers(db, status=None, number=number)
    return rows[0] if rows else None


def consents(db: Database, number: str) -> list[dict[str, Any]]:
    """The consent ledger's rows for ``number`` (given, invited, withdrawn), oldest first.

    Empty until the ledger lands; the page then shows the subscription's own dates.
    """
    return []


def withdraw(db: Database, number: str, *, by: str, now: datetime) -> str:
    """Stop every warning to ``number`` at once; the outcome word of ``subscribers.Change``."""
    if subscription(db, number) is None:
        return "never"
    with write_transaction(db):
        return subscribers.leave(db, number, "officer", now, by=by).outcome


def erase(db: Database, number: str, *, by: str, now: datetime) -> str:
    """Erase ``number``'s subscription as far as the ledger allows (see the module docstring)."""
    return withdraw(db, number, by=by, now=now)
