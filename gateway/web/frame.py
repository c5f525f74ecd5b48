"""The page frame both web apps share: the officers' page (``gateway.web``) and the hub's
page (``gateway.hub``).

``install_frame(app, ...)`` gives an app, in one call:

- the key that signs sessions: ``web.secret_key`` or, when it is empty, a random key made
  once and kept in the ``state`` table (each app under its own key), so sessions survive a
  restart;
- session cookies that are HttpOnly and SameSite=Lax always, and ``Secure`` whenever the
  request came over https. A post serves its page over plain http on its own LAN/Wi-Fi (no
  certificate a phone would trust), where a Secure cookie would never be sent back;
- CSRF tokens (Flask-WTF) on every POST/PUT/PATCH/DELETE. Forms carry
  ``<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">``; scripts send the
  ``X-CSRFToken`` header from the ``<meta name="csrf-token">`` tag of ``frame.html``;
- on top of that, unsafe methods are refused when their ``Origin`` (or, failing that,
  ``Referer``) names another host (defence in depth; requests without either header, such
  as a gateway's push to the hub, pass);
- strict response headers: everything is served by the app itself, no CDN, no inline script;
- request bodies capped (``max_request_bytes``: Flask's ``MAX_CONTENT_LENGTH``, a 413) and
  JSON bodies nested at most ``MAX_JSON_DEPTH`` deep (``GuardedJSONProvider``: deeper is a
  400, never a ``RecursionError`` and its 500);
- the page filters (``localtime``: ``dd/mm/yyyy HH:MM`` in ``gateway.timezone``, ``mask`` and
  the rest of ``gateway.web.filters``) and the base template ``frame.html`` (the top bar,
  flashed messages, the footer), which each app's ``base.html`` extends;
- the one login page and the one error page of both apps (``templates/auth/``), told what
  differs by ``SiteTexts`` (the page a login leads to, how the first admin is made).

Install it after the app's own login check, so a stranger is sent to the login page before
anything else is looked at.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader

from gateway import state
from gateway.storage import ThreadLocalDb
from gateway.web import filters

if TYPE_CHECKING:
    from gateway.config import Config

log = logging.getLogger(__name__)

csrf = CSRFProtect()
FRAME_TEMPLATES = Path(__file__).resolve().parent / "templates"  # where frame.html lives
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Everything is served by the app itself: no CDN, no inline script or style.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

_DEFAULT_PORTS = {"http": "80", "https": "443"}


@dataclass(frozen=True)
class SiteTexts:
    """What the shared login and error pages say that differs between the gateway and the hub."""

    home_endpoint: str  # where a login leads, and the error page's way back
    home_label: Any  # the error page's link back (lazy strings: translated when drawn)
    login_hint: Any  # under the login form's title
    first_run: Any  # a fresh install, no account yet: where the first admin is made...
    create_command: str  # ...with this command
    forgot: Any  # who resets a forgotten password


def install_frame(
    app: Flask,
    config: Config,
    dbs: ThreadLocalDb,
    *,
    secret_state_key: str,
    cookie_name: str,
    max_request_bytes: int,
    site: SiteTexts,
) -> None:
    """Give ``app`` the shared frame (see the module docstring).

    ``secret_state_key`` names the ``state`` row that keeps this app's session key. A form
    whose CSRF token is missing or wrong is answered by ``gateway.web.errors`` (status 400).
    """
    app.config["TINBAO_HOME_ENDPOINT"] = site.home_endpoint
    app.context_processor(lambda: {"site": site})
    app.config.update(
        SECRET_KEY=secret_key(config, dbs, secret_state_key),
        MAX_CONTENT_LENGTH=max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME=cookie_name,
        # A token lives as long as the session: an officer may keep a form open for hours.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
    )
    app.json = GuardedJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _SessionInterface()
    app.before_request(_refuse_cross_origin)
    csrf.init_app(app)
    app.after_request(_security_headers)
    filters.register_filters(app, config.timezone)
    if app.jinja_loader is None or Path(app.root_path, app.template_folder or "") != FRAME_TEMPLATES:
        app.jinja_loader = ChoiceLoader(  # type: ignore[assignment]
            [loader for loader in (app.jinja_loader, FileSystemLoader(FRAME_TEMPLATES)) if loader is not None]
        )


#: Deeper than any body the gateway or the hub takes (a batch of tips is 3 levels).
MAX_JSON_DEPTH = 32


class JsonTooDeep(ValueError):
    """A JSON body nested deeper than ``MAX_JSON_DEPTH`` (a ``ValueError``: Flask answers 400)."""


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON with a depth guard on what requests bring in.

    ``json.loads`` of ``[[[[…`` 50,000 deep raises ``RecursionError``, which Flask turns into
    a 500; here it is a ``ValueError`` like any unreadable body, so ``request.get_json()``
    answers 400 (``silent=True``: None, which each view refuses with a 400 of its own). A body
    that parses but nests deeper than ``MAX_JSON_DEPTH`` is refused the same way, before any
    view walks it.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH}") from None
        _check_depth(value)
        return value


def _check_depth(value: Any) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep(f"JSON nested deeper than {MAX_JSON_DEPTH}")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def csrf_exempt(view: Any) -> Any:
    """Exempt a view or blueprint from CSRF (only for machine APIs with their own token)."""
    return csrf.exempt(view)


# -- the session-signing key -------------------------------------------------------------------


def secret_key(config: Config, dbs: ThreadLocalDb, state_key: str) -> str:
    """``web.secret_key``, or the key kept in ``state`` (made once), so sessions survive restarts."""
    if config.web.secret_key:
        return config.web.secret_key
    try:
        return state.put_if_absent(dbs.get(), state_key, secrets.token_hex(32))
    except sqlite3.Error as exc:  # a database without the schema: run, but sessions will not survive
        log.warning("could not keep the web secret key in the database (%s); using a new one", exc)
        return secrets.token_hex(32)


# -- request guards ----------------------------------------------------------------------------


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


def _refuse_cross_origin() -> tuple[Response, int] | None:
    if request.method in UNSAFE_METHODS and not same_origin():
        return jsonify(error="Yêu cầu từ trang khác bị từ chối."), 403
    return None


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set whenever the request is https."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)
