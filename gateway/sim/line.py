"""The line as a state, not per message: is the SIM allowed to send at all?

A refusal that belongs to the line, not to the message, must not burn every waiting part's
tries one by one (they would all end "failed" while the SIM is only barred for two hours):

- ``+CMS ERROR: 8`` (operator determined barring) or ``10`` (call barred): **barred**, the
  operator blocked outgoing SMS (a SIM moved to a new device and not re-verified, validity
  passed, a line taken for spam);
- ``50`` (facility not subscribed) or ``69`` (facility not implemented): **no_credit**, what
  Vietnamese networks answer a prepaid SIM without money;
- ``38``/``41``/``42``/``47`` (network out of order, temporary failure, congestion,
  resources unavailable) three times in a row, or three send timeouts in a row: **refused**.

Any of these puts the line in its state: the part that met it goes back to the queue
untouched (no attempt counted), nothing else is sent, and one part is tried again as a
probe after the one back-off (``gateway.backoff``), doubling while the refusal lasts. The
first part that goes through ends the state and the queue flows again. Any other error stays
the message's own (its attempts and back-off, as before).

``LineState`` is memory owned by one modem worker; it is published in ``state`` under
``sim_line`` (``sim_line1``... for more modems) for the page, ``/healthz`` and doctor, and
read back at start so a restart does not forget a bar (the first part is then a probe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gateway import backoff
from gateway.errors import SendError
from gateway.storage import utcnow_iso

STATES = ("ok", "barred", "no_credit", "refused", "unknown")
FAULTS = ("barred", "no_credit", "refused")
BARRED_CODES = frozenset({8, 10})
NO_CREDIT_CODES = frozenset({50, 69})
NETWORK_CODES = frozenset({38, 41, 42, 47})
STREAK = 3  # network refusals or timeouts in a row that make the line "refused"


def N_(message: str) -> str:
    """Marks a message for the translators; the page translates it, /healthz keeps the Vietnamese."""
    return message


#: The state in the officers' words (Vietnamese source; the page translates).
REASONS = {
    "ok": N_("SIM gửi tin bình thường"),
    "unknown": N_("Chưa gửi tin nào từ khi cổng chạy"),
    "barred": N_("SIM bị chặn chiều đi"),
    "no_credit": N_("SIM hết tiền"),
    "refused": N_("Mạng từ chối gửi tin"),
}
#: What to do, in words: the dashboard shows it beside the state, doctor in English.
FIXES = {
    "barred": N_("Nhà mạng chặn tin nhắn đi của SIM (lỗi %(code)s). Thường do SIM vừa được lắp sang thiết bị "
                 "khác mà chủ thuê bao chưa xác thực lại, SIM đã quá hạn, hoặc bị coi là gửi tin rác. Chủ thuê bao "
                 "xác thực lại (VNeID, ứng dụng của nhà mạng hoặc cửa hàng) hoặc gọi tổng đài nhà mạng. Tin chờ gửi "
                 "được giữ nguyên và tự gửi khi SIM được mở."),
    "no_credit": N_("Tài khoản SIM không đủ tiền để gửi tin (lỗi %(code)s). Hãy nạp tiền cho SIM. Tin chờ gửi "
                    "được giữ nguyên và tự gửi khi có tiền."),
    "refused": N_("Mạng liên tục từ chối gửi tin (%(detail)s). Kiểm tra sóng, ăng-ten và SIM. Cổng tự thử lại; "
                  "tin chờ gửi được giữ nguyên."),
}
FIXES_EN = {
    "barred": "the operator blocks this SIM's outgoing SMS: the SIM's owner re-verifies (VNeID, the operator's"
              " app or a shop) or calls the operator; waiting SMS are kept and go out once the bar is lifted",
    "no_credit": "top up the SIM; waiting SMS are kept and go out once there is credit",
    "refused": "check the signal, the antenna and the SIM; the gateway keeps probing, waiting SMS are kept",
}


def verdict(exc: SendError) -> str | None:
    """The line state a refusal proves by itself (barred, no credit), or None."""
    if exc.code in BARRED_CODES:
        return "barred"
    if exc.code in NO_CREDIT_CODES:
        return "no_credit"
    return None


@dataclass
class LineState:
    """One modem's line (see the module docstring); ``probe_base``/``probe_max`` in seconds."""

    probe_base: float = 5.0
    probe_max: float = 600.0
    state: str = "unknown"
    code: int | None = None
    detail: str | None = None
    since: str | None = None
    last_ok_at: str | None = None
    probes: int = 0
    streak: int = 0
    next_probe: float = 0.0  # time.monotonic()
    next_probe_at: str | None = None

    def restore(self, published: dict[str, Any] | None, now: datetime) -> None:
        """Start from what the last run published: a barred line stays barred until a probe passes."""
        if not published or published.get("state") not in FAULTS:
            if published and isinstance(published.get("last_ok_at"), str):
                self.last_ok_at = published["last_ok_at"]
            return
        self.state = published["state"]
        self.code = published.get("code") if isinstance(published.get("code"), int) else None
        self.detail = published.get("detail") if isinstance(published.get("detail"), str) else None
        self.since = published.get("since") if isinstance(published.get("since"), str) else utcnow_iso(now)
        self.last_ok_at = published.get("last_ok_at") if isinstance(published.get("last_ok_at"), str) else None
        self.probes = 0
        self.next_probe = 0.0  # the first part after a restart is the probe
        self.next_probe_at = utcnow_iso(now)

    @property
    def fault(self) -> bool:
        return self.state in FAULTS

    def may_send(self) -> bool:
        """True unless the line is down and its next probe is not due yet."""
        return not self.fault or time.monotonic() >= self.next_probe

    def failed(self, exc: SendError, now: datetime) -> bool:
        """Count a refusal; True when it is the line's (the part waits, no attempt counted)."""
        found = verdict(exc)
        if found is None and (exc.code in NETWORK_CODES or exc.timeout):
            self.streak += 1
            if self.streak >= STREAK or self.fault:
                found = "refused"
        elif found is None:
            self.streak = 0
            return self.fault  # a probe met another error: the line stays down, the part waits
        if found is None:
            return False
        detail = "timeout" if exc.timeout else f"CMS ERROR {exc.code}"
        if self.state != found:
            self.since = utcnow_iso(now)
            self.probes = 0
        self.state, self.code, self.detail = found, exc.code, detail
        self.probes += 1
        delay = backoff.delay(self.probes, self.probe_base, self.probe_max, jitter=0)
        self.next_probe = time.monotonic() + delay
        self.next_probe_at = utcnow_iso(now + timedelta(seconds=delay))
        return True

    def sent(self, now: datetime) -> bool:
        """A part went through: the line is fine. True when that ends a fault (or the first send)."""
        changed = self.state != "ok"
        self.state, self.code, self.detail, self.streak, self.probes = "ok", None, None, 0, 0
        self.next_probe_at = None
        self.last_ok_at = utcnow_iso(now)
        if changed:
            self.since = self.last_ok_at
        return changed

    def view(self) -> dict[str, Any]:
        """What is published (state key ``sim_line``): nothing personal."""
        return {"state": self.state, "code": self.code, "detail": self.detail, "since": self.since,
                "last_ok_at": self.last_ok_at, "probes": self.probes, "next_probe_at": self.next_probe_at}


def read(published: dict[str, Any] | None) -> dict[str, Any]:
    """A published line state checked field by field (an older or broken row never breaks a page)."""
    raw = published if isinstance(published, dict) else {}
    state = raw.get("state") if raw.get("state") in STATES else "unknown"

    def text(name: str) -> str | None:
        value = raw.get(name)
        return value if isinstance(value, str) else None

    code = raw.get("code") if isinstance(raw.get("code"), int) and not isinstance(raw.get("code"), bool) else None
    return {"state": state, "code": code, "detail": text("detail"), "since": text("since"),
            "last_ok_at": text("last_ok_at"), "next_probe_at": text("next_probe_at"),
            "reason": REASONS[state]}


def fix(line: dict[str, Any]) -> str:
    """The fix in words for a faulty line (Vietnamese source), '' when the line is fine."""
    template = FIXES.get(line["state"])
    if template is None:
        return ""
    return template % {"code": line["code"] if line["code"] is not None else "?", "detail": line["detail"] or "?"}
