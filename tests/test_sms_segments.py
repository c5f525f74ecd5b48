"""GSM-7 tables and segment counting at the exact limits the network applies."""

import random
import timeit

import pytest

from gateway.sms import gsm7
from gateway.sms.segments import count_parts, plan

# ---------------------------------------------------------------------------- GSM-7 tables


def test_section_sign_is_5f_and_backtick_is_not_gsm7():
    assert gsm7.to_septets("§") == [0x5F]
    assert gsm7.from_septets([0x5F]) == "§"
    assert not gsm7.is_gsm7("`")
    with pytest.raises(ValueError):
        gsm7.septet_cost("`")


@pytest.mark.parametrize("ch", list("€[]{}^~\\|\f"))
def test_extension_characters_cost_two_septets(ch):
    assert gsm7.septet_cost(ch) == 2
    septets = gsm7.to_septets(ch)
    assert len(septets) == 2 and septets[0] == 0x1B
    assert gsm7.from_septets(septets) == ch


def test_default_table_landmarks():
    # A few code points that home-made tables get wrong.
    assert gsm7.to_septets("@£$¥") == [0x00, 0x01, 0x02, 0x03]
    assert gsm7.to_septets("Ç\nØ\r") == [0x09, 0x0A, 0x0B, 0x0D]
    assert gsm7.to_septets("Δ_ΦΓ") == [0x10, 0x11, 0x12, 0x13]
    assert gsm7.to_septets("¤¡¿à") == [0x24, 0x40, 0x60, 0x7F]
    assert gsm7.to_septets("ÄÖÑÜäöñü") == [0x5B, 0x5C, 0x5D, 0x5E, 0x7B, 0x7C, 0x7D, 0x7E]
    assert len(gsm7.BASIC_CHARS) == 127 and len(gsm7.EXTENSION_CHARS) == 10


def test_vietnamese_letters_in_default_table():
    assert gsm7.is_gsm7("àèéìòùÉ")
    assert not gsm7.is_gsm7("á")  # á, ả, ã, ạ ... are not
    assert not gsm7.is_gsm7("đ")


def test_septet_cost_of_plain_and_foreign():
    assert gsm7.septet_cost("a") == 1
    with pytest.raises(ValueError):
        gsm7.septet_cost("ă")


def test_unknown_escape_reads_as_default_character_and_lone_escape_as_space():
    assert gsm7.from_septets([0x1B, 0x41]) == "A"
    assert gsm7.from_septets([0x41, 0x1B]) == "A "


def test_pack_known_vector():
    # "hellohello" as in every PDU tutorial (also gammu-at-sms-09 in the corpus).
    assert gsm7.pack_septets(gsm7.to_septets("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


@pytest.mark.parametrize("fill", range(7))
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 153, 160])
def test_pack_unpack_round_trip(fill, n):
    rng = random.Random(n * 10 + fill)
    septets = [rng.randrange(128) for _ in range(n)]
    packed = gsm7.pack_septets(septets, fill)
    assert len(packed) == (fill + 7 * n + 7) // 8
    assert gsm7.unpack_septets(packed, n, fill) == septets


def test_unpack_refuses_short_data():
    with pytest.raises(ValueError):
        gsm7.unpack_septets(b"\x00" * 6, 8)


# ---------------------------------------------------------------------------- segments


@pytest.mark.parametrize(
    "text, encoding, count, units",
    [
        ("", "gsm7", 1, 0),
        ("a" * 160, "gsm7", 1, 160),
        ("a" * 161, "gsm7", 2, 161),
        ("a" * 306, "gsm7", 2, 306),
        ("a" * 307, "gsm7", 3, 307),
        ("€" * 80, "gsm7", 1, 160),
        ("€" * 81, "gsm7", 2, 162),
        ("ă" * 70, "ucs2", 1, 70),
        ("ă" * 71, "ucs2", 2, 71),
        ("ă" * 201, "ucs2", 3, 201),
        ("ă" * 202, "ucs2", 4, 202),
        ("😀" * 35, "ucs2", 1, 70),
        ("😀" * 36, "ucs2", 2, 72),
        ("a" * 159 + "`", "ucs2", 3, 160),
    ],
)
def test_boundaries(text, encoding, count, units):
    p = plan(text)
    assert (p.encoding, p.count, p.units) == (encoding, count, units)
    assert count_parts(text) == count
    assert "".join(p.parts) == text


def test_empty_text_is_one_part():
    assert plan("").parts == ("",)


def test_gsm7_parts_are_153_septets():
    p = plan("x" * 153 * 2 + "y")
    assert [len(part) for part in p.parts] == [153, 153, 1]


def test_ucs2_parts_are_67_units():
    p = plan("ư" * 67 * 3)
    assert [len(part) for part in p.parts] == [67, 67, 67]


def test_extension_char_never_split_at_a_boundary():
    # 152 plain + € = 154 septets: the € does not fit in the first 153-septet part.
    p = plan("a" * 152 + "€" + "b" * 10)
    assert p.parts == ("a" * 152, "€" + "b" * 10)
    # 151 + € = 153 exactly fits.
    p = plan("a" * 151 + "€" + "b" * 10)
    assert p.parts[0] == "a" * 151 + "€"


def test_extension_char_pushing_single_over_160():
    assert plan("a" * 158 + "[").count == 1  # 160 septets
    assert plan("a" * 159 + "[").count == 2  # 161 septets


def test_emoji_never_split_at_a_boundary():
    assert plan("a" * 68 + "😀").count == 1  # 70 units
    p = plan("a" * 69 + "😀")  # 71 units
    assert p.count == 2
    p = plan("ă" * 66 + "😀" + "b" * 10)
    assert p.parts == ("ă" * 66, "😀" + "b" * 10)


def test_forced_encoding():
    assert plan("hello", "ucs2").encoding == "ucs2"
    with pytest.raises(ValueError):
        plan("ă", "gsm7")


def _part_cost(part, encoding):
    if encoding == "gsm7":
        return sum(gsm7.septet_cost(ch) for ch in part)
    return len(part.encode("utf-16-be")) // 2


def test_random_texts_split_within_limits():
    rng = random.Random(2025)
    alphabets = ["abc €[", "abc", "aăâđ😀 ", "xyz😀"]
    for _ in range(300):
        chars = rng.choice(alphabets)
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 700)))
        p = plan(text)
        assert "".join(p.parts) == text
        limit = {"gsm7": (160, 153), "ucs2": (70, 67)}[p.encoding]
        if p.count == 1:
            assert _part_cost(text, p.encoding) <= limit[0]
        else:
            assert all(0 < _part_cost(part, p.encoding) <= limit[1] for part in p.parts)
            # Greedy: no part could have taken the next character.
            for part, nxt in zip(p.parts, p.parts[1:], strict=False):
                assert _part_cost(part + nxt[0], p.encoding) > limit[1]


def test_plan_is_fast():
    # Runs for every reply. Measured about 5 us here; the bound only catches a regression
    # to something quadratic or a per-call table build, even on a Raspberry Pi.
    text = ("Cong an xa da nhan tin bao cua ban. " * 5)[:160]
    per_call = timeit.timeit(lambda: plan(text), number=2000) / 2000
    assert per_call < 1e-3
