"""The officers' local web page: an application factory and one blueprint per area.

``app.py`` builds a ``WebServices`` (database, optional phone simulator, version) and calls
``create_app(config, services)``; importing this package opens nothing and starts nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from flask import Flask, current_app

from gateway.config import Config
from gateway.storage import ThreadLocalDb

MAX_REQUEST_BYTES = 64 * 1024


class Simulator(Protocol):
    """Puts an SMS into the built-in modem emulator as if a phone had sent it."""

    def deliver(self, number: str, text: str) -> None: ...


@dataclass
class WebServices:
    """What the web views need from the rest of the gateway."""

    db: ThreadLocalDb  # per-thread connections to the gateway's database
    simulator: Simulator | None  # None unless the modem is the built-in emulator
    version: str


def create_app(config: Config, services: WebServices) -> Flask:
    """Build the Flask app for ``config``; views reach the database through ``services``."""
    from gateway.web import filters, security, simulator, status

    app = Flask(__name__)
    app.config.update(
        # An empty key in the config means "make one"; app.py may pass a persistent one.
        SECRET_KEY=config.web.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.json.sort_keys = False
    app.extensions["tinbao"] = {"config": config, "services": services}

    filters.register_filters(app, config.timezone)
    security.install(app)
    app.register_blueprint(status.bp)
    app.register_blueprint(simulator.bp)

    @app.context_processor
    def page_globals() -> dict[str, object]:
        return {
            "gateway_name": config.gateway.name,
            "gateway_number": config.gateway.phone_number,
            "version": services.version,
            "simulator_enabled": services.simulator is not None,
        }

    return app


def current_config() -> Config:
    """The ``Config`` the running app was built with."""
    return current_app.extensions["tinbao"]["config"]


def current_services() -> WebServices:
    """The ``WebServices`` the running app was built with."""
    return current_app.extensions["tinbao"]["services"]
