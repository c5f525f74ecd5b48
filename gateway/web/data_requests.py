"""The admin page "Yêu cầu về dữ liệu cá nhân": a person's requests about their data, answered in time.

Record a request (who, how to answer them, when it reached the post, what they ask), look
the number up (audited, tied to the request), see everything held for it, give the person an
export (a printable page and a JSON file served as a download, never left on disk), erase
what may be erased, withdraw their consent to warnings, and close the request with what was
done. Every step is audited with the request's reference (``YC-0001``) as target, and the
request's page lists those steps. Admins only: a full number is shown here.

The work is the privacy area's (``gateway.privacy``: ``requests``, ``held``, ``consent``,
``deadlines``); this page validates, calls and words.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway import phone
from gateway.accounts import audit
from gateway.privacy import consent, held, requests
from gateway.privacy.deadlines import KINDS
from gateway.web import params
from gateway.web.auth import guard_blueprint, record_request
from gateway.web.filters import label, local_time
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("data_requests", __name__, url_prefix="/requests")
guard_blueprint(bp, "admin")

KIND_LABELS = {
    "see": _l("Xem dữ liệu"),
    "correct": _l("Sửa dữ liệu"),
    "delete": _l("Xoá dữ liệu"),
    "withdraw": _l("Rút lại đồng ý nhận tin"),
}
CHANNEL_LABELS = {
    "in_person": _l("Đến trực tiếp"),
    "phone": _l("Gọi điện"),
    "letter": _l("Gửi thư, đơn"),
    "sms": _l("Nhắn tin"),
    "other": _l("Cách khác"),
}
STATUS_LABELS = {"open": _l("Mới nhận"), "acknowledged": _l("Đã báo đã nhận"), "closed": _l("Đã xong")}
DUE_LABELS = {"acknowledge": _l("Báo đã nhận"), "complete": _l("Hoàn thành")}
URGENCY_TONES = {"late": "bad", "near": "wait", "ok": "ok"}


def register(app: Flask) -> None:
    """Reachable from the admin tabs and the dashboard's alert; no entry in the menu bar (it is full)."""
    register_area(app, bp)


def _db():
    return current_services().db.get()


def _today() -> date:
    return current_services().clock.now().astimezone(current_config().timezone).date()


def _error(exc: requests.RequestError) -> str:
    return _(exc.message, **exc.params) if exc.params else _(exc.message)


