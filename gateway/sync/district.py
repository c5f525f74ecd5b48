"""The upstream hub's client (config section ``hub``): push queued tips in batches,
push the commune's status changes, pull back what the hub decided.

Push (DESIGN.md): ``POST {hub.url}/api/v1/tips`` with ``Authorization: Bearer
{hub.token}`` and ``{"gateway_id":..,"tips":[{"uid","reference","received_at","text",
"status",..}]}``. A text longer than ``tips.UPSTREAM_TEXT_MAX`` goes up cut with a marker
(``text_chars`` says the whole length; the whole text stays here). The hub answers
``{"accepted":[uid,..], "rejected":[{"uid","error"}]}``; exactly the accepted uids are marked
done (rule 3), so a push repeated after a crash is harmless; a rejected one is refused for
good (the lane marks it dead with the hub's reason).

Status up: ``POST {hub.url}/api/v1/status`` with ``{"gateway_id":.., "changes":[{"uid",
"status","changed_at","by"}]}``: the officers' status changes (``tip_history`` rows after the
cursor ``sync_district_status_cursor``), answered like a batch of tips.

Pull: ``GET {hub.url}/api/v1/changes?since=N`` answers ``{"changes":[{"seq","uid",
"status","notify_tipster","message","by",..}], "last_seq": N, "hub": name}`` for this
gateway's tips. Each change sets the local tip's status and writes the tip's history "by
<officer>, <hub>"; when the hub's officer chose to tell the tipster, it queues the SMS (kind
``tip_status``) and the history shows it as a reply. The cursor moves in the same
transaction, so a change is applied once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import outbox, phone, state, tips
from gateway.config import Config
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau
from gateway.storage import write_transaction
from gateway.sync.http import BadAnswer, HttpClient, SyncError
from gateway.sync.queue import QueuedTip
from gateway.tips import history

log = logging.getLogger(__name__)

CURSOR_KEY = "sync_district_cursor"
STATUS_CURSOR_KEY = "sync_district_status_cursor"
PULL_LIMIT = 500
STATUS_BATCH = 500
MAX_STATUS_SMS = 300


class Refused(SyncError):
    """The hub refused our token (HTTP 401/403): nothing will pass until the token is fixed."""


def storable(text: str) -> str:
    """``text`` with lone surrogates (half an emoji from a broken SMS) as U+FFFD: UTF-8 JSON."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    return text


def tip_payload(tip: QueuedTip, *, share_numbers: bool) -> dict[str, Any]:
    """One tip as the hub receives it; the number is masked unless the commune chose otherwise,
    the text cut to the one limit both sides share (``tips.UPSTREAM_TEXT_MAX``)."""
    text, cut = tips.upstream_text(storable(tip.text))
    item: dict[str, Any] = {
        "uid": tip.uid,
        "reference": tip.reference,
        "received_at": tip.received_at,
        "text": text,
        "tipster_masked": phone.mask(tip.tipster),
        "status": tip.status,
    }
    if cut:
        item["text_chars"] = len(tip.text)
    if share_numbers:
        item["tipster"] = tip.tipster
    return item


