"""Tips ("tin báo"): the list with filters and accent-insensitive search, one tip's page, and
what officers do on it (status, assignment, village, notes, SMS reply, showing the number).

Reading is for every logged-in role; every change is for officers and admins, goes through
``tip_actions`` (one transaction with the tip's history and the audit log) and ends in a
redirect with a flash message, so a reload never sends a reply twice. Tipsters' numbers are
masked everywhere; "Hiện số" is a POST that is audited before the number is shown.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway import phone
from gateway import tips as tip_store
from gateway.accounts import audit, users
from gateway.storage import utcnow_iso
from gateway.sync import queue as sync_queue
from gateway.sync.hooks import destinations
from gateway.tips import history, search
from gateway.web import params, tip_actions, tips_export
from gateway.web.auth import client_ip, record_request, role_required
from gateway.web.filters import day_text, label, local_time, mask, shorten, tone
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services
from gateway.web.tip_actions import REPLY_MAX_CHARS, TipActionError, plan_reply

bp = Blueprint("tips", __name__)

PER_PAGE = 50
COUNT_CAP = 10_000
LIST_TEXT_CHARS = 140
REFERENCE = re.compile(r"[A-Za-z0-9]{1,16}-\d{1,9}")


def register(app: Flask) -> None:
    register_area(app, bp, _l("Tin báo"), "tips.index", "viewer", order=20)


# -- filters from the query string ------------------------------------------------------------

def parse_day(value: str | None, name: str = "from") -> date | None:
    """A day typed as ``2026-11-29`` (date inputs) or ``29/11/2026`` (people); None if empty.

    Anything else, or a day outside 1900–2999, is a 400 (``params.BadParameter``).
    """
    value = (value or "").strip()
    return params.parse_day(name, value) if value else None


def _day_start_utc(day: date, tz: ZoneInfo) -> str:
    return utcnow_iso(datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC))


def read_filters(args: Any, tz: ZoneInfo) -> tuple[search.TipFilter, dict[str, str]]:
    """The list's filters from ``request.args``, and the values to show back in the form."""
    status = args.get("status", "")
    status = status if status in tip_store.STATUSES else ""
    village = (args.get("village") or "").strip()[:60]
    assigned = (args.get("assigned") or "").strip()[:64]
    q = (args.get("q") or "").strip()[:200]
    confirm = "pending" if args.get("confirm") == "pending" else ""
    since, until = parse_day(args.get("from"), "from"), parse_day(args.get("to"), "to")
    if since and until and since > until:
        since, until = until, since
    where = search.TipFilter(
        status=status or None,
        village=village or None,
        assigned_to=assigned or None,
        since=_day_start_utc(since, tz) if since else None,
        until=_day_start_utc(until + timedelta(days=1), tz) if until else None,
        search=search.fts_query(q),
        confirmation=confirm or None,
    )
    shown = {
        "status": status, "village": village, "assigned": assigned, "q": q, "confirm": confirm,
        "from": day_text(since), "to": day_text(until),  # shown as typed: dd/mm/yyyy
    }
    return where, shown


def _page_number(args: Any) -> int:
    return params.page_arg(args)


def tip_url_prefix() -> str:
    """``/tips/`` as the app routes a tip's page: one ``url_for`` for a list, not one per row."""
    return url_for("tips.show", reference="X")[:-1]


def tip_row(row: dict[str, Any], tz: ZoneInfo, url_prefix: str | None = None) -> dict[str, Any]:
    return {
        "reference": row["reference"],
        "url": (url_prefix or tip_url_prefix()) + quote(row["reference"], safe=""),
        "time": row["received_at"],
        "time_display": local_time(row["received_at"], tz),
        "tipster": mask(row["tipster"]),
        "text": shorten(row.get("text_start", row.get("text")), LIST_TEXT_CHARS),
        "village": row["village"] or "",
        "assigned_to": row["assigned_to"] or "",
        "status": row["status"],
        "status_label": label("tip", row["status"]),
        "tone": tone(row["status"]),
        "to_confirm": row.get("confirmation") == tip_store.PENDING,
    }


# -- reading -----------------------------------------------------------------------------------

