"""The duty roster page: which officers' phones get an SMS when a tip arrives.

The roster and the alert itself live in ``gateway.duty`` (the router calls it); this page
only lists, adds, pauses and removes numbers, each change audited. Numbers on the roster are
officers' own work phones, shown in full to officers and admins.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway import duty, phone
from gateway.web.auth import guard_blueprint, record_request
from gateway.web.filters import local_time
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("duty", __name__)
guard_blueprint(bp, "officer")


def register(app: Flask) -> None:
    register_area(app, bp, _l("Trực ban"), "duty.roster", "officer", order=70)


def _error(exc: duty.RosterError) -> str:
    return _(exc.message, **exc.params) if exc.params else _(exc.message)


@bp.get("/duty")
def roster() -> str:
    tz = current_config().timezone
    db = current_services().db.get()
    entries = [
        {
            "id": e.id,
            "name": e.name,
            "number": phone.national(e.number),
            "active": e.active,
            "since": local_time(e.created_at, tz),
            "by": e.created_by,
            "changed": local_time(e.changed_at, tz),
            "changed_by": e.changed_by or "",
            "zalo_user_id": e.zalo_user_id or "",
        }
        for e in duty.roster(db)
    ]
    example = duty.alert_text("CL-0042", "Na Hối", "Có người lạ dụ mua đất, hứa trả tiền cao rồi đòi đặt cọc trước")
    return render_template("duty/roster.html", entries=entries, example=example)


def _done() -> Any:
    return redirect(url_for("duty.roster"), code=303)


@bp.post("/duty")
def add() -> Any:
    services = current_services()
    db = services.db.get()
    try:
        entry = duty.add(db, request.form.get("number", ""), request.form.get("name", ""),
                         by=current_user.username, now=services.clock.now(),
                         zalo_user_id=request.form.get("zalo_user_id", ""))
    except duty.RosterError as exc:
        flash(_error(exc), "error")
        return _done()
    record_request("duty.add", entry.name, {"number": phone.mask(entry.number),
                                            "zalo_user_id": entry.zalo_user_id})
    flash(_("Đã thêm %(name)s vào danh sách trực.", name=entry.name), "ok")
    return _done()


@bp.post("/duty/<int:entry_id>/active")
def set_active(entry_id: int) -> Any:
    services = current_services()
    active = request.form.get("active") == "1"
    try:
        entry = duty.set_active(services.db.get(), entry_id, active,
                                by=current_user.username, now=services.clock.now())
    except duty.RosterError as exc:
        flash(_error(exc), "error")
        return _done()
    record_request("duty.resume" if active else "duty.pause", entry.name,
                   {"number": phone.mask(entry.number)})
    flash(_("Đã bật báo tin cho %(name)s.", name=entry.name) if active
          else _("Đã tạm dừng báo tin cho %(name)s.", name=entry.name), "ok")
    return _done()


@bp.post("/duty/<int:entry_id>/remove")
def remove(entry_id: int) -> Any:
    try:
        entry = duty.remove(current_services().db.get(), entry_id)
    except duty.RosterError as exc:
        flash(_error(exc), "error")
        return _done()
    record_request("duty.remove", entry.name, {"number": phone.mask(entry.number)})
    flash(_("Đã xoá %(name)s khỏi danh sách trực.", name=entry.name), "ok")
    return _done()
