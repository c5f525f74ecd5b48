"""The dashboard (``/``), its JSON for auto-refresh (``/api/dashboard``) and ``/healthz``.

The page and the JSON are built from the same view dicts (``dashboard_data``), so the HTML
rendered by Jinja and the rows rebuilt by ``static/dashboard.js`` show the same strings.
SMS text goes out as data only: Jinja escapes it, the script sets it with ``textContent``.

Every figure is read through the area that owns it (inbox, outbox, tips, the sync queue, the
modem's published state). A database that cannot be read is an error on the page (503, see
``gateway.web.create_app``) and ``database: error`` in ``/healthz``, never a row of zeros.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, jsonify, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from gateway import inbox, outbox, state, tips
from gateway.broadcasts.clock import STATE_KEY as CLOCK_STATE_KEY
from gateway.errors import ConfigError
from gateway.modem import status as modem_status
from gateway.sync import queue as sync_queue
from gateway.sync import report as sync_report
from gateway.web import charts, current_config, current_services
from gateway.web.filters import handler_label, label, local_time, mask, shorten, signal_bars, tone
from gateway.web.simulator import panel_context

logger = logging.getLogger(__name__)

bp = Blueprint("status", __name__)

INBOX_ROWS = 20
OUTBOX_ROWS = 20
TIP_ROWS = 10
LIST_TEXT_CHARS = 200
TIP_TEXT_CHARS = 100
REFRESH_SECONDS = 5
SIM_NEARLY_FULL = 0.8

_INBOX_NOTES = {"binary": _l("Tin nhị phân"), "undecodable": _l("Không giải mã được")}


def modem_view(modem: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The modem card's strings: state, signal bars, operator, SIM storage, last contact."""
    bars = signal_bars(modem["signal"])
    used, total = modem["sim_used"], modem["sim_total"]
    return {
        "state": modem["state"],
        "state_label": label("modem", modem["state"]),
        "tone": tone(modem["state"]),
        "bars": bars,
        "signal_label": f"{bars}/5 (CSQ {modem['signal']})" if bars is not None else _("Không rõ"),
        "operator": modem["operator"] or "—",
        "registered_label": _("Đã đăng ký") if modem["registered"] else _("Chưa đăng ký"),
        "sim": f"{used}/{total}" if used is not None and total is not None else "—",
        "last_contact": local_time(modem["last_contact"], tz) or "—",
        "error": modem["error"] or "",
        "port": modem["port"] or "",
    }


def menu_titles() -> dict[str, str]:
    """The menu items' titles in use ("1.3" → its title), to name items instead of numbers.

    The book is built once per saved menu version (``menus.versions.current``) and kept on
    the app; a menu that no longer loads leaves the numbers as they are.
    """
    from flask import current_app

    from gateway.menus import versions

    config = current_config()
    try:
        version = versions.current(current_services().db.get(), config.menus_path)
    except ConfigError:
        return {}
    cache = current_app.extensions.setdefault("tinbao_menu_titles", {})
    if version.id not in cache:
        try:
            book = versions.check(version.sources, **versions.book_options(config, current_services().menus_reserved))
        except ConfigError:
            book = None
        cache.clear()
        cache[version.id] = book
    book = cache[version.id]
    return book.titles() if book is not None else {}


def inbox_view(row: dict[str, Any], tz: ZoneInfo, titles: dict[str, str] | None = None) -> dict[str, Any]:
    notes = []
    if row["kind"] in _INBOX_NOTES:
        notes.append(str(_INBOX_NOTES[row["kind"]]))
    elif not row["text"]:
        notes.append(_("Tin trống"))
    if row["partial"]:
        notes.append(_("Thiếu phần"))
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
        "handler": handler_label(row["handler"], titles),
    }


def outbox_view(row: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": row["created_at"],
        "time_display": local_time(row["created_at"], tz),
        "number": mask(row["number"]),
        "text": shorten(row["text"], LIST_TEXT_CHARS),
        "note": "" if row["text"] else _("Tin trống"),
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
        "url": url_for("tips.show", reference=row["reference"]),
        "time": row["received_at"],
        "time_display": local_time(row["received_at"], tz),
        "tipster": mask(row["tipster"]),
        "text": shorten(row["text_start"], TIP_TEXT_CHARS),
        "note": "" if row["text_start"] else _("Tin trống"),
        "status": row["status"],
        "status_label": label("tip", row["status"]),
        "tone": tone(row["status"]),
    }


def clock_trusted(db: Database | None, now: datetime) -> bool:
    """The clock's own verdict (state 'clock', when something keeps it), else a sanity check.

    A Pi has no battery-backed clock: after a power cut without network time it may think it
    is 1970, and every tip would be stamped wrong until somebody notices.
    """
    from gateway.clock import trusted  # the one rule (DESIGN.md, rule 7)

    return trusted(state.get_json(db, CLOCK_STATE_KEY) if db is not None else None, now)


