"""The SIM in the officers' words: the dashboard's SIM card, its alerts, "Tin từ nhà mạng",
a broadcast's money and time.

Everything is read through the SIM area (``gateway.sim``): the line's state, the last credit
reading, who the SIM and the modem are, the loop test, the operators' notices, missed calls.
When an alert stands is ``gateway.alerts``' rule (the doctor reads the same); this module
says it in the page's language. No blueprint: the dashboard, the broadcasts' confirm page and
``/sim`` all use it, and none of them imports another.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlite_utils import Database

from gateway.alerts import Alert
from gateway.broadcasts import queries as broadcast_queries
from gateway.sim import balance, line, loop, notices, pacing
from gateway.sim import status as sim_status
from gateway.web.filters import local_time, mask, shorten
from gateway.web.services import current_config

NOTICE_CHARS = 160
ALERT_QUOTE_CHARS = 200
TOPIC_LABELS = {
    "lock": _l("khóa/chặn thuê bao"), "verify": _l("xác thực thông tin"), "biometric": _l("sinh trắc học"),
    "expiry": _l("hết hạn sử dụng"), "balance": _l("số dư"),
}
STATE_TONES = {"ok": "ok", "unknown": "plain", "barred": "bad", "no_credit": "bad", "refused": "bad"}
CALL_ACTIONS = {
    "menu": _l("Đã nhắn menu"), "paced": _l("Không nhắn lại (đã nhắn trong 1 giờ)"),
    "not_a_mobile": _l("Không nhắn (không phải số di động)"), "none": _l("Chỉ ghi lại"),
    "no_menu": _l("Không có menu để nhắn"),
}
CHANGED = {"sim": _l("SIM mới"), "modem": _l("modem mới"), "both": _l("SIM và modem mới")}


def money(amount: int | None) -> str:
    if amount is None:
        return "—"
    figure = f"{amount:,}".replace(",", ".")
    return _("%(amount)s đ", amount=figure)


def words(message: str | None) -> str:
    """A message the SIM area keeps in Vietnamese (``N_``), in the page's language."""
    return _(message) if message else ""


def duration(seconds: float) -> str:
    """``khoảng 2 giờ 5 phút``: each count in its plural form ("about 1 hour 5 minutes")."""
    days, hours, minutes = pacing.duration_words(seconds)
    day_words = ngettext("%(num)d ngày", "%(num)d ngày", days)
    hour_words = ngettext("%(num)d giờ", "%(num)d giờ", hours)
    minute_words = ngettext("%(num)d phút", "%(num)d phút", max(1, minutes) if not (days or hours) else minutes)
    if days:
        return _("khoảng %(span)s", span=day_words + " " + hour_words)
    if hours:
        return _("khoảng %(span)s", span=hour_words + " " + minute_words)
    return _("khoảng %(span)s", span=minute_words)


# -- the dashboard's SIM card --------------------------------------------------------------------