@bp.get("/tips")
def index() -> str:
    tz = current_config().timezone
    db = current_services().db.get()
    where, shown = read_filters(request.args, tz)
    page = _page_number(request.args)
    total = search.count_tips(db, where, cap=COUNT_CAP)
    rows = search.list_tips(db, where, limit=PER_PAGE, offset=(page - 1) * PER_PAGE,
                             text_chars=LIST_TEXT_CHARS + 1)
    query = {key: value for key, value in shown.items() if value}
    pages = max(1, -(-min(total, COUNT_CAP) // PER_PAGE))
    prefix = tip_url_prefix()
    return render_template(
        "tips/list.html",
        tips=[tip_row(row, tz, prefix) for row in rows],
        filters=shown,
        total=total,
        more_than_cap=total > COUNT_CAP,
        count_cap=COUNT_CAP,
        page=page,
        pages=pages,
        prev_url=url_for("tips.index", **query, page=page - 1) if page > 1 else None,
        next_url=url_for("tips.index", **query, page=page + 1) if page < pages else None,
        export_query=urlencode(query),
        statuses=[(s, label("tip", s)) for s in tip_store.STATUSES],
        villages=tip_store.villages(db),
        officers=users.officers(db),
        to_confirm_count=tip_store.count_to_confirm(db),
        searched=bool(shown["q"]),
        search_unusable=bool(shown["q"]) and where.search is None,
    )


def _load(reference: str) -> dict[str, Any]:
    if not REFERENCE.fullmatch(reference):
        abort(404)
    tip = tip_store.by_reference(current_services().db.get(), reference)
    if tip is None:
        abort(404)
    return tip


def _history_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    action = row["action"]
    old, new = row["old_value"], row["new_value"]
    if action in ("status", "hub_status"):  # hub_status: decided upstream, "by" names who
        what = _("Đổi trạng thái: %(old)s → %(new)s", old=label("tip", old), new=label("tip", new))
    elif action == "assign":
        what = _("Giao cho %(who)s", who=new) if new else _("Bỏ giao việc")
    elif action == "village":
        what = _("Ghi thôn: %(village)s", village=new) if new else _("Xoá tên thôn")
    elif action == "reply":
        what = _("Trả lời bằng SMS (%(parts)s tin nhắn)", parts=new)
    elif action == "confirmation":
        what = _("Xác nhận là tin báo") if new == tip_store.CONFIRMED else _("Không phải tin báo")
    elif action == "hold":
        what = _("Giữ lại, không xoá theo thời hạn: %(reason)s", reason=new)
    elif action == "unhold":
        what = _("Bỏ giữ (lý do cũ: %(reason)s)", reason=old)
    else:
        what = action
    return {"time_display": local_time(row["at"], tz), "by": row["by"], "what": what}


def _sync_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    names = {"zalo": _("Zalo OA"), "district": current_config().hub.level}
    statuses = {
        "queued": _("Chờ gửi"), "in_progress": _("Đang gửi"), "done": _("Đã nhận"),
        "failed": _("Lỗi, sẽ thử lại"), "dead": _("Bị từ chối"),
    }
    tones = {"done": "ok", "queued": "wait", "in_progress": "wait", "failed": "bad", "dead": "bad"}
    status = str(row.get("status") or "")
    return {
        "destination": names.get(row.get("destination"), row.get("destination") or "?"),
        "status_label": statuses.get(status, status),
        "tone": tones.get(status, "plain"),
        "attempts": row.get("attempts") or 0,
        "delivered": status == "done",
        "last_error": row.get("last_error") or "",
        "next_attempt": local_time(row.get("next_attempt_at"), tz) if status == "failed" else "",
        "acked": local_time(row.get("acked_at"), tz),
    }


def _reply_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "time_display": local_time(row["at"], tz),
        "by": row["by"],
        "text": row["text"],
        "status_label": label("outbox", row["status"]),
        "tone": tone(row["status"]),
        "parts": row["parts_total"],
        "parts_sent": row["parts_sent"],
        "encoding": "GSM-7" if row["encoding"] == "gsm7" else "Unicode (UCS-2)",
        "error": (row["last_error"] or "") if row["status"] == "failed" else "",
    }


def render_tip(tip: dict[str, Any], *, number: str | None = None, code: int = 200) -> Any:
    tz = current_config().timezone
    db = current_services().db.get()
    tip_id = tip["id"]
    tipster = phone.normalise(tip["tipster"])
    return render_template(
        "tips/tip.html",
        tip=tip,
        received_display=local_time(tip["received_at"], tz),
        status_label=label("tip", tip["status"]),
        status_tone=tone(tip["status"]),
        tipster_masked=mask(tip["tipster"]),
        tipster_full=number,
        can_reply=tipster.can_auto_reply,
        history=[_history_view(row, tz) for row in history.entries(db, tip_id)],
        notes=[
            {"time_display": local_time(n["created_at"], tz), "author": n["author"], "text": n["text"]}
            for n in history.notes(db, tip_id)
        ],
        replies=[_reply_view(row, tz) for row in history.replies(db, tip_id)],
        sync=[_sync_view(row, tz) for row in sync_queue.rows_of_tip(db, tip_id)],
        statuses=[(s, label("tip", s)) for s in tip_store.STATUSES],
        officers=users.officers(db),
        villages=tip_store.villages(db),
        reply_max_chars=REPLY_MAX_CHARS,
        max_parts=current_config().sms.max_parts,
        changed_display=local_time(tip["status_changed_at"], tz),
        held_display=local_time(tip["held_at"], tz),
        detached_display=local_time(tip["number_detached_at"], tz),
        text_purged_display=local_time(tip["text_purged_at"], tz),
        hold_max_chars=tip_actions.HOLD_REASON_MAX_CHARS,
        hub_level=current_config().hub.level,
        hub_side=bool(current_config().hub.url or tip.get("hub_status")),
        hub_status_label=label("tip", tip["hub_status"]) if tip.get("hub_status") else "",
        hub_status_tone=tone(tip["hub_status"]) if tip.get("hub_status") else "plain",
        hub_changed_display=local_time(tip.get("hub_status_at"), tz),
        assigned_display=local_time(tip["assigned_at"], tz),
        thread_url=url_for("conversations.thread", key=f"i{tip['inbox_id']}") if tip["inbox_id"] else None,
    ), code


@bp.get("/tips/<reference>")
def show(reference: str) -> Any:
    return render_tip(_load(reference))


# -- acting ------------------------------------------------------------------------------------

def _act(reference: str, action: Any, done_message: Any) -> Any:
    """Run one tip action for the logged-in officer and go back to the tip's page."""
    tip = _load(reference)
    services = current_services()
    try:
        result = action(services.db.get(), tip["reference"], current_user.username,
                        services.clock.now(), client_ip(request))
    except TipActionError as exc:
        flash(str(exc), "error")
    else:
        message = done_message(result) if callable(done_message) else done_message
        if message:
            flash(message, "ok")
    return redirect(url_for("tips.show", reference=tip["reference"]), code=303)


@bp.post("/tips/<reference>/status")
@role_required("officer")
def change_status(reference: str) -> Any:

    status = request.form.get("status", "")
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.change_status(db, ref, status, by=by, now=now, ip=ip),
        lambda changed: _("Đã chuyển sang “%(status)s”.", status=label("tip", status)) if changed
        else _("Tin báo đã ở trạng thái này."),
    )


