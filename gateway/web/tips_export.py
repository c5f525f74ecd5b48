"""The tips list as a CSV file that Excel opens with Vietnamese intact (UTF-8 with a BOM).

The tips page (``gateway.web.tips``, route ``/tips/export.csv``) checks who asks, audits the
export and hands the filtered list here.

Numbers are masked unless an admin asks for them in full; either way the export is written
to the audit log with its filters, since a file leaves the post's control once downloaded.
Cells that Excel would run as a formula (``=``, ``+``, ``-``, ``@``) get a leading apostrophe:
the text came by SMS from anyone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response, stream_with_context
from flask_babel import gettext as _
from sqlite_utils import Database

from gateway import phone
from gateway.tips import search
from gateway.web.filters import label, local_time, mask

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """A cell's text, defused so a spreadsheet never evaluates it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def full_number(number: str) -> str:
    """A readable full number that Excel keeps as text (``0912 345 678``, leading 0 kept)."""
    n = phone.normalise(number)
    if n.is_vietnamese:
        digits = phone.national(n.value)
        return f"{digits[:4]} {digits[4:7]} {digits[7:]}"
    return n.value


def _lines(rows: Iterator[dict[str, Any]], full: bool, tz: Any) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([_("Mã"), _("Thời gian"), _("Người báo"), _("Thôn"), _("Trạng thái"),
                     _("Người xử lý"), _("Nội dung")])
    yield "\ufeff" + flush()
    for count, row in enumerate(rows, 1):
        writer.writerow([
            safe_cell(row["reference"]),
            local_time(row["received_at"], tz),
            safe_cell(full_number(row["tipster"]) if full else mask(row["tipster"])),
            safe_cell(row["village"]),
            label("tip", row["status"]),
            safe_cell(row["assigned_to"]),
            safe_cell(row["text"]),
        ])
        if count % 500 == 0:
            yield flush()
    yield flush()


def csv_response(db: Database, where: search.TipFilter, full: bool, tz: Any) -> Response:
    """The tips matching ``where`` as a download (streamed: a long list is never held whole)."""
    stamp = datetime.now(tz).strftime("%Y%m%d-%H%M")
    body = stream_with_context(_lines(search.iter_tips(db, where), full, tz))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="tin-bao-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
