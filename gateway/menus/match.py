"""Text matching for the SMS menus: keys, menu numbers, typo neighbourhoods, tip prefixes.

Split from ``menus.py`` so the rules for "what did the villager type" can be read (and tested)
on their own. Everything here is pure and cheap: the router answers 20,000 messages a second,
so the common path is one ``fold`` and one dict lookup, and typo matching only runs when
that fails.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from gateway.sms.text import fold

T = TypeVar("T")

# Characters stripped from both ends of a message before lookup: "MENU!", "1.", "(2)",
# "CCCD?" and "- TIN" all mean the bare keyword. A message made only of these ("?", "#")
# keeps its first character so "?" and "#" can be keywords themselves.
_EDGE = " .,;:!?…-–—_*\"'`´()[]{}<>«»“”‘’/\\|~#+=^"

#: A menu choice: "2", "12", or an absolute path "1.3" (no open menu needed).
MENU_NUMBER = re.compile(r"\d{1,2}(?:\.\d{1,2})*")

# A word of the original text: letters/digits plus combining marks, so NFD input ("Ba\u0301o")
# is one word, not two.
_WORD = re.compile(r"[\w\u0300-\u036f]+")
_FIRST_WORD = re.compile(r"\w+")
# What may sit between a tip keyword and the tip: "TIN: ...", "TIN - ...", "TIN, ...".
_SEPARATORS = " \t\r\n.,;:-–—…"

#: Keywords this short (letters, spaces not counted) get no typo tolerance at all.
TYPO_MIN_LETTERS = 3


def key(text: str) -> str:
    """The lookup key of a message or keyword: folded, edge punctuation stripped.

    ``key(" Căn  Cước? ") == "can cuoc"``; ``key("???") == "?"``; ``key("  ") == ""``.
    """
    folded = fold(text)
    stripped = folded.strip(_EDGE)
    if stripped:
        return stripped
    return folded.replace(" ", "")[:1]


def has_content(k: str) -> bool:
    """True when a key (or a raw text) holds a letter or digit, not only emoji or punctuation."""
    return any(ch.isalnum() for ch in k)


#: Words that do not make a message worth keeping on their own: greetings, thanks, politeness
#: and ways of addressing the post ("Xin chào công an xã ạ", "Cảm ơn nhiều"), folded.
FILLER_WORDS = frozenset({
    "a", "ah", "alo", "anh", "an", "ban", "cam", "chao", "chi", "cong", "da", "dc", "em", "hi",
    "hello", "nha", "nhe", "nhieu", "ok", "oke", "okay", "oi", "on", "thanks", "tks", "uh", "vang",
    "xa", "xin",
})
#: A message with at least this many content words (or letters in them) carries content.
CONTENT_WORDS = 3
CONTENT_LETTERS = 15


def carries_content(text: str) -> bool:
    """True when a message says something worth keeping, though no keyword or menu choice.

    The rule (issue 11, "nothing with content is lost"): fold the text, take its words made
    of letters or digits (emoji and punctuation are ignored), leave out greetings, thanks and
    ways of addressing the post (``FILLER_WORDS``); what remains carries content when it is
    ``CONTENT_WORDS`` words or more, or ``CONTENT_LETTERS`` letters or more. "ok", "?",
    "Xin chào công an" do not; "Chào, có kẻ trộm 🐄 bò ở thôn 2 😱" does (6 words).
    """
    words = [w for w in _FIRST_WORD.findall(fold(text)) if w not in FILLER_WORDS and w != "_"]
    return len(words) >= CONTENT_WORDS or sum(len(w) for w in words) >= CONTENT_LETTERS


def first_word(k: str) -> str:
    """The first word of a key ("tin:co trom" → "tin"), or ""."""
    m = _FIRST_WORD.match(k)
    return m.group() if m else ""


def letters(k: str) -> int:
    """How long a keyword is for the typo rule: its characters without spaces."""
    return len(k) - k.count(" ")


def edit_kind(a: str, b: str) -> str | None:
    """How ``a`` differs from ``b`` when they are one edit apart (Damerau-Levenshtein 1).

    Returns "swap" (adjacent transposition), "sub", "indel" or None (equal, or further).
    """
    la, lb = len(a), len(b)
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return "sub"
        if (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        ):
            return "swap"
        return None
    if abs(la - lb) != 1:
        return None
    short, long_ = (a, b) if la < lb else (b, a)
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return "indel" if short[i:] == long_[i + 1 :] else None


def _deletes(word: str) -> Iterable[str]:
    return (word[:i] + word[i + 1 :] for i in range(len(word)))


class TypoIndex:
    """Keywords reachable by one typo, found through a deletion neighbourhood.

    Every keyword of ``TYPO_MIN_LETTERS`` or more is stored under itself and under each
    one-character deletion; a message is looked up under itself and its own deletions, and
    the few candidates are checked with :func:`edit_kind`. A lookup costs len(message) dict
    probes, and only runs when exact matching failed.

    Three-letter keywords accept only a swapped pair ("TNI" for "TIN", "STD" for "SDT"): one
    substitution or insertion on a three-letter word lands on an everyday Vietnamese word too
    often (tìm, bán, sao, bao...) to guess.
    """

    def __init__(self, keywords: Iterable[str]) -> None:
        self._variants: dict[str, set[str]] = {}
        longest = 0
        for kw in keywords:
            if letters(kw) < TYPO_MIN_LETTERS:
                continue
            longest = max(longest, len(kw))
            for variant in (kw, *_deletes(kw)):
                self._variants.setdefault(variant, set()).add(kw)
        self._max_len = longest + 1

    def candidates(self, k: str) -> set[str]:
        """Keywords exactly one allowed edit away from key ``k`` (empty when too long)."""
        if not 2 <= len(k) <= self._max_len:
            return set()
        found: set[str] = set()
        for variant in (k, *_deletes(k)):
            hit = self._variants.get(variant)
            if hit:
                found |= hit
        return {kw for kw in found if _allowed(k, kw)}


def _allowed(k: str, kw: str) -> bool:
    kind = edit_kind(k, kw)
    if kind is None:
        return False
    return kind == "swap" or letters(kw) > TYPO_MIN_LETTERS


def split_phrase(
    text: str,
    k: str,
    phrases: Mapping[tuple[str, ...], T],
    blocked: Collection[tuple[str, ...]],
    max_words: int,
) -> tuple[T, str] | None:
    """Find the longest phrase that starts a message, word by word, and what follows it.

    ``k`` is the message's key (or the key of its start), so words are matched folded
    without folding them again; ``phrases`` maps folded word tuples (("tin", "bao")) to a
    value. Words of a phrase must be separated by spaces only, so "Tin: báo cáo..." matches
    "TIN", not "TIN BÁO". When the message starts with a ``blocked`` phrase ("BAO NHIÊU",
    "BAO GIỜ") nothing matches. Returns the value and the rest of the original ``text`` (as
    received, the separators after the phrase removed), or None.
    """
    words: list[str] = []
    best: tuple[T, int] | None = None
    end = 0
    for m in _FIRST_WORD.finditer(k):
        if len(words) >= max_words or (words and k[end : m.start()] != " "):
            break
        words.append(m.group())
        end = m.end()
        value = phrases.get(tuple(words))
        if value is not None:
            best = (value, len(words))
    if best is None:
        return None
    if blocked and any(tuple(words[:n]) in blocked for n in range(1, len(words) + 1)):
        return None
    value, count = best
    cut = 0
    for cut_match, _ in zip(_WORD.finditer(text), range(count), strict=False):
        cut = cut_match.end()
    return value, text[cut:].lstrip(_SEPARATORS).rstrip()
