"""The fleet page (``/fleet``): every post the hub knows, worst first, and a page per post
(``/fleet/<id>``) with its newest state and its last 7 days hour by hour.

What each post's state is comes from ``gateway.hub.fleet.judge`` (the one judgement, also read
by ``/healthz`` and ``/metrics``); this module only words it in the officer's language. A post
is named by the hub's config (``hub.names``), never by what it sends. The alerts' words came
with the heartbeat in Vietnamese and English; the page shows the officer's language.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _

from gateway.hub import fleet
from gateway.web.filters import local_time
from gateway.web.i18n import current_language
from gateway.web.services import current_config, frame_services

bp = Blueprint("fleet", __name__)

DAYS = 7
TONES = {"ok": "ok", "warning": "wait", "fault": "bad", "silent": "bad"}


def state_labels() -> dict[str, str]:
    return {"ok": _("Bình thường"), "warning": _("Cần chú ý"), "fault": _("Có lỗi"), "silent": _("Mất liên lạc")}


def ago(moment: datetime, now: datetime) -> str:
    """``5 phút trước``, ``3 giờ trước``, ``2 ngày trước`` (``vừa xong`` under a minute)."""
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return _("vừa xong")
    if seconds < 3600:
        return _("%(n)d phút trước", n=int(seconds // 60))
    if seconds < 48 * 3600:
        return _("%(n)d giờ trước", n=int(seconds // 3600))
    return _("%(n)d ngày trước", n=int(seconds // 86400))


def alert_words(alert: dict[str, Any]) -> str:
    """An alert in the page's language, as the post's dashboard says it."""
    english = alert.get("text_en") if current_language() == "en" else None
    text = english or alert.get("text")
    return str(text) if isinstance(text, str) and text else str(alert.get("code") or "?")


def reason(post: fleet.Post, now: datetime) -> str:
    """The one line that says why a post is not ok."""
    judgement, tz = post.judgement, current_config().timezone
    match judgement.why:
        case "never":
            return _("Chưa từng nhận được tin nào của cổng này.")
        case "silent":
            heard = datetime.fromisoformat(post.beat["heard_at"]) if post.beat else now
            return _("Không nhận được tin của cổng từ %(when)s (%(ago)s).",
                     when=local_time(post.beat["heard_at"] if post.beat else None, tz), ago=ago(heard, now))
        case "alert":
            return alert_words(judgement.alert)
        case "database":
            return _("Cổng không đọc được cơ sở dữ liệu của mình.")
        case "storage":
            return _("Cổng không ghi được dữ liệu (thẻ nhớ đầy hoặc hỏng).")
        case "line":
            return _("Modem hoặc SIM của cổng không hoạt động: không nhận, không gửi được SMS.")
        case "degraded":
            return _("Cổng báo chưa hoạt động bình thường (modem đang kết nối lại).")
    return ""


def _size(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "—"
    return f"{value / 1e9:.1f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"


def _money(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "—"
    return f"{value:,}".replace(",", ".") + " đ"


def figures(post: fleet.Post, now: datetime) -> dict[str, str]:
    """The post's figures as the page shows them ("—" where the heartbeat has none)."""
    state = post.state
    dig = fleet.dig

    def count(name: str) -> str:
        value = dig(state, "queues", name, kind=int)
        return "—" if value is None else str(value)

    signal = dig(state, "modem", "signal", kind=int)
    technology = dig(state, "network", "technology", kind=str)
    backup_age = dig(state, "backup", "age_seconds", kind=int)
    heard = datetime.fromisoformat(post.beat["heard_at"]) if post.beat else None
    return {
        "heard": local_time(post.beat["heard_at"], current_config().timezone) if post.beat else "—",
        "heard_ago": ago(heard, now) if heard else _("chưa bao giờ"),
        "modem": " · ".join(x for x in ((f"CSQ {signal}" if signal is not None else ""), technology or "") if x)
        or "—",
        "balance": _money(dig(state, "sim", "balance_vnd", kind=int)),
        "outbox": count("outbox_queued"),
        "sync": count("district_queued"),
        "inbox_failed": count("inbox_failed"),
        "to_confirm": count("tips_to_confirm"),
        "free": _size(dig(state, "storage", "free_bytes", kind=int)),
        "backup": ago(now - timedelta(seconds=backup_age), now) if backup_age is not None else "—",
        "version": dig(state, "version", kind=str) or "—",
        "alerts": str(len(fleet.alerts_of(state))) if post.beat else "—",
    }


