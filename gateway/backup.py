"""Backups: consistent copies of the live database, the nightly job, and restore.

A Pi's SD card wears out; the tips must outlive it. SQLite's online backup API copies the
file while the gateway keeps writing: one backup step under one read transaction, so the
copy holds exactly what was committed when it started (WAL lets the writers go on).

- ``python app.py backup FILE`` at any time (a folder as FILE: a dated file in it);
- the gateway's ``BackupWorker`` makes one copy a night into ``backup.path`` (at
  ``backup.hour``, local time), keeps ``backup.keep`` days of them, and copies each onto a USB
  stick when one is mounted at ``backup.usb_path``;
- ``python app.py restore FILE`` refuses while a gateway holds the file's run lock, checks
  ``PRAGMA integrity_check`` of FILE first, and keeps the file it replaces as
  ``<database>.before-restore-<time>`` (with its ``-wal``, so nothing committed is lost).

Every copy that leaves the database is **sealed** (``gateway.sealed``) with the post's file
key (``gateway.filekeys``): the plain SQLite copy is made in the database's own folder (0700),
sealed into the target, and removed, so no plain copy ever reaches a backup folder or a USB
stick. ``restore`` opens a sealed file with the key (or the recovery code) into the same
folder, checks it, and puts it in place; an old plain copy (``tinbao-*.db``, made before
sealing) still restores, with a warning line.

File names carry the local time (``gateway.timezone``) with its offset,
``tinbao-20261206-233000+0700.db.sealed``, so an officer reading a USB stick sees the night's
own hour; copies named before (UTC, without an offset) are still read, ordered and pruned.

The last copy is published in ``state`` key ``backup`` for the dashboard and the doctor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from sqlite_utils import Database

from gateway import filekeys, sealed, state
from gateway.background import Worker
from gateway.clock import Clock
from gateway.config import Config
from gateway.errors import TinBaoError
from gateway.storage import (
    BUSY_TIMEOUT_MS,
    SIDE_FILES,
    ThreadLocalDb,
    create_private_file,
    lock_holder,
    make_private_dir,
    run_lock,
    utcnow_iso,
)

log = logging.getLogger(__name__)

STATE_KEY = "backup"
STALE_AFTER = timedelta(days=2)  # the dashboard's alert and the doctor's ✗
#: ``tinbao-<local time><offset>.db.sealed``; without an offset an older name, in UTC; ``.db``: an old plain copy.
NAME = re.compile(r"^tinbao-(\d{8}-\d{6})([+-]\d{4})?\.db(\.sealed)?$")
STAMP = "%Y%m%d-%H%M%S"
USB_FOLDER = "tinbao-backups"


class BackupError(TinBaoError):
    """A backup or a restore could not be done; the message says why in one line."""


def local_stamp(now: datetime, tz: tzinfo) -> str:
    """``20261206-233000+0700``: the moment in the gateway's time zone, with its offset."""
    return now.astimezone(tz).strftime(STAMP + "%z")


def backup_name(now: datetime, tz: tzinfo) -> str:
    return f"tinbao-{local_stamp(now, tz)}.db.sealed"


def _stamp_of(path: Path) -> datetime | None:
    match = NAME.match(path.name)
    if not match:
        return None
    if match.group(2):
        return datetime.strptime(match.group(1) + match.group(2), STAMP + "%z")
    return datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)


def backups_in(folder: Path) -> list[Path]:
    """The dated copies in ``folder``, oldest first (a missing folder has none)."""
    try:
        found = [p for p in folder.iterdir() if _stamp_of(p) is not None and p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: _stamp_of(p))  # type: ignore[arg-type, return-value]


# -- copying ------------------------------------------------------------------------------------


