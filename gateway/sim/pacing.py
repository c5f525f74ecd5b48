"""Pacing that keeps the SIM alive: caps on what the SIM sends that nobody asked for.

Operators lock prepaid lines that look like spam lines (many texts to numbers that never
wrote first, from a line that mostly sends); no per-SIM figure is published. So every SMS
part that is not a reply (broadcasts, duty alerts, reminders, a hub decision told to the
tipster) counts against ``sms.max_per_hour`` and ``sms.max_per_day`` (local day), and
waits when a cap is reached; replies to a villager's own SMS (and to a missed call) are
never counted and never held: they have their own pacing (``router.auto_replies_per_hour``,
one menu per caller per hour) and go first by outbox priority.

``finish_time`` is the estimate the confirm page and the progress page show: how long a
broadcast takes under the caps and the quiet hours.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from gateway.broadcasts.sender import in_quiet_hours

#: Kinds that answer a villager (never capped): the router's replies, an officer's reply, the
#: menu after a missed call; and the loop test to the gateway's own number (one a day).
UNCAPPED_KINDS = frozenset({"menu", "help", "tip_ack", "tip_prompt", "subscription", "ack", "officer",
                            "missed_call", "loop_test"})
#: A real modem sends one part every 2-10 s: at best this many an hour, whatever the caps say.
MODEM_PARTS_PER_HOUR = 600


def capped(kind: str) -> bool:
    """True for a kind that counts against ``sms.max_per_hour``/``max_per_day``."""
    return kind not in UNCAPPED_KINDS


def finish_time(parts: int, start: datetime, *, per_hour: int, per_day: int, quiet_start: time, quiet_end: time,
                tz: tzinfo, sent_today: int = 0, modem_per_hour: int = MODEM_PARTS_PER_HOUR) -> datetime:
    """When ``parts`` capped parts starting at ``start`` are all sent (a cap of 0: none).

    Hour by hour: nothing in the quiet hours, at most ``per_hour`` (and what a modem can do)
    an hour, at most ``per_day`` a local day (``sent_today`` already used today).
    """
    rate = min(per_hour or modem_per_hour, modem_per_hour)
    left = float(parts)
    now = start
    used = float(sent_today)
    for _ in range(24 * 400):  # a year of hours at most: the estimate of the absurd stays bounded
        if left <= 0:
            return now
        local = now.astimezone(tz)
        midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
        if in_quiet_hours(local.time().replace(tzinfo=None), quiet_start, quiet_end):
            now = _quiet_end(local, quiet_end, tz)
            if now.astimezone(tz).date() != local.date():
                used = 0.0
            continue
        day_left = (per_day - used) if per_day else float("inf")
        if day_left <= 0:
            now, used = midnight, 0.0
            continue
        window_end = min(now + timedelta(hours=1), midnight, _quiet_start_after(local, quiet_start, quiet_end, tz))
        hours = (window_end - now).total_seconds() / 3600
        can = min(rate * hours, day_left)
        if left <= can:
            return now + timedelta(hours=left / rate)
        left -= can
        used += can
        if can >= day_left:
            now, used = midnight, 0.0
        else:
            now = window_end
            if now >= midnight:
                used = 0.0
    return now


def _quiet_end(local: datetime, end: time, tz: tzinfo) -> datetime:
    moment = datetime.combine(local.date(), end, tzinfo=tz)
    return moment if moment > local else datetime.combine(local.date() + timedelta(days=1), end, tzinfo=tz)


def _quiet_start_after(local: datetime, start: time, end: time, tz: tzinfo) -> datetime:
    if start == end:
        return local + timedelta(days=1)
    moment = datetime.combine(local.date(), start, tzinfo=tz)
    return moment if moment > local else datetime.combine(local.date() + timedelta(days=1), start, tzinfo=tz)


def duration_words(seconds: float) -> tuple[int, int, int]:
    """(days, hours, minutes) of a duration, rounded up to the minute, for "about 2 days 5 hours"."""
    minutes = max(0, int(-(-seconds // 60)))
    return minutes // 1440, minutes // 60 % 24, minutes % 60
