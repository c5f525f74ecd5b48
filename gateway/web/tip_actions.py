"""What officers do to a tip: status, assignment, village, notes, SMS replies, number views.

Each action is one write transaction that also writes the tip's history (what the tip page
shows) and the audit log (what admins read), so neither can miss an action that happened. The
audit detail is a small object (``{"from": "new", "to": "handling"}``) that the log's page
words as a sentence (``gateway.web.audit_words``).
Views call these and turn ``TipActionError`` into a flash message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlite_utils import Database

from gateway import outbox, phone, tips
from gateway.accounts import audit
from gateway.errors import TinBaoError
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau as strip_diacritics
from gateway.storage import write_transaction
from gateway.sync.hooks import enqueue_tip
from gateway.tips import history

REPLY_MAX_CHARS = 1000
NOTE_MAX_CHARS = 4000
VILLAGE_MAX_CHARS = 60
REPLY_KIND = "officer"
_SPACES = re.compile(r"\s+")


class TipActionError(TinBaoError):
    """An action the officer asked for that cannot be done; the message is shown as it is."""


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """What a reply costs, as the server counts it (the page's live count is only a preview)."""

    text: str
    encoding: str
    parts: int
    units: int


def plan_reply(text: str, khong_dau: bool) -> ReplyPlan:
    body = strip_diacritics(text) if khong_dau else text
    segments = plan(body)
    return ReplyPlan(body, segments.encoding, segments.count, segments.units)


def _current(db: Database, reference: str) -> dict[str, Any]:
    tip = tips.by_reference(db, reference)
    if tip is None:
        raise TipActionError(_("Không tìm thấy tin báo này."))
    return tip


def change_status(db: Database, reference: str, status: str, *, by: str, now: datetime, ip: str = "") -> bool:
    """Move a tip to ``status``; False (and nothing written) when it already has it."""
    if status not in tips.STATUSES:
        raise TipActionError(_("Trạng thái không hợp lệ."))
    with write_transaction(db):
        tip = _current(db, reference)
        if tip["status"] == status:
            return False
        tips.set_status(db, reference, status, by=by, now=now)
        history.record(db, tip["id"], now, by, "status", tip["status"], status)
        audit.record(db, by, "tip.status", reference, {"from": tip["status"], "to": status}, ip=ip, now=now)
    return True


def take(db: Database, reference: str, *, by: str, now: datetime, ip: str = "", allowed: list[str]) -> bool:
    """"Nhận xử lý": the officer who pressed it takes the tip: it is theirs and "Đang xử lý".

    One transaction: the status and the assignment change together, each in the tip's history
    and the audit log. False when the tip was already theirs and being handled.
    """
    if by not in allowed:
        raise TipActionError(_("Không có cán bộ này."))
    with write_transaction(db):
        changed = change_status(db, reference, "handling", by=by, now=now, ip=ip)
        changed = assign(db, reference, by, by=by, now=now, ip=ip, allowed=allowed) or changed
    return changed


def assign(db: Database, reference: str, username: str | None, *, by: str, now: datetime, ip: str = "",
           allowed: list[str]) -> bool:
    """Give a tip to an officer (``None``: to nobody); False when nothing changed."""
    username = (username or "").strip() or None
    if username is not None and username not in allowed:
        raise TipActionError(_("Không có cán bộ này."))
    with write_transaction(db):
        tip = _current(db, reference)
        if tip["assigned_to"] == username:
            return False
        tips.assign(db, tip["id"], username, now=now)
        history.record(db, tip["id"], now, by, "assign", tip["assigned_to"], username)
        audit.record(db, by, "tip.assign", reference, {"to": username}, ip=ip, now=now)
    return True


def set_village(db: Database, reference: str, village: str, *, by: str, now: datetime, ip: str = "") -> bool:
    """Write down which village (thôn) a tip is about; False when nothing changed."""
    value = _SPACES.sub(" ", village or "").strip() or None
    if value is not None and len(value) > VILLAGE_MAX_CHARS:
        raise TipActionError(_("Tên thôn dài quá %(n)d ký tự.", n=VILLAGE_MAX_CHARS))
    with write_transaction(db):
        tip = _current(db, reference)
        if tip["village"] == value:
            return False
        tips.set_village(db, tip["id"], value)
        history.record(db, tip["id"], now, by, "village", tip["village"], value)
        audit.record(db, by, "tip.village", reference, {"village": value}, ip=ip, now=now)
    return True


def add_note(db: Database, reference: str, text: str, *, by: str, now: datetime, ip: str = "") -> int:
    """Keep an internal note on a tip (never sent to anybody)."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise TipActionError(_("Ghi chú đang trống."))
    if len(text) > NOTE_MAX_CHARS:
        raise TipActionError(_("Ghi chú dài quá %(n)d ký tự.", n=NOTE_MAX_CHARS))
    with write_transaction(db):
        tip = _current(db, reference)
        note_id = history.add_note(db, tip["id"], text, by=by, now=now)
        audit.record(db, by, "tip.note", reference, {"note": note_id}, ip=ip, now=now)
    return note_id


def reply(db: Database, reference: str, text: str, *, khong_dau: bool, by: str, now: datetime,
          max_parts: int, ip: str = "") -> tuple[int, ReplyPlan]:
    """Queue an officer's SMS answer to the tipster; returns the outbox id and its real cost."""
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise TipActionError(_("Nội dung trả lời đang trống."))
    if len(text) > REPLY_MAX_CHARS:
        raise TipActionError(_("Nội dung trả lời dài quá %(n)d ký tự.", n=REPLY_MAX_CHARS))
    cost = plan_reply(text, khong_dau)
    if cost.parts > max_parts:
        raise TipActionError(_(
            "Tin trả lời dài %(parts)d tin nhắn, tối đa %(max)d. Hãy viết ngắn lại"
            " hoặc bật “không dấu”.", parts=cost.parts, max=max_parts,
        ))
    with write_transaction(db):
        tip = _current(db, reference)
        if not phone.normalise(tip["tipster"]).can_auto_reply:
            raise TipActionError(_("Số của người báo không nhận được tin nhắn (tổng đài hoặc tên)."))
        outbox_id = outbox.enqueue(
            db, tip["tipster"], text, kind=REPLY_KIND, now=now, auto=False,
            in_reply_to=tip["inbox_id"], khong_dau=khong_dau, max_parts=max_parts,
        )
        history.record(db, tip["id"], now, by, "reply", None, f"{cost.parts}", outbox_id)
        audit.record(db, by, "tip.reply", reference,
                     {"outbox": outbox_id, "parts": cost.parts, "encoding": cost.encoding}, ip=ip, now=now)
    return outbox_id, cost


HOLD_REASON_MAX_CHARS = tips.HOLD_REASON_MAX_CHARS


def hold(db: Database, reference: str, reason: str, *, by: str, now: datetime, ip: str = "") -> bool:
    """Keep a tip from the retention purge and from a person's erasure (an investigation needs
    it); the reason is required. False when it is held already with the same reason."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise TipActionError(_("Hãy ghi lý do giữ tin báo."))
    if len(reason) > HOLD_REASON_MAX_CHARS:
        raise TipActionError(_("Lý do dài quá %(n)d ký tự.", n=HOLD_REASON_MAX_CHARS))
    with write_transaction(db):
        tip = _current(db, reference)
        if tip["hold_reason"] == reason:
            return False
        tips.hold(db, tip["id"], reason, by=by, now=now)
        history.record(db, tip["id"], now, by, "hold", tip["hold_reason"], reason)
        audit.record(db, by, "tip.hold", reference, reason, ip=ip, now=now)
    return True


def release_hold(db: Database, reference: str, *, by: str, now: datetime, ip: str = "") -> bool:
    """Lift a hold: the retention rules apply to the tip again. False when it was not held."""
    with write_transaction(db):
        tip = _current(db, reference)
        if tip["hold_reason"] is None:
            return False
        tips.release_hold(db, tip["id"])
        history.record(db, tip["id"], now, by, "unhold", tip["hold_reason"], None)
        audit.record(db, by, "tip.unhold", reference, tip["hold_reason"], ip=ip, now=now)
    return True


def reveal_number(db: Database, reference: str, *, by: str, now: datetime, ip: str = "") -> str:
    """The tipster's full number, for an officer who asked; the view is audited first."""
    with write_transaction(db):
        tip = _current(db, reference)
        if not tip["tipster"]:
            raise TipActionError(_("Số của người báo đã được xoá theo thời hạn lưu hoặc theo yêu cầu."))
        audit.record(db, by, "tip.reveal_number", reference, "", ip=ip, now=now)
    return phone.national(tip["tipster"]) if phone.normalise(tip["tipster"]).is_vietnamese else tip["tipster"]


def confirm(db: Database, reference: str, verdict: str, *, by: str, now: datetime, ip: str = "",
            destinations: tuple[str, ...] = ()) -> bool:
    """An officer says whether a message kept "to confirm" is a tip; False when already so.

    ``verdict`` "confirmed": a tip like any other, queued for ``destinations`` (the sync hook
    held it back); "dismissed": not a tip, closed. A dismissed one may still be confirmed.
    """
    if verdict not in (tips.CONFIRMED, tips.DISMISSED):
        raise TipActionError(_("Lựa chọn không hợp lệ."))
    with write_transaction(db):
        tip = _current(db, reference)
        old = tip.get("confirmation")
        if old == verdict:
            return False
        if old not in (tips.PENDING, tips.DISMISSED) or (verdict == tips.DISMISSED and old != tips.PENDING):
            raise TipActionError(_("Tin này không cần xác nhận."))
        tips.set_confirmation(db, tip["id"], verdict)
        history.record(db, tip["id"], now, by, "confirmation", old, verdict)
        status = "closed" if verdict == tips.DISMISSED else ("new" if tip["status"] == "closed" else tip["status"])
        if status != tip["status"]:
            tips.set_status(db, reference, status, by=by, now=now)
            history.record(db, tip["id"], now, by, "status", tip["status"], status)
        if verdict == tips.CONFIRMED and destinations:
            enqueue_tip(db, tips.Tip(tip["id"], tip["reference"], tip["uid"]), now, destinations)
        audit.record(db, by, "tip.confirm" if verdict == tips.CONFIRMED else "tip.dismiss", reference,
                     {"from": old, "to": verdict}, ip=ip, now=now)
    return True
