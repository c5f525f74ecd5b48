"""Warnings written once for the province: the commune's copy, and the officer's acceptance.

The provincial hub's admins write a warning (title, accented text, "không dấu" text); each
gateway receives new and changed ones with its sync pull or a USB file
(``gateway.sync.province``) and keeps them here, in ``province_warnings``, which this module
owns. The commune's own warnings (the files of ``firmware_config/warnings``, its broadcasts)
are never touched: a province warning has its own id space (``tinh-<id>`` in the library).

A province warning must be accepted by an officer before the commune broadcasts it (the page
audits the acceptance), unless ``broadcasts.accept_province`` takes it at once. A changed
warning (a higher version from the hub) waits for acceptance again; an older or equal version
arriving late (a USB file written before the last sync) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from gateway.broadcasts.library import ScamWarning, body_problems
from gateway.errors import TinBaoError
from gateway.storage import utcnow_iso, write_transaction

#: A province warning's id in the commune's library (its own warnings are file names).
PREFIX = "tinh-"
TITLE_MAX = 120
VIAS = ("sync", "usb")
AUTO_BY = "broadcasts.accept_province"


class ProvinceError(TinBaoError):
    """An officer's request on a province warning that cannot be done (Vietnamese, shown as is)."""


@dataclass
class Applied:
    """What one batch from the hub did here."""

    new: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "id: why", for the log

    @property
    def count(self) -> int:
        return len(self.new) + len(self.changed)


def library_id(warning_id: int) -> str:
    return f"{PREFIX}{warning_id}"


def parse_library_id(value: str | None) -> int | None:
    """``tinh-3`` → 3; anything else (a commune file's id) → None."""
    if not value or not value.startswith(PREFIX) or not value[len(PREFIX):].isdigit():
        return None
    return int(value[len(PREFIX):])


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**62 else None


def check(item: Any) -> tuple[dict[str, Any] | None, str | None]:
    """A clean copy of one warning from the hub, or why it is refused (each field checked:
    the same size guard as the commune's own editor, ``library.body_problems``)."""
    if not isinstance(item, dict):
        return None, "not an object"
    warning_id, version = _whole(item.get("id")), _whole(item.get("version"))
    if warning_id is None or version is None:
        return None, "id and version must be whole numbers"
    texts = {k: item.get(k) for k in ("title", "accented", "khong_dau")}
    if not all(isinstance(v, str) for v in texts.values()):
        return None, f"{warning_id}: title, accented and khong_dau must be texts"
    title = " ".join(texts["title"].split())
    if not title or len(title) > TITLE_MAX:
        return None, f"{warning_id}: the title must be 1-{TITLE_MAX} characters"
    problems = body_problems(texts["accented"], texts["khong_dau"])
    if problems:
        return None, f"{warning_id}: {' '.join(problems)}"
    updated = item.get("updated_at")
    return {"id": warning_id, "version": version, "title": title, "accented": texts["accented"].strip(),
            "khong_dau": texts["khong_dau"].strip(),
            "updated_at": updated[:40] if isinstance(updated, str) else None}, None


def apply(db: Database, items: list[Any], now: datetime, *, via: str, auto_accept: bool,
          hub_name: str = "") -> Applied:
    """Keep the hub's new and changed warnings (one transaction, or the caller's).

    A warning seen for the first time, or with a higher version than the one held, is kept;
    it waits for an officer unless ``auto_accept`` (``broadcasts.accept_province``).
    """
    assert via in VIAS
    done = Applied()
    now_iso = utcnow_iso(now)
    status = "accepted" if auto_accept else "waiting"
    with write_transaction(db):
        for item in items:
            clean, problem = check(item)
            if clean is None:
                done.refused.append(problem or "invalid")
                continue
            held = db.execute("SELECT version FROM province_warnings WHERE id=?", (clean["id"],)).fetchone()
            if held is not None and held[0] >= clean["version"]:
                continue
            accepted = (clean["version"], now_iso, AUTO_BY) if auto_accept else (None, None, None)
            values = (clean["version"], clean["title"], clean["accented"], clean["khong_dau"], hub_name or None,
                      clean["updated_at"], status, *accepted, now_iso, via)
            if held is None:
                db.conn.execute(
                    "INSERT INTO province_warnings (version, title, accented, khong_dau, hub_name, hub_updated_at,"
                    " status, accepted_version, accepted_at, accepted_by, received_at, received_via, id)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (*values, clean["id"]))
                done.new.append(clean["id"])
            else:
                db.conn.execute(
                    "UPDATE province_warnings SET version=?, title=?, accented=?, khong_dau=?, hub_name=?,"
                    " hub_updated_at=?, status=?, accepted_version=?, accepted_at=?, accepted_by=?, received_at=?,"
                    " received_via=? WHERE id=?", (*values, clean["id"]))
                done.changed.append(clean["id"])
    return done


def accept(db: Database, warning_id: int, *, version: int, by: str, now: datetime) -> None:
    """An officer accepts the version they read (a newer one that arrived meanwhile is not
    accepted by a click on the older one). Call inside the caller's transaction with the audit."""
    row = get(db, warning_id)
    if row is None:
        raise ProvinceError("Không có cảnh báo này.")
    if row["version"] != version:
        raise ProvinceError("Công an tỉnh vừa sửa cảnh báo này: hãy đọc lại bản mới rồi duyệt.")
    if row["status"] == "accepted":
        raise ProvinceError("Cảnh báo này đã được duyệt.")
    db.execute("UPDATE province_warnings SET status='accepted', accepted_version=version, accepted_at=?,"
               " accepted_by=? WHERE id=? AND version=?", (utcnow_iso(now), by, warning_id, version))


# -- reads --------------------------------------------------------------------------------------

def get(db: Database, warning_id: int) -> dict[str, Any] | None:
    return next(db.query("SELECT * FROM province_warnings WHERE id=?", [warning_id]), None)


def listing(db: Database) -> list[dict[str, Any]]:
    """Every province warning, the ones waiting for an officer first, newest first."""
    return list(db.query("SELECT * FROM province_warnings ORDER BY status = 'accepted', received_at DESC, id DESC"))


def waiting_count(db: Database) -> int:
    return db.execute("SELECT COUNT(*) FROM province_warnings WHERE status='waiting'").fetchone()[0]


def usable(db: Database) -> list[ScamWarning]:
    """The accepted province warnings as library entries (``tinh-<id>``) for the compose form."""
    return [ScamWarning(library_id(row["id"]), row["title"], row["accented"], row["khong_dau"])
            for row in db.query("SELECT id, title, accented, khong_dau FROM province_warnings"
                                " WHERE status='accepted' ORDER BY id DESC")]


def usable_one(db: Database, library_warning_id: str | None) -> ScamWarning | None:
    """One accepted province warning by its library id; None when unknown or still waiting."""
    warning_id = parse_library_id(library_warning_id)
    if warning_id is None:
        return None
    row = get(db, warning_id)
    if row is None or row["status"] != "accepted":
        return None
    return ScamWarning(library_id(row["id"]), row["title"], row["accented"], row["khong_dau"])
