"""The menus editor's form: one language file shown as fields, and the posted fields read back.

The page edits one language file at a time. Menu items are posted as parallel lists in
document order (``item.depth``, ``item.title``, ``item.text``, ``item.keywords``,
``item.action``), so adding, removing or moving an item in the browser never renames a
field: the tree and its numbers 1..n are rebuilt here from the depths. The result is a
plain source dict that ``menu_versions.save`` checks with the real loader.

Also here: how many SMS each rendered reply costs, counted by ``gateway.sms.segments.plan``
on the text as the router would send it (without diacritics for the kinds listed in
``sms.khong_dau``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.menus import MenuBook
from gateway.menus.compile import KEYWORD_LISTS, OPTIONAL_TEXTS, TEXT_KINDS, TEXTS
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau

#: Keyword lists in the order the page shows them.
KEYWORD_ROLES = ("menu", "back", "tip", "ignore", "not_tip")
assert set(KEYWORD_ROLES) == KEYWORD_LISTS

#: Fixed texts the page edits: the required ones, then those a file may leave out.
EDITABLE_TEXTS = (*TEXTS, *OPTIONAL_TEXTS)
assert set(TEXT_KINDS) == set(EDITABLE_TEXTS)

MAX_ITEMS = 300
MAX_DEPTH = 6
_CONTACT_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")


class FormError(ValueError):
    """The posted form cannot be read as a menu file (the message says what to fix)."""


@dataclass
class Item:
    """One menu item as the page shows it; ``number`` is its dotted number ("1.3")."""

    number: str
    depth: int
    title: str = ""
    text: str = ""
    keywords: str = ""
    action: str = ""
    children: list[Item] = field(default_factory=list)


@dataclass
class FileView:
    """Everything the editor shows of one language file."""

    source: str
    language: str
    name: str
    is_default: bool
    switch_keywords: str
    menu_text: str
    items: list[Item]
    texts: dict[str, str]
    keywords: dict[str, str]
    contacts: list[tuple[str, str]]


# -- file → fields ---------------------------------------------------------------------------


def words(value: Any) -> str:
    """A keyword list as the page shows it: comma-separated."""
    return ", ".join(value) if isinstance(value, list) else ""


def view(source: str, data: Mapping[str, Any]) -> FileView:
    """The page's view of one parsed file (from the database, or as just posted)."""
    meta = data.get("meta", {})
    menu = data.get("menu", {})
    keywords = data.get("keywords", {})
    texts = data.get("texts", {})
    return FileView(
        source=source,
        language=str(meta.get("language", "")),
        name=str(meta.get("name", "")),
        is_default=meta.get("default") is True,
        switch_keywords=words(meta.get("keywords", [])),
        menu_text=str(menu.get("text", "")),
        items=_items(menu, ()),
        texts={name: str(texts.get(name, "")) for name in EDITABLE_TEXTS},
        keywords={role: words(keywords.get(role, [])) for role in KEYWORD_ROLES},
        contacts=[(str(k), str(v)) for k, v in data.get("contacts", {}).items()],
    )


def _items(table: Mapping[str, Any], path: tuple[int, ...]) -> list[Item]:
    children = sorted(
        (int(k), v) for k, v in table.items() if k.isdigit() and isinstance(v, Mapping)
    )
    out = []
    for number, child in children:
        child_path = (*path, number)
        out.append(
            Item(
                number=".".join(map(str, child_path)),
                depth=len(child_path),
                title=str(child.get("title", "")),
                text=str(child.get("text", "")),
                keywords=words(child.get("keywords", [])),
                action=str(child.get("action", "")),
                children=_items(child, child_path),
            )
        )
    return out


# -- fields → file ---------------------------------------------------------------------------


def split_words(value: str) -> list[str]:
    """"MENU, HD, ?" (or one per line) → ["MENU", "HD", "?"]; empty entries dropped."""
    return [w.strip() for w in re.split(r"[,\n]", value or "") if w.strip()]


