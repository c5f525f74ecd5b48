"""Backups, restore, a damaged database at start, and private files (DESIGN.md, Operations and Files).

Real parts: the emulator in its own process, a gateway reading it through the pty, SQLite
files under tmp_path, ``python app.py`` run as a separate process.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, make_config, wait_until

from gateway import backup, filekeys, sealed
from gateway.database import prepare_gateway
from gateway.service import Gateway
from gateway.storage import DatabaseCorrupt, lock_holder, open_db


def app(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, input=stdin, timeout=120, cwd=ROOT)


def tip_references(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT reference FROM tips")}
    finally:
        conn.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def opened(copy: Path, config) -> Path:
    """A sealed backup opened with the post's key, beside it (the test reads it as SQLite)."""
    plain = copy.with_name(copy.name + ".opened")
    sealed.unseal_file(copy, plain, filekeys.current(config).key)
    return plain


def test_a_backup_taken_while_200_sms_arrive_holds_every_tip_committed_before_it(tmp_path, emulator_process):
    link, client = emulator_process
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(link))
    gateway = Gateway(config)
    gateway.start()
    stop = threading.Event()
    try:
        assert wait_until(lambda: gateway.modem.state.state == "connected", 15), gateway.modem.state

        def arrive() -> None:  # 200 SMS over about six seconds, five at a time
            for start in range(0, 200, 5):
                client.deliver_many([(f"09{n:08d}", f"TIN so {n} trom cho") for n in range(start, start + 5)])
                if stop.wait(0.15):
                    return

        sender = threading.Thread(target=arrive, daemon=True)
        sender.start()
        assert wait_until(lambda: len(tip_references(config.storage_path)) >= 40, 60)
        before = tip_references(config.storage_path)  # committed before the backup starts
        copy = tmp_path / "copy.db"
        done = app("backup", str(copy), env={"TINBAO_STORAGE_PATH": str(config.storage_path)})
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: len(tip_references(config.storage_path)) == 200, 90)
    finally:
        stop.set()
        gateway.stop()
    assert mode(copy) == 0o600 and not sealed.is_sqlite(copy)
    copy = opened(copy, config)
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    held = tip_references(copy)
    assert before <= held, f"{len(before - held)} tips committed before the backup are missing from it"
    assert len(held) < 200, "the backup should have been taken while SMS were still arriving"
    assert mode(copy) == 0o600
    with open_db(config.storage_path) as db:
        assert backup.last(db)["file"] == str(tmp_path / "copy.db")


@pytest.fixture
def stopped(tmp_path):
    """A gateway's file holding one tip, no gateway running."""
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    db = open_db(config.storage_path)
    with db.atomic():
        db.execute("INSERT INTO state (key, value, updated_at) VALUES ('marker', 'original', 'x')")
    db.close()
    filekeys.create(filekeys.key_path(config))
    return config


def test_restore_refuses_while_the_gateway_runs_and_keeps_the_file_it_replaces(tmp_path, stopped):
    config = stopped
    env = {"TINBAO_STORAGE_PATH": str(config.storage_path)}
    copy = tmp_path / "nightly.db"
    assert app("backup", str(copy), env=env).returncode == 0
    db = open_db(config.storage_path)
    with db.atomic():
        db.execute("UPDATE state SET value = 'changed after the backup' WHERE key = 'marker'")
    db.close()

    gateway = Gateway(config)  # holds the run lock from here until stop()
    try:
        assert lock_holder(config.storage_path) == os.getpid()
        refused = app("restore", str(copy), env=env)
        assert refused.returncode == 2
        assert "gateway is running" in refused.stderr and "systemctl stop tinbao" in refused.stderr
        with pytest.raises(backup.BackupError, match="running"):
            backup.restore(config, copy, datetime.now(UTC))
    finally:
        gateway.stop()
    assert lock_holder(config.storage_path) is None

    done = app("restore", str(copy), env=env)
    assert done.returncode == 0, done.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("tinbao.db.before-restore-")
            and not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and str(kept[0]) in done.stdout
    conn = sqlite3.connect(kept[0])
    assert conn.execute("SELECT value FROM state WHERE key='marker'").fetchone() == ("changed after the backup",)
    conn.close()
    db = open_db(config.storage_path)
    assert db.execute("SELECT value FROM state WHERE key='marker'").fetchone() == ("original",)
    db.close()
    assert mode(config.storage_path) == 0o600


def test_restore_checks_the_file_first(tmp_path, stopped):
    config = stopped
    before = hashlib.sha256(config.storage_path.read_bytes()).hexdigest()
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    for file, reason in ((damaged, "cannot be restored|integrity"), (foreign, "not a TinBao database"),
                         (tmp_path / "missing.db", "does not exist")):
        with pytest.raises(backup.BackupError, match=reason):
            backup.restore(config, file, datetime.now(UTC))
    assert hashlib.sha256(config.storage_path.read_bytes()).hexdigest() == before
    assert not [p for p in tmp_path.iterdir() if "before-restore" in p.name]


