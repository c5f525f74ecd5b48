"""Files a thief cannot read: backups sealed with the post's key (issue 17, part 4).

Real parts: ``python app.py backup`` / ``restore`` / ``key`` run as processes on SQLite files
under tmp_path. A backup holds no SQLite header and no tip text in clear; it restores the
same rows; without the key, with another key, with one byte changed or cut short it is
refused with one clear line and the database is left as it was; the recovery code on paper
opens it and rebuilds the key; an old plain backup still restores with a warning; a big
database is sealed and opened a chunk at a time.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, make_config
from fake_zalo import add_tips

from gateway import backup, filekeys, sealed
from gateway.database import prepare_gateway

TIP_TEXT = "Có người lạ trộm trâu ở thôn Na Hối"


def app(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env={**clean, **env}, input=stdin if stdin is not None else "", timeout=120, cwd=ROOT)


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def integrity(path: Path) -> list[tuple]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


@pytest.fixture
def post(tmp_path):
    """A gateway's file with tips (fake numbers), its key beside it; no gateway running."""
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    add_tips(config.storage_path, 25, text=TIP_TEXT)
    done = app("key", "init", env={"TINBAO_STORAGE_PATH": str(config.storage_path)})
    assert done.returncode == 0, done.stderr
    return config


def env_of(config) -> dict[str, str]:
    return {"TINBAO_STORAGE_PATH": str(config.storage_path)}


def test_key_init_prints_the_recovery_code_once_and_keeps_an_existing_key(post, tmp_path):
    key = filekeys.current(post)
    assert key.path == tmp_path / "backup.key" and oct(key.path.stat().st_mode & 0o777) == "0o600"
    assert key.recovery_shown.endswith("by python app.py key init")
    again = app("key", "init", env=env_of(post))
    assert again.returncode == 0 and "keeping the file key" in again.stdout
    assert filekeys.recovery_code(key.key).split()[0] not in again.stdout  # shown once, not again
    assert filekeys.current(post).key == key.key
    shown = app("key", "show", env=env_of(post))
    assert key.key_id in shown.stdout and "0600" in shown.stdout


def test_a_backup_holds_no_database_and_no_tip_in_clear_and_restores_the_same_rows(post, tmp_path):
    copy = tmp_path / "usb" / "copy.db"
    copy.parent.mkdir()
    done = app("backup", str(copy), env=env_of(post))
    assert done.returncode == 0, done.stderr
    raw = copy.read_bytes()
    assert raw.startswith(sealed.MAGIC) and b"SQLite format 3" not in raw
    for clear in (TIP_TEXT.encode(), "trộm trâu".encode(), b"CL-0001", b"+849100000"):
        assert clear not in raw
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.db"]  # no plain copy left anywhere
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".plain", ".part"))]

    before = dump(post.storage_path)
    db = sqlite3.connect(post.storage_path)
    db.execute("DELETE FROM tips")
    db.commit()
    db.close()
    restored = app("restore", str(copy), env=env_of(post))
    assert restored.returncode == 0, restored.stderr
    assert "warning" not in restored.stderr
    assert integrity(post.storage_path) == [("ok",)]
    after = dump(post.storage_path)
    # Same rows: the state row the backup command writes after copying is the only difference.
    assert [line for line in after if "'backup'" not in line] == [line for line in before if "'backup'" not in line]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".plain")]


@pytest.mark.parametrize("damage", ["no_key", "another_key", "flipped_byte", "cut_at_a_part", "cut_inside",
                                    "not_a_backup"])
def test_a_backup_that_cannot_be_opened_is_refused_with_one_clear_line(post, tmp_path, damage):
    # Three chunks and more: a sizeable file, so a cut can fall on a part's edge.
    db = sqlite3.connect(post.storage_path)
    db.execute("CREATE TABLE padding (x BLOB)")
    db.execute("INSERT INTO padding VALUES (randomblob(200000))")
    db.commit()
    db.close()
    copy = tmp_path / "nightly.db.sealed"
    assert app("backup", str(copy), env=env_of(post)).returncode == 0
    raw = bytearray(copy.read_bytes())
    header = len(sealed.peek_header(copy).raw)
    expected = {
        "no_key": "cannot be opened without the post's file key",
        "another_key": "sealed with another key",
        "flipped_byte": "damaged or was altered (part 2",
        "cut_at_a_part": "cut short: it ends after part 2",
        "cut_inside": "cut short",
        "not_a_backup": "not a TinBao backup",
    }[damage]
    if damage == "no_key":
        filekeys.key_path(post).rename(tmp_path / "elsewhere.key")
    elif damage == "another_key":
        filekeys.key_path(post).unlink()
        filekeys.create(filekeys.key_path(post))
    elif damage == "flipped_byte":
        raw[header + sealed.CHUNK + sealed.TAG + 100] ^= 0x40
    elif damage == "cut_at_a_part":
        del raw[header + 2 * (sealed.CHUNK + sealed.TAG):]
    elif damage == "cut_inside":
        del raw[-1000:]
    else:
        raw[:8] = b"PK\x03\x04zip!"
    copy.write_bytes(bytes(raw))
    before = hashlib.sha256(post.storage_path.read_bytes()).hexdigest()
    refused = app("restore", str(copy), env=env_of(post))
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], refused.stderr
    assert hashlib.sha256(post.storage_path.read_bytes()).hexdigest() == before
    assert not [p for p in tmp_path.iterdir() if "before-restore" in p.name or p.name.endswith(".plain")]