def alerts(db: Database, modem: dict[str, Any], now: datetime) -> list[dict[str, str]]:
    """What needs a person: each alert is a tone (``bad``/``wait``) and a sentence."""
    found: list[dict[str, str]] = []

    def add(key: str, tone_name: str, text: str) -> None:
        found.append({"key": key, "tone": tone_name, "text": text})

    if modem["state"] in ("unplugged", "error", "unknown"):
        detail = f" ({modem['error']})" if modem["error"] else ""
        add("modem", "bad", _("Modem không hoạt động: %(state)s%(detail)s. Kiểm tra dây cắm và SIM.",
                              state=label("modem", modem["state"]), detail=detail))
    used, total = modem["sim_used"], modem["sim_total"]
    if used is not None and total and used / total >= SIM_NEARLY_FULL:
        add("sim", "bad" if used >= total else "wait",
            _("Bộ nhớ SIM sắp đầy (%(used)d/%(total)d tin): tin mới có thể không vào được.",
              used=used, total=total))
    if not clock_trusted(db, now):
        add("clock", "wait", _("Đồng hồ của cổng chưa đúng giờ (chưa lấy được giờ chuẩn): "
                               "thời gian của tin báo có thể sai."))
    sync = sync_report.read(db)
    if sync["zalo"]["state"] == "needs_reauth":
        add("zalo", "bad", _("Zalo OA cần cấp quyền lại: tin báo chưa được chuyển lên Zalo."))
    if sync["district"]["state"] == "needs_reauth":
        add("district", "bad", _("Máy chủ công an huyện từ chối mã truy cập: cần kiểm tra cấu hình."))
    dead = sync_queue.dead_count(db)
    if dead:
        add("sync_dead", "bad", _("%(n)d tin báo bị nơi nhận từ chối, cần xem lại.", n=dead))
    return found


QUEUE_KEYS = ("inbox_queued", "outbox_queued", "outbox_failed", "tips_new", "zalo_queued", "district_queued")


def queue_depths(db: Database) -> dict[str, int]:
    """How many rows wait in each queue the officers care about (``QUEUE_KEYS``)."""
    sync = sync_queue.depths(db)
    return {
        "inbox_queued": inbox.queued_count(db),
        "outbox_queued": outbox.queued_count(db),
        "outbox_failed": outbox.failed_count(db),
        "tips_new": tips.count_new(db),
        "zalo_queued": sync["zalo"],
        "district_queued": sync["district"],
    }


def dashboard_data(db: Database, tz: ZoneInfo) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready dicts (numbers already masked)."""
    now = datetime.now(UTC)
    titles = menu_titles()
    modem = modem_status.read(db)
    return {
        "modem": modem_view(modem, tz),
        "queues": queue_depths(db),
        "alerts": alerts(db, modem, now),
        "inbox": [inbox_view(row, tz, titles) for row in inbox.recent(db, INBOX_ROWS)],
        "outbox": [outbox_view(row, tz) for row in outbox.recent(db, OUTBOX_ROWS)],
        "tips": [
            # One character more than shown, so shorten() knows when to add "…".
            tip_view(row, tz) for row in tips.recent(db, TIP_ROWS, TIP_TEXT_CHARS + 1)
        ],
        "generated_at": now.isoformat(),
        "generated_display": now.astimezone(tz).strftime("%H:%M:%S"),
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def chart_markup(db: Database, tz: ZoneInfo) -> dict[str, Any]:
    """The two SVG charts (a few ms with a year of messages: drawn on every page load)."""
    now = datetime.now(UTC)
    days = charts.tips_by_day(db, tz, now)
    return {
        "days": charts.tips_chart(days),
        "days_total": sum(d.count for d in days),
        "keywords": charts.keywords_chart(charts.keyword_counts(db, now, titles=menu_titles())),
    }


@bp.get("/")
def dashboard() -> str:
    config = current_config()
    data = dashboard_data(current_services().db.get(), config.timezone)
    return render_template(
        "status/dashboard.html",
        data=data,
        refresh_seconds=REFRESH_SECONDS,
        charts=chart_markup(current_services().db.get(), config.timezone),
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
    now = datetime.now(UTC)
    try:
        db = services.db.get()
        modem = modem_status.read(db)
        queues: dict[str, int | None] = dict(queue_depths(db))
        trusted = clock_trusted(db, now)
    except sqlite3.Error:
        logger.exception("healthz could not read the database")
        database_ok = False
        modem = {"state": "unknown", "signal": None, "registered": False}
        queues = dict.fromkeys(QUEUE_KEYS)  # unknown, not zero
        trusted = clock_trusted(None, now)  # the same rule, without the verdict it could not read
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
        "clock_trusted": trusted,
        "time": now.isoformat(),
    }
    return _no_store(jsonify(body)), 200 if healthy else 503
