"""The officers' local web page: an application factory and one blueprint per area.

``gateway.service`` builds a ``WebServices`` (``gateway.web.services``: the database, the
phone simulator, the version and the running gateway's workers the pages may wake) and calls
``create_app(config, services)``; importing this package opens nothing and starts nothing,
and no page module imports a worker (``tests/test_architecture.py`` checks both).

The frame (login, roles, CSRF, language, the page header, the error pages) is set up here;
each area of the officers' work is a module with a blueprint and a ``register(app)``
function that calls ``gateway.web.nav.register_area``. The modules are listed in
``AREA_MODULES``, in the order of the menu bar. Blueprints do not import each other: what two
pages share lives in a module that is no blueprint (``auth``, ``services``, ``errors``,
``filters``, ``menus_live``, ``phone_panel``...).
"""

from __future__ import annotations

import importlib
import logging

from flask import Flask

from gateway.config import Config
from gateway.web.services import WebServices

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
SECRET_STATE_KEY = "web_secret_key"  # the ``state`` row that keeps the page's session key
COOKIE_NAME = "tinbao_session"

# Area modules, in menu-bar order. Each has ``register(app)``. A module that does not exist
# yet is skipped (areas are built in parallel); an error inside one is not.
AREA_MODULES: tuple[str, ...] = (
    "gateway.web.tips",
    "gateway.web.conversations",
    "gateway.web.menus_editor",
    "gateway.web.broadcasts",
    "gateway.web.sync",
    "gateway.web.poster",
    "gateway.web.duty",
    "gateway.web.failures",
    "gateway.web.setup",
    "gateway.web.sim",
    "gateway.web.setup_files",
)


def create_app(config: Config, services: WebServices) -> Flask:
    """Build the Flask app for ``config``; views reach the database through ``services``."""
    from flask_babel import lazy_gettext as _l

    from gateway.web import admin, auth, errors, i18n, login, nav, params, simulator, status
    from gateway.web.frame import SiteTexts, install_frame

    app = Flask(__name__)
    params.install(app)  # before any route: ids bounded to SQLite's integers
    app.extensions["tinbao"] = {"config": config, "services": services}
    nav.install(app)

    # Order matters: language first (the login page is translated too), then login, then
    # the frame shared with the hub (same-origin guard, CSRF, headers, session key, filters),
    # so a stranger is sent to the login page before anything else is looked at.
    i18n.install(app, config)
    auth.install(app, config)
    app.register_blueprint(login.bp)
    install_frame(app, config, services.db, secret_state_key=SECRET_STATE_KEY,
                  cookie_name=COOKIE_NAME, max_request_bytes=MAX_REQUEST_BYTES, site=SiteTexts(
                      home_endpoint="status.dashboard", home_label=_l("Về trang Tổng quan"),
                      login_hint=_l("Trang làm việc của cán bộ. Tài khoản do quản trị viên cấp."),
                      first_run=_l("Cổng chưa có tài khoản nào. Trên máy chạy cổng, tạo quản trị viên"
                                   " đầu tiên bằng lệnh:"),
                      create_command="python app.py create-user TEN --role admin",
                      forgot=_l("Quên mật khẩu? Nhờ quản trị viên của đồn đặt lại.")))
    errors.install(app, errors.ErrorTexts(
        database_unreadable=_l("Không đọc được cơ sở dữ liệu của cổng, nên trang này không"
                               " hiện được số liệu. Hãy thử lại sau ít phút; nếu vẫn lỗi,"
                               " báo quản trị viên."),
        database_unwritable=_l("Cổng không ghi được dữ liệu (thẻ nhớ đầy, chỉ cho đọc hoặc"
                               " bị lỗi), nên việc này chưa làm được. Tin nhắn mới được giữ"
                               " trong SIM; cổng tự chạy lại khi ghi được."),
        bare_database=("Không đọc được cơ sở dữ liệu của cổng. Hãy thử lại sau ít phút; nếu vẫn lỗi,"
                       " báo quản trị viên. / The gateway's database cannot be read. Try again in a"
                       " few minutes; if it persists, tell the administrator."),
    ))

    nav.register_area(app, status.bp, _l("Tổng quan"), "status.dashboard", "viewer", order=10)
    for name in AREA_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        if hasattr(module, "register"):
            module.register(app)
        else:  # no menu entry: still reachable, and still behind the login
            log.warning("%s has no register(app); its blueprint has no menu entry", name)
            nav.register_area(app, module.bp)
    nav.register_area(app, simulator.bp, _l("Điện thoại thử"), "simulator.page", "officer", order=900)
    nav.register_area(app, admin.bp, _l("Quản trị"), "admin.users", "admin", order=950)

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask_login import current_user

        from gateway.web.js_labels import js_labels

        return {
            "gateway_name": config.gateway.name,
            "gateway_number": config.gateway.phone_number,
            # Not "version": a page's own variable of that name (a menu version) would hide it.
            "tinbao_version": services.version,
            "simulator_enabled": services.simulator is not None,
            "nav": nav.nav_items(app, current_user),
            "js_labels": js_labels,
        }

    return app
