"""The page's languages: Vietnamese first, English available, through gettext catalogs.

Source strings are Vietnamese: mark them with ``_()`` in templates and with
``flask_babel.gettext as _`` (or ``lazy_gettext as _l`` for module-level constants) in Python.
English lives in ``translations/en/LC_MESSAGES/messages.po``. The language is, in order: a
``?lang=en`` / ``?lang=vi`` on any page (kept in the session, and in the officer's account
when logged in), the session's, the account's, then Vietnamese. The browser's own language is
not asked: the page is Vietnamese unless an officer chooses otherwise.

Dates on the page are ``dd/mm/yyyy`` in ``gateway.timezone`` (Asia/Ho_Chi_Minh) in both
languages (the ``localtime`` filter); Babel's formatters use the same zone.

After marking new strings, from the project folder::

    python -m gateway.web.i18n update    # extract → messages.pot, merge into en, compile .mo
    python -m gateway.web.i18n check     # marked strings without English, if any (exit 1); run in CI

A count is marked with ``ngettext`` (Vietnamese has one form, English two: "1 person",
"2 people"); ``check`` also fails on an entry missing a plural form or carrying a placeholder
its source does not have.

An untranslated entry shows in Vietnamese on the English page (nothing breaks).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Flask, g, request, session
from flask_babel import Domain

if TYPE_CHECKING:
    from gateway.config import Config

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}
DEFAULT_LANGUAGE = "vi"
WEB_DIR = Path(__file__).resolve().parent
PROJECT_DIR = WEB_DIR.parent.parent
TRANSLATIONS = WEB_DIR / "translations"
BABEL_CFG = WEB_DIR / "babel.cfg"
POT = TRANSLATIONS / "messages.pot"
CATALOG_LANGUAGES = ("en",)  # Vietnamese is the source language: it needs no catalog


def current_language() -> str:
    """The page language of this request: ``vi`` or ``en``."""
    lang = session.get("lang")
    if lang in LANGUAGES:
        return lang
    from flask_login import current_user

    if current_user and current_user.is_authenticated and current_user.language in LANGUAGES:
        return current_user.language
    return DEFAULT_LANGUAGE


def install(app: Flask, config: Config) -> None:
    """Flask-Babel with our selector, and the ``?lang=`` switch."""
    from flask_babel import Babel

    app.config.update(
        BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
        BABEL_DEFAULT_TIMEZONE=config.gateway.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )
    babel = Babel(app, locale_selector=current_language)
    # Python's ``gettext``/``lazy_gettext`` (labels, flash messages) go through Flask-Babel's
    # domain, which finds the locale and its catalog on every call (a dashboard makes ~170):
    # this domain keeps the request's catalog on the request, as the template ``_`` does.
    babel.domain_instance = _RequestDomain(domain=app.config.get("BABEL_DOMAIN", "messages"))
    # Flask-Babel's template ``_`` looks up the domain, the locale and the catalog on every
    # call (about 0.1 ms); a list page calls it hundreds of times. The catalog of this
    # request is looked up once instead (the language is settled before any page is drawn).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True,
    )

    @app.before_request
    def choose_language() -> None:
        lang = request.args.get("lang")
        if lang in LANGUAGES and session.get("lang") != lang:
            session["lang"] = lang
            g.language_changed = True

    @app.after_request
    def remember_language(response):  # type: ignore[no-untyped-def]
        # Saved after the login wall ran, so the account is known (not on the login page).
        if getattr(g, "language_changed", False):
            from flask_login import current_user

            if current_user.is_authenticated:
                from gateway.accounts import users
                from gateway.web.services import frame_services

                users.set_language(frame_services().db.get(), current_user.id, session["lang"])
        return response

    @app.context_processor
    def language_globals() -> dict[str, object]:
        return {"current_language": current_language(), "languages": LANGUAGES, "language_link": language_link}


class _RequestDomain(Domain):
    """Flask-Babel's domain, its catalog looked up once per request (see ``_translations``)."""

    def get_translations(self):  # type: ignore[no-untyped-def]
        from flask.globals import _cv_request

        context = _cv_request.get(None)
        if context is None:
            return super().get_translations()
        found = getattr(context, "tinbao_translations", None)
        if found is None:
            found = context.tinbao_translations = super().get_translations()
        return found