def _view(post: fleet.Post, now: datetime, labels: dict[str, str]) -> SimpleNamespace:
    """One post as the templates read it (attributes: Jinja finds them without a failed lookup)."""
    return SimpleNamespace(id=post.gateway_id, name=post.name, state=post.judgement.state,
                           label=labels[post.judgement.state], tone=TONES[post.judgement.state],
                           reason=reason(post, now), figures=SimpleNamespace(**figures(post, now)))


def _posts(now: datetime) -> list[fleet.Post]:
    config = current_config()
    return fleet.posts(frame_services().db.get(), config.hub.gateways, config.hub.names, now,
                       config.hub.silent_minutes)


@bp.get("/fleet")
def index() -> str:
    now = frame_services().clock.now()
    found = _posts(now)
    labels = state_labels()
    return render_template("hub/fleet.html", posts=[_view(p, now, labels) for p in found],
                           counts=fleet.counts(found), labels=labels, tones=TONES,
                           silent_minutes=current_config().hub.silent_minutes)


def week(hours: dict[str, dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The last 7 local days, each 24 cells: ``ok``/``warning``/``fault`` (heard), ``silent``
    (not heard), ``future``; a cell whose line failed says so."""
    tz = current_config().timezone
    today = now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    days = []
    for back in range(DAYS - 1, -1, -1):
        start = (today - timedelta(days=back))
        cells = []
        for hour in range(24):
            local = start.replace(hour=hour)
            key = local.astimezone(UTC).isoformat()
            row = hours.get(key)
            if local > now:
                kind = "future"
            elif row is None:
                kind = "silent"
            else:
                kind = row["worst"]
            line = bool(row and row["line_failed"])
            title = f"{hour:02d}:00 · " + (state_labels().get(kind, "") if kind != "future" else "")
            if line:
                title += " · " + _("mất sóng / SIM")
            cells.append({"kind": kind, "line": line, "title": title})
        days.append({"label": start.strftime("%d/%m"), "cells": cells})
    return days


def incidents(hours: dict[str, dict[str, Any]], now: datetime, since: datetime) -> list[dict[str, str]]:
    """Runs of silent hours and of hours with the line down, newest first, in words."""
    tz = current_config().timezone
    found: list[dict[str, Any]] = []
    hour = since
    last = now.replace(minute=0, second=0, microsecond=0)
    current: dict[str, Any] | None = None
    while hour <= last:
        row = hours.get(hour.astimezone(UTC).isoformat())
        kind = "silent" if row is None else "line" if row["line_failed"] else None
        if kind and current and current["kind"] == kind and current["end"] == hour:
            current["end"] = hour + timedelta(hours=1)
        elif kind:
            current = {"kind": kind, "start": hour, "end": hour + timedelta(hours=1)}
            found.append(current)
        else:
            current = None
        hour += timedelta(hours=1)
    words = {"silent": _("Mất liên lạc"), "line": _("Modem hoặc SIM không hoạt động")}
    return [{"what": words[i["kind"]], "kind": i["kind"],
             "when": _("%(start)s đến %(end)s", start=i["start"].astimezone(tz).strftime("%H:%M %d/%m"),
                       end=min(i["end"], now).astimezone(tz).strftime("%H:%M %d/%m"))}
            for i in reversed(found)]


@bp.get("/fleet/<gateway_id>")
def gateway(gateway_id: str) -> str:
    config = current_config()
    if gateway_id not in config.hub.gateways:
        abort(404)
    now = frame_services().clock.now()
    db = frame_services().db.get()
    beat = fleet.newest(db, gateway_id)
    post = fleet.Post(gateway_id, config.hub.gateway_name(gateway_id), beat,
                      fleet.judge(beat, now, config.hub.silent_minutes))
    tz = config.timezone
    since = (now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
             - timedelta(days=DAYS - 1)).astimezone(UTC)
    hours = fleet.hours(db, gateway_id, since)
    alerts = [{"tone": a.get("tone") if a.get("tone") in ("bad", "wait") else "plain", "text": alert_words(a)}
              for a in fleet.alerts_of(post.state)]
    return render_template("hub/fleet_gateway.html", post=_view(post, now, state_labels()), alerts=alerts,
                           days=week(hours, now), incidents=incidents(hours, now, since),
                           clock=post.state.get("clock") if isinstance(post.state.get("clock"), dict) else {},
                           uptime=fleet.dig(post.state, "uptime_seconds", kind=int), labels=state_labels())
