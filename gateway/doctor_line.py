"""One line of ``python app.py doctor``: a leaf, so that an area's own checks (``gateway.sim.doctor``)
can make lines without importing the doctor that calls them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One line of the table: what was looked at, what was found, and the fix when it failed."""

    name: str
    ok: bool
    found: str
    fix: str = ""
