"""The Zalo OA mirror: each tip as a consultation message to every configured officer.

Contract (DESIGN.md): ``POST {api_base}/v3.0/oa/message/cs`` with header ``access_token``
and body ``{"recipient":{"user_id":..},"message":{"text":..}}``; errors come back as HTTP
200 with ``"error" != 0``. Tokens: see ``zalo_tokens``.

Nothing twice: the Zalo API has no idempotency key, so before each message a
``zalo_deliveries`` row says 'sending' (committed). If the worker dies before the answer is
recorded, the row stays 'sending' and the next attempt first looks for the message in that
officer's conversation with the OA (``GET /v2.0/oa/conversation``) instead of sending blind.
Officers who already got a tip are never sent it again.

Zalo's rules (``zalo_officers``): each message goes as a reply to the officer's latest message
to the OA while that is free (48 h, 8 replies), otherwise with only ``user_id`` (proactive: a
verified OA's quota). Each officer on their own: an error code for one officer (any code,
unknown ones too) is recorded in that officer's ``zalo_deliveries`` row, which is retried with
back-off while the others go on; after ``zalo.officer_attempts`` it is dead. An officer Zalo
cannot reach (-213/-227/-230/-232), or dead, gets the tip by SMS instead: a duty alert to the
roster number tied to their Zalo user_id (``gateway.duty``). Only problems of the whole
destination (no connection, HTTP 5xx, -32, the token) stop the pass.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from gateway import backoff, duty, phone, tips
from gateway.config import Config
from gateway.storage import utcnow_iso, write_transaction
from gateway.sync import zalo_officers, zalo_tokens
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
CONTACT_FRESH = timedelta(minutes=5)  # before a send, an older look at the conversation is read again
CONTACT_PAGES = 3                     # how far back to look for the officer's own latest message
SETTLED = ("sent", "sms", "dead", "unreachable")  # nothing more to do for that officer


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
    retry_at: datetime | None = None  # failed: when the first officer waiting is due again


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

    def send_text(self, access_token: str, user_id: str, text: str, reply_to: str | None = None) -> dict:
        """A consultation message; with ``reply_to`` (the officer's message) in reply form."""
        recipient = {"message_id": reply_to} if reply_to else {"user_id": user_id}
        _, answer = self.api.json(
            "POST", "/v3.0/oa/message/cs",
            payload={"recipient": recipient, "message": {"text": text}},
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
        now = self.clock.now()
        deliveries = self._deliveries(db, tip.tip_id)
        unreachable: list[str] = []
        reached: list[str] = []
        for officer in self.officers:
            mark = deliveries.get(officer)
            if mark and mark["status"] in SETTLED:
                continue
            if mark and mark["status"] == "failed" and mark["next_attempt_at"] and \
                    datetime.fromisoformat(mark["next_attempt_at"]) > now:
                continue  # this officer backs off; the others are not held up
            if mark and mark["status"] == "sending" and self._already_there(
                    db, officer, tip.reference, mark["attempted_at"]):
                self._set(db, tip.tip_id, officer, "sent", error="found in the conversation after a restart")
                continue
            reach = self.reach(db, officer, now)
            reply_to = reach.last_message_id if reach.reply_open(now) else None
            self._set(db, tip.tip_id, officer, "sending")  # committed before the request
            try:
                answer = self._call(db, lambda token, officer=officer, reply_to=reply_to:
                                    self.client.send_text(token, officer, text, reply_to))
            except Unreachable as exc:
                if not exc.maybe_delivered:
                    self._clear(db, tip.tip_id, officer)
                raise
            except NeedsReauth:
                self._clear(db, tip.tip_id, officer)  # no valid token: the message never went out
                raise
            code = answer.get("error")
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            if code == 0:
                self._set(db, tip.tip_id, officer, "sent", message_id=data.get("message_id"))
                quota = data.get("quota") if isinstance(data.get("quota"), dict) else None
                zalo_officers.note_sent(db, officer, reply_to, quota, self.clock.now())
                reached.append(officer)
                continue
            self._clear(db, tip.tip_id, officer)  # an error answer: Zalo did not send it
            message = f"Zalo {code}: {answer.get('message') or ''}".strip()
            if code in RATE_LIMIT_CODES:
                raise RateLimited(message)
            if code in TOKEN_CODES:
                raise BadAnswer(f"{message} (ngay sau khi làm mới token)")
            if code in UNREACHABLE_CODES:
                zalo_officers.note_error(db, officer, message, self.clock.now(), window_closed=True)
                if self._by_sms(db, tip, officer, "unreachable", message):
                    reached.append(officer)
                else:
                    unreachable.append(officer)
                log.warning("Zalo officer %s unreachable for %s: %s", officer, tip.reference, message)
                continue
            # Any other code, an unknown one too, is this officer's problem: back off, then dead.
            zalo_officers.note_error(db, officer, message, self.clock.now())
            self._officer_failed(db, tip, officer, message, final=code in BAD_PARAMETER_CODES)
        return self._settle(db, tip, unreachable, reached)

    def _officer_failed(self, db: Database, tip: QueuedTip, officer: str, message: str, *, final: bool) -> None:
        """One more failed attempt for one officer: retry later, or (at the limit) dead and by SMS."""
        row = db.execute("SELECT attempts FROM zalo_deliveries WHERE tip_id=? AND officer_id=?",
                         (tip.tip_id, officer)).fetchone()
        attempts = (row[0] if row else 0) + 1
        if final or attempts >= self.config.zalo.officer_attempts:
            log.warning("Zalo gave up on %s for officer %s after %d attempts: %s",
                        tip.reference, officer, attempts, message)
            self._by_sms(db, tip, officer, "dead", message, attempts=attempts)
            return
        delay = backoff.delay(attempts, self.config.sync.retry_base, self.config.sync.retry_max)
        self._set(db, tip.tip_id, officer, "failed", error=message, attempts=attempts,
                  next_attempt_at=utcnow_iso(self.clock.now() + timedelta(seconds=delay)))

    def _by_sms(self, db: Database, tip: QueuedTip, officer: str, status: str, message: str, *,
                attempts: int | None = None) -> bool:
        """Zalo will not bring ``tip`` to ``officer``: the duty alert SMS to their number instead.

        The SMS and the officer's mark are one transaction. True when the officer has the tip
        by SMS (queued now, or the number is on duty and had the tip's own alert).
        """
        now = self.clock.now()
        body = duty.alert_text(tip.reference, None, tip.text)
        with write_transaction(db):
            how, outbox_id = duty.sms_zalo_officer(db, officer, body, now, skip_active=True)
            note = {"queued": "đã gửi tin báo bằng SMS", "on_duty": "số trực ban đã nhận SMS báo tin",
                    "no_number": "chưa có số điện thoại (trực ban) gắn với mã Zalo này: cán bộ chưa nhận tin"}[how]
            final = "sms" if status == "unreachable" and how != "no_number" else status
            self._write(db, tip.tip_id, officer, final, error=f"{message}; {note}", attempts=attempts,
                        sms_outbox_id=outbox_id, now=now)
        return how != "no_number"

    def _settle(self, db: Database, tip: QueuedTip, unreachable: list[str], reached: list[str]) -> TipOutcome:
        deliveries = self._deliveries(db, tip.tip_id)
        marks = [deliveries.get(officer) for officer in self.officers]
        waiting = [m for m in marks if m is None or m["status"] not in SETTLED]
        if waiting:
            due = [datetime.fromisoformat(m["next_attempt_at"]) for m in waiting if m and m["next_attempt_at"]]
            errors = "; ".join(f"{m['officer_id']}: {m['error']}" for m in waiting if m and m["error"])
            return TipOutcome("failed", errors or "Zalo: còn cán bộ chưa nhận", unreachable, reached,
                              retry_at=min(due) if due else None)
        dead = [m for m in marks if m and m["status"] == "dead"]
        if dead:  # a dead letter: a person looks at it ("retry" on the page tries those officers again)
            errors = "; ".join(f"{m['officer_id']}: {m['error']}" for m in dead)
            return TipOutcome("dead", f"Zalo không gửi được cho {len(dead)} cán bộ: {errors}", unreachable, reached)
        if any(m and m["status"] in ("sent", "sms") for m in marks):
            return TipOutcome("done", None, unreachable, reached)
        # Nobody has it, by Zalo or SMS: forget the marks so the next attempt tries everyone again.
        with write_transaction(db):
            db.conn.execute("DELETE FROM zalo_deliveries WHERE tip_id=? AND status='unreachable'",
                            (tip.tip_id,))
        return TipOutcome("failed", "Không cán bộ nào nhận được tin qua Zalo hay SMS", unreachable, reached)

    # -- what Zalo allows for each officer -----------------------------------------------
    def reach(self, db: Database, officer: str, now: datetime, *, fresh: timedelta = CONTACT_FRESH
              ) -> zalo_officers.Reach:
        """The officer's reach, after reading their conversation when the last look is older than ``fresh``."""
        known = zalo_officers.get(db, officer)
        checked = datetime.fromisoformat(known.checked_at) if known.checked_at else None
        if checked is not None and now - checked < fresh:
            return known
        return self.check_officer(db, officer)

    def check_officer(self, db: Database, officer: str) -> zalo_officers.Reach:
        """Read the officer's conversation with the OA for their own latest message (``src`` 1)."""
        for page in range(CONTACT_PAGES):
            answer = self._call(
                db, lambda token, page=page: self.client.conversation(token, officer, page * CONVERSATION_PAGE))
            if answer.get("error") not in (0, None):
                log.info("Zalo conversation of %s: %s %s", officer, answer.get("error"), answer.get("message"))
                return zalo_officers.get(db, officer)  # keep what we knew; the send will tell
            messages = answer.get("data") or []
            if not isinstance(messages, list):
                raise BadAnswer("Zalo conversation data is not a list")
            for message in messages:
                if isinstance(message, dict) and message.get("src") == 1 and message.get("message_id"):
                    at = message.get("time")
                    moment = (datetime.fromtimestamp(at / 1000, tz=self.clock.now().tzinfo)
                              if isinstance(at, (int, float)) else None)
                    return zalo_officers.note_checked(db, officer, str(message["message_id"]), moment,
                                                      self.clock.now())
            if len(messages) < CONVERSATION_PAGE:
                break
        return zalo_officers.note_checked(db, officer, None, None, self.clock.now())



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
    def _deliveries(db: Database, tip_id: int) -> dict[str, dict]:
        return {row["officer_id"]: row for row in db.query(
            "SELECT officer_id, status, attempted_at, attempts, next_attempt_at, error, sms_outbox_id"
            " FROM zalo_deliveries WHERE tip_id=?", [tip_id])}

    def _set(self, db: Database, tip_id: int, officer: str, status: str, *, message_id: str | None = None,
             error: str | None = None, attempts: int | None = None, next_attempt_at: str | None = None) -> None:
        with write_transaction(db):
            self._write(db, tip_id, officer, status, message_id=message_id, error=error, attempts=attempts,
                        next_attempt_at=next_attempt_at)

    def _write(self, db: Database, tip_id: int, officer: str, status: str, *, message_id: str | None = None,
               error: str | None = None, attempts: int | None = None, next_attempt_at: str | None = None,
               sms_outbox_id: int | None = None, now: datetime | None = None) -> None:
        """One officer's mark (inside the caller's transaction)."""
        stamp = utcnow_iso(now or self.clock.now())
        db.conn.execute(
            "INSERT INTO zalo_deliveries (tip_id, officer_id, status, message_id, error, attempted_at, done_at,"
            " attempts, next_attempt_at, sms_outbox_id) VALUES (?,?,?,?,?,?,?,COALESCE(?,0),?,?)"
            " ON CONFLICT(tip_id, officer_id) DO UPDATE SET status=excluded.status,"
            " message_id=COALESCE(excluded.message_id, message_id), error=excluded.error,"
            " attempted_at=CASE WHEN excluded.status='sending' THEN excluded.attempted_at ELSE attempted_at END,"
            " done_at=excluded.done_at, attempts=COALESCE(?, attempts), next_attempt_at=excluded.next_attempt_at,"
            " sms_outbox_id=COALESCE(excluded.sms_outbox_id, sms_outbox_id)",
            (tip_id, officer, status, message_id, error, stamp,
             None if status in ("sending", "failed") else stamp, attempts, next_attempt_at, sms_outbox_id, attempts),
        )

    @staticmethod
    def _clear(db: Database, tip_id: int, officer: str) -> None:
        """Undo a 'sending' mark whose message never left: back to 'failed' if it had failed before."""
        with write_transaction(db):
            db.conn.execute(
                "UPDATE zalo_deliveries SET status='failed' WHERE tip_id=? AND officer_id=? AND status='sending'"
                " AND attempts > 0", (tip_id, officer))
            db.conn.execute(
                "DELETE FROM zalo_deliveries WHERE tip_id=? AND officer_id=? AND status='sending'", (tip_id, officer)
            )


def revive(db: Database, tip_id: int) -> int:
    """An officer pressed "retry" on a dead Zalo row: its dead officers are tried afresh."""
    with write_transaction(db):
        return db.conn.execute(
            "UPDATE zalo_deliveries SET status='failed', attempts=0, next_attempt_at=NULL"
            " WHERE tip_id=? AND status='dead'", (tip_id,)).rowcount


def problems(db: Database, limit: int = 50) -> list[dict]:
    """Officers' deliveries that went wrong (retrying, dead, by SMS, missed), newest first, with the tip."""
    rows = list(db.query(
        "SELECT tip_id, officer_id, status, attempts, next_attempt_at, error, sms_outbox_id,"
        " COALESCE(done_at, attempted_at) AS at FROM zalo_deliveries"
        " WHERE status IN ('failed','dead','sms','unreachable') ORDER BY at DESC LIMIT ?", [limit]))
    named = tips.references(db, [row["tip_id"] for row in rows])
    return [{**row, "reference": named.get(row["tip_id"])} for row in rows]
