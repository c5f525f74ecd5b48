"""Vietnamese text helpers: normalise, fold for keyword matching, strip diacritics for GSM-7.

Villagers type "Đăng ký", "dang ky", "DANG KY" or "đăng ký" in decomposed form (some phones and
keyboards send NFD, or Windows-1258-style combining tone marks); a keyword must match all of
them. And accented Vietnamese is UCS-2, about 2.3x the SMS of the same text "không dấu", so
replies and broadcasts can be sent without diacritics.

Only the combining marks U+0300-U+036F are removed. Emoji keep their variation selectors
(U+FE0F), joiners and keycap marks (U+20E3), which are combining characters too.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Letters that do not decompose under NFD. U+00D0/U+00F0 (Icelandic eth) are what some
# keyboards and fonts produce for Đ/đ, and look identical.
_LETTERS = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"}

# Typography that phones and word processors insert, mapped to GSM-7 look-alikes so that a
# "không dấu" text really fits the 7-bit alphabet.
_TYPOGRAPHY = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u2022": "-", "\u00b7": "-", "\u2023": "-", "\u25cf": "-",
    "\t": " ", "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2002": " ", "\u2003": " ",
    "\u2009": " ", "\u200a": " ", "\u3000": " ",
    "\u200b": "", "\u00ad": "", "\ufeff": "", "\u200e": "", "\u200f": "",
    "\u00d7": "x",
}

_MARKS = re.compile("[\u0300-\u036f]+")
_KHONG_DAU_REST = {**_LETTERS, **_TYPOGRAPHY}
_SPACES = re.compile(r"\s+")


def _strip_marks(decomposed: str, rest: dict[str, str]) -> str:
    """``decomposed`` (NFD) without its combining marks U+0300-U+036F, each key of ``rest``
    replaced by its value.

    What ``str.translate`` with one table for both would give, at half its cost: a translate
    looks every character up in the table, and the plain letters, nearly all of a Vietnamese
    text, miss. No value holds a key or a mark, so one replacement never feeds another.
    """
    stripped = _MARKS.sub("", decomposed)
    for ch, plain in rest.items():
        if ch in stripped:
            stripped = stripped.replace(ch, plain)
    return stripped


def nfc(s: str) -> str:
    """NFC form: one code point per accented letter, as stored and as counted for UCS-2."""
    return unicodedata.normalize("NFC", s)


# The last text folded the long way and its key: the router folds a message for its automatic
# markers, the menus fold it again for a keyword, and again to judge whether it carries content;
# 15 µs each time for a Vietnamese text. Compared by identity: the very string object, so
# only the same message's text, never another that happens to read alike.
_last_fold: tuple[str | None, str] = (None, "")


def fold(s: str) -> str:
    """Key for keyword matching: no diacritics, đ -> d, lower case, single spaces, stripped.

    ``fold("Đăng  ký ") == fold("dang ky") == fold("DANG KY") == "dang ky"``. Compatibility
    forms count as their plain letters (NFKC: the full-width ``ＨＵＹ`` some keyboards give is
    ``huy``) and format characters (Unicode category Cf: a zero-width space in ``S\u200bTOP``,
    a joiner, a direction mark) are dropped, so an opt-out in any spelling is understood. This
    is the one place keywords are normalised (``menus.match.key`` calls it); the text itself
    is stored as received.
    """
    global _last_fold
    last = _last_fold
    if last[0] is s:
        return last[1]
    if s.isascii():
        # No marks, no đ, no compatibility or format characters: lower case and single spaces
        # is the whole fold (keypad phones' texts, every menu choice), 5x faster.
        return " ".join(s.lower().split())
    text = "".join(ch for ch in unicodedata.normalize("NFKC", s) if ch.isascii() or unicodedata.category(ch) != "Cf")
    stripped = _strip_marks(unicodedata.normalize("NFD", text), _LETTERS)
    folded = _SPACES.sub(" ", unicodedata.normalize("NFC", stripped).lower()).strip()
    _last_fold = (s, folded)  # holds ``s``, so no other string can take its identity
    return folded


@functools.lru_cache(maxsize=128)
def khong_dau(s: str) -> str:
    """Text without Vietnamese diacritics, case kept ("Đà Nẵng" -> "Da Nang").

    Also maps curly quotes, dashes, ellipsis, unusual spaces and bullets to GSM-7 characters,
    so the result is GSM-7 unless it holds something with no look-alike (emoji, other
    scripts), which is left as it is.

    Remembered for the last 128 texts: most of what goes out stripped is a menu's or a
    keyword's reply, the same words for every villager, and stripping one costs about 8 µs.
    """
    stripped = _strip_marks(unicodedata.normalize("NFD", s), _KHONG_DAU_REST)
    return unicodedata.normalize("NFC", stripped)
