"""The modem clock's text form, ``yy/MM/dd,hh:mm:ss±zz`` (27.007 +CCLK; zz in quarter hours).

One parser for both sides of the serial line: the transport reads a modem's network time
(``AT+CCLK?``), the emulator answers it and accepts ``AT+CCLK=``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

CLOCK_RE = re.compile(r'"?(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-]\d{1,2})?"?$')


def format_clock(moment: datetime) -> str:
    """``moment`` as +CCLK writes it."""
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(offset.total_seconds() // 900)
    return moment.strftime("%y/%m/%d,%H:%M:%S") + f"{quarters:+03d}"


def parse_clock(text: str, default_zone: tzinfo) -> datetime | None:
    """An aware moment, or None for anything else; no zone given means ``default_zone``."""
    match = CLOCK_RE.match(text.strip())
    if not match:
        return None
    yy, mo, dd, hh, mi, ss, quarters = match.groups()
    zone = timezone(timedelta(minutes=15 * int(quarters))) if quarters else default_zone
    try:
        return datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=zone)
    except ValueError:
        return None
