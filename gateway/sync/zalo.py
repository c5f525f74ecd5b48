"""The Zalo OA mirror: each tip as a consultation message to every configured officer.

Contract (DESIGN.md): ``POST {api_base}/v3.0/oa/message/cs`` with header ``access_token``
and body ``{"recipient":{"user_id":..},"message":{"text":..}}``; errors come back as HTTP
200 with ``"error" != 0``. Tokens: see ``zalo_tokens``.

Nothing twice: the Zalo API has no idempotency key, so before each message a
``zalo_deliveries`` row says 'sending' (committed). If the worker dies before the answer is
recorded, the row stays 'sending' and the next attempt first looks for the message in that
officer's conversation with the OA (``GET /v2.0/oa/conversation``) instead of sending blind.
Officers who already got a tip are never sent it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from gateway import phone
from gateway.config import Config
from gateway.storage import utcnow_iso, write_transaction
from gateway.sync import zalo_tokens
from gateway.sync.http import BadAnswer, HttpClient, SyncError, Unreachable
from gateway.sync.queue import QueuedTip

log = logging.getLogger(__name__)

MAX_TEXT = 2000
CUT_MARKER = "… [đã cắt bớt, xem đủ trên trang của xã]"
TOKEN_CODES = frozenset({-216, -220})
RATE_LIMIT_CODES = frozenset({-32})
UNREACHABLE_CODES = frozenset({-213, -227, -230, -232})
BAD_PARAMETER_CODES = frozenset({-201})
CONVERSATION_PAGE = 10  # Zalo's most per request
CONVERSATION_PAGES = 5


class NeedsReauth(SyncError):
    """Zalo refused the refresh token (or there is none): an officer must re-authorise the OA."""


class RateLimited(SyncError):
    """Zalo answered -32: slow down."""


@dataclass
class TipOutcome:
    """What happened to one tip: done, failed (this tip only: back it off), or dead."""

    status: str  # done | failed | dead
    error: str | None = None
    unreachable: list[str] = field(default_factory=list)
    reached: list[str] = field(default_factory=list)


def format_tip(tip: QueuedTip, tz: ZoneInfo, *, share_numbers: bool, category: str | None = None) -> str:
    """The message an officer reads on a phone: reference, category, time, number, text ≤ 2,000."""
    try:
        moment = datetime.fromisoformat(tip.received_at).astimezone(tz).strftime("%H:%M %d/%m/%Y")
    except ValueError:
        moment = tip.received_at
    number = phone.national(tip.tipster) if share_numbers else phone.mask(tip.tipster)
    head = "\n".join([
        f"TIN BÁO {tip.reference}",
        f"Loại: {category or 'Tin báo qua SMS'}",
        f"Lúc: {moment}",
        f"Người gửi: {number}",
        "",
    ]) + "\n"
    body = tip.text or "(tin trống)"
    if len(head) + len(body) > MAX_TEXT:
        body = body[: MAX_TEXT - len(head) - len(CUT_MARKER)].rstrip() + CUT_MARKER
    return head + body


def _first_line(reference: str) -> str:
    return f"TIN BÁO {reference}"


class ZaloClient:
    """The three Zalo calls the mirror needs, on kept-alive connections."""

    def __init__(self, config: Config) -> None:
        zalo = config.zalo
        self.app_id = zalo.app_id
        self.secret_key = zalo.secret_key
        self.api = HttpClient(zalo.api_base, config.sync.timeout)
        self.oauth = HttpClient(zalo.oauth_base, config.sync.timeout)

    def close(self) -> None:
        self.api.close()
        self.oauth.close()

    def refresh(self, refresh_token: str) -> tuple[str, float, str]:
        """Trade the refresh token for (access token, seconds it lasts, new refresh token)."""
        status, answer = self.oauth.json(
            "POST", "/v4/oa/access_token",
            form={"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"},
            headers={"secret_key": self.secret_key},
        )
        if isinstance(answer, dict) and answer.get("access_token") and answer.get("refresh_token"):
            try:
                expires_in = float(answer.get("expires_in") or 90000)
            except (TypeError, ValueError):
                expires_in = 90000.0
            return str(answer["access_token"]), expires_in, str(answer["refresh_token"])
        if isinstance(answer, dict):
            reason = answer.get("error_description") or answer.get("error_reason") or answer.get("message") or ""
            raise NeedsReauth(f"Zalo từ chối refresh token (mã {answer.get('error')}, HTTP {status}): {reason}".strip())
        raise BadAnswer(f"Zalo token refresh answered HTTP {status} without a token", status=status)

    def send_text(self, access_token: str, user_id: str, text: str) -> dict:
        _, answer = self.api.json(
            "POST", "/v3.0/oa/message/cs",
            payload={"recipient": {"user_id": user_id}, "message": {"text": text}},
            headers={"access_token": access_token},
        )
        if not isinstance(answer, dict) or "error" not in answer:
            raise BadAnswer("Zalo answered without an error field")
        return answer

    def conversation(self, access_token: str, user_id: str, offset: int) -> dict:
        _, answer = self.api.json(
            "GET", "/v2.0/oa/conversation",
            query={"data": json.dumps({"user_id": user_id, "offset": offset, "count": CONVERSATION_PAGE})},
            headers={"access_token": access_token},
        )
        if not isinstance(answer, dict):
            raise BadAnswer("Zalo conversation answer is not an object")
        return answer


class ZaloMirror:
    """Sends claimed tips to every officer; raises for problems of the whole destination.

    ``deliver`` returns a ``TipOutcome`` for this tip, or raises ``Unreachable``,
    ``BadAnswer``, ``RateLimited`` or ``NeedsReauth``: the worker then puts the rows back
    and backs off (or stops the mirror until the OA is re-authorised).
    """

    def __init__(self, config: Config, clock) -> None:
        self.config = config
        self.clock = clock
        self.officers = [o for o in config.zalo.officer_ids if o]
        self.tz = config.timezone
        self.client = ZaloClient(config)
        self.refresh_count = 0

    @property
    def enabled(self) -> bool:
        return bool(self.config.zalo.enabled and self.officers)

    def close(self) -> None:
        self.client.close()

    def reachable(self) -> bool:
        return self.client.api.reachable(self.config.sync.check_timeout)

    def seed_tokens(self, db: Database) -> None:
        zalo_tokens.seed(db, self.config.zalo.refresh_token, self.clock.now())

    # -- tokens --------------------------------------------------------------------------
    def _access_token(self, db: Database) -> tuple[int, str]:
        pair = zalo_tokens.current(db)
        if pair is None:
            raise NeedsReauth("Chưa có refresh token của OA (zalo.refresh_token)")
        if pair.access_usable(self.clock.now()):
            return pair.row_id, pair.access_token  # type: ignore[return-value]
        return self._refresh(db, pair)

    def _refresh(self, db: Database, pair: zalo_tokens.TokenPair) -> tuple[int, str]:
        access, expires_in, new_refresh = self.client.refresh(pair.refresh_token)
        saved = zalo_tokens.save_pair(db, access, expires_in, new_refresh, self.clock.now())  # committed first
        self.refresh_count += 1
        log.info("Zalo OA token refreshed (token row %s)", saved.row_id)
        return saved.row_id, access

    def _call(self, db: Database, action):
        """Run ``action(access_token)``; on -216/-220 refresh once and run it again."""
        row_id, token = self._access_token(db)
        answer = action(token)
        if answer.get("error") in TOKEN_CODES:
            zalo_tokens.forget_access(db, row_id)
            pair = zalo_tokens.current(db)
            assert pair is not None
            _, token = self._refresh(db, pair)
            answer = action(token)
        return answer

    # -- one tip -------------------------------------------------------------------------
    def deliver(self, db: Database, tip: QueuedTip) -> TipOutcome:
        text = format_tip(tip, self.tz, share_numbers=self.config.zalo.share_numbers)
        deliveries = self._deliveries(db, tip.tip_id)
        unreachable: list[str] = []
        reached: list[str] = []
        for officer in self.officers:
            status, attempted_at = deliveries.get(officer, (None, None))
            if status in ("sent", "unreachable"):
                continue
            if status == "sending" and self._already_there(db, officer, tip.reference, attempted_at):
                self._set(db, tip.tip_id, officer, "sent", error="found in the conversation after a restart")
                continue
            self._set(db, tip.tip_id, officer, "sending")  # committed before the request
            try:
                answer = self._call(db, lambda token, officer=officer: self.client.send_text(token, officer, text))
            except Unreachable as exc:
                if not exc.maybe_delivered:
                    self._clear(db, tip.tip_id, officer)
                raise
            except NeedsReauth:
                self._clear(db, tip.tip_id, officer)  # no valid token: the message never went out
                raise
            code = answer.get("error")
            if code == 0:
                message_id = ((answer.get("data") or {}).get("message_id")
                              if isinstance(answer.get("data"), dict) else None)
                self._set(db, tip.tip_id, officer, "sent", message_id=message_id)
                reached.append(officer)
                continue
            self._clear(db, tip.tip_id, officer)  # an error answer: Zalo did not send it
            message = f"Zalo {code}: {answer.get('message') or ''}".strip()
            if code in UNREACHABLE_CODES:
                self._set(db, tip.tip_id, officer, "unreachable", error=message)
                unreachable.append(officer)
                log.warning("Zalo officer %s unreachable for %s: %s", officer, tip.reference, message)
            elif code in RATE_LIMIT_CODES:
                raise RateLimited(message)
            elif code in BAD_PARAMETER_CODES:
                return TipOutcome("dead", message, unreachable, reached)
            elif code in TOKEN_CODES:
                raise BadAnswer(f"{message} (ngay sau khi làm mới token)")
            else:
                return TipOutcome("failed", message, unreachable, reached)
        return self._settle(db, tip, unreachable, reached)

    def _settle(self, db: Database, tip: QueuedTip, unreachable: list[str], reached: list[str]) -> TipOutcome:
        deliveries = self._deliveries(db, tip.tip_id)
        sent = sum(1 for officer in self.officers if deliveries.get(officer, (None,))[0] == "sent")
        if sent:
            return TipOutcome("done", None, unreachable, reached)
        # Nobody could be reached: forget the marks so the next attempt tries everyone again.
        with write_transaction(db):
            db.conn.execute("DELETE FROM zalo_deliveries WHERE tip_id=? AND status='unreachable'", (tip.tip_id,))
        return TipOutcome("failed", "Không cán bộ nào nhận được tin qua Zalo", unreachable, reached)

    def _already_there(self, db: Database, officer: str, reference: str, attempted_at: str | None) -> bool:
        """Look for the tip in the officer's conversation (a send whose answer was lost)."""
        since = datetime.fromisoformat(attempted_at) - timedelta(minutes=10) if attempted_at else None
        wanted = _first_line(reference)
        for page in range(CONVERSATION_PAGES):
            answer = self._call(
                db, lambda token, page=page: self.client.conversation(token, officer, page * CONVERSATION_PAGE))
            if answer.get("error") not in (0, None):
                raise BadAnswer(f"Zalo conversation {answer.get('error')}: {answer.get('message')}")
            messages = answer.get("data") or []
            if not isinstance(messages, list):
                raise BadAnswer("Zalo conversation data is not a list")
            for message in messages:
                if not isinstance(message, dict):
                    continue
                text = message.get("message")
                if message.get("src") == 0 and isinstance(text, str) and text.split("\n", 1)[0] == wanted:
                    return True
            oldest = min((m.get("time", 0) for m in messages if isinstance(m, dict)), default=0)
            if len(messages) < CONVERSATION_PAGE or (since and isinstance(oldest, (int, float))
                                                     and oldest / 1000 < since.timestamp()):
                return False
        return False

    # -- the per-officer table -----------------------------------------------------------
    @staticmethod
    def _deliveries(db: Database, tip_id: int) -> dict[str, tuple[str, str]]:
        return {
            officer: (status, attempted_at)
            for officer, status, attempted_at in db.execute(
                "SELECT officer_id, status, attempted_at FROM zalo_deliveries WHERE tip_id=?", (tip_id,)
            ).fetchall()
        }

    def _set(self, db: Database, tip_id: int, officer: str, status: str, *, message_id: str | None = None,
             error: str | None = None) -> None:
        now = utcnow_iso(self.clock.now())
        with write_transaction(db):
            db.conn.execute(
                "INSERT INTO zalo_deliveries (tip_id, officer_id, status, message_id, error, attempted_at, done_at)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT(tip_id, officer_id) DO UPDATE SET status=excluded.status,"
                " message_id=COALESCE(excluded.message_id, message_id), error=excluded.error,"
                " attempted_at=CASE WHEN excluded.status='sending' THEN excluded.attempted_at ELSE attempted_at END,"
                " done_at=excluded.done_at",
                (tip_id, officer, status, message_id, error, now, None if status == "sending" else now),
            )

    @staticmethod
    def _clear(db: Database, tip_id: int, officer: str) -> None:
        with write_transaction(db):
            db.conn.execute(
                "DELETE FROM zalo_deliveries WHERE tip_id=? AND officer_id=? AND status='sending'", (tip_id, officer)
            )