def _clean(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def parse(form: Any, *, language: str, is_default: bool) -> dict[str, Any]:
    """Read the posted fields (a werkzeug MultiDict) back into a menu file's dict.

    Empty texts of a language other than the default are left out (the default file's are
    used); an item whose title, text and keywords are all empty is dropped with its
    sub-items. FormError for what the loader could not even be asked about.
    """
    meta: dict[str, Any] = {
        "language": language,
        "name": _clean(form.get("meta.name")),
        "keywords": split_words(form.get("meta.keywords", "")),
        "default": is_default,
    }
    data: dict[str, Any] = {"meta": meta}

    contacts: dict[str, str] = {}
    names, values = form.getlist("contact.name"), form.getlist("contact.value")
    if len(names) != len(values):
        raise FormError("Danh bạ gửi lên không đủ cặp tên, giá trị. Hãy tải lại trang.")
    for raw_name, raw_value in zip(names, values, strict=True):
        name, value = _clean(raw_name), _clean(raw_value)
        if not name and not value:
            continue
        if not _CONTACT_NAME.fullmatch(name):
            raise FormError(
                f"Tên liên hệ {name!r} không hợp lệ: chỉ dùng chữ không dấu, số và dấu _ "
                "(ví dụ truc_ban)."
            )
        if name in contacts:
            raise FormError(f"Tên liên hệ {name!r} có hai lần.")
        if value or is_default:
            contacts[name] = value
    if contacts or is_default:
        data["contacts"] = contacts

    texts = {}
    for name in EDITABLE_TEXTS:
        value = _clean(form.get(f"texts.{name}"))
        if value or (is_default and name not in OPTIONAL_TEXTS):
            texts[name] = value
    if texts:
        data["texts"] = texts

    data["keywords"] = {role: split_words(form.get(f"keywords.{role}", "")) for role in KEYWORD_ROLES}
    menu: dict[str, Any] = {"text": _clean(form.get("menu.text"))}
    _tree(form, menu)
    data["menu"] = menu
    return data


def _tree(form: Any, menu: dict[str, Any]) -> None:
    """Rebuild the numbered tables from the items' depths, in the order they were posted."""
    columns = [form.getlist(f"item.{name}") for name in ("depth", "title", "text", "keywords", "action")]
    if len({len(c) for c in columns}) > 1:
        raise FormError("Các mục menu gửi lên bị thiếu trường. Hãy tải lại trang.")
    if len(columns[0]) > MAX_ITEMS:
        raise FormError(f"Menu có quá {MAX_ITEMS} mục.")
    stack: list[dict[str, Any]] = [menu]  # stack[d] is the table that items of depth d+1 go in
    dropped_below: int | None = None
    for raw_depth, title, text, keywords, action in zip(*columns, strict=True):
        try:
            depth = int(raw_depth)
        except ValueError:
            raise FormError("Độ sâu của mục menu không hợp lệ. Hãy tải lại trang.") from None
        if dropped_below is not None and depth > dropped_below:
            continue  # a sub-item of an item that was emptied out
        dropped_below = None
        if not 1 <= depth <= min(len(stack), MAX_DEPTH):
            raise FormError("Cây menu gửi lên không hợp lệ (mục con không có mục cha).")
        title, text, kw = _clean(title), _clean(text), split_words(keywords)
        if not (title or text or kw):
            dropped_below = depth
            continue
        del stack[depth:]
        parent = stack[depth - 1]
        number = sum(1 for k in parent if k.isdigit()) + 1
        item: dict[str, Any] = {"title": title}
        if kw:
            item["keywords"] = kw
        if text:
            item["text"] = text
        if _clean(action) == "tip":
            item["action"] = "tip"
        elif _clean(action):
            raise FormError(f"Kiểu mục không hợp lệ: {action!r}.")
        parent[str(number)] = item
        stack.append(item)


def check_language_code(code: str, sources: Mapping[str, Any]) -> str | None:
    """Why ``code`` cannot be a new language (a Vietnamese sentence), or None when it can."""
    if not _LANGUAGE_CODE.fullmatch(code):
        return "Mã ngôn ngữ gồm 2-3 chữ thường không dấu, ví dụ hmn (H'Mông), tay (Tày), dao (Dao)."
    if any(d.get("meta", {}).get("language") == code for d in sources.values()):
        return f"Ngôn ngữ {code} đã có."
    if f"{code}.toml" in sources:
        return f"Tệp {code}.toml đã có."
    return None


# -- how many SMS each reply costs -----------------------------------------------------------


@dataclass(frozen=True)
class ReplyCount:
    """One reply as the router would send it, counted by ``segments.plan``."""

    chars: int
    parts: int
    encoding: str
    khong_dau: bool
    accented_parts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "chars": self.chars, "parts": self.parts, "encoding": self.encoding,
            "khong_dau": self.khong_dau, "accented_parts": self.accented_parts,
        }


def count_reply(text: str, kind: str, khong_dau_kinds: frozenset[str]) -> ReplyCount:
    """Count ``text`` as it would leave: without diacritics when ``kind`` is sent so."""
    stripped = kind in khong_dau_kinds
    sent = khong_dau(text) if stripped else text
    p = plan(sent)
    return ReplyCount(p.units, p.count, p.encoding, stripped, plan(text).count)


def reply_counts(
    book: MenuBook,
    language: str,
    khong_dau_kinds: frozenset[str],
    reference: str,
    tip_items: frozenset[str] = frozenset(),
) -> dict[str, ReplyCount]:
    """Every reply of ``language`` by id ("menu", "1.3", "texts.help"), as sent.

    ``tip_items``: ids of items with ``action = "tip"`` (their text goes out as a tip prompt).
    """
    out: dict[str, ReplyCount] = {}
    for reply_id, text in book.replies(language).items():
        if reply_id.startswith("texts."):
            name = reply_id[len("texts."):]
            kind = TEXT_KINDS.get(name, "menu")
            text = text.replace("{reference}", reference)
        else:
            kind = "tip_prompt" if reply_id in tip_items else "menu"
        out[reply_id] = count_reply(text, kind, khong_dau_kinds)
    return out


def tip_item_ids(items: list[Item]) -> frozenset[str]:
    """Numbers of the items that ask for a tip."""
    found: set[str] = set()
    stack = list(items)
    while stack:
        item = stack.pop()
        if item.action == "tip":
            found.add(item.number)
        stack.extend(item.children)
    return frozenset(found)
