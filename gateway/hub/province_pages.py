"""The hub's pages for the province's warnings and campaigns ("Cảnh báo toàn tỉnh").

- ``/province/warnings``: the warnings, and the editor (admins): title, accented text, the
  "không dấu" text made from it as the admin types (editable: once typed by hand it is kept),
  and the SMS parts each form costs, counted by the commune's own counter on every keystroke
  (``preview.json``; the page also works without JavaScript through "Xem trước").
- ``/province/campaigns``: the campaigns; scheduling one (admins): one warning, all communes or
  chosen ones, from one date to another (local days of ``gateway.timezone``); one campaign's
  page shows each commune's progress and the total, with the cost at each commune's own price
  per part, and "missed" where the window ended without progress; admins cancel it.
- ``/province/usb/<gateway>``: the signed file for a post without internet (officers).

Every change is written to the hub's audit log. Viewers read.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway.accounts import audit
from gateway.hub import campaigns, province_file, warnings
from gateway.hub.campaigns import CampaignError
from gateway.hub.warnings import WarningError
from gateway.storage import write_transaction
from gateway.sync.sneakernet import SneakernetError
from gateway.web.auth import client_ip, role_required
from gateway.web.services import current_config, frame_services

bp = Blueprint("province", __name__, url_prefix="/province")

WINDOW_DAYS_MAX = 366
STATES = {
    "waiting": (_l("Chưa đến ngày"), "plain"), "no_news": (_l("Chưa có tin từ xã"), "wait"),
    "scheduled": (_l("Xã đã nhận, chờ giờ gửi"), "wait"), "running": (_l("Đang gửi"), "new"),
    "paused": (_l("Tạm dừng"), "wait"), "done": (_l("Đã gửi xong"), "ok"), "missed": (_l("Bị lỡ"), "bad"),
    "cancelled": (_l("Đã hủy"), "bad"), "closed": (_l("Hết thời gian"), "plain"),
}
HELD = {"quiet": _l("giờ nghỉ đêm của xã"), "clock": _l("đồng hồ của xã chưa đúng"),
        "per_day": _l("đủ số tin mỗi ngày, chờ hôm sau"), "paused": _l("cán bộ xã tạm dừng")}


def _db():
    return frame_services().db.get()


def _now() -> datetime:
    return frame_services().clock.now()


def _audit(db, action: str, target: Any, detail: Any = None) -> None:
    audit.record(db, current_user.username, action, str(target), detail, ip=client_ip(request), now=_now())


def communes() -> dict[str, str]:
    """Each gateway the hub knows (``hub.gateways``), by id, with the name the hub shows it by."""
    hub = current_config().hub
    return {gateway_id: hub.gateway_name(gateway_id) for gateway_id in sorted(hub.gateways)}


# -- warnings -----------------------------------------------------------------------------------

@bp.get("/")
def index() -> Any:
    return redirect(url_for("province.warning_list"))


@bp.get("/warnings")
def warning_list() -> str:
    rows = warnings.listing(_db())
    return render_template("province/warnings.html", warnings=rows,
                           costs={row["id"]: warnings.cost_preview(row["accented"], row["khong_dau"]) for row in rows})


def _form_texts(form: Any) -> tuple[str, str, str, bool]:
    """(title, accented, không dấu, whether the không dấu text was made for the admin)."""
    title = (form.get("title") or "").strip()
    accented = (form.get("accented") or "").strip()
    typed = (form.get("khong_dau") or "").strip()
    made = form.get("khong_dau_auto") == "1" or not typed
    return title, accented, warnings.suggested_khong_dau(accented) if made else typed, made


def _editor(row: dict[str, Any] | None, form: dict[str, Any], problems: list[str], code: int = 200) -> Any:
    title, accented, plain, made = _form_texts(form)
    shown = {"title": title, "accented": accented, "khong_dau": plain, "khong_dau_auto": made}
    costs = warnings.cost_preview(accented, plain) if accented else None
    return render_template("province/editor.html", warning=row, form=shown, problems=problems, costs=costs,
                           example_sender=warnings.EXAMPLE_SENDER), code


@bp.get("/warnings/new")
@role_required("admin")
def new_warning() -> Any:
    return _editor(None, {}, [])


@bp.get("/warnings/<int:warning_id>")
def show_warning(warning_id: int) -> Any:
    row = warnings.get(_db(), warning_id)
    if row is None:
        abort(404)
    if not current_user.can("admin"):
        return render_template("province/warning.html", warning=row,
                               costs=warnings.cost_preview(row["accented"], row["khong_dau"]))
    return _editor(row, {"title": row["title"], "accented": row["accented"], "khong_dau": row["khong_dau"],
                         "khong_dau_auto": "1" if row["khong_dau"] == warnings.suggested_khong_dau(row["accented"])
                         else ""}, [])


@bp.post("/warnings/new")
@role_required("admin")
def create_warning() -> Any:
    return _save(None)


@bp.post("/warnings/<int:warning_id>")
@role_required("admin")
def save_warning(warning_id: int) -> Any:
    if warnings.get(_db(), warning_id) is None:
        abort(404)
    return _save(warning_id)


def _save(warning_id: int | None) -> Any:
    db = _db()
    row = warnings.get(db, warning_id) if warning_id else None
    if request.form.get("action") == "preview":
        return _editor(row, request.form, [])
    title, accented, plain, _made = _form_texts(request.form)
    try:
        with write_transaction(db):
            saved = warnings.save(db, title=title, accented=accented, plain=plain, by=current_user.username,
                                  now=_now(), warning_id=warning_id)
            version = warnings.get(db, saved)["version"]
            if row is None or version != row["version"]:
                _audit(db, "province.warning.save", f"warning {saved}", {"title": title, "version": version})
    except WarningError as exc:
        return _editor(row, request.form, [str(exc)], 422)
    if row is None:
        flash(_("Đã lưu cảnh báo. Các xã nhận được ở lần đồng bộ tới."), "ok")
    elif version != row["version"]:
        flash(_("Đã lưu bản %(v)s. Các xã nhận bản mới ở lần đồng bộ tới và phải duyệt lại.", v=version), "ok")
    else:
        flash(_("Không có gì thay đổi."), "info")
    return redirect(url_for("province.show_warning", warning_id=saved), code=303)


@bp.post("/warnings/preview.json")
@role_required("admin")
def preview_json() -> Any:
    """What the editor shows as the admin types: the không dấu text made for them, both forms'
    SMS parts per person and the size guard's problems (the commune editor's own rules)."""
    title, accented, plain, made = _form_texts(request.form)
    out: dict[str, Any] = {"khong_dau_suggested": warnings.suggested_khong_dau(accented), "khong_dau_auto": made,
                           "problems": warnings.problems(title or "-", accented, plain) if accented else []}
    if accented:
        out.update(warnings.cost_preview(accented, plain))
    response = jsonify(out)
    response.headers["Cache-Control"] = "no-store"
    return response


# -- campaigns ----------------------------------------------------------------------------------

def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=current_config().timezone)


def _day(value: str | None) -> date | None:
    try:
        day = date.fromisoformat((value or "").strip()[:10])
    except ValueError:
        return None
    return day if 2020 <= day.year <= 2999 else None


def _state(name: str) -> dict[str, str]:
    title, tone = STATES.get(name, (name, "plain"))
    return {"label": str(title), "tone": tone}


def _held(held: str | None) -> str:
    return str(HELD.get(held, held)) if held else ""


@bp.get("/campaigns")
def campaign_list() -> str:
    db = _db()
    known = list(communes())
    now = _now()
    rows = []
    for row in campaigns.listing(db):
        seen = campaigns.overview(db, row, known, now)
        rows.append({**row, "total": seen["total"], "missed": seen["missed"], "communes_count": len(seen["rows"])})
    return render_template("province/campaigns.html", campaigns=rows, names=communes())


def _campaign_form(form: dict[str, Any], problems: list[str], code: int = 200) -> Any:
    db = _db()
    today = _now().astimezone(current_config().timezone).date()
    shown = {"warning": str(form.get("warning", "")), "encoding": form.get("encoding", "khong_dau"),
             "all": form.get("all", "1" if not form.get("commune") else ""),
             "chosen": list(form.getlist("commune")) if hasattr(form, "getlist") else [],
             "starts_on": form.get("starts_on", today.isoformat()),
             "ends_on": form.get("ends_on", (today + timedelta(days=2)).isoformat())}
    rows = warnings.listing(db)
    return render_template("province/campaign_new.html", form=shown, problems=problems, warnings=rows,
                           costs={row["id"]: warnings.cost_preview(row["accented"], row["khong_dau"]) for row in rows},
                           names=communes()), code


@bp.get("/campaigns/new")
@role_required("admin")
def new_campaign() -> Any:
    return _campaign_form(request.args, [])


@bp.post("/campaigns/new")
@role_required("admin")
def create_campaign() -> Any:
    form = request.form
    problems = []
    warning_id = int(form["warning"]) if (form.get("warning") or "").isdigit() and len(form["warning"]) < 12 else 0
    starts_on, ends_on = _day(form.get("starts_on")), _day(form.get("ends_on"))
    if starts_on is None or ends_on is None:
        problems.append(_("Chọn ngày bắt đầu và ngày kết thúc."))
    elif (ends_on - starts_on).days > WINDOW_DAYS_MAX:
        problems.append(_("Một chiến dịch dài nhất %(n)s ngày.", n=WINDOW_DAYS_MAX))
    if problems:
        return _campaign_form(form, problems, 422)
    assert starts_on is not None and ends_on is not None
    chosen = None if form.get("all") == "1" else [c for c in form.getlist("commune") if c][:1000]
    db = _db()
    try:
        with write_transaction(db):
            campaign_id = campaigns.schedule(
                db, warning_id=warning_id, encoding=form.get("encoding") or "khong_dau", communes=chosen,
                starts_at=_local_day_start(starts_on), ends_at=_local_day_start(ends_on + timedelta(days=1)),
                by=current_user.username, now=_now(), known=list(communes()))
            _audit(db, "province.campaign.schedule", f"campaign {campaign_id}",
                   {"warning": warning_id, "communes": chosen or "all", "from": starts_on.isoformat(),
                    "to": ends_on.isoformat()})
    except CampaignError as exc:
        return _campaign_form(form, [str(exc)], 422)
    flash(_("Đã lên lịch chiến dịch. Các xã nhận được ở lần đồng bộ tới."), "ok")
    return redirect(url_for("province.show_campaign", campaign_id=campaign_id), code=303)


@bp.get("/campaigns/<int:campaign_id>")
def show_campaign(campaign_id: int) -> str:
    db = _db()
    row = campaigns.get(db, campaign_id)
    if row is None:
        abort(404)
    names = communes()
    seen = campaigns.overview(db, row, list(names), _now())
    lines = [{**line, "name": names.get(line["gateway_id"], line["gateway_id"].upper()),
              "state": _state(line["state"]), "held_text": _held(line["held"])} for line in seen["rows"]]
    return render_template("province/campaign.html", campaign=row, lines=lines, total=seen["total"],
                           missed=seen["missed"], costs=warnings.cost_preview(row["accented"], row["khong_dau"]))


@bp.post("/campaigns/<int:campaign_id>/cancel")
@role_required("admin")
def cancel_campaign(campaign_id: int) -> Any:
    db = _db()
    try:
        with write_transaction(db):
            campaigns.cancel(db, campaign_id, by=current_user.username, now=_now())
            _audit(db, "province.campaign.cancel", f"campaign {campaign_id}")
    except CampaignError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Đã hủy chiến dịch. Các xã dừng gửi ở lần đồng bộ tới."), "ok")
    return redirect(url_for("province.show_campaign", campaign_id=campaign_id), code=303)


@bp.get("/usb/<gateway_id>")
@role_required("officer")
def usb_file(gateway_id: str) -> Any:
    """The signed file of the province's warnings and campaigns for a post without internet."""
    if gateway_id not in communes():
        abort(404)
    db = _db()
    now = _now()
    try:
        data = province_file.build(db, current_config(), gateway_id, now)
    except SneakernetError:
        abort(404)
    _audit(db, "province.usb_file", gateway_id)
    name = province_file.file_name(gateway_id, now.astimezone(current_config().timezone))
    return Response(data, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})
