"""The menu bar: each area registers its blueprint and its entry with ``register_area``.

An area module has a blueprint and ``register(app)``, which calls
``register_area(app, bp, _l("Label"), "bp.endpoint", min_role)``: the blueprint is
registered (once) and its entry joins the menu bar, shown only to the roles that may use it.
Both apps use it (the hub's page has its own entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask

from gateway.accounts.users import RANK


@dataclass(frozen=True)
class NavItem:
    """One entry of the menu bar: shown to ``min_role`` and the roles above it."""

    label: Any  # a lazy gettext string, translated when the page is drawn
    endpoint: str
    min_role: str = "viewer"
    order: int = 100


def install(app: Flask) -> None:
    """An empty menu bar, before any area registers."""
    app.extensions["tinbao_nav"] = []


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
