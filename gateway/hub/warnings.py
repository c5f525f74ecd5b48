"""Warnings written once for the province, at the hub: this module owns ``hub_warnings``.

A hub admin writes the title, the accented text and the "không dấu" one (made for them from
the accented text and editable); the form shows what each costs as they type, counted by the
commune's own counter (``gateway.broadcasts.library.preview``) and held to the commune editor's
size guard (``library.body_problems``): there is no second copy of either.

Every save takes the next change number (``seq``); gateways pull what changed since the last
one they hold (``GET /api/v1/warnings?since=N``). An edit raises ``version``: a commune that
had accepted the old text must accept the new one.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts.library import DEFAULT_FOLDER, Composer, Library, body_problems, preview
from gateway.errors import TinBaoError
from gateway.sms.text import khong_dau, nfc
from gateway.storage import utcnow_iso, write_transaction

TITLE_MAX = 120
#: Who the preview's SMS names first: each commune's gateway puts its own ``gateway.name`` there.
EXAMPLE_SENDER = "Công an xã <tên xã>"


class WarningError(TinBaoError):
    """A warning the form cannot save; the message (Vietnamese) says every problem."""


def problems(title: str, accented: str, plain: str) -> list[str]:
    """What is wrong with a warning, in Vietnamese (empty: fine): the commune editor's guard."""
    out = []
    if not title.strip():
        out.append("Hãy đặt tiêu đề cho cảnh báo.")
    elif len(title) > TITLE_MAX:
        out.append(f"Tiêu đề quá dài (tối đa {TITLE_MAX} ký tự).")
    return out + body_problems(accented, plain)


def suggested_khong_dau(accented: str) -> str:
    """The "không dấu" form made from the accented text (the admin may edit it)."""
    return khong_dau(" ".join(nfc(accented).split()))


@cache
def _composer() -> Composer:
    return Composer(EXAMPLE_SENDER, "", Library.load(DEFAULT_FOLDER).messages)


def cost_preview(accented: str, plain: str | None) -> dict[str, Any]:
    """Both forms as a commune's subscriber would get them, with their SMS parts each."""
    return preview(_composer(), accented or " ", 1, plain or None)


def _next_seq(db: Database) -> int:
    return db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM hub_warnings").fetchone()[0]


def save(db: Database, *, title: str, accented: str, plain: str, by: str, now: datetime,
         warning_id: int | None = None) -> int:
    """Write a new warning, or a new version of ``warning_id``; unchanged text changes nothing."""
    title, accented, plain = " ".join(title.split()), nfc(accented.strip()), nfc(plain.strip())
    found = problems(title, accented, plain)
    if found:
        raise WarningError(" ".join(found))
    now_iso = utcnow_iso(now)
    with write_transaction(db):
        if warning_id is None:
            cur = db.conn.execute(
                "INSERT INTO hub_warnings (seq, title, accented, khong_dau, created_at, created_by, updated_at,"
                " updated_by) VALUES (?,?,?,?,?,?,?,?)",
                (_next_seq(db), title, accented, plain, now_iso, by, now_iso, by))
            return int(cur.lastrowid)
        held = get(db, warning_id)
        if held is None:
            raise WarningError("Không có cảnh báo này.")
        if (held["title"], held["accented"], held["khong_dau"]) == (title, accented, plain):
            return warning_id
        db.conn.execute(
            "UPDATE hub_warnings SET seq=?, version=version+1, title=?, accented=?, khong_dau=?, updated_at=?,"
            " updated_by=? WHERE id=?", (_next_seq(db), title, accented, plain, now_iso, by, warning_id))
    return warning_id


def get(db: Database, warning_id: int) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM hub_warnings WHERE id=?", [warning_id]), None)


def listing(db: Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM hub_warnings ORDER BY updated_at DESC, id DESC"))


def as_sent(row: dict[str, Any]) -> dict[str, Any]:
    """A warning as gateways receive it (by sync and in the USB file)."""
    return {"id": row["id"], "version": row["version"], "seq": row["seq"], "title": row["title"],
            "accented": row["accented"], "khong_dau": row["khong_dau"], "updated_at": row["updated_at"]}


def since(db: Database, seq: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Warnings saved after change number ``seq`` (oldest change first), and the last number."""
    rows = list(db.query("SELECT * FROM hub_warnings WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit]))
    return [as_sent(row) for row in rows], (rows[-1]["seq"] if rows else seq)
