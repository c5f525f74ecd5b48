"""Subscriber lists as the commune's Excel really exports them, and the import rules."""

from __future__ import annotations

import csv
import io
import unicodedata
from datetime import UTC, datetime

import pytest
from conftest import ON_PAPER, make_config, rows

from gateway.broadcasts import subscribers
from gateway.broadcasts.importing import import_rows, parse
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb, write_transaction

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SHEET = [
    ["Số điện thoại", "Họ và tên", "Thôn", "Nhóm"],
    ["0912 345 678", "Giàng A Páo", "Na Hối", "Hội phụ nữ, Trưởng thôn"],
    ["912345679", "Lò Thị Mai", "Thôn Cốc Lầu", ""],  # Excel ate the leading 0
    ["+84 98 765 4321", "Vàng Seo Sử", "na hoi", ""],
]


def as_csv(rows_: list[list[str]], sep: str) -> str:
    """As Excel writes it: CRLF, fields with the separator in quotes."""
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\r\n").writerows(rows_)
    return out.getvalue()


def cp1258(text: str) -> bytes:
    """What Windows writes for Vietnamese in its ANSI code page: letters with circumflex,
    breve or horn are one byte, the tone mark follows as a combining character."""
    out = []
    for ch in text:
        try:
            out.append(ch.encode("cp1258"))
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", ch)
        for mark in [m for m in marks if m in "\u0302\u0306\u031b"]:
            base = unicodedata.normalize("NFC", base + mark)
            marks.remove(mark)
        out.append((base + "".join(marks)).encode("cp1258"))
    return b"".join(out)


@pytest.mark.parametrize(
    "data, encoding",
    [
        (as_csv(SHEET, ",").encode("utf-8-sig"), "utf-8 (BOM)"),  # Excel "CSV UTF-8"
        (as_csv(SHEET, ";").encode("utf-8-sig"), "utf-8 (BOM)"),  # a comma-decimal locale
        (as_csv(SHEET, "\t").encode("utf-16"), "utf-16"),  # "Unicode Text"
        (as_csv(SHEET, "\t").encode("utf-16-le"), "utf-16"),  # the same, without a BOM
        (as_csv(SHEET, ",").encode("utf-8"), "utf-8"),
        (cp1258(as_csv(SHEET, ",")), "cp1258"),  # plain "CSV" on a Vietnamese Windows
    ],
    ids=["utf8-bom", "semicolon", "utf16", "utf16-no-bom", "utf8", "cp1258"],
)
def test_excel_exports_all_read_the_same(data, encoding):
    parsed = parse(data)
    assert parsed.encoding == encoding and parsed.problems == []
    assert [(m.number, m.name, m.village, m.labels) for m in parsed.members] == [
        ("+84912345678", "Giàng A Páo", "Na Hối", ["Hội phụ nữ", "Trưởng thôn"]),
        ("+84912345679", "Lò Thị Mai", "Thôn Cốc Lầu", []),
        ("+84987654321", "Vàng Seo Sử", "na hoi", []),
    ]


def test_cp1258_with_combining_tone_marks_comes_out_composed():
    raw = cp1258("SĐT,Thôn\n0912345678,Nậm Đét\n")
    assert "\u0323".encode("cp1258") in raw  # the dot below is a separate byte in the file
    parsed = parse(raw)
    assert parsed.encoding == "cp1258"
    assert parsed.members[0].village == "Nậm Đét"  # composed (NFC), so "thôn" matching works


def test_bad_rows_are_reported_with_their_line_and_the_rest_imported():
    data = "SĐT;Tên\n8.49123E+10;A\n0241 3823 456;B\nabc;C\n;\n0912345678;D\n0912345678;D again\n".encode()
    parsed = parse(data)
    assert [m.number for m in parsed.members] == ["+84912345678"]
    lines = [line for line, _ in parsed.problems]
    assert lines == [2, 3, 4]
    assert "Văn bản" in parsed.problems[0][1]  # tells the officer how to fix the Excel column


def test_no_header_means_number_name_village():
    parsed = parse("0912345678,Giàng A Páo,Na Hối\n0987654321,Lò Thị Mai,Cốc Lầu\n".encode())
    assert [(m.number, m.village) for m in parsed.members] == [("+84912345678", "Na Hối"), ("+84987654321", "Cốc Lầu")]


def test_a_file_without_numbers_says_so():
    parsed = parse("Họ tên,Thôn\nA,B\n".encode())
    assert parsed.members == [] and "số điện thoại" in parsed.problems[0][1]


def test_import_groups_by_village_and_never_re_adds_a_number_that_left(tmp_path):
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    db = ThreadLocalDb(config.storage_path).get()
    with write_transaction(db):
        subscribers.leave(db, "+84987654321", "sms", NOW)  # texted TC before the list came
    report = import_rows(db, parse(as_csv(SHEET, ",").encode("utf-8-sig")), NOW, "officer", ON_PAPER)
    assert (report.added, report.updated, report.skipped_left, report.given) == (2, 0, 1, 2)
    assert rows(config.storage_path, "SELECT name, kind FROM subscriber_groups ORDER BY id") == [
        ("Na Hối", "village"), ("Hội phụ nữ", "label"), ("Trưởng thôn", "label"), ("Thôn Cốc Lầu", "village")]
    assert rows(config.storage_path, "SELECT number, status, source FROM subscribers ORDER BY number") == [
        ("+84912345678", "subscribed", "import"), ("+84912345679", "subscribed", "import"),
        ("+84987654321", "left", "sms")]
    # the same file again: nothing new, nobody who left comes back
    again = import_rows(db, parse(as_csv(SHEET, ";").encode("utf-8-sig")), NOW, "officer")
    assert (again.added, again.updated, again.skipped_left) == (0, 2, 1)
    # an officer cannot add back someone who left by SMS; one an officer removed, yes
    with write_transaction(db):
        refused = subscribers.save_member(db, subscribers.Member("+84987654321"), source="officer", now=NOW)
        subscribers.leave(db, "+84912345679", "officer", NOW, by="officer")
        back = subscribers.save_member(db, subscribers.Member("+84912345679", village="Cốc Lầu"), source="officer",
                                       now=NOW, replace_groups=True, basis=ON_PAPER)
    assert (refused.outcome, back.outcome) == ("refused_left", "rejoined")
    assert subscribers.audience_size(db, [1], everyone=False) == 1  # Na Hối: one subscribed
    assert subscribers.audience_size(db, [], everyone=True) == 2
