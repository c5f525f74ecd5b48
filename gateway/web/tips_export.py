"""The tips list as a CSV file that Excel opens with Vietnamese intact (UTF-8 with a BOM).

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

from flask import Response, abort, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user

from gateway import phone
from gateway.tips import search
from gateway.web import audit, current_config, current_services
from gateway.web.auth import role_required
from gateway.web.filters import label, local_time, mask
from gateway.web.tips import bp, read_filters

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


@bp.get("/tips/export.csv")
@role_required("officer")
def export() -> Response:
    full = request.args.get("full") == "1"
    if full and not current_user.can("admin"):
        audit.record_request(audit.ACCESS_DENIED, request.path, {"needs": "admin", "full": True})
        abort(403)
    config, services = current_config(), current_services()
    where, shown = read_filters(request.args, config.timezone)
    audit.record_request(
        "tip.export_full" if full else "tip.export", "",
        {key: value for key, value in shown.items() if value} | {"full_numbers": full},
    )
    db = services.db.get()
    stamp = datetime.now(config.timezone).strftime("%Y%m%d-%H%M")
    body = stream_with_context(_lines(search.iter_tips(db, where), full, config.timezone))
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="tin-bao-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )
