"""Scam-warning broadcasts ("Cảnh báo"): compose, preview the cost, schedule, follow, pause.

Pages: the list with progress bars (``/broadcasts``), the compose form with the warning
library and an exact SMS-part preview for both encodings (``/broadcasts/new``), one
broadcast with its runs (``/broadcasts/<id>``), and the subscribers with their villages and
labels, CSV import included (``/broadcasts/subscribers``). Everyone logged in may look;
officers and admins act. Each action is audited, ends in a redirect with a flash message,
and wakes the broadcast service (``services.broadcasts``) so "send now" starts at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from gateway import phone, state
from gateway.accounts import audit
from gateway.broadcasts import campaigns, consent, control, importing, province, queries, subscribers
from gateway.broadcasts.control import BroadcastError, Draft
from gateway.broadcasts.library import Composer, Library, ScamWarning, preview
from gateway.clock import STATE_KEY as CLOCK_STATE_KEY
from gateway.sms.text import khong_dau as strip_diacritics
from gateway.storage import write_transaction
from gateway.web import params, sim_words
from gateway.web.auth import client_ip, record_request, role_required
from gateway.web.filters import local_time, mask, money
from gateway.web.nav import register_area
from gateway.web.services import BroadcastControl, current_config, current_services

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")

IMPORT_MAX_BYTES = 4 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 50
WEEKDAYS = (_l("Thứ Hai"), _l("Thứ Ba"), _l("Thứ Tư"), _l("Thứ Năm"), _l("Thứ Sáu"), _l("Thứ Bảy"),
            _l("Chủ Nhật"))
STATUS = {
    "draft": (_l("Nháp"), "plain"), "scheduled": (_l("Đã lên lịch"), "wait"), "running": (_l("Đang gửi"), "new"),
    "paused": (_l("Tạm dừng"), "wait"), "done": (_l("Đã xong"), "ok"), "cancelled": (_l("Đã hủy"), "bad"),
    "missed": (_l("Bị lỡ (cổng tắt)"), "bad"),
}
SUBSCRIBER_STATUS = {"subscribed": (_l("Đang nhận"), "ok"), "left": (_l("Đã ngừng nhận"), "bad"),
                     "invited": (_l("Đã mời, chờ nhắn DK"), "wait"),
                     "no_consent": (_l("Chưa có đồng ý"), "wait")}
LIST_STATUSES = ("subscribed", "invited", "no_consent", "left", "all")
CONSENT_EVENTS = {"given": _l("Đồng ý"), "withdrawn": _l("Ngừng nhận"), "invited": _l("Mời"),
                  "erased": _l("Xóa theo yêu cầu")}
CONSENT_BASES = {"sms": _l("người dân tự nhắn"), "paper": _l("đồng ý trên giấy"), "officer": _l("cán bộ"),
                 "import": _l("nhập từ tệp"), "request": _l("yêu cầu của người dân"),
                 "legacy_sms": _l("tự nhắn DK (trước khi có sổ đồng ý)")}
INVITATION_STATUS = {"pending": _l("chờ gửi"), "queued": _l("đã gửi"), "cancelled": _l("không gửi")}
SOURCES = {"sms": _l("Tự nhắn DK"), "officer": _l("Cán bộ thêm"), "import": _l("Nhập từ tệp")}


def register(app: Flask) -> None:
    register_area(app, bp, _l("Cảnh báo"), "broadcasts.index", "viewer", order=40)
    # A subscriber list may be larger than the page's usual request limit; raise it for the
    # import only, before CSRF reads the form (so this runs ahead of every other hook).
    app.before_request_funcs.setdefault(None, []).insert(0, _import_limit)


def _import_limit() -> None:
    if request.endpoint == "broadcasts.import_subscribers":
        request.max_content_length = IMPORT_MAX_BYTES


# -- helpers ------------------------------------------------------------------------------------

def _service() -> BroadcastControl:
    return current_services().broadcasts


def _library() -> Library:
    return _service().library


def _composer() -> Composer:
    return _service().composer


def _now() -> datetime:
    return _service().clock.now()


def _db():
    return current_services().db.get()


def _wake() -> None:
    _service().wake()


def _audit(db, action: str, target: Any, detail: Any = None) -> None:
    audit.record(db, current_user.username, action, str(target), detail, ip=client_ip(request), now=_now())


def schedule_text(row: dict[str, Any]) -> str:
    tz = current_config().timezone
    kind = row["schedule"]
    if kind == "now":
        return _("Gửi ngay")
    if kind == "once":
        return _("Một lần, %(when)s", when=local_time(row["run_at"], tz))
    if kind == "weekly":
        return _("Hàng tuần, %(day)s lúc %(time)s", day=str(WEEKDAYS[row["weekday"]]), time=row["time_of_day"])
    return _("Hàng tháng, ngày %(day)s lúc %(time)s", day=row["day_of_month"], time=row["time_of_day"])


def _status(kind: dict, value: str) -> dict[str, str]:
    title, tone = kind.get(value, (value, "plain"))
    return {"label": str(title), "tone": tone}


def _broadcast_view(row: dict[str, Any]) -> dict[str, Any]:
    tz = current_config().timezone
    return {**row, "schedule_text": schedule_text(row), "state": _status(STATUS, row["status"]),
            "next_display": local_time(row["next_run_at"], tz) if row["status"] in ("scheduled", "running", "paused")
            else "", "created_display": local_time(row["created_at"], tz),
            "audience": _("Tất cả người đăng ký") if row["all_subscribers"] else ", ".join(row.get("groups") or [])}


# -- the list and one broadcast -----------------------------------------------------------------

@bp.get("/")
def index() -> Any:
    db = _db()
    found = queries.broadcasts(db)
    from_province = campaigns.by_broadcast(db, [row["id"] for row in found])
    rows = [{**_broadcast_view(row), "campaign": from_province.get(row["id"])} for row in found]
    counts = queries.counts(db)
    return render_template("broadcasts/list.html", broadcasts=rows, subscribed=counts.get("subscribed", 0),
                           left=counts.get("left", 0), clock=_clock_state(db))


def _clock_state(db) -> dict[str, Any] | None:
    """The trusted clock's last verdict (``gateway.clock.TrustedClock`` publishes it)."""
    return state.get_json(db, CLOCK_STATE_KEY)


