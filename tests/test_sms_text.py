"""Vietnamese normalisation, keyword folding and "không dấu"."""

import unicodedata

import pytest

from gateway.sms.segments import plan
from gateway.sms.text import fold, khong_dau, nfc

VOWELS = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # huyền sắc hỏi ngã nặng


def _all_vietnamese_letters():
    """Every precomposed Vietnamese letter (both cases), built from base + marks then NFC."""
    letters = []
    for base in VOWELS:
        decomposed_base = unicodedata.normalize("NFD", base)
        for tone in TONES:
            letters.append(nfc(decomposed_base + tone))
    letters.append("đ")
    return letters + [ch.upper() for ch in letters]


def test_there_are_134_letters_all_single_code_points():
    letters = _all_vietnamese_letters()
    assert len(letters) == 2 * (12 * 6 + 1)
    assert all(len(ch) == 1 for ch in letters)


@pytest.mark.parametrize("letter", _all_vietnamese_letters())
def test_khong_dau_gives_ascii_letter(letter):
    plain = khong_dau(letter)
    assert len(plain) == 1 and plain.isascii() and plain.isalpha()
    assert plain.isupper() == letter.isupper()
    assert khong_dau(unicodedata.normalize("NFD", letter)) == plain


@pytest.mark.parametrize(
    "typed",
    ["Đăng ký", "dang ky", "DANG KY", "  Đăng   ký ", "ĐĂNG KÝ", "đăng\tký\n", "Ðăng ký"],
)
def test_fold_makes_keywords_equal(typed):
    assert fold(typed) == "dang ky"
    assert fold(unicodedata.normalize("NFD", typed)) == "dang ky"


@pytest.mark.parametrize(
    "text, folded",
    [
        ("Tin báo", "tin bao"),
        ("TỪ CHỐI", "tu choi"),
        ("Hủy", "huy"),
        ("Thủ tục CCCD", "thu tuc cccd"),
        ("Trường hợp khẩn cấp", "truong hop khan cap"),
        ("", ""),
    ],
)
def test_fold_examples(text, folded):
    assert fold(text) == folded


def test_decomposed_combining_tone_marks():
    # "Việt" typed with a combining dot below and circumflex (NFD) and with the deprecated
    # Windows-1258-style tone mark U+0341 (acute tone mark).
    assert khong_dau("Vie\u0323\u0302t") == "Viet"
    assert khong_dau("ba\u0341o") == "bao"
    assert nfc("Vie\u0302\u0323t") == "Việt"


def test_khong_dau_keeps_case_and_punctuation():
    assert khong_dau("Đà Nẵng, Thừa Thiên Huế!") == "Da Nang, Thua Thien Hue!"


def test_khong_dau_maps_typography_to_gsm7():
    text = "“Cảnh báo” – lừa đảo… ‘OTP’\u00a0• gọi 113\u2014ngay"
    plain = khong_dau(text)
    assert plain == "\"Canh bao\" - lua dao... 'OTP' - goi 113-ngay"
    assert plan(plain).encoding == "gsm7"


def test_khong_dau_leaves_emoji_whole():
    text = "Cảm ơn 👍🏽 ❤️ 1️⃣ 👨‍👩‍👧"
    assert khong_dau(text) == "Cam on 👍🏽 ❤️ 1️⃣ 👨‍👩‍👧"


def test_khong_dau_of_non_latin_is_unchanged():
    assert khong_dau("한국어 日本語") == "한국어 日本語"


def test_accented_reply_of_three_parts_becomes_one_gsm7_part():
    reply = (
        "Công an xã Tân Phú đã nhận được tin báo của bạn. Chúng tôi sẽ cử cán bộ đến kiểm "
        "tra trong thời gian sớm nhất. Xin cảm ơn bạn đã hợp tác! Gọi 113 nếu khẩn cấp."
    )
    accented = plan(reply)
    assert (accented.encoding, accented.count) == ("ucs2", 3)
    plain = plan(khong_dau(reply))
    assert (plain.encoding, plain.count) == ("gsm7", 1)
    assert plain.parts[0].startswith("Cong an xa Tan Phu da nhan duoc tin bao cua ban.")


def test_fold_takes_compatibility_forms_and_drops_format_characters():
    from gateway.sms.text import fold

    assert fold("ＨＵＹ") == "huy" and fold("ＤＫ") == "dk"
    assert fold("S\u200bTOP") == fold("\ufeffStop\u2060") == "stop" and fold("T\u200bC") == "tc"
    assert fold("Ｄăng  ký") == "dang ky"
    assert fold("Có trộm 🐄\u200d") == "co trom 🐄"  # a joiner after an emoji goes too; the emoji stays
