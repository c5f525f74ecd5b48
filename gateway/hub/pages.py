"""The hub's page for the upstream police's officers: every commune's tips, filters, search, decisions.

Officers log in with accounts made by ``python app.py create-user NAME --role officer`` run
with the hub's ``storage.path`` (the same account table as a gateway). Viewers read; officers
and admins change a tip's status and may choose to tell the tipster by SMS (sent by the
commune's gateway on its next sync). Tip text is untrusted SMS: Jinja escapes it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from gateway.hub import store
from gateway.hub.api import hub
from gateway.web import accounts
from gateway.web.security import login_wait_seconds, note_login_attempt

bp = Blueprint("hub", __name__)

PER_PAGE = 50
STATUS_LABELS = {"new": "Mới", "handling": "Đang xử lý", "closed": "Đã xử lý xong"}
EVENT_LABELS = {"refused": "Từ chối (sai mã)", "batch": "Nhận tin", "import": "Nhập tệp",
                "import_refused": "Từ chối tệp"}
PUBLIC = {"hub.login", "hub_api.receive_tips", "hub_api.changes", "hub_api.healthz", "static"}


def _db():
    return hub()["dbs"].get()


def _now() -> datetime:
    return hub()["clock"].now()


def load_user() -> None:
    """``g.user``: the logged-in account (checked against the database on every request)."""
    g.user = None
    data = session.get("hub_user")
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        user = accounts.get(_db(), data["id"])
        if user is not None and user.active and user.auth_version == data.get("v"):
            g.user = user
    if request.endpoint in PUBLIC or request.endpoint is None:
        return None
    if g.user is None:
        return redirect(url_for("hub.login", next=request.full_path if request.query_string else request.path))
    return None


def officer_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.user is None or not g.user.can("officer"):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    parts = urlsplit(target or "")
    if not target or parts.scheme or parts.netloc or not target.startswith("/") or target.startswith(("//", "/\\")):
        return url_for("hub.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("hub/login.html", next=request.args.get("next", ""))
    config = hub()["config"]
    db, now, ip = _db(), _now(), request.remote_addr or ""
    username = (request.form.get("username") or "").strip()[:64]
    wait = login_wait_seconds(db, username, ip, now, max_failures=config.web.login_max_failures,
                              lockout_minutes=config.web.login_lockout_minutes)
    if wait > 0:
        flash(f"Sai mật khẩu quá nhiều lần. Thử lại sau {int(wait // 60) + 1} phút.", "error")
        return render_template("hub/login.html", next=request.form.get("next", "")), 429
    user = accounts.authenticate(db, username, request.form.get("password") or "")
    note_login_attempt(db, username, ip, user is not None, now)
    if user is None:
        flash("Sai tên đăng nhập hoặc mật khẩu.", "error")
        return render_template("hub/login.html", next=request.form.get("next", "")), 401
    session.clear()
    session["hub_user"] = {"id": user.id, "v": user.auth_version}
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("hub.login"))


def _day(value: str | None) -> date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime((value or "").strip(), pattern).date()
        except ValueError:
            continue
    return None


def _utc_start(day: date) -> str:
    tz = hub()["config"].timezone
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).isoformat()


def read_query(args: Any) -> tuple[store.TipQuery, dict[str, str]]:
    """Filters from the query string, and the values to show back in the form."""
    from gateway.sms.text import fold

    commune = (args.get("commune") or "").strip()[:16]
    status = args.get("status") if args.get("status") in store.STATUSES else ""
    since, until = _day(args.get("from")), _day(args.get("to"))
    if since and until and since > until:
        since, until = until, since
    q = (args.get("q") or "").strip()[:200]
    query = store.TipQuery(
        gateway_id=commune or None,
        status=status or None,
        since=_utc_start(since) if since else None,
        until=_utc_start(until + timedelta(days=1)) if until else None,
        search=fold(q) if q else None,
    )
    shown = {"commune": commune, "status": status, "from": since.isoformat() if since else "",
             "to": until.isoformat() if until else "", "q": q}
    return query, shown


@bp.get("/")
def index() -> str:
    db = _db()
    query, shown = read_query(request.args)
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    rows, total = store.list_tips(db, query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    kept = {k: v for k, v in shown.items() if v}
    return render_template(
        "hub/tips.html",
        tips=rows, total=total, page=page, pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        filters=shown, page_query=lambda n: urlencode({**kept, "page": n}),
        communes=store.communes(db, hub()["config"].hub.gateways.keys()),
        counts=store.status_counts(db), events=store.recent_events(db, 15) if g.user.can("officer") else [],
    )


@bp.get("/tips/<uid>")
def tip(uid: str) -> str:
    db = _db()
    found = store.get_tip(db, uid)
    if found is None:
        abort(404)
    defaults = {status: text.format(reference=found["reference"]) for status, text in store.DEFAULT_MESSAGES.items()}
    return render_template("hub/tip.html", tip=found, history=store.tip_history(db, uid), defaults=defaults)


@bp.post("/tips/<uid>/status")
@officer_required
def change_status(uid: str) -> Any:
    status = request.form.get("status", "")
    if status not in store.STATUSES:
        flash("Trạng thái không hợp lệ.", "error")
        return redirect(url_for("hub.tip", uid=uid))
    notify = request.form.get("notify") == "1"
    message = (request.form.get("message") or "").strip()
    if notify and not message:
        flash("Hãy nhập nội dung tin nhắn gửi người báo tin, hoặc bỏ chọn «Báo cho người gửi».", "error")
        return redirect(url_for("hub.tip", uid=uid))
    if len(message) > 300:
        flash("Tin nhắn tối đa 300 ký tự.", "error")
        return redirect(url_for("hub.tip", uid=uid))
    if not store.set_status(_db(), uid, status, by=g.user.username, now=_now(), notify_tipster=notify, message=message):
        abort(404)
    note = " Xã sẽ nhắn tin cho người báo tin ở lần đồng bộ tới." if notify else ""
    flash(f"Đã chuyển sang «{STATUS_LABELS[status]}».{note}", "ok")
    return redirect(url_for("hub.tip", uid=uid))
