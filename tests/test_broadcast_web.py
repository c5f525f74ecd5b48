"""The broadcasts pages behind the real login and CSRF: compose from the library with an exact
cost preview, pause/resume/cancel, subscribers and CSV import; then the compose page in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from conftest import ON_PAPER, login_page, make_services, rows, screenshot

from gateway.broadcasts import subscribers
from gateway.broadcasts.library import Composer, preview
from gateway.broadcasts.service import BroadcastService
from gateway.clock import ManualClock
from gateway.config import load_config
from gateway.storage import write_transaction

EVIL = "<script>alert('x')</script>"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 09:00 local


@pytest.fixture
def web_config(db_path):
    return load_config(env={"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_GATEWAY_PHONE_NUMBER": "0981234567"})


@pytest.fixture
def service(web_config, storage):
    """The broadcast service the page wakes (not started: the tests look at its rows)."""
    return BroadcastService(web_config, storage, ManualClock(NOW))


@pytest.fixture
def services(db_path, web_config, storage, service):
    return make_services(db_path, config=web_config, db=storage, clock=ManualClock(NOW), broadcasts=service,
                         version="t")


@pytest.fixture
def env(db_path, storage, web_config, service):
    db = storage.get()
    with write_transaction(db):
        for i, village in enumerate(["Na Hối", "Na Hối", "Cốc Lầu"]):
            subscribers.save_member(db, subscribers.Member(f"+8491234500{i}", village=village),
                                    source="officer", now=NOW, basis=ON_PAPER)
    return db_path, storage, web_config, service


def group_id(path, name: str) -> int:
    return rows(path, "SELECT id FROM subscriber_groups WHERE name=?", (name,))[0][0]


def test_compose_from_the_library_previews_the_exact_cost_and_schedules(env, logged_in):
    path, _, config, service = env
    client = logged_in("officer")
    page = client.get("/broadcasts/new").get_data(as_text=True)
    assert "01_gia_danh_cong_an" in page and "Giả danh công an" in page
    warning = service.library.warnings["01_gia_danh_cong_an"]
    shown_body = warning.accented.replace("{so}", "0981 234 567")  # as the page fills the text box (grouped to be read)
    assert f'data-body="{shown_body}"' in page
    form = {"warning_id": warning.id, "title": warning.title, "body": shown_body, "encoding": "khong_dau",
            "group": [str(group_id(path, "Na Hối"))], "schedule": "now"}

    cost = client.post("/broadcasts/preview.json", data=form).get_json()
    expected = preview(Composer.from_config(config, service.library), warning.accented, 2, warning.khong_dau)
    assert cost == expected
    assert (cost["khong_dau"]["parts"], cost["accented"]["parts"]) == (2, 4)
    assert (cost["khong_dau"]["total_parts"], cost["accented"]["total_parts"]) == (4, 8)
    assert cost["khong_dau"]["text"].startswith("Cong an xa Coc Lau: CANH BAO")
    assert cost["khong_dau"]["text"].endswith("Soan TC gui 0981 234 567 de ngung nhan.")

    shown = client.post("/broadcasts/new", data={**form, "action": "preview"}).get_data(as_text=True)
    assert 'id="parts-accented">4<' in shown and 'id="total-khong_dau">4<' in shown

    # "Gửi / Lên lịch" first shows what it will cost; nothing is stored or sent yet.
    confirm = client.post("/broadcasts/new", data={**form, "action": "send"})
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert 'id="confirm-people">2<' in page and 'id="confirm-parts">2<' in page and 'id="confirm-total">4<' in page
    assert "1.400 đồng" in page  # 4 parts at broadcasts.price_per_part (350 VND)
    assert cost["khong_dau"]["text"] in page.replace("&#34;", '"').replace("&#39;", "'")
    assert rows(path, "SELECT COUNT(*) FROM broadcasts") == [(0,)]
    assert rows(path, "SELECT COUNT(*) FROM outbox") == [(0,)]

    response = client.post("/broadcasts/new", data={**form, "action": "send", "confirmed": "1"})
    assert response.status_code == 303
    assert rows(path, "SELECT warning_id, status, body_khong_dau IS NOT NULL FROM broadcasts") == [
        (warning.id, "scheduled", 1)]
    assert rows(path, "SELECT action, who FROM audit_log WHERE action='broadcast.create'") == [
        ("broadcast.create", client.username)]
    service.tick()
    service.pump()
    assert sorted(n for (n,) in rows(path, "SELECT number FROM outbox WHERE kind='broadcast'")) == [
        "+84912345000", "+84912345001"]
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "CANH BAO: Ke gian goi dien" in detail and "<progress" in detail


def test_missing_fields_are_explained_not_crashed(env, logged_in):
    client = logged_in("officer")
    response = client.post("/broadcasts/new", data={"title": "", "body": "", "schedule": "weekly",
                                                    "time_of_day": "25:00", "action": "send"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Nội dung trống" in page and "HH:MM" in page and "thôn/nhóm" in page
    assert rows(env[0], "SELECT COUNT(*) FROM broadcasts")[0][0] == 0


def test_pause_resume_cancel_from_the_page(env, logged_in):
    path, _, _, service = env
    client = logged_in("officer")
    response = client.post("/broadcasts/new", data={"title": "T", "body": "Không chuyển tiền.", "everyone": "1",
                                                    "encoding": "accented", "schedule": "now", "action": "send",
                                                    "confirmed": "1"})
    url = response.headers["Location"]
    broadcast_id = int(url.rstrip("/").split("/")[-1])
    service.tick()
    service.pump()
    assert client.post(f"/broadcasts/{broadcast_id}/pause").status_code == 303
    assert rows(path, "SELECT status FROM broadcasts")[0][0] == "paused"
    assert rows(path, "SELECT COUNT(*) FROM outbox WHERE status='queued'")[0][0] == 0  # taken back
    client.post(f"/broadcasts/{broadcast_id}/resume")
    assert rows(path, "SELECT status FROM broadcasts")[0][0] == "running"
    client.post(f"/broadcasts/{broadcast_id}/cancel")
    assert rows(path, "SELECT status FROM broadcasts")[0][0] == "cancelled"
    page = client.post(f"/broadcasts/{broadcast_id}/pause", follow_redirects=True).get_data(as_text=True)
    assert "Chỉ tạm dừng được" in page
    progress = client.get(f"/broadcasts/progress.json?ids={broadcast_id}").get_json()
    assert progress[str(broadcast_id)]["status"] == "cancelled"
    assert progress[str(broadcast_id)]["progress"]["total"] == 3
    actions = [a for (a,) in rows(path, "SELECT action FROM audit_log WHERE action LIKE 'broadcast.%' ORDER BY id")]
    assert actions == ["broadcast.create", "broadcast.pause", "broadcast.resume", "broadcast.cancel"]


def test_viewers_look_but_do_not_act(env, logged_in):
    client = logged_in("viewer")
    assert client.get("/broadcasts/").status_code == 200
    assert client.get("/broadcasts/subscribers").status_code == 200
    assert client.get("/broadcasts/new").status_code == 403
    assert client.post("/broadcasts/subscribers/add", data={"number": "0912000999"}).status_code == 403


def test_text_from_sms_and_officers_is_escaped(env, logged_in):
    _path, storage, _, _ = env
    client = logged_in("officer")
    client.post("/broadcasts/new", data={"title": EVIL, "body": EVIL, "everyone": "1", "schedule": "now",
                                         "action": "draft"})
    db = storage.get()
    with write_transaction(db):
        subscribers.subscribe_by_sms(db, "+84912999888", EVIL, NOW)  # "DK <script>..." from a phone
    for url in ("/broadcasts/", "/broadcasts/1", "/broadcasts/subscribers"):
        page = client.get(url).get_data(as_text=True)
        assert EVIL not in page and "&lt;script&gt;" in page, url


def test_subscribers_list_masks_numbers_add_and_refuse(env, logged_in):
    path, storage, _, _ = env
    client = logged_in("officer")
    page = client.get("/broadcasts/subscribers").get_data(as_text=True)
    assert "0*** *** *00" in page and "+84912345000" not in page and "0912345000" not in page
    client.post("/broadcasts/subscribers/add", data={"number": "0987 654 321", "name": "Lò Văn A", "village": "Na Hối",
                                                     "labels": "Hội nông dân, Trưởng thôn", "consent": "invite"})
    assert rows(path, "SELECT name, source, status FROM subscribers WHERE number='+84987654321'") == [
        ("Lò Văn A", "officer", "invited")]  # nobody by default: the one invitation asks for DK
    with write_transaction(storage.get()):
        subscribers.leave(storage.get(), "+84911111222", "sms", NOW)
    page = client.post("/broadcasts/subscribers/add", data={"number": "0911111222", "consent": "invite"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Chỉ người dân nhắn DK" in page
    assert rows(path, "SELECT status FROM subscribers WHERE number='+84911111222'") == [("left",)]
    subscriber_id = rows(path, "SELECT id FROM subscribers WHERE number='+84987654321'")[0][0]
    edit = client.get(f"/broadcasts/subscribers/{subscriber_id}").get_data(as_text=True)
    assert "0987654321" in edit and "Hội nông dân, Trưởng thôn" in edit
    assert rows(path, "SELECT action, target FROM audit_log WHERE action='subscriber.view'") == [
        ("subscriber.view", "0*** *** *21")]
    client.post(f"/broadcasts/subscribers/{subscriber_id}", data={"action": "leave"})
    assert rows(path, "SELECT status, left_via FROM subscribers WHERE id=?", (subscriber_id,)) == [("left", "officer")]
    client.post(f"/broadcasts/subscribers/{subscriber_id}", data={"action": "save", "name": "Lò Văn A",
                                                                  "village": "Cốc Lầu", "labels": ""})
    assert rows(path, "SELECT status FROM subscribers WHERE id=?", (subscriber_id,)) == [("no_consent",)]
    client.post(f"/broadcasts/subscribers/{subscriber_id}", data={"action": "paper"})  # a note is required
    assert rows(path, "SELECT status FROM subscribers WHERE id=?", (subscriber_id,)) == [("no_consent",)]
    client.post(f"/broadcasts/subscribers/{subscriber_id}", data={"action": "paper",
                                                                  "consent_note": "Phiếu ký ngày 2/12, tủ hồ sơ"})
    assert rows(path, "SELECT status FROM subscribers WHERE id=?", (subscriber_id,)) == [("subscribed",)]
    assert rows(path, "SELECT g.name FROM subscriber_group_members m JOIN subscriber_groups g ON g.id = m.group_id"
                      " WHERE m.subscriber_id=?", (subscriber_id,)) == [("Cốc Lầu",)]  # labels cleared, village moved
    bad = client.post("/broadcasts/subscribers/add", data={"number": "113", "consent": "invite"}, follow_redirects=True)
    assert "không phải số di động" in bad.get_data(as_text=True)


def test_csv_import_larger_than_the_usual_request_limit(env, logged_in):
    path, storage, _, _ = env
    client = logged_in("officer")
    with write_transaction(storage.get()):
        subscribers.leave(storage.get(), "+84913000005", "sms", NOW)
    lines = ["Số điện thoại;Họ tên;Thôn"] + [f"0913{i:06d};Người {i};Bản Mới" for i in range(4000)]
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8-sig")
    assert len(data) > 64 * 1024
    response = client.post("/broadcasts/subscribers/import",
                           data={"file": (__import__("io").BytesIO(data), "danh-sach.csv"), "consent": "invite"},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    assert "3999 người mới" in page and "1 đã ngừng nhận, không thêm lại" in page and "3999 sẽ nhận tin mời" in page
    assert rows(path, "SELECT COUNT(*) FROM subscribers WHERE status='invited' AND source='import'")[0][0] == 3999
    assert rows(path, "SELECT COUNT(*) FROM invitations WHERE status='pending'")[0][0] == 3999
    assert rows(path, "SELECT members FROM (SELECT g.id, COUNT(*) AS members FROM subscriber_group_members m"
                      " JOIN subscriber_groups g ON g.id=m.group_id WHERE g.name='Bản Mới')")[0][0] == 3999


def test_compose_page_in_chromium(live_gateway, page):
    gateway, base_url = live_gateway
    db = gateway.dbs.get()
    with write_transaction(db):
        for i in range(5):
            subscribers.save_member(db, subscribers.Member(f"+8491500000{i}", village="Na Hối"), source="officer",
                                    now=NOW, basis=ON_PAPER)
    login_page(page, base_url, gateway.config.storage_path)
    page.goto(f"{base_url}/broadcasts/new")
    page.select_option("#warning", "06_viec_lam_online")
    assert page.input_value("#title").startswith("Việc nhẹ lương cao")
    page.check("#everyone")
    page.locator("#total-accented", has_text="20").wait_for(timeout=5000)  # the gateway's own count
    assert page.text_content("#parts-khong_dau") == "2" and page.text_content("#total-khong_dau") == "10"
    assert page.is_hidden("input[name=run_at]")
    page.check("input[name=schedule][value=weekly]")
    assert page.is_visible("select[name=weekday]") and page.is_hidden("input[name=run_at]")
    screenshot(page, "broadcast-compose")
    with page.expect_navigation():
        page.click("#do-send")
    assert page.text_content("#confirm-people") == "5" and page.text_content("#confirm-total") == "10"
    assert rows(gateway.config.storage_path, "SELECT COUNT(*) FROM broadcasts") == [(0,)]
    screenshot(page, "broadcast-confirm")
    with page.expect_navigation():
        page.click("#confirm-send")
    assert re.search(r"/broadcasts/\d+$", page.url)
    assert "Hàng tuần" in page.text_content("main")
    assert rows(gateway.config.storage_path, "SELECT schedule, status, weekday FROM broadcasts") == [
        ("weekly", "scheduled", 0)]
    page.goto(f"{base_url}/broadcasts/")
    screenshot(page, "broadcast-list")
