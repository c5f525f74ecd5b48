"""The hub's Flask app: the machine API (token per gateway) and the officers' page (login).

The page is the officers' page of a gateway in all but its areas: the same languages
(``gateway.web.i18n``), the same login page and the same roles and session rules
(``gateway.web.login``, ``gateway.web.auth``: ``web.session_hours``, ``web.session_max_hours``,
a logout or a disabled account ends the session), the same accounts page for admins
(``gateway.web.admin``), the same frame (``gateway.web.frame``: the gateway's stylesheet and
``frame.html``, no CDN, strict headers) and the same error pages (``gateway.web.errors``).
Only its own ``base.html`` (the hub's name and menu), its words (``SiteTexts``) and areas
differ. The pages reach the hub's database and clock through ``gateway.web.services``
(``FrameServices``). The accounts live in the hub's own file (``python app.py hub create-user``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from flask_babel import lazy_gettext as _l

from gateway import __version__
from gateway.clock import Clock
from gateway.config import Config
from gateway.storage import ThreadLocalDb
from gateway.web import errors, nav
from gateway.web.frame import SiteTexts, csrf_exempt, install_frame
from gateway.web.services import FrameServices

log = logging.getLogger(__name__)

WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a full batch of long tips
SECRET_KEY_STATE = "hub_secret_key"
COOKIE_NAME = "tinbao_hub_session"
HOME_ENDPOINT = "hub.index"


def create_hub_app(config: Config, dbs: ThreadLocalDb, clock: Clock | None = None) -> Flask:
    from gateway.hub import api, fleet_pages, pages, province_pages
    from gateway.web import admin, auth, i18n, login

    app = Flask(__name__, template_folder="templates", static_folder=str(WEB_STATIC), static_url_path="/static")
    # What the hub's pages and the shared login, language and admin pages read
    # (gateway.web.services: current_config, frame_services).
    app.extensions["tinbao"] = {"config": config,
                                "services": FrameServices(db=dbs, clock=clock or Clock(), version=__version__)}
    nav.install(app)

    i18n.install(app, config)
    auth.install(app, config)
    app.register_blueprint(login.bp)
    install_frame(app, config, dbs, secret_state_key=SECRET_KEY_STATE, cookie_name=COOKIE_NAME,
                  max_request_bytes=MAX_REQUEST_BYTES, site=SiteTexts(
                      home_endpoint=HOME_ENDPOINT, home_label=_l("Về danh sách tin báo"),
                      login_hint=_l("Trang làm việc của cán bộ %(name)s. Tài khoản do quản trị viên cấp.",
                                    name=config.hub.display_name),
                      first_run=_l("Máy chủ chưa có tài khoản nào. Trên máy chủ, tạo quản trị viên đầu tiên"
                                   " bằng lệnh:"),
                      create_command="python app.py hub create-user TEN --role admin",
                      forgot=_l("Quên mật khẩu? Nhờ quản trị viên của máy chủ đặt lại.")))
    errors.install(app, errors.ErrorTexts(
        database_unreadable=_l("Không đọc được cơ sở dữ liệu của máy chủ. Hãy thử lại sau ít phút;"
                               " nếu vẫn lỗi, báo quản trị viên."),
        bare_database=("Không đọc được cơ sở dữ liệu của máy chủ. Hãy thử lại sau ít phút; nếu vẫn lỗi,"
                       " báo quản trị viên. / The server's database cannot be read. Try again in a few"
                       " minutes; if it persists, tell the administrator."),
        server_error=_l("Máy chủ gặp lỗi khi xử lý trang này. Hãy thử lại; nếu vẫn lỗi,"
                        " báo quản trị viên."),
    ))

    csrf_exempt(api.bp)  # gateways authenticate with their token, not a browser session
    app.register_blueprint(api.bp)
    nav.register_area(app, pages.bp, _l("Tin báo các xã"), HOME_ENDPOINT, "viewer", order=10)
    nav.register_area(app, fleet_pages.bp, _l("Tình trạng các xã"), "fleet.index", "viewer", order=20)
    nav.register_area(app, province_pages.bp, _l("Cảnh báo toàn tỉnh"), "province.warning_list", "viewer", order=30)
    nav.register_area(app, admin.bp, _l("Quản trị"), "admin.users", "admin", order=950)

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask_login import current_user

        return {"hub_name": config.hub.display_name, "hub_level": config.hub.level, "version": __version__,
                "nav": nav.nav_items(app, current_user), "status_labels": pages.status_labels(),
                "event_labels": pages.event_labels(),
                "gateway_name": config.hub.gateway_name}

    return app
