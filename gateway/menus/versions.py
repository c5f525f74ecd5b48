"""The SMS menus as the gateway uses them: the shipped files, or the newest version saved in the page.

``firmware_config/menus/*.toml`` ship with the gateway and are never written by it. When an
admin edits the menus in the page, the whole book (every language) is checked with the same
loader as at start-up (``MenuBook.from_dict``) and stored as a new row of ``menu_versions``
(who, when, a comment). The newest row is the menus in use; restoring an older row copies it
as a new version, so undo is itself undoable and the history only grows.

"Sources" here are what ``MenuBook.from_dict`` takes: file name → parsed TOML
(``{"vi.toml": {"meta": ..., "menu": ...}}``), stored as JSON.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway.errors import ConfigError
from gateway.menus.book import MenuBook, read_menu_files
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

Sources = dict[str, dict[str, Any]]

#: The version number of the shipped files (``firmware_config/menus``), never a table row.
SHIPPED = 0


class MenuError(ConfigError):
    """A menu version that the loader refuses (its message is one line naming the problem)."""


@dataclass(frozen=True)
class Version:
    """One version of the menus: a saved row, or the shipped files (``id == SHIPPED``)."""

    id: int
    saved_at: str
    saved_by: str
    comment: str
    restored_from: int | None
    sources: Sources

    @property
    def is_shipped(self) -> bool:
        return self.id == SHIPPED


@dataclass(frozen=True)
class Saved:
    """What a save (or restore) did: the version now in use, its book, and whether it is new."""

    version: int
    book: MenuBook
    changed: bool


@dataclass(frozen=True)
class Change:
    """One difference between two versions: ``where`` is (file, section, field)."""

    kind: str  # added | removed | changed
    where: tuple[str, str, str]
    before: str
    after: str


def book_options(config: Any, reserved: Iterable[str] = ()) -> dict[str, Any]:
    """The options every ``MenuBook`` of this gateway is built with (router, editor, dry run)."""
    return {
        "expiry": timedelta(minutes=config.router.session_minutes), "reserved": tuple(reserved),
        "max_parts": config.sms.max_parts, "khong_dau_kinds": frozenset(config.sms.khong_dau),
    }


# -- reading --------------------------------------------------------------------------------


def shipped_sources(folder: Path) -> Sources:
    """The menu files as shipped (``*.toml`` in ``folder``), parsed; ConfigError if unreadable."""
    return dict(read_menu_files(folder))


def shipped(folder: Path) -> Version:
    return Version(SHIPPED, "", "", "", None, shipped_sources(folder))


def _version(row: tuple) -> Version:
    id_, saved_at, saved_by, comment, restored_from, sources = row
    return Version(id_, saved_at, saved_by, comment, restored_from, json.loads(sources))


_COLUMNS = "id, saved_at, saved_by, comment, restored_from, sources"


def get(db: Database, version: int, folder: Path | None = None) -> Version | None:
    """One version by number (``SHIPPED`` needs ``folder``), or None when there is no such."""
    if version == SHIPPED:
        return shipped(folder) if folder is not None else None
    row = db.execute(f"SELECT {_COLUMNS} FROM menu_versions WHERE id = ?", (version,)).fetchone()
    return _version(row) if row else None


def current(db: Database, folder: Path) -> Version:
    """The version in use: the newest saved one, or the shipped files when none was saved."""
    row = db.execute(f"SELECT {_COLUMNS} FROM menu_versions ORDER BY id DESC LIMIT 1").fetchone()
    return _version(row) if row else shipped(folder)


@dataclass(frozen=True)
class InUse:
    """The menus that answer, and what a person should know about them (a dashboard alert).

    ``clashes``: keywords the version uses that the gateway's handlers reserve (``DK``,
    ``TC``...). The version still answers; those words are the handlers' (they run first).
    ``skipped``: newer saved versions that no longer load, each with the loader's reason.
    """

    version: int
    book: MenuBook
    clashes: tuple[str, ...] = ()
    skipped: tuple[tuple[int, str], ...] = ()


def newest_id(db: Database) -> int:
    """The newest saved version's number (``SHIPPED`` when none was saved): what ``in_use`` starts from."""
    return db.execute("SELECT COALESCE(MAX(id), ?) FROM menu_versions", (SHIPPED,)).fetchone()[0]