@bp.get("/<int:broadcast_id>")
def show(broadcast_id: int) -> Any:
    db = _db()
    try:
        row = control.get(db, broadcast_id)
    except BroadcastError:
        abort(404)
    row["groups"] = queries.group_names(db, broadcast_id)
    tz = current_config().timezone
    runs = [{**r, "state": _status(STATUS, r["status"]), "due_display": local_time(r["due_at"], tz),
             "finished_display": local_time(r["finished_at"], tz)} for r in queries.runs(db, broadcast_id)]
    sent = next((r for r in runs if r["status"] != "missed" and r.get("text")), None)
    if sent is not None:
        text = sent["text"]  # exactly what went out (broadcast_runs.text), not a new rendering
    else:
        text = _composer().text(row["body"], form=row["encoding"], body_khong_dau=row["body_khong_dau"])
    campaign = campaigns.by_broadcast(db, [broadcast_id]).get(broadcast_id)
    if campaign is not None:
        campaign = {**campaign, "starts_display": local_time(campaign["starts_at"], tz),
                    "ends_display": local_time(campaign["ends_at"], tz)}
    return render_template("broadcasts/show.html", b=_broadcast_view(row), runs=runs, text=text,
                           text_sent=sent is not None, latest=runs[0] if runs else None,
                           expected_end=sim_words.expected_end(db, broadcast_id, _now())
                           if row["status"] == "running" else "",
                           held=sim_words.hold_words(db, broadcast_id) if row["status"] == "paused" else "",
                           campaign=campaign)


@bp.get("/progress.json")
def progress_json() -> Any:
    ids = [params.parse_int("ids", x) for x in request.args.get("ids", "").split(",")[:100] if x.strip()]
    found = queries.run_progress(_db(), ids)
    out = {}
    for key, value in found.items():
        run = value.get("run")
        if run:
            run = {**run, "state": _status(STATUS, run["status"])}
        out[str(key)] = {**value, "run": run, "state": _status(STATUS, value["status"])}
    response = jsonify(out)
    response.headers["Cache-Control"] = "no-store"
    return response


