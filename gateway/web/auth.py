"""Logging in and out, the login wall in front of every page, roles, sessions that expire.

Every request needs a logged-in officer except the login page, static files and
``/healthz`` (and views marked ``@public``). Views that need more than reading say so::

    from gateway.web.auth import role_required

    @bp.post("/tips/<ref>/status")
    @role_required("officer")          # officers and admins (roles are ranked)
    def change_status(ref): ...

Roles rank ``admin > officer > viewer``; ``role_required("officer")`` lets officers and
admins through and answers 403 to viewers. ``current_user`` (Flask-Login) has ``.username``,
``.role`` and ``.can(role)``; templates have ``current_user`` too.

A session ends after ``web.session_hours`` without a request, and ``web.session_max_hours``
after the login whatever happens; the times come from ``services.clock`` so tests can move it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user, logout_user

from gateway.web import accounts, audit, current_config, current_services, params
from gateway.web.audit import client_ip
from gateway.web.security import (
    clear_login_failures,
    login_wait_seconds,
    note_login_attempt,
)

if TYPE_CHECKING:
    from gateway.config import Config

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints anyone may reach. Others add theirs with @public.
PUBLIC_ENDPOINTS = {"auth.login", "static", "status.healthz"}
# What survives the fresh session made at login (the rest is dropped).
KEPT_AT_LOGIN = ("csrf_token", "lang")
# "who" of entries made before anyone is logged in (the name that was tried is the target).
ANONYMOUS = "anonymous"


def public(view: F) -> F:
    """Let a view be reached without logging in (a machine API with its own token)."""
    view._tinbao_public = True  # type: ignore[attr-defined]
    return view


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        request.path.startswith("/api/")
        or request.is_json
        or best == "application/json"
        or request.headers.get("X-Requested-With") == "fetch"
    )


def error_page(code: int, message: str) -> Any:
    """An error as JSON for scripts, or as a page inside the frame for people."""
    if _wants_json():
        return jsonify(error=str(message)), code
    return render_template("auth/error.html", code=code, message=message), code


def role_required(*roles: str) -> Callable[[F], F]:
    """A view only for these roles or higher ones: ``@role_required("admin")``."""
    for role in roles:
        accounts.check_role(role)
    lowest = min(roles, key=lambda role: accounts.RANK[role]) if roles else "viewer"

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(lowest):
                audit.record_request(audit.ACCESS_DENIED, request.path, {"needs": lowest})
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def guard_blueprint(blueprint: Blueprint, min_role: str) -> None:
    """Every view of ``blueprint`` needs ``min_role`` (or higher)."""
    accounts.check_role(min_role)

    @blueprint.before_request
    def _check_role() -> Any:
        if current_user.is_authenticated and not current_user.can(min_role):
            audit.record_request(audit.ACCESS_DENIED, request.path, {"needs": min_role})
            abort(403)
        return None


def _now_ts() -> float:
    return current_services().clock.now().timestamp()


def home_endpoint() -> str:
    """The page a login leads to: the dashboard, or the hub's list (``TINBAO_HOME_ENDPOINT``)."""
    return current_app.config.get("TINBAO_HOME_ENDPOINT", "status.dashboard")


def _safe_next(target: str | None) -> str:
    """Only a path on this site (``/tips?x=1``): the one rule, ``params.local_url``."""
    return params.local_url(target, url_for(home_endpoint()))


