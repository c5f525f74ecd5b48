"""Sealed files: what leaves the Pi (backups, USB exports) is encrypted and authenticated.

A backup on a USB stick, or a tips file carried to the province, is useless to whoever finds
it without the key. The format is small, documented here, and streamed: the file is read
and written ``CHUNK`` bytes at a time, so a database of any size never sits in memory.

Layout (all integers big-endian)::

    offset  size  field
    0       8     magic  b"\\x89TBSEAL\\n" (a high byte and a newline: a transfer that
                  mangles either is seen at once)
    8       1     version (1)
    9       1     kind: 1 backup of the database, 2 tips export for the hub
    10      1     algorithm: 1 AES-256-GCM
    11      1     chunk size as a power of two (16: 64 KiB)
    12      8     key id: the first 8 bytes of HMAC-SHA256(key, "tinbao key id")
    20      16    salt: random, one per file
    36      7     nonce prefix: random, one per file
    43      1     label length n (at most 64)
    44      n     label, UTF-8: the gateway id (the hub picks the key by it)
    44+n    ...   chunks

The whole header is the associated data of every chunk, so changing any byte of it (the
label too) fails the first chunk. Each chunk is AES-256-GCM under a key made for this file
alone, ``HKDF-SHA256(key, salt, "tinbao sealed file v1" + kind)``, with the nonce
``prefix (7) + chunk counter (4) + final flag (1)`` (the STREAM construction): a chunk moved
elsewhere fails its check, and so does a file cut at a chunk boundary (its last chunk was
not sealed as final). Every chunk but the last holds exactly ``CHUNK`` bytes of plain text
(``CHUNK + 16`` in the file); the last holds 0 to ``CHUNK`` bytes.

Errors say in one line what is wrong: another key (with both key ids), damaged or altered
(which part), cut short, or not a sealed file at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.errors import TinBaoError

MAGIC = b"\x89TBSEAL\n"
VERSION = 1
KIND_BACKUP = 1
KIND_TIPS = 2
KINDS = {KIND_BACKUP: "backup", KIND_TIPS: "tips export"}
AES_256_GCM = 1
CHUNK_LOG2 = 16
CHUNK = 1 << CHUNK_LOG2
TAG = 16
KEY_BYTES = 32
MAX_LABEL = 64
_FIXED = struct.Struct(">8sBBBB8s16s7sB")
SQLITE_MAGIC = b"SQLite format 3\x00"


class SealError(TinBaoError):
    """A sealed file cannot be written or opened; the message says why in one line."""


class NotSealed(SealError):
    """The file does not start with the sealed files' magic."""


class WrongKey(SealError):
    """The file was sealed with another key than the one given."""

    def __init__(self, message: str, file_key_id: str) -> None:
        super().__init__(message)
        self.file_key_id = file_key_id


class Damaged(SealError):
    """A part of the file fails its check: changed on the way, or a bad medium."""


class Truncated(SealError):
    """The file ends before its last part: the copy was cut short."""


def key_id(key: bytes) -> str:
    """A key's public name (16 hex digits): which key sealed a file, without revealing it."""
    return hmac.new(key, b"tinbao key id", hashlib.sha256).digest()[:8].hex()


@dataclass(frozen=True)
class Header:
    """What a sealed file says about itself before it is opened."""

    version: int
    kind: int
    key_id: str
    label: str
    salt: bytes
    prefix: bytes
    raw: bytes  # the header's bytes: the associated data of every chunk

    @property
    def kind_name(self) -> str:
        return KINDS.get(self.kind, f"kind {self.kind}")


def _file_key(key: bytes, salt: bytes, kind: int) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt,
                info=b"tinbao sealed file v1" + bytes([kind])).derive(key)


def _nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if final else b"\x00")


def make_header(key: bytes, kind: int, label: str = "") -> Header:
    """A fresh header (new salt and nonce prefix) for a file sealed with ``key``."""
    if len(key) != KEY_BYTES:
        raise SealError(f"a sealing key has {KEY_BYTES} bytes, not {len(key)}")
    name = label.encode("utf-8")
    if len(name) > MAX_LABEL:
        raise SealError(f"label {label!r} is longer than {MAX_LABEL} bytes")
    salt, prefix = os.urandom(16), os.urandom(7)
    raw = _FIXED.pack(MAGIC, VERSION, kind, AES_256_GCM, CHUNK_LOG2, bytes.fromhex(key_id(key)),
                      salt, prefix, len(name)) + name
    return Header(VERSION, kind, key_id(key), label, salt, prefix, raw)