class DistrictClient:
    """Talks to the hub for one gateway (``gateway.id`` + ``hub.token``)."""

    def __init__(self, config: Config, clock) -> None:
        self.config = config
        self.clock = clock
        self.gateway_id = config.gateway.id
        self.token = config.hub.token
        self.http = HttpClient(config.hub.url, config.sync.timeout) if config.hub.url else None

    @property
    def enabled(self) -> bool:
        """Tips are queued for the district when the gateway has a token (URL or USB stick)."""
        return bool(self.token)

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def reachable(self) -> bool:
        """The hub's own ``/healthz`` (small, no login): is it worth sending a batch?"""
        if self.http is None:
            return False
        try:
            status, _ = self.http.request("GET", "/healthz", timeout=self.config.sync.check_timeout)
        except SyncError:
            return False
        return status == 200

    def push(self, batch: list[QueuedTip]) -> tuple[set[str], dict[str, str]]:
        """Send one batch; returns (accepted uids, rejected uid → reason)."""
        assert self.http is not None
        payload = {
            "gateway_id": self.gateway_id,
            "gateway_name": self.config.gateway.name,
            "tips": [tip_payload(tip, share_numbers=self.config.hub.share_numbers) for tip in batch],
        }
        status, answer = self.http.json("POST", "/api/v1/tips", payload=payload, headers=self._headers())
        self._check(status, answer)
        accepted = answer.get("accepted") if isinstance(answer, dict) else None
        if not isinstance(accepted, list):
            raise BadAnswer("the hub's answer has no 'accepted' list", status=status)
        rejected: dict[str, str] = {}
        for item in answer.get("rejected") or []:
            if isinstance(item, dict) and isinstance(item.get("uid"), str):
                rejected[item["uid"]] = str(item.get("error") or "rejected")[:300]
        return {uid for uid in accepted if isinstance(uid, str)}, rejected

    def push_statuses(self, db: Database) -> int:
        """Send the officers' status changes made since the cursor; returns how many the hub took.

        A hub that does not know the endpoint yet (404/405, an older version) is asked again at
        the next pull; the tips themselves still carry their status.
        """
        assert self.http is not None
        taken = 0
        while True:
            after = _int_state(db, STATUS_CURSOR_KEY)
            rows = history.status_changes_after(db, after, STATUS_BATCH)
            if not rows:
                return taken
            payload = {"gateway_id": self.gateway_id, "changes": [
                {"uid": row["uid"], "status": row["status"], "changed_at": row["at"],
                 "by": storable(row["by"] or "")[:64]} for row in rows]}
            status, answer = self.http.json("POST", "/api/v1/status", payload=payload, headers=self._headers())
            if status in (404, 405):
                log.info("the hub does not take status changes yet (HTTP %s)", status)
                return taken
            self._check(status, answer)
            accepted = answer.get("accepted") if isinstance(answer, dict) else None
            if not isinstance(accepted, list):
                raise BadAnswer("the hub's answer has no 'accepted' list", status=status)
            taken += len(accepted)
            # Refused ones are not sent again: an unknown uid goes up with its tip (which
            # carries its status); anything else would be refused the same way next time.
            state.put(db, STATUS_CURSOR_KEY, str(rows[-1]["id"]), self.clock.now())
            if len(rows) < STATUS_BATCH:
                return taken

    def get(self, path: str, query: dict[str, str]) -> Any:
        """A GET to the hub with this gateway's token: its JSON answer, or None when the hub
        has no such door (404/405: an older hub; asked again at the next pull)."""
        assert self.http is not None
        status, answer = self.http.json("GET", path, query=query, headers=self._headers())
        if status in (404, 405):
            return None
        self._check(status, answer)
        return answer

    def heartbeat(self, payload: dict[str, Any]) -> None:
        """``POST /api/v1/heartbeat`` (``gateway.sync.heartbeat``); raises like a push."""
        if self.http is None:
            raise SyncError("hub.url is not set")
        status, answer = self.http.json("POST", "/api/v1/heartbeat", payload=payload, headers=self._headers())
        self._check(status, answer)

    def _check(self, status: int, answer: Any) -> None:
        if status in (401, 403):
            raise Refused(f"Máy chủ {self.config.hub.level} từ chối mã của cổng (HTTP {status}):"
                          " kiểm tra hub.token")
        if status != 200:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise BadAnswer(f"the hub answered HTTP {status}: {error or ''}".strip(), status=status)

    # -- status changes back from the hub ------------------------------------------------
    def pull(self, db: Database) -> int:
        """Fetch and apply the hub's status changes since our cursor; returns how many."""
        assert self.http is not None
        applied = 0
        while True:
            since = cursor(db)
            status, answer = self.http.json(
                "GET", "/api/v1/changes", query={"since": str(since), "limit": str(PULL_LIMIT)},
                headers=self._headers(),
            )
            self._check(status, answer)
            changes = answer.get("changes") if isinstance(answer, dict) else None
            last_seq = answer.get("last_seq") if isinstance(answer, dict) else None
            if not isinstance(changes, list) or not isinstance(last_seq, int):
                raise BadAnswer("the hub's changes answer is not what was expected", status=status)
            if last_seq <= since:
                return applied
            hub_name = answer.get("hub") if isinstance(answer.get("hub"), str) else ""
            applied += apply_changes(db, changes, last_seq, self.clock.now(),
                                     hub_name=hub_name.strip()[:120] or self.config.hub.level)
            if len(changes) < PULL_LIMIT:
                return applied


def _int_state(db: Database, key: str) -> int:
    value = state.get(db, key)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def cursor(db: Database) -> int:
    return _int_state(db, CURSOR_KEY)


def apply_changes(db: Database, changes: list[Any], last_seq: int, now: datetime, *,
                  hub_name: str = "") -> int:
    """Apply the hub's decisions and move the cursor, in one transaction (each once).

    The hub's status is kept beside the commune's (``tips.set_hub_status``), never over it: the
    tip page shows both, each with who set it. The tip's history names who decided
    ("<officer>, <hub>"); an SMS the hub's officer chose to send the tipster is a reply in that
    history, with its delivery state.
    """
    applied = 0
    with write_transaction(db):
        for change in changes:
            if not isinstance(change, dict):
                continue
            uid, status = change.get("uid"), change.get("status")
            if not isinstance(uid, str) or status not in tips.STATUSES:
                continue
            tip = tips.by_uid(db, uid)
            if tip is None:
                log.warning("hub changed %s, which this gateway does not hold", uid)
                continue
            tip_id, tipster, old_status = tip["id"], tip["tipster"], tip["hub_status"]
            officer = change.get("by") if isinstance(change.get("by"), str) else ""
            by = ", ".join(part for part in (storable(officer).strip()[:64], hub_name) if part) or "hub"
            if old_status != status:  # the hub's own status: the commune's stays as its officers set it
                tips.set_hub_status(db, tip_id, status, by=by, now=now)
                history.record(db, tip_id, now, by, "hub_status", old_status, status)
            message = change.get("message")
            if change.get("notify_tipster") is True and isinstance(message, str) and message.strip():
                if phone.normalise(tipster).can_auto_reply:
                    text = storable(message).strip()[:MAX_STATUS_SMS]
                    outbox_id = outbox.enqueue(db, tipster, text, kind="tip_status", now=now, auto=False,
                                               khong_dau=True)
                    history.record(db, tip_id, now, by, "reply", None, str(plan(khong_dau(text)).count),
                                   outbox_id)
            applied += 1
        state.put(db, CURSOR_KEY, str(last_seq), now)
    return applied
