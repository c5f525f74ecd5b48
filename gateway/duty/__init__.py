"""The duty roster and the on-duty alert: officers on patrol hear of a new tip by SMS.

Officers out in the villages often carry a basic phone and no data, so the web page cannot
reach them. Each number on the roster gets one short SMS per new tip: its reference, the
village when known and the first words, without diacritics (one GSM-7 part). Never the
tipster's number: the alert may be read over a shoulder or forwarded (DESIGN.md rule 6).

``alert_new_tip`` is a router TipHook: it runs inside the router's transaction right after
the tip is stored, so the alert is queued exactly when the tip is (nothing lost, nothing
twice). One number's tips are alerted one by one only up to ``ALERTS_PER_SENDER_HOUR`` an
hour; the rest become one summary ("và 12 tin khác"), so a flood from one phone (30 ``TIN``
in a minute) cannot flood the officers' phones through the roster. It must never make the
router fail a villager's tip, so its work is a savepoint whose failure is logged and rolled
back alone.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlite_utils import Database

from gateway import outbox, phone, tips
from gateway.errors import TinBaoError
from gateway.sms.text import khong_dau
from gateway.storage import utcnow_iso, write_transaction
from gateway.tips import Tip

log = logging.getLogger(__name__)

ALERT_KIND = "duty_alert"
SUMMARY_KIND = "duty_summary"
#: Tips of one number alerted one by one within ``ALERT_WINDOW``; the rest make one summary.
ALERTS_PER_SENDER_HOUR = 3
ALERT_WINDOW = timedelta(hours=1)
#: How long a summary waits in the outbox gathering the tips that follow, before it goes.
SUMMARY_WAIT = timedelta(minutes=10)
PREVIEW_CHARS = 60
NAME_MAX_CHARS = 60
_SPACES = re.compile(r"\s+")


def N_(message: str) -> str:
    """Marks a message for the translators (pybabel's default keywords); the page translates it."""
    return message


class RosterError(TinBaoError):
    """A roster entry that cannot be saved.

    ``message`` is the Vietnamese source string (marked with ``N_``) and ``params`` its
    ``%(name)s`` values, so the web page can show it in the officer's language.
    """

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class DutyEntry:
    id: int
    number: str
    name: str
    active: bool
    created_at: str
    created_by: str
    changed_at: str | None
    changed_by: str | None
    zalo_user_id: str | None = None


def _entry(row: tuple) -> DutyEntry:
    return DutyEntry(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7], row[8])


_COLUMNS = "id, number, name, active, created_at, created_by, changed_at, changed_by, zalo_user_id"
ZALO_ID_MAX_CHARS = 32


def roster(db: Database, *, active_only: bool = False) -> list[DutyEntry]:
    """Every roster entry, active ones first, then by name."""
    where = "WHERE active = 1" if active_only else ""
    cursor = db.execute(f"SELECT {_COLUMNS} FROM duty_roster {where} ORDER BY active DESC, name, id")
    return [_entry(row) for row in cursor.fetchall()]


def get(db: Database, entry_id: int) -> DutyEntry | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM duty_roster WHERE id = ?", (entry_id,)).fetchone()
    return _entry(row) if row else None