def _act(broadcast_id: int, action: Any, audit_action: str, message: str) -> Any:
    db = _db()
    try:
        action(db, broadcast_id, by=current_user.username, now=_now())
        _audit(db, audit_action, broadcast_id)
    except BroadcastError as exc:
        flash(str(exc), "error")
    else:
        flash(message, "ok")
        _wake()
    here = url_for("broadcasts.show", broadcast_id=broadcast_id)
    return redirect(params.local_url(request.form.get("next"), here), code=303)


@bp.post("/<int:broadcast_id>/pause")
@role_required("officer")
def pause(broadcast_id: int) -> Any:
    return _act(broadcast_id, control.pause, "broadcast.pause", _("Đã tạm dừng. Tin chưa gửi sẽ chờ."))


@bp.post("/<int:broadcast_id>/resume")
@role_required("officer")
def resume(broadcast_id: int) -> Any:
    return _act(broadcast_id, control.resume, "broadcast.resume", _("Đã tiếp tục gửi."))


@bp.post("/<int:broadcast_id>/cancel")
@role_required("officer")
def cancel(broadcast_id: int) -> Any:
    return _act(broadcast_id, control.cancel, "broadcast.cancel", _("Đã hủy bản tin. Không gửi thêm tin nào."))


@bp.get("/<int:broadcast_id>/confirm")
@role_required("officer")
def confirm(broadcast_id: int) -> Any:
    """Confirm a saved draft before it is scheduled: the same summary as from the compose form."""
    db = _db()
    try:
        row = control.get(db, broadcast_id)
    except BroadcastError:
        abort(404)
    audience = subscribers.audience_size(db, row["group_ids"], bool(row["all_subscribers"]))
    summary = cost_summary(row["body"], row["encoding"], row["body_khong_dau"], audience)
    return render_template("broadcasts/confirm.html", title=row["title"], kept=[], schedule=schedule_text(row),
                           repeats=row["schedule"] in ("weekly", "monthly"),
                           action_url=url_for("broadcasts.start", broadcast_id=broadcast_id), back_action=None,
                           back_url=url_for("broadcasts.show", broadcast_id=broadcast_id), summary=summary,
                           budget=sim_words.broadcast_budget(db, summary["total_parts"], _now()))


def _unaffordable(summary: dict[str, Any]) -> str | None:
    """Why this sending cannot be confirmed (its cost would eat the credit kept for replies), or None."""
    budget = sim_words.broadcast_budget(_db(), summary["total_parts"], _now())
    return None if budget["allowed"] else sim_words.refused_text(budget)


@bp.post("/<int:broadcast_id>/start")
@role_required("officer")
def start(broadcast_id: int) -> Any:
    if request.form.get("confirmed") != "1":
        return redirect(url_for("broadcasts.confirm", broadcast_id=broadcast_id), code=303)
    try:
        row = control.get(_db(), broadcast_id)
    except BroadcastError:
        abort(404)
    audience = subscribers.audience_size(_db(), row["group_ids"], bool(row["all_subscribers"]))
    refused = _unaffordable(cost_summary(row["body"], row["encoding"], row["body_khong_dau"], audience))
    if refused:
        flash(refused, "error")
        return redirect(url_for("broadcasts.confirm", broadcast_id=broadcast_id), code=303)
    tz = current_config().timezone
    return _act(broadcast_id, lambda db, i, by, now: control.schedule(db, i, by=by, now=now, tz=tz),
                "broadcast.schedule", _("Đã lên lịch gửi."))


# -- compose ------------------------------------------------------------------------------------

def _warning(warning_id: str | None) -> ScamWarning | None:
    """A warning of the commune's library, or a province warning an officer accepted (``tinh-<id>``)."""
    return _library().get(warning_id) or province.usable_one(_db(), warning_id)


