"""The officers' sync page: states, waiting rows, "retry now", a new Zalo token, the USB file."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import csrf_token_from, login_client, login_page, make_services, rows, screenshot
from fake_zalo import add_tips

from gateway import sealed
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb
from gateway.sync import report, sneakernet
from gateway.sync.worker import SyncWorker
from gateway.web import create_app

NOW = datetime.now(UTC)


@pytest.fixture
def setup(tmp_path: Path):
    config = load_config(env={
        "TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"), "TINBAO_ZALO_ENABLED": "true",
        "TINBAO_ZALO_OFFICER_IDS": "111,222", "TINBAO_DISTRICT_TOKEN": "token-cl",
        "TINBAO_DISTRICT_URL": "http://127.0.0.1:9", "TINBAO_WEB_SECRET_KEY": "test-secret",
    })
    prepare_gateway(config.storage_path)
    add_tips(config.storage_path, 3)
    dbs = ThreadLocalDb(config.storage_path)
    db = dbs.get()
    with db.conn:
        db.conn.execute("UPDATE sync_queue SET status='failed', attempts=4, last_error=?, next_attempt_at=?"
                        " WHERE tip_id=1 AND destination='district'",
                        ("<script>alert(1)</script> HTTP 500", "2099-01-01T00:00:00+00:00"))
        db.conn.execute("UPDATE sync_queue SET status='dead', last_error='Zalo -201: Parameters are invalid'"
                        " WHERE tip_id=2 AND destination='zalo'")
    reporter = report.SyncReport()
    reporter.update(db, "zalo", NOW, state="needs_reauth", queued=2,
                    error="Cần cấp quyền lại cho OA (re-authorise the OA): Zalo từ chối refresh token")
    reporter.update(db, "district", NOW, state="offline", queued=3, error="Không có Internet")
    worker = SyncWorker(config, dbs)  # not started: the page only asks it to look again
    services = make_services(config.storage_path, config=config, db=dbs, sync=worker)
    app = create_app(config, services)
    yield app, config, worker
    dbs.close_all()


def test_viewers_see_every_destination_and_what_waits(setup):
    app, config, _ = setup
    client = app.test_client()
    login_client(client, config.storage_path, "viewer")
    html = client.get("/sync").get_data(as_text=True)
    assert "Đồng bộ tin báo" in html and "Cần cấp quyền lại" in html and "re-authorise the OA" in html
    assert "Mất kết nối, sẽ thử lại" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "Bị từ chối" in html and "CL-0002" in html
    assert 'id="retry-all"' not in html and "Refresh token mới" not in html  # reading only
    token = csrf_token_from(html)
    assert client.post("/sync/retry", data={"csrf_token": token}).status_code == 403


def test_an_officer_presses_retry_now(setup):
    app, config, worker = setup
    client = app.test_client()
    login_client(client, config.storage_path, "officer")
    for lane in worker.lanes.values():
        lane.failures, lane.wake_event = 5, threading.Event()
    response = client.post("/sync/retry", data={"destination": "district"})
    assert response.status_code == 302
    waiting = rows(config.storage_path, "SELECT status, next_attempt_at FROM sync_queue WHERE tip_id=1"
                                        " AND destination='district'")[0]
    assert waiting[0] == "queued" and waiting[1] < "2099"
    assert "district" in json.loads(rows(config.storage_path, "SELECT value FROM state WHERE key='sync_retry'")[0][0])
    assert worker.lanes["district"].wake_event.is_set()
    # The page never touches a lane's back-off: the woken lane forgets it on its next pass.
    assert worker.lanes["district"].failures == 5
    for lane in worker.lanes.values():
        lane.take_retry_request(worker.durable_dbs.get())
    assert worker.lanes["district"].failures == 0
    assert worker.lanes["zalo"].failures == 5  # only the destination asked for
    # One dead row, brought back by hand.
    dead_id = rows(config.storage_path, "SELECT id FROM sync_queue WHERE status='dead'")[0][0]
    assert client.post(f"/sync/rows/{dead_id}/retry").status_code == 302
    assert rows(config.storage_path, "SELECT status FROM sync_queue WHERE id=?", (dead_id,)) == [("queued",)]
    assert [a for (a,) in rows(config.storage_path, "SELECT action FROM audit_log WHERE action LIKE 'sync.%'")] == [
        "sync.retry", "sync.retry"]


def test_an_admin_pastes_a_new_refresh_token_which_is_never_shown_or_logged(setup):
    app, config, _ = setup
    client = app.test_client()
    login_client(client, config.storage_path, "admin")
    assert "Refresh token mới" in client.get("/sync").get_data(as_text=True)
    client.post("/sync/zalo/token", data={"refresh_token": "rt-new-after-reauth"})
    assert rows(config.storage_path, "SELECT source, refresh_token FROM zalo_tokens") == [
        ("officer", "rt-new-after-reauth")]
    again = client.post("/sync/zalo/token", data={"refresh_token": "rt-new-after-reauth"}, follow_redirects=True)
    assert "chỉ nhận mỗi refresh token một lần" in again.get_data(as_text=True)
    assert "rt-new" not in again.get_data(as_text=True)
    logged = rows(config.storage_path, "SELECT detail FROM audit_log WHERE action='sync.zalo_token'")
    assert logged and all("rt-new" not in detail for (detail,) in logged)


def test_the_usb_file_can_be_downloaded_and_verifies(setup):
    app, config, _ = setup
    client = app.test_client()
    login_client(client, config.storage_path, "officer")
    response = client.post("/sync/export")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    raw = response.data
    assert raw.startswith(sealed.MAGIC) and b"CL-0001" not in raw  # sealed for the hub
    plain = io.BytesIO()
    sealed.unseal(io.BytesIO(raw), plain, sneakernet.export_key("token-cl", config.gateway.id))
    payload = sneakernet.verify(json.loads(plain.getvalue()), "token-cl")
    assert [t["reference"] for t in payload["tips"]] == ["CL-0001", "CL-0002", "CL-0003"]
    assert all("tipster" not in t and t["tipster_masked"] for t in payload["tips"])  # masked by default


def test_the_sync_page_in_chromium(setup, page, tmp_path):
    import waitress

    app, config, _ = setup
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.effective_port}"
        login_page(page, base, config.storage_path, "admin")
        page.goto(f"{base}/sync")
        assert page.locator("#sync-zalo [data-state]").inner_text() == "Cần cấp quyền lại"
        assert page.locator("#sync-rows tbody tr").count() == 6
        screenshot(page, "sync-page")
        with page.expect_navigation():
            page.click("#retry-all")
        assert "Đã yêu cầu thử lại ngay" in page.content()
    finally:
        server.close()
