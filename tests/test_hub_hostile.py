"""The hub as a hostile client on the LAN sees it: every refusal is a 4xx (or a reason in
``rejected``), nothing it sends breaks the officers' list page, and its junk never pushes the
real events out. The API is driven over real HTTP to the hub's waitress server; the page
checks use Flask's client on the same app and database.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from conftest import ROOT, rows
from fake_zalo import HubServer
from upstream import hub_login

from gateway.accounts import users
from gateway.clock import ManualClock
from gateway.hub import store
from gateway.hub.app import create_hub_app

TOKEN = "token-cl"


class Door:
    """One keep-alive HTTP connection to the hub's API (as a gateway, or as a stranger)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)

    def send(self, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, (json.loads(raw) if raw else {})

    def push(self, tips: list, token: str | None = TOKEN, gateway_id: str = "cl") -> tuple[int, dict]:
        body = json.dumps({"gateway_id": gateway_id, "tips": tips}).encode()  # ensure_ascii: \\ud800 stays escaped
        return self.send("POST", "/api/v1/tips", body, token)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def door(hub):
    client = Door(hub.url)
    yield client
    client.close()


def tip(uid: str, **fields) -> dict:
    number = int(uid.split("-")[1])
    item = {"uid": uid, "reference": f"CL-{number:04d}", "received_at": "2026-11-29T01:00:00+00:00",
            "text": "Có người lạ vào thôn", "tipster_masked": "0912 *** 678"}
    item.update(fields)
    return item


@pytest.fixture
def officer(hub):
    users.create_user(hub.dbs.get(), "tinh.an", "mat-khau-dai", "admin")
    client = hub.app.test_client()
    hub_login(client, "tinh.an")
    return client


def csrf(html: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', html).group(1).decode()


def list_page_works(client) -> str:
    page = client.get("/")
    assert page.status_code == 200, page.data[:500]
    return page.data.decode()


# -- per-item validation ---------------------------------------------------------------------

@pytest.mark.parametrize("field, value, reason", [
    ("received_at", "9999-12-31T23:59:59-23:59", "received_at must be between 2020-01-01"),
    ("received_at", "2019-12-31T23:59:59+00:00", "received_at must be between 2020-01-01"),
    ("received_at", "yesterday", "received_at is not ISO 8601"),
    ("received_at", "2026-11-29T01:00:00+00:00" + " " * 40, "received_at is not ISO 8601"),
    ("received_at", 20261129, "received_at missing"),
    ("reference", "R" * 65, "reference must be text of at most 64"),
    ("reference", "CL-\ud800", "reference must be text"),
    ("text", "x" * 20_001, "text longer than 20000 characters"),
    ("text", "Trộm bò \ud800 ở thôn", "text is not valid Unicode"),
    ("text", None, "text missing"),
    ("tipster_masked", "0" * 65, "tipster_masked must be text of at most 64"),
    ("tipster_masked", ["0912"], "tipster_masked must be text"),
    ("status", "archived", "status must be new, handling or closed"),
    ("text_chars", "many", "text_chars must be a whole number"),
])
def test_each_bad_field_is_refused_with_its_reason_and_the_good_tip_beside_it_is_kept(
        door, hub, officer, field, value, reason):
    status, answer = door.push([tip("cl-1", **{field: value}), tip("cl-2")])
    assert status == 200
    assert answer["accepted"] == ["cl-2"]
    assert [item["uid"] for item in answer["rejected"]] == ["cl-1"]
    assert reason in answer["rejected"][0]["error"]
    assert hub.uids() == ["cl-2"]
    assert "CL-0002" in list_page_works(officer)


def test_a_tip_from_tomorrow_is_kept_but_not_from_the_day_after(door, hub):
    soon = (datetime.now(UTC) + timedelta(hours=20)).isoformat()
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    status, answer = door.push([tip("cl-1", received_at=soon), tip("cl-2", received_at=later)])
    assert status == 200 and answer["accepted"] == ["cl-1"]
    assert "received_at must be between" in answer["rejected"][0]["error"]


def test_received_at_is_kept_in_utc_and_a_repeat_in_the_same_words_is_still_the_same_tip(door, hub):
    item = tip("cl-1", received_at="2026-11-29T08:00:00+07:00")
    assert door.push([item])[1]["accepted"] == ["cl-1"]
    assert door.push([item])[1] == {"accepted": ["cl-1"], "rejected": []}
    assert rows(hub.path, "SELECT received_at FROM hub_tips") == [("2026-11-29T01:00:00+00:00",)]


def test_a_year_9999_row_already_in_the_database_does_not_break_the_list(hub, officer):
    """A hub that took such a tip before this check: the page shows it as stored."""
    hub.dbs.get().execute(
        "INSERT INTO hub_tips (uid, gateway_id, reference, received_at, text, folded, digest, source, first_seen_at)"
        " VALUES ('cl-9', 'cl', 'CL-0009', '9999-12-31T23:59:59-23:59', 'x', 'x', 'd', 'online', '2026-11-29')")
    hub.dbs.get().conn.commit()
    page = list_page_works(officer)
    assert "9999-12-31T23:59:59-23:59" in page
    assert officer.get("/tips/cl-9").status_code == 200


def test_a_signed_usb_file_with_a_year_9999_tip_is_refused_item_by_item(tmp_path, hub, officer):
    from gateway.hub.server import import_file
    from gateway.sync.sneakernet import FORMAT, VERSION, sign

    payload = {"format": FORMAT, "version": VERSION, "gateway_id": "cl", "gateway_name": "Xã Cốc Lầu",
               "tips": [tip("cl-1", received_at="9999-12-31T23:59:59-23:59"), tip("cl-2")]}
    path = tmp_path / "tips.json"
    path.write_text(json.dumps(sign(payload, TOKEN)))
    outcome, total, new, rejected = import_file(hub.dbs.get(), hub.config, path, datetime.now(UTC))
    assert (outcome, total, new) == ("imported", 2, 1)
    assert [r["uid"] for r in rejected] == ["cl-1"]
    assert "CL-0002" in list_page_works(officer)


# -- whole requests ----------------------------------------------------------------------------

def test_a_lone_surrogate_anywhere_in_the_json_is_a_4xx_or_a_reason_never_a_500(door, hub, officer):
    raw = b'{"gateway_id": "cl", "gateway_name": "X\\ud800", "tips": [' \
          b'{"uid": "cl-1", "reference": "CL-0001", "received_at": "2026-11-29T01:00:00+00:00", "text": "\\ud800"},' \
          b'{"uid": "cl-\\udfff", "reference": "CL-0002", "received_at": "2026-11-29T01:00:00+00:00", "text": "ok"}]}'
    status, answer = door.send("POST", "/api/v1/tips", raw)
    assert status == 200 and answer["accepted"] == []
    assert {r["error"].split(" (")[0] for r in answer["rejected"]} == {
        "text is not valid Unicode", "uid must look like cl-<id>"}
    status, answer = door.send("POST", "/api/v1/tips", b'{"gateway_id": "\\ud800", "tips": []}')
    assert status == 401
    status, answer = door.send("POST", "/api/v1/status", b'{"gateway_id": "cl", "changes": [{"uid": "\\ud800"}]}')
    assert status == 200 and answer["rejected"][0]["uid"] == "\ufffd"
    assert door.send("POST", "/api/v1/tips", b'{"gateway_id": "cl", "tips": [')[0] == 400
    assert door.send("POST", "/api/v1/tips", "\ud800".encode("utf-8", "surrogatepass"))[0] == 400
    list_page_works(officer)


@pytest.mark.parametrize("query", [
    "since=99999999999999999999", "since=-1", "since=1e3", "since=%EF%BC%91", "since=", "limit=0",
    "limit=99999999999999999999", "since=9223372036854775808",
])
def test_changes_with_a_bad_query_answer_400(door, officer, query):
    status, answer = door.send("GET", f"/api/v1/changes?{query}")
    assert status == 400 and "whole numbers" in answer["error"]
    list_page_works(officer)


def test_the_largest_seq_sqlite_holds_is_a_fine_question(door):
    status, answer = door.send("GET", "/api/v1/changes?since=9223372036854775807&limit=99999")
    assert status == 200 and answer["changes"] == []


@pytest.mark.parametrize("query", [
    "page=99999999999999999999", "page=-3", "from=9999-12-31&to=0001-01-01", "q=%ED%A0%80",
    "commune=%00%ED%A0%80", "status=%ED%A0%80", "from=31/12/9999",
])
def test_the_list_page_takes_any_query(hub, officer, query):
    assert officer.get("/?" + query).status_code == 200


def test_5200_junk_tokens_leave_the_38_real_events(door, hub, officer):
    for number in range(1, 39):
        assert door.push([tip(f"cl-{number}")])[1]["accepted"] == [f"cl-{number}"]
    assert rows(hub.path, "SELECT count(*) FROM hub_events")[0][0] == 38
    stranger = Door(hub.url)
    try:
        for attempt in range(5200):
            assert stranger.push([tip("cl-99")], token=f"junk-{attempt}")[0] == 401
    finally:
        stranger.close()
    assert rows(hub.path, "SELECT count(*), min(event), max(event) FROM hub_events") == [(38, "batch", "batch")]
    assert rows(hub.path, "SELECT remote, count FROM hub_refusals") == [("127.0.0.1", 5200)]
    page = list_page_works(officer)
    assert "5200 lần" in page and page.count("Nhận tin") >= 15


def test_refusals_keep_at_most_a_bounded_number_of_addresses(hub):
    db = hub.dbs.get()
    now = datetime.now(UTC)
    for n in range(store.REFUSALS_KEPT + 50):
        store.note_refusal(db, f"10.0.{n // 256}.{n % 256}", now + timedelta(seconds=n), "junk")
    assert rows(hub.path, "SELECT count(*) FROM hub_refusals")[0][0] <= store.REFUSALS_KEPT
    assert rows(hub.path, "SELECT count(*) FROM hub_refusals WHERE remote='10.0.0.0'")[0][0] == 0  # the oldest went


# -- sessions, accounts, language, error pages --------------------------------------------------

def test_logout_ends_the_session_even_for_a_kept_copy_of_the_cookie(hub):
    users.create_user(hub.dbs.get(), "tinh.an", "mat-khau-dai", "officer")
    client = hub.app.test_client()
    hub_login(client, "tinh.an")
    kept = client.get_cookie("tinbao_hub_session")
    assert kept is not None
    page = client.get("/")
    client.post("/logout", data={"csrf_token": csrf(page.data)})
    assert client.get("/").status_code == 302
    thief = hub.app.test_client()
    thief.set_cookie("tinbao_hub_session", kept.value)
    response = thief.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_hub_sessions_follow_web_session_hours_and_max_hours(tmp_path):
    server = HubServer(tmp_path, TINBAO_WEB_SESSION_HOURS="8", TINBAO_WEB_SESSION_MAX_HOURS="24")
    clock = ManualClock(datetime.now(UTC))
    app = create_hub_app(server.config, server.dbs, clock)
    try:
        users.create_user(server.dbs.get(), "tinh.an", "mat-khau-dai", "officer")
        client = app.test_client()
        hub_login(client, "tinh.an")
        for _ in range(3):  # busy all day: every 7 hours a request
            clock.advance(hours=7)
            assert client.get("/").status_code == 200
        clock.advance(hours=4)  # 25 hours after the login
        assert client.get("/").status_code == 302
        hub_login(client, "tinh.an")
        clock.advance(hours=9)  # idle longer than web.session_hours
        assert client.get("/").status_code == 302
        hub_login(client, "tinh.an")
        clock.advance(days=30)  # a month-old cookie
        assert client.get("/").status_code == 302
    finally:
        server.close()


def test_an_admin_creates_disables_and_resets_hub_accounts_on_the_page(hub, officer):
    page = officer.get("/admin/users")
    assert page.status_code == 200 and "Tạo tài khoản" in page.data.decode()
    token = csrf(page.data)
    made = officer.post("/admin/users", data={"username": "tinh.binh", "role": "officer", "password": "mat-khau-moi",
                                              "password2": "mat-khau-moi", "csrf_token": token})
    assert made.status_code == 303
    binh = hub.app.test_client()
    hub_login(binh, "tinh.binh", "mat-khau-moi")
    assert binh.get("/").status_code == 200
    assert officer.post("/admin/users/tinh.binh/password", data={
        "password": "mat-khau-khac", "password2": "mat-khau-khac", "csrf_token": token}).status_code == 303
    assert binh.get("/").status_code == 302  # a reset password ends the old session
    hub_login(binh, "tinh.binh", "mat-khau-khac")
    assert officer.post("/admin/users/tinh.binh/active", data={"active": "0", "csrf_token": token}).status_code == 303
    assert binh.get("/").status_code == 302
    refused = binh.post("/login", data={"username": "tinh.binh", "password": "mat-khau-khac",
                                        "csrf_token": csrf(binh.get("/login").data)})
    assert refused.status_code == 401
    assert rows(hub.path, "SELECT action, target FROM audit_log WHERE action LIKE 'user.%' ORDER BY id") == [
        ("user.create", "tinh.an"), ("user.create", "tinh.binh"), ("user.password", "tinh.binh"),
        ("user.disable", "tinh.binh")]


def test_a_viewer_cannot_open_the_accounts_page(hub):
    users.create_user(hub.dbs.get(), "xem", "mat-khau-dai", "viewer")
    client = hub.app.test_client()
    hub_login(client, "xem")
    response = client.get("/admin/users")
    assert response.status_code == 403 and "Công an tỉnh" in response.data.decode()


def test_python_app_py_hub_create_user_writes_the_hubs_own_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env["TINBAO_STORAGE_PATH"] = str(tmp_path / "hub.db")
    for command in ("hub", "district"):
        name = f"tinh.{command}"
        done = subprocess.run([sys.executable, "app.py", command, "create-user", name, "--role", "admin"], cwd=ROOT,
                              env=env, input="mat-khau-dai\n", capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert str(tmp_path / "hub.db") in done.stdout
    assert rows(tmp_path / "hub.db", "SELECT username, role FROM users ORDER BY id") == [
        ("tinh.hub", "admin"), ("tinh.district", "admin")]
    assert rows(tmp_path / "hub.db", "SELECT count(*) FROM sqlite_master WHERE name='hub_tips'") == [(1,)]
    server = HubServer(tmp_path)
    try:
        hub_login(server.app.test_client(), "tinh.hub")
    finally:
        server.close()


def test_the_default_storage_path_gives_the_hub_its_own_file(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "hub", "create-user", "tinh.an"], cwd=tmp_path,
                          env=env, input="mat-khau-dai\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "hub.db").exists() and not (tmp_path / "data" / "tinbao.db").exists()


def test_the_hub_page_speaks_english_and_names_the_provincial_police(tmp_path):
    server = HubServer(tmp_path, TINBAO_HUB_NAME="Công an tỉnh Lào Cai")
    try:
        users.create_user(server.dbs.get(), "tinh.an", "mat-khau-dai", "officer")
        client = server.app.test_client()
        hub_login(client, "tinh.an")
        vi = client.get("/").data.decode()
        assert "Công an tỉnh Lào Cai" in vi and "Tin báo các xã" in vi
        assert "huyện" not in vi.lower() and "district" not in vi.lower()
        en = client.get("/?lang=en").data.decode()
        assert "<h1>Communes' tips</h1>" in en and "Tin báo các xã" not in en
        assert 'lang="en"' in en
        login_en = server.app.test_client().get("/login?lang=en").data.decode()
        assert "Log in" in login_en or "Sign in" in login_en
    finally:
        server.close()


def test_a_missing_page_and_a_failure_are_error_pages_in_the_hubs_frame(tmp_path, hub, officer):
    missing = officer.get("/no-such-page")
    assert missing.status_code == 404
    html = missing.data.decode()
    assert 'id="error-message"' in html and "Công an tỉnh" in html and "tinbao.css" in html
    assert officer.get("/tips/cl-404").status_code == 404
    assert hub.app.test_client().get("/no-such-page").status_code == 302  # strangers see only the login

    (tmp_path / "other").mkdir()
    server = HubServer(tmp_path / "other")
    app = create_hub_app(server.config, server.dbs)

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    try:
        users.create_user(server.dbs.get(), "tinh.an", "mat-khau-dai", "officer")
        client = app.test_client()
        hub_login(client, "tinh.an")
        failed = client.get("/boom")
        assert failed.status_code == 500
        assert 'id="error-message"' in failed.data.decode() and "Công an tỉnh" in failed.data.decode()
    finally:
        server.close()