def _draft_from_form(form: Any) -> Draft:
    tz = current_config().timezone
    warning = _warning(form.get("warning_id"))
    body = (form.get("body") or "").strip()
    run_at = _moment(form.get("run_at") or "", tz)

    def number(name: str) -> int | None:
        value = (form.get(name) or "").strip()
        return int(value) if re.fullmatch(r"-?[0-9]{1,6}", value) else None  # else the draft says what is wrong

    return Draft(
        title=(form.get("title") or "").strip(),
        body=body,
        encoding=form.get("encoding") or "khong_dau",
        warning_id=warning.id if warning else None,
        body_khong_dau=warning.khong_dau if warning and _same(body, warning.accented) else None,
        group_ids=[params.parse_int("group", g) for g in form.getlist("group") if str(g).strip()],
        everyone=form.get("everyone") == "1",
        schedule=form.get("schedule") or "now",
        run_at=run_at,
        weekday=number("weekday"),
        day_of_month=number("day_of_month"),
        time_of_day=(form.get("time_of_day") or "").strip() or None,
    )


def _moment(text: str, tz: Any) -> datetime | None:
    """A ``datetime-local`` value as an aware UTC moment; None (the draft then says "choose a
    day and time") for anything else, a day outside 1900–2999 too (``0001-01-01T00:00`` has no
    moment in UTC)."""
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if not params.FIRST_YEAR <= local.year <= params.LAST_YEAR:
        return None
    return local.replace(tzinfo=tz).astimezone(UTC)


def _same(body: str, library_text: str) -> bool:
    """True when the officer kept the library's text (as the page shows it, number filled in):
    then its hand-written "không dấu" form is used."""
    words = " ".join(body.split())
    return words in (" ".join(library_text.split()), " ".join(library_text.replace("{so}", _composer().dial).split()))


def _preview(draft: Draft) -> dict[str, Any]:
    db = _db()
    audience = subscribers.audience_size(db, draft.group_ids, draft.everyone)
    return preview(_composer(), draft.body or " ", audience, draft.body_khong_dau)


def _compose_page(form: dict[str, Any], draft: Draft | None, problems: list[str], code: int = 200) -> Any:
    db = _db()
    return render_template(
        "broadcasts/compose.html", form=form, draft=draft, problems=problems,
        library=list(_library().warnings.values()), province_library=province.usable(db),
        groups=subscribers.groups(db),
        preview=_preview(draft) if draft and draft.body else None, weekdays=[str(d) for d in WEEKDAYS],
        total=queries.counts(db).get("subscribed", 0), dial=_composer().dial,
    ), code


@bp.get("/new")
@role_required("officer")
def new() -> Any:
    return _compose_page({"encoding": "khong_dau", "schedule": "now", "time_of_day": "08:00"}, None, [])


def cost_summary(draft_text: str, encoding: str, body_khong_dau: str | None, audience: int) -> dict[str, Any]:
    """What one sending costs: people, SMS parts each and in all, and the estimate in VND
    at ``broadcasts.price_per_part``; ``text`` is exactly what each person gets."""
    shown = preview(_composer(), draft_text or " ", audience, body_khong_dau)[encoding]
    price = current_config().broadcasts.price_per_part
    total = shown["total_parts"]
    return {"people": audience, "parts": shown["parts"], "total_parts": total, "price": money(price),
            "cost": money(total * price), "text": shown["text"], "encoding": encoding}


def _confirm_page(form: Any, draft: Draft, code: int = 200) -> Any:
    """The step between "Gửi / Lên lịch" and sending: who, how many SMS, what it costs."""
    db = _db()
    audience = subscribers.audience_size(db, draft.group_ids, draft.everyone)
    kept = [(key, value) for key in form for value in form.getlist(key)
            if key not in ("action", "confirmed", "csrf_token")]
    schedule = schedule_text({"schedule": draft.schedule, "run_at": draft.run_at.isoformat() if draft.run_at else None,
                              "weekday": draft.weekday, "day_of_month": draft.day_of_month,
                              "time_of_day": draft.time_of_day})
    summary = cost_summary(draft.body, draft.encoding, draft.body_khong_dau, audience)
    return render_template("broadcasts/confirm.html", title=draft.title, kept=kept, schedule=schedule,
                           repeats=draft.schedule in ("weekly", "monthly"), action_url=url_for("broadcasts.create"),
                           back_action="preview", summary=summary,
                           budget=sim_words.broadcast_budget(db, summary["total_parts"], _now())), code


