"""SQLite storage: one file, WAL, a connection per thread, the schema as migration sets.

Every hand-off in the gateway is a table with a status column (DESIGN.md), so this module
is under all of them: the modem worker commits inbound PDUs before they leave the SIM, the
router turns them into tips and replies, the outbox sender marks parts sent after +CMGS.
It owns no table: the core tables are in ``gateway.schema``, each area's beside its code,
and ``prepare`` applies the sets its caller names.

Timestamps are stored as ISO 8601 text in UTC (``2026-11-29T03:40:00.123456+00:00``),
which sorts correctly as text and reads clearly in the sqlite3 shell.

The file holds tipsters' numbers, password hashes and the session-signing key: a folder this
module makes is 0700, and the database with its ``-wal``/``-shm`` is 0600 whatever the umask
(SQLite gives the two side files the mode of the database). ``prepare`` refuses a file that
fails ``PRAGMA quick_check`` before anything writes to it, and a gateway holds ``run_lock``
while it runs, so a restore can tell (DESIGN.md, Operations and Files). Every connection sets
``PRAGMA secure_delete``: what the retention purge or a person's erasure removes is zeroed in
the file, not left in free pages (``checkpoint_truncate`` then empties the WAL of old frames).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

BUSY_TIMEOUT_MS = 10_000
#: The most of the file one connection keeps in memory (SQLite's default is 2,000 KiB). The
#: gateway has a connection per thread (about twenty: waitress's eight, each worker's), so at
#: the default a grown file fills 40 MB of a Pi Zero's 512. A bigger cache buys little here:
#: in WAL mode a connection drops its cache whenever another one committed, which happens
#: every few seconds, and the pages it reads again come from the OS cache.
CACHE_KIB = 512
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
SIDE_FILES = ("-wal", "-shm", "-journal")


class DatabaseCorrupt(Exception):
    """The database failed ``PRAGMA quick_check`` (or is not a database at all).

    Not under ``TinBaoError`` because this module imports no other (``app.py`` catches both).
    """

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"database {path} is damaged ({problem}); it was left untouched")
        self.path = path
        self.problem = problem


# The last moment written and its text. The router hands one ``now`` to every function a
# message goes through, and each writes it (inbox, outbox, session, tip, sync rows): about
# five conversions of the same moment per message, 2 µs each. A datetime never changes, so
# the same object always gives the same text; one tuple, swapped whole, is safe across threads.
_last_iso: tuple[datetime | None, str] = (None, "")


def utcnow_iso(now: datetime | None = None) -> str:
    """The storage form of a moment: ISO 8601 in UTC."""
    global _last_iso
    if now is None:
        return datetime.now(UTC).isoformat()
    last = _last_iso
    if last[0] is now:
        return last[1]
    text = now.astimezone(UTC).isoformat()
    _last_iso = (now, text)  # holds ``now``, so no other object can take its identity
    return text


def open_db(path: str | Path, *, durable: bool = False) -> Database:
    """Open a connection for the calling thread.

    ``durable`` connections fsync every commit (``synchronous=FULL``): the modem worker uses
    one, because a committed inbound SMS is then deleted from the SIM and must survive a
    power cut. Other connections use ``NORMAL``, which in WAL mode survives a killed process
    and keeps transactions in order, so a later durable commit also makes them durable.
    """
    path = Path(path)
    make_private_dir(path.parent)
    if not path.exists():
        create_private_file(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    db = Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    # Removed rows (a purge, an erased number) are overwritten with zeros, in their page and
    # in the free pages, so a deleted tip or number cannot be read back from the file.
    db.execute("PRAGMA secure_delete = ON")
    return db


def prepare(path: str | Path, migration_sets: Iterable[Migrations]) -> None:
    """Create the file if needed, switch it to WAL once and apply the pending migrations of each set.

    The caller says which tables the file holds (``gateway.database.gateway_migrations``,
    ``gateway.database.hub_migrations``): each area owns its set next to its code, and
    this module knows none of them.
    """
    path = Path(path)
    check_sound(path)
    db = open_db(path)
    try:
        tighten(path)
        db.enable_wal()
        for migration_set in migration_sets:
            migration_set.apply(db)
    finally:
        db.close()


def make_private_dir(folder: Path) -> None:
    """Make ``folder`` (and missing parents) 0700; a folder that was already there is left as it is.

    Tightening an existing folder could lock others out of a shared one (``/tmp``, a home);
    ``python app.py doctor`` reports a data folder others can read, and the installer makes
    ``/var/lib/tinbao`` 0700.
    """
    missing = []
    for parent in [folder, *folder.parents]:
        if parent.exists():
            break
        missing.append(parent)
    folder.mkdir(parents=True, exist_ok=True)
    for made in missing:
        with contextlib.suppress(OSError):
            os.chmod(made, PRIVATE_DIR)


def create_private_file(path: Path) -> None:
    """Create an empty file readable by its owner only (a race with another creator is fine)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    with contextlib.suppress(OSError):
        os.chmod(path, PRIVATE_FILE)


def tighten(path: Path) -> None:
    """The database and its side files 0600 (files made by older code were 0644)."""
    for candidate in [path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILES)]:
        with contextlib.suppress(OSError):
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, PRIVATE_FILE)


