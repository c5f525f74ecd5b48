"""The login wall in front of every page, roles, sessions that expire; the audit of a request.

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
after the login whatever happens; the times come from the services' clock so tests can move
it. The pages that log in and out are ``gateway.web.login``; this module is no blueprint, so
every page may import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, current_user, logout_user

from gateway.accounts import audit, users
from gateway.web.errors import wants_json
from gateway.web.services import frame_services

if TYPE_CHECKING:
    from gateway.config import Config

login_manager = LoginManager()

F = TypeVar("F", bound=Callable[..., Any])

# Endpoints anyone may reach. Others add theirs with @public.
PUBLIC_ENDPOINTS = {"auth.login", "static", "status.healthz"}
# "who" of entries made before anyone is logged in (the name that was tried is the target).
ANONYMOUS = "anonymous"


def public(view: F) -> F:
    """Let a view be reached without logging in (a machine API with its own token)."""
    view._tinbao_public = True  # type: ignore[attr-defined]
    return view


def role_required(*roles: str) -> Callable[[F], F]:
    """A view only for these roles or higher ones: ``@role_required("admin")``."""
    for role in roles:
        users.check_role(role)
    lowest = min(roles, key=lambda role: users.RANK[role]) if roles else "viewer"

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.can(lowest):
                record_request(audit.ACCESS_DENIED, request.path, {"needs": lowest})
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def guard_blueprint(blueprint: Blueprint, min_role: str) -> None:
    """Every view of ``blueprint`` needs ``min_role`` (or higher)."""
    users.check_role(min_role)

    @blueprint.before_request
    def _check_role() -> Any:
        if current_user.is_authenticated and not current_user.can(min_role):
            record_request(audit.ACCESS_DENIED, request.path, {"needs": min_role})
            abort(403)
        return None


def record_request(action: str, target: str = "", detail: Any = None, *, who: str | None = None) -> int:
    """``audit.record`` for the current request: the logged-in officer and the client's address."""
    if who is None:
        who = current_user.username if current_user.is_authenticated else ANONYMOUS
    return audit.record(frame_services().db.get(), who, action, target, detail, ip=client_ip(request))


def client_ip(request: Any) -> str:
    """The address the request came from (the post's LAN: no proxy in front of waitress)."""
    return request.remote_addr or ""


def now_ts() -> float:
    """The services' clock as a timestamp (sessions' login and last-seen times)."""
    return frame_services().clock.now().timestamp()


def home_endpoint() -> str:
    """The page a login leads to: the dashboard, or the hub's list (``frame.SiteTexts``)."""
    return current_app.config["TINBAO_HOME_ENDPOINT"]


def end_session() -> None:
    """Log out and forget the session (its language stays)."""
    keep = {key: session[key] for key in ("lang",) if key in session}
    logout_user()
    session.clear()
    session.update(keep)


def _expired(config: Config) -> bool:
    now = now_ts()
    login_at = session.get("login_at")
    seen_at = session.get("seen_at")
    if not isinstance(login_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return True
    idle = config.web.session_hours * 3600
    absolute = config.web.session_max_hours * 3600
    return now - seen_at > idle or now - login_at > absolute


def install(app: Flask, config: Config) -> None:
    """Flask-Login, the login wall, session expiry (the login pages are ``gateway.web.login``)."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    app.config["PERMANENT_SESSION_LIFETIME"] = int(config.web.session_max_hours * 3600)
    app.config["REMEMBER_COOKIE_DURATION"] = 0  # no "remember me": sessions end

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
            record_request(audit.SESSION_EXPIRED, who, who=who)
            end_session()
            flash(_("Phiên làm việc đã hết hạn. Mời đăng nhập lại."), "info")
            return login_manager.unauthorized()
        session["seen_at"] = now_ts()
        return None

    @app.context_processor
    def auth_globals() -> dict[str, object]:
        return {"role_label": lambda role: users.ROLE_LABELS.get(role, role)}


@login_manager.user_loader
def _load_user(user_id: str) -> users.User | None:
    """The session stores ``id:auth_version``; a reset password or a disabled account ends it."""
    try:
        raw_id, raw_version = user_id.split(":")
        uid, version = int(raw_id), int(raw_version)
    except (ValueError, AttributeError):
        return None
    user = users.get(frame_services().db.get(), uid)
    if user is None or not user.active or user.auth_version != version:
        return None
    return user


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    if wants_json():
        return jsonify(error=_("Cần đăng nhập."), login_url=url_for("auth.login")), 401
    if request.endpoint != home_endpoint() or request.args:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("auth.login"))


__all__ = [
    "client_ip",
    "current_user",
    "guard_blueprint",
    "public",
    "record_request",
    "role_required",
]
