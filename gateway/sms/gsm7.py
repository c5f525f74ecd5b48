"""GSM 03.38 (3GPP TS 23.038) default alphabet, its extension table, and septet packing.

Written out by hand rather than taken from python-gsmmodem, whose table has a backtick where
``§`` belongs (0x5F). Getting one code point wrong here silently corrupts every message that
uses it, so the tables are literal and tested character by character.
"""

from __future__ import annotations

# The 128 characters of the default alphabet, in septet order. 0x1B is the escape to the
# extension table; it is not a character of its own, so it holds a placeholder here.
_ESC_PLACEHOLDER = "\x1b"
DEFAULT_ALPHABET: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ" + _ESC_PLACEHOLDER + "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(DEFAULT_ALPHABET) == 128

ESCAPE = 0x1B

# Extension table: each of these costs two septets (ESC + code).
EXTENSION: dict[str, int] = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

_BASIC: dict[str, int] = {ch: i for i, ch in enumerate(DEFAULT_ALPHABET) if i != ESCAPE}
_EXT_BY_CODE: dict[int, str] = {code: ch for ch, code in EXTENSION.items()}

#: Characters that cost one septet / two septets; frozensets so ``set(text) <= X`` runs in C.
BASIC_CHARS: frozenset[str] = frozenset(_BASIC)
EXTENSION_CHARS: frozenset[str] = frozenset(EXTENSION)
ALL_CHARS: frozenset[str] = BASIC_CHARS | EXTENSION_CHARS


def is_gsm7(text: str) -> bool:
    """True when every character is in the default alphabet or its extension table."""
    return set(text) <= ALL_CHARS


def septet_cost(ch: str) -> int:
    """Septets one character takes: 1 (default table) or 2 (extension). ValueError otherwise."""
    if ch in _BASIC:
        return 1
    if ch in EXTENSION:
        return 2
    raise ValueError(f"character {ch!r} is not in the GSM 7-bit alphabet")


def septet_count(text: str) -> int:
    """Septets the whole text takes (ValueError if it is not GSM-7)."""
    if not is_gsm7(text):
        bad = next(ch for ch in text if ch not in ALL_CHARS)
        raise ValueError(f"character {bad!r} is not in the GSM 7-bit alphabet")
    return len(text) + sum(text.count(ch) for ch in EXTENSION_CHARS)


class _SeptetTable(dict):
    """``str.translate`` table: each character to its septet(s) as code points below 0x80."""

    def __missing__(self, code_point: int) -> str:
        raise ValueError(f"character {chr(code_point)!r} is not in the GSM 7-bit alphabet")


_SEPTETS = _SeptetTable({ord(ch): chr(code) for ch, code in _BASIC.items()})
_SEPTETS.update({ord(ch): chr(ESCAPE) + chr(code) for ch, code in EXTENSION.items()})


def to_septets(text: str) -> list[int]:
    """Septet values for ``text``, with 0x1B before each extension character."""
    # One C-level pass (str.translate) instead of a Python loop over every character.
    return list(text.translate(_SEPTETS).encode("latin-1"))


def from_septets(septets: list[int]) -> str:
    """Text for septet values.

    Follows TS 23.038's advice for receivers: an escape to an unknown extension code shows the
    default-table character of that code, and a lone trailing escape shows as a space, so a
    sloppy sender's message still reads instead of being lost.
    """
    chars: list[str] = []
    escaped = False
    for value in septets:
        if not 0 <= value <= 0x7F:
            raise ValueError(f"septet out of range: {value}")
        if escaped:
            escaped = False
            ext = _EXT_BY_CODE.get(value)
            if ext is not None:
                chars.append(ext)
            elif value == ESCAPE:
                chars.append(" ")
            else:
                chars.append(DEFAULT_ALPHABET[value])
        elif value == ESCAPE:
            escaped = True
        else:
            chars.append(DEFAULT_ALPHABET[value])
    if escaped:
        chars.append(" ")
    return "".join(chars)


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack septets LSB first into octets, after ``fill_bits`` zero bits (0-6).

    Fill bits align the first septet of text on a septet boundary after a user data header.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    # One big integer, septet i at bit fill_bits + 7*i: far faster in Python than a bit loop.
    big = 0
    for value in reversed(septets):
        big = (big << 7) | (value & 0x7F)
    nbits = fill_bits + 7 * len(septets)
    return (big << fill_bits).to_bytes((nbits + 7) // 8, "little")


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Read ``count`` septets from packed ``data``, skipping ``fill_bits`` leading bits.

    Raises ValueError when ``data`` is too short: the caller must not guess missing text.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError("fill_bits must be 0..6")
    if count < 0:
        raise ValueError("negative septet count")
    needed = (fill_bits + 7 * count + 7) // 8
    if len(data) < needed:
        raise ValueError(f"{count} septets need {needed} octets, {len(data)} present")
    big = int.from_bytes(data[:needed], "little") >> fill_bits
    return [(big >> (7 * i)) & 0x7F for i in range(count)]
