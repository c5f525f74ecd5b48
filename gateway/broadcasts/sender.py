"""Pacing: deliveries become outbox rows a few at a time, within the rules that protect villagers.

- **Replies first.** Broadcast SMS go to the outbox with a higher priority number than menu
  replies (``broadcasts.priority``, default 10; replies are 0), and the outbox never holds
  more than ``broadcasts.window_parts`` unsent broadcast parts. A villager's question waits
  at most for the part already in the modem, never behind a 2,000-person broadcast.
- **Quiet hours** (default 22:00-07:00 local): no broadcast SMS goes out; those already in
  the outbox that have not started wait until the end (``next_attempt_at``). A broadcast
  waits, it does not drop. Replies are never held.
- **At most N per day** (``broadcasts.per_day``, default 1) per number, counted over the
  local day: a second broadcast for someone who already got one today waits until tomorrow.
- **Never twice.** A delivery and its outbox row are written in one transaction, and a
  number that left since the run fired is skipped.
- **Invitations** (the one SMS asking a number an officer added or imported for DK) go the
  same way, after the recipients of broadcasts, within the same window and quiet hours, at
  most ``broadcasts.invitations_per_hour``; each is written with its outbox row (never twice).

Time: the rules use the trusted clock (``clock.py``); outbox rows carry the modem worker's
clock (the system clock), so the two are converted with the trusted clock's offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from sqlite_utils import Database

from gateway import outbox, state
from gateway.broadcasts import consent, runs
from gateway.storage import utcnow_iso, write_transaction

KIND = "broadcast"
INVITATION_KIND = "invitation"  # the one SMS that asks a number an officer added for DK
#: ``state`` key where the sender says why it holds (``PumpResult.held``), written when that
#: changes: the heartbeat's campaign progress reads it, also from ``python app.py sync``.
HOLD_STATE_KEY = "broadcast_hold"


@dataclass(frozen=True)
class SenderSettings:
    tz: tzinfo
    quiet_start: time = time(22, 0)
    quiet_end: time = time(7, 0)
    per_day: int = 1
    priority: int = 10
    window_parts: int = 10
    max_parts: int = 10
    invitations_per_hour: int = 30


@dataclass(frozen=True, slots=True)
class PumpResult:
    """One pass: SMS queued now, deliveries still pending, parts waiting in the outbox, and
    why the sender holds (None, "clock" or "quiet")."""

    queued: int
    pending: int
    in_outbox: int
    held: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.pending or self.in_outbox)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """True inside [start, end) local time; the window may cross midnight (22:00-07:00)."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_until(now: datetime, s: SenderSettings) -> datetime | None:
    """When the quiet hours around ``now`` end, or None outside them."""
    local = now.astimezone(s.tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), s.quiet_start, s.quiet_end):
        return None
    end = datetime.combine(local.date(), s.quiet_end, tzinfo=s.tz)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), s.quiet_end, tzinfo=s.tz)
    return end


def next_local_midnight(now: datetime, tz: tzinfo) -> datetime:
    local = now.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)


class Sender:
    """Moves pending deliveries into the outbox (see the module docstring)."""

    def __init__(self, settings: SenderSettings) -> None:
        self.s = settings

    def pump(self, db: Database, now: datetime, *, trusted: bool = True,
             system_now: datetime | None = None) -> PumpResult:
        """One pass at trusted time ``now``; ``system_now`` is the outbox's clock (default: now)."""
        system_now = system_now or now
        offset = now - system_now
        in_outbox = self.parts_in_outbox(db)
        if not trusted:
            return PumpResult(0, self.pending(db, now), in_outbox, "clock")
        quiet_end = quiet_until(now, self.s)
        if quiet_end is not None:
            self._hold(db, quiet_end - offset)
            return PumpResult(0, self.pending(db, now), in_outbox, "quiet")
        room = self.s.window_parts - in_outbox
        queued = 0
        if room > 0:
            queued = self._fill(db, now, system_now, room)
        return PumpResult(queued, self.pending(db, now), self.parts_in_outbox(db) if queued else in_outbox)

    @staticmethod
    def parts_in_outbox(db: Database) -> int:
        return outbox.unsent_parts(db, KIND) + outbox.unsent_parts(db, INVITATION_KIND)

    @staticmethod
    def pending(db: Database, now: datetime) -> int:
        """Deliveries still to go out for live broadcasts (held ones included), and invitations."""
        return runs.pending_count(db) + consent.pending_count(db)

    def _hold(self, db: Database, until_system: datetime) -> None:
        """Quiet hours: broadcast SMS and invitations that no modem has started wait until they end."""
        with write_transaction(db):
            outbox.hold_unstarted(db, KIND, utcnow_iso(until_system))
            outbox.hold_unstarted(db, INVITATION_KIND, utcnow_iso(until_system))

    def _fill(self, db: Database, now: datetime, system_now: datetime, room: int) -> int:
        day_start = next_local_midnight(now, self.s.tz) - timedelta(days=1)
        tomorrow = next_local_midnight(now, self.s.tz)
        queued = 0
        with write_transaction(db):
            for delivery_id, number, text, parts, receives in runs.due_deliveries(db, now, room + 20):
                if room <= 0:
                    break
                if not receives:
                    runs.skip(db, delivery_id, "đã ngừng nhận / left")
                    continue
                if runs.handed_over_since(db, number, day_start) >= self.s.per_day:
                    runs.defer(db, delivery_id, tomorrow, f"đủ {self.s.per_day} tin/ngày, chờ hôm sau / daily limit")
                    continue
                outbox_id = outbox.enqueue(
                    db, number, text, kind=KIND, now=system_now, auto=False, priority=self.s.priority,
                    max_parts=self.s.max_parts,
                )
                runs.handed_over(db, delivery_id, outbox_id, now)
                room -= parts or 1
                queued += 1
            queued += self._invite(db, now, system_now, room)
        return queued

    def _invite(self, db: Database, now: datetime, system_now: datetime, room: int) -> int:
        """The one invitation of numbers an officer added: after the broadcasts' recipients, in
        what room the window leaves, at most ``invitations_per_hour`` (identical texts to numbers
        that never wrote first are what operators lock a line for). Inside ``_fill``'s transaction."""
        allowed = min(room, self.s.invitations_per_hour - consent.queued_since(db, now - timedelta(hours=1)))
        queued = 0
        for invitation_id, number, text, status in consent.due_invitations(db, max(allowed, 0)):
            if status != "invited":
                consent.invitation_dropped(db, invitation_id, f"không còn chờ mời ({status}) / not waiting")
                continue
            outbox_id = outbox.enqueue(
                db, number, text, kind=INVITATION_KIND, now=system_now, auto=False, priority=self.s.priority,
                max_parts=self.s.max_parts,
            )
            consent.invitation_queued(db, invitation_id, outbox_id, now)
            queued += 1
        return queued


def publish_hold(db: Database, held: str | None, now: datetime) -> None:
    """Say why the sender holds now (None: it does not): ``state`` ``broadcast_hold``."""
    state.put_json(db, HOLD_STATE_KEY, {"held": held, "at": utcnow_iso(now)}, now)


def published_hold(db: Database) -> str | None:
    """Why the sender held at its last pass (``quiet``, ``clock``, ...), or None."""
    value = state.get_json(db, HOLD_STATE_KEY)
    held = value.get("held") if value else None
    return held if isinstance(held, str) else None
