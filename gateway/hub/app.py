"""The hub's Flask app: the machine API (token per gateway) and the officers' page (login).

Served offline like a gateway's page, in the same frame (``gateway.web.frame``): the gateway's
own stylesheet and ``frame.html``, no CDN, strict headers.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_wtf.csrf import CSRFError

from gateway import __version__
from gateway.clock import Clock
from gateway.config import Config
from gateway.storage import ThreadLocalDb
from gateway.web.frame import csrf_exempt, install_frame

WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a full batch of long tips
SECRET_KEY_STATE = "hub_secret_key"
COOKIE_NAME = "tinbao_hub_session"


def csrf_refused(error: CSRFError) -> tuple[str, int]:
    return "Biểu mẫu đã hết hạn hoặc thiếu mã bảo vệ. Hãy tải lại trang rồi thử lại.", 400


def create_hub_app(config: Config, dbs: ThreadLocalDb, clock: Clock | None = None) -> Flask:
    from gateway.hub import api, pages

    app = Flask(__name__, template_folder="templates", static_folder=str(WEB_STATIC), static_url_path="/static")
    app.extensions["tinbao_hub"] = {"config": config, "dbs": dbs, "clock": clock or Clock()}

    csrf_exempt(api.bp)  # gateways authenticate with their token, not a browser session
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.before_request(pages.load_user)
    # The officers' page frame (session key, cookies, CSRF, same-origin guard, headers,
    # local time, frame.html), after the login check as on a gateway.
    install_frame(app, config, dbs, secret_state_key=SECRET_KEY_STATE, cookie_name=COOKIE_NAME,
                  max_request_bytes=MAX_REQUEST_BYTES, csrf_refused=csrf_refused)

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask import g

        return {"hub_name": config.hub.name, "version": __version__, "user": g.get("user"),
                "status_labels": pages.STATUS_LABELS, "event_labels": pages.EVENT_LABELS}

    return app
