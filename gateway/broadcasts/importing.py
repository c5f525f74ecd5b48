"""Subscriber lists from a spreadsheet: CSV the way Excel really writes it in Vietnam.

What arrives from the commune's computer: "CSV UTF-8" (with a byte-order mark), plain "CSV"
(the Windows code page, cp1258 on a Vietnamese Windows, with tone marks as combining
characters), "Unicode Text" (UTF-16 with tabs), semicolons instead of commas (a locale
whose decimal separator is the comma), headers in Vietnamese ("Số điện thoại", "Họ tên",
"Thôn"), numbers whose leading 0 Excel ate (912345678) or turned into 8.49E+10. Parsing is
pure (bytes in, rows and problems out); ``import_rows`` then writes them.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from sqlite_utils import Database

from gateway import phone
from gateway.broadcasts.subscribers import NO_BASIS, Basis, Member, save_member
from gateway.sms.text import fold
from gateway.storage import write_transaction

MAX_ROWS = 20_000

#: Folded header → field. Anything else is ignored (and reported once).
HEADERS = {
    "number": ("so dien thoai", "sdt", "so dt", "dien thoai", "so", "so di dong", "di dong", "dt", "phone",
               "phone number", "number", "mobile", "so dien thoai di dong", "sđt"),
    "name": ("ho ten", "ho va ten", "ten", "name", "full name", "nguoi dan", "chu ho", "ten chu ho"),
    "village": ("thon", "thon/ban", "thon ban", "thon, ban", "ban", "thon/xom", "xom", "village", "lang",
                "to dan pho", "to", "thon/to"),
    "labels": ("nhom", "nhan", "group", "groups", "label", "labels", "phan loai", "doi tuong"),
    "note": ("ghi chu", "note", "notes", "chu thich"),
}
_FIELD_OF = {fold(h): f for f, names in HEADERS.items() for h in names}
_SCIENTIFIC = re.compile(r"^\d(?:[.,]\d+)?[eE]\+?\d+$")


@dataclass
class Parsed:
    """Rows to import, and problems as (line number in the file, message in Vietnamese)."""

    members: list[Member] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ","
    ignored_columns: list[str] = field(default_factory=list)


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name): BOMs first, then UTF-16 without BOM, UTF-8, the Windows code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8 (BOM)"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), "utf-16"
    sample = data[:2000]
    if sample and sample.count(b"\x00") > len(sample) // 4:
        le = sample[1::2].count(0) > sample[0::2].count(0)
        return data.decode("utf-16-le" if le else "utf-16-be", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1258", errors="replace"), "cp1258"


def _delimiter(text: str) -> str:
    head = "\n".join(text.splitlines()[:5])
    counts = {d: head.count(d) for d in (";", "\t", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse(data: bytes) -> Parsed:
    text, encoding = decode(data)
    text = unicodedata.normalize("NFC", text).lstrip("\ufeff")
    result = Parsed(encoding=encoding, delimiter=_delimiter(text))
    try:  # newline=None: old Mac files end lines with CR alone
        rows = list(csv.reader(io.StringIO(text, newline=None), delimiter=result.delimiter))
    except csv.Error as exc:
        result.problems.append((0, f"Không đọc được tệp CSV: {exc}."))
        return result
    if not rows:
        result.problems.append((0, "Tệp trống."))
        return result
    columns, start = _columns(rows[0])
    if columns is None:
        result.problems.append((1, "Không tìm thấy cột số điện thoại (ví dụ tiêu đề “Số điện thoại”)."))
        return result
    result.ignored_columns = [h.strip() for i, h in enumerate(rows[0]) if start and i not in columns.values()
                              and h.strip()]
    seen: dict[str, Member] = {}
    for line, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        if len(seen) >= MAX_ROWS:
            result.problems.append((line, f"Quá {MAX_ROWS} dòng; phần còn lại chưa nhập."))
            break
        raw = _cell(row, columns, "number")
        number, problem = _number(raw)
        if problem:
            result.problems.append((line, problem))
            continue
        labels = [part.strip() for part in re.split(r"[,;/|]", _cell(row, columns, "labels")) if part.strip()]
        if number in seen:  # the same person twice: one subscriber, groups joined
            seen[number].labels.extend(x for x in labels if x not in seen[number].labels)
            continue
        member = Member(number, _cell(row, columns, "name"), _cell(row, columns, "village"), labels,
                        _cell(row, columns, "note"))
        seen[number] = member
        result.members.append(member)
    return result


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    """The stripped cell of column ``name`` in ``row``; empty when the file has no such column."""
    index = columns.get(name)
    return row[index].strip() if index is not None and index < len(row) else ""


def _columns(header: list[str]) -> tuple[dict[str, int] | None, int]:
    """Column index per field, and the first data row (0 when there is no header row)."""
    columns: dict[str, int] = {}
    for i, title in enumerate(header):
        name = _FIELD_OF.get(fold(title).strip(" :*"))
        if name and name not in columns:
            columns[name] = i
    if "number" in columns:
        return columns, 1
    if header and _number(header[0])[1] is None:  # no header: number, name, village
        return {"number": 0, "name": 1, "village": 2}, 0
    return None, 0


def _number(raw: str) -> tuple[str, str | None]:
    """(E.164, None) or ("", the problem in Vietnamese)."""
    if not raw:
        return "", "Thiếu số điện thoại."
    if _SCIENTIFIC.match(raw.replace(" ", "")):
        return "", f"“{raw}”: Excel đã đổi số thành dạng 8.49E+10; hãy định dạng cột là Văn bản (Text) rồi xuất lại."
    digits = raw[:-2] if raw.endswith(".0") else raw  # 912345678.0 from a number cell
    number = phone.normalise(digits)
    if number.kind != "mobile":
        return "", f"“{raw[:30]}”: không phải số di động Việt Nam."
    return number.value, None


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped_left: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)
    invited: int = 0  # their one invitation is on its way
    given: int = 0  # a consent on paper recorded now
    no_consent: int = 0  # on the list without any consent: they receive nothing


def import_rows(db: Database, parsed: Parsed, now: datetime, by: str | None, basis: Basis = NO_BASIS) -> ImportReport:
    """Write parsed rows in one transaction; numbers that left are never added back.

    Nobody is subscribed by an import: each number without a consent gets what ``basis``
    says (the one invitation, a consent on paper, or nothing yet).
    """
    report = ImportReport(problems=list(parsed.problems))
    with write_transaction(db):
        for member in parsed.members:
            change = save_member(db, member, source="import", now=now, by=by, basis=basis)
            report.invited += change.consent == "invited"
            report.given += change.consent == "given"
            report.no_consent += change.consent in ("none", "already_invited")
            if change.outcome == "added":
                report.added += 1
            elif change.outcome == "refused_left":
                report.skipped_left += 1
            else:
                report.updated += 1
    return report