def day_text(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def request_view(found: requests.Request, today: date) -> dict[str, Any]:
    """One request as the list and its page show it: labels, deadlines, how urgent."""
    lines = found.deadlines
    next_due = found.next_deadline()
    level = found.urgency(today)
    return {
        "id": found.id,
        "reference": found.reference,
        "url": url_for("data_requests.show", request_id=found.id),
        "requester": found.requester,
        "contact": found.contact,
        "channel": CHANNEL_LABELS.get(found.channel, found.channel),
        "kinds": [str(KIND_LABELS[kind]) for kind in found.kinds],
        "kind_codes": list(found.kinds),
        "received": day_text(found.received_on),
        "note": found.note,
        "status": found.status,
        "status_label": STATUS_LABELS.get(found.status, found.status),
        "acknowledge_by": day_text(lines.acknowledge),
        "per_kind": [(str(KIND_LABELS[kind]), day_text(day)) for kind, day in lines.per_kind.items()],
        "next_label": DUE_LABELS[next_due[0]] if next_due else "",
        "next_day": day_text(next_due[1]) if next_due else "",
        "urgency": level or "",
        "tone": URGENCY_TONES.get(level or "", "plain"),
        "number": phone.national(found.number) if found.number else "",
        "number_masked": phone.mask(found.number) if found.number else "",
        "acknowledged": local_time(found.acknowledged_at, current_config().timezone),
        "acknowledged_by": found.acknowledged_by or "",
        "closed": local_time(found.closed_at, current_config().timezone),
        "closed_by": found.closed_by or "",
        "outcome": found.outcome or "",
    }


def _load(request_id: int) -> requests.Request:
    found = requests.get(_db(), request_id)
    if found is None:
        abort(404)
    return found


def _back(request_id: int) -> Any:
    return redirect(url_for("data_requests.show", request_id=request_id), code=303)


# -- the list and a new request ----------------------------------------------------------------

@bp.get("")
def index() -> str:
    today = _today()
    db = _db()
    return render_template(
        "data_requests/list.html",
        open_requests=[request_view(r, today) for r in requests.listing(db)],
        closed_requests=[request_view(r, today) for r in requests.listing(db, closed=True, limit=50)],
        kinds=[(kind, KIND_LABELS[kind]) for kind in KINDS],
        channels=list(CHANNEL_LABELS.items()),
        today=today.isoformat(),
        form={},
    )


@bp.post("")
def record() -> Any:
    form = request.form
    today = _today()
    services = current_services()
    try:
        typed = (form.get("received_on") or "").strip()
        received = params.parse_day("received_on", typed) if typed else today
        if received is None:
            raise requests.RequestError(requests.N_("Ngày nhận yêu cầu không đúng (ví dụ 29/11/2026)."))
        found = requests.record(
            _db(), requester=form.get("requester", ""), contact=form.get("contact", ""),
            channel=form.get("channel", ""), kinds=form.getlist("kinds"), received_on=received,
            note=form.get("note", ""), by=current_user.username, now=services.clock.now(), today=today)
    except requests.RequestError as exc:
        flash(_error(exc), "error")
        db = _db()
        page = render_template(
            "data_requests/list.html",
            open_requests=[request_view(r, today) for r in requests.listing(db)],
            closed_requests=[request_view(r, today) for r in requests.listing(db, closed=True, limit=50)],
            kinds=[(kind, KIND_LABELS[kind]) for kind in KINDS], channels=list(CHANNEL_LABELS.items()),
            today=today.isoformat(), form={**form, "kinds": form.getlist("kinds")},
        )
        return page, 400
    record_request("request.record", found.reference, {"kinds": list(found.kinds), "channel": found.channel,
                                                        "received_on": found.received_on.isoformat()})
    flash(_("Đã ghi nhận yêu cầu %(ref)s. Hãy báo cho người yêu cầu là đã nhận trước %(day)s.",
            ref=found.reference, day=day_text(found.deadlines.acknowledge)), "ok")
    return _back(found.id)


# -- one request -------------------------------------------------------------------------------

def _steps(found: requests.Request) -> list[dict[str, str]]:
    tz = current_config().timezone
    return [{"time": local_time(entry.at, tz), "who": audit.actor_label(entry.who),
             "what": audit.action_label(entry.action)}
            for entry in reversed(audit.search(_db(), target=found.reference, action="request.", limit=200))]


def held_view(found: held.Held) -> dict[str, Any]:
    """What is held, in the page's words (full number: this page is the audited request's)."""
    tz = current_config().timezone
    subscription = found.subscription
    return {
        "empty": found.empty,
        "messages_in": [{"time": local_time(m["received_at"], tz), "text": m["text"] or "",
                         "waiting": m["status"] == "queued"} for m in found.messages_in],
        "messages_out": [{"time": local_time(m["created_at"], tz), "text": m["text"], "kind": m["kind"],
                          "waiting": m["status"] == "queued"} for m in found.messages_out],
        "raw_pdus": found.raw_pdus,
        "tips": [{"reference": t["reference"], "url": url_for("tips.show", reference=t["reference"]),
                  "time": local_time(t["received_at"], tz), "text": t["text"],
                  "status_label": label("tip", t["status"]), "hold_reason": t["hold_reason"] or ""}
                 for t in found.tips],
        "subscription": None if subscription is None else {
            "status": subscription["status"], "name": subscription["name"], "village": subscription["village"],
            "labels": ", ".join(subscription["labels"]), "source": subscription["source"],
            "since": local_time(subscription["subscribed_at"] or subscription["created_at"], tz),
            "left": local_time(subscription["left_at"], tz),
        },
        "consents": [consent_view(c, tz) for c in found.consents],
        "invitation": None if found.invitation is None else {
            "status": found.invitation["status"], "time": local_time(found.invitation["created_at"], tz)},
        "broadcasts": found.broadcasts,
        "duty": None if found.duty is None else {"name": found.duty.name, "active": found.duty.active},
        "session_language": found.session["language"] if found.session else "",
    }


CONSENT_EVENTS = {"given": _l("Đồng ý nhận tin"), "withdrawn": _l("Rút lại đồng ý"), "invited": _l("Được mời"),
                  "erased": _l("Đã xoá theo yêu cầu")}


CONSENT_BASES = {"sms": _l("tin nhắn của người đó"), "paper": _l("giấy đồng ý cán bộ đã xem"),
                 "officer": _l("cán bộ"), "import": _l("nhập từ tệp"), "request": _l("theo yêu cầu"),
                 "legacy_sms": _l("tin nhắn DK (trước khi có sổ đồng ý)")}


def consent_view(entry: dict[str, Any], tz: Any) -> dict[str, str]:
    """One ledger event: what, when, on what basis, the SMS as received (when by SMS)."""
    return {"event": str(CONSENT_EVENTS.get(entry["event"], entry["event"])), "time": local_time(entry["at"], tz),
            "basis": str(CONSENT_BASES.get(entry["basis"], entry["basis"])), "raw_text": entry.get("raw_text") or "",
            "by": entry["by"]}


@bp.get("/<int:request_id>")
def show(request_id: int) -> Any:
    found = _load(request_id)
    view = request_view(found, _today())
    data = None
    if found.number:
        data = held_view(held.held_for(_db(), found.number))
        record_request("request.view", found.reference, {"number": phone.mask(found.number)})
    page = render_template(
        "data_requests/show.html", r=view, held=data, steps=_steps(found),
        erases_subscriber=consent.ERASES_SUBSCRIBER, outcome_max=requests.OUTCOME_MAX_CHARS,
    )
    return page, 200, {"Cache-Control": "no-store"}


@bp.post("/<int:request_id>/acknowledge")
def acknowledge(request_id: int) -> Any:
    found = _load(request_id)
    if requests.acknowledge(_db(), found.id, by=current_user.username, now=current_services().clock.now()):
        record_request("request.acknowledge", found.reference)
        flash(_("Đã ghi: người yêu cầu đã được báo là yêu cầu đã đến."), "ok")
    return _back(found.id)


@bp.post("/<int:request_id>/lookup")
def lookup(request_id: int) -> Any:
    """Tie a full number to the request: audited, and only then is anything held shown."""
    found = _load(request_id)
    if found.status == "closed":
        flash(_("Yêu cầu đã đóng."), "error")
        return _back(found.id)
    number = phone.normalise((request.form.get("number") or "")[:40])
    if not number.can_auto_reply:
        flash(_("Số điện thoại không hợp lệ (ví dụ đúng: 0912345678)."), "error")
        return _back(found.id)
    requests.set_number(_db(), found.id, number.value)
    record_request("request.lookup", found.reference, {"number": phone.mask(number.value)})
    return _back(found.id)


def _export_data(found: requests.Request) -> dict[str, Any]:
    return held.export(held.held_for(_db(), found.number or ""), requests.as_dict(found),
                       current_services().clock.now())


def _need_number(found: requests.Request) -> None:
    if not found.number:
        flash(_("Hãy tra số điện thoại của yêu cầu trước."), "error")
        abort(redirect(url_for("data_requests.show", request_id=found.id), code=303))


@bp.get("/<int:request_id>/export")
def export_page(request_id: int) -> Any:
    """The printable page the person is given."""
    found = _load(request_id)
    _need_number(found)
    record_request("request.export", found.reference, {"format": "page", "number": phone.mask(found.number)})
    data = held_view(held.held_for(_db(), found.number or ""))
    page = render_template("data_requests/export.html", r=request_view(found, _today()), held=data,
                           printed=local_time(current_services().clock.now().isoformat(), current_config().timezone))
    return page, 200, {"Cache-Control": "no-store"}


@bp.get("/<int:request_id>/export.json")
def export_file(request_id: int) -> Response:
    """The same as a file, served as a download (never written on the Pi's disk)."""
    found = _load(request_id)
    _need_number(found)
    record_request("request.export", found.reference, {"format": "json", "number": phone.mask(found.number)})
    body = json.dumps(_export_data(found), ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="tinbao-{found.reference.lower()}.json"',
        "Cache-Control": "no-store",
    })


