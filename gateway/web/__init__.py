"""The officers' local web page: an application factory and one blueprint per area.

``app.py`` builds a ``WebServices`` (database, optional phone simulator, version, and the
running gateway's workers the pages may wake) and calls ``create_app(config, services)``;
importing this package opens nothing and starts nothing.

The frame (login, roles, CSRF, language, the page header) is set up here; each area of the
officers' work is a module with a blueprint and a ``register(app)`` function that calls
``register_area(app, bp, _l("Label"), "bp.endpoint", min_role)``, which registers the
blueprint and adds its entry to the menu bar (shown only to roles that may use it).
The modules are listed in ``AREA_MODULES``, in the order of the menu bar.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint, Flask, current_app, request

from gateway.clock import Clock
from gateway.config import Config
from gateway.figures import Figures
from gateway.storage import ThreadLocalDb, WriteHealth, cannot_write

if TYPE_CHECKING:  # types only: the web package imports no worker
    from gateway.broadcasts.library import Composer, Library
    from gateway.menus import MenuBook
    from gateway.simulation import DryResult

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024

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
)


class Simulator(Protocol):
    """Puts an SMS into the built-in modem emulator as if a phone had sent it."""

    def deliver(self, number: str, text: str) -> None: ...


class SyncControl(Protocol):
    """The running sync worker (``gateway.sync.worker.SyncWorker``): "retry now" wakes it."""

    def wake(self, destination: str | None = None) -> None: ...


class BroadcastControl(Protocol):
    """The running broadcast service (``gateway.broadcasts.service.BroadcastService``)."""

    library: Library  # the warnings library it sends from
    composer: Composer
    clock: Clock  # the trusted clock the schedules use

    def wake(self) -> None: ...  # "send now": fill the outbox at once


class Sandbox(Protocol):
    """The dry-run router for a gateway with a real modem (``gateway.simulation.DryRun``)."""

    def send(self, number: str, text: str, now: datetime) -> DryResult: ...

    def conversation(self, number: str) -> list[dict[str, Any]]: ...

    def forget(self, number: str) -> int: ...


@dataclass
class WebServices:
    """What the web views need from the rest of the gateway.

    The optional parts are None in tests and tools that run the page alone: the pages then
    still write their rows, and the workers see them on their next poll or start.
    """

    db: ThreadLocalDb  # per-thread connections to the gateway's database
    simulator: Simulator | None  # None unless the modem is the built-in emulator
    version: str
    clock: Clock = field(default_factory=Clock)  # session expiry, throttling, audit times
    on_menus_changed: Callable[[MenuBook], None] | None = None  # the router takes a saved book
    sync: SyncControl | None = None  # woken by "retry now"
    broadcasts: BroadcastControl | None = None  # woken by "send now"
    menus_reserved: Collection[str] = ()  # keywords the gateway's handlers answer (not menus)
    dry_run: Sandbox | None = None  # else the simulator page makes its own sandbox
    write_health: WriteHealth | None = None  # the workers' word when the database cannot be written
    figures: Figures = field(default_factory=Figures)  # the dashboard's 30-day figures (gateway.service counts)


@dataclass(frozen=True)
class NavItem:
    """One entry of the menu bar: shown to ``min_role`` and the roles above it."""

    label: Any  # a lazy gettext string, translated when the page is drawn
    endpoint: str
    min_role: str = "viewer"
    order: int = 100


def register_area(
    app: Flask,
    blueprint: Blueprint | None,
    label: Any = None,
    endpoint: str | None = None,
    min_role: str = "viewer",
    *,
    order: int | None = None,
) -> None:
    """Register an area's blueprint (once) and, with ``label``, its entry in the menu bar.

    ``min_role`` hides the entry from lower roles; the views themselves must still check with
    ``gateway.web.auth.role_required`` (a hidden link is not a lock).
    """
    from gateway.web.accounts import RANK

    if min_role not in RANK:
        raise ValueError(f"unknown role {min_role!r}")
    if blueprint is not None and blueprint.name not in app.blueprints:
        app.register_blueprint(blueprint)
    if label is None:
        return
    if endpoint is None:
        raise ValueError("a menu entry needs an endpoint")
    items: list[NavItem] = app.extensions["tinbao_nav"]
    if order is None:
        order = (len(items) + 1) * 10
    items.append(NavItem(label, endpoint, min_role, order))
    items.sort(key=lambda item: item.order)


def nav_items(app: Flask, user: Any) -> list[NavItem]:
    """The menu bar's entries this user may see (none before login)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for item in app.extensions["tinbao_nav"] if user.can(item.min_role)]