def test_nightly_copy_keeps_its_days_and_goes_to_a_mounted_usb_stick(tmp_path, stopped, monkeypatch):
    usb = tmp_path / "usb"
    usb.mkdir()
    config = make_config(tmp_path, TINBAO_BACKUP_USB_PATH=str(usb), TINBAO_BACKUP_KEEP="3",
                         TINBAO_BACKUP_HOUR="2")
    folder = config.backup_path
    assert folder == tmp_path / "backups"
    now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # 03:00 local on the 6th
    assert backup.nightly_due(config, now)
    folder.mkdir()
    tz = config.timezone
    (folder / f"tinbao-{(now - timedelta(days=10)):%Y%m%d-%H%M%S}.db").write_bytes(b"old")  # named in UTC before
    for days in (5, 1):  # older copies: two are past backup.keep
        (folder / backup.backup_name(now - timedelta(days=days), tz)).write_bytes(b"old")

    db = open_db(config.storage_path)
    try:
        backup.nightly(config, db, now)  # no stick mounted: the copy stays on the Pi, the page knows
        assert "no USB stick mounted" in backup.last(db)["usb_error"]
        names = [p.name for p in backup.backups_in(folder)]
        assert names == [backup.backup_name(now - timedelta(days=1), tz), backup.backup_name(now, tz)]
        assert names[-1] == "tinbao-20261206-030000+0700.db.sealed"  # the night's own local hour, its offset
        assert not backup.nightly_due(config, now + timedelta(hours=3))  # one a night
        assert not backup.nightly_due(config, datetime(2026, 12, 6, 18, 0, tzinfo=UTC))  # 01:00 local, 7th
        assert backup.nightly_due(config, datetime(2026, 12, 6, 19, 0, tzinfo=UTC))  # 02:00 local, 7th

        monkeypatch.setattr(backup.os.path, "ismount", lambda path: Path(path) == usb)
        later = now + timedelta(days=1)
        written = backup.nightly(config, db, later)
        on_stick = usb / backup.USB_FOLDER / written.name
        assert on_stick.read_bytes() == written.read_bytes()
        assert backup.last(db)["usb"] == str(on_stick)
        assert mode(written) == 0o600 and mode(on_stick) == 0o600
        assert "restore " + str(written) in backup.restore_hint(config)
    finally:
        db.close()


def test_a_damaged_database_stops_start_up_with_the_restore_command_and_is_left_untouched(tmp_path, stopped):
    config = stopped
    env = {"TINBAO_STORAGE_PATH": str(config.storage_path)}
    assert app("backup", str(config.backup_path), env=env).returncode == 0
    newest = backup.backups_in(config.backup_path)[-1]
    raw = bytearray(config.storage_path.read_bytes())
    page = 4096
    raw[3 * page:6 * page] = os.urandom(3 * page)  # b-tree pages of some tables
    config.storage_path.write_bytes(bytes(raw))
    digest = hashlib.sha256(bytes(raw)).hexdigest()

    with pytest.raises(DatabaseCorrupt, match=re.escape(f"python app.py restore {newest}")):
        Gateway(config)
    started = app("run", env={**env, "TINBAO_WEB_PORT": "0"})
    assert started.returncode == 2
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "damaged" in lines[0] and f"python app.py restore {newest}" in lines[0], lines
    assert hashlib.sha256(config.storage_path.read_bytes()).hexdigest() == digest
    assert lock_holder(config.storage_path) is None

    not_a_database = tmp_path / "garbage" / "tinbao.db"
    not_a_database.parent.mkdir()
    not_a_database.write_bytes(b"this is no database" * 100)
    with pytest.raises(DatabaseCorrupt, match="no backup found"):
        Gateway(make_config(not_a_database.parent))
    assert not_a_database.read_bytes() == b"this is no database" * 100


def test_files_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "new" / "data" / "tinbao.db"
        prepare_gateway(path)
        db = open_db(path)
        db.execute("INSERT INTO state (key, value, updated_at) VALUES ('k', 'v', 'x')")
        assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")):
            if file.exists():
                assert mode(file) == 0o600, file
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700
        db.close()

        shared = tmp_path / "shared"  # a folder that was there before is left as it is (it may be /tmp)
        shared.mkdir(mode=0o755)
        older = shared / "older.db"  # made 0644 by an older version
        sqlite3.connect(older).execute("CREATE TABLE t (x)").connection.close()
        assert mode(older) == 0o644
        prepare_gateway(older)
        assert mode(older) == 0o600
        assert mode(shared) == 0o755
    finally:
        os.umask(old)


def test_the_dashboard_shows_the_last_backup_and_warns_when_it_is_old(tmp_path, stopped):
    from conftest import make_services

    from gateway.modem.status import read_nothing
    from gateway.web import create_app
    from gateway.web.status import alerts, backup_view

    config = stopped
    db = open_db(config.storage_path)
    # The alerts read the page's config (time zone, Zalo, the hub's name): inside a request.
    page = create_app(config, make_services(config.storage_path, config=config))
    request = page.test_request_context()
    request.push()
    try:
        now = datetime.now(UTC)
        modem = read_nothing("connected")
        assert "backup" not in [a["key"] for a in alerts(db, modem, now)]  # a new file is not late yet
        assert "backup" in [a["key"] for a in alerts(db, modem, now + timedelta(days=3))]
        backup.record(db, tmp_path / "x.db", now - timedelta(hours=5))
        assert "5" in backup_view(db, now)["label"]
        assert "backup" not in [a["key"] for a in alerts(db, modem, now)]
        assert "backup" in [a["key"] for a in alerts(db, modem, now + timedelta(days=2, hours=1))]
    finally:
        request.pop()
        db.close()


def test_the_backup_command_refuses_to_overwrite(tmp_path, stopped):
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    with pytest.raises(backup.BackupError, match="exists already"):
        backup.backup_command(stopped, SimpleNamespace(file=str(existing)))
    assert existing.read_bytes() == b"keep me"