@bp.post("/tips/<reference>/take")
@role_required("officer")
def take(reference: str) -> Any:
    """"Nhận xử lý": the tip becomes the pressing officer's, and "Đang xử lý"."""
    allowed = users.officers(current_services().db.get())
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.take(db, ref, by=by, now=now, ip=ip, allowed=allowed),
        lambda changed: _("Bạn đã nhận xử lý tin báo này.") if changed else _("Tin báo đã ở trạng thái này."),
    )


@bp.post("/tips/<reference>/confirm")
@role_required("officer")
def confirm(reference: str) -> Any:
    """One click on a message kept "to confirm": it is a tip (queued for sync), or it is not."""
    verdict = request.form.get("verdict", "")
    services = current_services()
    response = _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.confirm(db, ref, verdict, by=by, now=now, ip=ip,
                                                         destinations=destinations(current_config())),
        lambda changed: (_("Đã xác nhận là tin báo.") if verdict == tip_store.CONFIRMED
                         else _("Đã đánh dấu không phải tin báo.")) if changed else None,
    )
    if verdict == tip_store.CONFIRMED:
        services.sync.wake()
    if request.form.get("back") == "list":  # clicked in the list: stay on the list
        return redirect(url_for("tips.index", confirm="pending"), code=303)
    return response


