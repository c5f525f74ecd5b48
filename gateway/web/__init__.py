"""The officers' local web page: an application factory and one blueprint per area.

``app.py`` builds a ``WebServices`` (database, optional phone simulator, version) and calls
``create_app(config, services)``; importing this package opens nothing and starts nothing.

The frame (login, roles, CSRF, language, the page header) is set up here; each area of the
officers' work is a module with a blueprint and a ``register(app)`` function that calls
``register_area(app, bp, _l("Label"), "bp.endpoint", min_role)``, which registers the
blueprint and adds its entry to the menu bar (shown only to roles that may use it).
The modules are listed in ``AREA_MODULES``, in the order of the menu bar.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Blueprint, Flask, current_app

from gateway.clock import Clock
from gateway.config import Config
from gateway.storage import ThreadLocalDb

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
)


class Simulator(Protocol):
    """Puts an SMS into the built-in modem emulator as if a phone had sent it."""

    def deliver(self, number: str, text: str) -> None: ...


@dataclass
class WebServices:
    """What the web views need from the rest of the gateway."""

    db: ThreadLocalDb  # per-thread connections to the gateway's database
    simulator: Simulator | None  # None unless the modem is the built-in emulator
    version: str
    clock: Clock = field(default_factory=Clock)  # session expiry, throttling, audit times
    extra: dict[str, Any] = field(default_factory=dict)  # area services (router, sync...) by name


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
    from flask_babel import lazy_gettext as _l

    from gateway.web import admin, auth, i18n, security, simulator, status
    from gateway.web.frame import install_frame

    app = Flask(__name__)
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

    @app.context_processor
    def page_globals() -> dict[str, object]:
        from flask_login import current_user

        from gateway.web.js_labels import js_labels

        return {
            "gateway_name": config.gateway.name,
            "gateway_number": config.gateway.phone_number,
            "version": services.version,
            "simulator_enabled": services.simulator is not None,
            "nav": nav_items(app, current_user),
            "js_labels": js_labels,
        }

    return app


def current_config() -> Config:
    """The ``Config`` the running app was built with."""
    return current_app.extensions["tinbao"]["config"]


def current_services() -> WebServices:
    """The ``WebServices`` the running app was built with."""
    return current_app.extensions["tinbao"]["services"]