def test_the_recovery_code_opens_a_backup_and_rebuilds_the_key(post, tmp_path):
    key = filekeys.current(post)
    code = filekeys.recovery_code(key.key)
    copy = tmp_path / "copy.sealed"
    assert app("backup", str(copy), env=env_of(post)).returncode == 0
    filekeys.key_path(post).unlink()  # the card died: only the paper is left

    wrong = code[:8] + ("A" if code[8] != "A" else "B") + code[9:]
    refused = app("restore", str(copy), "--recovery-code", env=env_of(post), stdin=wrong + "\n")
    assert refused.returncode == 2 and "group 2 of the recovery code has a mistake" in refused.stderr
    done = app("restore", str(copy), "--recovery-code", env=env_of(post), stdin=code.lower() + "\n")
    assert done.returncode == 0, done.stderr
    assert integrity(post.storage_path) == [("ok",)]

    rebuilt = app("key", "init", "--from-recovery-code", env=env_of(post), stdin=code.replace(" ", "-") + "\n")
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = filekeys.current(post)
    assert again.key == key.key and again.key_id == sealed.peek_header(copy).key_id
    assert again.recovery_shown == "rebuilt from the recovery code"


def test_recovery_codes_name_the_group_of_a_mistake():
    key = bytes(range(32))
    code = filekeys.recovery_code(key)
    groups = code.split()
    assert len(groups) == 11 and all(len(g) == 6 for g in groups)
    assert filekeys.key_from_recovery_code(code) == key
    assert filekeys.key_from_recovery_code(code.replace("0", "o").lower()) == key  # O for 0, any case
    for place in range(len(code.replace(" ", ""))):  # every single wrong character, in every place
        chars = list(code.replace(" ", ""))
        chars[place] = filekeys.ALPHABET[(filekeys.ALPHABET.index(chars[place]) + 7) % 32]
        with pytest.raises(filekeys.BadRecoveryCode, match=f"group {place // 6 + 1} "):
            filekeys.key_from_recovery_code("".join(chars))
    swapped = [groups[1], groups[0], *groups[2:]]
    with pytest.raises(filekeys.BadRecoveryCode, match="group 1"):
        filekeys.key_from_recovery_code(" ".join(swapped))
    with pytest.raises(filekeys.BadRecoveryCode, match="has 60 characters"):
        filekeys.key_from_recovery_code(" ".join(groups[:10]))
    with pytest.raises(filekeys.BadRecoveryCode, match="never has: U"):
        filekeys.key_from_recovery_code(code[:-1] + "U")


def test_an_old_plain_backup_still_restores_with_a_warning(post, tmp_path):
    old = tmp_path / "tinbao-20261101-020000.db"
    backup.write_copy(post.storage_path, old)  # what the nightly job wrote before sealing
    done = app("restore", str(old), env=env_of(post))
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "not sealed" in warning[0]
    assert integrity(post.storage_path) == [("ok",)]


def test_a_big_database_is_sealed_and_opened_a_chunk_at_a_time(post, tmp_path):
    db = sqlite3.connect(post.storage_path)
    db.execute("CREATE TABLE padding (x BLOB)")
    for _ in range(48):
        db.execute("INSERT INTO padding VALUES (randomblob(1000000))")
    db.commit()
    db.close()
    size = post.storage_path.stat().st_size
    assert size > 48_000_000
    copy = tmp_path / "big.db.sealed"
    key = filekeys.current(post)
    tracemalloc.start()
    try:
        backup.write_sealed(post.storage_path, copy, key)
        sealing_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        backup.restore(post, copy, datetime.now(UTC))
        opening_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert copy.stat().st_size > size  # every byte went through, sealed
    assert sealing_peak < 2_000_000 and opening_peak < 2_000_000, (sealing_peak, opening_peak)
    assert integrity(post.storage_path) == [("ok",)]


def test_the_doctor_checks_the_key(post, tmp_path):
    ok, found, _ = backup.key_health(post)
    assert ok and "no backup yet" in found
    assert app("backup", str(post.backup_path), env=env_of(post)).returncode == 0
    ok, found, _ = backup.key_health(post)
    assert ok and "the newest backup's" in found
    key_file = filekeys.key_path(post)
    key_file.chmod(0o644)
    ok, found, fix = backup.key_health(post)
    assert not ok and "readable by other users" in found and fix == f"chmod 600 {key_file}"
    key_file.unlink()
    filekeys.create(key_file)
    ok, found, _ = backup.key_health(post)
    assert not ok and "was sealed with key id" in found
    key_file.unlink()
    ok, found, fix = backup.key_health(post)
    assert not ok and "no file key" in found and "key init" in fix
    doctor = app("doctor", env=env_of(post))
    assert any(line.startswith("✗ backup key") for line in doctor.stdout.splitlines()), doctor.stdout


def test_a_lost_paper_gets_a_new_key_and_the_old_backups_still_open(post, tmp_path):
    old = filekeys.current(post)
    copy = tmp_path / "before.sealed"
    assert app("backup", str(copy), env=env_of(post)).returncode == 0
    replaced = app("key", "init", "--replace", env=env_of(post))
    assert replaced.returncode == 0, replaced.stderr
    new = filekeys.current(post)
    assert new.key != old.key and " ".join(filekeys.recovery_code(new.key).split()[:6]) in replaced.stdout
    kept = list(tmp_path.glob("backup.key.replaced-*"))
    assert len(kept) == 1 and filekeys.load(kept[0]).key == old.key and oct(kept[0].stat().st_mode & 0o777) == "0o600"
    done = app("restore", str(copy), env=env_of(post))  # sealed with the old key: found by its key id
    assert done.returncode == 0, done.stderr
    after = tmp_path / "after.sealed"
    assert app("backup", str(after), env=env_of(post)).returncode == 0
    assert sealed.peek_header(after).key_id == new.key_id
