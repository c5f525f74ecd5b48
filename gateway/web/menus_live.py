"""The menus in use, as the pages see them: book options, handing a saved book to the router,
and the one "first-run setup done" rule (``gateway.menus.versions.unset_contacts``).

No blueprint: the menus editor, the setup page and the dashboard all use it, and none of them
imports another.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlite_utils import Database

from gateway.errors import ConfigError
from gateway.menus import MenuBook
from gateway.menus import versions as menu_versions
from gateway.web.services import current_config, current_services

log = logging.getLogger(__name__)


def book_options() -> dict[str, Any]:
    """The gateway's book options; ``services.menus_reserved``: its handlers' keywords."""
    return menu_versions.book_options(current_config(), current_services().menus_reserved)


def save_options() -> dict[str, Any]:
    """Options of every book saved from a page (and the shipped files, to tell "no change")."""
    return {**book_options(), "folder": current_config().menus_path}


def apply_book(book: MenuBook) -> bool:
    """Hand the saved book to the running router; False when it could not take it (the saved
    menus then apply after a restart, and the page says so)."""
    try:
        current_services().on_menus_changed(book)
    except Exception:
        log.exception("on_menus_changed failed; the saved menus apply after a restart")
        return False
    return True


def menus_in_use(db: Database) -> menu_versions.InUse:
    """The menus answering now (``menu_versions.in_use``, with the gateway's reserved keywords),
    kept on the app until a version is saved or a shipped file changes (``KeptInUse``): the
    dashboard, its alerts and ``/healthz`` ask on every request, and parsing and compiling
    the menus costs more than the rest of the page. ConfigError when not even the shipped
    files load."""
    from flask import current_app

    kept = current_app.extensions.setdefault("tinbao_menus_in_use", menu_versions.KeptInUse())
    return kept.get(db, current_config().menus_path, **book_options())


def unset_contacts(db: Database) -> list[str]:
    """``file: name`` of each contact of the menus in use still holding a placeholder
    (``MenuBook.unset_contacts`` of the book ``in_use`` picks: the one rule)."""
    return menus_in_use(db).book.unset_contacts()


def setup_complete(db: Database) -> bool | None:
    """True when no placeholder is left in the menus in use; None when they cannot be read."""
    try:
        return not unset_contacts(db)
    except ConfigError:
        log.exception("the menus in use cannot be read")
        return None
