"""The sync page (``/sync``): where each tip stands on its way to Zalo and the district.

Officers see each destination's state (ok, offline, backing off, "re-authorise the OA"),
the rows still waiting with their attempts and last error, and press "retry now" (for a
destination or one row, dead rows included). An admin pastes a new Zalo refresh token after
re-authorising the OA. A USB file of the unsynced tips can be downloaded here too. For Zalo,
each officer's reach under Zalo's rules (free replies until when, proactive only, or by SMS),
the OA's quota, the refresh token's age and expiry, and the officers a tip has not reached.

"Retry now" has one way: the page marks the rows due (``queue.retry_now``) and writes a
request in ``state`` (``report.request_retry``), then wakes the sync worker (if the gateway
put it in ``services.sync``; otherwise it sees the request within a poll). Only the
worker's lane, in its own thread, forgets its back-off (``Lane.take_retry_request``): a
request thread never touches the worker's state.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from gateway import duty, phone
from gateway import state as state_table
from gateway.sync import heartbeat, queue, report, sneakernet, zalo, zalo_officers, zalo_tokens
from gateway.web import alert_words
from gateway.web.auth import record_request, role_required
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("sync", __name__)

ROWS_SHOWN = 200
DESTINATIONS = ("zalo", "district")
STATE_TONES = {"ok": "ok", "disabled": "plain", "offline": "wait", "backing_off": "wait", "needs_reauth": "bad"}
ROW_TONES = {"queued": "wait", "in_progress": "wait", "done": "ok", "failed": "bad", "dead": "bad"}


def register(app: Flask) -> None:
    register_area(app, bp, _l("Đồng bộ"), "sync.page", "viewer", order=60)


def destination_label(name: str) -> str:
    if name == "district":
        return _("Máy chủ %(hub)s", hub=current_config().hub.level)
    return {"zalo": _("Zalo OA")}.get(name, name)


def state_label(state: str) -> str:
    return {
        "ok": _("Đang hoạt động"),
        "disabled": _("Chưa bật"),
        "offline": _("Mất kết nối, sẽ thử lại"),
        "backing_off": _("Tạm dừng, sẽ thử lại"),
        "needs_reauth": _("Cần cấp quyền lại"),
    }.get(state, state)


def row_label(status: str) -> str:
    return {
        "queued": _("Chờ gửi"),
        "in_progress": _("Đang gửi"),
        "done": _("Đã nhận"),
        "failed": _("Lỗi, sẽ thử lại"),
        "dead": _("Bị từ chối"),
    }.get(status, status)


REACH_TONES = {"reply": "ok", "proactive": "wait", "closed": "bad", "unknown": "plain"}
DELIVERY_TONES = {"failed": "wait", "dead": "bad", "sms": "wait", "unreachable": "bad"}


def reach_label(kind: str) -> str:
    return {
        "reply": _("Zalo gửi được (trả lời miễn phí)"),
        "proactive": _("Ngoài 48 giờ: chỉ gửi được bằng tin chủ động (OA đã xác thực, còn hạn mức)"),
        "closed": _("Zalo không gửi được: tin báo đi bằng SMS"),
        "unknown": _("Chưa kiểm tra"),
    }.get(kind, kind)


def delivery_label(status: str) -> str:
    return {
        "failed": _("Lỗi, sẽ thử lại"),
        "dead": _("Bỏ cuộc sau nhiều lần thử"),
        "sms": _("Đã gửi bằng SMS"),
        "unreachable": _("Chưa nhận được"),
    }.get(status, status)


def zalo_officer_rows(db, officers: list[str], now) -> list[dict[str, Any]]:
    """Each Zalo officer: can Zalo reach them now, until when, and the phone that stands in."""
    roster = duty.by_zalo_user(db)
    found = []
    for reach in zalo_officers.all_of(db, officers):
        entry = roster.get(reach.officer_id)
        kind = reach.kind(now)
        until = {"reply": reach.window_until, "proactive": reach.proactive_until}.get(kind)
        found.append({
            "id": reach.officer_id,
            "name": entry.name if entry else "",
            "phone": phone.mask(entry.number) if entry else "",
            "kind": kind,
            "label": reach_label(kind),
            "tone": REACH_TONES.get(kind, "plain"),
            "until": until.isoformat() if until else None,
            "replies_left": reach.replies_left(),
            "last_message_at": reach.last_message_at,
            "checked_at": reach.checked_at,
            "reminded_at": reach.reminded_at,
            "error": reach.last_error or "",
        })
    return found


def token_facts(pair: zalo_tokens.TokenPair | None, now) -> dict[str, Any]:
    """The refresh token's age and when it would die unused (about 3 months)."""
    if pair is None or pair.obtained_at is None:
        return {"known": False}
    obtained = datetime.fromisoformat(pair.obtained_at)
    expires = pair.refresh_expires_at
    return {"known": True, "obtained_at": pair.obtained_at, "age_days": (now - obtained).days,
            "expires_at": expires.isoformat() if expires else None,
            "expiring": bool(expires and expires - now <= zalo_tokens.REFRESH_WARN)}


