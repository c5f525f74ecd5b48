"""Phone numbers: every spelling of one villager's number is one E.164 value; non-people are
kept as received and never auto-answered."""

import pytest

from gateway.phone import HOTLINES, MOBILE_PREFIXES, Number, grouped, mask, national, normalise


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "0912 345 678",
        "0912.345.678",
        "0912-345-678",
        "+84912345678",
        "+84 912 345 678",
        "84912345678",
        "0084912345678",
        "00 84 912 345 678",
        "+84 (0) 912 345 678",  # the extra trunk 0 people add after +84
        "840912345678",
        "  0912345678\n",
        "912345678",  # a spreadsheet ate the leading 0
        "０９１２３４５６７８",  # full-width digits from some phone keyboards
        "0912\u00a0345\u00a0678",
    ],
)
def test_spellings_of_one_mobile_number(raw):
    assert normalise(raw) == Number("+84912345678", "mobile")


@pytest.mark.parametrize(
    "national_prefix, network",
    [
        ("032", "Viettel"), ("039", "Viettel"), ("086", "Viettel"), ("096", "Viettel"),
        ("098", "Viettel"), ("070", "MobiFone"), ("076", "MobiFone"), ("079", "MobiFone"),
        ("089", "MobiFone"), ("090", "MobiFone"), ("093", "MobiFone"), ("081", "VinaPhone"),
        ("085", "VinaPhone"), ("088", "VinaPhone"), ("091", "VinaPhone"), ("094", "VinaPhone"),
        ("052", "Vietnamobile"), ("056", "Vietnamobile"), ("058", "Vietnamobile"),
        ("092", "Vietnamobile"), ("059", "Gmobile"), ("099", "Gmobile"), ("087", "iTel"),
        ("055", "Wintel"),
    ],
)
def test_every_current_mobile_prefix(national_prefix, network):
    number = normalise(national_prefix + "1234567")
    assert number == Number("+84" + national_prefix[1:] + "1234567", "mobile")
    assert number.can_auto_reply
    assert MOBILE_PREFIXES[national_prefix[1:]] == network


@pytest.mark.parametrize("raw", ["0311234567", "0801234567", "0951234567", "0121234567"])
def test_unknown_or_retired_mobile_prefixes_are_invalid(raw):
    # 031, 080, 095 are not mobile prefixes; 0121... is an old 11-digit-era prefix cut short.
    number = normalise(raw)
    assert number.kind == "invalid"
    assert number.value == raw
    assert not number.can_auto_reply


def test_retired_eleven_digit_mobile_is_invalid():
    # 0168 became 038 in 2018; we do not guess the conversion.
    assert normalise("01681234567").kind == "invalid"


@pytest.mark.parametrize(
    "raw, value",
    [
        ("02143 812 345", "+842143812345"),  # Lào Cai: 0214 + 7 digits
        ("024 3825 1234", "+842438251234"),  # Hà Nội: 024 + 8 digits
        ("+84 28 3829 1234", "+842838291234"),  # TP HCM
        ("842143812345", "+842143812345"),
    ],
)
def test_landlines_are_people(raw, value):
    number = normalise(raw)
    assert number == Number(value, "landline")
    assert number.can_auto_reply


@pytest.mark.parametrize("raw", ["024381234", "0214381234567"])
def test_landline_with_wrong_length_is_invalid(raw):
    assert normalise(raw).kind == "invalid"


@pytest.mark.parametrize(
    "raw, value",
    [
        ("+12025550123", "+12025550123"),
        ("+1 (202) 555-0123", "+12025550123"),
        ("0012025550123", "+12025550123"),
        ("+8613812345678", "+8613812345678"),  # China, common near Lào Cai
        ("+856 20 5555 1234", "+8562055551234"),  # Laos
    ],
)
def test_international_numbers(raw, value):
    number = normalise(raw)
    assert number == Number(value, "international")
    assert number.can_auto_reply


@pytest.mark.parametrize("raw", ["+1", "+1234567", "+1234567890123456", "+0912345678", "+"])
def test_international_too_short_or_too_long_is_invalid(raw):
    assert normalise(raw).kind == "invalid"


@pytest.mark.parametrize(
    "raw", ["5656", "199", "9000", "1789", "888888", "19001234", "1800 1091", "1900545415"]
)
def test_short_codes_are_kept_and_never_answered(raw):
    number = normalise(raw)
    assert number.kind == "short_code"
    assert number.value == raw
    assert not number.can_auto_reply


@pytest.mark.parametrize("raw", ["113", "114", "115", "112"])
def test_emergency_numbers_are_never_answered(raw):
    number = normalise(raw)
    assert number == Number(raw, "emergency")
    assert not number.can_auto_reply


