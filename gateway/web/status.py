"""The dashboard (``/``), its JSON for auto-refresh (``/api/dashboard``) and ``/healthz``.

The page and the JSON are built from the same view dicts (``dashboard_data``), so the HTML
rendered by Jinja and the rows rebuilt by ``static/dashboard.js`` show the same strings.
SMS text goes out as data only: Jinja escapes it, the script sets it with ``textContent``.

Every figure is read through the area that owns it (inbox, outbox, tips, the sync queue, the
modem's published state). When to raise an alert is ``gateway.alerts``' rule (the doctor reads the
same rules); this page only words each one. A database that cannot be read is an error on the page (503, see
``gateway.web.create_app``) and ``database: error`` in ``/healthz``, never a row of zeros.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from sqlite_utils import Database

from gateway import alerts as alert_rules
from gateway import backup, health, inbox, outbox, tips
from gateway import clock as clock_rule
from gateway.errors import ConfigError
from gateway.modem import status as modem_status
from gateway.web import charts, health_state, menus_live, sim_words
from gateway.web.filters import handler_label, label, local_time, mask, shorten, signal_bars, tone
from gateway.web.phone_panel import panel_context
from gateway.web.services import current_config, current_services

logger = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

INBOX_ROWS = 20
OUTBOX_ROWS = 20
TIP_ROWS = 10
LIST_TEXT_CHARS = 200
TIP_TEXT_CHARS = 100
REFRESH_SECONDS = 5
_INBOX_NOTES = {"binary": _l("Tin nhị phân"), "undecodable": _l("Không giải mã được")}


@lru_cache(maxsize=16)
def _generation(profile: str) -> str:
    from gateway.modem.profiles import load_profile

    try:
        return load_profile(profile).generation
    except ConfigError:
        return "lte"


def modem_title(profile: str) -> str:
    """The modem card's title: the modem by its technology ("Modem 4G (LTE)"), from its profile."""
    return _("Modem 2G (GSM)") if _generation(profile) == "2g" else _("Modem 4G (LTE)")