@bp.post("/new")
@role_required("officer")
def create() -> Any:
    draft = _draft_from_form(request.form)
    action = request.form.get("action", "send")
    if action == "preview":
        return _compose_page(request.form, draft, [])
    if province.parse_library_id(request.form.get("warning_id")) is not None and draft.warning_id is None:
        # A province warning not (or no longer) accepted: its text is not sent under its name.
        return _compose_page(request.form, draft, [_("Cảnh báo này của Công an tỉnh chưa được duyệt"
                                                     " (hoặc tỉnh vừa sửa): duyệt ở trang “Của Công an tỉnh”.")], 422)
    if action == "send" and request.form.get("confirmed") != "1":
        problems = draft.problems(_now())
        if problems:
            return _compose_page(request.form, draft, problems, 422)
        return _confirm_page(request.form, draft)  # nothing is sent before the officer confirms
    db = _db()
    tz = current_config().timezone
    if action == "send":
        audience = subscribers.audience_size(db, draft.group_ids, draft.everyone)
        refused = _unaffordable(cost_summary(draft.body, draft.encoding, draft.body_khong_dau, audience))
        if refused:  # the credit kept for replies (sim.reserve) is not spent on a broadcast
            flash(refused, "error")
            return _confirm_page(request.form, draft, 422)
    try:
        broadcast_id = control.create(db, draft, by=current_user.username, now=_now(), tz=tz,
                                      start=action == "send")
    except BroadcastError:
        return _compose_page(request.form, draft, draft.problems(_now()), 422)
    _audit(db, "broadcast.create", broadcast_id, {"title": draft.title, "schedule": draft.schedule,
                                                   "start": action == "send"})
    _wake()
    flash(_("Đã lên lịch gửi bản tin.") if action == "send" else _("Đã lưu nháp."), "ok")
    return redirect(url_for("broadcasts.show", broadcast_id=broadcast_id), code=303)


@bp.post("/preview.json")
@role_required("officer")
def preview_json() -> Any:
    draft = _draft_from_form(request.form)
    return jsonify(_preview(draft) if draft.body else {"audience": 0})


# -- subscribers ----------------------------------------------------------------------------------

def _basis(form: Any) -> subscribers.Basis:
    """What an officer's form says a number's warnings will rest on (``consent``: invite | paper)."""
    composer = _composer()
    text = composer.invitation()
    if "subscription" in current_config().sms.khong_dau:
        text = strip_diacritics(text)
    return subscribers.Basis(form.get("consent") or "", composer.notice_version, text,
                             (form.get("consent_note") or "").strip()[:300])


def _consent_flash(change: subscribers.Change, masked: str) -> None:
    """Say what the number's warnings rest on after an officer's action."""
    if change.consent == "invited":
        flash(_("%(n)s sẽ nhận một tin mời nhắn DK (gửi dần, ngoài giờ yên lặng). Chỉ khi họ nhắn DK mới nhận"
                " cảnh báo.", n=masked), "info")
    elif change.consent == "given":
        flash(_("Đã ghi nhận %(n)s đồng ý trên giấy: từ nay nhận cảnh báo.", n=masked), "info")
    elif change.consent == "already_invited":
        flash(_("%(n)s đã được mời một lần, không mời lại. Chỉ khi họ nhắn DK (hoặc đồng ý trên giấy) mới"
                " nhận cảnh báo.", n=masked), "error")
    elif change.consent == "none":
        flash(_("%(n)s chưa đồng ý nhận tin: chưa nhận cảnh báo nào.", n=masked), "info")


def _subscriber_view(row: dict[str, Any]) -> dict[str, Any]:
    tz = current_config().timezone
    return {**row, "masked": mask(row["number"]), "state": _status(SUBSCRIBER_STATUS, row["status"]),
            "source_label": str(SOURCES.get(row["source"], row["source"])),
            "since_display": local_time(row["subscribed_at"] or row["created_at"], tz)}


