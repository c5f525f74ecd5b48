"""``/sim``: the SIM's page and its few actions.

Read the credit now, run the loop test now, "the SIM's owner re-verified", a notice read, a
missed call rung back, and a caller's full number (audited, like a tipster's). The words are
``gateway.web.sim_words``'.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gateway.sim import balance, calls, identity, loop, notices
from gateway.web import params
from gateway.web.auth import record_request, role_required
from gateway.web.filters import local_time
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services
from gateway.web.sim_words import CHANGED, call_rows, card, money, notice_rows

bp = Blueprint("sim", __name__, url_prefix="/sim")


def register(app: Flask) -> None:
    register_area(app, bp)  # reached from the dashboard's SIM card and alerts, not the menu bar


# -- the page and its actions ----------------------------------------------------------------------

def _now() -> datetime:
    return current_services().clock.now()


@bp.get("/")
def page() -> str:
    db = current_services().db.get()
    tz = current_config().timezone
    who = identity.current(db)
    return render_template(
        "sim/page.html", sim=card(db, _now(), tz), notices=notice_rows(db, tz, 50),
        callbacks=call_rows(calls.callbacks(db), tz), calls=call_rows(calls.recent(db, 30), tz),
        identity=who, changed=CHANGED, loop_enabled=loop.own_number(current_config().gateway.phone_number) is not None,
        readings=[{**r, "when": local_time(r["read_at"], tz), "amount": money(r["balance_vnd"])}
                  for r in balance.recent(db, 10)],
    )


def _back(anchor: str = "") -> Any:
    here = url_for("sim.page") + anchor
    return redirect(params.local_url(request.form.get("next"), here), code=303)


@bp.post("/balance")
@role_required("officer")
def read_balance() -> Any:
    current_services().sim.request_balance()
    record_request("sim.balance_check")
    flash(_("Đang đọc số dư qua USSD; kết quả hiện trong vài giây."), "ok")
    return _back()


@bp.post("/loop-test")
@role_required("officer")
def loop_test() -> Any:
    if not current_services().sim.request_loop_test():
        flash(_("Chưa chạy được: cần số điện thoại của cổng (gateway.phone_number) và cổng đang chạy."), "error")
    else:
        record_request("sim.loop_test")
        flash(_("Đã gửi tin kiểm tra vòng tới chính số của cổng; kết quả hiện khi tin quay lại."), "ok")
    return _back()


@bp.post("/identity/<int:identity_id>/verified")
@role_required("officer")
def identity_verified(identity_id: int) -> Any:
    if not identity.acknowledge(current_services().db.get(), identity_id, current_user.username, _now()):
        abort(404)
    record_request("sim.identity_verified", f"identity {identity_id}")
    flash(_("Đã ghi: chủ thuê bao đã xác thực lại."), "ok")
    return _back("#identity")


@bp.post("/notices/<int:notice_id>/read")
@role_required("officer")
def notice_read(notice_id: int) -> Any:
    if not notices.mark_read(current_services().db.get(), notice_id, current_user.username, _now()):
        abort(404)
    record_request("sim.notice_read", f"notice {notice_id}")
    return _back("#notices")


@bp.post("/calls/<int:call_id>/done")
@role_required("officer")
def call_done(call_id: int) -> Any:
    if not calls.called_back(current_services().db.get(), call_id, current_user.username, _now()):
        abort(404)
    record_request("call.called_back", f"call {call_id}")
    flash(_("Đã ghi: đã gọi lại."), "ok")
    return _back("#calls")


@bp.post("/calls/<int:call_id>/number")
@role_required("officer")
def call_number(call_id: int) -> Any:
    """The caller's full number for an officer who rings back, after writing the audit entry."""
    call = calls.get(current_services().db.get(), call_id)
    if call is None or not call["number"]:
        abort(404)
    record_request("call.reveal_number", f"call {call_id}")
    response = jsonify(number=call["number"])
    response.headers["Cache-Control"] = "no-store"
    return response
