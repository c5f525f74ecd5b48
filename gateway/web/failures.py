"""Messages the router failed on (``/inbox/failed``) and the officers' "retry" for each.

The router tries a message it failed on again with the one back-off (``gateway.inbox``); after
the limit the row is ``failed`` and listed here, with its error. "Retry" queues it for one
more try (``inbox.retry``), audited; the router sees it within a second. The villager already
got one plain acknowledgement when the first try failed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from gateway import inbox
from gateway.web.auth import record_request, role_required
from gateway.web.filters import local_time, mask, shorten
from gateway.web.nav import register_area
from gateway.web.services import current_config, current_services

bp = Blueprint("failures", __name__)

ROWS_SHOWN = 100
TEXT_CHARS = 200


def register(app: Flask) -> None:
    register_area(app, bp)  # reached from the dashboard's alert, not the menu bar


def row_view(row: dict[str, Any]) -> dict[str, Any]:
    tz = current_config().timezone
    return {
        "id": row["id"],
        "time_display": local_time(row["received_at"], tz),
        "sender": mask(row["sender"]),
        "text": shorten(row["text"], TEXT_CHARS),
        "attempts": row["attempts"],
        "error": row["last_error"] or "",
    }


@bp.get("/inbox/failed")
@role_required("viewer")
def page() -> str:
    db = current_services().db.get()
    rows = [row_view(row) for row in inbox.failed(db, ROWS_SHOWN)]
    return render_template("failures/page.html", rows=rows, retrying=inbox.retrying_count(db))


@bp.post("/inbox/<int:inbox_id>/retry")
@role_required("officer")
def retry(inbox_id: int) -> Any:
    db = current_services().db.get()
    if not inbox.retry(db, inbox_id):
        abort(404)
    record_request("inbox.retry", f"inbox {inbox_id}")
    flash(_("Đã yêu cầu xử lý lại tin nhắn này."), "ok")
    return redirect(url_for("failures.page"), code=303)
