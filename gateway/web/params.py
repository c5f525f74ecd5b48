"""Numbers, ids and days from the query string and the URL, parsed strictly.

A value typed on the LAN may be anything: ``page=²`` (``str.isdigit`` says yes, ``int`` says
no), an id of twenty digits (SQLite holds 64 bits), ``from=0001-01-01`` (a day that cannot be
moved into UTC). Every such value is refused here with a 400 that says which parameter is
wrong, never a 500. An absent or empty parameter is its default.

``install(app)`` swaps Flask's ``int`` URL converter for one bounded to SQLite's integers (an
id out of range is a 404, like any id that is not there); ``gateway.web.errors`` answers
``BadParameter`` inside the page frame.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask import Flask
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # SQLite's largest integer
FIRST_YEAR, LAST_YEAR = 1900, 2999  # a day outside these is a typing mistake, and unsafe to move in time
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII digits only (no "²", "٣", full-width digits)
_DAY_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


class BadParameter(BadRequest):
    """A query parameter that is there but cannot be understood (400)."""

    def __init__(self, name: str, value: object) -> None:
        super().__init__(f"{name}={str(value)[:40]!r}")
        self.parameter = name


def parse_int(name: str, text: str, *, lo: int = 0, hi: int = MAX_ID) -> int:
    """``text`` as a whole number in ``[lo, hi]``; ``BadParameter`` otherwise."""
    text = text.strip()
    if not _DIGITS.fullmatch(text):
        raise BadParameter(name, text)
    value = int(text)
    if not lo <= value <= hi:
        raise BadParameter(name, text)
    return value


def int_arg(args: Any, name: str, default: int | None = None, *, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """The parameter ``name`` of ``args`` as a number in ``[lo, hi]``, ``default`` when absent or empty."""
    text = (args.get(name) or "").strip()
    return default if not text else parse_int(name, text, lo=lo, hi=hi)


def page_arg(args: Any, name: str = "page", last: int = 100_000) -> int:
    """A page number: 1 when absent; a number past ``last`` is ``last`` (an empty page, not an error)."""
    value = int_arg(args, name, 1, lo=1)
    return min(value or 1, last)


def parse_day(name: str, text: str) -> date | None:
    """``2026-11-29`` (date inputs) or ``29/11/2026`` (people); None when it is not a day at all.

    Text that is no day is no filter (a typing slip in a filter box is not an error); a real
    day outside 1900–2999 (``0001-01-01``, ``9999-12-31``: no moment in UTC, or no next day)
    is ``BadParameter``.
    """
    text = text.strip()
    if not text.isascii():
        return None
    for pattern in _DAY_FORMATS:
        try:
            day = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise BadParameter(name, text)
        return day
    return None


class BoundedInt(IntegerConverter):
    """Flask's ``<int:...>`` limited to what SQLite can hold: a longer id matches no page (404)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def install(app: Flask) -> None:
    """Bounded ``int`` ids for every route registered after this (``BadParameter`` is answered
    by ``gateway.web.errors``)."""
    app.url_map.converters["int"] = BoundedInt


def local_url(target: str | None, fallback: str) -> str:
    """``target`` when it is a path on this site (``/broadcasts/3``), else ``fallback``.

    Never another site: not ``//evil``, ``/\\evil``, ``http://evil``, nor a path with control
    characters (a browser drops a tab in ``/\\t/evil`` and goes to ``//evil``).
    """
    if (not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)):
        return fallback
    return target
