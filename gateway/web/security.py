"""Request guards shared by every blueprint: same-origin writes and strict response headers.

Login and CSRF tokens come later (Flask-Login/Flask-WTF); until then a browser on another
site must not be able to make an officer's browser post to the gateway, so unsafe methods
are refused when their ``Origin`` (or, failing that, ``Referer``) names another host.
Requests without either header (curl, scripts on the Pi) are let through.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

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


def install(app: Flask) -> None:
    """Register the same-origin guard and the security headers on ``app``."""

    @app.before_request
    def refuse_cross_origin() -> tuple[Response, int] | None:
        if request.method in UNSAFE_METHODS and not same_origin():
            return jsonify(error="Yêu cầu từ trang khác bị từ chối."), 403
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