def add(db: Database, raw_number: str, name: str, *, by: str, now: datetime,
        zalo_user_id: str | None = None) -> DutyEntry:
    """Put a number on the roster (or switch it back on, with the new name).

    Only numbers that can receive an SMS from us are accepted: a mobile, landline or
    international number, stored in E.164 so a number is one entry however it was typed.
    ``zalo_user_id`` (optional, digits) ties the number to an officer of ``zalo.officer_ids``:
    that officer gets tips by SMS while Zalo cannot reach them. Adding a number again sets it.
    """
    zalo_id = (zalo_user_id or "").strip() or None
    if zalo_id is not None and not (zalo_id.isascii() and zalo_id.isdigit() and len(zalo_id) <= ZALO_ID_MAX_CHARS):
        raise RosterError(N_("Mã Zalo (user_id) chỉ gồm chữ số, tối đa %(n)d ký tự."), n=ZALO_ID_MAX_CHARS)
    number = phone.normalise(raw_number or "")
    if not number.can_auto_reply:
        raise RosterError(N_("Số điện thoại không hợp lệ (ví dụ đúng: 0912345678)."))
    name = _SPACES.sub(" ", name or "").strip()
    if not name:
        raise RosterError(N_("Hãy nhập tên cán bộ."))
    if len(name) > NAME_MAX_CHARS:
        raise RosterError(N_("Tên dài quá %(n)d ký tự."), n=NAME_MAX_CHARS)
    stamp = utcnow_iso(now)
    with write_transaction(db):
        taken = zalo_id and db.execute("SELECT 1 FROM duty_roster WHERE zalo_user_id = ? AND number != ?",
                                       (zalo_id, number.value)).fetchone()
        if taken:
            raise RosterError(N_("Mã Zalo này đã gắn với một số khác trong danh sách trực."))
        db.execute(
            "INSERT INTO duty_roster (number, name, active, created_at, created_by, zalo_user_id)"
            " VALUES (?,?,1,?,?,?) ON CONFLICT(number) DO UPDATE SET name=excluded.name, active=1,"
            " changed_at=excluded.created_at, changed_by=excluded.created_by, zalo_user_id=excluded.zalo_user_id",
            (number.value, name, stamp, by, zalo_id),
        )
        row = db.execute(f"SELECT {_COLUMNS} FROM duty_roster WHERE number = ?", (number.value,)).fetchone()
    return _entry(row)


def set_active(db: Database, entry_id: int, active: bool, *, by: str, now: datetime) -> DutyEntry:
    """Pause or resume alerts to one number (kept on the roster, with who changed it)."""
    with write_transaction(db):
        cursor = db.execute(
            "UPDATE duty_roster SET active=?, changed_at=?, changed_by=? WHERE id=?",
            (int(active), utcnow_iso(now), by, entry_id),
        )
        if cursor.rowcount == 0:
            raise RosterError(N_("Không tìm thấy số này trong danh sách trực."))
    entry = get(db, entry_id)
    assert entry is not None
    return entry


def remove(db: Database, entry_id: int) -> DutyEntry:
    """Take a number off the roster for good."""
    entry = get(db, entry_id)
    if entry is None:
        raise RosterError(N_("Không tìm thấy số này trong danh sách trực."))
    with write_transaction(db):
        db.execute("DELETE FROM duty_roster WHERE id = ?", (entry_id,))
    return entry


def by_number(db: Database, number: str) -> DutyEntry | None:
    """The roster entry of one number (E.164), or None (a person's request: what is held)."""
    row = db.execute(f"SELECT {_COLUMNS} FROM duty_roster WHERE number = ?", (number,)).fetchone()
    return _entry(row) if row else None


def by_zalo_user(db: Database) -> dict[str, DutyEntry]:
    """Roster entries tied to a Zalo officer, by their Zalo user_id (paused ones too)."""
    cursor = db.execute(f"SELECT {_COLUMNS} FROM duty_roster WHERE zalo_user_id IS NOT NULL")
    return {entry.zalo_user_id: entry for entry in map(_entry, cursor.fetchall()) if entry.zalo_user_id}


def sms_zalo_officer(db: Database, zalo_user_id: str, text: str, now: datetime, *,
                     skip_active: bool = False) -> tuple[str, int | None]:
    """Queue one SMS (a duty alert, without diacritics) to the number tied to a Zalo officer.

    For the Zalo mirror: a tip Zalo could not bring to this officer, or a reminder that their
    Zalo window closes. Returns ``("queued", outbox id)``; ``("on_duty", None)`` when
    ``skip_active`` and the number is on duty (it had the tip's own duty alert already);
    ``("no_number", None)`` when no roster number carries this Zalo user_id.
    """
    row = db.execute("SELECT number, active FROM duty_roster WHERE zalo_user_id = ?", (zalo_user_id,)).fetchone()
    if row is None:
        return "no_number", None
    if skip_active and row[1]:
        return "on_duty", None
    outbox_id = outbox.enqueue(db, row[0], text, kind=ALERT_KIND, now=now, auto=False, khong_dau=True, max_parts=2)
    return "queued", outbox_id


