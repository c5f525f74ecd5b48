"""Bad input from the LAN gets a 4xx, never a 500, and cannot flood the disk.

Each finding of issue 9 part 11 has a test here: out-of-range days, pages and ids on every
list; a CSV with old-Mac line endings; ``import-tips`` on a device, a FIFO, a symlink to a
device, a lone surrogate; throttled logins; a success that must not clear an address's
failures; ``next=`` on broadcast actions; a NUL in an SMS shown in the tips list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import ROOT, login_client, make_services, make_user, rows

from gateway import tips
from gateway.config import load_config
from gateway.storage import utcnow_iso
from gateway.web import create_app, params

HUGE = "99999999999999999999"  # 20 digits: more than SQLite's 64-bit integers


@pytest.fixture
def admin(logged_in):
    return logged_in("admin")


@pytest.fixture(scope="module")
def site_admin(tmp_path_factory):
    """One app and one logged-in admin for the read-mostly checks (a login costs a password hash)."""
    from gateway.database import prepare_gateway
    from gateway.storage import ThreadLocalDb

    path = tmp_path_factory.mktemp("site") / "tinbao.db"
    prepare_gateway(path)
    storage = ThreadLocalDb(path)
    config = load_config(env={"TINBAO_STORAGE_PATH": str(path)})
    app = create_app(config, make_services(path, config=config, db=storage))
    app.testing = True
    client = app.test_client()
    login_client(client, path, "admin")
    yield client
    storage.close_all()


GETS = [
    "/tips?from=0001-01-01", "/tips?to=9999-12-31", "/tips?page=²", f"/tips?page={HUGE}",
    "/tips/export.csv?from=0001-01-01", "/tips/export.csv?to=9999-12-31",
    f"/admin/audit?before={HUGE}", "/admin/audit?before=²", "/admin/audit?from=0001-01-01",
    "/admin/audit?to=9999-12-31",
    "/broadcasts/subscribers?page=²", f"/broadcasts/subscribers?group={HUGE}", f"/broadcasts/subscribers/{HUGE}",
    f"/broadcasts/{HUGE}", f"/broadcasts/progress.json?ids={HUGE}", "/broadcasts/progress.json?ids=²",
    f"/menus/history/{HUGE}", "/conversations?before=²-1", f"/conversations?before=1-{HUGE}",
]


@pytest.mark.parametrize("url", GETS)
def test_out_of_range_values_are_a_4xx(site_admin, url):
    response = site_admin.get(url)
    assert 400 <= response.status_code < 500, (url, response.status_code)


@pytest.mark.parametrize("url", [f"/broadcasts/{HUGE}/pause", f"/broadcasts/{HUGE}/cancel",
                                 f"/broadcasts/subscribers/{HUGE}", f"/inbox/{HUGE}/retry",
                                 f"/menus/history/{HUGE}/restore", f"/duty/{HUGE}/remove"])
def test_out_of_range_ids_in_forms_are_a_4xx(site_admin, url):
    assert 400 <= site_admin.post(url).status_code < 500  # 404 (no such id), or 405 where only GET matches


def test_the_400_page_names_the_parameter(site_admin):
    page = site_admin.get("/tips?from=0001-01-01").get_data(as_text=True)
    assert "from" in page and "Traceback" not in page
    assert site_admin.get("/tips?from=2026-01-05&to=2026-01-06&page=1").status_code == 200  # real ones still work


def test_the_strict_parsers():
    assert "²".isdigit()  # why str.isdigit is not enough
    with pytest.raises(params.BadParameter):
        params.parse_int("page", "²")
    with pytest.raises(params.BadParameter):
        params.parse_int("id", HUGE)
    assert params.parse_int("id", str(params.MAX_ID)) == params.MAX_ID
    assert params.page_arg({"page": "100001"}) == 100_000 and params.page_arg({}) == 1
    assert params.parse_day("from", "29/11/2026").isoformat() == "2026-11-29"
    assert params.parse_day("from", "not a day") is None  # typing slip: no filter
    with pytest.raises(params.BadParameter):
        params.parse_day("to", "9999-12-31")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "evil"):
        assert params.local_url(evil, "/broadcasts/1") == "/broadcasts/1", evil
    assert params.local_url("/broadcasts?x=1", "/") == "/broadcasts?x=1"


def test_a_csv_with_cr_only_line_endings_imports(admin, db_path):
    from io import BytesIO

    data = "Số điện thoại,Họ tên,Thôn\r0912000001,An,Na Hối\r0912000002,Bình,Na Hối\r".encode()
    response = admin.post("/broadcasts/subscribers/import", data={"file": (BytesIO(data), "danh-ba.csv")},
                          content_type="multipart/form-data")
    assert response.status_code == 200
    assert rows(db_path, "SELECT number FROM subscribers ORDER BY number") == [("+84912000001",), ("+84912000002",)]


def test_next_on_broadcast_actions_stays_on_this_site(site_admin):
    for evil in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        response = site_admin.post(f"/broadcasts/{1}/pause", data={"next": evil})
        assert response.status_code == 303
        assert response.headers["Location"] in ("/broadcasts/1", "http://localhost/broadcasts/1"), evil
    response = site_admin.post("/broadcasts/1/pause", data={"next": "/broadcasts?tab=all"})
    assert response.headers["Location"].endswith("/broadcasts?tab=all")


# -- logins ------------------------------------------------------------------------------------

def _login(client, username: str, password: str = "mat-khau-thu-123"):
    from conftest import csrf_token_from

    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_throttled_logins_write_one_audit_row_per_address_and_old_ones_are_pruned(app, db_path, db):
    make_user(db_path, "officer", "an")
    old = utcnow_iso(datetime.now(UTC) - timedelta(days=40))
    db.execute("INSERT INTO audit_log (at, who, action, target, detail, ip) VALUES (?, 'anonymous',"
               " 'login.throttled', 'x', '', '192.0.2.9')", [old])
    db.conn.commit()
    client = app.test_client()
    for _ in range(5):
        assert _login(client, "an", "wrong-password").status_code == 401
    for n in range(300):
        assert _login(client, "an" if n % 2 else f"guess{n}").status_code in (401, 429)
    throttled = rows(db_path, "SELECT detail, ip FROM audit_log WHERE action = 'login.throttled'")
    assert len(throttled) == 1, throttled  # aggregated; the 40-day-old row is pruned
    detail = json.loads(throttled[0][0])
    assert detail["count"] >= 150 and len(detail["names"]) <= 10


def test_a_success_from_the_same_address_does_not_clear_its_failures(app, db_path):
    make_user(db_path, "officer", "an")
    client = app.test_client()
    for n in range(19):  # a guesser walks through names: one short of the address's limit (4 x 5)
        assert _login(client, f"user{n}", "wrong-password").status_code == 401
    assert _login(client, "an").status_code == 303  # their own account, between guesses
    client = app.test_client()
    assert _login(client, "user19", "wrong-password").status_code == 401
    assert _login(client, "an").status_code == 429  # the address is held: 20 failures in the window


# -- a NUL in an SMS ---------------------------------------------------------------------------

def test_a_nul_in_an_sms_shows_whole_in_the_tips_list_and_is_stored_as_received(admin, db, db_path):
    text = "Trộm bò ở thôn\x00 Na Hối, sáng nay"
    with db.atomic():
        tip = tips.create(db, gateway_id="cl", tipster="+84912000003", text=text, inbox_id=None,
                          now=datetime.now(UTC))
    page = admin.get("/tips").get_data(as_text=True)
    assert "Trộm bò ở thôn\u2400 Na Hối, sáng nay" in page
    assert "\x00" not in page
    assert "Trộm bò ở thôn\u2400 Na Hối" in admin.get(f"/tips/{tip.reference}").get_data(as_text=True)
    dashboard = admin.get("/api/dashboard").get_json()
    assert dashboard["tips"][0]["text"].endswith("sáng nay")
    assert rows(db_path, "SELECT text FROM tips") == [(text,)]


# -- import-tips on the hub --------------------------------------------------------------------

def _import(tmp_path, path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINBAO_STORAGE_PATH": str(tmp_path / "hub.db"), "TINBAO_HUB_GATEWAYS": "cl:token"}
    return subprocess.run([sys.executable, "app.py", "import-tips", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)


def _one_clear_line(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], lines


def test_import_tips_refuses_a_device_a_fifo_and_a_device_behind_a_symlink(tmp_path):
    _one_clear_line(_import(tmp_path, "/dev/zero"), "not a regular file")
    fifo = tmp_path / "tips.fifo"
    os.mkfifo(fifo)
    _one_clear_line(_import(tmp_path, fifo), "not a regular file")  # and it does not hang
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "tinbao-cl.json").symlink_to("/dev/zero")
    _one_clear_line(_import(tmp_path, stick / "tinbao-cl.json"), "not a regular file")


def test_import_tips_with_a_lone_surrogate_prints_one_clear_line(tmp_path):
    path = tmp_path / "tinbao-cl.json"
    path.write_text('{"format": "tinbao-tips", "version": 1, "gateway_id": "cl",'
                    ' "tips": [{"uid": "cl-1", "text": "x\\ud800y"}], "signature": {"alg": "hmac-sha256",'
                    ' "value": "00"}}', encoding="ascii")
    _one_clear_line(_import(tmp_path, path), "lone surrogate")
