"""The district hub client: push queued tips in batches, pull back what the hub decided.

Push (DESIGN.md): ``POST {district.url}/api/v1/tips`` with ``Authorization: Bearer
{district.token}`` and ``{"gateway_id":..,"tips":[{"uid","reference","received_at","text",..}]}``.
The hub answers ``{"accepted":[uid,..], "rejected":[{"uid","error"}]}``; exactly the accepted
uids are marked done (rule 3), so a push repeated after a crash is harmless.

Pull: ``GET {district.url}/api/v1/changes?since=N`` answers ``{"changes":[{"seq","uid",
"status","notify_tipster","message",..}], "last_seq": N}`` for this gateway's tips. Each
change sets the local tip's status and, when the district officer chose to tell the tipster,
queues an SMS (kind ``tip_status``); the cursor moves in the same transaction, so a change
is applied once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import outbox, phone, state, tips
from gateway.config import Config
from gateway.storage import write_transaction
from gateway.sync.http import BadAnswer, HttpClient, SyncError
from gateway.sync.queue import QueuedTip

log = logging.getLogger(__name__)

CURSOR_KEY = "sync_district_cursor"
PULL_LIMIT = 500
MAX_STATUS_SMS = 300


class Refused(SyncError):
    """The hub refused our token (HTTP 401/403): nothing will pass until the token is fixed."""


def tip_payload(tip: QueuedTip, *, share_numbers: bool) -> dict[str, Any]:
    """One tip as the hub receives it; the number is masked unless the commune chose otherwise."""
    item: dict[str, Any] = {
        "uid": tip.uid,
        "reference": tip.reference,
        "received_at": tip.received_at,
        "text": tip.text,
        "tipster_masked": phone.mask(tip.tipster),
        "status": tip.status,
    }
    if share_numbers:
        item["tipster"] = tip.tipster
    return item


class DistrictClient:
    """Talks to the hub for one gateway (``gateway.id`` + ``district.token``)."""

    def __init__(self, config: Config, clock) -> None:
        self.config = config
        self.clock = clock
        self.gateway_id = config.gateway.id
        self.token = config.district.token
        self.http = HttpClient(config.district.url, config.sync.timeout) if config.district.url else None

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
            "tips": [tip_payload(tip, share_numbers=self.config.district.share_numbers) for tip in batch],
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

    @staticmethod
    def _check(status: int, answer: Any) -> None:
        if status in (401, 403):
            raise Refused(f"Máy chủ huyện từ chối mã của cổng (HTTP {status}): kiểm tra district.token")
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
            applied += apply_changes(db, changes, last_seq, self.clock.now())
            if len(changes) < PULL_LIMIT:
                return applied


def cursor(db: Database) -> int:
    value = state.get(db, CURSOR_KEY)
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def apply_changes(db: Database, changes: list[Any], last_seq: int, now: datetime) -> int:
    """Apply the hub's decisions and move the cursor, in one transaction (each once)."""
    applied = 0
    with write_transaction(db):
        for change in changes:
            if not isinstance(change, dict):
                continue
            uid, status = change.get("uid"), change.get("status")
            if not isinstance(uid, str) or status not in tips.STATUSES:
                continue
            row = db.execute("SELECT reference, tipster, status FROM tips WHERE uid=?", (uid,)).fetchone()
            if row is None:
                log.warning("hub changed %s, which this gateway does not hold", uid)
                continue
            reference, tipster, old_status = row
            if old_status != status:
                tips.set_status(db, reference, status, by="district", now=now)
            message = change.get("message")
            if change.get("notify_tipster") is True and isinstance(message, str) and message.strip():
                if phone.normalise(tipster).can_auto_reply:
                    outbox.enqueue(db, tipster, message.strip()[:MAX_STATUS_SMS], kind="tip_status", now=now,
                                   auto=False, khong_dau=True)
            applied += 1
        state.put(db, CURSOR_KEY, str(last_seq), now)
    return applied
