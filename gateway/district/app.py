"""The hub's Flask app: the machine API (token per gateway) and the officers' page (login).

Served offline like a gateway's page: the gateway's own stylesheet, no CDN, strict headers.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from gateway import __version__, state
from gateway.clock import Clock
from gateway.config import Config
from gateway.storage import ThreadLocalDb
from gateway.web.security import CONTENT_SECURITY_POLICY, same_origin

WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a full batch of long tips
SECRET_KEY_STATE = "hub_secret_key"


def _secret_key(config: Config, dbs: ThreadLocalDb) -> str:
    """``web.secret_key``, or one made once and kept in the hub's database (sessions survive)."""
    if config.web.secret_key:
        return config.web.secret_key
    return state.put_if_absent(dbs.get(), SECRET_KEY_STATE, secrets.token_hex(32))


def _local_time(value: str | None, tz) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def create_hub_app(config: Config, dbs: ThreadLocalDb, clock: Clock | None = None) -> Flask:
    from gateway.district import api, pages

    app = Flask(__name__, template_folder="templates", static_folder=str(WEB_STATIC), static_url_path="/static")
    app.config.update(
        SECRET_KEY=_secret_key(config, dbs),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="tinbao_hub_session",
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.json.sort_keys = False
    app.extensions["tinbao_hub"] = {"config": config, "dbs": dbs, "clock": clock or Clock()}

    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # gateways authenticate with their token, not a browser session
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.before_request(pages.load_user)

    @app.before_request
    def refuse_cross_origin():
        if request.method == "POST" and request.blueprint == "hub" and not same_origin():
            return jsonify(error="Yêu cầu từ trang khác bị từ chối."), 403
        return None

    @app.errorhandler(CSRFError)
    def csrf_refused(error: CSRFError):
        return "Biểu mẫu đã hết hạn hoặc thiếu mã bảo vệ. Hãy tải lại trang rồi thử lại.", 400

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    tz = config.timezone
    app.jinja_env.filters["localtime"] = lambda value: _local_time(value, tz)

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask import g

        return {"hub_name": config.hub.name, "version": __version__, "user": g.get("user"),
                "status_labels": pages.STATUS_LABELS, "event_labels": pages.EVENT_LABELS}

    return app
