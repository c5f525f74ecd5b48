"""The upstream hub: its API (tokens, each tip once, the answer), its page, and its command."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest
from conftest import ROOT, rows, wait_until
from upstream import hub_login, push, seed_tips, tip

from gateway.accounts import users
from gateway.hub import store

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


@pytest.fixture
def api(hub):
    return hub.app.test_client()


def test_each_tip_is_stored_once_and_the_answer_lists_every_uid_held(api, hub):
    status, answer = push(api, "token-cl", {"gateway_id": "cl", "tips": [tip("cl-1"), tip("cl-2")]})
    assert status == 200 and answer == {"accepted": ["cl-1", "cl-2"], "rejected": []}
    status, answer = push(api, "token-cl", {"gateway_id": "cl", "tips": [tip("cl-2"), tip("cl-3")]})
    assert answer["accepted"] == ["cl-2", "cl-3"]  # cl-2 again: already held, still acknowledged
    assert hub.uids() == ["cl-1", "cl-2", "cl-3"]


def test_a_gateway_may_only_push_its_own_uids_and_a_conflict_is_never_acknowledged(api, hub):
    push(api, "token-cl", {"gateway_id": "cl", "tips": [tip("cl-1", "first tip")]})
    status, answer = push(api, "token-cl", {"gateway_id": "cl", "tips": [
        tip("bh-7"), tip("cl-1", "a different tip after the gateway was reinstalled"), {"uid": "cl-9"}, "junk"]})
    assert status == 200 and answer["accepted"] == []
    reasons = {item["uid"]: item["error"] for item in answer["rejected"]}
    assert "uid must look like cl-" in reasons["bh-7"]
    assert "conflict" in reasons["cl-1"]
    assert "reference" in reasons["cl-9"]
    assert rows(hub.path, "SELECT text FROM hub_tips") == [("first tip",)]


@pytest.mark.parametrize("token, gateway_id, why", [
    (None, "cl", "thiếu mã (token)"),
    ("guess", "cl", "sai mã (token)"),
    ("token-bh", "cl", "mã của bh dùng cho gateway_id 'cl'"),
])
def test_a_wrong_or_missing_token_is_refused_and_logged(api, hub, token, gateway_id, why):
    status, answer = push(api, token, {"gateway_id": gateway_id, "tips": [tip("cl-1")]})
    assert status == 401 and "token" in answer["error"]
    assert hub.uids() == []
    assert rows(hub.path, "SELECT remote, count, last_detail FROM hub_refusals") == [
        ("127.0.0.1", 1, f"POST /api/v1/tips: {why}")]
    assert rows(hub.path, "SELECT event FROM hub_events") == []  # real events only
    assert api.get("/api/v1/changes?since=0", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_bad_bodies_get_clear_answers(api):
    headers = {"Authorization": "Bearer token-cl"}
    assert api.post("/api/v1/tips", data="not json", headers=headers).status_code == 400
    too_many = {"gateway_id": "cl", "tips": [tip(f"cl-{i}") for i in range(1, 2002)]}
    assert api.post("/api/v1/tips", json=too_many, headers=headers).status_code == 413
    assert api.get("/api/v1/changes?since=x", headers=headers).status_code == 400


def test_healthz_is_public_and_holds_nothing_personal(api):
    response = api.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "role": "hub", "version": response.get_json()["version"],
                                   "database": "ok",  # and how many posts are in each state, no names
                                   "gateways": {"silent": 2, "fault": 0, "warning": 0, "ok": 0}}


def test_changes_go_to_their_own_gateway_only(api, hub):
    push(api, "token-cl", {"gateway_id": "cl", "tips": [tip("cl-1")]})
    push(api, "token-bh", {"gateway_id": "bh", "tips": [tip("bh-1")]})
    db = hub.dbs.get()
    store.set_status(db, "cl-1", "handling", by="huyen", now=NOW, notify_tipster=True,
                     message="Tin CL-0001 da duoc tiep nhan")
    store.set_status(db, "bh-1", "closed", by="huyen", now=NOW)
    answer = api.get("/api/v1/changes?since=0", headers={"Authorization": "Bearer token-cl"}).get_json()
    assert [(c["uid"], c["status"], c["notify_tipster"], c["message"]) for c in answer["changes"]] == [
        ("cl-1", "handling", True, "Tin CL-0001 da duoc tiep nhan")]
    since = answer["last_seq"]
    assert api.get(f"/api/v1/changes?since={since}", headers={"Authorization": "Bearer token-cl"}).get_json() == {
        "changes": [], "last_seq": since, "hub": "Công an tỉnh"}


# -- the page --------------------------------------------------------------------------------

def csrf_token(page: bytes) -> str:
    return re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()


@pytest.fixture
def officer_client(hub):
    users.create_user(hub.dbs.get(), "huyen", "mat-khau-dai", "officer")
    users.create_user(hub.dbs.get(), "xem", "mat-khau-dai", "viewer")
    client = hub.app.test_client()
    hub_login(client, "huyen")
    return client


def test_the_page_needs_a_login(hub):
    client = hub.app.test_client()
    response = client.get("/?commune=cl")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    token = csrf_token(client.get("/login").data)
    bad = client.post("/login", data={"username": "huyen", "password": "wrong", "csrf_token": token})
    assert bad.status_code == 401 and "Sai tên đăng nhập".encode() in bad.data


def test_all_communes_filters_search_and_escaping(officer_client, api):
    seed_tips(api)
    page = officer_client.get("/").data.decode()
    assert "Tin báo các xã" in page and "3 tin phù hợp" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    # Named by the hub's own config (hub.names, else the id), never by the name a gateway sends.
    assert "Công an xã Cốc Lầu" not in page and ">CL<" in page and ">BH<" in page

    def references(query: str) -> list[str]:
        html = officer_client.get("/?" + query).data.decode()
        return re.findall(r'href="/tips/[^"]+">([A-Z]+-\d+)<', html)

    assert references("commune=bh") == ["BH-0001"]
    assert references("commune=cl") == ["CL-0002", "CL-0001"]
    assert references("q=trom+bo") == ["CL-0001"]  # without diacritics, as typed on a phone
    assert references("from=2026-11-28&to=2026-11-28") == ["BH-0001", "CL-0002"]
    assert references("status=closed") == []
    # Dates are typed and shown dd/mm/yyyy, as on a gateway's page (never the browser's mm/dd/yyyy).
    assert references("from=28/11/2026&to=28/11/2026") == ["BH-0001", "CL-0002"]
    page = officer_client.get("/?from=2026-11-28&to=28/11/2026").data.decode()
    assert 'name="from" value="28/11/2026"' in page and 'name="to" value="28/11/2026"' in page
    assert 'type="date"' not in page and 'placeholder="dd/mm/yyyy"' in page
    english = officer_client.get("/?lang=en").data.decode()
    assert "3 matching tips" in english
    assert re.search(r"\b1 matching tip\b", officer_client.get("/?commune=bh").data.decode())


def test_marking_handled_with_notify_reaches_the_gateways_changes(officer_client, api, hub):
    seed_tips(api)
    page = officer_client.get("/tips/cl-1")
    assert page.status_code == 200 and "Tin CL-0001 da duoc tiep nhan" in page.data.decode()
    response = officer_client.post("/tips/cl-1/status", data={
        "status": "handling", "notify": "1", "message": "Tin CL-0001 da duoc tiep nhan. Cam on ba con da bao tin.",
        "csrf_token": csrf_token(page.data)})
    assert response.status_code == 302
    assert rows(hub.path, "SELECT status, status_changed_by FROM hub_tips WHERE uid='cl-1'") == [("handling", "huyen")]
    answer = api.get("/api/v1/changes?since=0", headers={"Authorization": "Bearer token-cl"}).get_json()
    assert answer["changes"][0]["notify_tipster"] is True
    # Without the CSRF token, the same form is refused.
    refused = officer_client.post("/tips/cl-1/status", data={"status": "closed"})
    assert refused.status_code == 400


def test_a_viewer_cannot_change_a_tip(hub, api):
    seed_tips(api)
    users.create_user(hub.dbs.get(), "xem", "mat-khau-dai", "viewer")
    client = hub.app.test_client()
    hub_login(client, "xem")
    page = client.get("/tips/cl-1")
    assert page.status_code == 200 and b"/status" not in page.data
    token = csrf_token(page.data)  # the logout form's
    assert client.post("/tips/cl-1/status", data={"status": "closed", "csrf_token": token}).status_code == 403


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["hub", "district"])  # district: the old name, still served
def test_python_app_py_hub_serves_the_hub(tmp_path, command):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update({"TINBAO_STORAGE_PATH": str(tmp_path / "hub.db"), "TINBAO_WEB_PORT": str(port),
                "TINBAO_HUB_GATEWAYS": "cl:token-cl"})
    proc = subprocess.Popen([sys.executable, "app.py", command], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                    return json.load(response)["role"] == "hub"
            except (OSError, urllib.error.URLError):
                return False

        assert wait_until(healthy, 20)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/tips", method="POST",
            data=json.dumps({"gateway_id": "cl", "tips": [tip("cl-1")]}).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer token-cl"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["accepted"] == ["cl-1"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert rows(tmp_path / "hub.db", "SELECT uid FROM hub_tips") == [("cl-1",)]


def test_the_hub_page_in_chromium(hub, api, page):
    from conftest import screenshot

    seed_tips(api)
    users.create_user(hub.dbs.get(), "huyen", "mat-khau-dai", "officer")
    base = hub.url
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("input[name=username]", "huyen")
    page.fill("input[name=password]", "mat-khau-dai")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("#hub-tips tbody tr").count() == 3
    assert page.locator("#hub-tips").inner_text().count("<script>alert(1)</script>") == 1  # shown as text
    screenshot(page, "district-hub")
    page.select_option("select[name=commune]", "bh")
    with page.expect_navigation():
        page.click("form[role=search] button[type=submit]")
    assert page.locator("#hub-tips tbody tr").count() == 1
    with page.expect_navigation():
        page.click("text=BH-0001")
    page.check("input[name=notify]")
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert "Xã sẽ nhắn tin cho người báo tin" in page.content()
    screenshot(page, "district-hub-tip")
    assert rows(hub.path, "SELECT uid, status, notify_tipster, message FROM hub_changes") == [
        ("bh-1", "handling", 1, "Tin BH-0001 da duoc tiep nhan. Cam on ba con da bao tin. - Cong an tinh")]


def test_the_hub_names_a_gateway_only_from_its_own_config(api, hub, officer_client):
    """Issue 17: gateway bh pushed "gateway_name": "Công an xã Cốc Lầu" and reference CL-0099."""
    status, answer = push(api, "token-bh", {"gateway_id": "bh", "gateway_name": "Công an xã Cốc Lầu", "tips": [
        tip("bh-99", "Tin giả làm của Cốc Lầu", reference="CL-0099"), tip("bh-7", "Tin thật của Bắc Hà")]})
    assert status == 200 and answer["accepted"] == ["bh-7"]
    assert answer["rejected"] == [
        {"uid": "bh-99", "error": "reference must start with BH- (the pushing gateway's own id)"}]
    assert rows(hub.path, "SELECT uid, gateway_id, gateway_name, reference FROM hub_tips") == [
        ("bh-7", "bh", None, "BH-0007")]
    page = officer_client.get("/").get_data(as_text=True)
    assert "Cốc Lầu" not in page.split("<main", 1)[-1] and "CL-0099" not in page
    assert "BH-0007" in page
