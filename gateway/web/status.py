"""The dashboard (``/``), its JSON for auto-refresh (``/api/dashboard``) and ``/healthz``.

The page and the JSON are built from the same view dicts (``dashboard_data``), so the HTML
rendered by Jinja and the rows rebuilt by ``static/dashboard.js`` show the same strings.
SMS text goes out as data only: Jinja escapes it, the script sets it with ``textContent``.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, render_template
from sqlite_utils import Database

from gateway.web import current_config, current_services, queries
from gateway.web.filters import label, local_time, mask, shorten, signal_bars, tone
from gateway.web.simulator import panel_context

logger = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

INBOX_ROWS = 20
OUTBOX_ROWS = 20
TIP_ROWS = 10
LIST_TEXT_CHARS = 200
TIP_TEXT_CHARS = 100
REFRESH_SECONDS = 5
TRUSTED_CLOCK_YEAR = 2025

_INBOX_NOTES = {"binary": "Tin nhị phân", "undecodable": "Không giải mã được"}


def modem_view(modem: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The modem card's strings: state, signal bars, operator, SIM storage, last contact."""
    bars = signal_bars(modem["signal"])
    used, total = modem["sim_used"], modem["sim_total"]
    return {
        "state": modem["state"],
        "state_label": label("modem", modem["state"]),
        "tone": tone(modem["state"]),
        "bars": bars,
        "signal_label": f"{bars}/5 (CSQ {modem['signal']})" if bars is not None else "Không rõ",
        "operator": modem["operator"] or "—",
        "registered_label": "Đã đăng ký" if modem["registered"] else "Chưa đăng ký",
        "sim": f"{used}/{total}" if used is not None and total is not None else "—",
        "last_contact": local_time(modem["last_contact"], tz) or "—",
        "error": modem["error"] or "",
        "port": modem["port"] or "",
    }


def inbox_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    notes = []
    if row["kind"] in _INBOX_NOTES:
        notes.append(_INBOX_NOTES[row["kind"]])
    elif not row["text"]:
        notes.append("Tin trống")
    if row["partial"]:
        notes.append("Thiếu phần")
    return {
        "id": row["id"],
        "time": row["received_at"],
        "time_display": local_time(row["received_at"], tz),
        "sender": mask(row["sender"]),
        "text": shorten(row["text"], LIST_TEXT_CHARS),
        "note": ", ".join(notes),
        "status": row["status"],
        "status_label": label("inbox", row["status"]),
        "tone": tone(row["status"]),
        "handler": row["handler"] or "—",
    }


def outbox_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": row["created_at"],
        "time_display": local_time(row["created_at"], tz),
        "number": mask(row["number"]),
        "text": shorten(row["text"], LIST_TEXT_CHARS),
        "note": "" if row["text"] else "Tin trống",
        "kind": row["kind"],
        "kind_label": label("outbox_kind", row["kind"]),
        "status": row["status"],
        "status_label": label("outbox", row["status"]),
        "tone": tone(row["status"]),
        "parts": f"{row['parts_sent']}/{row['parts_total']}",
    }


def tip_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "reference": row["reference"],
        "time": row["received_at"],
        "time_display": local_time(row["received_at"], tz),
        "tipster": mask(row["tipster"]),
        "text": shorten(row["text_start"], TIP_TEXT_CHARS),
        "note": "" if row["text_start"] else "Tin trống",
        "status": row["status"],
        "status_label": label("tip", row["status"]),
        "tone": tone(row["status"]),
    }


def dashboard_data(db: Database, tz: ZoneInfo) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready dicts (numbers already masked)."""
    now = datetime.now(timezone.utc)
    return {
        "modem": modem_view(queries.modem_state(db), tz),
        "queues": queries.queue_depths(db),
        "inbox": [inbox_view(row, tz) for row in queries.recent_inbox(db, INBOX_ROWS)],
        "outbox": [outbox_view(row, tz) for row in queries.recent_outbox(db, OUTBOX_ROWS)],
        "tips": [
            # One character more than shown, so shorten() knows when to add "…".
            tip_view(row, tz) for row in queries.recent_tips(db, TIP_ROWS, TIP_TEXT_CHARS + 1)
        ],
        "generated_at": now.isoformat(),
        "generated_display": now.astimezone(tz).strftime("%H:%M:%S"),
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def dashboard() -> str:
    config = current_config()
    data = dashboard_data(current_services().db.get(), config.timezone)
    return render_template(
        "status/dashboard.html",
        data=data,
        refresh_seconds=REFRESH_SECONDS,
        **panel_context(),
    )


@bp.get("/api/dashboard")
def dashboard_json() -> Response:
    config = current_config()
    return _no_store(jsonify(dashboard_data(current_services().db.get(), config.timezone)))


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Health for monitoring and the watchdog: nothing personal, 200 only when all is well."""
    config, services = current_config(), current_services()
    database_ok = True
    try:
        db = services.db.get()
        modem = queries.modem_state(db)
        queues: dict[str, int | None] = dict(queries.queue_depths(db))
    except sqlite3.Error:
        logger.exception("healthz could not read the database")
        database_ok = False
        modem = {"state": "unknown", "signal": None, "registered": False}
        queues = dict.fromkeys(("inbox_queued", "outbox_queued", "outbox_failed", "tips_new"))
    now = datetime.now(timezone.utc)
    healthy = database_ok and modem["state"] == "connected"
    body = {
        "status": "ok" if healthy else "degraded",
        "version": services.version,
        "gateway_id": config.gateway.id,
        "modem": {
            "state": modem["state"],
            "signal": modem["signal"],
            "registered": modem["registered"],
        },
        "queues": queues,
        "database": "ok" if database_ok else "error",
        "clock_trusted": now.year >= TRUSTED_CLOCK_YEAR,
        "time": now.isoformat(),
    }
    return _no_store(jsonify(body)), 200 if healthy else 503