@bp.post("/tips/<reference>/assign")
@role_required("officer")
def assign(reference: str) -> Any:

    username = request.form.get("assigned_to", "")
    allowed = users.officers(current_services().db.get())
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.assign(db, ref, username, by=by, now=now, ip=ip, allowed=allowed),
        lambda changed: (_("Đã giao cho %(who)s.", who=username) if username else _("Đã bỏ giao việc."))
        if changed else None,
    )


@bp.post("/tips/<reference>/village")
@role_required("officer")
def set_village(reference: str) -> Any:

    village = request.form.get("village", "")
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.set_village(db, ref, village, by=by, now=now, ip=ip),
        lambda changed: _("Đã ghi tên thôn.") if changed else None,
    )


@bp.post("/tips/<reference>/notes")
@role_required("officer")
def add_note(reference: str) -> Any:

    text = request.form.get("text", "")
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.add_note(db, ref, text, by=by, now=now, ip=ip),
        _("Đã lưu ghi chú."),
    )


@bp.post("/tips/<reference>/reply")
@role_required("officer")
def reply(reference: str) -> Any:

    text = request.form.get("text", "")
    khong_dau = request.form.get("khong_dau") in ("1", "on", "true")
    max_parts = current_config().sms.max_parts
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.reply(db, ref, text, khong_dau=khong_dau, by=by, now=now,
                                                       ip=ip, max_parts=max_parts),
        lambda result: _(
            "Đã đưa tin trả lời vào hàng đợi gửi: %(parts)d tin nhắn (%(encoding)s).",
            parts=result[1].parts, encoding="GSM-7" if result[1].encoding == "gsm7" else "Unicode",
        ),
    )


@bp.post("/tips/<reference>/reply/count")
@role_required("officer")
def reply_count(reference: str) -> Any:
    """The server's own count of a draft reply (the page counts live; this is the final word)."""
    _load(reference)
    cost = plan_reply((request.form.get("text") or "")[:REPLY_MAX_CHARS * 2],
                      request.form.get("khong_dau") in ("1", "on", "true"))
    return jsonify(parts=cost.parts, encoding=cost.encoding, units=cost.units, text=cost.text)


@bp.post("/tips/<reference>/hold")
@role_required("officer")
def hold(reference: str) -> Any:
    """Keep the tip from the retention purge and from erasure, with a reason (audited)."""
    reason = request.form.get("reason", "")
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.hold(db, ref, reason, by=by, now=now, ip=ip),
        lambda changed: _("Đã giữ tin báo: không xoá theo thời hạn lưu cho đến khi bỏ giữ.") if changed else None,
    )


@bp.post("/tips/<reference>/unhold")
@role_required("officer")
def release_hold(reference: str) -> Any:
    return _act(
        reference,
        lambda db, ref, by, now, ip: tip_actions.release_hold(db, ref, by=by, now=now, ip=ip),
        lambda changed: _("Đã bỏ giữ: tin báo theo thời hạn lưu như mọi tin khác.") if changed else None,
    )


@bp.post("/tips/<reference>/number")
@role_required("officer")
def reveal_number(reference: str) -> Any:
    """Show the tipster's full number to this officer, after writing the audit entry."""

    tip = _load(reference)
    services = current_services()
    try:
        number = tip_actions.reveal_number(services.db.get(), tip["reference"], by=current_user.username,
                                           now=services.clock.now(), ip=client_ip(request))
    except TipActionError as exc:
        if request.headers.get("X-Requested-With") == "fetch":
            return jsonify(error=str(exc)), 409
        flash(str(exc), "error")
        return redirect(url_for("tips.show", reference=tip["reference"]), code=303)
    if request.headers.get("X-Requested-With") == "fetch":
        response = jsonify(number=number)
        response.headers["Cache-Control"] = "no-store"
        return response
    page, code = render_tip(tip, number=number)
    return page, code, {"Cache-Control": "no-store"}


@bp.get("/tips/export.csv")
@role_required("officer")
def export() -> Response:
    """The list as a CSV file, with the list's filters; full numbers only for admins (audited)."""
    full = request.args.get("full") == "1"
    if full and not current_user.can("admin"):
        record_request(audit.ACCESS_DENIED, request.path, {"needs": "admin", "full": True})
        abort(403)
    config, services = current_config(), current_services()
    where, shown = read_filters(request.args, config.timezone)
    record_request(
        "tip.export_full" if full else "tip.export", "",
        {key: value for key, value in shown.items() if value} | {"full_numbers": full},
    )
    return tips_export.csv_response(services.db.get(), where, full, config.timezone)