@bp.get("/subscribers")
def subscriber_list() -> Any:
    db = _db()
    group = request.args.get("group", "")
    status = request.args.get("status", "subscribed")
    status = status if status in LIST_STATUSES else "subscribed"
    q = (request.args.get("q") or "").strip()[:60]
    page = params.page_arg(request.args)
    name, number, number_note = _subscriber_search(q)
    if number == "":
        rows, total = [], 0  # a part of a number finds nobody: that would be an oracle
    else:
        rows, total = queries.subscribers(db, group_id=params.int_arg(request.args, "group"),
                                          status=None if status == "all" else status, search=name, number=number,
                                          page=page)
    if number:
        _audit(db, "subscriber.search", mask(number), {"found": total})
    return render_template("broadcasts/subscribers.html", subscribers=[_subscriber_view(r) for r in rows],
                           total=total, groups=subscribers.groups(db), filters={"group": group, "status": status,
                                                                                "q": q},
                           page=page, pages=max(1, -(-total // queries.PAGE)), report=None,
                           unmatched=subscribers.unmatched_villages(db, limit=20),
                           number_note=number_note, invitable=subscribers.invitable_count(db),
                           invitation_text=_basis({}).invitation)


@bp.post("/subscribers/villages")
@role_required("officer")
def assign_village() -> Any:
    """Put the villagers who texted an unknown village name into a village (an existing one or a new one)."""
    name = (request.form.get("name") or "").strip()[:60]
    choice = request.form.get("village", "")
    db = _db()
    with write_transaction(db):
        if choice == "new":
            group_id = subscribers.ensure_group(db, name, "village", _now()) if subscribers.group_key(name) else None
        else:  # a village's id: "²" or a number past SQLite's integers is a 400, not a crash
            group_id = params.int_arg(request.form, "village")
        placed = 0
        if group_id:
            placed = subscribers.assign_village_request(db, name, group_id, _now(), current_user.username)
        if placed:
            _audit(db, "subscriber.village", name, {"group": group_id, "placed": placed})
    if placed:
        flash(ngettext("Đã xếp %(num)d người vào thôn.", "Đã xếp %(num)d người vào thôn.", placed), "ok")
    else:
        flash(_("Chưa xếp được: hãy chọn một thôn."), "error")
    return redirect(url_for("broadcasts.subscriber_list"), code=303)


def _looks_like_number(q: str) -> bool:
    return any(ch.isdigit() for ch in q) and not any(ch.isalpha() for ch in q)


def _subscriber_search(q: str) -> tuple[str, str | None, str]:
    """(name to search, whole number to find or None, a note for the page) from the search box.

    A name is searched by any part. A number is found only when typed whole, only by officers
    (a viewer gets 403), and each such search is audited; a part of a number ("321") finds
    nobody, so the box cannot rebuild a masked number (DESIGN.md, rule 6). ``""`` as the
    number means "find nobody".
    """
    if not _looks_like_number(q):
        return q, None, ""
    if not current_user.can("officer"):
        record_request(audit.ACCESS_DENIED, request.path, {"needs": "officer", "search": "number"})
        abort(403)
    number = phone.normalise(q)
    if number.kind not in ("mobile", "landline", "international"):
        return "", "", _("Tìm theo số: gõ đủ cả số (ví dụ 0912345678). Không tìm theo một phần của số.")
    return "", number.value, ""


def _member_from_form(form: Any) -> tuple[subscribers.Member | None, str | None]:
    number = phone.normalise(form.get("number") or "")
    if number.kind != "mobile":
        return None, _("Số “%(raw)s” không phải số di động Việt Nam.", raw=(form.get("number") or "")[:30])
    labels = [x.strip() for x in (form.get("labels") or "").replace(";", ",").split(",") if x.strip()]
    return subscribers.Member(number.value, (form.get("name") or "").strip(), (form.get("village") or "").strip(),
                              labels, (form.get("note") or "").strip()), None


@bp.post("/subscribers/add")
@role_required("officer")
def add_subscriber() -> Any:
    member, problem = _member_from_form(request.form)
    basis = _basis(request.form)
    problem = problem or _basis_problem(basis)
    if problem:
        flash(problem, "error")
        return redirect(url_for("broadcasts.subscriber_list"), code=303)
    db = _db()
    with write_transaction(db):
        change = subscribers.save_member(db, member, source="officer", now=_now(), by=current_user.username,
                                         basis=basis)
        if change.outcome != "refused_left":
            _audit(db, "subscriber.add", mask(member.number), {"outcome": change.outcome, "consent": change.consent,
                                                                "basis": basis.kind, "note": basis.note or None})
    if change.outcome == "refused_left":
        flash(_("Số %(n)s đã tự nhắn TC để ngừng nhận. Chỉ người dân nhắn DK mới đăng ký lại được.",
                n=mask(member.number)), "error")
    else:
        flash(_("Đã thêm %(n)s.", n=mask(member.number)) if change.outcome == "added"
              else _("Đã cập nhật %(n)s.", n=mask(member.number)), "ok")
        _consent_flash(change, mask(member.number))
        _wake()  # an invitation waits for the sender
    return redirect(url_for("broadcasts.subscriber_list"), code=303)


def _basis_problem(basis: subscribers.Basis) -> str | None:
    """The form's consent choice in the officer's language, when something is missing."""
    if basis.kind not in ("invite", "paper"):
        return _("Chọn cách người này đồng ý nhận tin: gửi tin mời, hoặc đã đồng ý trên giấy.")
    if basis.kind == "paper" and not basis.note:
        return _("Đồng ý trên giấy: ghi rõ giấy nào, lưu ở đâu.")
    return None


@bp.post("/subscribers/invite-all")
@role_required("officer")
def invite_all() -> Any:
    """The dashboard's suggestion: one invitation to every number waiting without a consent."""
    db = _db()
    with write_transaction(db):
        invited = subscribers.invite_all(db, _basis({"consent": "invite"}), _now(), current_user.username)
        if invited:
            _audit(db, "subscriber.invite_all", str(invited), {"invited": invited})
    if invited:
        _wake()
        flash(_("Đã xếp %(n)d tin mời. Tin được gửi dần (mỗi giờ một ít, ngoài giờ yên lặng); ai nhắn DK mới"
                " nhận cảnh báo.", n=invited), "ok")
    else:
        flash(_("Không còn số nào chờ mời."), "info")
    return redirect(url_for("broadcasts.subscriber_list", status="invited"), code=303)


@bp.get("/subscribers/<int:subscriber_id>")
@role_required("officer")
def edit_subscriber(subscriber_id: int) -> Any:
    db = _db()
    row = queries.subscriber(db, subscriber_id)
    if row is None:
        abort(404)
    _audit(db, "subscriber.view", mask(row["number"]))  # the page shows the full number
    tz = current_config().timezone
    ledger = [{"event": str(CONSENT_EVENTS.get(e.event, e.event)), "basis": str(CONSENT_BASES.get(e.basis, e.basis)),
               "at": local_time(e.at, tz), "raw_text": e.raw_text, "notice": e.notice_version, "note": e.note,
               "by": e.by, "kind": e.event} for e in consent.history(db, row["number"])]
    invitation = consent.invitation_of(db, row["number"])
    if invitation:
        invitation = {**invitation, "status_label": str(INVITATION_STATUS.get(invitation["status"], "")),
                      "at": local_time(invitation["queued_at"] or invitation["created_at"], tz)}
    return render_template("broadcasts/subscriber.html", s=_subscriber_view(row), groups=subscribers.groups(db),
                           national=phone.national(row["number"]), ledger=ledger, invitation=invitation)


@bp.post("/subscribers/<int:subscriber_id>")
@role_required("officer")
def save_subscriber(subscriber_id: int) -> Any:
    db = _db()
    row = queries.subscriber(db, subscriber_id)
    if row is None:
        abort(404)
    action = request.form.get("action", "save")
    if action in ("invite", "paper"):
        return _give_basis(db, row, action)
    with write_transaction(db):
        if action == "leave":
            subscribers.leave(db, row["number"], "officer", _now(), by=current_user.username)
            _audit(db, "subscriber.leave", mask(row["number"]))
            flash(_("Đã ngừng gửi cho %(n)s.", n=mask(row["number"])), "ok")
        else:
            form = request.form.to_dict()
            form["number"] = row["number"]
            member, _problem = _member_from_form(form)
            change = subscribers.save_member(db, member, source="officer", now=_now(), by=current_user.username,
                                             replace_groups=True)
            if change.outcome == "refused_left":
                flash(_("Người này đã tự nhắn TC để ngừng nhận; chỉ họ nhắn DK mới nhận lại."), "error")
            else:
                _audit(db, "subscriber.edit", mask(row["number"]), {"outcome": change.outcome})
                flash(_("Đã lưu."), "ok")
    return redirect(url_for("broadcasts.edit_subscriber", subscriber_id=subscriber_id), code=303)


def _give_basis(db, row: dict[str, Any], kind: str) -> Any:
    """One subscriber's consent from their page: the one invitation, or a consent on paper."""
    basis = _basis({**request.form.to_dict(), "consent": kind})
    problem = _basis_problem(basis)
    here = url_for("broadcasts.edit_subscriber", subscriber_id=row["id"])
    if problem:
        flash(problem, "error")
        return redirect(here, code=303)
    with write_transaction(db):
        given = subscribers.give_basis(db, row["id"], basis, _now(), current_user.username)
        if given in ("invited", "given"):
            _audit(db, "subscriber.consent", mask(row["number"]), {"basis": kind, "note": basis.note or None})
    if given is None:
        flash(_("Người này đã nhận tin, hoặc đã tự nhắn ngừng nhận: không cần làm gì."), "info")
    else:
        _consent_flash(subscribers.Change("updated", row["id"], consent=given), mask(row["number"]))
        _wake()
    return redirect(here, code=303)


@bp.post("/subscribers/import")
@role_required("officer")
def import_subscribers() -> Any:
    upload = request.files.get("file")
    db = _db()
    if upload is None or not upload.filename:
        flash(_("Chọn tệp CSV để nhập."), "error")
        return redirect(url_for("broadcasts.subscriber_list"), code=303)
    basis = _basis(request.form)
    problem = _basis_problem(basis)
    if problem:
        flash(problem, "error")
        return redirect(url_for("broadcasts.subscriber_list"), code=303)
    parsed = importing.parse(upload.read())
    report = importing.import_rows(db, parsed, _now(), current_user.username, basis)
    _audit(db, "subscriber.import", upload.filename[:80], {"added": report.added, "updated": report.updated,
                                                            "skipped_left": report.skipped_left,
                                                            "problems": len(report.problems), "basis": basis.kind,
                                                            "note": basis.note or None, "invited": report.invited})
    if report.invited:
        _wake()
    rows, total = queries.subscribers(db)
    return render_template("broadcasts/subscribers.html", subscribers=[_subscriber_view(r) for r in rows],
                           total=total, groups=subscribers.groups(db),
                           filters={"group": "", "status": "subscribed", "q": ""}, page=1,
                           pages=max(1, -(-total // queries.PAGE)),
                           invitable=subscribers.invitable_count(db), invitation_text=basis.invitation,
                           report={"added": report.added, "updated": report.updated,
                                   "skipped_left": report.skipped_left, "encoding": parsed.encoding,
                                   "invited": report.invited, "given": report.given,
                                   "no_consent": report.no_consent,
                                   "problems": report.problems[:MAX_PROBLEMS_SHOWN],
                                   "more_problems": max(0, len(report.problems) - MAX_PROBLEMS_SHOWN),
                                   "ignored": parsed.ignored_columns})


@bp.post("/groups")
@role_required("officer")
def add_group() -> Any:
    name = " ".join((request.form.get("name") or "").split())[:60]
    kind = "label" if request.form.get("kind") == "label" else "village"
    if not subscribers.group_key(name):
        flash(_("Nhập tên thôn hoặc nhóm."), "error")
    else:
        db = _db()
        with write_transaction(db):
            existed = subscribers.find_group(db, name)
            subscribers.ensure_group(db, name, kind, _now())
            if not existed:
                _audit(db, "subscriber.group", name, {"kind": kind})
        flash(_("Đã có “%(n)s”.", n=existed[1]) if existed else _("Đã thêm “%(n)s”.", n=name),
              "info" if existed else "ok")
    return redirect(url_for("broadcasts.subscriber_list"), code=303)