def _translations():  # type: ignore[no-untyped-def]
    """This request's catalog, looked up once per request (outside one: each time).

    Kept on the request's context itself (Flask's context variable, one lookup) rather than
    on ``g`` behind its proxy: a list page asks for it hundreds of times.
    """
    from flask.globals import _cv_request
    from flask_babel import get_translations

    context = _cv_request.get(None)
    if context is None:
        return get_translations()
    found = getattr(context, "tinbao_translations", None)
    if found is None:
        found = context.tinbao_translations = get_translations()
    return found


def language_link(code: str) -> str:
    """This page's address with ``lang=code`` (the other query arguments kept)."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [code]
    return request.path + "?" + urlencode(args, doseq=True)


# -- python -m gateway.web.i18n update | check ------------------------------------------------


def _pybabel(*args: str) -> None:
    from babel.messages.frontend import CommandLineInterface

    CommandLineInterface().run(["pybabel", "-q", *args])


def update() -> None:
    """Extract every marked string, merge into each catalog (creating it once), compile."""
    TRANSLATIONS.mkdir(parents=True, exist_ok=True)
    _pybabel(
        "extract", "-F", str(BABEL_CFG), "-k", "_l", "-k", "lazy_gettext", "-k", "ngettext:1,2",
        "--no-location", "--sort-output",
        "--project", "TinBao", "-o", str(POT), str(PROJECT_DIR / "gateway"),
    )
    for lang in CATALOG_LANGUAGES:
        po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
        if po.exists():
            _pybabel("update", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", lang,
                     "--no-fuzzy-matching", "--ignore-obsolete")
        else:
            _pybabel("init", "-i", str(POT), "-d", str(TRANSLATIONS), "-l", lang)
    _pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")


def untranslated(lang: str = "en") -> list[str]:
    """The msgids of ``lang`` that have no translation yet."""
    from babel.messages.pofile import read_po

    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle)
    missing = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def _catalog(lang: str):  # type: ignore[no-untyped-def]
    from babel.messages.pofile import read_po

    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def broken(lang: str = "en") -> list[str]:
    """Entries whose translation would break the page: a placeholder the source does not have
    (``%(n)s`` for ``%(num)d``), or, for a count, a number of plural forms other than the
    language's (English: one and other). Each as "msgid: what is wrong"."""
    catalog = _catalog(lang)
    found = []
    for message, errors in catalog.check():
        key = message.id if isinstance(message.id, str) else message.id[0]
        found += [f"{key}: {error}" for error in errors]
    for message in catalog:
        if isinstance(message.id, tuple | list) and isinstance(message.string, tuple | list):
            if len(message.string) != catalog.num_plurals:
                found.append(f"{message.id[0]}: {len(message.string)} plural forms, {lang} has {catalog.num_plurals}")
    return found


def marked() -> set[str]:
    """Every string marked for translation in the code and templates (as ``update`` extracts)."""
    import io

    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    method_map, options_map = parse_mapping_cfg(io.StringIO(BABEL_CFG.read_text(encoding="utf-8")))
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PROJECT_DIR / "gateway"), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def missing(lang: str = "en") -> list[str]:
    """Marked strings with no entry at all in ``lang``'s catalog (``update`` was not run)."""
    from babel.messages.pofile import read_po

    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle)
    have = {message.id if isinstance(message.id, str) else message.id[0] for message in catalog if message.id}
    return sorted(marked() - have)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "update":
        update()
        return 0
    if command == "check":
        # Both kinds: an entry without English, and a marked string with no entry at all.
        failed = 0
        for lang in CATALOG_LANGUAGES:
            absent, empty, bad = missing(lang), untranslated(lang), broken(lang)
            for msgid in absent:
                print(f"{lang}: no entry: {msgid}")
            for msgid in empty:
                print(f"{lang}: untranslated: {msgid}")
            for problem in bad:
                print(f"{lang}: broken: {problem}")
            print(f"{lang}: {len(absent)} without an entry, {len(empty)} untranslated, {len(bad)} broken",
                  file=sys.stderr)
            failed += len(absent) + len(empty) + len(bad)
        return 1 if failed else 0
    print("usage: python -m gateway.web.i18n update|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
