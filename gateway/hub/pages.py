"""The hub's page for the upstream police's officers: every commune's tips, filters, search,
decisions.

The login, the roles, the session rules and the accounts page are the gateway's
(``gateway.web.auth``, ``gateway.web.admin``), on the hub's own accounts: the first admin is
made with ``python app.py hub create-user NAME --role admin``, the others on ``/admin/users``.
Viewers read; officers and admins change a tip's status and may choose to tell the tipster by
SMS (sent by the commune's gateway on its next sync, signed with the hub's name). Tip text is
untrusted SMS: Jinja escapes it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from gateway.hub import store
from gateway.web.auth import role_required
from gateway.web.filters import day_text
from gateway.web.services import current_config, frame_services

bp = Blueprint("hub", __name__)

PER_PAGE = 50
MAX_PAGE = 100_000
MESSAGE_MAX = store.MESSAGE_MAX


def status_labels() -> dict[str, str]:
    return {"new": _("Mới"), "handling": _("Đang xử lý"), "closed": _("Đã xử lý xong")}


def event_labels() -> dict[str, str]:
    return {"batch": _("Nhận tin"), "import": _("Nhập tệp"), "import_refused": _("Từ chối tệp"),
            "status": _("Trạng thái từ xã"), "refused": _("Từ chối (sai mã)")}


def _db():
    return frame_services().db.get()


def _now() -> datetime:
    return frame_services().clock.now()


def _day(value: str | None) -> date | None:
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            day = datetime.strptime((value or "").strip()[:10], pattern).date()
        except ValueError:
            continue
        return day if store.EARLIEST.date() <= day <= date(9998, 12, 30) else None
    return None


def _utc_start(day: date) -> str:
    tz = current_config().timezone
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).isoformat()


def read_query(args: Any) -> tuple[store.TipQuery, dict[str, str]]:
    """Filters from the query string, and the values to show back in the form."""
    from gateway.sms.text import fold

    commune = store.clean_text(args.get("commune") or "").strip()[:16]
    status = args.get("status") if args.get("status") in store.STATUSES else ""
    since, until = _day(args.get("from")), _day(args.get("to"))
    if since and until and since > until:
        since, until = until, since
    q = store.clean_text(args.get("q") or "").strip()[:200]
    query = store.TipQuery(
        gateway_id=commune or None,
        status=status or None,
        since=_utc_start(since) if since else None,
        until=_utc_start(until + timedelta(days=1)) if until else None,
        search=fold(q) if q else None,
    )
    shown = {"commune": commune, "status": status, "from": day_text(since), "to": day_text(until), "q": q}
    return query, shown


def _page_number(value: str | None) -> int:
    try:
        return min(MAX_PAGE, max(1, int((value or "1")[:12])))
    except ValueError:
        return 1


@bp.get("/")
def index() -> str:
    db = _db()
    query, shown = read_query(request.args)
    page = _page_number(request.args.get("page"))
    rows, total = store.list_tips(db, query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    kept = {k: v for k, v in shown.items() if v}
    officer = current_user.can("officer")
    return render_template(
        "hub/tips.html",
        tips=rows, total=total, page=page, pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
        filters=shown, page_query=lambda n: urlencode({**kept, "page": n}),
        communes=store.communes(db, current_config().hub.gateways.keys()),
        counts=store.status_counts(db), events=store.recent_events(db, 15) if officer else [],
        refusals=store.refusals(db, 10) if officer else [],
    )


def default_messages(reference: str) -> dict[str, str]:
    """The SMS an officer starts from, by status; the hub's name is added when it is sent."""
    return {status: text.format(reference=reference) for status, text in store.DEFAULT_MESSAGES.items()}


@bp.get("/tips/<uid>")
def tip(uid: str) -> str:
    db = _db()
    found = store.get_tip(db, uid[:200])
    if found is None:
        abort(404)
    return render_template("hub/tip.html", tip=found, history=store.tip_history(db, found["uid"]),
                           defaults=default_messages(found["reference"]), message_max=MESSAGE_MAX,
                           signature=store.signature(current_config().hub.display_name))


@bp.post("/tips/<uid>/status")
@role_required("officer")
def change_status(uid: str) -> Any:
    status = request.form.get("status", "")
    if status not in store.STATUSES:
        flash(_("Trạng thái không hợp lệ."), "error")
        return redirect(url_for("hub.tip", uid=uid))
    notify = request.form.get("notify") == "1"
    message = store.clean_text(request.form.get("message") or "").strip()
    if notify and not message:
        flash(_("Hãy nhập nội dung tin nhắn gửi người báo tin, hoặc bỏ chọn «Báo cho người gửi»."), "error")
        return redirect(url_for("hub.tip", uid=uid))
    sender = current_config().hub.display_name
    if len(store.sign_message(message, sender)) > MESSAGE_MAX:
        room = MESSAGE_MAX - len(store.signature(sender))
        flash(_("Tin nhắn tối đa %(n)d ký tự (cùng tên của máy chủ).", n=room), "error")
        return redirect(url_for("hub.tip", uid=uid))
    if not store.set_status(_db(), uid, status, by=current_user.username, now=_now(), notify_tipster=notify,
                            message=message, sender=sender):
        abort(404)
    note = " " + _("Xã sẽ nhắn tin cho người báo tin ở lần đồng bộ tới.") if notify else ""
    flash(_("Đã chuyển sang «%(status)s».", status=status_labels()[status]) + note, "ok")
    return redirect(url_for("hub.tip", uid=uid))
