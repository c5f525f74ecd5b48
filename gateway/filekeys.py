"""The post's file key: it seals every backup, and its recovery code rebuilds it.

The key is 32 random bytes in a small TOML file, 0600: ``backup.key_path``
(``/etc/tinbao/backup.key`` on a Pi, made by the installer), or ``backup.key`` beside the
database when that key is empty (a demo or a developer's checkout, where ``python app.py key
init`` makes it, and the gateway makes it at its first start if nobody did).

The **recovery code** is the key itself, written for paper: 11 groups of 6 characters from
Crockford's base-32 alphabet (no I, L, O, U; case and dashes do not matter), each group
ending in a check character (Luhn mod 32 over the group and its place), the whole ending in
a 16-bit checksum of the key. A typing mistake is named by its group; a missing group, a
swapped pair of groups or a wrong code is refused. It is shown **once**: printed by whoever
makes the key at a terminal (the installer, ``key init``), or, for a key made without a
terminal, once on the setup page (``/admin/setup``). The key file remembers the first
showing (``recovery_shown``); the page's is kept in the ``state`` table.

A Pi whose card died restores from the code: ``python app.py key init --from-recovery-code``
writes the same key again (so every old backup opens), or ``python app.py restore FILE
--recovery-code`` opens one backup with it.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import logging
import os
import secrets
import stat
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway import sealed
from gateway.config import Config
from gateway.errors import TinBaoError

log = logging.getLogger(__name__)

DEFAULT_NAME = "backup.key"
FORMAT = "tinbao-file-key"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
GROUPS = 11
GROUP_DATA = 5  # + 1 check character
SHOWN_STATE_KEY = "backup_key_shown"  # the page's showing of the recovery code


class KeyProblem(TinBaoError):
    """The key is missing, unreadable, loose or malformed; the message says the fix in one line."""


class BadRecoveryCode(TinBaoError):
    """A recovery code that does not check out; the message names the group when it can."""


@dataclass(frozen=True)
class PostKey:
    """The post's key as read from its file."""

    path: Path
    key: bytes = field(repr=False)
    made_at: str
    recovery_shown: str  # "" until it was shown; else when and by what

    @property
    def key_id(self) -> str:
        return sealed.key_id(self.key)


def key_path(config: Config) -> Path:
    """``backup.key_path``, or ``backup.key`` beside the database."""
    if config.backup.key_path:
        return Path(config.backup.key_path).expanduser()
    return config.storage_path.parent / DEFAULT_NAME


# -- the recovery code ---------------------------------------------------------------------------


def _luhn_check(values: list[int]) -> int:
    """Luhn mod 32: catches every single wrong character and most swapped neighbours."""
    total, factor = 0, 2
    for value in reversed(values):
        addend = factor * value
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return (32 - total % 32) % 32


def recovery_code(key: bytes) -> str:
    """The key for paper: ``XXXXXC XXXXXC …`` (11 groups, C the group's check character)."""
    data = key + hashlib.sha256(key).digest()[:2]
    number = int.from_bytes(data, "big") << (GROUPS * GROUP_DATA * 5 - len(data) * 8)
    symbols = [(number >> (5 * i)) & 31 for i in reversed(range(GROUPS * GROUP_DATA))]
    groups = []
    for g in range(GROUPS):
        values = symbols[g * GROUP_DATA:(g + 1) * GROUP_DATA]
        check = _luhn_check([g, *values])
        groups.append("".join(ALPHABET[v] for v in [*values, check]))
    return " ".join(groups)