@bp.post("/<int:request_id>/erase")
def erase(request_id: int) -> Any:
    found = _load(request_id)
    _need_number(found)
    if found.status == "closed":
        flash(_("Yêu cầu đã đóng."), "error")
        return _back(found.id)
    if "delete" not in found.kinds:
        flash(_("Yêu cầu này không xin xoá dữ liệu."), "error")
        return _back(found.id)
    if request.form.get("confirm") != "1":
        flash(_("Hãy đánh dấu ô xác nhận trước khi xoá."), "error")
        return _back(found.id)
    done = held.erase(_db(), found.number or "", by=current_user.username, now=current_services().clock.now(),
                      note=found.reference)
    removed = {kind: n for kind, n in done.counts.items() if n}
    record_request("request.erase", found.reference, {
        "number": phone.mask(found.number), "removed": removed, "subscription": done.subscription,
        "kept_tips_on_hold": [tip["reference"] for tip in done.held_tips], "waiting": done.waiting})
    flash(_("Đã xoá: %(messages)d tin nhắn, %(tips)d tin báo bỏ số, đăng ký nhận tin: %(sub)s.",
            messages=removed.get("messages_in", 0) + removed.get("messages_out", 0),
            tips=removed.get("tip_numbers", 0), sub=_subscription_outcome(done.subscription)), "ok")
    for tip in done.held_tips:
        flash(_("Tin báo %(ref)s đang được giữ nên vẫn giữ số. Lý do: %(reason)s", ref=tip["reference"],
                reason=tip["reason"]), "info")
    if done.waiting:
        flash(_("%(n)d tin nhắn còn chờ gửi hoặc chờ xử lý: xoá lại sau khi chúng xong.", n=done.waiting), "info")
    if done.on_duty_roster:
        flash(_("Số này có trong danh sách trực ban: xoá ở trang Trực ban nếu cần."), "info")
    return _back(found.id)


