"""Logging in and out: the login page both apps share (blueprint ``auth``).

A login is throttled (``gateway.accounts.security``: failures counted in the database, so a
restart gives a guesser no fresh tries), audited, and starts a fresh session that keeps only
the language: the CSRF token is renewed too (a token seen before the login, on a shared
computer or in a page's source, is worth nothing after it). A logout ends every session of
the account.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_user

from gateway.accounts import audit, users
from gateway.accounts.security import login_wait_seconds, note_login_attempt
from gateway.web import params
from gateway.web.auth import ANONYMOUS, client_ip, end_session, home_endpoint, now_ts, record_request
from gateway.web.services import current_config, frame_services

bp = Blueprint("auth", __name__)

# What survives the fresh session made at login (the rest is dropped, the CSRF token included:
# Flask-WTF makes a new one for the first page after the login).
KEPT_AT_LOGIN = ("lang",)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (``/tips?x=1``): the one rule, ``params.local_url``."""
    return params.local_url(target, url_for(home_endpoint()))


def _start_session(user: users.User) -> None:
    keep = {key: session[key] for key in KEPT_AT_LOGIN if key in session}
    session.clear()  # nothing from before the login carries over except the language
    g.pop("csrf_token", None)  # Flask-WTF's copy for this request: the next page signs a new one
    session.update(keep)
    session.permanent = True
    login_user(user)
    now = now_ts()
    session["login_at"] = now
    session["seen_at"] = now
    db = frame_services().db.get()
    if "lang" in session:
        if session["lang"] != user.language:
            users.set_language(db, user.id, session["lang"])
    elif user.language:
        session["lang"] = user.language


def _no_accounts_yet() -> bool:
    """True on a fresh gateway: the login page then says how the first admin is made."""
    return users.count_users(frame_services().db.get()) == 0


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("auth/login.html", username="", next=request.args.get("next", ""),
                               first_run=_no_accounts_yet())

    config = current_config()
    services = frame_services()
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
            ngettext("Đăng nhập sai quá nhiều lần. Thử lại sau %(num)d phút.",
                     "Đăng nhập sai quá nhiều lần. Thử lại sau %(num)d phút.", minutes), 429
        )
    user = users.authenticate(db, username, password)
    note_login_attempt(db, username, ip, user is not None, now)
    if user is None:
        audit.record(db, ANONYMOUS, audit.LOGIN_FAILED, username[:64], ip=ip, now=now)
        return refuse(_("Sai tên đăng nhập hoặc mật khẩu."), 401)
    _start_session(user)
    users.mark_login(db, user, now)
    audit.record(db, user.username, audit.LOGIN_OK, user.username, ip=ip, now=now)
    return redirect(_safe_next(next_url), code=303)


@bp.post("/logout")
def logout() -> Any:
    if current_user.is_authenticated:
        record_request(audit.LOGOUT, current_user.username)
        # The signed cookie lives in the browser: only a new version on the account makes a
        # copy of it (kept by anyone) useless. Each of the account's sessions ends.
        users.end_sessions(frame_services().db.get(), current_user.id)
    end_session()
    flash(_("Đã đăng xuất."), "info")
    return redirect(url_for("auth.login"), code=303)