def in_use(db: Database, folder: Path, **options: Any) -> InUse:
    """The menus to answer with: the newest saved version that still loads, else the files.

    A saved version was checked when it was saved, but a newer gateway may reserve a keyword
    it uses (a new handler): that version is kept (never an older one, never the shipped
    files, which could drop the post's real contacts) and the clash is said in ``clashes``.
    A version the loader refuses for any other reason is skipped for the next older one, and
    said in ``skipped``: start-up must not fail over it. Both are logged and shown on the
    dashboard until an admin saves menus that load.
    """
    reserved = tuple(options.get("reserved", ()))
    lenient = {**options, "reserved": ()}
    skipped: list[tuple[int, str]] = []
    for row in db.execute(f"SELECT {_COLUMNS} FROM menu_versions ORDER BY id DESC").fetchall():
        version = _version(row)
        try:
            book = check(version.sources, **lenient)
        except MenuError as exc:
            log.error("menus version %s no longer loads, trying an older one: %s", version.id, exc)
            skipped.append((version.id, str(exc)))
            continue
        clashes = book.clashes(reserved)
        if clashes:
            log.error("menus version %s uses keywords the gateway reserves (%s): kept in use, those"
                      " keywords are answered by the gateway's handlers; an admin should change them",
                      version.id, ", ".join(clashes))
        return InUse(version.id, book, clashes, tuple(skipped))
    return InUse(SHIPPED, MenuBook.load(Path(folder), **options), (), tuple(skipped))


def load_current(db: Database, folder: Path, **options: Any) -> MenuBook:
    """The book to answer with (``in_use``)."""
    return in_use(db, folder, **options).book


def in_use_marker(db: Database, folder: Path) -> tuple:
    """What ``in_use`` reads: the newest saved version, and each shipped file's name, size and
    time. While it stays the same, so do the menus in use (``KeptInUse``)."""
    files = []
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            found = path.stat()
        except OSError:
            continue
        files.append((path.name, found.st_mtime_ns, found.st_size))
    return newest_id(db), tuple(files)


class KeptInUse:
    """``in_use`` remembered until ``in_use_marker`` changes (a version saved, a file edited):
    the dashboard and ``/healthz`` ask for it on every request, and parsing and compiling
    the menus costs more than the rest of the page."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._found: InUse | None = None
        self._lock = threading.Lock()

    def get(self, db: Database, folder: Path, **options: Any) -> InUse:
        """What ``in_use`` gives; ConfigError when not even the shipped files load."""
        key = (in_use_marker(db, folder), str(folder), repr(sorted(options.items())))
        with self._lock:
            if self._key != key or self._found is None:
                self._found = in_use(db, folder, **options)
                self._key = key
            return self._found


def unset_contacts(db: Database, folder: Path, **options: Any) -> list[str]:
    """``file: name`` of each contact of the menus in use still holding a shipped placeholder.

    The one rule for "first-run setup is done" (the setup page, the dashboard, ``/healthz``,
    ``python app.py doctor``): ``MenuBook.unset_contacts`` of the book ``load_current`` picks.
    ConfigError when not even the shipped files load.
    """
    return load_current(db, folder, **options).unset_contacts()


def history(db: Database, limit: int = 200) -> list[Version]:
    """Saved versions, newest first (the shipped files are not listed: they are version 0)."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM menu_versions ORDER BY id DESC LIMIT ?", (limit,)
    ).fetchall()
    return [_version(row) for row in rows]


def previous_id(db: Database, version: int) -> int:
    """The version saved just before ``version`` (``SHIPPED`` for the first)."""
    row = db.execute(
        "SELECT id FROM menu_versions WHERE id < ? ORDER BY id DESC LIMIT 1", (version,)
    ).fetchone()
    return row[0] if row else SHIPPED


# -- writing --------------------------------------------------------------------------------


def check(sources: Mapping[str, Mapping[str, Any]], **options: Any) -> MenuBook:
    """Build the book exactly as the gateway would; MenuError with the loader's line if not."""
    try:
        return MenuBook.from_dict(sources, **options)
    except MenuError:
        raise
    except ConfigError as exc:
        raise MenuError(str(exc)) from None


