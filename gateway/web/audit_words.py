"""The audit log's details as sentences: what each action did, in the reader's language.

The log stores a detail per entry as the acting area wrote it: a small JSON object
(``{"from": "new", "to": "handling"}``, ``{"villages": 4, "groups_added": ["Na Hối"]}``) or,
in entries written before the areas stored objects, a short text (``new -> handling``,
``outbox 8, 1 SMS, ucs2``). An admin reading ``/admin/audit`` should see neither JSON nor
codes: each action has its sentence here, read from either form. A detail no sentence knows
is shown as "key: value" pairs, never as JSON.

No blueprint: the audit page of the gateway and of the hub (``gateway.web.admin``) use it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import ngettext

from gateway.accounts import users
from gateway.web.filters import label, local_time

Sentence = Callable[[Any, ZoneInfo], str]
_ARROW = re.compile(r"^\s*(\w+)\s*->\s*(\w+)\s*$")
_LEGACY_REPLY = re.compile(r"^outbox (\d+), (\d+) SMS, (\w+)$")
_LEGACY_NOTE = re.compile(r"^note (\d+)$")


def parse(detail: str) -> Any:
    """A stored detail: the JSON object it holds, or the text as it is."""
    text = (detail or "").strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _role(role: Any) -> str:
    return str(users.ROLE_LABELS.get(role, role))


def _encoding(code: Any) -> str:
    return {"ucs2": _("có dấu"), "gsm7": _("không dấu")}.get(str(code), str(code))


def _from_to(value: Any) -> tuple[str, str] | None:
    """(before, after) of a change stored as ``{"from", "to"}`` or, before, as ``a -> b``."""
    if isinstance(value, dict) and "to" in value:
        return str(value.get("from") or ""), str(value["to"] or "")
    match = _ARROW.match(value) if isinstance(value, str) else None
    return (match.group(1), match.group(2)) if match else None


def _tip_status(value: Any, tz: ZoneInfo) -> str:
    pair = _from_to(value)
    if pair is None:
        return _generic(value, tz)
    return _("Từ «%(old)s» sang «%(new)s».", old=label("tip", pair[0]), new=label("tip", pair[1]))


def _tip_assign(value: Any, tz: ZoneInfo) -> str:
    who = value.get("to") if isinstance(value, dict) else (None if value in ("", "-") else value)
    return _("Giao cho %(who)s.", who=who) if who else _("Bỏ giao việc.")


def _tip_village(value: Any, tz: ZoneInfo) -> str:
    village = value.get("village") if isinstance(value, dict) else (None if value in ("", "-") else value)
    return _("Thôn: %(village)s.", village=village) if village else _("Xoá tên thôn.")


def _tip_note(value: Any, tz: ZoneInfo) -> str:
    match = _LEGACY_NOTE.match(value) if isinstance(value, str) else None
    number = value.get("note") if isinstance(value, dict) else (match.group(1) if match else None)
    return _("Ghi chú số %(n)s (chỉ cán bộ thấy).", n=number) if number else _generic(value, tz)


def _tip_reply(value: Any, tz: ZoneInfo) -> str:
    match = _LEGACY_REPLY.match(value) if isinstance(value, str) else None
    if match:
        value = {"outbox": match.group(1), "parts": int(match.group(2)), "encoding": match.group(3)}
    if not isinstance(value, dict) or not isinstance(value.get("parts"), int):
        return _generic(value, tz)
    return ngettext("Một tin nhắn %(encoding)s vào hàng gửi.", "%(num)d tin nhắn %(encoding)s vào hàng gửi.",
                    value["parts"], encoding=_encoding(value.get("encoding")))


def _tip_confirmation(value: Any, tz: ZoneInfo) -> str:
    pair = _from_to(value)
    if pair is None:
        return _generic(value, tz)
    return _("Trước đó: %(old)s.", old={"pending": _("chờ xác nhận"), "dismissed": _("không phải tin báo"),
                                         "confirmed": _("đã xác nhận")}.get(pair[0], pair[0]))


def _setup(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("villages"), int):
        return _generic(value, tz)
    text = ngettext("Một thôn có số công an phụ trách.", "%(num)d thôn có số công an phụ trách.", value["villages"])
    added = [str(name) for name in value.get("groups_added") or []]
    if added:
        text += " " + _("Thêm vào nhóm nhận cảnh báo: %(names)s.", names=", ".join(added))
    return text


def _menus_save(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict):
        return _generic(value, tz)
    parts = []
    if value.get("language"):
        parts.append(_("Ngôn ngữ: %(code)s.", code=value["language"]))
    if value.get("from") is not None:
        parts.append(_("Chép lại bản #%(n)s.", n=value["from"]))
    if value.get("comment"):
        parts.append(_("Ghi chú: «%(comment)s».", comment=value["comment"]))
    return " ".join(parts)


def _user_create(value: Any, tz: ZoneInfo) -> str:
    role = value.get("role") if isinstance(value, dict) else None
    return _("Quyền: %(role)s.", role=_role(role)) if role else _generic(value, tz)


def _user_role(value: Any, tz: ZoneInfo) -> str:
    pair = _from_to(value)
    if pair is None:
        return _generic(value, tz)
    return _("Từ %(old)s thành %(new)s.", old=_role(pair[0]), new=_role(pair[1]))


def _denied(value: Any, tz: ZoneInfo) -> str:
    needs = value.get("needs") if isinstance(value, dict) else None
    return _("Trang này cần quyền %(role)s.", role=_role(needs)) if needs else _generic(value, tz)


def _throttled(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("count"), int):
        return _generic(value, tz)
    names = ", ".join(str(name) for name in value.get("names") or [])
    text = ngettext("Một lần bị chặn", "%(num)d lần bị chặn", value["count"])
    if names:
        text += " " + _("(tên đã thử: %(names)s)", names=names)
    if value.get("last_at"):
        text += ", " + _("lần cuối %(at)s", at=local_time(value["last_at"], tz))
    return text + "."


def _number(value: Any, tz: ZoneInfo) -> str:
    """Duty roster entries: the masked number (never a full one) and the Zalo tie."""
    if not isinstance(value, dict):
        return _generic(value, tz)
    text = _("Số %(number)s.", number=value.get("number") or "—")
    if value.get("zalo_user_id"):
        text += " " + _("Gắn với Zalo của cán bộ.")
    return text


def _sync_export(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("tips"), int):
        return _generic(value, tz)
    return ngettext("Một tin báo trong tệp.", "%(num)d tin báo trong tệp.", value["tips"])


def _sync_retry(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, dict) and isinstance(value.get("rows"), int):
        return ngettext("Một tin được gửi lại ngay.", "%(num)d tin được gửi lại ngay.", value["rows"])
    if isinstance(value, dict) and value.get("destination"):
        return _("Nơi nhận: %(where)s.", where=_destination(value["destination"]))
    return _generic(value, tz)


def _destination(code: Any) -> str:
    return {"zalo": _("Zalo OA"), "district": _("máy chủ cấp trên")}.get(str(code), str(code))


def _zalo_token(value: Any, tz: ZoneInfo) -> str:
    return _("Dán mã làm mới (refresh token) mới; mã không được ghi vào nhật ký.")


def _broadcast_create(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict):
        return _generic(value, tz)
    text = _("«%(title)s»", title=value.get("title") or "—")
    when = {"now": _("gửi ngay"), "once": _("gửi một lần"), "weekly": _("hằng tuần"),
            "monthly": _("hằng tháng")}.get(str(value.get("schedule")), "")
    if when:
        text += ", " + when
    text += ", " + (_("lên lịch gửi") if value.get("start") else _("lưu nháp"))
    return text + "."


def _subscriber_outcome(value: Any, tz: ZoneInfo) -> str:
    outcome = value.get("outcome") if isinstance(value, dict) else None
    words = {"added": _("Thêm mới."), "updated": _("Cập nhật."), "rejoined": _("Nhận lại cảnh báo."),
             "refused_left": _("Không thêm lại: người này đã tự nhắn TC để ngừng nhận.")}
    return str(words.get(outcome, outcome)) if outcome else _generic(value, tz)


def _subscriber_import(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict):
        return _generic(value, tz)
    counts = [ngettext("%(num)d người mới", "%(num)d người mới", int(value.get("added") or 0)),
              ngettext("%(num)d cập nhật", "%(num)d cập nhật", int(value.get("updated") or 0)),
              ngettext("%(num)d đã ngừng nhận, không thêm lại", "%(num)d đã ngừng nhận, không thêm lại",
                       int(value.get("skipped_left") or 0)),
              ngettext("%(num)d dòng lỗi", "%(num)d dòng lỗi", int(value.get("problems") or 0))]
    return ", ".join(counts) + "."


def _subscriber_village(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("placed"), int):
        return _generic(value, tz)
    return ngettext("Xếp một người vào thôn.", "Xếp %(num)d người vào thôn.", value["placed"])


def _subscriber_group(value: Any, tz: ZoneInfo) -> str:
    kind = value.get("kind") if isinstance(value, dict) else None
    return {"village": _("Một thôn."), "label": _("Một nhóm.")}.get(str(kind), _generic(value, tz))


def _subscriber_search(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("found"), int):
        return _generic(value, tz)
    return ngettext("Tìm thấy một người.", "Tìm thấy %(num)d người.", value["found"])


def _export(value: Any, tz: ZoneInfo) -> str:
    if not isinstance(value, dict):
        return _generic(value, tz)
    shown = {key: item for key, item in value.items() if key != "full_numbers"}
    text = _("Có số đầy đủ.") if value.get("full_numbers") else _("Số đã che.")
    if shown:
        text += " " + _("Lọc: %(filters)s.", filters=_pairs(shown))
    return text


SENTENCES: dict[str, Sentence] = {
    "tip.status": _tip_status,
    "tip.assign": _tip_assign,
    "tip.village": _tip_village,
    "tip.note": _tip_note,
    "tip.reply": _tip_reply,
    "tip.confirm": _tip_confirmation,
    "tip.dismiss": _tip_confirmation,
    "tip.export": _export,
    "tip.export_full": _export,
    "menus.setup": _setup,
    "menus.save": _menus_save,
    "menus.restore": _menus_save,
    "menus.language.add": _menus_save,
    "menus.language.delete": _menus_save,
    "user.create": _user_create,
    "user.role": _user_role,
    "access.denied": _denied,
    "login.throttled": _throttled,
    "duty.add": _number,
    "duty.remove": _number,
    "duty.pause": _number,
    "duty.resume": _number,
    "sync.retry": _sync_retry,
    "sync.zalo_token": _zalo_token,
    "sync.export": _sync_export,
    "broadcast.create": _broadcast_create,
    "subscriber.add": _subscriber_outcome,
    "subscriber.edit": _subscriber_outcome,
    "subscriber.import": _subscriber_import,
    "subscriber.village": _subscriber_village,
    "subscriber.group": _subscriber_group,
    "subscriber.search": _subscriber_search,
}


def _pairs(value: dict[str, Any]) -> str:
    def shown(item: Any) -> str:
        if isinstance(item, bool):
            return _("có") if item else _("không")
        if isinstance(item, list | tuple):
            return ", ".join(map(str, item))
        return str(item)
    return "; ".join(f"{key}: {shown(item)}" for key, item in value.items())


def _generic(value: Any, tz: ZoneInfo) -> str:
    """A detail no sentence reads: its pairs in plain words, never JSON."""
    if isinstance(value, dict):
        return _pairs(value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def sentence(action: str, detail: str, tz: ZoneInfo) -> str:
    """What an entry's detail says, as a sentence for its action (empty when there is nothing)."""
    value = parse(detail)
    if value in ("", None, {}):
        return ""
    words = SENTENCES.get(action, _generic)
    try:
        return words(value, tz)
    except (TypeError, ValueError, KeyError):  # a detail of an unexpected shape: still no JSON
        return _generic(value, tz)