def alert_text(reference: str, village: str | None, text: str) -> str:
    """``Tin bao moi CL-0042 (thon Na Hoi): <first 60 characters>``, without diacritics."""
    preview = _SPACES.sub(" ", text or "").strip()
    if len(preview) > PREVIEW_CHARS:
        preview = preview[: PREVIEW_CHARS - 3].rstrip() + "..."
    place = _SPACES.sub(" ", village or "").strip()
    where = f" (thon {place})" if place else ""
    return khong_dau(f"Tin bao moi {reference}{where}: {preview}".rstrip(": ").rstrip())


def summary_text(first_reference: str, more: int) -> str:
    """The one alert for a number's tips beyond the hourly cap, without diacritics:
    ``Tin bao moi CL-0004 va 26 tin khac tu cung mot so trong 1 gio: xem trang tin bao.``"""
    if more:
        text = f"Tin báo mới {first_reference} và {more} tin khác từ cùng một số trong 1 giờ: xem trang tin báo."
    else:
        text = (f"Tin báo mới {first_reference}: số này đã gửi {ALERTS_PER_SENDER_HOUR + 1} tin trong 1 giờ,"
                " xem trang tin báo.")
    return khong_dau(text)


def alert_new_tip(db: Database, tip: Tip, tipster: str, text: str, now: datetime) -> None:
    """TipHook: queue one alert SMS per active roster number (never to the tipster's number).

    At most ``ALERTS_PER_SENDER_HOUR`` tips of one number in an hour are alerted one by one;
    the rest of that hour's become one summary per roster number (``summary_text``: "và 12
    tin khác"), held ``SUMMARY_WAIT`` in the outbox and reworded while more come, so thirty
    ``TIN …`` from one phone bring the roster four SMS, not thirty. A summary that went
    already is not followed by another within the hour: the page shows every tip.
    """
    try:
        with write_transaction(db):
            numbers = [row[0] for row in db.execute("SELECT number FROM duty_roster WHERE active = 1")
                       if row[0] != tipster]  # the tipster is an officer trying it out; they know already
            if not numbers:
                return
            recent = tips.from_tipster_since(db, tipster, now - ALERT_WINDOW)
            if len(recent) <= ALERTS_PER_SENDER_HOUR or all(t["id"] != tip.id for t in recent):
                body = alert_text(tip.reference, tips.village_of(db, tip.id), text)
                for number in numbers:
                    outbox.enqueue(db, number, body, kind=ALERT_KIND, now=now, auto=False,
                                   khong_dau=True, max_parts=1)
                return
            _summarise(db, numbers, recent, now)
    except Exception:
        log.exception("duty alert for tip %s was not queued", tip.reference)


def _summarise(db: Database, numbers: list[str], recent: list[dict], now: datetime) -> None:
    """One summary per roster number for the tips past the cap (inside the hook's savepoint)."""
    held = recent[ALERTS_PER_SENDER_HOUR:]
    text = summary_text(held[0]["reference"], len(held) - 1)
    summaries = outbox.replies_of_kind(db, [t["inbox_id"] for t in recent if t["inbox_id"]], SUMMARY_KIND)
    if summaries:
        # Still gathering: the new count. Sent already: the rest of the hour waits on the page.
        outbox.retext_unstarted(db, [s["id"] for s in summaries], text, khong_dau=True, max_parts=1)
        return
    for number in numbers:
        outbox.enqueue(db, number, text, kind=SUMMARY_KIND, now=now, auto=False, khong_dau=True, max_parts=1,
                       in_reply_to=held[0]["inbox_id"], not_before=now + SUMMARY_WAIT)