def key_from_recovery_code(code: str) -> bytes:
    """The key a recovery code holds, or ``BadRecoveryCode`` saying what is wrong."""
    cleaned = code.upper().translate(str.maketrans("OIL", "011"))
    chars = [c for c in cleaned if not c.isspace() and c not in "-_.,"]
    wrong = sorted({c for c in chars if c not in ALPHABET})
    if wrong:
        raise BadRecoveryCode(f"the recovery code holds characters it never has: {' '.join(wrong)}")
    size = GROUPS * (GROUP_DATA + 1)
    if len(chars) != size:
        raise BadRecoveryCode(f"the recovery code has {len(chars)} characters; it has {size} "
                              f"({GROUPS} groups of {GROUP_DATA + 1})")
    symbols: list[int] = []
    for g in range(GROUPS):
        values = [ALPHABET.index(c) for c in chars[g * (GROUP_DATA + 1):(g + 1) * (GROUP_DATA + 1)]]
        if _luhn_check([g, *values[:-1]]) != values[-1]:
            raise BadRecoveryCode(f"group {g + 1} of the recovery code has a mistake: check its "
                                  f"{GROUP_DATA + 1} characters on the paper")
        symbols += values[:-1]
    number = 0
    for value in symbols:
        number = (number << 5) | value
    data = (number >> (GROUPS * GROUP_DATA * 5 - 34 * 8)).to_bytes(34, "big")
    key, checksum = data[:32], data[32:]
    if hashlib.sha256(key).digest()[:2] != checksum:
        raise BadRecoveryCode("the recovery code does not check out (groups in the wrong order, or "
                              "another post's code)")
    return key


# -- the key file ---------------------------------------------------------------------------------


def _toml_text(key: bytes, made_at: str, shown: str) -> str:
    import base64

    return (
        "# TinBao's file key: it seals this post's backups (gateway/filekeys.py).\n"
        "# Keep it 0600. Its recovery code, on paper in the post's safe, rebuilds it;\n"
        "# without both, no one can open the backups.\n"
        f'format = "{FORMAT}"\n'
        f'key_id = "{sealed.key_id(key)}"\n'
        f'key = "{base64.b64encode(key).decode()}"\n'
        f'made_at = "{made_at}"\n'
        f'recovery_shown = "{shown}"\n'
    )


def load(path: Path) -> PostKey:
    """Read the key file at ``path``; ``KeyProblem`` with the fix when it cannot be used."""
    import base64

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise KeyProblem(f"no file key at {path}: make one with python app.py key init "
                         "(or key init --from-recovery-code to rebuild it from the paper)") from None
    except PermissionError:
        raise KeyProblem(f"the file key {path} cannot be read by this user: run as the gateway's user "
                         "(sudo tinbao ...)") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KeyProblem(f"the file key {path} cannot be read: {exc}") from None
    try:
        key = base64.b64decode(str(data.get("key", "")), validate=True)
    except ValueError:
        key = b""
    if data.get("format") != FORMAT or len(key) != sealed.KEY_BYTES:
        raise KeyProblem(f"{path} is not a TinBao file key (rebuild it: python app.py key init "
                         "--from-recovery-code)")
    if data.get("key_id") not in (None, sealed.key_id(key)):
        raise KeyProblem(f"{path} is damaged (its key does not match its key id)")
    return PostKey(path, key, str(data.get("made_at", "")), str(data.get("recovery_shown", "")))


def create(path: Path, key: bytes | None = None, *, shown: str = "") -> PostKey:
    """Write a new key file (0600, never over an existing one) and return it."""
    key = key or secrets.token_bytes(sealed.KEY_BYTES)
    made_at = datetime.now(UTC).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyProblem(f"{path} exists already: the backups made with it need it; "
                         "it was left as it is") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(_toml_text(key, made_at, shown))
        fh.flush()
        os.fsync(fh.fileno())
    return PostKey(path, key, made_at, shown)


def current(config: Config) -> PostKey:
    """The post's key (``KeyProblem`` when it cannot be used)."""
    return load(key_path(config))


def keyring(config: Config) -> list[PostKey]:
    """The current key and the replaced ones kept beside it (``key init --replace``), readable ones only."""
    path = key_path(config)
    found = []
    for candidate in [path, *sorted(path.parent.glob(f"{path.name}.replaced-*"), reverse=True)]:
        with contextlib.suppress(KeyProblem):
            found.append(load(candidate))
    return found


