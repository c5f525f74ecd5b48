"""Admin pages: officers' accounts (create, role, disable, reset password, unlock) and the
audit log with filters. Every view here is for admins only; every change is audited.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gateway.accounts import audit, users
from gateway.accounts.security import clear_login_failures, login_wait_seconds
from gateway.web import audit_words, params
from gateway.web.auth import client_ip, guard_blueprint, record_request
from gateway.web.services import current_config, frame_services

bp = Blueprint("admin", __name__, url_prefix="/admin")
guard_blueprint(bp, "admin")

AUDIT_PAGE_ROWS = 100


def _db():
    return frame_services().db.get()


def _back() -> Any:
    return redirect(url_for("admin.users"), code=303)


def _user_rows() -> list[dict[str, Any]]:
    config = current_config()
    db = _db()
    now = frame_services().clock.now()
    rows = []
    for user in users.all_users(db):
        wait = login_wait_seconds(
            db, user.username, "", now,
            max_failures=config.web.login_max_failures,
            lockout_minutes=config.web.login_lockout_minutes,
        )
        rows.append({"user": user, "locked": wait > 0, "is_me": user.id == current_user.id})
    return rows


@bp.get("/")
def index() -> Any:
    return redirect(url_for("admin.users"))


@bp.get("/users", endpoint="users")
def users_page() -> str:
    return render_template(
        "admin/users.html", rows=_user_rows(), roles=users.ROLES, form={}, min_password=users.MIN_PASSWORD_CHARS
    )


@bp.post("/users")
def create() -> Any:
    form = {"username": (request.form.get("username") or "").strip(), "role": request.form.get("role", "officer")}
    password = request.form.get("password") or ""
    if password != (request.form.get("password2") or ""):
        flash(_("Hai lần nhập mật khẩu không giống nhau."), "error")
    else:
        try:
            users.create_user(
                _db(), form["username"], password, form["role"],
                by=current_user.username, ip=client_ip(request),
            )
        except users.AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(_("Đã tạo tài khoản %(name)s.", name=form["username"]), "ok")
            return _back()
    html = render_template(
        "admin/users.html", rows=_user_rows(), roles=users.ROLES, form=form,
        min_password=users.MIN_PASSWORD_CHARS,
    )
    return html, 400


def _change(action: Any, done: str, name: str) -> Any:
    try:
        action()
    except users.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(done, "ok")
    return _back()


@bp.post("/users/<username>/role")
def change_role(username: str) -> Any:
    role = request.form.get("role", "")
    return _change(
        lambda: users.set_role(_db(), username, role, by=current_user.username, ip=client_ip(request)),
        _("Đã đổi vai trò của %(name)s.", name=username), username,
    )


@bp.post("/users/<username>/active")
def change_active(username: str) -> Any:
    active = request.form.get("active") == "1"
    done = _("Đã mở lại tài khoản %(name)s.", name=username) if active else _(
        "Đã khoá tài khoản %(name)s.", name=username
    )
    return _change(
        lambda: users.set_active(_db(), username, active, by=current_user.username, ip=client_ip(request)),
        done, username,
    )


@bp.post("/users/<username>/password")
def reset_password(username: str) -> Any:
    password = request.form.get("password") or ""
    if password != (request.form.get("password2") or ""):
        flash(_("Hai lần nhập mật khẩu không giống nhau."), "error")
        return _back()
    return _change(
        lambda: users.set_password(_db(), username, password, by=current_user.username, ip=client_ip(request)),
        _("Đã đặt mật khẩu mới cho %(name)s.", name=username), username,
    )


@bp.post("/users/<username>/unlock")
def unlock(username: str) -> Any:
    def do() -> None:
        user = users.find(_db(), username)
        if user is None:
            raise users.AccountError(_("Không có tài khoản %(name)s.", name=username))
        clear_login_failures(_db(), user.username)
        record_request("user.unlock", user.username)

    return _change(do, _("%(name)s có thể đăng nhập lại ngay.", name=username), username)


# -- the audit log -----------------------------------------------------------------------------


def _day_bound(text: str, *, end: bool) -> str:
    """A ``dd/mm/yyyy`` (or ``yyyy-mm-dd``) local day as an ISO UTC bound (end: the next midnight).

    '' if it is not a date; a day out of range is a 400."""
    day = params.parse_day("to" if end else "from", text) if text else None
    if day is None:
        return ""
    if end:
        day += timedelta(days=1)
    local = datetime.combine(day, time.min, tzinfo=current_config().timezone)
    return local.astimezone(UTC).isoformat()


@bp.get("/audit")
def audit_log() -> str:
    args = request.args
    filters = {
        "who": args.get("who", "").strip()[:64],
        "action": args.get("action", "").strip()[:64],
        "target": args.get("target", "").strip()[:64],
        "from": args.get("from", "").strip()[:10],
        "to": args.get("to", "").strip()[:10],
    }
    before = params.int_arg(args, "before")
    db = _db()
    entries = audit.search(
        db,
        who=filters["who"],
        action=filters["action"],
        target=filters["target"],
        since=_day_bound(filters["from"], end=False),
        until=_day_bound(filters["to"], end=True),
        before_id=before,
        limit=AUDIT_PAGE_ROWS + 1,
    )
    more = len(entries) > AUDIT_PAGE_ROWS
    entries = entries[:AUDIT_PAGE_ROWS]
    kept = {k: v for k, v in filters.items() if v}
    next_args: dict[str, Any] = dict(kept)
    if more:
        next_args["before"] = entries[-1].id
    return render_template(
        "admin/audit.html",
        entries=entries,
        filters=filters,
        actions=audit.actions(db),
        users=[user.username for user in users.all_users(db)],
        next_url=url_for("admin.audit_log", **next_args) if more else "",
        newest_url=url_for("admin.audit_log", **kept) if before is not None else "",
        action_label=audit.action_label,
        actor_label=audit.actor_label,
        detail_sentence=lambda entry: audit_words.sentence(entry.action, entry.detail, current_config().timezone),
    )