def card(db: Database, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """The SIM card's strings (the dashboard's HTML and its JSON refresh)."""
    config = current_config()
    sim = sim_status.read(db, config, now)
    days = sim["valid_days_left"]
    if sim["valid_until"] and days is not None:
        until = datetime.fromisoformat(sim["valid_until"]).strftime("%d/%m/%Y")
        valid = (ngettext("%(date)s (còn %(num)d ngày)", "%(date)s (còn %(num)d ngày)", days, date=until) if days >= 0
                 else _("%(date)s (đã quá hạn)", date=until))
    else:
        valid = "—"
    return {
        "state": sim["state"],
        "state_label": words(sim["reason"]) or _("Chưa rõ"),
        "tone": STATE_TONES.get(sim["state"], "plain"),
        "fix": fix_words(sim),
        "balance": money(sim["balance_vnd"]),
        "valid_until": valid,
        "read_at": local_time(sim["read_at"], tz) or _("chưa đọc"),
        "ussd_note": _("Modem này không hỗ trợ USSD: không đọc được số dư, hãy kiểm tra bằng điện thoại khác.")
        if sim["ussd"] == "unsupported" else "",
        "loop": loop_words(sim["loop_test"], tz, config),
        "identity": identity_words(sim["identity"]),
    }


def fix_words(sim: dict[str, Any]) -> str:
    """What to do about a faulty line, in the page's language ('' when the line is fine)."""
    template = line.FIXES.get(sim["state"])
    if template is None:
        return ""
    return _(template) % {"code": sim["code"] if sim["code"] is not None else "-", "detail": sim["detail"] or "-"}


def loop_words(test: dict[str, Any], tz: ZoneInfo, config) -> str:
    if loop.own_number(config.gateway.phone_number) is None:
        return _("Chưa đặt số điện thoại của cổng (gateway.phone_number)")
    if test["ok"] is None:
        return _("Chưa chạy")
    at = local_time(test["at"], tz)
    if test["ok"]:
        trip = test["round_trip_s"]
        seconds = f"{trip:.1f}" if trip is not None else "?"
        return _("Đạt lúc %(at)s (%(s)s giây)", at=at, s=seconds)
    return _("Không đạt lúc %(at)s: %(why)s", at=at, why=loop_error(test["error"]))


def loop_error(error: str | None) -> str:
    if error and error.startswith("did not come back"):
        return _("tin gửi tới chính số của cổng không quay lại")
    if error == "the loop SMS could not be sent":
        return _("không gửi được tin")
    return error or "?"


def identity_words(hashes: dict[str, str | None]) -> str:
    if not hashes["sim"] and not hashes["modem"]:
        return "—"
    return _("SIM %(sim)s · modem %(modem)s", sim=hashes["sim"] or "?", modem=hashes["modem"] or "?")


def topic_words(topics: str) -> str:
    return ", ".join(str(TOPIC_LABELS.get(t, t)) for t in topics.split(",") if t)


# -- lists ---------------------------------------------------------------------------------------

def notice_rows(db: Database, tz: ZoneInfo, limit: int = 5) -> list[dict[str, Any]]:
    return [{
        "id": row["id"],
        "time_display": local_time(row["received_at"], tz),
        "sender": row["sender"],
        "text": shorten(row["text"], NOTICE_CHARS),
        "topics": topic_words(row["topics"]) or _("quảng cáo, thông tin"),
        "tone": ("bad" if not row["read_at"] else "wait") if row["alert"] else "plain",
        "alert": bool(row["alert"]) and not row["read_at"],
    } for row in notices.recent(db, limit)]


def call_rows(rows: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    return [{
        "id": row["id"],
        "time_display": local_time(row["at"], tz),
        "number": mask(row["number"]) if row["number"] else (_("Số ẩn") if row["number_kind"] == "hidden"
                                                             else _("Không rõ số")),
        "action": str(CALL_ACTIONS.get(row["action"] or "", row["action"] or _("Đang xử lý"))),
        "callback": row["callback"],
        "can_reveal": bool(row["number"]),
    } for row in rows]


def dashboard(db: Database, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """What the dashboard's JSON adds: the SIM card and the operators' notices."""
    return {"sim": card(db, now, tz), "notices": notice_rows(db, tz)}


# -- a broadcast's money and time ------------------------------------------------------------------

def broadcast_budget(db: Database, total_parts: int, now: datetime) -> dict[str, Any]:
    """The confirm page's lines: the cost against the last credit reading, and how long it takes."""
    config = current_config()
    cost = total_parts * config.broadcasts.price_per_part
    check = balance.confirm_check(db, cost, config.sim.reserve)
    b = config.broadcasts
    end = pacing.finish_time(total_parts, now, per_hour=config.sms.max_per_hour, per_day=config.sms.max_per_day,
                             quiet_start=time.fromisoformat(b.quiet_start), quiet_end=time.fromisoformat(b.quiet_end),
                             tz=config.timezone)
    return {
        "balance": money(check.balance_vnd),
        "read_at": local_time(check.read_at, config.timezone) if check.read_at else "",
        "after": money(check.left_vnd),
        "reserve": money(config.sim.reserve),
        "allowed": check.allowed,
        "known": check.balance_vnd is not None,
        "duration": duration((end - now).total_seconds()),
        "end": local_time(end.isoformat(), config.timezone),
        "caps": _("%(h)s tin/giờ, %(d)s tin/ngày", h=config.sms.max_per_hour or "∞", d=config.sms.max_per_day or "∞"),
    }


def refused_text(budget: dict[str, Any]) -> str:
    return _("Không đủ tiền: số dư %(balance)s (đọc lúc %(at)s), sau khi gửi chỉ còn %(after)s, dưới mức phải giữ "
             "lại %(reserve)s để trả lời người dân. Hãy nạp tiền cho SIM, đọc lại số dư rồi gửi.",
             balance=budget["balance"], at=budget["read_at"], after=budget["after"], reserve=budget["reserve"])


def expected_end(db: Database, broadcast_id: int, now: datetime) -> str:
    """When a running broadcast should be done, under the caps and quiet hours ('' when not running)."""
    left = broadcast_queries.parts_left(db, broadcast_id)
    if not left:
        return ""
    config = current_config()
    b = config.broadcasts
    end = pacing.finish_time(left, now, per_hour=config.sms.max_per_hour, per_day=config.sms.max_per_day,
                             quiet_start=time.fromisoformat(b.quiet_start), quiet_end=time.fromisoformat(b.quiet_end),
                             tz=config.timezone)
    return ngettext("%(end)s (%(num)d tin còn lại, %(duration)s)", "%(end)s (%(num)d tin còn lại, %(duration)s)",
                    left, end=local_time(end.isoformat(), config.timezone),
                    duration=duration((end - now).total_seconds()))


def hold_words(db: Database, broadcast_id: int) -> str:
    """Why the gateway paused this broadcast (credit under the reserve), '' if it did not."""
    held = balance.hold_of(db, broadcast_id)
    if held is None:
        return ""
    return _("Cổng đã tạm dừng lúc %(at)s vì tiền trong SIM còn %(amount)s, dưới mức giữ lại %(reserve)s. "
             "Nạp tiền, đọc lại số dư trên trang Tổng quan, rồi bấm “Tiếp tục gửi”: người đã nhận không nhận lại.",
             at=local_time(held["held_at"], current_config().timezone), amount=money(held["balance_vnd"]),
             reserve=money(held["reserve"]))


# -- alerts (the rules: gateway.alerts.sim) -------------------------------------------------------

#: The SIM's alert keys (``gateway.alerts.sim``) and where on ``/sim`` each is dealt with.
ALERT_ANCHORS = {"sim_line": "", "sim_credit": "", "sim_validity": "", "sim_identity": "#identity",
                 "sim_loop": "", "sim_notice": "#notices", "calls": "#calls"}


def alert_view(alert: Alert, tz: ZoneInfo) -> dict[str, str]:
    """One of the SIM's alerts as the dashboard shows it: a sentence and a link to ``/sim``."""
    return {"key": alert.key, "tone": alert.tone, "text": alert_text(alert, tz),
            "url": url_for("sim.page") + ALERT_ANCHORS.get(alert.key, ""), "link": str(_l("Xem SIM"))}


def alert_text(alert: Alert, tz: ZoneInfo) -> str:
    v, config = alert.values, current_config()
    match alert.key:
        case "sim_line":
            return _("%(state)s. %(fix)s", state=words(v["reason"]), fix=fix_words(v))
        case "sim_credit":
            return _("Tiền trong SIM còn %(amount)s (đọc lúc %(at)s), dưới mức cảnh báo %(alert)s: hãy nạp tiền cho"
                     " SIM. Khi còn dưới %(reserve)s, bản tin cảnh báo tạm dừng để giữ tiền trả lời người dân.",
                     amount=money(v["balance_vnd"]), at=local_time(v["read_at"], tz),
                     alert=money(config.sim.balance_alert), reserve=money(config.sim.reserve))
        case "sim_validity":
            until = datetime.fromisoformat(v["valid_until"]).strftime("%d/%m/%Y")
            if v["days"] < 0:
                return _("SIM đã quá hạn sử dụng từ %(date)s: nhà mạng khóa chiều đi, rồi hai chiều, rồi thu hồi số. "
                         "Hãy nạp tiền ngay.", date=until)
            return ngettext("SIM hết hạn sử dụng ngày %(date)s (còn %(num)d ngày): sau ngày đó nhà mạng khóa chiều đi,"
                            " rồi hai chiều, rồi thu hồi số. Hãy nạp tiền để gia hạn.",
                            "SIM hết hạn sử dụng ngày %(date)s (còn %(num)d ngày): sau ngày đó nhà mạng khóa chiều đi,"
                            " rồi hai chiều, rồi thu hồi số. Hãy nạp tiền để gia hạn.", v["days"], date=until)
        case "sim_identity":
            return _("Cổng thấy %(what)s từ %(at)s. Theo Thông tư 08/2026/TT-BKHCN, SIM lắp sang thiết bị khác "
                     "bị chặn gọi đi và nhắn tin đi sau khoảng 2 giờ nếu chủ thuê bao chưa xác thực lại (sau 30 ngày "
                     "bị khóa hai chiều). Chủ thuê bao xác thực khuôn mặt trên VNeID, ứng dụng của nhà mạng "
                     "hoặc tại cửa hàng, rồi bấm “Đã xác thực lại”.", what=CHANGED.get(v["changed"], v["changed"]),
                     at=local_time(v["first_seen"], tz))
        case "sim_loop":
            return _("Kiểm tra vòng SMS không đạt lúc %(at)s (%(why)s): nhà mạng có thể không chuyển "
                     "SMS chiều đi hoặc chiều đến. Kiểm tra SIM (tiền, hạn, bị chặn) và tin từ nhà mạng.",
                     at=local_time(v["at"], tz), why=loop_error(v["error"]))
        case "sim_notice":
            return _("Tin từ nhà mạng (%(sender)s, %(at)s) về %(topics)s: “%(text)s”",
                     sender=v["sender"], at=local_time(v["received_at"], tz), topics=topic_words(v["topics"]),
                     text=shorten(v["text"], ALERT_QUOTE_CHARS))
        case "calls":
            return ngettext("%(num)d cuộc gọi nhỡ chờ cán bộ gọi lại.", "%(num)d cuộc gọi nhỡ chờ cán bộ gọi lại.",
                            v["n"])
    return alert.key