def replace(path: Path, by: str) -> PostKey:
    """A new key in place of the one at ``path``, which is kept as ``<name>.replaced-<time>``.

    For a lost paper: the new key's code is printed once; the old key stays beside it (0600)
    so the backups it sealed still open (``restore`` picks the key by the file's key id).
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    os.replace(path, path.with_name(f"{path.name}.replaced-{stamp}"))
    return create(path, shown=f"{datetime.now(UTC).isoformat(timespec='seconds')} by {by}")


def ensure_default(config: Config) -> PostKey | None:
    """Make the key beside the database when ``backup.key_path`` is empty and none exists yet.

    A demo or a developer's gateway then seals its nightly copies from the first night; its
    recovery code waits to be shown once on the setup page. A configured path is never made
    here (the installer makes it; a missing one is the doctor's ✗, not a new key).
    """
    path = key_path(config)
    if config.backup.key_path or path.exists():
        return None
    try:
        made = create(path)
    except (KeyProblem, OSError) as exc:
        log.warning("could not make the file key %s: %s", path, exc)
        return None
    log.warning("made the file key %s (key id %s) that seals the backups; an admin shows its "
                "recovery code once on /admin/setup, to keep on paper", path, made.key_id)
    return made


def loose(path: Path) -> bool:
    """True when users other than the owner may read or write the key file."""
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & 0o077)
    except OSError:
        return False


# -- shown once -------------------------------------------------------------------------------------


def shown_on_page(db: Any, key: PostKey) -> dict[str, Any] | None:
    """The page's record of showing this key's code (``at``, ``by``), or None."""
    from gateway import state

    record = state.get_json(db, SHOWN_STATE_KEY)
    if isinstance(record, dict) and record.get("key_id") == key.key_id:
        return record
    return None


def record_shown_on_page(db: Any, key: PostKey, by: str, now: datetime) -> bool:
    """Mark the code shown by the page; False when it had been shown already (by anyone)."""
    from gateway import state
    from gateway.storage import utcnow_iso

    if key.recovery_shown or shown_on_page(db, key):
        return False
    state.put_json(db, SHOWN_STATE_KEY, {"key_id": key.key_id, "at": utcnow_iso(now), "by": by}, now)
    return True


# -- python app.py key ... ---------------------------------------------------------------------------


def read_code(prompt: str) -> str:
    """A recovery code from the terminal (not echoed), or one line of standard input."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline()


def print_code(key: PostKey, out: Any = None) -> None:
    out = out or sys.stdout
    code = recovery_code(key.key).split()
    print("", file=out)
    print("  Mã khôi phục khóa sao lưu / recovery code of the backup key", file=out)
    print(f"  (key id {key.key_id}): in ra, cất trong két của trụ sở / print it, keep it in the post's safe.", file=out)
    print(f"      {' '.join(code[:6])}", file=out)
    print(f"      {' '.join(code[6:])}", file=out)
    print("  It is shown this once. Without it and the key file, no one can open the backups.", file=out)
    print("", file=out)


def key_command(config: Config, args: Any) -> int:
    """``python app.py key init [--from-recovery-code] [--quiet]`` and ``key show``."""
    path = key_path(config)
    action = getattr(args, "key_command", None) or "show"
    if action == "show":
        key = load(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        shown = key.recovery_shown or "not yet (an admin shows it once on /admin/setup)"
        print(f"{path}: key id {key.key_id}, mode {mode:04o}, made {key.made_at}; recovery code shown: {shown}")
        return 0
    if path.exists() and getattr(args, "replace", False):
        old = load(path)
        made = replace(path, getattr(args, "by", None) or "python app.py key init --replace")
        print(f"made a new file key {path} (key id {made.key_id}); the old one (key id {old.key_id}) "
              "is kept beside it for the backups it sealed")
        print_code(made)
        return 0
    if path.exists():
        key = load(path)
        print(f"keeping the file key {path} (key id {key.key_id})")
        return 0
    if getattr(args, "from_recovery_code", False):
        raw = key_from_recovery_code(read_code("Recovery code (11 groups): "))
        made = create(path, raw, shown="rebuilt from the recovery code")
        print(f"rebuilt the file key {path} (key id {made.key_id}) from the recovery code")
        return 0
    quiet = getattr(args, "quiet", False)
    by = getattr(args, "by", None) or "python app.py key init"
    made = create(path, shown="" if quiet else f"{datetime.now(UTC).isoformat(timespec='seconds')} by {by}")
    print(f"made the file key {path} (key id {made.key_id}, 0600)")
    if quiet:
        print("its recovery code is shown once on the setup page (/admin/setup)")
    else:
        print_code(made)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return 0
