"""The phone simulator's panel: on its own page (``gateway.web.simulator``) and on the dashboard.

Which mode the panel is in for this officer and this gateway, and the template variables it
is drawn with. No blueprint: both pages import it, and neither imports the other.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gateway.web.services import current_services

DEFAULT_NUMBER = "0912345678"
MAX_TEXT_CHARS = 1600

NOT_AVAILABLE = _l(
    "Điện thoại thử chỉ chạy với modem giả lập có sẵn "
    '(đặt modem.port = "emulator" trong cấu hình). '
    "Với modem thật, quản trị viên dùng được chế độ chạy thử (không gửi qua mạng)."
)
DRY_RUN_NOTE = _l(
    "Cổng đang dùng modem thật: tin ở đây chỉ chạy thử qua bộ định tuyến và menu đang dùng, "
    "không gửi qua mạng, không vào danh sách thật."
)
DRY_RUN_STATUS = _l("Chạy thử · không gửi")
BAD_NUMBER = _l("Số điện thoại không hợp lệ (ví dụ 0912345678).")
OFFICERS_ONLY = _l(
    "Điện thoại thử dành cho cán bộ và quản trị viên: tài khoản xem "
    "(chỉ đọc) không gửi tin thử và không xem được cuộc trò chuyện của một số."
)


def _can(role: str) -> bool:
    return bool(getattr(current_user, "is_authenticated", False) and current_user.can(role))


def mode() -> str:
    """"emulator" (the real path), "dry-run" (an admin on a real-modem gateway), "off", or
    "viewer" (a read-only account: the panel only says whom it is for)."""
    if not _can("officer"):
        return "viewer"
    if current_services().simulator is not None:
        return "emulator"
    return "dry-run" if _can("admin") else "off"


def panel_context(number: str | None = None, error: str = "") -> dict[str, Any]:
    """Template variables of the simulator panel (its page and the dashboard)."""
    sim_mode = mode()
    dry = sim_mode == "dry-run"
    return {
        "sim_enabled": sim_mode not in ("off", "viewer"),
        "sim_mode": sim_mode,
        "sim_send_url": url_for("simulator.dry_send" if dry else "simulator.send"),
        "sim_thread_url": url_for("simulator.dry_thread" if dry else "simulator.thread"),
        "sim_dry_note": str(DRY_RUN_NOTE),
        "sim_number": number or DEFAULT_NUMBER,
        "sim_unavailable": str(OFFICERS_ONLY if sim_mode == "viewer" else NOT_AVAILABLE),
        "sim_error": error,
        "sim_max_chars": MAX_TEXT_CHARS,
    }
