"""Reading and checking menu files (``firmware_config/menus/*.toml``) into ready-made replies.

Officers edit these files by hand, so every mistake must stop start-up with one line that
names the file and the thing to fix (a keyword used twice, a ``{{placeholder}}`` with no value
in ``[contacts]``, item 3 missing between 2 and 4...). All replies are rendered here, once, so
answering a message is a dict lookup. The file format is documented at the top of
``firmware_config/menus/vi.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import ConfigError
from gateway.menus.match import MENU_NUMBER, key
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau

TOP_LEVEL = frozenset({"meta", "contacts", "texts", "keywords", "menu"})
META_FIELDS = frozenset({"language", "name", "keywords", "default"})
ITEM_FIELDS = frozenset({"title", "text", "keywords", "action"})
ACTIONS = frozenset({"tip"})
#: Keyword lists in ``[keywords]``; what each role does is in ``gateway.menus``.
ROLES = ("menu", "back", "tip", "ignore")
KEYWORD_LISTS = frozenset({*ROLES, "not_tip"})
TEXTS = (
    "help", "tip_prompt", "tip_ack", "tip_empty", "expired", "menu_footer", "submenu_footer"
)
#: Texts a menu file may leave out (files saved before they existed still load): each falls
#: back to the text named here.
OPTIONAL_TEXTS = {"received": "tip_ack"}
#: Texts where ``{reference}`` becomes the tip's reference.
REFERENCE_TEXTS = frozenset({"tip_ack", "received"})
#: The message kind (for ``sms.khong_dau``) each fixed text is sent as by the router.
TEXT_KINDS = {
    "help": "help", "tip_prompt": "tip_prompt", "tip_ack": "tip_ack", "tip_empty": "tip_prompt",
    "expired": "help", "menu_footer": "menu", "submenu_footer": "menu", "received": "tip_ack",
}
#: Stands for a tip's reference when a reply's length is counted (longer than most).
REFERENCE_EXAMPLE = "XXXX-00000"
#: Kinds of keyword two language files may share: they mean the same in every language, and
#: the session's language picks which file answers.
SHARED_KINDS = frozenset({*ROLES, "item"})
#: A contact value still holding "xx" ("09xx xxx xxx") has not been set by the commune.
UNSET_MARK = "xx"


def is_unset(value: str) -> bool:
    """A contact value the commune has not set yet: it still holds the shipped placeholder."""
    return UNSET_MARK in value.lower()


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")

ItemPath = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """What a keyword leads to: a role ("menu", "back", "tip", "ignore"), a menu "item", or
    a "language" switch, in the language whose file defined it."""

    kind: str
    language: str
    path: ItemPath = ()


@dataclass(frozen=True, slots=True)
class Node:
    """One menu entry with its reply already rendered; ``size`` > 0 makes it a (sub-)menu."""

    path: ItemPath
    title: str
    reply: str
    size: int = 0
    action: str | None = None

    @property
    def id(self) -> str:
        """The main menu's id is "menu"; an item's is its dotted number ("1.3")."""
        return ".".join(map(str, self.path)) if self.path else "menu"


@dataclass(frozen=True)
class Language:
    """One menu file, checked and rendered."""

    code: str
    name: str
    source: str
    nodes: Mapping[ItemPath, Node]
    texts: Mapping[str, str]
    contacts: Mapping[str, str]


@dataclass
class Compiled:
    """Everything ``MenuBook`` needs to answer, built once at load."""

    languages: dict[str, Language]
    default: str
    exact: dict[str, dict[str, Target]] = field(default_factory=dict)
    tip_phrases: dict[tuple[str, ...], dict[str, Target]] = field(default_factory=dict)
    blocked: frozenset[tuple[str, ...]] = frozenset()
    max_words: int = 1


def compile_book(
    sources: Mapping[str, Mapping[str, Any]],
    reserved: Iterable[str] = (),
    *,
    max_parts: int | None = None,
    khong_dau_kinds: Iterable[str] = (),
) -> Compiled:
    """Check and render every source (file name → parsed TOML) into one ``Compiled`` book.

    A file other than the default may leave out ``[contacts]`` values and ``[texts]``: the
    default file's are used, so a translation only has to translate. ``max_parts``
    (``sms.max_parts``): a reply longer than that many SMS, as sent (without diacritics for
    ``khong_dau_kinds``), is refused with one line that suggests a sub-menu.
    """
    if not sources:
        raise ConfigError("menus: no menu file (expected at least one *.toml)")
    metas = {source: _meta(source, data) for source, data in sources.items()}
    default_source = _default_source(metas)
    base_contacts = _contacts(default_source, sources[default_source])
    base_texts = _texts(default_source, sources[default_source], required=True)

    book = Compiled(languages={}, default=metas[default_source]["language"])
    keywords = _KeywordTable(reserved)
    blocked: set[tuple[str, ...]] = set()
    for source, data in sources.items():
        unknown = set(data) - TOP_LEVEL
        if unknown:
            raise ConfigError(f"{source}: unknown section [{sorted(unknown)[0]}]")
        meta = metas[source]
        code = meta["language"]
        if code in book.languages:
            other = book.languages[code].source
            raise ConfigError(f"{source}: language {code!r} is already defined in {other}")
        reader = _Reader(source, {**base_contacts, **_contacts(source, data)})
        texts = {
            name: reader.fill(f"texts.{name}", value, reference=name in REFERENCE_TEXTS)
            for name, value in {**base_texts, **_texts(source, data, required=False)}.items()
        }
        for name, fallback in OPTIONAL_TEXTS.items():
            if not texts.get(name):
                texts[name] = texts[fallback]
        nodes = reader.nodes(data.get("menu"), texts)
        if max_parts is not None:
            _check_size(source, nodes, texts, max_parts, frozenset(khong_dau_kinds))
        book.languages[code] = Language(code, meta["name"], source, nodes, texts, reader.contacts)

        for word in meta["keywords"]:
            keywords.add(source, "meta.keywords", word, Target("language", code))
        lists = _keyword_lists(source, data)
        for role in ROLES:
            for word in lists.get(role, ()):
                keywords.add(source, f"keywords.{role}", word, Target(role, code))
        for path, words in _item_keywords(data["menu"]):
            where = "menu." + ".".join(map(str, path))
            for word in words:
                keywords.add(source, where, word, Target("item", code, path))
        blocked.update(tuple(key(phrase).split(" ")) for phrase in lists.get("not_tip", ()))

    book.exact = keywords.table
    for k, by_language in book.exact.items():
        if next(iter(by_language.values())).kind == "tip":
            book.tip_phrases[tuple(k.split(" "))] = by_language
    for phrase in blocked & set(book.tip_phrases):
        raise ConfigError(f"menus: {' '.join(phrase)!r} is both a tip keyword and not_tip")
    book.blocked = frozenset(blocked)
    book.max_words = max((len(p) for p in (*book.tip_phrases, *blocked)), default=1)
    return book


def reply_parts(text: str, kind: str, khong_dau_kinds: frozenset[str]) -> int:
    """How many SMS ``text`` costs as the router sends it (kind ``kind``)."""
    return plan(khong_dau(text) if kind in khong_dau_kinds else text).count


def _check_size(source: str, nodes: Mapping[ItemPath, Node], texts: Mapping[str, str], max_parts: int,
                khong_dau_kinds: frozenset[str]) -> None:
    """Refuse a reply longer than ``max_parts`` SMS: a long village list belongs in a sub-menu."""
    replies = [(f"texts.{name}", text.replace("{reference}", REFERENCE_EXAMPLE), TEXT_KINDS.get(name, "menu"))
               for name, text in texts.items()]
    replies += [("menu" if not node.path else f"menu.{node.id}", node.reply,
                 "tip_prompt" if node.action == "tip" else "menu") for node in nodes.values()]
    for where, text, kind in replies:
        parts = reply_parts(text, kind, khong_dau_kinds)
        if parts > max_parts:
            raise ConfigError(
                f"{source}: {where} is {parts} SMS as sent, more than sms.max_parts ({max_parts}):"
                " shorten it or split it into sub-items (a sub-menu)"
            )


class _KeywordTable:
    """Folded keyword → {language: target}, refusing clashes with a one-line error."""

    def __init__(self, reserved: Iterable[str]) -> None:
        self.reserved = {key(r): r for r in reserved}
        self.table: dict[str, dict[str, Target]] = {}
        self.where: dict[tuple[str, str], tuple[str, str]] = {}

    def add(self, source: str, where: str, word: str, target: Target) -> None:
        k = key(word)
        if not k:
            raise ConfigError(f"{source}: empty keyword in {where}")
        if k in self.reserved:
            raise ConfigError(
                f"{source}: keyword {word!r} in {where} is reserved by the router"
                f" ({self.reserved[k]})"
            )
        if MENU_NUMBER.fullmatch(k) and target.kind != "back":
            raise ConfigError(f"{source}: keyword {word!r} in {where} looks like a menu number")
        by_language = self.table.setdefault(k, {})
        mine = by_language.get(target.language)
        if mine is not None:
            if mine != target:  # the same word twice for one target is harmless
                first = self.where[(k, target.language)][1]
                raise ConfigError(f"{source}: keyword {word!r} is used twice ({first} and {where})")
            return
        for other in by_language.values():
            if other.kind != target.kind or target.kind not in SHARED_KINDS:
                other_source, other_where = self.where[(k, other.language)]
                raise ConfigError(
                    f"{source}: keyword {word!r} in {where} clashes with {other_source}"
                    f" ({other_where})"
                )
        by_language[target.language] = target
        self.where[(k, target.language)] = (source, where)


class _Reader:
    """Renders the menu tree of one file, with its contacts, naming the file in errors."""

    def __init__(self, source: str, contacts: Mapping[str, str]) -> None:
        self.source = source
        self.contacts = contacts

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {message}")

    def fill(self, where: str, text: str, *, reference: bool = False) -> str:
        """Put ``[contacts]`` values into ``{{name}}``; refuse unknown names and stray braces."""

        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.contacts:
                raise self.error(
                    f"placeholder {{{{{name}}}}} in {where} has no value in [contacts]"
                )
            return self.contacts[name]

        filled = _PLACEHOLDER.sub(value, text)
        rest = filled.replace("{reference}", "") if reference else filled
        if "{" in rest or "}" in rest:
            raise self.error(f"stray brace in {where} (placeholders are written {{{{name}}}})")
        return filled

    def nodes(self, menu: Any, texts: Mapping[str, str]) -> dict[ItemPath, Node]:
        if not isinstance(menu, Mapping):
            raise self.error("missing [menu] section")
        header = self.fill("menu.text", _text(self.source, "menu.text", menu.get("text")))
        nodes: dict[ItemPath, Node] = {}
        self._render(menu, (), header, "", texts, nodes, fields=frozenset({"text"}))
        if not nodes[()].size:
            raise self.error("[menu] has no items (add [menu.1])")
        return nodes

    def _render(
        self,
        table: Mapping[str, Any],
        path: ItemPath,
        header: str,
        title: str,
        texts: Mapping[str, str],
        nodes: dict[ItemPath, Node],
        fields: frozenset[str] = ITEM_FIELDS,
    ) -> None:
        """Render ``table`` and everything below it into ``nodes``."""
        where = "menu" + "".join(f".{n}" for n in path)
        lines = []
        for number, child in enumerate(self._children(where, table, fields), start=1):
            child_where = f"{where}.{number}"
            raw_title = _text(self.source, f"{child_where}.title", child.get("title"))
            child_title = self.fill(f"{child_where}.title", raw_title)
            _words(self.source, f"{child_where}.keywords", child.get("keywords", []))
            raw = child.get("text")
            text = None if raw is None else self.fill(
                f"{child_where}.text", _text(self.source, f"{child_where}.text", raw)
            )
            self._render(child, (*path, number), text or child_title, child_title, texts, nodes)
            lines.append(f"{number}. {child_title}")
        action = table.get("action")
        if lines:
            if action is not None:
                raise self.error(f"{where} has sub-items, so it cannot have an action")
            footer = texts["submenu_footer"] if path else texts["menu_footer"]
            reply = "\n".join(part for part in (header, *lines, footer) if part)
            nodes[path] = Node(path, title, reply, size=len(lines))
        elif action is not None:
            if action not in ACTIONS:
                raise self.error(f"{where}.action must be one of {sorted(ACTIONS)}, not {action!r}")
            reply = texts["tip_prompt"] if table.get("text") is None else header
            nodes[path] = Node(path, title, reply, action=action)
        elif table.get("text") is None:
            raise self.error(f'{where} needs a text (or sub-items, or action = "tip")')
        else:
            nodes[path] = Node(path, title, header)

    def _children(
        self, where: str, table: Mapping[str, Any], fields: frozenset[str]
    ) -> list[Mapping[str, Any]]:
        """The numbered sub-tables of a menu table, checked to run 1..n without gaps."""
        numbers = []
        for name, value in table.items():
            if name in fields:
                continue
            if not (name.isdigit() and not name.startswith("0") and isinstance(value, Mapping)):
                raise self.error(f"unknown field {where}.{name}")
            numbers.append(int(name))
        numbers.sort()
        for expected, number in enumerate(numbers, start=1):
            if number != expected:
                raise self.error(
                    f"{where} items must be numbered 1..n: {where}.{expected} is missing"
                )
        return [table[str(n)] for n in numbers]


def _item_keywords(
    menu: Mapping[str, Any], path: ItemPath = ()
) -> Iterator[tuple[ItemPath, list[str]]]:
    """(path, keywords) of every item, in file order (the tree is already checked)."""
    for name, value in menu.items():
        if name.isdigit() and isinstance(value, Mapping):
            child = (*path, int(name))
            yield child, value.get("keywords", [])
            yield from _item_keywords(value, child)


def _meta(source: str, data: Mapping[str, Any]) -> dict[str, Any]:
    meta = data.get("meta")
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{source}: missing [meta] section (language, name, keywords)")
    unknown = set(meta) - META_FIELDS
    if unknown:
        raise ConfigError(f"{source}: unknown field meta.{sorted(unknown)[0]}")
    code = meta.get("language")
    if not isinstance(code, str) or not _LANGUAGE_CODE.fullmatch(code):
        raise ConfigError(f'{source}: meta.language must be a language code such as "vi" or "hmn"')
    default = meta.get("default", False)
    if not isinstance(default, bool):
        raise ConfigError(f"{source}: meta.default must be true or false")
    return {
        "language": code,
        "name": _text(source, "meta.name", meta.get("name")),
        "keywords": _words(source, "meta.keywords", meta.get("keywords", [])),
        "default": default,
    }


def _default_source(metas: Mapping[str, Mapping[str, Any]]) -> str:
    defaults = [source for source, meta in metas.items() if meta["default"]]
    if len(defaults) == 1:
        return defaults[0]
    if not defaults and len(metas) == 1:
        return next(iter(metas))
    if not defaults:
        raise ConfigError("menus: no file has meta.default = true (one must be the default)")
    raise ConfigError(
        f"{defaults[1]}: meta.default = true, but {defaults[0]} is the default already"
    )


def _contacts(source: str, data: Mapping[str, Any]) -> dict[str, str]:
    table = data.get("contacts", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f'{source}: [contacts] must be a table of name = "value"')
    return {name: _text(source, f"contacts.{name}", value) for name, value in table.items()}


def _texts(source: str, data: Mapping[str, Any], *, required: bool) -> dict[str, str]:
    table = data.get("texts", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [texts] must be a table")
    unknown = set(table) - set(TEXTS) - set(OPTIONAL_TEXTS)
    if unknown:
        raise ConfigError(f"{source}: unknown text texts.{sorted(unknown)[0]}")
    missing = [name for name in TEXTS if name not in table] if required else []
    if missing:
        raise ConfigError(f"{source}: missing texts.{missing[0]}")
    return {
        name: _text(source, f"texts.{name}", value, empty_ok=True) for name, value in table.items()
    }


def _keyword_lists(source: str, data: Mapping[str, Any]) -> dict[str, list[str]]:
    table = data.get("keywords", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [keywords] must be a table of lists")
    unknown = set(table) - KEYWORD_LISTS
    if unknown:
        raise ConfigError(f"{source}: unknown keyword list keywords.{sorted(unknown)[0]}")
    return {name: _words(source, f"keywords.{name}", value) for name, value in table.items()}


def _text(source: str, where: str, value: Any, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        raise ConfigError(f"{source}: {where} must be a non-empty text in quotes")
    return value.strip()


def _words(source: str, where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{source}: {where} must be a list of texts, like ["MENU", "HD"]')
    return value