def check_sound(path: str | Path) -> None:
    """Raise ``DatabaseCorrupt`` when an existing file fails ``PRAGMA quick_check``.

    Runs before any write, so a damaged file is never made worse (nor "repaired" by a
    migration that starts from nothing). A locked file is not damage: that error is raised.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        raise DatabaseCorrupt(path, str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise DatabaseCorrupt(path, str(exc)) from None
    finally:
        conn.close()
    if [row[0] for row in rows] != ["ok"]:
        raise DatabaseCorrupt(path, "; ".join(str(row[0]) for row in rows[:3]))


def run_lock_path(path: str | Path) -> Path:
    return Path(f"{path}.lock")


@contextlib.contextmanager
def run_lock(path: str | Path, *, exclusive: bool = False) -> Iterator[None]:
    """Held while a gateway uses the file (shared: several may), or by a restore (exclusive).

    An ``flock`` on ``<database>.lock``: the kernel lets it go when the process dies, so a
    killed gateway never leaves a stale lock. The shared holder writes its process id there
    for ``python app.py doctor``. An exclusive request that cannot have it at once raises
    ``BlockingIOError``; a shared one waits (a restore takes seconds).
    """
    lock_file = run_lock_path(path)
    make_private_dir(lock_file.parent)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        if not exclusive:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor lets the lock go


def lock_holder(path: str | Path) -> int | None:
    """The process id of a running gateway on this file (0 when unknown), None when none runs."""
    lock_file = run_lock_path(path)
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class write_transaction:  # lower case: called like the function it was, ``with write_transaction(db):``
    """The one way the gateway writes more than one statement together.

    Outside a transaction it begins one that takes the write lock at once (``BEGIN
    IMMEDIATE``): sqlite-utils' ``db.atomic()`` begins a deferred one, which can fail with
    SQLITE_BUSY without waiting when it reads, then writes, after another thread committed
    in between; here the busy timeout applies. Inside a caller's transaction it is a
    savepoint (as sqlite-utils' ``db.atomic()`` makes one): a failure undoes only the inner block
    and is raised to the caller, a success becomes part of the caller's commit. So a
    function that writes can always open its own ``write_transaction`` and still be called
    from inside another (a tip and its sync rows, a change and its audit entry, commit
    together). A single statement alone needs none: ``db.execute`` commits it.

    A class rather than a ``contextlib.contextmanager`` generator: the router opens two or
    three of these per message, and a generator's frame costs 1.3 µs more each time.
    """

    __slots__ = ("db", "nested")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.nested = False

    def __enter__(self) -> Database:
        conn = self.db.conn
        self.nested = conn.in_transaction
        if self.nested:
            # sqlite-utils' ``atomic()`` names each savepoint at random, so SQLite prepares its
            # SAVEPOINT and RELEASE anew every time; one name serves, since these nest strictly
            # (RELEASE and ROLLBACK TO take the most recent savepoint of that name).
            conn.execute("SAVEPOINT tinbao_write")
        else:
            conn.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        conn = self.db.conn
        if exc_type is None:
            conn.execute("RELEASE tinbao_write" if self.nested else "COMMIT")
        elif conn.in_transaction:
            # An error such as a RAISE(ROLLBACK) trigger may have ended the whole transaction.
            if self.nested:
                conn.execute("ROLLBACK TO tinbao_write")
                conn.execute("RELEASE tinbao_write")
            else:
                conn.execute("ROLLBACK")
        return False  # the error, if any, goes on to the caller


def checkpoint_truncate(db: Database) -> bool:
    """Copy the WAL into the database and cut the WAL file to nothing; True when it could.

    After a purge: the WAL still holds the old frames of every page the purge changed (with
    the removed text), until SQLite happens to write over them. A reader that holds an old
    snapshot makes it wait (the busy timeout), then answer False; the next purge tries again.
    """
    if db.conn.in_transaction:
        return False
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:  # locked: a statement of this connection still runs
        return False
    return busy == 0


# SQLite's primary result codes that say the file cannot be written (the low byte of the
# extended code): the disk is full, the card was remounted read-only, the card failed.
_CANNOT_WRITE = {13: "disk full", 8: "read-only", 10: "I/O error"}


def cannot_write(exc: BaseException) -> str | None:
    """Why SQLite could not write (``"disk full"``, ``"read-only"``, ``"I/O error"``), else None.

    Such an error is the storage's, not the message's or the row's: nothing is marked failed
    for it, nothing is deleted from the SIM, and the worker tries the same step again later.
    """
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    return _CANNOT_WRITE.get(code & 0xFF)


class WriteHealth:
    """Whether the workers can write the database, kept in memory (it cannot be written then).

    The modem worker and the router report each write that failed (``failed``) or went
    through (``ok``); the page and ``/healthz`` read ``problem()`` through ``WebServices``.
    Safe from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, dict[str, str]] = {}

    def failed(self, who: str, reason: str, detail: str, now: datetime | None = None) -> None:
        with self._lock:
            since = self._problems.get(who, {}).get("since") or utcnow_iso(now)
            self._problems[who] = {"who": who, "reason": reason, "detail": detail[:200], "since": since}

    def ok(self, who: str) -> None:
        if who in self._problems:  # a read of a dict is safe; the lock only for the change
            with self._lock:
                self._problems.pop(who, None)

    def problem(self) -> dict[str, str] | None:
        """The oldest write failure still unresolved: who, reason, detail, since; None when all write."""
        with self._lock:
            problems = sorted(self._problems.values(), key=lambda p: p["since"])
        return dict(problems[0]) if problems else None


class ThreadLocalDb:
    """One sqlite-utils ``Database`` per thread for a given file (a connection is not shared)."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = Path(path)
        self.durable = durable
        self._local = threading.local()
        self._all: list[Database] = []
        self._lock = threading.Lock()

    def get(self) -> Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = open_db(self.path, durable=self.durable)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    def close_all(self) -> None:
        with self._lock:
            for db in self._all:
                with contextlib.suppress(sqlite3.Error):
                    db.close()
            self._all.clear()
        self._local = threading.local()