@pytest.mark.parametrize(
    "raw",
    ["VIETTEL", "MobiFone", "VinaPhone", "Vietnamobile", " BIDV ", "CA LAO CAI", "0912abc678",
     "Cong an xa Coc Lau"],
)
def test_alphanumeric_senders_are_kept_as_received(raw):
    number = normalise(raw)
    assert number == Number(raw.strip(), "alphanumeric")
    assert not number.can_auto_reply


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "0", "09", "091234567", "09123456789", "0912345678901234", "+84", "+8491234567890",
     "*101#", "0912++345678", "٠٩١٢٣٤٥٦٧٨"],
)
def test_invalid(raw):
    number = normalise(raw)
    assert number.kind == "invalid"
    assert number.value == raw.strip()
    assert not number.can_auto_reply


def test_none_is_invalid_not_a_crash():
    assert normalise(None).kind == "invalid"  # type: ignore[arg-type]


def test_number_is_frozen_and_prints_its_value():
    number = normalise("0912345678")
    assert str(number) == "+84912345678"
    with pytest.raises(AttributeError):
        number.value = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+84912345678", "0912345678"),
        ("0084 912 345 678", "0912345678"),
        ("+842143812345", "02143812345"),
        ("+12025550123", "+12025550123"),
        ("5656", "5656"),
        ("VIETTEL", "VIETTEL"),
    ],
)
def test_national(raw, expected):
    assert national(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("+84912345678", "0*** *** *78"),
        ("0912345678", "0*** *** *78"),
        ("+842143812345", "0*** **** *45"),
        ("+12025550123", "+*** ***** *23"),
        ("5656", "5656"),
        ("113", "113"),
        ("VIETTEL", "VIETTEL"),
        ("0912abc678", "0912abc678"),  # alphanumeric senders are not personal
        ("091234567", "0******67"),  # invalid, but maybe a mistyped number: hide the middle
        ("+1", "**"),
        ("", ""),
    ],
)
def test_mask(raw, expected):
    assert mask(raw) == expected


def test_mask_shows_a_person_only_by_the_last_two_digits():
    for raw in ("0912345678", "+842143812345", "+8613812345678", "091234567"):
        masked = mask(raw).replace(" ", "")
        spelled = national(raw)
        assert len(masked) == len(spelled) and masked[-2:] == spelled[-2:]
        assert [ch for ch in masked[1:-2] if ch != "*"] == []  # nothing between the lead and the tail


def test_one_mask_covers_a_hundred_numbers():
    # The mask is not an identifier: every number ending in 21 looks the same.
    masks = {mask(f"0987{middle:04d}21") for middle in range(0, 10_000, 37)} | {mask("0912000021")}
    assert masks == {"0*** *** *21"}


@pytest.mark.parametrize(
    "raw, value",
    [
        ("069 2693 113", "+84692693113"),  # the police network's numbers, published by police units
        ("0692.693.113", "+84692693113"),
        ("+84 69 2693 113", "+84692693113"),
    ],
)
def test_police_network_numbers_are_landlines(raw, value):
    assert normalise(raw) == Number(value, "landline")
    assert national(raw) == "0692693113"


@pytest.mark.parametrize("raw", ["069 269 311", "069 2693 1134"])
def test_police_network_numbers_of_the_wrong_length_are_invalid(raw):
    assert normalise(raw).kind == "invalid"


@pytest.mark.parametrize("raw", ["111", "112", "113", "114", "115"])
def test_hotlines_are_never_answered_and_never_a_person(raw):
    assert raw in HOTLINES
    number = normalise(raw)
    assert number.kind == "emergency" and not number.can_auto_reply


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("0912 345 111", "0912 345 111"),  # the officer's grouping is kept
        ("0912.345.111", "0912.345.111"),
        ("0912  345   111", "0912 345 111"),
        ("09 1234 5111", "09 1234 5111"),
        ("0912345111", "0912 345 111"),  # no grouping typed: the usual one
        ("+84912345111", "0912 345 111"),
        ("84 912 345 111", "0912 345 111"),  # not a domestic spelling: the usual one
        ("02143880113", "0214 3880 113"),
        ("0214 3880 113", "0214 3880 113"),
        ("02438251234", "024 3825 1234"),
        ("0692693113", "069 2693 113"),
        ("069 2693 113", "069 2693 113"),
        ("113", "113"),
        (" 113 ", "113"),
        ("+12025550123", "+12025550123"),
        ("5656", "5656"),
    ],
)
def test_grouped_keeps_what_was_typed_or_groups_it_for_reading(raw, shown):
    assert grouped(raw) == shown
    assert normalise(grouped(raw)) == normalise(raw)  # the same number, only easier to read
