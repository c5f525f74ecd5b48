"""Request guards shared by every blueprint: CSRF tokens, same-origin writes, cookie flags,
strict response headers, login throttling and the session-signing key.

- CSRF: Flask-WTF's ``CSRFProtect`` checks every POST/PUT/PATCH/DELETE. Forms carry
  ``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">``; scripts send the
  ``X-CSRFToken`` header, which ``static/csrf.js`` adds to every same-origin ``fetch`` from the
  ``<meta name="csrf-token">`` tag of ``base.html``. A missing or wrong token answers 400.
- On top of that, unsafe methods are refused when their ``Origin`` (or, failing that,
  ``Referer``) names another host (defence in depth; requests without either header pass).
- Cookies: HttpOnly and SameSite=Lax always; ``Secure`` only when the request came over
  https. The post serves the page over plain http on its own LAN/Wi-Fi (no certificate a
  phone would trust), where a Secure cookie would never be sent back and nobody could log in.
- Throttling: failed logins are rows in ``login_attempts``; after ``web.login_max_failures``
  failures for one username (or four times as many from one address) within
  ``web.login_lockout_minutes``, that name (or address) waits. A restart does not reset it.
- The key that signs sessions: ``web.secret_key`` or, when it is empty, a random key kept in
  the ``state`` table, so sessions survive a restart of the gateway.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlite_utils import Database

from gateway import state
from gateway.storage import utcnow_iso

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.web import WebServices

log = logging.getLogger(__name__)

csrf = CSRFProtect()
SECRET_STATE_KEY = "web_secret_key"
ATTEMPTS_KEPT = timedelta(days=2)  # longer than any lockout window (web.login_lockout_minutes ≤ 1 day)
IP_FAILURE_FACTOR = 4  # one address (the post's shared laptop) may fail 4x as often as one name

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Everything is served by the gateway itself: no CDN, no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _host_port(host: str, scheme: str) -> str:
    """``host[:port]`` lower-cased, with the scheme's default port dropped."""
    host = host.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default and host.endswith(":" + default):
        host = host[: -len(default) - 1]
    return host


def same_origin() -> bool:
    """True unless the request's Origin/Referer header names another host than ours."""
    ours = _host_port(request.host, request.scheme)
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        return bool(parts.netloc) and _host_port(parts.netloc, parts.scheme) == ours
    referer = request.headers.get("Referer")
    if referer:
        parts = urlsplit(referer)
        return bool(parts.netloc) and _host_port(parts.netloc, parts.scheme) == ours
    return True


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set whenever the request is https."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def install(app: Flask, config: "Config | None" = None) -> None:
    """Register CSRF protection, the same-origin guard, cookie flags and security headers."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="tinbao_session",
        # A token lives as long as the session: an officer may keep a form open for hours.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
    )
    app.session_interface = _SessionInterface()

    @app.before_request
    def refuse_cross_origin() -> tuple[Response, int] | None:
        if request.method in UNSAFE_METHODS and not same_origin():
            return jsonify(error="Yêu cầu từ trang khác bị từ chối."), 403
        return None

    csrf.init_app(app)

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError) -> Any:
        from flask_babel import gettext as _

        from gateway.web.auth import error_page

        return error_page(
            400,
            _("Biểu mẫu đã hết hạn hoặc thiếu mã bảo vệ (CSRF). Hãy tải lại trang rồi thử lại."),
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def csrf_exempt(view: Any) -> Any:
    """Exempt a view or blueprint from CSRF (only for machine APIs with their own token)."""
    return csrf.exempt(view)


# -- the session-signing key -------------------------------------------------------------------


def secret_key(config: "Config", services: "WebServices") -> str:
    """``web.secret_key``, or the key kept in ``state`` (made once), so sessions survive restarts."""
    if config.web.secret_key:
        return config.web.secret_key
    try:
        return state.put_if_absent(services.db.get(), SECRET_STATE_KEY, secrets.token_hex(32))
    except sqlite3.Error as exc:  # a database without the schema: run, but sessions will not survive
        log.warning("could not keep the web secret key in the database (%s); using a new one", exc)
        return secrets.token_hex(32)


# -- login throttling --------------------------------------------------------------------------


def note_login_attempt(db: Database, username: str, ip: str, ok: bool, now: datetime) -> None:
    """Remember one attempt (the throttle counts failures since the last success).

    Attempts older than ``ATTEMPTS_KEPT`` are dropped here (the audit log keeps the story),
    so a guesser hammering the page cannot grow the table without end.
    """
    with db.conn:
        db.conn.execute(
            "INSERT INTO login_attempts (at, username, ip, ok) VALUES (?, ?, ?, ?)",
            [utcnow_iso(now), (username or "").strip()[:64], ip or "", int(ok)],
        )
        db.conn.execute("DELETE FROM login_attempts WHERE at < ?", [utcnow_iso(now - ATTEMPTS_KEPT)])


def _wait_for(
    db: Database, column: str, value: str, limit: int, window: timedelta, now: datetime
) -> float:
    """Seconds ``value`` (a username or an IP) must still wait, 0 when it may try now."""
    since = utcnow_iso(now - window)
    last_ok = db.execute(
        f"SELECT coalesce(max(id), 0) FROM login_attempts WHERE {column} = ? AND ok = 1", [value]
    ).fetchone()[0]
    failures = db.execute(
        f"SELECT at FROM login_attempts WHERE {column} = ? AND ok = 0 AND at > ? AND id > ?"
        " ORDER BY id DESC LIMIT ?",
        [value, since, last_ok, limit],
    ).fetchall()
    if len(failures) < limit:
        return 0.0
    # The limit-th most recent failure leaves the window at this moment.
    oldest = datetime.fromisoformat(failures[-1][0])
    return max(0.0, (oldest + window - now).total_seconds())


def login_wait_seconds(
    db: Database, username: str, ip: str, now: datetime, *, max_failures: int, lockout_minutes: float
) -> float:
    """How long a login for ``username`` from ``ip`` must wait (0: go ahead)."""
    window = timedelta(minutes=lockout_minutes)
    by_name = _wait_for(db, "username", (username or "").strip()[:64], max_failures, window, now)
    by_ip = _wait_for(db, "ip", ip or "", max_failures * IP_FAILURE_FACTOR, window, now) if ip else 0.0
    return max(by_name, by_ip)


def clear_login_failures(db: Database, username: str) -> None:
    """An admin lets a locked-out name try again at once (the failures stay in the audit log)."""
    with db.conn:
        db.conn.execute("DELETE FROM login_attempts WHERE username = ? AND ok = 0", [username])