def save(
    db: Database,
    sources: Mapping[str, Mapping[str, Any]],
    by: str,
    comment: str = "",
    *,
    now: datetime | None = None,
    restored_from: int | None = None,
    folder: Path | None = None,
    **options: Any,
) -> Saved:
    """Check ``sources`` and store them as the new version in use.

    Raises MenuError (nothing stored) when the loader refuses them: a keyword used twice or
    clashing with another language's, an item missing, a placeholder with no contact...
    Saving what is already in use stores nothing (``changed`` is False); with ``folder``,
    that includes the shipped files while no version was saved.
    """
    book = check(sources, **options)
    text = json.dumps(sources, ensure_ascii=False, separators=(",", ":"))
    same = json.loads(text)
    with write_transaction(db):
        last = db.execute(
            "SELECT id, sources FROM menu_versions ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if last is not None and json.loads(last[1]) == same:
            return Saved(last[0], book, changed=False)
        if last is None and folder is not None and shipped_sources(folder) == same:
            return Saved(SHIPPED, book, changed=False)
        cursor = db.conn.execute(
            "INSERT INTO menu_versions (saved_at, saved_by, comment, restored_from, sources)"
            " VALUES (?, ?, ?, ?, ?)",
            (utcnow_iso(now), by, comment.strip()[:500], restored_from, text),
        )
        version = int(cursor.lastrowid)
    log.info("menus version %s saved by %s", version, by)
    return Saved(version, book, changed=True)


def restore(
    db: Database,
    version: int,
    by: str,
    *,
    folder: Path | None = None,
    now: datetime | None = None,
    **options: Any,
) -> Saved:
    """Undo: make an older version (``SHIPPED`` with ``folder``: the files) the one in use again.

    The old version is copied as a new one, so the history keeps the bad edit and its undo.
    KeyError when there is no such version; MenuError when it no longer loads.
    """
    old = get(db, version, folder)
    if old is None:
        raise KeyError(version)
    label = "tệp gốc" if version == SHIPPED else f"bản #{version}"
    return save(
        db, old.sources, by, f"Khôi phục {label}", now=now, restored_from=version, folder=folder,
        **options,
    )


# -- editing helpers ------------------------------------------------------------------------


def default_source(sources: Mapping[str, Mapping[str, Any]]) -> str:
    """The file whose language new numbers start in (``meta.default``, or the only file)."""
    for name, data in sources.items():
        if data.get("meta", {}).get("default") is True:
            return name
    return next(iter(sources))


def source_of(sources: Mapping[str, Mapping[str, Any]], language: str) -> str | None:
    """The file that defines ``language`` (its ``meta.language``), or None."""
    for name, data in sources.items():
        if data.get("meta", {}).get("language") == language:
            return name
    return None


def with_language(
    sources: Mapping[str, Mapping[str, Any]], code: str, name: str, keywords: list[str]
) -> Sources:
    """A copy of ``sources`` plus a new language made from the default one, to translate.

    The copy keeps the menu tree, texts and keyword lists (menu, tip... may be shared between
    languages) but not ``[contacts]``: it uses the default file's, so a phone number is still
    changed in one place. ``keywords`` are the words that switch a villager to it.
    """
    out: Sources = copy.deepcopy(dict(sources))
    base = copy.deepcopy(out[default_source(out)])
    base.pop("contacts", None)
    base["meta"] = {"language": code, "name": name, "keywords": keywords, "default": False}
    out[f"{code}.toml"] = base
    return out


def with_contacts(sources: Mapping[str, Mapping[str, Any]], values: Mapping[str, str]) -> Sources:
    """A copy of ``sources`` with these ``[contacts]`` values set in the default file.

    The first-run setup's save: the commune's name, numbers, villages... go where every
    ``{{name}}`` of every language reads them (other files use the default file's contacts).
    """
    out: Sources = copy.deepcopy(dict(sources))
    base = out[default_source(out)]
    base["contacts"] = {**base.get("contacts", {}), **values}
    return out


# -- comparing ------------------------------------------------------------------------------


def flatten(sources: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str, str], str]:
    """Every editable value as (file, section, field) → text, for comparing versions."""
    flat: dict[tuple[str, str, str], str] = {}
    for source, data in sources.items():
        for section, table in data.items():
            if section == "menu":
                _flatten_menu(source, "menu", table, flat)
            elif isinstance(table, Mapping):
                for field_name, value in table.items():
                    flat[(source, section, field_name)] = _as_text(value)
    return flat


def _flatten_menu(
    source: str, where: str, table: Mapping[str, Any], flat: dict[tuple[str, str, str], str]
) -> None:
    for name, value in table.items():
        if isinstance(value, Mapping):
            _flatten_menu(source, f"{where}.{name}", value, flat)
        else:
            flat[(source, where, name)] = _as_text(value)


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, bool):
        return "có" if value else "không"
    return str(value)


def diff(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[Change]:
    """What changed from ``old`` to ``new``, in file order."""
    before, after = flatten(old), flatten(new)
    changes: list[Change] = []
    for where in [*before, *(w for w in after if w not in before)]:
        a, b = before.get(where), after.get(where)
        if a == b:
            continue
        if a is None:
            changes.append(Change("added", where, "", b or ""))
        elif b is None:
            changes.append(Change("removed", where, a, ""))
        else:
            changes.append(Change("changed", where, a, b))
    return changes