def _expired(config: Config) -> bool:
    now = _now_ts()
    login_at = session.get("login_at")
    seen_at = session.get("seen_at")
    if not isinstance(login_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return True
    idle = config.web.session_hours * 3600
    absolute = config.web.session_max_hours * 3600
    return now - seen_at > idle or now - login_at > absolute


def install(app: Flask, config: Config) -> None:
    """Flask-Login, the login wall, session expiry, error pages; registers the auth blueprint."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.config["PERMANENT_SESSION_LIFETIME"] = int(config.web.session_max_hours * 3600)
    app.config["REMEMBER_COOKIE_DURATION"] = 0  # no "remember me": sessions end
    app.register_blueprint(bp)

    @app.before_request
    def login_wall() -> Any:
        endpoint = request.endpoint
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        view = app.view_functions.get(endpoint or "")
        if view is not None and getattr(view, "_tinbao_public", False):
            return None
        if endpoint is None:  # 404/405: answer it without telling strangers what exists
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if _expired(config):
            who = current_user.username
            audit.record_request(audit.SESSION_EXPIRED, who, who=who)
            _end_session()
            flash(_("Phiên làm việc đã hết hạn. Mời đăng nhập lại."), "info")
            return login_manager.unauthorized()
        session["seen_at"] = _now_ts()
        return None

    @app.context_processor
    def auth_globals() -> dict[str, object]:
        return {"role_label": lambda role: accounts.ROLE_LABELS.get(role, role)}

    for code, message in (
        (403, _l("Bạn không có quyền xem trang này.")),
        (404, _l("Không có trang này.")),
        (405, _l("Trang này không nhận yêu cầu kiểu này.")),
        (413, _l("Dữ liệu gửi lên quá lớn.")),
    ):
        app.register_error_handler(code, functools.partial(_http_error, code, message))


FORBIDDEN_ACTION = _l("Tài khoản của bạn không có quyền làm việc này (chỉ cán bộ và quản trị viên được làm).")


def _http_error(code: int, message: Any, error: Exception) -> Any:
    if code == 403 and request.method not in ("GET", "HEAD"):
        message = FORBIDDEN_ACTION  # pressing a button is not viewing a page
    return error_page(code, str(message))


@login_manager.user_loader
def _load_user(user_id: str) -> accounts.User | None:
    """The session stores ``id:auth_version``; a reset password or a disabled account ends it."""
    try:
        raw_id, raw_version = user_id.split(":")
        uid, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    user = accounts.get(current_services().db.get(), uid)
    if user is None or not user.active or user.auth_version != version:
        return None
    return user


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if _wants_json():
        return jsonify(error=_("Cần đăng nhập."), login_url=url_for("auth.login")), 401
    if request.endpoint != home_endpoint() or request.args:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


def _end_session() -> None:
    keep = {key: session[key] for key in ("lang",) if key in session}
    logout_user()
    session.clear()
    session.update(keep)


def _start_session(user: accounts.User) -> None:
    keep = {key: session[key] for key in KEPT_AT_LOGIN if key in session}
    session.clear()  # nothing from before the login carries over except the token and language
    session.update(keep)
    session.permanent = True
    login_user(user)
    now = _now_ts()
    session["login_at"] = now
    session["seen_at"] = now
    db = current_services().db.get()
    if "lang" in session:
        if session["lang"] != user.language:
            accounts.set_language(db, user.id, session["lang"])
    elif user.language:
        session["lang"] = user.language


def _no_accounts_yet() -> bool:
    """True on a fresh gateway: the login page then says how the first admin is made."""
    db = current_services().db.get()
    return db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("auth/login.html", username="", next=request.args.get("next", ""),
                               first_run=_no_accounts_yet())

    config = current_config()
    services = current_services()
    db = services.db.get()
    now = services.clock.now()
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    next_url = request.form.get("next") or ""
    ip = client_ip(request)

    def refuse(message: str, code: int) -> Any:
        flash(message, "error")
        return render_template("auth/login.html", username=username, next=next_url), code

    if not username or not password:
        return refuse(_("Nhập tên đăng nhập và mật khẩu."), 400)
    wait = login_wait_seconds(
        db, username, ip, now,
        max_failures=config.web.login_max_failures,
        lockout_minutes=config.web.login_lockout_minutes,
    )
    if wait > 0:
        minutes = max(1, int(wait // 60) + (1 if wait % 60 else 0))
        audit.record_throttled(db, username, ip, now, timedelta(minutes=config.web.login_lockout_minutes))
        return refuse(
            _("Đăng nhập sai quá nhiều lần. Thử lại sau %(minutes)d phút.", minutes=minutes), 429
        )
    user = accounts.authenticate(db, username, password)
    note_login_attempt(db, username, ip, user is not None, now)
    if user is None:
        audit.record(db, ANONYMOUS, audit.LOGIN_FAILED, username[:64], ip=ip, now=now)
        return refuse(_("Sai tên đăng nhập hoặc mật khẩu."), 401)
    _start_session(user)
    accounts.mark_login(db, user, now)
    audit.record(db, user.username, audit.LOGIN_OK, user.username, ip=ip, now=now)
    return redirect(_safe_next(next_url), code=303)


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        audit.record_request(audit.LOGOUT, current_user.username)
        # The signed cookie lives in the browser: only a new version on the account makes a
        # copy of it (kept by anyone) useless. Each of the account's sessions ends.
        accounts.end_sessions(current_services().db.get(), current_user.id)
    _end_session()
    flash(_("Đã đăng xuất."), "info")
    return redirect(url_for("auth.login"), code=303)


__all__ = [
    "bp",
    "clear_login_failures",
    "current_user",
    "error_page",
    "guard_blueprint",
    "public",
    "role_required",
]
