"""The audit log: who did what, when. Every officer's action is written here.

Other areas call ``record`` for their own actions (a tip's status change, a tipster's number
shown in full, a reply sent, a menu edited). Inside a request ``gateway.web.auth.record_request``
fills in the logged-in officer and the client's address. Admins read the log at ``/admin/audit``.

``record`` writes in the caller's transaction when one is open (so a tip's status change and
its audit entry commit together: the caller wraps both in ``storage.write_transaction``) and
commits on its own otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlite_utils import Database

from gateway.sql import like_literal
from gateway.storage import utcnow_iso, write_transaction

MAX_DETAIL_CHARS = 2000

# Action words used by the accounts area (other areas add their own, "area.verb").
LOGIN_OK = "login.ok"
LOGIN_FAILED = "login.failed"
LOGIN_THROTTLED = "login.throttled"
LOGOUT = "logout"
SESSION_EXPIRED = "session.expired"
USER_CREATE = "user.create"
USER_ROLE = "user.role"
USER_DISABLE = "user.disable"
USER_ENABLE = "user.enable"
USER_PASSWORD = "user.password"
ACCESS_DENIED = "access.denied"

# What the log's page shows for each action and for the actors that are not accounts, in
# both languages. An action missing here is shown as its code (a test lists every action
# the code records and checks it has a label).
ACTION_LABELS = {
    LOGIN_OK: _l("Đăng nhập"),
    LOGIN_FAILED: _l("Đăng nhập sai"),
    LOGIN_THROTTLED: _l("Đăng nhập bị chặn tạm (sai nhiều lần)"),
    LOGOUT: _l("Đăng xuất"),
    SESSION_EXPIRED: _l("Hết phiên làm việc"),
    USER_CREATE: _l("Tạo tài khoản"),
    USER_ROLE: _l("Đổi quyền tài khoản"),
    USER_DISABLE: _l("Khóa tài khoản"),
    USER_ENABLE: _l("Mở khóa tài khoản"),
    USER_PASSWORD: _l("Đặt lại mật khẩu"),
    "user.unlock": _l("Gỡ chặn đăng nhập"),
    ACCESS_DENIED: _l("Bị từ chối (không đủ quyền)"),
    "tip.status": _l("Đổi trạng thái tin báo"),
    "tip.assign": _l("Giao tin báo"),
    "tip.village": _l("Ghi thôn của tin báo"),
    "tip.note": _l("Ghi chú vào tin báo"),
    "tip.reply": _l("Trả lời người báo bằng SMS"),
    "tip.reveal_number": _l("Xem số đầy đủ của người báo"),
    "inbox.retry": _l("Thử lại tin nhắn đến bị lỗi"),
    "menus.setup": _l("Cài đặt ban đầu (tên xã, số điện thoại)"),
    "backup_key.recovery_code_shown": _l("Hiện mã khôi phục khóa sao lưu"),
    "tip.confirm": _l("Xác nhận là tin báo"),
    "tip.dismiss": _l("Bỏ tin chờ xác nhận"),
    "tip.export": _l("Xuất danh sách tin báo"),
    "tip.export_full": _l("Xuất tin báo kèm số đầy đủ"),
    "broadcast.create": _l("Soạn bản tin cảnh báo"),
    "broadcast.schedule": _l("Lên lịch gửi cảnh báo"),
    "broadcast.pause": _l("Tạm dừng gửi cảnh báo"),
    "broadcast.resume": _l("Tiếp tục gửi cảnh báo"),
    "broadcast.cancel": _l("Hủy bản tin cảnh báo"),
    "subscriber.add": _l("Thêm người nhận cảnh báo"),
    "subscriber.edit": _l("Sửa người nhận cảnh báo"),
    "subscriber.view": _l("Xem số đầy đủ của người nhận"),
    "subscriber.search": _l("Tìm người nhận theo số đầy đủ"),
    "subscriber.leave": _l("Ngừng gửi cho người nhận"),
    "subscriber.import": _l("Nhập danh sách người nhận"),
    "subscriber.group": _l("Thêm thôn hoặc nhóm"),
    "subscriber.village": _l("Xếp người nhận vào thôn"),
    "duty.add": _l("Thêm người trực"),
    "duty.remove": _l("Bỏ người trực"),
    "duty.pause": _l("Tạm nghỉ trực"),
    "duty.resume": _l("Trực lại"),
    "menus.save": _l("Lưu menu SMS"),
    "menus.restore": _l("Khôi phục menu cũ"),
    "menus.language.add": _l("Thêm ngôn ngữ menu"),
    "menus.language.delete": _l("Xóa ngôn ngữ menu"),
    "sim.balance_check": _l("Đọc số dư SIM"),
    "sim.loop_test": _l("Chạy kiểm tra vòng SMS"),
    "sim.identity_verified": _l("Ghi nhận chủ thuê bao đã xác thực lại SIM"),
    "sim.notice_read": _l("Đánh dấu đã đọc tin từ nhà mạng"),
    "call.called_back": _l("Đã gọi lại cuộc gọi nhỡ"),
    "call.reveal_number": _l("Xem số đầy đủ của người gọi nhỡ"),
    "sync.export": _l("Xuất tệp chuyển tay (USB)"),
    "sync.retry": _l("Gửi lại ngay"),
    "sync.zalo_token": _l("Cập nhật mã Zalo"),
}
ACTOR_LABELS = {
    "cli": _l("Lệnh trên máy cổng"),
    "anonymous": _l("Chưa đăng nhập"),
    "system": _l("Hệ thống"),
}


def action_label(action: str) -> str:
    """An action in words ("login.ok" → "Đăng nhập"); an unknown one as its code."""
    found = ACTION_LABELS.get(action)
    return str(found) if found is not None else action


def actor_label(who: str) -> str:
    """Who did it: a username as it is, "cli" and the like in words."""
    found = ACTOR_LABELS.get(who)
    return str(found) if found is not None else who


def _detail_text(detail: Any) -> str:
    if detail is None:
        return ""
    if isinstance(detail, str):
        text = detail
    else:
        text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    return text[:MAX_DETAIL_CHARS]


def record(
    db: Database,
    who: str,
    action: str,
    target: str = "",
    detail: Any = None,
    *,
    ip: str = "",
    now: datetime | None = None,
) -> int:
    """Write one entry and return its id.

    ``who`` is a username (or ``cli``/``system``), ``action`` a dotted word (``tip.status``),
    ``target`` what it was done to (``CL-0042``, a username), ``detail`` free text or a dict
    (stored as JSON). Never put a tipster's full number in ``detail``: the log is read by admins,
    and the entry only needs to say that it was shown, and to whom.
    """
    if now is None:
        now = _gateway_now()
    row = {
        "at": utcnow_iso(now),
        "who": who or "",
        "action": action,
        "target": str(target or ""),
        "detail": _detail_text(detail),
        "ip": ip or "",
    }
    # Inside the caller's transaction: part of it. Otherwise commit our own at once.
    caller_transaction = db.conn.in_transaction
    cursor = db.conn.execute(
        "INSERT INTO audit_log (at, who, action, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?)",
        (row["at"], row["who"], row["action"], row["target"], row["detail"], row["ip"]),
    )
    if not caller_transaction and db.conn.in_transaction:
        db.conn.commit()
    return int(cursor.lastrowid)


def _gateway_now() -> datetime | None:
    """Inside the page: the gateway's one clock (corrected by the network's time, DESIGN.md rule 7)."""
    from flask import current_app, has_app_context

    services = current_app.extensions.get("tinbao", {}).get("services") if has_app_context() else None
    return None if services is None else services.clock.now()  # None: the system clock (command line, hub)


THROTTLED_KEPT = timedelta(days=30)  # refused logins' rows are pruned after this
THROTTLED_NAMES = 10  # names kept in one aggregated row


def record_throttled(db: Database, username: str, ip: str, now: datetime, window: timedelta) -> int:
    """A login refused by the throttle: one row per address per ``window``, counting the attempts.

    A guesser hammering the page would otherwise write a row per attempt; here the first
    refusal writes the row and the next ones raise its count (the first names tried are
    kept). Rows of this kind older than ``THROTTLED_KEPT`` are pruned. Returns the row's id.
    """
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        row = db.execute(
            "SELECT id, detail FROM audit_log WHERE action = ? AND at >= ? AND ip = ? ORDER BY id DESC LIMIT 1",
            [LOGIN_THROTTLED, utcnow_iso(now - window), ip or ""],
        ).fetchone()
        if row is None:
            entry_id = record(db, "anonymous", LOGIN_THROTTLED, username[:64],
                              {"count": 1, "names": [username[:64]], "last_at": now_iso}, ip=ip, now=now)
        else:
            entry_id = row[0]
            try:
                detail = json.loads(row[1]) if row[1] else {}
            except ValueError:
                detail = {}
            detail = detail if isinstance(detail, dict) else {}
            names = [n for n in detail.get("names", []) if isinstance(n, str)][:THROTTLED_NAMES]
            if username[:64] not in names and len(names) < THROTTLED_NAMES:
                names.append(username[:64])
            count = detail.get("count") if isinstance(detail.get("count"), int) else 1
            detail = {"count": count + 1, "names": names, "last_at": now_iso}
            db.conn.execute("UPDATE audit_log SET detail = ? WHERE id = ?", [_detail_text(detail), entry_id])
        db.conn.execute("DELETE FROM audit_log WHERE action = ? AND at < ?",
                        [LOGIN_THROTTLED, utcnow_iso(now - THROTTLED_KEPT)])
    return entry_id


@dataclass(frozen=True)
class Entry:
    id: int
    at: str
    who: str
    action: str
    target: str
    detail: str
    ip: str


def search(
    db: Database,
    *,
    who: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    limit: int = 100,
    before_id: int | None = None,
) -> list[Entry]:
    """Entries newest first, filtered; ``since``/``until`` are ISO UTC bounds (until exclusive).

    ``action`` matches a whole word or a prefix ending in a dot (``login.`` finds every login
    entry); ``who`` and ``target`` match exactly, without regard to case.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if who:
        clauses.append("who = ? COLLATE NOCASE")
        params.append(who)
    if action:
        if action.endswith("."):
            clauses.append("action LIKE ? ESCAPE '\\'")
            params.append(like_literal(action) + "%")
        else:
            clauses.append("action = ?")
            params.append(action)
    if target:
        clauses.append("target = ? COLLATE NOCASE")
        params.append(target)
    if since:
        clauses.append("at >= ?")
        params.append(since)
    if until:
        clauses.append("at < ?")
        params.append(until)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = f"SELECT id, at, who, action, target, detail, ip FROM audit_log {where} ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [Entry(*row) for row in db.execute(sql, params).fetchall()]


def actions(db: Database) -> list[str]:
    """Every action word seen so far (for the filter's choices)."""
    return [row[0] for row in db.execute("SELECT DISTINCT action FROM audit_log ORDER BY action")]
