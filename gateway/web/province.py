"""The province's warnings and campaigns at the commune (``/broadcasts/province``), a tab of "Cảnh báo".

The warnings the provincial hub wrote, marked "Công an tỉnh", each with both forms as this
commune's subscribers would get them and their SMS parts; an officer accepts one (audited)
before it can be picked in "Soạn bản tin", and a changed one again (``broadcasts.accept_province``
takes them at once). The campaigns the province scheduled here, each with its one local
broadcast and how far it got. And the upload of the province's USB file for a post without
internet (audited). The commune's own warnings are not on this page and never change here.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway.accounts import audit
from gateway.broadcasts import campaigns, province
from gateway.broadcasts.library import preview
from gateway.broadcasts.province import ProvinceError
from gateway.storage import write_transaction
from gateway.sync import province as province_sync
from gateway.sync.sneakernet import SneakernetError
from gateway.web import params
from gateway.web.auth import client_ip, role_required
from gateway.web.filters import local_time
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("province", __name__, url_prefix="/broadcasts/province")

UPLOAD_MAX_BYTES = 8 * 1024 * 1024
CAMPAIGN_STATUS = {
    "scheduled": (_l("Chờ đến giờ gửi"), "wait"), "running": (_l("Đang gửi"), "new"),
    "paused": (_l("Tạm dừng"), "wait"), "done": (_l("Đã gửi xong"), "ok"),
    "missed": (_l("Bị lỡ"), "bad"), "cancelled": (_l("Đã hủy"), "bad"),
    "closed": (_l("Hết thời gian chiến dịch"), "plain"),
}
HELD = {"quiet": _l("giờ nghỉ đêm"), "clock": _l("đồng hồ chưa đúng"), "per_day": _l("đủ số tin mỗi ngày"),
        "paused": _l("cán bộ tạm dừng")}


def register(app: Flask) -> None:
    register_area(app, bp)  # a tab of "Cảnh báo", no entry of its own in the menu bar
    app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)

    @app.context_processor
    def waiting() -> dict[str, Any]:
        # The broadcasts' tabs say how many of the province's warnings wait for an officer
        # (a callable: only the pages that draw the tabs read the database for it).
        return {"province_waiting": lambda: province.waiting_count(_db())}


def _upload_limit() -> None:
    """The province's file may be larger than the page's usual request limit: raised for the
    upload only, before CSRF reads the form."""
    if request.endpoint == "province.upload":
        request.max_content_length = UPLOAD_MAX_BYTES


def _db():
    return current_services().db.get()


def _now():
    return current_services().broadcasts.clock.now()


def _audit(db, action: str, target: str, detail: Any = None) -> None:
    audit.record(db, current_user.username, action, target, detail, ip=client_ip(request), now=_now())


def held_label(held: str | None) -> str:
    return str(HELD.get(held, held)) if held else ""


def _warning_view(row: dict[str, Any]) -> dict[str, Any]:
    tz = current_config().timezone
    costs = preview(current_services().broadcasts.composer, row["accented"], 1, row["khong_dau"])
    return {**row, "costs": costs, "received_display": local_time(row["received_at"], tz),
            "accepted_display": local_time(row["accepted_at"], tz),
            "auto": row["accepted_by"] == province.AUTO_BY}


def _campaign_view(row: dict[str, Any]) -> dict[str, Any]:
    tz = current_config().timezone
    progress = row["progress"]
    title, tone = CAMPAIGN_STATUS.get(progress["status"], (progress["status"], "plain"))
    return {**row, "state": {"label": str(title), "tone": tone}, "held_text": held_label(progress["held"]),
            "starts_display": local_time(row["starts_at"], tz), "ends_display": local_time(row["ends_at"], tz)}


@bp.get("/")
def index() -> Any:
    db = _db()
    return render_template(
        "broadcasts/province.html", warnings=[_warning_view(r) for r in province.listing(db)],
        campaigns=[_campaign_view(r) for r in campaigns.listing(db)],
        auto_accept=current_config().broadcasts.accept_province, hub_level=current_config().hub.level)


@bp.post("/<int:warning_id>/accept")
@role_required("officer")
def accept(warning_id: int) -> Any:
    version = params.parse_int("version", request.form.get("version", ""))
    db = _db()
    try:
        with write_transaction(db):
            province.accept(db, warning_id, version=version, by=current_user.username, now=_now())
            _audit(db, "province_warning.accept", province.library_id(warning_id), {"version": version})
    except ProvinceError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Đã duyệt. Cảnh báo này có trong danh sách khi soạn bản tin."), "ok")
    return redirect(url_for("province.index") + f"#warning-{warning_id}", code=303)


@bp.post("/upload")
@role_required("officer")
def upload() -> Any:
    """The province's USB file, taken in as ``python app.py import-province`` does."""
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        flash(_("Chọn tệp của Công an tỉnh để nhập."), "error")
        return redirect(url_for("province.index"), code=303)
    db = _db()
    name = sent.filename[:80]
    handle, path = tempfile.mkstemp(prefix="tinbao-tinh-", suffix=".json")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(sent.read(UPLOAD_MAX_BYTES + 1))
        got = province_sync.import_file(db, current_config(), path, _now())
    except SneakernetError as exc:
        _audit(db, "province.import_refused", name, {"reason": str(exc)[:200]})
        flash(_("Tệp bị từ chối: %(why)s", why=str(exc).replace(path, name)), "error")
    else:
        _audit(db, "province.import", name, {"warnings": got.warnings, "campaigns": got.campaigns})
        current_services().broadcasts.wake()  # a campaign inside its window starts at once
        flash(_("Đã nhập tệp: %(w)s cảnh báo và %(c)s chiến dịch mới hoặc thay đổi.", w=got.warnings,
                c=got.campaigns), "ok")
    finally:
        os.unlink(path)
    return redirect(url_for("province.index"), code=303)
