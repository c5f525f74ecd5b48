"""Officers' daily work in the web page: tips list, search, one tip and what is done on it,
CSV export, conversations, and the dashboard's alerts and charts.

Real parts: a SQLite file with the whole schema, the app behind its real login and CSRF,
Flask's test client. Times: tips are stamped in UTC and shown in Asia/Ho_Chi_Minh (UTC+7).
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from conftest import login_client, make_services, make_user, rows

from gateway import conversations, outbox, tips
from gateway.config import load_config
from gateway.sms.segments import plan
from gateway.sms.text import khong_dau
from gateway.storage import utcnow_iso
from gateway.tips import search
from gateway.web import create_app

EVIL = "<script>alert('x')</script><img src=x onerror=alert(1)>"
TIPSTER = "+84912345678"
FULL_FORMS = ("0912345678", "912345678", "+84912345678", "0912 345 678")
# 23:30 on 04/01/2026 in Vietnam is 16:30 UTC: the tip belongs to the 4th, not the 5th.
LATE_EVENING = datetime(2026, 1, 4, 16, 30, tzinfo=UTC)


@pytest.fixture
def make_client(storage, db_path):
    def make(role: str = "officer", **env: str):
        config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path), **env})
        app = create_app(config, make_services(db_path, config=config, db=storage, version="t"))
        app.testing = True
        client = app.test_client()
        client.username = login_client(client, db_path, role)
        return client

    return make


def add_tip(db, text: str, *, tipster: str = TIPSTER, at: datetime | None = None,
            village: str | None = None, status: str = "new") -> str:
    at = at or datetime.now(UTC)
    with db.atomic():
        cur = db.conn.execute(
            "INSERT INTO inbox (received_at, sender, sender_kind, text, status, handler) VALUES (?,?,?,?,?,?)",
            (utcnow_iso(at), tipster, "mobile", "TIN " + text, "done", "tip"),
        )
        tip = tips.create(db, gateway_id="cl", tipster=tipster, text=text, inbox_id=cur.lastrowid, now=at)
        db.conn.execute("UPDATE tips SET village = ?, status = ? WHERE id = ?", (village, status, tip.id))
    return tip.reference


def references(html: str) -> list[str]:
    return re.findall(r'href="/tips/(CL-\d+)"', html)


def flashes(html: str) -> list[str]:
    return [m.strip() for m in re.findall(r'class="flash[^"]*">([^<]*)<', html)]


# -- search ------------------------------------------------------------------------------------

def test_search_ignores_accents_case_and_d_with_stroke(db, make_client):
    scam = add_tip(db, "Có vụ LỪA ĐẢO qua điện thoại ở thôn Đông")
    nfd = add_tip(db, unicodedata.normalize("NFD", "Người lạ lừa đảo bán thuốc"))
    other = add_tip(db, "Trộm bò ở Na Hối")
    client = make_client("viewer")
    for q in ("lua dao", "Lừa Đảo", "LUA DAO", "lừa  đảo", "dao lua"):
        found = references(client.get("/tips", query_string={"q": q}).get_data(as_text=True))
        assert found == [nfd, scam], q
    assert references(client.get("/tips?q=dong").get_data(as_text=True)) == [scam]
    assert references(client.get("/tips?q=dien+th").get_data(as_text=True)) == [scam]  # word starts
    assert references(client.get("/tips?q=trom").get_data(as_text=True)) == [other]


def test_search_text_is_never_fts_syntax(db, make_client):
    ref = add_tip(db, "Có vụ lừa đảo")
    client = make_client("viewer")
    for q in ('"', 'lua" OR "', "NEAR(lua dao)", "lua*", "-dao", "^lua", "a:b", "(((", "AND", "%", "_"):
        response = client.get("/tips", query_string={"q": q})
        assert response.status_code == 200, q
    assert references(client.get("/tips", query_string={"q": "lua*"}).get_data(as_text=True)) == [ref]
    page = client.get("/tips", query_string={"q": "!!!"}).get_data(as_text=True)
    assert "không có chữ hay số" in page


def test_fts_index_follows_village_changes_and_deletes(db):
    ref = add_tip(db, "Cháy rừng", village="Nậm Đét")
    where = search.TipFilter(search=search.fts_query("nam det"))
    assert [r["reference"] for r in search.list_tips(db, where, limit=10)] == [ref]
    with db.atomic():
        db.execute("UPDATE tips SET village = 'Bản Phố' WHERE reference = ?", (ref,))
    assert search.list_tips(db, where, limit=10) == []
    where = search.TipFilter(search=search.fts_query("ban pho"))
    assert [r["reference"] for r in search.list_tips(db, where, limit=10)] == [ref]
    with db.atomic():
        db.execute("DELETE FROM tips WHERE reference = ?", (ref,))
    assert search.list_tips(db, where, limit=10) == []
    # the index itself forgot the tip (list_tips joins tips, so it would hide a stale entry)
    assert db.execute("SELECT rowid FROM tips_fts WHERE tips_fts MATCH 'chay OR ban OR pho'").fetchall() == []
    db.execute("INSERT INTO tips_fts(tips_fts) VALUES ('integrity-check')")  # raises if index and tips differ


# -- filters, pagination -----------------------------------------------------------------------

def test_filters_by_status_village_and_local_dates(db, make_client):
    late = add_tip(db, "tối 4/1", at=LATE_EVENING, village="Na Hối")
    next_day = add_tip(db, "sáng 5/1", at=LATE_EVENING + timedelta(hours=1), village="Bản Phố", status="closed")
    add_tip(db, "tháng 2", at=LATE_EVENING + timedelta(days=30), status="handling")
    client = make_client("viewer")
    found = lambda **q: references(client.get("/tips", query_string=q).get_data(as_text=True))  # noqa: E731
    assert found(**{"from": "2026-01-04", "to": "2026-01-04"}) == [late]
    assert found(**{"from": "05/01/2026", "to": "05/01/2026"}) == [next_day]
    assert found(**{"from": "2026-01-05", "to": "2026-01-04"}) == [next_day, late]  # swapped: both days
    assert found(status="closed") == [next_day]
    assert found(village="Na Hối") == [late]
    assert found(status="nonsense") == found()  # an unknown status is no filter, not an error
    assert found(**{"from": "not a date"}) == found()
    page = client.get("/tips").get_data(as_text=True)
    assert "04/01/2026 23:30" in page and "05/01/2026 00:30" in page
    assert '<option value="Na Hối"' in page  # villages already used are offered


def test_pagination_fifty_per_page(db, make_client):
    for i in range(120):
        add_tip(db, f"tin số {i}")
    client = make_client("viewer")
    first = client.get("/tips").get_data(as_text=True)
    assert len(references(first)) == 50 and references(first)[0] == "CL-0120"
    assert "120 tin báo" in first and "Trang 1/3" in first
    last = client.get("/tips?page=3").get_data(as_text=True)
    assert references(last) == [f"CL-{i:04d}" for i in range(20, 0, -1)]
    assert client.get("/tips?page=99").status_code == 200
    assert client.get("/tips?page=abc").status_code == 400  # a link we never make: refused, not guessed


# -- one tip -----------------------------------------------------------------------------------

def test_tip_page_escapes_sms_text_masks_the_number_and_shows_local_time(db, make_client):
    ref = add_tip(db, EVIL, at=LATE_EVENING)
    client = make_client("officer")
    html = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "04/01/2026 23:30" in html
    assert "0*** *** *78" in html
    for form in FULL_FORMS:
        assert form not in html
    for listing in ("/tips", "/", "/conversations", "/api/dashboard"):
        response = client.get(listing)
        body = response.get_data(as_text=True)
        if response.is_json:  # data for dashboard.js, which only ever sets textContent
            assert response.get_json()["tips"][0]["text"] == EVIL
        else:
            assert "<script>alert" not in body and "&lt;script&gt;" in body, listing
        assert not any(form in body for form in FULL_FORMS), listing
    assert client.get("/tips/CL-9999").status_code == 404
    assert client.get("/tips/../etc").status_code == 404


def test_show_number_is_for_officers_and_is_audited_without_the_number(db, make_client, db_path):
    ref = add_tip(db, "Có trộm")
    viewer = make_client("viewer")
    assert viewer.post(f"/tips/{ref}/number").status_code == 403
    officer = make_client("officer")
    response = officer.post(f"/tips/{ref}/number", headers={"X-Requested-With": "fetch"})
    assert response.get_json() == {"number": "0912345678"}
    assert response.headers["Cache-Control"] == "no-store"
    page = officer.post(f"/tips/{ref}/number").get_data(as_text=True)  # without JavaScript
    assert "0912345678" in page
    entries = rows(db_path, "SELECT who, target, detail FROM audit_log WHERE action = 'tip.reveal_number'")
    assert entries == [(officer.username, ref, ""), (officer.username, ref, "")]
    everything = " ".join(str(v) for row in rows(db_path, "SELECT * FROM audit_log") for v in row)
    assert "912345678" not in everything


def test_status_workflow_records_who_and_when(db, make_client, db_path):
    ref = add_tip(db, "Có đánh nhau")
    client = make_client("officer")
    html = client.post(f"/tips/{ref}/status", data={"status": "handling"}, follow_redirects=True).get_data(as_text=True)
    assert "Đã chuyển sang “Đang xử lý”." in flashes(html)
    client.post(f"/tips/{ref}/status", data={"status": "closed"})
    again = client.post(f"/tips/{ref}/status", data={"status": "closed"}, follow_redirects=True)
    assert "Tin báo đã ở trạng thái này." in flashes(again.get_data(as_text=True))
    bad = client.post(f"/tips/{ref}/status", data={"status": "deleted"}, follow_redirects=True)
    assert "Trạng thái không hợp lệ." in flashes(bad.get_data(as_text=True))

    assert rows(db_path, "SELECT status, status_changed_by FROM tips") == [("closed", client.username)]
    history = rows(db_path, "SELECT by, action, old_value, new_value FROM tip_history ORDER BY id")
    assert history == [(client.username, "status", "new", "handling"),
                       (client.username, "status", "handling", "closed")]
    audit = rows(db_path, "SELECT who, target, detail FROM audit_log WHERE action = 'tip.status' ORDER BY id")
    assert [(who, target, json.loads(detail)) for who, target, detail in audit] == [
        (client.username, ref, {"from": "new", "to": "handling"}),
        (client.username, ref, {"from": "handling", "to": "closed"})]
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert "Đang xử lý → Đã đóng" in page and "Mở lại" in page

    viewer = make_client("viewer")
    assert viewer.post(f"/tips/{ref}/status", data={"status": "new"}).status_code == 403
    assert "Nhận xử lý" not in viewer.get(f"/tips/{ref}").get_data(as_text=True)
    assert rows(db_path, "SELECT status FROM tips") == [("closed",)]


def test_taking_a_tip_makes_it_the_pressing_officers_and_is_audited(db, make_client, db_path):
    ref = add_tip(db, "Có đánh nhau")
    client = make_client("officer")
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    handler = re.compile(r"Người xử lý</dt>\s*<dd>(.*?)</dd>", re.S)
    assert f'formaction="/tips/{ref}/take"' in page and handler.search(page).group(1) == "Chưa giao"
    html = client.post(f"/tips/{ref}/take", follow_redirects=True).get_data(as_text=True)
    assert "Bạn đã nhận xử lý tin báo này." in flashes(html)
    assert rows(db_path, "SELECT status, status_changed_by, assigned_to FROM tips") == [
        ("handling", client.username, client.username)]
    assert rows(db_path, "SELECT by, action, old_value, new_value FROM tip_history ORDER BY id") == [
        (client.username, "status", "new", "handling"), (client.username, "assign", None, client.username)]
    assert [a for (a,) in rows(db_path, "SELECT action FROM audit_log WHERE target = ? ORDER BY id", (ref,))] == [
        "tip.status", "tip.assign"]
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert handler.search(page).group(1) == client.username and f"Giao cho {client.username}" in page

    # A colleague who takes it over makes it theirs; pressing again changes nothing.
    other = make_client("officer")
    other.post(f"/tips/{ref}/take")
    assert rows(db_path, "SELECT status, assigned_to FROM tips") == [("handling", other.username)]
    again = other.post(f"/tips/{ref}/take", follow_redirects=True).get_data(as_text=True)
    assert "Tin báo đã ở trạng thái này." in flashes(again)
    assert make_client("viewer").post(f"/tips/{ref}/take").status_code == 403


def test_the_hubs_status_is_shown_beside_the_communes_with_who_set_each(db, make_client, db_path):
    from gateway.sync.district import apply_changes

    ref = add_tip(db, "Có người lạ dụ bán đất")
    client = make_client("officer", TINBAO_DISTRICT_URL="http://127.0.0.1:9", TINBAO_HUB_LEVEL="Công an tỉnh")
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert 'id="status-hub"' in page and "Chưa có quyết định" in page
    client.post(f"/tips/{ref}/status", data={"status": "handling"})
    uid = rows(db_path, "SELECT uid FROM tips")[0][0]
    apply_changes(db, [{"uid": uid, "status": "closed", "by": "tinh.an"}], 1, datetime.now(UTC),
                  hub_name="Công an tỉnh Lào Cai")
    assert rows(db_path, "SELECT status, hub_status, hub_status_by FROM tips") == [
        ("handling", "closed", "tinh.an, Công an tỉnh Lào Cai")]  # the commune's own status is kept
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    commune = re.search(r'id="status-commune">(.*?)</div>', page, re.S).group(1)
    hub = re.search(r'id="status-hub">(.*?)</div>', page, re.S).group(1)
    assert "Đang xử lý" in commune and client.username in commune
    assert "Công an tỉnh" in hub and "tinh.an, Công an tỉnh Lào Cai" in hub and "Đã đóng" in hub


def test_assignment_village_and_notes(db, make_client, db_path):
    ref = add_tip(db, "Mất xe máy")
    colleague = make_user(db_path, "officer", "chi.lan")
    client = make_client("officer")
    client.post(f"/tips/{ref}/assign", data={"assigned_to": colleague})
    refused = client.post(f"/tips/{ref}/assign", data={"assigned_to": "nobody"}, follow_redirects=True)
    assert "Không có cán bộ này." in flashes(refused.get_data(as_text=True))
    client.post(f"/tips/{ref}/village", data={"village": "  Nậm   Đét "})
    client.post(f"/tips/{ref}/notes", data={"text": "Đã gọi trưởng thôn <b>"})
    empty = client.post(f"/tips/{ref}/notes", data={"text": "   "}, follow_redirects=True)
    assert "Ghi chú đang trống." in flashes(empty.get_data(as_text=True))

    assert rows(db_path, "SELECT assigned_to, village FROM tips") == [(colleague, "Nậm Đét")]
    assert rows(db_path, "SELECT author, text FROM tip_notes") == [(client.username, "Đã gọi trưởng thôn <b>")]
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert "Đã gọi trưởng thôn &lt;b&gt;" in page and f"Giao cho {colleague}" in page
    assert references(client.get("/tips?q=nam+det").get_data(as_text=True)) == [ref]
    assert references(client.get("/tips", query_string={"assigned": colleague}).get_data(as_text=True)) == [ref]
    actions = {a for (a,) in rows(db_path, "SELECT action FROM audit_log WHERE target = ?", (ref,))}
    assert actions == {"tip.assign", "tip.village", "tip.note"}


# -- replying by SMS ---------------------------------------------------------------------------

def test_reply_queues_an_officer_sms_to_the_tipster_and_shows_the_real_part_count(db, make_client, db_path):
    ref = add_tip(db, "Có người lạ")
    client = make_client("officer")
    text = "Cảm ơn bạn. Công an xã đã nhận tin và đang xác minh, sẽ liên hệ lại sớm."
    html = client.post(f"/tips/{ref}/reply", data={"text": text}, follow_redirects=True).get_data(as_text=True)
    expected = plan(text)
    assert f"{expected.count} tin nhắn (Unicode)" in " ".join(flashes(html))
    html = client.post(f"/tips/{ref}/reply", data={"text": text, "khong_dau": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "1 tin nhắn (GSM-7)" in " ".join(flashes(html))

    sent = rows(db_path, "SELECT number, text, kind, auto, in_reply_to, parts_total FROM outbox ORDER BY id")
    inbox_id = rows(db_path, "SELECT inbox_id FROM tips")[0][0]
    assert sent == [
        (TIPSTER, text, "officer", 0, inbox_id, expected.count),
        (TIPSTER, khong_dau(text), "officer", 0, inbox_id, 1),
    ]
    assert khong_dau(text) in html and "Chờ gửi" in html
    assert rows(db_path, "SELECT count(*) FROM audit_log WHERE action = 'tip.reply'") == [(2,)]


def test_reply_refuses_empty_too_long_and_numbers_that_cannot_answer(db, make_client, db_path):
    ref = add_tip(db, "Có người lạ")
    short_code = add_tip(db, "Khuyến mãi", tipster="9029")
    client = make_client("officer", TINBAO_SMS_MAX_PARTS="2")
    for data, message in (
        ({"text": "  "}, "Nội dung trả lời đang trống."),
        ({"text": "á" * 200}, "Tin trả lời dài 3 tin nhắn, tối đa 2."),
    ):
        html = client.post(f"/tips/{ref}/reply", data=data, follow_redirects=True).get_data(as_text=True)
        assert any(f.startswith(message) for f in flashes(html)), flashes(html)
    assert "không nhận được tin nhắn" in client.get(f"/tips/{short_code}").get_data(as_text=True)
    html = client.post(f"/tips/{short_code}/reply", data={"text": "x"}, follow_redirects=True).get_data(as_text=True)
    assert any("không nhận được tin nhắn" in f for f in flashes(html))
    assert rows(db_path, "SELECT count(*) FROM outbox") == [(0,)]
    # The server's own count of a draft agrees with gateway.sms.segments.
    count = client.post(f"/tips/{ref}/reply/count", data={"text": "Đã nhận", "khong_dau": "1"}).get_json()
    assert count == {"parts": 1, "encoding": "gsm7", "units": 7, "text": "Da nhan"}


def test_tip_actions_need_the_csrf_token(db, make_client, db_path):
    ref = add_tip(db, "Có người lạ")
    client = make_client("officer")
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    for path, data in ((f"/tips/{ref}/status", {"status": "closed"}), (f"/tips/{ref}/reply", {"text": "hi"}),
                       (f"/tips/{ref}/number", {})):
        assert client.post(path, data=data).status_code == 400, path
    assert rows(db_path, "SELECT status FROM tips") == [("new",)]
    assert rows(db_path, "SELECT count(*) FROM outbox") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM audit_log WHERE action LIKE 'tip.%'") == [(0,)]


# -- CSV export --------------------------------------------------------------------------------

def read_csv(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode("utf-8"))
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_export_is_excel_ready_masked_filtered_and_defused(db, make_client, db_path):
    add_tip(db, "=HYPERLINK(\"http://evil\")", at=LATE_EVENING, village="Na Hối")
    add_tip(db, "Lừa đảo, \"trúng thưởng\"\nxin chuyển khoản", at=LATE_EVENING, status="closed")
    client = make_client("officer")
    response = client.get("/tips/export.csv")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    table = read_csv(response)
    assert table[0] == ["Mã", "Thời gian", "Người báo", "Thôn", "Trạng thái", "Người xử lý", "Nội dung"]
    assert table[1] == ["CL-0002", "04/01/2026 23:30", "0*** *** *78", "", "Đã đóng", "",
                        "Lừa đảo, \"trúng thưởng\"\nxin chuyển khoản"]
    assert table[2][6] == "'=HYPERLINK(\"http://evil\")" and table[2][3] == "Na Hối"
    assert [r[0] for r in read_csv(client.get("/tips/export.csv?status=closed"))[1:]] == ["CL-0002"]
    assert [r[0] for r in read_csv(client.get("/tips/export.csv?q=lua+dao"))[1:]] == ["CL-0002"]
    assert "912345678" not in response.get_data(as_text=True)

    assert client.get("/tips/export.csv?full=1").status_code == 403  # officers: masked only
    admin = make_client("admin")
    full = read_csv(admin.get("/tips/export.csv?full=1"))
    assert full[1][2] == "0912 345 678"
    audit = rows(db_path, "SELECT action, detail FROM audit_log WHERE action LIKE 'tip.export%' ORDER BY id")
    assert [a for a, _ in audit] == ["tip.export", "tip.export", "tip.export", "tip.export_full"]
    assert json.loads(audit[1][1]) == {"status": "closed", "full_numbers": False}
    assert make_client("viewer").get("/tips/export.csv").status_code == 403


# -- conversations -----------------------------------------------------------------------------

def test_conversations_grouped_by_number_newest_first_with_delivery_state(db, make_client):
    now = datetime.now(UTC)
    with db.atomic():
        for i, (sender, text) in enumerate([("+84911111111", "MENU"), ("+84922222222", EVIL),
                                            ("+84911111111", "1")]):
            db.conn.execute(
                "INSERT INTO inbox (received_at, sender, sender_kind, text, status) VALUES (?,?,?,?,?)",
                (utcnow_iso(now + timedelta(seconds=i)), sender, "mobile", text, "done"),
            )
        outbox.enqueue(db, "+84922222222", "Đang xác minh", kind="officer", auto=False, now=now + timedelta(seconds=5))
    client = make_client("viewer")
    html = client.get("/conversations").get_data(as_text=True)
    numbers = re.findall(r'<a href="/conversations/([io]\d+)">([^<]+)</a>', html)
    assert [masked for _key, masked in numbers] == ["0*** *** *22", "0*** *** *11"]
    assert "Chờ gửi" in html and "<script>alert" not in html
    assert "911111111" not in html and "922222222" not in html

    thread = client.get(f"/conversations/{numbers[0][0]}").get_data(as_text=True)
    assert "&lt;script&gt;" in thread and "Đang xác minh" in thread and "Cán bộ trả lời" in thread
    assert thread.index("Đang xác minh") < thread.index("&lt;script&gt;")  # newest first
    other = client.get(f"/conversations/{numbers[1][0]}").get_data(as_text=True)
    assert "MENU" in other and "Đang xác minh" not in other
    assert client.get("/conversations/i999").status_code == 404
    assert client.get("/conversations/x1").status_code == 404


def test_conversation_pages(db):
    now = datetime.now(UTC)
    with db.atomic():
        for i in range(130):
            db.conn.execute(
                "INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
                (utcnow_iso(now + timedelta(seconds=i)), f"+849110{i % 60:05d}", "mobile", "x"),
            )
    page = conversations.recent_numbers(db, limit=50)
    first = page.numbers
    second = conversations.recent_numbers(db, limit=50, before=page.next_before).numbers
    assert len(first) == 50 and len(second) == 10
    assert first[0]["number"] == "+84911000009" and first[0]["n_in"] == 3
    assert not {r["number"] for r in first} & {r["number"] for r in second}


def test_conversation_pages_are_keyed_by_where_the_walk_stopped(db, make_client):
    """Pages of 7 over 40 numbers, in and out interleaved: every number once, newest first."""
    now = datetime.now(UTC)
    newest: dict[str, datetime] = {}
    with db.atomic():
        for i in range(150):
            number, at = f"+849110{(i * 7) % 40:05d}", now + timedelta(seconds=i)
            if i % 3:
                db.conn.execute("INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
                                (utcnow_iso(at), number, "mobile", "x"))
            else:
                outbox.enqueue(db, number, "y", kind="officer", auto=False, now=at)
            newest[number] = at
    walked: list[str] = []
    before = None
    for _page in range(10):
        page = conversations.recent_numbers(db, limit=7, before=before)
        walked += [row["number"] for row in page.numbers]
        before = page.next_before
        if before is None:
            break
    assert walked == sorted(newest, key=newest.get, reverse=True)  # each once, newest conversation first
    client = make_client("viewer")
    html = client.get("/conversations").get_data(as_text=True)
    assert "Cũ hơn" not in html  # 40 numbers: one page of 50
    assert client.get("/conversations?before=5-3").status_code == 200


# -- dashboard ---------------------------------------------------------------------------------

def set_state(db, key: str, value: dict) -> None:
    with db.atomic():
        db.execute(
            "INSERT INTO state (key, value, updated_at) VALUES (?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value), utcnow_iso()),
        )


def test_dashboard_alerts_that_need_a_human(db, make_client):
    client = make_client("viewer")
    assert [a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]] == ["setup"]  # shipped menus
    set_state(db, "modem", {"state": "unplugged", "error": "không thấy /dev/ttyUSB0", "sim_used": 41, "sim_total": 50})
    set_state(db, "clock", {"trusted": False})
    set_state(db, "sync", {"zalo": {"state": "needs_reauth", "error": "-216"}, "district": {"state": "offline"}})
    data = client.get("/api/dashboard").get_json()
    assert [a["key"] for a in data["alerts"]] == ["modem", "sim", "clock", "zalo", "setup"]
    texts = " ".join(a["text"] for a in data["alerts"])
    assert "41/50" in texts and "không thấy /dev/ttyUSB0" in texts and "Zalo OA cần cấp quyền lại" in texts
    html = client.get("/").get_data(as_text=True)
    assert 'class="alert-item tone-bad" data-key="zalo"' in html
    health = client.get("/healthz").get_json()
    assert health["clock_trusted"] is False

    set_state(db, "modem", {"state": "connected", "sim_used": 39, "sim_total": 50})
    set_state(db, "clock", {"trusted": True})
    set_state(db, "sync", {"zalo": {"state": "ok"}})
    assert [a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]] == ["setup"]


def test_dashboard_queue_depths_include_the_sync_queue(db, make_client):
    ref = add_tip(db, "x")
    tip_id = rows_one(db, "SELECT id FROM tips WHERE reference = ?", ref)
    now = utcnow_iso()
    with db.atomic():
        for destination, status in (("zalo", "queued"), ("district", "failed")):
            db.execute(
                "INSERT INTO sync_queue (tip_id, destination, received_at, status, next_attempt_at, created_at,"
                " last_error, attempts) VALUES (?,?,?,?,?,?,?,?)",
                (tip_id, destination, now, status, now, now, "HTTP 502 <proxy>", 3),
            )
    client = make_client("viewer")
    queues = client.get("/api/dashboard").get_json()["queues"]
    assert (queues["zalo_queued"], queues["district_queued"]) == (1, 1)
    page = client.get(f"/tips/{ref}").get_data(as_text=True)
    assert "Zalo OA" in page and "Lỗi, sẽ thử lại" in page and "HTTP 502 &lt;proxy&gt;" in page


def rows_one(db, sql: str, *params):
    return db.execute(sql, params).fetchone()[0]


def test_dashboard_charts_are_inline_svg_with_escaped_labels(db, make_client):
    now = datetime.now(UTC)
    for i in range(3):
        add_tip(db, f"tin {i}", at=now - timedelta(days=2))
    with db.atomic():
        for handler in ["menu", "menu", "1.3", "help", "silent:short_code", "<b>area</b>"]:
            db.execute(
                "INSERT INTO inbox (received_at, sender, sender_kind, text, status, handler) VALUES (?,?,?,?,?,?)",
                (utcnow_iso(now), "+84911111111", "mobile", "x", "done", handler),
            )
    html = make_client("viewer").get("/").get_data(as_text=True)
    assert html.count("<svg class=\"chart") == 1  # the days; the keywords are HTML, readable on a phone
    assert "tổng 3, nhiều nhất 3" in html
    keywords = re.search(r'<ol class="chart chart-keywords".*?</ol>', html, re.S).group(0)
    assert 'title="MENU: 2"' in keywords and "Không hiểu" in keywords
    assert re.search(r"1\.3 · \w", keywords)  # the menu item by its title, not "Mục 1.3"
    assert "TIN (tin báo)" in keywords
    assert "short_code" not in keywords and "<b>" not in keywords and "&lt;b&gt;area&lt;/b&gt;" in keywords
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_dashboard_tip_rows_link_to_the_tip_page(db, make_client):
    ref = add_tip(db, "x")
    data = make_client("viewer").get("/api/dashboard").get_json()
    assert data["tips"][0]["url"] == f"/tips/{ref}"


# -- English -----------------------------------------------------------------------------------

def test_every_string_of_the_daily_work_pages_has_an_english_translation(db, make_client):
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    from gateway.web import i18n

    root = Path(__file__).resolve().parent.parent / "gateway"
    web = root / "web"
    files = [web / f"{name}.py" for name in
             ("tips", "tips_export", "tip_actions", "conversations", "charts", "status", "duty")]
    files.append(root / "duty" / "__init__.py")
    templates = [p for area in ("tips", "conversations", "duty", "status")
                 for p in (web / "templates" / area).glob("*.html")]
    keywords = {"_": None, "_l": None, "gettext": None, "N_": None}
    found = set()
    for path in files:
        found |= {m[1] for m in extract_from_file("python", str(path), keywords=keywords)}
    for path in templates:
        found |= {m[1] for m in extract_from_file("jinja2", str(path), keywords=keywords)}
    assert len(found) > 150
    assert sorted(found & set(i18n.untranslated("en"))) == []

    ref = add_tip(db, "Có trộm")
    client = make_client("officer")
    page = client.get(f"/tips/{ref}?lang=en").get_data(as_text=True)
    assert "Take it" in page and "Reply to the tipster by SMS" in page and "Show number" in page
    assert "Tips per day" in client.get("/").get_data(as_text=True)
