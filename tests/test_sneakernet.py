"""Sneakernet: unsynced tips to a signed file, carried on a USB stick, taken in by the hub.

The real commands are run (``python app.py export-tips`` / ``import-tips``), against real
SQLite files: importing twice or after an online sync changes nothing; a tampered file is
refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, rows
from fake_zalo import HubServer, add_tips

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
    return {"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_HUB_TOKEN": token}


def hub_env(tmp_path: Path) -> dict[str, str]:
    return {"TINBAO_STORAGE_PATH": str(tmp_path / "hub.db"), "TINBAO_HUB_GATEWAYS": "cl:token-cl,bh:token-bh"}


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
    document = json.loads(stick.read_text(encoding="utf-8"))
    document["tips"][3]["text"] = "Không có gì xảy ra"  # someone edits a tip on the way
    stick.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    refused = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert refused.returncode == 1
    assert "bị từ chối" in refused.stderr and "signature does not match" in refused.stderr
    assert rows(tmp_path / "hub.db", "SELECT COUNT(*) FROM hub_tips") == [(0,)]
    assert rows(tmp_path / "hub.db", "SELECT event FROM hub_events") == [("import_refused",)]


@pytest.mark.parametrize("damage", ["another_token", "no_signature", "not_json", "other_gateway"])
def test_other_bad_files_are_refused_with_one_line(tmp_path, commune, damage):
    stick = tmp_path / "tips.json"
    token = "token-of-someone-else" if damage == "another_token" else "token-cl"
    assert run_app("export-tips", str(stick), **gateway_env(commune, token)).returncode == 0
    if damage == "no_signature":
        document = json.loads(stick.read_text(encoding="utf-8"))
        del document["signature"]
        stick.write_text(json.dumps(document), encoding="utf-8")
    elif damage == "not_json":
        stick.write_bytes(stick.read_bytes()[:100])
    elif damage == "other_gateway":
        document = json.loads(stick.read_text(encoding="utf-8"))
        document["gateway_id"] = "xx"
        stick.write_text(json.dumps(document), encoding="utf-8")
    refused = run_app("import-tips", str(stick), **hub_env(tmp_path))
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
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
        env = {"TINBAO_STORAGE_PATH": str(commune), "TINBAO_HUB_URL": hub.url, "TINBAO_HUB_TOKEN": "token-cl",
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
        assert len(json.loads(stick.read_text(encoding="utf-8"))["tips"]) == 15
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


def test_export_needs_the_district_token(tmp_path, commune):
    result = run_app("export-tips", str(tmp_path / "x.json"), TINBAO_STORAGE_PATH=str(commune))
    assert result.returncode == 1 and "hub.token" in result.stderr
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
