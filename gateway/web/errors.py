"""The error pages of both apps (the gateway's page and the hub's): one renderer, one template.

``error_page(code, message)`` answers JSON to scripts and a page inside the app's frame
(``templates/auth/error.html``) to people. ``install(app, texts)`` answers with it for
every error a request can meet: a page that is not there or not allowed (403, 404, 405,
413), a parameter that cannot be understood (400, ``params.BadParameter``), a form without
a valid CSRF token (400), a database that cannot be read or written (503, never a page of
zeros) and, where the app asks for it, a failure of the server (500). The texts that name
the app ("cổng", "máy chủ") are the app's own (``ErrorTexts``).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import InternalServerError

from gateway.storage import cannot_write
from gateway.web.params import BadParameter

log = logging.getLogger(__name__)

HTTP_ERRORS = (
    (403, _l("Bạn không có quyền xem trang này.")),
    (404, _l("Không có trang này.")),
    (405, _l("Trang này không nhận yêu cầu kiểu này.")),
    (413, _l("Dữ liệu gửi lên quá lớn.")),
)
FORBIDDEN_ACTION = _l("Tài khoản của bạn không có quyền làm việc này (chỉ cán bộ và quản trị viên được làm).")


@dataclass(frozen=True)
class ErrorTexts:
    """What an app says when its database or the server fails (lazy strings, translated late)."""

    database_unreadable: Any  # the database cannot be read: this page cannot show its figures
    bare_database: str  # the same without the frame, in both languages (no language can be chosen)
    database_unwritable: Any = None  # disk full, read-only card (the gateway: messages wait in the SIM)
    server_error: Any = None  # a 500 inside the frame; None: Flask's own


def wants_json() -> bool:
    """Whether the request came from a script (the API, ``fetch``) rather than a person's page."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        request.path.startswith("/api/")
        or request.is_json
        or best == "application/json"
        or request.headers.get("X-Requested-With") == "fetch"
    )


def error_page(code: int, message: str) -> Any:
    """An error as JSON for scripts, or as a page inside the frame for people."""
    if wants_json():
        return jsonify(error=str(message)), code
    return render_template("auth/error.html", code=code, message=message), code


def csrf_refused(error: CSRFError) -> Any:
    """A form whose CSRF token is missing or stale: the error page inside the frame (400)."""
    return error_page(400, _("Biểu mẫu đã hết hạn hoặc thiếu mã bảo vệ (CSRF). Hãy tải lại trang rồi thử lại."))


def install(app: Flask, texts: ErrorTexts) -> None:
    """Answer every error of ``app`` with ``error_page`` (see the module docstring)."""
    for code, message in HTTP_ERRORS:
        app.register_error_handler(code, functools.partial(_http_error, code, message))
    app.register_error_handler(BadParameter, _bad_parameter)
    app.register_error_handler(CSRFError, csrf_refused)

    @app.errorhandler(sqlite3.Error)
    def database_error(error: sqlite3.Error) -> Any:
        """A locked or broken database is an error on the page (503), never a page of zeros."""
        log.error("%s %s: the database could not be read", request.method, request.path, exc_info=error)
        try:
            if texts.database_unwritable is not None and cannot_write(error):
                return error_page(503, str(texts.database_unwritable))  # reading works, writing not
            return error_page(503, str(texts.database_unreadable))
        except sqlite3.Error:  # the frame needs the database too (who is logged in, their language)
            return _bare_database_error(texts.bare_database)

    if texts.server_error is not None:
        @app.errorhandler(500)
        def server_error(error: InternalServerError) -> Any:
            original = getattr(error, "original_exception", None) or error
            log.error("%s %s failed", request.method, request.path, exc_info=original)
            return error_page(500, str(texts.server_error))


def _http_error(code: int, message: Any, error: Exception) -> Any:
    if code == 403 and request.method not in ("GET", "HEAD"):
        message = FORBIDDEN_ACTION  # pressing a button is not viewing a page
    return error_page(code, str(message))


def _bad_parameter(error: BadParameter) -> Any:
    return error_page(400, _("Tham số không hợp lệ: %(p)s.", p=error.parameter))


def _bare_database_error(text: str) -> Any:
    """The database error without the frame, in both languages (no translation can be chosen)."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if request.path.startswith("/api/") or best == "application/json":
        return jsonify(error=text), 503
    page = f'<!doctype html><meta charset="utf-8"><title>503</title><p class="alert">{escape(text)}</p>'
    return page, 503, {"Content-Type": "text/html; charset=utf-8"}
