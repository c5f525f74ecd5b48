"""Sneakernet: unsynced tips to one signed file for a USB stick, for communes offline for weeks.

``python app.py export-tips FILE`` (``gateway.sync.usb_export``) writes every tip the hub has not
acknowledged yet, and the post's heartbeat.
The file is JSON, signed with HMAC-SHA256 keyed by the gateway's ``hub.token`` (the hub
holds the same token in ``hub.gateways``), so the hub refuses a file that was altered on
the way. Exporting does not take tips out of the sync queue (rule 3: only an acknowledgement
does): when the internet comes back, the online sync sends them again and the hub, which
holds them already, just acknowledges them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway.config import Config
from gateway.errors import TinBaoError
from gateway.storage import utcnow_iso, write_transaction
from gateway.sync import hooks, queue
from gateway.sync.district import tip_payload
from gateway.sync.queue import QueuedTip

FORMAT = "tinbao-tips"
#: The hub's file for one post: the province's warnings and campaigns (``gateway.sync.province``).
PROVINCE_FORMAT = "tinbao-province"
VERSION = 1
ALGORITHM = "hmac-sha256"
MAX_FILE_BYTES = 200 * 1024 * 1024


class SneakernetError(TinBaoError):
    """A tips file that cannot be written or taken in; the message says why, in one line."""


class TamperedFile(SneakernetError):
    """The signature does not match: the file was changed after it was exported."""


def canonical(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(payload: dict[str, Any], key: str) -> dict[str, Any]:
    mac = hmac.new(key.encode("utf-8"), canonical(payload), hashlib.sha256).hexdigest()
    return {**payload, "signature": {"alg": ALGORITHM, "value": mac}}


def read_document(path: str | Path, *, kind: str = FORMAT, items: str = "tips") -> tuple[dict[str, Any], bytes]:
    """Parse a signed file (not yet verified); returns (document, raw bytes).

    ``kind`` is its ``format`` and ``items`` the list it must hold: a tips file by default,
    the province's file for a post (``tinbao-province``, ``warnings``) with the same rules.
    """
    path = Path(path)
    raw = _read_regular_file(path, MAX_FILE_BYTES)
    try:
        document = json.loads(raw.decode("utf-8"))
        # A "\ud800" escape makes a lone surrogate: no text of ours, and nothing can store it.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise TamperedFile(f"{path} holds text that is not valid Unicode (a lone surrogate)") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TamperedFile(f"{path} is not a TinBao {'tips' if kind == FORMAT else kind} file (not JSON)") from None
    what = "tips file" if kind == FORMAT else f"{kind} file"
    if not isinstance(document, dict) or document.get("format") != kind:
        raise TamperedFile(f"{path} is not a TinBao {what}")
    if document.get("version") != VERSION:
        raise SneakernetError(f"{path}: file version {document.get('version')!r} is not supported")
    if not isinstance(document.get("gateway_id"), str) or not isinstance(document.get(items), list):
        raise TamperedFile(f"{path}: gateway_id or {items} missing")
    return document, raw


def _read_regular_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``SneakernetError`` for anything else.

    A stick may hold a FIFO, or a symlink to ``/dev/zero``: opened without blocking, checked on
    the open file (no race with a swap), and read no further than ``limit``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise SneakernetError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SneakernetError(f"{path} is not a regular file (a device, a pipe or a folder)")
        if info.st_size > limit:
            raise SneakernetError(f"{path} is larger than {limit // (1024 * 1024)} MB")
        with os.fdopen(fd, "rb", closefd=False) as file:
            raw = file.read(limit + 1)
    except OSError as exc:
        raise SneakernetError(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise SneakernetError(f"{path} is larger than {limit // (1024 * 1024)} MB")
    return raw


def verify(document: dict[str, Any], key: str) -> dict[str, Any]:
    """The signed payload, or ``TamperedFile`` (constant-time comparison)."""
    signature = document.get("signature")
    if (not isinstance(signature, dict) or signature.get("alg") != ALGORITHM
            or not isinstance(signature.get("value"), str)):
        raise TamperedFile("the file has no valid signature")
    payload = {k: v for k, v in document.items() if k != "signature"}
    expected = hmac.new(key.encode("utf-8"), canonical(payload), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature["value"]):
        raise TamperedFile("the signature does not match: the file was changed after export, "
                           "or signed with another token")
    return payload


def unsynced(db: Database) -> list[QueuedTip]:
    """Tips the district has not acknowledged, oldest first."""
    return queue.unacknowledged(db, "district")


def build_export(db: Database, config: Config, now: datetime,
                 heartbeat: dict[str, Any] | None = None) -> tuple[bytes, int]:
    """The signed file's bytes and how many tips it holds (every tip the district lacks), with
    the post's heartbeat when given (``gateway.sync.heartbeat.build``: the hub's import takes it)."""
    if not config.hub.token:
        raise SneakernetError("hub.token is not set: the hub could not check the file's signature")
    hooks.sweep(db, config, now)
    items = [tip_payload(tip, share_numbers=config.hub.share_numbers) for tip in unsynced(db)]
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "gateway_id": config.gateway.id,
        "gateway_name": config.gateway.name,
        "exported_at": utcnow_iso(now),
        "tips": items,
    }
    if heartbeat is not None:
        payload["heartbeat"] = heartbeat
    document = sign(payload, config.hub.token)
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"), len(items)


def note_export(db: Database, path: str, data: bytes, count: int, now: datetime) -> None:
    with write_transaction(db):
        db.conn.execute(
            "INSERT INTO sync_exports (at, path, tips, digest) VALUES (?,?,?,?)",
            (utcnow_iso(now), path, count, hashlib.sha256(data).hexdigest()),
        )


def recent_exports(db: Database, limit: int = 5) -> list[dict[str, Any]]:
    """The last USB files written, newest first (``at``, ``path``, ``tips``)."""
    return list(db.query("SELECT at, path, tips FROM sync_exports ORDER BY id DESC LIMIT ?", [limit]))


def export_tips(db: Database, config: Config, path: str | Path, now: datetime,
                heartbeat: dict[str, Any] | None = None) -> int:
    """Write the signed file (atomically: a yanked USB stick never holds half a file)."""
    data, count = build_export(db, config, now, heartbeat)
    write_file(path, data)
    note_export(db, str(path), data, count, now)
    return count


def write_file(path: str | Path, data: bytes) -> None:
    """Write a file for a USB stick atomically (a yanked stick never holds half a file)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".part")
    try:
        with open(temporary, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise SneakernetError(f"cannot write {path}: {exc.strerror or exc}") from None
