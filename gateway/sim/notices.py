"""Operator notices: what the operator tells the subscriber by SMS, kept where officers see it.

Operators write to the SIM from alphanumeric senders ("Viettel", "MobiFone") and short codes
("191", "9123") about exactly what stops a post: the line will be locked one way, the owner must
re-verify by biometrics, the validity ends, the credit is low. The router never answers such
senders; ``NoticeHook`` (an inbound hook, in the router's transaction beside the inbox row)
also files each in ``sim_notices`` with the topics it speaks of, for the dashboard's "Tin từ
nhà mạng" panel. A notice that speaks of locking, verification, biometrics, expiry or a low
balance raises an alert that quotes it, until an officer marks it read. A notice that states
the main balance is also a credit reading (``balance.record``, source ``sms``).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway import phone
from gateway.sim import balance, ussd
from gateway.sms.text import fold
from gateway.storage import utcnow_iso, write_transaction

log = logging.getLogger(__name__)

NOTICE_KINDS = ("alphanumeric", "short_code")
#: Topics, each with folded phrases that speak of it. Order: how the alert names them.
TOPICS: dict[str, tuple[str, ...]] = {
    "lock": (r"\bkhoa\b", r"\bchan\b", r"tam\s*ngung", r"ngung\s*cung\s*cap", r"thu\s*hoi", r"cat\s*lien\s*lac",
             r"mot\s*chieu", r"hai\s*chieu", r"chieu\s*(?:di|goi\s*di|nhan\s*tin\s*di)"),
    "verify": (r"xac\s*thuc", r"chuan\s*hoa", r"cap\s*nhat\s*thong\s*tin", r"dinh\s*danh", r"chinh\s*chu"),
    "biometric": (r"sinh\s*trac", r"khuon\s*mat", r"vneid"),
    "expiry": (r"het\s*han", r"qua\s*han", r"han\s*su\s*dung\s*(?:cua\s*)?(?:thue\s*bao|sim|tai\s*khoan)",
               r"tai\s*khoan\s*(?:\w+\s*){0,4}het\s*han"),
    "balance": (r"tai\s*khoan\s*(?:chinh\s*)?(?:cua\s*(?:quy\s*khach|thue\s*bao)\s*)?(?:con|sap\s*het|da\s*het|"
                r"khong\s*du)", r"\btkc\b", r"so\s*du", r"het\s*tien", r"khong\s*du\s*tien"),
}
_COMPILED = {topic: [re.compile(p) for p in patterns] for topic, patterns in TOPICS.items()}


def topics(text: str) -> list[str]:
    """The topics a notice speaks of, in ``TOPICS`` order (none for a promotion)."""
    folded = fold(text)
    return [topic for topic, patterns in _COMPILED.items() if any(p.search(folded) for p in patterns)]


class NoticeHook:
    """The router's inbound hook for SMS from operators: file it (and its balance), never answer.

    Returns None: the router goes on and marks the message silent as it always did.
    """

    def __init__(self, modem: str = "modem0") -> None:
        self.modem = modem

    def __call__(self, db: Database, inbox_id: int, number: phone.Number, text: str, now: datetime) -> str | None:
        if number.kind not in NOTICE_KINDS or not text.strip():
            return None
        found = topics(text)
        db.conn.execute(
            "INSERT OR IGNORE INTO sim_notices (inbox_id, sender, received_at, text, topics, alert)"
            " VALUES (?,?,?,?,?,?)", (inbox_id, number.value, utcnow_iso(now), text, ",".join(found), int(bool(found))))
        stated = ussd.parse_balance(text)
        if "balance" in found and ussd.MAIN_RE.search(fold(text)) and stated.read:
            balance.record(db, modem=self.modem, now=now, source="sms", status="ok", trigger="operator_sms",
                           operator=number.value, parsed=stated, text=text)
        if found:
            log.warning("operator notice from %s speaks of %s", number.value, ", ".join(found))
        return None


def recent(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The newest notices, newest first."""
    return list(db.query("SELECT * FROM sim_notices ORDER BY id DESC LIMIT ?", (limit,)))


def alerting(db: Database) -> list[dict[str, Any]]:
    """Notices with a topic that nobody marked read yet, newest first."""
    return list(db.query("SELECT * FROM sim_notices WHERE alert = 1 AND read_at IS NULL ORDER BY id DESC LIMIT 20"))


def mark_read(db: Database, notice_id: int, by: str, now: datetime) -> bool:
    with write_transaction(db):
        return bool(db.conn.execute("UPDATE sim_notices SET read_at=?, read_by=? WHERE id=? AND read_at IS NULL",
                                    (utcnow_iso(now), by, notice_id)).rowcount)