def _subscription_outcome(outcome: str) -> str:
    return {"left": _("đã ngừng"), "already_left": _("đã ngừng từ trước"), "erased": _("đã xoá"),
            "never": _("không có")}.get(outcome, outcome)


@bp.post("/<int:request_id>/withdraw")
def withdraw(request_id: int) -> Any:
    found = _load(request_id)
    _need_number(found)
    if not {"withdraw", "delete"} & set(found.kinds):
        flash(_("Yêu cầu này không xin rút lại đồng ý."), "error")
        return _back(found.id)
    outcome = consent.withdraw(_db(), found.number or "", by=current_user.username,
                               now=current_services().clock.now(), note=found.reference)
    record_request("request.withdraw", found.reference, {"number": phone.mask(found.number), "outcome": outcome})
    flash(_("Rút lại đồng ý nhận tin cảnh báo: %(outcome)s.", outcome=_subscription_outcome(outcome)), "ok")
    return _back(found.id)


@bp.post("/<int:request_id>/close")
def close(request_id: int) -> Any:
    found = _load(request_id)
    try:
        closed = requests.close(_db(), found.id, request.form.get("outcome", ""), by=current_user.username,
                                now=current_services().clock.now())
    except requests.RequestError as exc:
        flash(_error(exc), "error")
        return _back(found.id)
    if closed:
        record_request("request.close", found.reference)
        flash(_("Đã đóng yêu cầu %(ref)s.", ref=found.reference), "ok")
    return _back(found.id)
