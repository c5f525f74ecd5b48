"""Conversations: the inbox and the outbox read together, one thread per phone number.

Inbound rows are matched on ``inbox.sender``, outbound rows on ``outbox.number``; the page
and the dry-run sandbox show the same threads through these functions. The daily loop test
(an SMS from the gateway to its own number, ``gateway.sim.loop``) is nobody's conversation:
its rows are left out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

LOOP = "loop_test"  # gateway.sim.loop's outbox kind and inbox handler
NOT_LOOP_IN = f"handler IS NOT '{LOOP}'"
NOT_LOOP_OUT = f"kind != '{LOOP}'"


def conversation(db: Database, numbers: list[str], limit: int = 100) -> list[dict[str, Any]]:
    """The last ``limit`` messages to and from any of ``numbers``, oldest first.

    ``numbers`` lists the forms the number may be stored in (E.164 first).
    """
    if not numbers:
        return []
    marks = ", ".join("?" for _ in numbers)
    rows = list(db.query(
        f"""
        SELECT * FROM (
            SELECT 'in' AS direction, id, received_at AS at, text, kind, partial,
                   NULL AS status, NULL AS parts_total, NULL AS parts_sent
            FROM inbox WHERE sender IN ({marks}) AND handler IS NOT '{LOOP}'
            UNION ALL
            SELECT 'out' AS direction, id, created_at AS at, text, kind, 0 AS partial,
                   status, parts_total, parts_sent
            FROM outbox WHERE number IN ({marks}) AND kind != '{LOOP}'
        )
        ORDER BY at DESC, direction DESC, id DESC
        LIMIT ?
        """,
        [*numbers, *numbers, limit],
    ))
    rows.reverse()
    return rows


def _newest_first(db: Database, sql: str, params: list[Any], tag: str,
                  batch: int = 200) -> Iterator[tuple[str, str, str, int]]:
    cursor = db.execute(sql, params)
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        for at, number, id_ in rows:
            yield at, number, tag, id_


@dataclass(frozen=True)
class NumbersPage:
    """One page of ``recent_numbers``: each number with its counts and its newest message
    (``newest``: ``("in"|"out", id)``), and where the next page starts (None: no more)."""

    numbers: list[dict[str, Any]]
    next_before: tuple[int, int] | None


def recent_numbers(db: Database, *, limit: int, before: tuple[int, int] | None = None) -> NumbersPage:
    """Numbers that wrote or were written to, newest conversation first, with their counts.

    Walks inbox and outbox from their newest rows (merged by time) and stops as soon as the
    page's numbers are known, so a page costs a few hundred rows, not a GROUP BY over every
    message ever received. Pages are keyed by where the walk stopped, not by an offset:
    ``before`` is the previous page's ``next_before`` (an inbox and an outbox id), the walk
    goes on below it through the indexes, and a number met again there was on an earlier
    page when it has a message at or above it (one index lookup each).
    """
    marks = {"in": before[0], "out": before[1]} if before else {"in": None, "out": None}
    inbound = _newest_first(
        db, f"SELECT received_at, sender, id FROM inbox WHERE {NOT_LOOP_IN}" + (" AND id < ?" if before else "")
        + " ORDER BY id DESC",
        [before[0]] if before else [], "in")
    outbound = _newest_first(
        db, f"SELECT created_at, number, id FROM outbox WHERE {NOT_LOOP_OUT}" + (" AND id < ?" if before else "")
        + " ORDER BY id DESC",
        [before[1]] if before else [], "out")
    newest: dict[str, tuple[str, int]] = {}
    earlier: set[str] = set()
    stop: dict[str, int | None] | None = None
    more = False
    for _at, number, direction, id_ in heapq.merge(inbound, outbound, key=lambda row: row[0], reverse=True):
        marks[direction] = id_
        if number in newest or number in earlier:
            continue
        if before and _on_an_earlier_page(db, number, before):
            earlier.add(number)
            continue
        if len(newest) == limit:
            more = True
            break
        newest[number] = (direction, id_)
        if len(newest) == limit:
            stop = dict(marks)  # the next page walks on below this number's newest message
    counts_in = _counts(db, "SELECT sender, count(*) FROM inbox WHERE sender IN ({})"
                        f" AND {NOT_LOOP_IN} GROUP BY sender", newest)
    counts_out = _counts(db, "SELECT number, count(*) FROM outbox WHERE number IN ({})"
                         f" AND {NOT_LOOP_OUT} GROUP BY number", newest)
    numbers = [{"number": number, "newest": key, "n_in": counts_in.get(number, 0), "n_out": counts_out.get(number, 0)}
               for number, key in newest.items()]
    next_before = None
    if more and stop is not None:
        next_before = (_mark(db, "inbox", stop["in"]), _mark(db, "outbox", stop["out"]))
    return NumbersPage(numbers, next_before)


def _on_an_earlier_page(db: Database, number: str, before: tuple[int, int]) -> bool:
    return bool(db.execute(
        f"SELECT EXISTS(SELECT 1 FROM inbox WHERE sender = ? AND id >= ? AND {NOT_LOOP_IN})"
        f" OR EXISTS(SELECT 1 FROM outbox WHERE number = ? AND id >= ? AND {NOT_LOOP_OUT})",
        [number, before[0], number, before[1]],
    ).fetchone()[0])


def _mark(db: Database, table: str, walked_to: int | None) -> int:
    """Where a table's walk stopped; above its newest row when none of it was walked."""
    if walked_to is not None:
        return walked_to
    return int(db.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0])


def _counts(db: Database, sql: str, numbers: dict[str, Any]) -> dict[str, int]:
    if not numbers:
        return {}
    marks = ", ".join("?" for _ in numbers)
    return {number: int(n) for number, n in db.execute(sql.format(marks), list(numbers)).fetchall()}


def messages_by_key(db: Database, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Messages by ``("in"|"out", id)``, in the shape ``conversation`` gives."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    inbound = [id_ for direction, id_ in keys if direction == "in"]
    outbound = [id_ for direction, id_ in keys if direction == "out"]
    if inbound:
        for row in db.query(
            "SELECT 'in' AS direction, id, received_at AS at, text, kind, partial, NULL AS status,"
            f" NULL AS parts_total, NULL AS parts_sent FROM inbox WHERE id IN ({', '.join('?' for _ in inbound)})",
            inbound,
        ):
            found["in", row["id"]] = row
    if outbound:
        for row in db.query(
            "SELECT 'out' AS direction, id, created_at AS at, text, kind, 0 AS partial, status, parts_total,"
            f" parts_sent FROM outbox WHERE id IN ({', '.join('?' for _ in outbound)})",
            outbound,
        ):
            found["out", row["id"]] = row
    return found


def number_of_message(db: Database, direction: str, message_id: int) -> str | None:
    """The number of one inbound (``i``) or outbound (``o``) message: a thread's key in URLs."""
    if direction == "i":
        row = db.execute("SELECT sender FROM inbox WHERE id = ?", [message_id]).fetchone()
    elif direction == "o":
        row = db.execute("SELECT number FROM outbox WHERE id = ?", [message_id]).fetchone()
    else:
        return None
    return row[0] if row else None