def write_copy(source: Path, target: Path, *, readonly_source: bool = False) -> None:
    """A consistent copy of ``source`` at ``target`` (0600), written beside it then renamed.

    The copy is one self-contained file (journal mode DELETE) that passed ``quick_check``;
    an interrupted copy leaves only a ``.part`` file, never a half-written ``target``.
    """
    make_private_dir(target.parent)
    part = target.with_name(f".{target.name}.part")
    with contextlib.suppress(FileNotFoundError):
        part.unlink()
    create_private_file(part)
    if readonly_source:
        src = sqlite3.connect(f"file:{pathname2url(str(source.resolve()))}?mode=ro", uri=True)
    else:
        src = sqlite3.connect(str(source), timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dst = sqlite3.connect(str(part))
        try:
            src.backup(dst)  # pages=-1: one step, one snapshot of the source
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise BackupError(f"the copy of {source} failed its check: {problems[0]}")
        finally:
            dst.close()
        with open(part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(part, target)
        _sync_folder(target.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy {source}: {exc}") from None
    finally:
        src.close()
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def write_sealed(source: Path, target: Path, key: filekeys.PostKey, *, readonly_source: bool = False) -> str:
    """A consistent copy of ``source`` sealed with ``key`` at ``target`` (0600); its key id.

    The plain copy is made beside ``source`` (the database's own private folder), sealed into
    ``target`` and removed: a backup folder or a USB stick never holds a plain copy, even for
    a moment.
    """
    plain = source.parent / f".{target.name}.{secrets.token_hex(4)}.plain"
    try:
        write_copy(source, plain, readonly_source=readonly_source)
        make_private_dir(target.parent)
        sealed.seal_file(plain, target, key.key, sealed.KIND_BACKUP)
        _sync_folder(target.parent)
    except OSError as exc:
        raise BackupError(f"could not write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            plain.unlink()
    return key.key_id


def _post_key(config: Config) -> filekeys.PostKey:
    try:
        return filekeys.current(config)
    except filekeys.KeyProblem as exc:
        raise BackupError(f"cannot seal the backup: {exc}") from None


def newest_backup(config: Config) -> Path | None:
    """The newest dated copy in ``backup.path``, or None."""
    copies = backups_in(config.backup_path)
    return copies[-1] if copies else None


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def record(db: Database, target: Path, now: datetime, **extra: Any) -> None:
    """Publish the last copy for the dashboard and the doctor."""
    state.put_json(db, STATE_KEY, {"at": utcnow_iso(now), "file": str(target), **extra}, now)


def last(db: Database) -> dict[str, Any] | None:
    """The last copy made (``at``, ``file``, maybe ``usb``/``usb_error``), or None."""
    value = state.get_json(db, STATE_KEY)
    if value is None or not isinstance(value.get("at"), str):
        return None
    try:
        value["at_time"] = datetime.fromisoformat(value["at"])
    except ValueError:
        return None
    return value


@dataclass(frozen=True)
class Freshness:
    """How old the last copy is, and whether a person should act (older than two days)."""

    at: datetime | None
    age: timedelta | None
    stale: bool


def freshness(db: Database, now: datetime) -> Freshness:
    """The last copy's age; a file that never had one is stale once it is two days old."""
    found = last(db)
    if found is not None:
        age = now - found["at_time"]
        return Freshness(found["at_time"], age, age > STALE_AFTER)
    row = db.execute("SELECT min(applied_at) FROM _sqlite_migrations").fetchone()
    try:
        born = datetime.fromisoformat(row[0]) if row and row[0] else now
    except ValueError:
        born = now
    return Freshness(None, None, now - born > STALE_AFTER)


# -- the nightly copy ---------------------------------------------------------------------------


def prunable(folder: Path, keep_days: int, now: datetime) -> list[Path]:
    """Dated copies older than ``keep_days`` (the newest never): what ``prune`` removes."""
    return [path for path in backups_in(folder)[:-1]
            if now - _stamp_of(path) > timedelta(days=keep_days)]  # type: ignore[operator]


def prune(folder: Path, keep_days: int, now: datetime) -> list[Path]:
    """Remove dated copies older than ``keep_days``; the newest is always kept."""
    removed = []
    for path in prunable(folder, keep_days, now):
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path)
    return removed


def folders(config: Config) -> list[Path]:
    """Where dated copies are kept: ``backup.path``, and the USB stick's folder when one is mounted."""
    found = [config.backup_path]
    usb = Path(config.backup.usb_path).expanduser() if config.backup.usb_path else None
    if usb is not None and os.path.ismount(usb):
        found.append(usb / USB_FOLDER)
    return found


def nightly_due(config: Config, now: datetime) -> bool:
    """Due when no copy in ``backup.path`` is from today (local) and ``backup.hour`` has passed."""
    tz = config.timezone
    local = now.astimezone(tz)
    copies = backups_in(config.backup_path)
    if copies:
        newest = _stamp_of(copies[-1]).astimezone(tz)  # type: ignore[union-attr]
        if newest.date() >= local.date():
            return False
    return local.hour >= config.backup.hour


def nightly(config: Config, db: Database, now: datetime) -> Path:
    """Make tonight's copy, copy it to the USB stick when mounted, prune both, publish."""
    target = config.backup_path / backup_name(now, config.timezone)
    extra: dict[str, Any] = {"key_id": write_sealed(config.storage_path, target, _post_key(config))}
    prune(config.backup_path, config.backup.keep, now)
    usb = Path(config.backup.usb_path).expanduser() if config.backup.usb_path else None
    if usb is not None:
        if os.path.ismount(usb):
            try:
                folder = usb / USB_FOLDER
                make_private_dir(folder)
                part = folder / f".{target.name}.part"
                shutil.copyfile(target, part)
                os.chmod(part, 0o600)  # sealed already: the stick gets the same file
                with open(part, "rb+") as fh:
                    os.fsync(fh.fileno())
                os.replace(part, folder / target.name)
                prune(folder, config.backup.keep, now)
                extra["usb"] = str(folder / target.name)
            except OSError as exc:
                log.error("could not copy the backup onto the USB stick at %s: %s", usb, exc)
                extra["usb_error"] = str(exc)
        else:
            extra["usb_error"] = f"no USB stick mounted at {usb}"
    record(db, target, now, **extra)
    log.info("nightly backup written to %s%s", target, f" and {extra['usb']}" if "usb" in extra else "")
    return target


class BackupWorker(Worker):
    """The gateway's nightly copy: looks once in a while, copies when ``nightly_due``.

    The first look comes ``START_DELAY`` after start, so a gateway restarting in a loop (or a
    test's) does not copy the file at every start.
    """

    START_DELAY = 300.0
    LOOK_EVERY = 600.0

    def __init__(self, config: Config, dbs: ThreadLocalDb, clock: Clock) -> None:
        super().__init__("backup")
        self.config = config
        self.dbs = dbs
        self.clock = clock
        self._first = True

    def tick(self) -> float:
        if self._first:
            self._first = False
            return self.START_DELAY
        now = self.clock.now()
        if nightly_due(self.config, now):
            try:
                nightly(self.config, self.dbs.get(), now)
            except (BackupError, OSError, sqlite3.Error) as exc:
                log.error("nightly backup failed: %s", exc)
        return self.LOOK_EVERY


# -- commands -----------------------------------------------------------------------------------


def restore_hint(config: Config) -> str:
    """One sentence: the command that restores the newest copy there is."""
    copies = []  # the stick's first: of two copies of one night, the Pi's own is named
    if config.backup.usb_path:
        copies += backups_in(Path(config.backup.usb_path).expanduser() / USB_FOLDER)
    copies += backups_in(config.backup_path)
    copies.sort(key=lambda p: _stamp_of(p))  # type: ignore[arg-type, return-value]
    if not copies:
        return (f"no backup found in {config.backup_path}: restore a copy with "
                "python app.py restore FILE (the gateway stopped)")
    return f"restore the newest backup with: python app.py restore {copies[-1]} (the gateway stopped)"


def backup_command(config: Config, args: Any) -> int:
    """``python app.py backup FILE``: a consistent copy now, while the gateway runs or not.

    FILE may be a folder (an existing one, one written with a final ``/``, or ``backup.path``):
    the copy is then a dated file in it, like the nightly ones.
    """
    from gateway.storage import open_db

    source = config.storage_path
    if not source.is_file():
        raise BackupError(f"no database at {source} (storage.path)")
    now = datetime.now(UTC)
    target = Path(args.file).expanduser()
    as_folder = target.is_dir() or str(args.file).endswith("/") or target.resolve() == config.backup_path.resolve()
    if as_folder:
        target = target / backup_name(now, config.timezone)
    elif target.exists():
        raise BackupError(f"{target} exists already: name a new file or a folder")
    key = _post_key(config)
    write_sealed(source, target, key)
    db = open_db(source)
    try:
        record(db, target, now, key_id=key.key_id)
    finally:
        db.close()
    print(f"backup written to {target} (sealed with the file key, key id {key.key_id})")
    return 0


def check_restorable(path: Path) -> None:
    """FILE opens, passes ``PRAGMA integrity_check`` and is a TinBao database."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        conn = sqlite3.connect(f"file:{pathname2url(str(path.resolve()))}?mode=ro", uri=True)
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
            ours = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be restored: {exc}") from None
    if problems != ["ok"]:
        raise BackupError(f"{path} failed its integrity check: {problems[0]}")
    if not ours:
        raise BackupError(f"{path} is not a TinBao database")


def open_backup(config: Config, source: Path, key: bytes | None = None) -> Path | None:
    """A sealed ``source`` opened into a private file beside the database (the caller removes it).

    None when ``source`` is an old plain SQLite copy (restored as it is). ``key`` (from a
    recovery code) wins over the key file. ``BackupError`` says in one line why it cannot open.
    """
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    try:
        header = sealed.peek_header(source)
    except sealed.NotSealed:
        if sealed.is_sqlite(source):
            return None
        raise BackupError(f"{source} is not a TinBao backup (neither sealed nor a SQLite file)") from None
    except (sealed.SealError, OSError) as exc:
        raise BackupError(f"{source} cannot be restored: {exc}") from None
    if header.kind != sealed.KIND_BACKUP:
        raise BackupError(f"{source} is a sealed {header.kind_name}, not a backup")
    if key is None:
        try:
            key = filekeys.current(config).key
            for kept in filekeys.keyring(config):  # a key replaced since (key init --replace)
                if kept.key_id == header.key_id:
                    key = kept.key
        except filekeys.KeyProblem as exc:
            raise BackupError(f"{source} cannot be opened without the post's file key: {exc}; "
                              "or give the paper's code: python app.py restore FILE --recovery-code") from None
    make_private_dir(config.storage_path.parent)
    plain = config.storage_path.parent / f".restore-{secrets.token_hex(4)}.plain"
    try:
        sealed.unseal_file(source, plain, key)
    except sealed.WrongKey as exc:
        raise BackupError(f"{exc}: use the key that made it, or its recovery code "
                          "(python app.py restore FILE --recovery-code)") from None
    except (sealed.SealError, OSError) as exc:
        raise BackupError(f"cannot restore: {exc}; use another backup") from None
    return plain


def restore(config: Config, source: Path, now: datetime, key: bytes | None = None) -> Path | None:
    """Put ``source`` in place of the database; the file it replaces is kept (its new name returned).

    A sealed ``source`` is opened first (``open_backup``); an old plain one is taken as it is.
    """
    plain = open_backup(config, source, key)
    try:
        return _restore_plain(config, plain or source, now)
    finally:
        if plain is not None:
            with contextlib.suppress(FileNotFoundError):
                plain.unlink()


def _restore_plain(config: Config, source: Path, now: datetime) -> Path | None:
    target = config.storage_path
    check_restorable(source)
    if source.resolve() == target.resolve():
        raise BackupError(f"{source} is the database itself")
    try:
        with run_lock(target, exclusive=True):
            kept = None
            if target.exists():
                kept = Path(f"{target}.before-restore-{local_stamp(now, config.timezone)}")
                os.replace(target, kept)
                for suffix in SIDE_FILES:
                    side = Path(f"{target}{suffix}")
                    if side.exists():
                        os.replace(side, Path(f"{kept}{suffix}"))
            write_copy(source, target, readonly_source=True)
            return kept
    except BlockingIOError:
        raise BackupError(_running(target)) from None


def _is_sealed(path: Path) -> bool:
    try:
        sealed.peek_header(path)
    except (sealed.SealError, OSError):
        return False
    return True


def _running(target: Path) -> str:
    pid = lock_holder(target)
    who = f" (process {pid})" if pid else ""
    return (f"the gateway is running on {target}{who}: stop it first "
            "(sudo systemctl stop tinbao), then restore")


def restore_command(config: Config, args: Any) -> int:
    """``python app.py restore FILE``: refuses while the gateway runs; keeps what it replaces."""
    target = config.storage_path
    if lock_holder(target) is not None:
        raise BackupError(_running(target))
    source = Path(args.file).expanduser()
    key = None
    if getattr(args, "recovery_code", False):
        try:
            key = filekeys.key_from_recovery_code(filekeys.read_code("Recovery code (11 groups): "))
        except filekeys.BadRecoveryCode as exc:
            raise BackupError(str(exc)) from None
    if source.is_file() and not _is_sealed(source) and sealed.is_sqlite(source):
        print(f"warning: {source} is an old backup that was not sealed (made before TinBao sealed its "
              "backups): restoring it as it is; new backups are sealed", file=sys.stderr)
    kept = restore(config, source, datetime.now(UTC), key)
    print(f"restored {args.file} to {target}")
    if kept is not None:
        print(f"the file it replaced is kept as {kept}")
    return 0


# -- the doctor's line on the post's file key (here: it needs the newest backup) -----------------------


def key_health(config: Config) -> tuple[bool, str, str]:
    """(ok, found, fix) for ``python app.py doctor``: present, 0600, readable, the newest backup's key."""
    path = filekeys.key_path(config)
    try:
        key = filekeys.load(path)
    except filekeys.KeyProblem as exc:
        if not path.exists():
            fix = ("sudo tinbao key init (the installer makes it)" if config.backup.key_path
                   else "python app.py key init")
            return False, f"no file key at {path}: backups cannot be sealed", fix
        return False, str(exc), "run as the gateway's user; a damaged key: key init --from-recovery-code"
    if filekeys.loose(path):
        return False, f"{path} is readable by other users", f"chmod 600 {path}"
    newest = newest_backup(config)
    if newest is None:
        return True, f"{path}, 0600, key id {key.key_id} (no backup yet)", ""
    try:
        header = sealed.peek_header(newest)
    except sealed.NotSealed:
        return False, f"the newest backup {newest.name} is not sealed (made by an older TinBao)", (
            f"make a sealed one now: tinbao backup {config.backup_path}; then remove the old plain copies")
    except (sealed.SealError, OSError) as exc:
        return False, f"the newest backup {newest.name} cannot be read: {exc}", "make a new one: tinbao backup"
    if header.key_id != key.key_id and header.key_id in {k.key_id for k in filekeys.keyring(config)}:
        return True, (f"{path}, 0600, key id {key.key_id}; the newest backup is sealed with a replaced key "
                      "kept beside it (the next backup uses this one)"), ""
    if header.key_id != key.key_id:
        return False, (f"the newest backup {newest.name} was sealed with key id {header.key_id}, "
                       f"not this key ({key.key_id})"), (
            "put back the key that made it (or rebuild it from its recovery code); new backups use this one")
    return True, f"{path}, 0600, key id {key.key_id}, the newest backup's", ""
