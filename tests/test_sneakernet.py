"""Sneakernet: unsynced tips to a sealed, signed file, carried on a USB stick, taken in by the hub.

The real commands are run (``python app.py export-tips`` / ``import-tips``), against real
SQLite files: importing twice or after an online sync changes nothing; a tampered, cut or
foreign file is refused; the file holds no tip text in clear and only the hub opens it.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, rows
from fake_zalo import HubServer, add_tips

from gateway import sealed
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.storage import open_db
from gateway.sync import sneakernet


def run_app(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    clean.update(env)
    return subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def commune(tmp_path: Path) -> Path:
    """A gateway database with 30 tips waiting for the district (no internet for weeks)."""
    db_path = tmp_path / "tinbao.db"
    prepare_gateway(db_path)
    add_tips(db_path, 30, destinations=("district",))
    return db_path


def gateway_env(db_path: Path, token: str = "token-cl") -> dict[str, str]:
    return {"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_DISTRICT_TOKEN": token}


def hub_env(tmp_path: Path) -> dict[str, str]:
    return {"TINBAO_STORAGE_PATH": str(tmp_path / "hub.db"), "TINBAO_HUB_GATEWAYS": "cl:token-cl,bh:token-bh"}


def opened(path: Path, token: str = "token-cl", gateway_id: str = "cl") -> dict:
    """The JSON document inside a sealed export, opened as the hub would."""
    plain = io.BytesIO()
    with open(path, "rb") as fh:
        sealed.unseal(fh, plain, sneakernet.export_key(token, gateway_id))
    return json.loads(plain.getvalue())


def hub_counts(tmp_path: Path) -> tuple:
    path = tmp_path / "hub.db"
    return tuple(rows(path, f"SELECT COUNT(*) FROM {table}")[0][0]
                 for table in ("hub_tips", "hub_imports", "hub_events"))


def test_export_then_import_twice_changes_nothing_the_second_time(tmp_path, commune):
    stick = tmp_path / "usb" / "tips-cl.json"
    stick.parent.mkdir()
    exported = run_app("export-tips", str(stick), **gateway_env(commune))
    assert exported.returncode == 0, exported.stderr
    assert "30 tin" in exported.stdout
    assert stat.S_IMODE(stick.stat().st_mode) == 0o600
    raw = stick.read_bytes()
    assert raw.startswith(sealed.MAGIC) and b"tips" not in raw and "trộm".encode() not in raw
    assert len(opened(stick)["tips"]) == 30
    # Exporting does not take tips out of the queue: only the hub's acknowledgement does.
    assert rows(commune, "SELECT COUNT(*) FROM sync_queue WHERE status='queued'") == [(30,)]
    assert rows(commune, "SELECT tips FROM sync_exports") == [(30,)]

    first = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "30 tin mới" in first.stdout
    after_first = hub_counts(tmp_path)
    assert after_first[:2] == (30, 1)

    second = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert second.returncode == 0 and "không có gì thay đổi" in second.stdout
    assert hub_counts(tmp_path) == after_first
    assert rows(tmp_path / "hub.db", "SELECT DISTINCT source FROM hub_tips") == [("file",)]


def test_a_tampered_file_is_refused(tmp_path, commune):
    stick = tmp_path / "tips.json"
    assert run_app("export-tips", str(stick), **gateway_env(commune)).returncode == 0
    raw = bytearray(stick.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit changed on the way
    stick.write_bytes(bytes(raw))
    refused = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert refused.returncode == 1
    assert "bị từ chối" in refused.stderr and "damaged" in refused.stderr
    assert rows(tmp_path / "hub.db", "SELECT COUNT(*) FROM hub_tips") == [(0,)]
    assert rows(tmp_path / "hub.db", "SELECT event FROM hub_events") == [("import_refused",)]


@pytest.mark.parametrize("damage", ["another_token", "cut_short", "relabelled", "unknown_gateway",
                                    "plain_no_signature", "plain_not_json", "plain_other_gateway"])
def test_other_bad_files_are_refused_with_one_line(tmp_path, commune, damage):
    stick = tmp_path / "tips.json"
    token = "token-of-someone-else" if damage == "another_token" else "token-cl"
    gateway_id = "zz" if damage == "unknown_gateway" else "cl"
    assert run_app("export-tips", str(stick), **gateway_env(commune, token),
                   TINBAO_GATEWAY_ID=gateway_id).returncode == 0
    expected = {"another_token": "not sealed with gateway 'cl'", "cut_short": "cut short",
                "relabelled": "not sealed with gateway 'bh'", "unknown_gateway": "'zz' is not in hub.gateways"}
    if damage == "cut_short":
        stick.write_bytes(stick.read_bytes()[:-20])
    elif damage == "relabelled":  # the label names another gateway the hub knows: its header fails
        raw = stick.read_bytes()
        stick.write_bytes(raw.replace(b"\x02cl", b"\x02bh", 1))
    elif damage.startswith("plain_"):  # files written before sealing: plain signed JSON
        document = opened(stick)
        if damage == "plain_no_signature":
            del document["signature"]
            stick.write_text(json.dumps(document), encoding="utf-8")
        elif damage == "plain_not_json":
            stick.write_bytes(json.dumps(document).encode()[:100])
        else:
            document["gateway_id"] = "bh"
            stick.write_text(json.dumps(document), encoding="utf-8")
    refused = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    if damage in expected:
        assert expected[damage] in refused.stderr, refused.stderr
    assert rows(tmp_path / "hub.db", "SELECT COUNT(*) FROM hub_tips") == [(0,)]


def test_a_file_overlapping_an_online_sync_changes_nothing_and_the_queue_empties(tmp_path, commune):
    """Half the tips went online before the export; the rest arrive by file; then online again."""
    from conftest import wait_until

    from gateway.clock import Clock
    from gateway.storage import ThreadLocalDb
    from gateway.sync.worker import SyncWorker

    hub = HubServer(tmp_path, gateways="cl:token-cl")
    hub.start()
    try:
        env = {"TINBAO_STORAGE_PATH": str(commune), "TINBAO_DISTRICT_URL": hub.url, "TINBAO_DISTRICT_TOKEN": "token-cl",
               "TINBAO_SYNC_BATCH_SIZE": "15", "TINBAO_SYNC_POLL_INTERVAL": "0.02"}
        config = load_config(env=env)
        db = open_db(commune)
        from gateway.sync import queue
        from gateway.sync.district import DistrictClient
        client = DistrictClient(config, Clock())
        batch = queue.claim(db, "district", Clock().now(), 15)
        accepted, _ = client.push(batch)  # the link came up for one batch, then went down
        queue.mark_done(db, [t.row_id for t in batch if t.uid in accepted], Clock().now())
        client.close()
        db.close()

        stick = tmp_path / "tips.json"
        assert run_app("export-tips", str(stick), **gateway_env(commune)).returncode == 0
        assert len(opened(stick)["tips"]) == 15
        hub_db = hub.dbs.get()
        from gateway.hub.server import import_file
        outcome, total, new, rejected = import_file(hub_db, hub.config, stick, datetime.now(UTC))
        assert (outcome, total, new, rejected) == ("imported", 15, 15, [])

        dbs = ThreadLocalDb(commune)
        worker = SyncWorker(config, dbs)
        worker.start()
        try:
            assert wait_until(lambda: rows(commune,
                                           "SELECT COUNT(*) FROM sync_queue WHERE status='done'") == [(30,)], 10)
        finally:
            worker.stop()
            dbs.close_all()
        assert len(hub.uids()) == len(set(hub.uids())) == 30
        assert rows(hub.path, "SELECT source, COUNT(*) FROM hub_tips GROUP BY source ORDER BY source") == [
            ("file", 15), ("online", 15)]
    finally:
        hub.close()


def test_a_plain_file_from_an_older_gateway_is_still_taken_in_with_a_warning(tmp_path, commune):
    stick = tmp_path / "tips.json"
    assert run_app("export-tips", str(stick), **gateway_env(commune)).returncode == 0
    stick.write_text(json.dumps(opened(stick), ensure_ascii=False), encoding="utf-8")
    taken = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert taken.returncode == 0 and "30 tin mới" in taken.stdout
    assert "not sealed" in taken.stderr


def test_export_needs_the_district_token(tmp_path, commune):
    result = run_app("export-tips", str(tmp_path / "x.json"), TINBAO_STORAGE_PATH=str(commune))
    assert result.returncode == 1 and "district.token" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_signature_covers_every_field():
    payload = {"format": sneakernet.FORMAT, "version": 1, "gateway_id": "cl", "tips": [{"uid": "cl-1", "text": "a"}]}
    document = sneakernet.sign(payload, "k")
    assert sneakernet.verify(document, "k") == payload
    for change in ({"gateway_id": "bh"}, {"tips": []}, {"extra": 1}):
        with pytest.raises(sneakernet.TamperedFile):
            sneakernet.verify({**document, **change}, "k")
    with pytest.raises(sneakernet.TamperedFile):
        sneakernet.verify(document, "other")
