"""The SMS keyword menus, one room for everything about them.

- ``match``: folding and keyword matching (typos, menu numbers), pure functions;
- ``compile``: checks a menu file and renders every reply once;
- ``book``: ``MenuBook``, the decision for one message and one session (no I/O);
- ``versions``: the menus in use, the shipped files or the newest version saved in the page;
- ``schema``: the ``menu_versions`` table, owned here.

The officers' editor (a blueprint) is in ``gateway.web.menus_editor``.
"""

from __future__ import annotations

from gateway.menus.book import Decision, MenuBook, Session, read_menu_files

__all__ = ["Decision", "MenuBook", "Session", "read_menu_files"]