def page_data(db) -> dict[str, Any]:
    config = current_config()
    states, counts = report.read(db), queue.counts(db)
    pair = zalo_tokens.current(db)
    now = current_services().clock.now()
    officers = [o for o in config.zalo.officer_ids if o]
    district_host = urlsplit(config.hub.url).netloc if config.hub.url else ""
    cards = []
    for name in DESTINATIONS:
        state = states[name]
        cards.append({
            "name": name,
            "label": destination_label(name),
            "state": state["state"],
            "state_label": state_label(state["state"]),
            "tone": STATE_TONES.get(state["state"], "plain"),
            "error": state.get("error") or "",
            "counts": counts.get(name, {}),
            "next_try_at": state.get("next_try_at"),
            "last_ok_at": state.get("last_ok_at"),
            "unreachable": state.get("unreachable_officers") or [],
        })
    return {
        "cards": cards,
        "rows": queue.unfinished_rows(db, ROWS_SHOWN),
        "zalo": {
            "enabled": bool(config.zalo.enabled),
            "officers": len([o for o in config.zalo.officer_ids if o]),
            "access_expires_at": pair.access_expires_at if pair else None,
            "token": token_facts(pair, now),
            "reach": zalo_officer_rows(db, officers, now) if config.zalo.enabled else [],
            "quota": zalo_officers.quota(db),
            "quota_low": zalo_officers.quota_low(db, config.zalo.quota_alert) is not None,
            "problems": zalo.problems(db) if config.zalo.enabled else [],
        },
        "district": {"host": district_host, "has_token": bool(config.hub.token), "level": config.hub.level,
                     "heartbeat": state_table.get_json(db, heartbeat.STATE_KEY) if district_host else None},
        "exports": sneakernet.recent_exports(db),
    }


@bp.get("/sync")
@role_required("viewer")
def page() -> str:
    db = current_services().db.get()
    return render_template("sync/page.html", data=page_data(db), row_label=row_label, row_tones=ROW_TONES,
                           destination_label=destination_label, delivery_label=delivery_label,
                           delivery_tones=DELIVERY_TONES)


def _wake(destination: str | None) -> None:
    """Wake the sync worker now; it reads the request itself (and would see it within a poll)."""
    current_services().sync.wake(destination)


@bp.post("/sync/retry")
@role_required("officer")
def retry() -> Any:
    destination = request.form.get("destination") or None
    if destination not in (None, *DESTINATIONS):
        abort(400)
    services = current_services()
    db, now = services.db.get(), services.clock.now()
    count = queue.retry_now(db, now, destination=destination)
    for name in ([destination] if destination else DESTINATIONS):
        report.request_retry(db, name, now)
    _wake(destination)
    record_request("sync.retry", destination or "all", {"rows": count})
    flash(ngettext("Đã yêu cầu thử lại ngay (%(num)d tin).", "Đã yêu cầu thử lại ngay (%(num)d tin).", count), "ok")
    return redirect(url_for("sync.page"))


@bp.post("/sync/rows/<int:row_id>/retry")
@role_required("officer")
def retry_row(row_id: int) -> Any:
    services = current_services()
    db, now = services.db.get(), services.clock.now()
    destination = queue.destination_of(db, row_id)
    if destination is None:
        abort(404)
    queue.retry_now(db, now, row_id=row_id)
    if destination == "zalo":  # a dead letter: the officers Zalo gave up on are tried afresh
        zalo.revive(db, queue.tip_of(db, row_id))
    report.request_retry(db, destination, now)
    _wake(destination)
    record_request("sync.retry", f"row {row_id}", {"destination": destination})
    flash(_("Đã yêu cầu gửi lại tin này."), "ok")
    return redirect(url_for("sync.page"))


@bp.post("/sync/zalo/token")
@role_required("admin")
def new_zalo_token() -> Any:
    """After re-authorising the OA in Zalo's developer site: its new refresh token."""
    token = (request.form.get("refresh_token") or "").strip()
    if not token or len(token) > 1000 or any(c.isspace() for c in token):
        flash(_("Hãy dán refresh token mới (một dòng, không có dấu cách)."), "error")
        return redirect(url_for("sync.page"))
    services = current_services()
    db, now = services.db.get(), services.clock.now()
    if not zalo_tokens.seed(db, token, now, source="officer"):
        flash(_("Token này đã được dùng trước đây: Zalo chỉ nhận mỗi refresh token một lần."), "error")
        return redirect(url_for("sync.page"))
    report.request_retry(db, "zalo", now)
    _wake("zalo")
    record_request("sync.zalo_token", "zalo", "new refresh token")  # never the token itself
    flash(_("Đã lưu token mới. Zalo OA sẽ được thử lại ngay."), "ok")
    return redirect(url_for("sync.page"))


def usb_heartbeat(db: Any, now: Any) -> dict[str, Any]:
    """The post's heartbeat for the USB file, built as the heartbeat worker builds it."""
    services, config = current_services(), current_config()
    return heartbeat.build(heartbeat.Inputs(
        db, config, now, version=services.version, write_problem=services.write_health.problem(),
        reserved=services.menus_reserved, words=lambda found: alert_words.words(found, config)))


@bp.post("/sync/export")
@role_required("officer")
def export() -> Any:
    """The sealed USB file of every tip the district has not acknowledged, as a download."""
    services = current_services()
    config = current_config()
    db, now = services.db.get(), services.clock.now()
    try:
        data, count = sneakernet.build_export(db, config, now, usb_heartbeat(db, now))
    except sneakernet.SneakernetError as exc:
        flash(str(exc), "error")
        return redirect(url_for("sync.page"))
    name = f"tinbao-{config.gateway.id}-{now.astimezone(config.timezone).strftime('%Y%m%d-%H%M')}.tips.sealed"  # local
    sneakernet.note_export(db, f"download:{name}", data, count, now)
    record_request("sync.export", name, {"tips": count})
    return send_file(io.BytesIO(sneakernet.seal_export(data, config)), mimetype="application/octet-stream",
                     as_attachment=True, download_name=name)