def create_app(config: Config, services: WebServices) -> Flask:
    """Build the Flask app for ``config``; views reach the database through ``services``."""
    from flask_babel import gettext as _
    from flask_babel import lazy_gettext as _l

    from gateway.web import admin, auth, i18n, params, security, simulator, status
    from gateway.web.frame import install_frame

    app = Flask(__name__)
    params.install(app)  # before any route: ids bounded to SQLite's integers, bad parameters a 400
    app.extensions["tinbao"] = {"config": config, "services": services}
    app.extensions["tinbao_nav"] = []

    # Order matters: language first (the login page is translated too), then login, then
    # the frame shared with the hub (same-origin guard, CSRF, headers, session key, filters),
    # so a stranger is sent to the login page before anything else is looked at.
    i18n.install(app, config)
    auth.install(app, config)
    install_frame(app, config, services.db, secret_state_key=security.SECRET_STATE_KEY,
                  cookie_name=security.COOKIE_NAME, max_request_bytes=MAX_REQUEST_BYTES,
                  csrf_refused=security.csrf_refused)

    register_area(app, status.bp, _l("Tổng quan"), "status.dashboard", "viewer", order=10)
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
            register_area(app, module.bp)
    register_area(app, simulator.bp, _l("Điện thoại thử"), "simulator.page", "officer", order=900)
    register_area(app, admin.bp, _l("Quản trị"), "admin.users", "admin", order=950)

    @app.errorhandler(sqlite3.Error)
    def database_error(error: sqlite3.Error) -> Any:
        """A locked or broken database is an error on the page (503), never a page of zeros."""
        log.error("%s %s: the database could not be read", request.method, request.path, exc_info=error)
        try:
            if cannot_write(error):  # disk full, read-only card: reading still works, writing not
                return auth.error_page(503, _("Cổng không ghi được dữ liệu (thẻ nhớ đầy, chỉ cho đọc hoặc"
                                              " bị lỗi), nên việc này chưa làm được. Tin nhắn mới được giữ"
                                              " trong SIM; cổng tự chạy lại khi ghi được."))
            return auth.error_page(503, _("Không đọc được cơ sở dữ liệu của cổng, nên trang này không"
                                          " hiện được số liệu. Hãy thử lại sau ít phút; nếu vẫn lỗi,"
                                          " báo quản trị viên."))
        except sqlite3.Error:  # the frame needs the database too (who is logged in, their language)
            return _bare_database_error()

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
            "nav": nav_items(app, current_user),
            "js_labels": js_labels,
        }

    return app


def _bare_database_error() -> Any:
    """The database error without the frame, in both languages (no translation can be chosen)."""
    from flask import jsonify
    from markupsafe import escape

    text = ("Không đọc được cơ sở dữ liệu của cổng. Hãy thử lại sau ít phút; nếu vẫn lỗi, báo quản trị viên."
            " / The gateway's database cannot be read. Try again in a few minutes; if it persists,"
            " tell the administrator.")
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    if request.path.startswith("/api/") or best == "application/json":
        return jsonify(error=text), 503
    page = f'<!doctype html><meta charset="utf-8"><title>503</title><p class="alert">{escape(text)}</p>'
    return page, 503, {"Content-Type": "text/html; charset=utf-8"}


def current_config() -> Config:
    """The ``Config`` the running app was built with."""
    return current_app.extensions["tinbao"]["config"]


def current_services() -> WebServices:
    """The ``WebServices`` the running app was built with."""
    return current_app.extensions["tinbao"]["services"]
