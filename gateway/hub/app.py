"""The hub's Flask app: the machine API (token per gateway) and the officers' page (login).

The page is the officers' page of a gateway in all but its areas: the same languages
(``gateway.web.i18n``), the same login, roles and session rules (``gateway.web.auth``:
``web.session_hours``, ``web.session_max_hours``, a logout or a disabled account ends the
session), the same accounts page for admins (``gateway.web.admin``), the same frame
(``gateway.web.frame``: the gateway's stylesheet and ``frame.html``, no CDN, strict headers)
and error pages. Only its own ``base.html`` (the hub's name and menu) and areas differ. The
accounts live in the hub's own file (``python app.py hub create-user``).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from flask import Flask, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import InternalServerError

from gateway import __version__
from gateway.clock import Clock
from gateway.config import Config
from gateway.storage import ThreadLocalDb
from gateway.web import WebServices, nav_items, register_area
from gateway.web.frame import csrf_exempt, install_frame

log = logging.getLogger(__name__)

WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a full batch of long tips
SECRET_KEY_STATE = "hub_secret_key"
COOKIE_NAME = "tinbao_hub_session"
HOME_ENDPOINT = "hub.index"


def create_hub_app(config: Config, dbs: ThreadLocalDb, clock: Clock | None = None) -> Flask:
    from gateway.hub import api, pages
    from gateway.web import admin, auth, i18n, security

    clock = clock or Clock()
    app = Flask(__name__, template_folder="templates", static_folder=str(WEB_STATIC), static_url_path="/static")
    app.extensions["tinbao_hub"] = {"config": config, "dbs": dbs, "clock": clock}
    # What the shared login, language and admin pages read (gateway.web.current_services).
    app.extensions["tinbao"] = {"config": config,
                                "services": WebServices(db=dbs, simulator=None, version=__version__, clock=clock)}
    app.extensions["tinbao_nav"] = []
    app.config["TINBAO_HOME_ENDPOINT"] = HOME_ENDPOINT

    i18n.install(app, config)
    auth.install(app, config)
    install_frame(app, config, dbs, secret_state_key=SECRET_KEY_STATE, cookie_name=COOKIE_NAME,
                  max_request_bytes=MAX_REQUEST_BYTES, csrf_refused=security.csrf_refused)

    csrf_exempt(api.bp)  # gateways authenticate with their token, not a browser session
    app.register_blueprint(api.bp)
    register_area(app, pages.bp, _l("Tin báo các xã"), HOME_ENDPOINT, "viewer", order=10)
    register_area(app, admin.bp, _l("Quản trị"), "admin.users", "admin", order=950)

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> Any:
        original = getattr(error, "original_exception", None) or error
        log.error("%s %s failed", request.method, request.path, exc_info=original)
        return auth.error_page(500, _("Máy chủ gặp lỗi khi xử lý trang này. Hãy thử lại; nếu vẫn lỗi,"
                                      " báo quản trị viên."))

    @app.errorhandler(sqlite3.Error)
    def database_error(error: sqlite3.Error) -> Any:
        log.error("%s %s: the database could not be read", request.method, request.path, exc_info=error)
        return auth.error_page(503, _("Không đọc được cơ sở dữ liệu của máy chủ. Hãy thử lại sau ít phút;"
                                      " nếu vẫn lỗi, báo quản trị viên."))

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask_login import current_user

        return {"hub_name": config.hub.display_name, "hub_level": config.hub.level, "version": __version__,
                "nav": nav_items(app, current_user), "status_labels": pages.status_labels(),
                "event_labels": pages.event_labels()}

    return app
