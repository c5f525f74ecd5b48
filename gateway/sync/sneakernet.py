"""Sneakernet: unsynced tips to one sealed file for a USB stick, for communes offline for weeks.

``python app.py export-tips FILE`` (``gateway.sync.usb_export``) writes every tip the hub has
not acknowledged yet, and the post's heartbeat. Inside is JSON signed with HMAC-SHA256 keyed
by the gateway's ``hub.token``; the file itself is sealed (``gateway.sealed``, 0600) with a key
derived from that same token with HKDF (``export_key``), labelled with the gateway's id. Only
the hub, which holds the token in ``hub.gateways``, can open it; a stick lost on the way is
useless to whoever finds it, and a file altered on the way is refused. A plain signed file
written by an older gateway is still taken in by the hub, with a warning (posts upgrade one
at a time).

Exporting does not take tips out of the sync queue (rule 3: only an acknowledgement
does): when the internet comes back, the online sync sends them again and the hub, which
holds them already, just acknowledges them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlite_utils import Database

from gateway import sealed
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


def export_key(token: str, gateway_id: str) -> bytes:
    """The key that seals a gateway's USB files: HKDF-SHA256 of its hub token (the hub knows it)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=sealed.KEY_BYTES, salt=b"tinbao usb export v1",
                info=gateway_id.encode("utf-8")).derive(token.encode("utf-8"))


def seal_export(data: bytes, config: Config) -> bytes:
    """The export's bytes sealed for the hub (for the page's download; the command streams)."""
    out = io.BytesIO()
    sealed.seal(io.BytesIO(data), out, export_key(config.hub.token, config.gateway.id),
                sealed.KIND_TIPS, config.gateway.id)
    return out.getvalue()


@dataclass(frozen=True)
class Opened:
    """A tips file as read by the hub, not yet verified."""

    document: dict[str, Any]
    raw: bytes  # the file's bytes (its digest says "imported before")
    was_sealed: bool  # False: a plain file from an older gateway


def open_file(path: str | Path, tokens: dict[str, str]) -> Opened:
    """Read a tips file with the hub's gateway tokens: open it when sealed, then parse it.

    ``SneakernetError`` / ``TamperedFile`` say in one line why it cannot be taken in.
    """
    path = Path(path)
    raw = _read_regular_file(path, MAX_FILE_BYTES)
    source = io.BytesIO(raw)
    try:
        header = sealed.read_header(source, str(path))
    except sealed.NotSealed:
        document, _raw = parse_document(raw, path)
        return Opened(document, raw, False)
    except sealed.SealError as exc:
        raise TamperedFile(str(exc)) from None
    if header.kind != sealed.KIND_TIPS:
        raise SneakernetError(f"{path} is a sealed {header.kind_name}, not a tips file")
    token = tokens.get(header.label)
    if not token:
        raise SneakernetError(f"gateway {header.label!r} is not in hub.gateways: the file cannot be opened")
    plain = io.BytesIO()
    try:
        source.seek(0)
        sealed.unseal(source, plain, export_key(token, header.label), str(path), limit=MAX_FILE_BYTES)
    except sealed.WrongKey:
        raise TamperedFile(f"{path} was not sealed with gateway {header.label!r}'s token at this hub "
                           "(another token, or another hub's gateway)") from None
    except sealed.SealError as exc:
        raise TamperedFile(str(exc)) from None
    document, _raw = parse_document(plain.getvalue(), path)
    if document["gateway_id"] != header.label:
        raise TamperedFile(f"{path}: the file is labelled {header.label!r} but holds gateway "
                           f"{document['gateway_id']!r}'s tips")
    return Opened(document, raw, True)


def read_document(path: str | Path, *, kind: str = FORMAT, items: str = "tips") -> tuple[dict[str, Any], bytes]:
    """Parse a plain signed file (not yet verified); returns (document, raw bytes).

    ``kind`` is its ``format`` and ``items`` the list it must hold: a tips file by default,
    the province's file for a post (``tinbao-province``, ``warnings``: signed, not sealed,
    since what it carries is no one's personal data) with the same rules.
    """
    path = Path(path)
    return parse_document(_read_regular_file(path, MAX_FILE_BYTES), path, kind=kind, items=items)


def parse_document(raw: bytes, path: Path, *, kind: str = FORMAT, items: str = "tips") -> tuple[dict[str, Any], bytes]:
    """The JSON document of a signed file's plain bytes (not yet verified)."""
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
    """Write the sealed file, 0600 (atomically: a yanked USB stick never holds half a file).

    Sealed straight into the file, chunk by chunk: no second, sealed copy of the export in memory.
    """
    data, count = build_export(db, config, now, heartbeat)
    key = export_key(config.hub.token, config.gateway.id)
    _write_atomically(path, lambda fh: sealed.seal(io.BytesIO(data), fh, key, sealed.KIND_TIPS, config.gateway.id))
    note_export(db, str(path), data, count, now)
    return count


def write_file(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a file for a USB stick atomically and 0600 (the province's file for a post)."""
    _write_atomically(path, lambda fh: fh.write(data))


def _write_atomically(path: str | Path, fill: Callable[[BinaryIO], object]) -> None:
    """A ``.part`` file, 0600 whatever the umask, filled by ``fill``, fsync'd, then renamed over
    ``path``: a yanked stick never holds half a file."""
    path = Path(path)
    temporary = path.with_name(path.name + ".part")
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise SneakernetError(f"cannot write {path}: {exc.strerror or exc}") from None