def modem_view(modem: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The modem card's strings: state, signal bars, operator, SIM storage, last contact."""
    bars = signal_bars(modem["signal"])
    used, total = modem["sim_used"], modem["sim_total"]
    return {
        "title": modem_title(modem["profile"] or current_config().modem.profile),
        "state": modem["state"],
        "state_label": label("modem", modem["state"]),
        "tone": tone(modem["state"]),
        "bars": bars,
        "signal_label": signal_label(modem, bars),
        "operator": modem["operator"] or "—",
        "technology": modem["technology"] or "—",
        "smsc": modem["smsc"] or "—",
        "profile": modem["profile"] or "—",
        "registered_label": _("Đã đăng ký") if modem["registered"] else _("Chưa đăng ký"),
        "sim": f"{used}/{total}" if used is not None and total is not None else "—",
        "last_contact": local_time(modem["last_contact"], tz) or "—",
        "error": modem["error"] or "",
        "port": modem["port"] or "",
    }


def signal_label(modem: dict[str, Any], bars: int | None) -> str:
    """``4/5 (CSQ 20 · RSRP -95 dBm · RSRQ -11 dB)``: RSRP/RSRQ where the profile reads them."""
    if bars is None and modem["rsrp"] is None:
        return _("Không rõ")
    figures = [f"CSQ {modem['signal']}"] if bars is not None else []
    if modem["rsrp"] is not None:
        figures.append(f"RSRP {modem['rsrp']} dBm")
    if modem["rsrq"] is not None:
        figures.append(f"RSRQ {modem['rsrq']:g} dB")
    return f"{bars}/5 ({' · '.join(figures)})" if bars is not None else " · ".join(figures)


def _doubtful(stamp: str | None, doubt_before: datetime | None) -> bool:
    """Written before the last clock correction (``gateway.clock.CORRECTED_KEY``): may be wrong."""
    if doubt_before is None or not stamp:
        return False
    try:
        return datetime.fromisoformat(stamp) < doubt_before
    except (TypeError, ValueError):
        return False


def _time_display(stamp: str | None, tz: ZoneInfo, doubt_before: datetime | None) -> str:
    shown = local_time(stamp, tz)
    return f"{shown} (?)" if shown and _doubtful(stamp, doubt_before) else shown


def menus_in_use() -> Any:
    """The menus answering now (``menus.versions.in_use``, with the gateway's reserved keywords).

    Kept on the app until a version is saved or a shipped file changes (``menus_live.menus_in_use``);
    None when not even the shipped files load.
    """
    try:
        return menus_live.menus_in_use(current_services().db.get())
    except ConfigError:
        return None


def menu_titles() -> dict[str, str]:
    """The menu items' titles in use ("1.3" → its title), to name items instead of numbers;
    a menu that no longer loads leaves the numbers as they are."""
    found = menus_in_use()
    return found.book.titles() if found is not None else {}


def inbox_view(row: dict[str, Any], tz: ZoneInfo, doubt_before: datetime | None = None,
               titles: dict[str, str] | None = None) -> dict[str, Any]:
    notes = []
    if row["kind"] in _INBOX_NOTES:
        notes.append(str(_INBOX_NOTES[row["kind"]]))
    elif not row["text"]:
        notes.append(_("Tin trống"))
    if row["partial"]:
        notes.append(_("Thiếu phần"))
    return {
        "id": row["id"],
        "time": row["received_at"],
        "time_display": _time_display(row["received_at"], tz, doubt_before),
        "sender": mask(row["sender"]),
        "text": shorten(row["text"], LIST_TEXT_CHARS),
        "note": ", ".join(notes),
        "status": row["status"],
        "status_label": label("inbox", row["status"]),
        "tone": tone(row["status"]),
        "handler": handler_label(row["handler"], titles),
    }


def outbox_view(row: dict[str, Any], tz: ZoneInfo, doubt_before: datetime | None = None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": row["created_at"],
        "time_display": _time_display(row["created_at"], tz, doubt_before),
        "number": mask(row["number"]),
        "text": shorten(row["text"], LIST_TEXT_CHARS),
        "note": "" if row["text"] else _("Tin trống"),
        "kind": row["kind"],
        "kind_label": label("outbox_kind", row["kind"]),
        "status": row["status"],
        "status_label": label("outbox", row["status"]),
        "tone": tone(row["status"]),
        "parts": f"{row['parts_sent']}/{row['parts_total']}",
    }


def tip_view(row: dict[str, Any], tz: ZoneInfo, doubt_before: datetime | None = None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "reference": row["reference"],
        "url": url_for("tips.show", reference=row["reference"]),
        "time": row["received_at"],
        "time_display": _time_display(row["received_at"], tz, doubt_before),
        "tipster": mask(row["tipster"]),
        "text": shorten(row["text_start"], TIP_TEXT_CHARS),
        "note": "" if row["text_start"] else _("Tin trống"),
        "status": row["status"],
        "status_label": label("tip", row["status"]),
        "tone": tone(row["status"]),
    }


_CLOCK_SOURCES = {"modem": _l("giờ mạng của modem"), "sms": _l("dấu thời gian của tổng đài SMS")}


def _duration(seconds: float) -> str:
    minutes = round(abs(seconds) / 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{_days(days)} {_hours(hours)}"
    if hours:
        return f"{_hours(hours)} {_minutes(minutes)}"
    return _minutes(minutes)


def _days(n: int) -> str:
    return ngettext("%(num)d ngày", "%(num)d ngày", n)


def _hours(n: int) -> str:
    return ngettext("%(num)d giờ", "%(num)d giờ", n)


def _minutes(n: int) -> str:
    return ngettext("%(num)d phút", "%(num)d phút", n)


def doubt_before(db: Database) -> datetime | None:
    """Records stamped before this were written before the last clock correction."""
    doubt = clock_rule.published(db, clock_rule.BUILD_DATE)["doubt_before"]
    return datetime.fromisoformat(doubt) if doubt else None



def storage_reason(reason: str) -> str:
    """Why the database cannot be written, in the officers' words."""
    return {"disk full": _("thẻ nhớ đã đầy"), "read-only": _("thẻ nhớ chỉ cho đọc"),
            "I/O error": _("thẻ nhớ bị lỗi đọc ghi")}.get(reason, reason)


def storage_problem() -> dict[str, str] | None:
    """The workers' word (in memory) that the database cannot be written; None when all write."""
    return current_services().write_health.problem()


def alert_text(alert: alert_rules.Alert, tz: ZoneInfo) -> str:
    """One alert of ``gateway.alerts`` in the officer's language."""
    if alert.key in sim_words.ALERT_ANCHORS:  # the SIM's are worded with the SIM's other words
        return sim_words.alert_text(alert, tz)
    v, config = alert.values, current_config()
    match alert.key:
        case "storage":
            return _("Cổng không ghi được dữ liệu (%(reason)s) từ %(since)s: tin nhắn mới được giữ"
                     " trong SIM và chưa được trả lời. Hãy giải phóng chỗ trống hoặc thay thẻ nhớ;"
                     " cổng tự chạy lại khi ghi được.",
                     reason=storage_reason(v["reason"]), since=local_time(v["since"], config.timezone))
        case "gateway_stopped":
            return _("Cổng không chạy: chỉ có phần đồng bộ (python app.py sync) đang gửi tin lên tỉnh, không"
                     " trả lời tin nhắn nào. Khởi động lại cổng: sudo systemctl start tinbao.")
        case "modem":
            detail = f" ({v['error']})" if v["error"] else ""
            return _("Modem không hoạt động: %(state)s%(detail)s. Kiểm tra dây cắm và SIM.",
                     state=label("modem", v["state"]), detail=detail)
        case "sim":
            return _("Bộ nhớ SIM sắp đầy (%(used)d/%(total)d tin): tin mới có thể không vào được.",
                     used=v["used"], total=v["total"])
        case "clock":
            return _("Đồng hồ của cổng chưa đúng giờ (chưa lấy được giờ chuẩn): "
                     "thời gian của tin báo có thể sai.")
        case "clock_offset":
            offset, source = v["offset_seconds"], _CLOCK_SOURCES[v["source"]]
            if offset > 0:
                return _("Đồng hồ của Pi chậm %(duration)s so với %(source)s: cổng đang dùng giờ mạng cho mọi"
                         " bản ghi. Hãy kiểm tra nguồn điện và giờ của Pi.", duration=_duration(offset), source=source)
            return _("Đồng hồ của Pi nhanh %(duration)s so với %(source)s: cổng đang dùng giờ mạng cho mọi"
                     " bản ghi. Hãy kiểm tra nguồn điện và giờ của Pi.", duration=_duration(offset), source=source)
        case "clock_corrected":
            return _("Đồng hồ đã được chỉnh %(duration)s lúc %(at)s: giờ của các bản ghi trước %(before)s "
                     "(đánh dấu (?)) có thể sai.", duration=_duration(v["by_seconds"]),
                     at=local_time(v["at"], tz), before=local_time(v["before"], tz))
        case "modem_2g":
            return _("Modem dùng cấu hình 2G (%(profile)s): mạng 2G ở Việt Nam đã tắt từ 15/9/2026, "
                     "modem này không đăng ký được mạng. Hãy dùng modem LTE (SIM7600, A7670, "
                     "EC25/EG25, E3372) và cấu hình tương ứng.", profile=v["profile"])
        case "zalo":
            return _("Zalo OA cần cấp quyền lại: tin báo chưa được chuyển lên Zalo.")
        case "district":
            return _("Máy chủ %(hub)s từ chối mã truy cập: cần kiểm tra cấu hình.", hub=config.hub.level)
        case "zalo_quota":
            return ngettext("Hạn mức tin chủ động của Zalo OA còn %(num)d tin: cán bộ ngoài 48 giờ sẽ nhận tin"
                            " báo bằng SMS. Cần báo quản trị OA.", "Hạn mức tin chủ động của Zalo OA còn %(num)d tin:"
                            " cán bộ ngoài 48 giờ sẽ nhận tin báo bằng SMS. Cần báo quản trị OA.", v["remain"])
        case "zalo_token":
            return _("Refresh token của Zalo OA hết hạn lúc %(t)s nếu không được làm mới: "
                     "kiểm tra Internet của cổng hoặc cấp quyền lại cho OA.",
                     t=local_time(v["expires_at"], config.timezone))
        case "sync_dead":
            return ngettext("%(num)d tin báo bị nơi nhận từ chối, cần xem lại.",
                            "%(num)d tin báo bị nơi nhận từ chối, cần xem lại.", v["n"])
        case "inbox_failed":
            return ngettext("%(num)d tin nhắn đến xử lý lỗi sau nhiều lần thử: cần xem và thử lại.",
                            "%(num)d tin nhắn đến xử lý lỗi sau nhiều lần thử: cần xem và thử lại.", v["n"])
        case "setup":
            return _("Chưa cài đặt ban đầu: tin trả lời người dân còn chỗ trống của mẫu (xxxx, 09xx xxx xxx)"
                     " thay cho tên xã, số điện thoại và các thôn.")
        case "menus_clash":
            return _("Thực đơn đang dùng (bản #%(version)d) có từ khóa mà cổng dành riêng: %(words)s. Cổng vẫn"
                     " dùng bản này; tin nhắn đúng các từ đó do cổng tự trả lời (đăng ký, hủy nhận tin), không"
                     " theo thực đơn. Hãy đổi các từ khóa đó trong thực đơn.",
                     version=v["version"], words=", ".join(v["keywords"]))
        case "menus_skipped":
            return _("Bản thực đơn #%(skipped)s không tải được nữa (%(reason)s): cổng đang dùng bản #%(version)d."
                     " Hãy sửa và lưu lại thực đơn.", skipped=", #".join(map(str, v["skipped"])),
                     reason=v["reason"], version=v["version"])
        case "backup":
            return _("Chưa sao lưu cơ sở dữ liệu trong hơn 2 ngày: chạy python app.py doctor để xem cách sửa.")
        case "data_requests":
            return _("Yêu cầu về dữ liệu cá nhân sắp hết hạn: %(list)s.", list="; ".join(
                request_due_text(item) for item in v["requests"]))
        case "consent_missing":
            return _("%(n)d số trong danh sách nhận cảnh báo chưa có đồng ý (do cán bộ thêm hoặc nhập từ tệp):"
                     " họ không nhận cảnh báo nào cho đến khi nhắn DK. Có thể gửi mỗi số một tin mời.", n=v["n"])
    return alert.key


def request_due_text(item: dict[str, str]) -> str:
    """``YC-0003: báo đã nhận trước hết ngày 12/03/2027 (quá hạn)``."""
    day = date.fromisoformat(item["day"]).strftime("%d/%m/%Y")
    if item["due"] == "acknowledge":
        text = _("%(ref)s: báo đã nhận trước hết ngày %(day)s", ref=item["reference"], day=day)
    else:
        text = _("%(ref)s: hoàn thành trước hết ngày %(day)s", ref=item["reference"], day=day)
    return text + (" " + _("(quá hạn)") if item["urgency"] == "late" else "")


def alerts(db: Database, modem: dict[str, Any], now: datetime, tz: ZoneInfo | None = None,
           problem: dict[str, str] | None = None) -> list[dict[str, str]]:
    """What needs a person (the rules: ``gateway.alerts``): each a key, a tone and a sentence."""
    tz = tz or current_config().timezone
    found = []
    for alert in alert_rules.gather(db, modem, now, current_config(), write_problem=problem,
                                    setup_complete=menus_live.setup_complete(db), menus_in_use=menus_in_use()):
        if alert.key in sim_words.ALERT_ANCHORS:  # the SIM's, with a link to /sim
            found.append(sim_words.alert_view(alert, tz))
            continue
        view = {"key": alert.key, "tone": alert.tone, "text": alert_text(alert, tz)}
        if alert.key == "inbox_failed":
            view.update(url=url_for("failures.page"), link=_("Xem và thử lại"))
        elif alert.key == "setup":
            view.update(url=url_for("setup.page"), link=_("Cài đặt ngay"))
        elif alert.key in ("menus_clash", "menus_skipped"):
            view.update(url=url_for("menus.index"), link=_("Sửa thực đơn"))
        elif alert.key == "data_requests" and current_user.can("admin"):
            view.update(url=url_for("data_requests.index"), link=_("Mở các yêu cầu"))
        elif alert.key == "consent_missing":
            view.update(url=url_for("broadcasts.subscriber_list", status="no_consent"), link=_("Xem và gửi tin mời"))
        found.append(view)
    return found


def backup_view(db: Database, now: datetime) -> dict[str, Any]:
    """The last backup's age, in words (the nightly copy, or ``python app.py backup``)."""
    fresh = backup.freshness(db, now)
    if fresh.age is None:
        return {"label": _("Chưa có bản sao lưu"), "stale": fresh.stale}
    seconds = max(0, int(fresh.age.total_seconds()))
    if seconds < 60:
        age = _("vừa xong")
    elif seconds < 3600:
        age = ngettext("%(num)d phút trước", "%(num)d phút trước", seconds // 60)
    elif seconds < 48 * 3600:
        age = ngettext("%(num)d giờ trước", "%(num)d giờ trước", seconds // 3600)
    else:
        age = ngettext("%(num)d ngày trước", "%(num)d ngày trước", seconds // 86400)
    return {"label": _("Sao lưu gần nhất: %(age)s", age=age), "stale": fresh.stale}


QUEUE_KEYS = health.QUEUE_KEYS
queue_depths = health.queue_depths  # the one reading of the queues (gateway.health)


def dashboard_data(db: Database, tz: ZoneInfo, now: datetime | None = None) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready dicts (numbers already masked).

    ``now`` is the gateway's clock (corrected by the network's time when the Pi is off).
    """
    now = now or current_services().clock.now()
    titles = menu_titles()
    modem = modem_status.read(db)
    doubt = doubt_before(db)
    return {
        **sim_words.dashboard(db, now, tz),  # "sim" (the SIM card) and "notices" (Tin từ nhà mạng)
        "modem": modem_view(modem, tz),
        "queues": queue_depths(db),
        "alerts": alerts(db, modem, now, tz, storage_problem()),
        "backup": backup_view(db, now),
        "inbox": [inbox_view(row, tz, doubt, titles) for row in inbox.recent(db, INBOX_ROWS)],
        "outbox": [outbox_view(row, tz, doubt) for row in outbox.recent(db, OUTBOX_ROWS)],
        "tips": [
            # One character more than shown, so shorten() knows when to add "…".
            tip_view(row, tz, doubt) for row in tips.recent(db, TIP_ROWS, TIP_TEXT_CHARS + 1)
        ],
        "generated_at": now.isoformat(),
        "generated_display": now.astimezone(tz).strftime("%H:%M:%S"),
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def chart_markup(db: Database, tz: ZoneInfo) -> dict[str, Any]:
    """The two charts, drawn from the figures the ``figures`` worker keeps counted (and kept
    on the app, per language and menu titles, until the next count)."""
    from flask import current_app

    from gateway.web.i18n import current_language

    figures = current_services().figures.read(db, current_services().clock.now(), tz)
    titles = menu_titles()
    key = (figures.made_at, figures.marker, current_language(), tuple(sorted(titles.items())))
    drawn = current_app.extensions.setdefault("tinbao_charts", {})
    if key not in drawn:
        days = charts.tips_by_day(figures)
        if len(drawn) >= 8:
            drawn.clear()  # earlier counts' drawings
        drawn[key] = {
            "days": charts.tips_chart(days),
            "days_total": sum(d.count for d in days),
            "keywords": charts.keywords_chart(charts.keyword_counts(figures, titles=titles)),
        }
    return drawn[key]


@bp.get("/")
def dashboard() -> str:
    config = current_config()
    data = dashboard_data(current_services().db.get(), config.timezone)
    return render_template(
        "status/dashboard.html",
        data=data,
        hub_level=config.hub.level,
        refresh_seconds=REFRESH_SECONDS,
        charts=chart_markup(current_services().db.get(), config.timezone),
        **panel_context(),
    )


@bp.get("/api/dashboard")
def dashboard_json() -> Response:
    config = current_config()
    return _no_store(jsonify(dashboard_data(current_services().db.get(), config.timezone)))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Health for monitoring and the watchdog: nothing personal, 200 only when all is well.

    The body is ``gateway.health.state``, the same state the heartbeat takes to the hub."""
    body, healthy = health_state.current()
    return _no_store(jsonify(body)), 200 if healthy else 503
