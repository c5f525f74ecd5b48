"""SMS keyword menus: the same menu as the commune's Zalo chatbot, for phones without data.

A villager texts ``MENU``, gets a numbered list, texts ``1``, gets the next list or the
prepared answer; ``TIN <nội dung>`` (or ``TIN`` then the text) sends a tip. The menu content
is data (``firmware_config/menus/*.toml``, one file per language); this module is the pure
logic: no database, no clock, no sending. The router keeps one :class:`Session` per number,
passes it in with the time, and persists the :class:`Decision`'s new session.

Matching rules (the "why" for each is in the tests' conversation scripts):

- A message is folded (no diacritics, đ→d, lower case, single spaces) and stripped of edge
  punctuation before lookup, so "Căn cước?", "CAN CUOC" and "can  cuoc" are one keyword.
- A keyword answers in a language whose file defines it, preferring the session's language;
  item and language keywords of another file switch the session to that language.
- A number selects from the open menu (or, after an answer, among its siblings); with no
  open menu (none, or expired) it shows the main menu. "1.3" goes straight to item 1.3.
  ``0``/``#`` show the menu above what was shown last.
- Anything not understood gets the help text and closes the open menu, so the next number
  shows the main menu rather than picking from a list the villager no longer sees; unless it
  carries content (``match.carries_content``: 3+ words or 15+ letters once greetings, thanks
  and emoji are left out): then nothing is lost, it is filed as a tip "to confirm" and the
  villager is told it was received and how to send a tip next time (``texts.received``).
- ``TIN <text>`` is a tip at once; ``TIN`` alone (or the menu's tip item) asks for the text
  and the next message that is not a keyword or a menu number becomes the tip. Tip keywords
  must be typed exactly (accents and case aside): "Tìm..." or "Bán..." are never tips.
  A tip prompt waits longer than a menu (typing on a keypad phone is slow); when it has
  expired, the text is answered with the "expired" text rather than silently taken.
- One typo (Damerau-Levenshtein 1) is forgiven for whole-message keywords of 3+ letters when
  only one target is that close; 3-letter keywords forgive only a swapped pair. Not while
  a tip is awaited: then only exact keywords are not the tip.
- "OK", "Cảm ơn", emoji-only messages: no reply (kind "ignore"), so thanks cost nothing and
  two auto-responders never ping-pong.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from gateway.errors import ConfigError
from gateway.menus.compile import Compiled, Language, Node, Target, compile_book, is_unset
from gateway.menus.match import (
    MENU_NUMBER,
    TypoIndex,
    carries_content,
    first_word,
    has_content,
    key,
    split_phrase,
)

DEFAULT_EXPIRY = timedelta(minutes=15)
#: Waiting for a tip lasts longer than a menu: typing a tip on a keypad phone takes a while.
DEFAULT_TIP_EXPIRY = timedelta(hours=1)

#: How long after a tip prompt expired a text is answered "too late" rather than "not understood".
_LATE = timedelta(days=1)

DecisionKind = Literal["reply", "tip", "help", "ignore"]


@dataclass(frozen=True, slots=True)
class Session:
    """Per-number menu state, persisted by the router between messages.

    ``path`` is the item shown last (``()`` = main menu): a number picks among its items, or
    among its siblings when it was an answer, and ``0`` shows the menu above it. ``awaiting``
    is "tip" after a tip prompt. ``expires_at`` ends ``path`` and ``awaiting`` (``None``:
    nothing open); ``language`` never expires.
    """

    language: str
    path: tuple[int, ...] = ()
    awaiting: Literal["tip"] | None = None
    expires_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        """True while a menu or a tip prompt is open."""
        return self.expires_at is not None and now < self.expires_at


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one inbound message.

    ``kind``: "reply" (send ``reply``), "tip" (store ``tip_text``, then send ``reply``),
    "help" (not understood: send ``reply``), "ignore" (send nothing). ``reply`` is accented
    as written, the caller may send it không dấu; for a tip it still holds ``{reference}``
    (see :meth:`ack`). ``tip_text`` is the tip as received, keyword removed. ``session`` is
    the state to persist, or ``None`` to delete it. ``matched`` says what matched, for
    statistics: "menu", an item id ("1.3"), "back", "language", "tip", "tip_empty",
    "tip_to_confirm", "ignore", "expired" or "help".
    """

    kind: DecisionKind
    reply: str | None = None
    tip_text: str | None = None
    session: Session | None = None
    matched: str = ""
    #: A tip filed from a message without the tip keyword: officers confirm or dismiss it.
    to_confirm: bool = False

    def ack(self, reference: str) -> str | None:
        """The reply with the tip's reference filled in."""
        return None if self.reply is None else self.reply.replace("{reference}", reference)


def read_menu_files(folder: Path) -> dict[str, Mapping[str, Any]]:
    """Every ``*.toml`` in ``folder``, parsed, by file name; ConfigError if one is unreadable."""
    sources: dict[str, Mapping[str, Any]] = {}
    for path in sorted(Path(folder).glob("*.toml")):
        try:
            sources[path.name] = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    if not sources:
        raise ConfigError(f"menus: no *.toml file in {folder}")
    return sources