def read_header(source: BinaryIO, name: str = "the file") -> Header:
    """Parse the header at the start of ``source`` (left just after it); ``NotSealed`` if none."""
    fixed = _read_exactly(source, _FIXED.size)
    if len(fixed) < len(MAGIC) or fixed[: len(MAGIC)] != MAGIC:
        if fixed.startswith(SQLITE_MAGIC):
            raise NotSealed(f"{name} is a plain SQLite file, not a sealed one")
        raise NotSealed(f"{name} is not a sealed TinBao file")
    if len(fixed) < _FIXED.size:
        raise Truncated(f"{name} is cut short: it ends inside its header")
    _magic, version, kind, algorithm, chunk_log2, kid, salt, prefix, length = _FIXED.unpack(fixed)
    if version != VERSION:
        raise SealError(f"{name} is a sealed file of version {version}, which this TinBao cannot read (a newer one?)")
    if algorithm != AES_256_GCM or chunk_log2 != CHUNK_LOG2:
        raise SealError(f"{name} uses an algorithm or chunk size this TinBao does not know")
    label = _read_exactly(source, length)
    if len(label) < length:
        raise Truncated(f"{name} is cut short: it ends inside its header")
    try:
        text = label.decode("utf-8")
    except UnicodeDecodeError:
        raise Damaged(f"{name} is damaged or was altered: its header is not readable") from None
    return Header(version, kind, kid.hex(), text, salt, prefix, fixed + label)


def peek_header(path: str | Path) -> Header:
    """The header of the file at ``path`` (``NotSealed``, ``Truncated``, ``SealError``, ``OSError``)."""
    path = Path(path)
    with open(path, "rb") as fh:
        return read_header(fh, str(path))


def is_sqlite(path: str | Path) -> bool:
    """True when ``path`` starts like a plain SQLite database (an old, unsealed backup)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def seal(source: BinaryIO, target: BinaryIO, key: bytes, kind: int, label: str = "") -> Header:
    """Write ``source``'s bytes to ``target`` sealed with ``key``, ``CHUNK`` bytes at a time."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = make_header(key, kind, label)
    aead = AESGCM(_file_key(key, header.salt, kind))
    target.write(header.raw)
    counter = 0
    block = _read_exactly(source, CHUNK)
    while True:
        after = _read_exactly(source, CHUNK) if len(block) == CHUNK else b""
        final = not after
        target.write(aead.encrypt(_nonce(header.prefix, counter, final), block, header.raw))
        if final:
            return header
        counter += 1
        if counter >= 2**32:
            raise SealError("the file is too large to seal")
        block = after


def unseal(source: BinaryIO, target: BinaryIO, key: bytes, name: str = "the file",
           limit: int | None = None) -> Header:
    """Write the plain text of sealed ``source`` to ``target``, checking every part.

    ``limit`` bounds the plain text (a file from a stick is not trusted to be small). Raises
    ``WrongKey``, ``Damaged``, ``Truncated``, ``NotSealed`` or ``SealError`` with one line.
    """
    header = read_header(source, name)
    for block in _open_chunks(source, header, key, name):
        if limit is not None:
            limit -= len(block)
            if limit < 0:
                raise SealError(f"{name} holds more than this TinBao takes from one file")
        target.write(block)
    return header


def check_key(header: Header, key: bytes, name: str = "the file") -> None:
    """``WrongKey`` unless ``key`` is the one ``header`` names."""
    ours = key_id(key)
    if header.key_id != ours:
        raise WrongKey(f"{name} was sealed with another key (key id {header.key_id}), "
                       f"not this one (key id {ours})", header.key_id)


def _open_chunks(source: BinaryIO, header: Header, key: bytes, name: str) -> Iterator[bytes]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    check_key(header, key, name)
    aead = AESGCM(_file_key(key, header.salt, header.kind))
    size = CHUNK + TAG
    counter = 0
    block = _read_exactly(source, size)
    if not block:
        raise Truncated(f"{name} is cut short: nothing after its header")
    while True:
        after = _read_exactly(source, size) if len(block) == size else b""
        final = not after
        if len(block) < TAG:
            raise Truncated(f"{name} is cut short: its part {counter + 1} is incomplete")
        try:
            yield aead.decrypt(_nonce(header.prefix, counter, final), block, header.raw)
        except InvalidTag:
            if final and len(block) == size:
                with contextlib.suppress(InvalidTag):
                    aead.decrypt(_nonce(header.prefix, counter, False), block, header.raw)
                    raise Truncated(f"{name} is cut short: it ends after part {counter + 1}, "
                                    "which was not the last") from None
            where = "its header or first part" if counter == 0 else f"part {counter + 1}"
            if final:  # the last part: a cut inside it and a change look the same
                raise Damaged(f"{name} is damaged, was altered or is cut short ({where}, the last, "
                              "fails its check)") from None
            raise Damaged(f"{name} is damaged or was altered ({where} fails its check)") from None
        if final:
            return
        counter += 1
        block = after


def _read_exactly(source: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the stream."""
    data = source.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = source.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def seal_file(source: Path, target: Path, key: bytes, kind: int, label: str = "") -> Header:
    """Seal the file ``source`` into ``target`` (0600), written beside it then renamed.

    An interrupted write leaves only a hidden ``.part`` file, never half a ``target``.
    """
    part = target.with_name(f".{target.name}.part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            os.fchmod(out.fileno(), 0o600)
            header = seal(src, out, key, kind, label)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
    return header


def unseal_file(source: Path, target: Path, key: bytes) -> Header:
    """Open sealed ``source`` into a new ``target`` (0600); nothing is left behind on failure."""
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            header = unseal(src, out, key, str(source))
            out.flush()
            os.fsync(out.fileno())
        return header
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        raise