class MenuBook:
    """All menu languages, checked and pre-rendered, answering one message at a time."""

    def __init__(
        self,
        compiled: Compiled,
        *,
        expiry: timedelta = DEFAULT_EXPIRY,
        tip_expiry: timedelta = DEFAULT_TIP_EXPIRY,
    ) -> None:
        self._book = compiled
        self._languages = compiled.languages
        self.default_language = compiled.default
        self.expiry = expiry
        self.tip_expiry = tip_expiry
        self._typos = TypoIndex(compiled.exact)
        self._blank = {code: Session(code) for code in compiled.languages}
        self._tip_first = frozenset(phrase[0] for phrase in compiled.tip_phrases)
        # Longest text that may still fold to a keyword: NFD can triple a Vietnamese word
        # (e + two marks), plus room for edge punctuation ("MENU !!!").
        self._short = 3 * (max(map(len, compiled.exact), default=0) + 1) + 16
        # How much of a long message to fold to see the tip keyword (or not_tip phrase) at
        # its start, with the same allowance.
        phrases = (*compiled.tip_phrases, *compiled.blocked)
        self._prefix = 3 * max((len(" ".join(p)) for p in phrases), default=0) + 8

    # -- building --------------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path, *, reserved: Iterable[str] = (), **options: Any) -> MenuBook:
        """Read every ``*.toml`` in ``folder``. ``reserved``: the router's own keywords."""
        return cls.from_dict(read_menu_files(folder), reserved=reserved, **options)

    @classmethod
    def from_dict(
        cls,
        sources: Mapping[str, Mapping[str, Any]],
        *,
        reserved: Iterable[str] = (),
        max_parts: int | None = None,
        khong_dau_kinds: Iterable[str] = (),
        **options: Any,
    ) -> MenuBook:
        """Build from parsed files: {"vi.toml": {...}, ...} (tests, the web menu editor).

        ``max_parts``: refuse a reply longer than that many SMS as sent (``sms.max_parts``).
        """
        compiled = compile_book(sources, reserved, max_parts=max_parts, khong_dau_kinds=khong_dau_kinds)
        return cls(compiled, **options)

    # -- looking inside --------------------------------------------------------------------

    @property
    def languages(self) -> tuple[str, ...]:
        """Language codes, the default first."""
        others = sorted(c for c in self._languages if c != self.default_language)
        return (self.default_language, *others)

    def new_session(self, language: str | None = None) -> Session:
        """The state of a number that has never written (or whose state was deleted)."""
        return Session(language if language in self._languages else self.default_language)

    def text(self, name: str, language: str | None = None) -> str:
        """One of the ``[texts]`` (help, tip_ack...), for handlers outside the menu."""
        return self._language(language).texts[name]

    def replies(self, language: str | None = None) -> dict[str, str]:
        """Every text this language can send, by id (menu nodes, then texts)."""
        lang = self._language(language)
        out = {node.id: node.reply for node in lang.nodes.values()}
        out.update({f"texts.{name}": text for name, text in lang.texts.items()})
        return out

    def titles(self, language: str | None = None) -> dict[str, str]:
        """Each menu item's title by id ("1.3" → "Làm căn cước"), for pages that name items."""
        return {node.id: node.title for node in self._language(language).nodes.values() if node.path}

    def clashes(self, reserved: Iterable[str]) -> tuple[str, ...]:
        """Those of ``reserved`` (the router's handlers' keywords) that this book also uses as
        keywords (accents and case aside): a handler answers them first, the menu never does."""
        return tuple(word for word in dict.fromkeys(reserved) if key(word) in self._book.exact)

    def unset_contacts(self) -> list[str]:
        """``file: name`` of each contact still holding a placeholder like "09xx xxx xxx"."""
        return [
            f"{lang.source}: {name}"
            for lang in self._languages.values()
            for name, value in lang.contacts.items()
            if is_unset(value)
        ]

    # -- answering ---------------------------------------------------------------------------

    def respond(self, text: str, session: Session | None, now: datetime) -> Decision:
        """Decide what to answer to ``text`` from a number in state ``session`` at ``now``."""
        original = session
        if session is None or session.language not in self._languages:
            session = self._blank[self.default_language]
        lang = session.language
        texts = self._languages[lang].texts
        is_open = session.is_open(now)
        text = text or ""
        short = len(text) <= self._short or len(text.strip()) <= self._short
        # A long message cannot be a keyword, a number or a typo of one: fold only its start.
        k = key(text) if short else key(text.strip()[: self._prefix])

        if not k:
            if is_open and session.awaiting == "tip":
                return self._prompt(lang, session.path, now, "tip_empty", texts["tip_empty"])
            return self._help(lang, "help")

        if short:
            targets = self._book.exact.get(k)
            if targets is not None:
                return self._go(self._pick(targets, lang), session, original, is_open, now)
            if MENU_NUMBER.fullmatch(k):
                return self._number(k, session, is_open, now)

        if first_word(k) in self._tip_first:
            book = self._book
            found = split_phrase(text, k, book.tip_phrases, book.blocked, book.max_words)
            if found is not None:
                by_language, rest = found
                tip_lang = self._pick(by_language, lang).language
                return self._tip(tip_lang, rest, session.path, now)

        if not has_content(k if short else text):
            return Decision("ignore", session=original, matched="ignore")

        if is_open and session.awaiting == "tip":
            # Before typo matching: a one-word tip such as "Cháy" (fire) is one letter from
            # "CHÀO"; a typo'd "MNEU" becoming a tip costs an officer a glance instead.
            return self._tip(lang, text.strip(), session.path, now)

        typo = self._typo(k, lang) if short else None
        if typo is not None:
            return self._go(typo, session, original, is_open, now)

        if carries_content(text):
            # Nothing with content is lost: filed as a tip for an officer to confirm.
            return Decision("tip", texts["received"], text.strip(), self._closed(lang), "tip_to_confirm",
                            to_confirm=True)
        if session.awaiting == "tip" and session.expires_at and now < session.expires_at + _LATE:
            return self._help(lang, "expired")
        return self._help(lang, "help")

    # -- the pieces of respond ---------------------------------------------------------------

    def _go(
        self,
        target: Target,
        session: Session,
        original: Session | None,
        is_open: bool,
        now: datetime,
    ) -> Decision:
        lang = target.language
        kind = target.kind
        if kind == "item":
            return self._show(lang, target.path, now)
        if kind == "menu" or kind == "language":
            return self._show(lang, (), now, matched=kind)
        if kind == "back":
            path = session.path if is_open and lang == session.language else ()
            if path not in self._languages[lang].nodes:  # the menu file changed meanwhile
                path = ()
            return self._show(lang, path[:-1], now, matched="back")
        if kind == "tip":
            prompt = self._languages[lang].texts["tip_prompt"]
            return self._prompt(lang, session.path if is_open else (), now, "tip", prompt)
        return Decision("ignore", session=original, matched="ignore")

    def _number(self, k: str, session: Session, is_open: bool, now: datetime) -> Decision:
        lang = session.language
        nodes = self._languages[lang].nodes
        if "." in k:
            path = tuple(int(n) for n in k.split("."))
            if path in nodes:
                return self._show(lang, path, now)
            return self._show(lang, (), now)
        if not is_open:
            return self._show(lang, (), now)
        menu = session.path
        node = nodes.get(menu)
        if node is None:  # the menu file changed meanwhile
            menu = ()
        elif not node.size:  # after an answer, numbers pick among its siblings
            menu = menu[:-1]
        path = (*menu, int(k))
        if path in nodes:
            return self._show(lang, path, now)
        return self._show(lang, menu, now)  # no such item: show the choices again

    def _show(
        self, lang: str, path: tuple[int, ...], now: datetime, matched: str | None = None
    ) -> Decision:
        node: Node = self._languages[lang].nodes[path]
        if node.action == "tip":
            return self._prompt(lang, path, now, node.id, node.reply)
        session = Session(lang, path, None, now + self.expiry)
        return Decision("reply", node.reply, session=session, matched=matched or node.id)

    def _prompt(
        self, lang: str, path: tuple[int, ...], now: datetime, matched: str, message: str
    ) -> Decision:
        """Ask for the tip's text and wait for it (longer than a menu stays open)."""
        session = Session(lang, path, "tip", now + self.tip_expiry)
        return Decision("reply", message, session=session, matched=matched)

    def _tip(self, lang: str, tip_text: str, path: tuple[int, ...], now: datetime) -> Decision:
        texts = self._languages[lang].texts
        if not has_content(tip_text):
            return self._prompt(lang, path, now, "tip_empty", texts["tip_empty"])
        return Decision("tip", texts["tip_ack"], tip_text, self._closed(lang), "tip")

    def _help(self, lang: str, text: str) -> Decision:
        """Not understood ("help") or a tip prompt that timed out ("expired")."""
        reply = self._languages[lang].texts[text]
        return Decision("help", reply, session=self._closed(lang), matched=text)

    def _closed(self, lang: str) -> Session | None:
        """Nothing open: no row at all for the default language, else just the language."""
        return None if lang == self.default_language else self._blank[lang]

    def _typo(self, k: str, lang: str) -> Target | None:
        found = {self._pick(self._book.exact[kw], lang) for kw in self._typos.candidates(k)}
        return found.pop() if len(found) == 1 else None

    def _pick(self, by_language: Mapping[str, Target], lang: str) -> Target:
        target = by_language.get(lang) or by_language.get(self.default_language)
        return target if target is not None else next(iter(by_language.values()))

    def _language(self, code: str | None) -> Language:
        found = self._languages.get(code or self.default_language)
        return found if found is not None else self._languages[self.default_language]


__all__ = ["DEFAULT_EXPIRY", "DEFAULT_TIP_EXPIRY", "Decision", "MenuBook", "Session"]
