"""The officers' page: dashboard, /api/dashboard, /healthz and the phone simulator.

Real parts only: a real SQLite file under tmp_path with the real schema, Flask's test client,
and a tiny simulator class that records what it was asked to deliver.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import RecordingSimulator, login_client, make_services

from gateway.config import load_config
from gateway.errors import ModemError
from gateway.storage import ThreadLocalDb
from gateway.web import create_app
from gateway.web.filters import local_time, mask, signal_bars
from gateway.web.simulator import _normalise

WEB_DIR = Path(__file__).resolve().parent.parent / "gateway" / "web"
EVIL = "<script>alert('x')</script>"
VILLAGER = "+84987654321"  # appears in lists only as 0*** *** *21
MORNING = "2026-01-05T03:40:00+00:00"  # 10:40 in Asia/Ho_Chi_Minh


class BrokenSimulator:
    def deliver(self, number: str, text: str) -> None:
        raise ModemError("emulator is not running")


@pytest.fixture
def web_config(db_path):
    return load_config(env={"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_GATEWAY_PHONE_NUMBER": "0214 3880 113"})


@pytest.fixture
def make_client(db_path, web_config):
    """A test client of a fresh app with ``simulator``, logged in as an officer unless ``role=None``."""

    def make(simulator=None, role="officer"):
        services = make_services(db_path, config=web_config, simulator=simulator, version="0.1.0-test")
        app = create_app(web_config, services)
        app.testing = True
        client = app.test_client()
        if role is not None:
            login_client(client, db_path, role)
        return client

    return make


@pytest.fixture
def simulator():
    return RecordingSimulator()


@pytest.fixture
def services(db_path, web_config, storage, simulator):
    return make_services(db_path, config=web_config, db=storage, simulator=simulator, version="0.1.0-test")


@pytest.fixture
def client(logged_in):
    """Here the page is looked at by an officer (with the recording simulator)."""
    return logged_in("officer")


def add_inbox(db, sender, text, *, at=MORNING, status="done", handler="menu", kind="text"):
    return db["inbox"].insert(
        {
            "received_at": at,
            "sender": sender,
            "sender_kind": "number",
            "text": text,
            "encoding": "gsm7",
            "kind": kind,
            "status": status,
            "handler": handler,
        }
    ).last_pk


def add_outbox(db, number, text, *, at=MORNING, status="sent", kind="menu", parts=(1, 1)):
    return db["outbox"].insert(
        {
            "created_at": at,
            "number": number,
            "text": text,
            "kind": kind,
            "encoding": "gsm7",
            "parts_sent": parts[0],
            "parts_total": parts[1],
            "status": status,
            "next_attempt_at": at,
        }
    ).last_pk


def add_tip(db, reference, tipster, text, *, at=MORNING, status="new"):
    return db["tips"].insert(
        {
            "reference": reference,
            "uid": f"cl-{reference}",
            "received_at": at,
            "tipster": tipster,
            "text": text,
            "status": status,
        }
    ).last_pk


def set_modem(db, **fields):
    state = {
        "state": "connected",
        "signal": 20,
        "operator": "Viettel",
        "registered": True,
        "error": None,
        "last_contact": MORNING,
        "sim_used": 3,
        "sim_total": 30,
        "port": "/dev/ttyUSB0",
    }
    state.update(fields)
    db["state"].upsert(
        {"key": "modem", "value": json.dumps(state), "updated_at": MORNING}, pk="key"
    )


# --- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number, shown",
    [
        ("+84912345678", "0*** *** *78"),
        ("0912345678", "0*** *** *78"),
        ("+842143880113", "0*** **** *13"),  # the page masks with gateway.phone.mask
        ("+14155550123", "+*** ***** *23"),
        ("1900", "1900"),
        ("Viettel", "Viettel"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask(number, shown):
    assert mask(number) == shown


@pytest.mark.parametrize("number, shown", [("84912345678", "0*** *** *78"), ("0912345678901", "0**********01")])
def test_the_page_masks_numbers_its_old_filter_showed_in_full(client, db, number, shown):
    # A second masker on the page once showed these two in full (rule 6).
    assert client.application.jinja_env.filters["mask"](number) == shown
    add_inbox(db, number, "MENU")
    data = client.get("/api/dashboard").get_json()
    assert data["inbox"][0]["sender"] == shown
    assert number not in client.get("/").get_data(as_text=True)


def test_local_time_is_dd_mm_yyyy_in_the_gateway_zone():
    config = load_config(env={})
    assert local_time(MORNING, config.timezone) == "05/01/2026 10:40"
    assert local_time(None, config.timezone) == ""


@pytest.mark.parametrize("csq, bars",
                         [(0, 0), (1, 0), (2, 1), (10, 2), (15, 3), (20, 4), (31, 5), (99, None), (None, None)])
def test_signal_bars(csq, bars):
    assert signal_bars(csq) == bars


@pytest.mark.parametrize(
    "typed", ["0912345678", "84912345678", "+84912345678", "0084912345678", "091 234 5678", "091.234.5678"]
)
def test_normalise_accepts_every_vietnamese_form(typed):
    assert _normalise(typed) == "+84912345678"


def test_normalise_keeps_short_codes_and_names():
    assert _normalise("1900") == "1900"
    assert _normalise(" Viettel ") == "Viettel"


# --- dashboard -----------------------------------------------------------------------------


def test_dashboard_shows_vietnamese_labels_and_the_gateway(client, db):
    set_modem(db)
    html = client.get("/").get_data(as_text=True)
    for text in (
        "Tổng quan", "Modem 4G (LTE)", "Tin nhắn đến", "Tin nhắn đi", "Tin báo mới nhất",
        "Tin đến chờ xử lý", "Tin đi gửi lỗi", "Điện thoại thử",
        "Công an xã Cốc Lầu", "0214 3880 113", "Đã kết nối", "Viettel", "3/30", "05/01/2026 10:40",
    ):
        assert text in html, text
    assert '<html lang="vi">' in html
    assert 'data-bars="4"' in html


def test_dashboard_escapes_sms_text(client, db):
    add_inbox(db, VILLAGER, EVIL)
    add_outbox(db, VILLAGER, '"><img src=x onerror=alert(1)>')
    add_tip(db, "CL-0001", VILLAGER, EVIL)
    set_modem(db, state="error", error="<b>Cổng</b> lỗi")
    html = client.get("/").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "<b>Cổng</b>" not in html
    # The only script tags are the page's own static files, or inert JSON data (never run).
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert re.search(r'src="/static/[a-z]+\.js"', tag) or 'type="application/json"' in tag, tag


def test_dashboard_masks_numbers(client, db):
    add_inbox(db, VILLAGER, "MENU")
    add_outbox(db, VILLAGER, "1. Thu tuc")
    add_tip(db, "CL-0002", VILLAGER, "Co nguoi la")
    html = client.get("/").get_data(as_text=True)
    assert html.count("0*** *** *21") == 3
    assert "987654321" not in html


def test_dashboard_lists_newest_first_and_limits(client, db):
    for n in range(25):
        add_inbox(db, VILLAGER, f"tin so {n:02d}")
    for n in range(12):
        add_tip(db, f"CL-{n:04d}", VILLAGER, f"tin bao {n:02d}")
    html = client.get("/").get_data(as_text=True)
    assert "tin so 24" in html and "tin so 05" in html and "tin so 04" not in html
    assert html.index("tin so 24") < html.index("tin so 23")
    assert "CL-0011" in html and "CL-0002" in html and "CL-0001" not in html


@pytest.mark.parametrize(
    "fields, shown",
    [
        ({"state": "connecting", "signal": None, "registered": False}, ["Đang kết nối", "Không rõ"]),
        ({"state": "error", "error": "Cổng /dev/ttyUSB0 không tồn tại"},
         ["Lỗi modem", "Cổng /dev/ttyUSB0 không tồn tại"]),
        ({"state": "unplugged"}, ["Chưa cắm modem"]),
    ],
)
def test_dashboard_modem_states(client, db, fields, shown):
    set_modem(db, **fields)
    html = client.get("/").get_data(as_text=True)
    for text in shown:
        assert text in html


def test_dashboard_before_the_modem_worker_started(client):
    html = client.get("/").get_data(as_text=True)
    assert "Chưa khởi động" in html
    assert "Chưa có tin nhắn đến." in html


def test_dashboard_has_the_simulator_panel(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="sim-form"' in html
    assert 'value="0912345678"' in html


def test_api_dashboard_json(client, db):
    set_modem(db, signal=31)
    add_inbox(db, VILLAGER, EVIL, status="queued", handler=None)
    add_outbox(db, VILLAGER, "Tra loi", status="failed", parts=(1, 2))
    add_outbox(db, "+84911111111", "Cho gui", status="queued")
    add_tip(db, "CL-0007", VILLAGER, "x" * 300)
    response = client.get("/api/dashboard")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["queues"].items() >= {"inbox_queued": 1, "outbox_queued": 1, "outbox_failed": 1, "tips_new": 1}.items()
    assert data["modem"]["state_label"] == "Đã kết nối" and data["modem"]["bars"] == 5
    assert data["inbox"][0]["sender"] == "0*** *** *21"
    assert data["inbox"][0]["text"] == EVIL  # data for textContent, never HTML
    assert data["inbox"][0]["status_label"] == "Chờ xử lý" and data["inbox"][0]["tone"] == "wait"
    assert data["outbox"][0]["text"] == "Cho gui"
    assert data["outbox"][1]["parts"] == "1/2" and data["outbox"][1]["status_label"] == "Gửi lỗi"
    assert data["tips"][0]["reference"] == "CL-0007"
    assert len(data["tips"][0]["text"]) == 100 and data["tips"][0]["text"].endswith("…")
    assert "987654321" not in response.get_data(as_text=True)


# --- healthz -------------------------------------------------------------------------------


def test_healthz_ok_when_the_modem_is_connected(client, db):
    set_modem(db)
    add_inbox(db, VILLAGER, "MENU", status="queued")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) >= {"status", "version", "gateway_id", "modem", "queues", "clock_trusted", "time"}
    assert body["status"] == "ok"
    assert body["version"] == "0.1.0-test"
    assert body["gateway_id"] == "cl"
    assert body["modem"] == {"state": "connected", "signal": 20, "registered": True}
    assert body["queues"].items() >= {"inbox_queued": 1, "outbox_queued": 0, "outbox_failed": 0, "tips_new": 0}.items()
    assert body["clock_trusted"] is True


@pytest.mark.parametrize("fields", [None, {"state": "error", "error": "Cổng /dev/ttyUSB0 không tồn tại"},
                                    {"state": "connecting"}])
def test_healthz_degraded_otherwise(client, db, fields):
    if fields is not None:
        set_modem(db, **fields)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["modem"]["state"] == (fields or {}).get("state", "not_started")


def test_healthz_holds_nothing_personal(client, db):
    set_modem(db)
    add_inbox(db, VILLAGER, "Có người lạ ở thôn Nậm Đét")
    add_tip(db, "CL-0003", VILLAGER, "Có người lạ ở thôn Nậm Đét")
    add_outbox(db, VILLAGER, "Cảm ơn, mã tin báo CL-0003")
    text = client.get("/healthz").get_data(as_text=True)
    for personal in ("987654321", "Nậm Đét", "Nam Det", "CL-0003"):
        assert personal not in text
    # The operator is the network's, not a person's: /healthz names it (issue 8, part 1).
    assert client.get("/healthz").get_json()["network"]["operator"] == "Viettel"
    assert "N\\u1eadm" not in text


def test_healthz_degraded_when_the_database_cannot_be_read(tmp_path):
    unprepared = ThreadLocalDb(tmp_path / "empty.db")  # no schema: every query fails
    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "empty.db")})
    app = create_app(config, make_services(tmp_path / "empty.db", config=config, db=unprepared))
    try:
        response = app.test_client().get("/healthz")
    finally:
        unprepared.close_all()
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["database"] == "error"
    assert body["modem"]["state"] == "unknown"


# --- an error is never a zero ---------------------------------------------------------------

DATABASE_ERROR = "Không đọc được cơ sở dữ liệu của cổng"


def test_dashboard_shows_a_database_error_not_zeros(client, db):
    set_modem(db)
    add_tip(db, "CL-0001", VILLAGER, "Có người lạ")
    db.execute("DROP TABLE sync_queue")  # one area's table broken: no figure may pretend to be 0
    response = client.get("/")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert 'id="error-message"' in html and DATABASE_ERROR in html
    assert 'data-field="queues.' not in html
    api = client.get("/api/dashboard")
    assert api.status_code == 503
    assert DATABASE_ERROR in api.get_json()["error"] and "queues" not in api.get_json()
    assert api.headers["Content-Type"].startswith("application/json")


def test_healthz_reports_a_broken_table_as_a_database_error_not_zeros(client, db):
    set_modem(db)
    db.execute("DROP TABLE sync_queue")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["database"] == "error"
    assert body["queues"] and all(value is None for value in body["queues"].values())


def test_tip_page_shows_a_database_error_rather_than_hiding_the_sync_card(client, db):
    add_tip(db, "CL-0001", VILLAGER, "Có người lạ")
    assert client.get("/tips/CL-0001").status_code == 200
    db.execute("DROP TABLE sync_queue")
    response = client.get("/tips/CL-0001")
    assert response.status_code == 503 and DATABASE_ERROR in response.get_data(as_text=True)


def test_a_database_the_frame_cannot_read_still_answers_with_the_error(client, db):
    db.execute("ALTER TABLE users RENAME TO users_gone")  # not even the logged-in officer can be read
    response = client.get("/")
    assert response.status_code == 503
    assert DATABASE_ERROR in response.get_data(as_text=True)
    api = client.get("/api/dashboard")
    assert api.status_code == 503 and DATABASE_ERROR in api.get_json()["error"]


def test_healthz_needs_no_login_and_is_not_cached(make_client, db):
    set_modem(db)
    response = make_client(role=None).get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/", "/simulator", "/api/dashboard", "/simulator/thread?number=0912345678"])
def test_every_page_but_healthz_needs_a_login(make_client, path):
    client = make_client(RecordingSimulator(), role=None)
    response = client.get(path, headers={"Accept": "application/json"} if "api" in path or "thread" in path else {})
    if "api" in path or "thread" in path:
        assert response.status_code == 401
        assert response.get_json()["login_url"] == "/login"
    else:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_simulator_send_needs_a_login(make_client):
    simulator = RecordingSimulator()
    response = make_client(simulator, role=None).post("/simulator/send", json={"number": "0912345678", "text": "MENU"})
    assert response.status_code == 401 and response.get_json()["login_url"] == "/login"
    assert simulator.delivered == []


# --- simulator -----------------------------------------------------------------------------


def test_simulator_send_delivers_the_normalised_number(client, simulator):
    response = client.post("/simulator/send", json={"number": "0912345678", "text": "MENU"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["number"] == "+84912345678"
    assert simulator.delivered == [("+84912345678", "MENU")]


@pytest.mark.parametrize("typed", ["84912345678", "+84912345678", "0084912345678", " 091 234 5678 "])
def test_simulator_send_accepts_every_form_of_the_number(client, simulator, typed):
    assert client.post("/simulator/send", json={"number": typed, "text": "1"}).status_code == 200
    assert simulator.delivered == [("+84912345678", "1")]


def test_simulator_send_keeps_short_codes_and_names(client, simulator):
    client.post("/simulator/send", json={"number": "1900", "text": "KM"})
    client.post("/simulator/send", json={"number": "Viettel", "text": "KM"})
    assert simulator.delivered == [("1900", "KM"), ("Viettel", "KM")]


def test_simulator_refuses_a_number_the_router_would_not_accept(client, simulator):
    # The page's own normaliser once made "+841234567890" of this (no such network prefix).
    response = client.post("/simulator/send", json={"number": "01234567890", "text": "MENU"})
    assert response.status_code == 400 and response.get_json()["error"]
    assert _normalise("01234567890") == "01234567890"
    assert simulator.delivered == []


def test_simulator_send_from_a_plain_form_redirects_to_the_conversation(client, simulator):
    response = client.post("/simulator/send", data={"number": "0912345678", "text": "Xin chào\r\nthôn"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/simulator?number=%2B84912345678"
    assert simulator.delivered == [("+84912345678", "Xin chào\nthôn")]


def test_simulator_allows_an_empty_sms(client, simulator):
    assert client.post("/simulator/send", json={"number": "0912345678", "text": ""}).status_code == 200
    assert client.post("/simulator/send", json={"number": "0912345678"}).status_code == 200
    assert simulator.delivered == [("+84912345678", ""), ("+84912345678", "")]


def test_simulator_refuses_more_than_1600_characters(client, simulator):
    assert client.post("/simulator/send", json={"number": "0912345678", "text": "a" * 1600}).status_code == 200
    response = client.post("/simulator/send", json={"number": "0912345678", "text": "á" * 1601})
    assert response.status_code == 400
    assert "1600" in response.get_json()["error"]
    assert len(simulator.delivered) == 1


@pytest.mark.parametrize("payload", [{"number": "", "text": "x"}, {"number": "09<b>", "text": "x"}, {"text": "x"},
                                     {"number": 912345678, "text": "x"}, {"number": "0912345678", "text": ["x"]}])
def test_simulator_refuses_bad_input(client, simulator, payload):
    response = client.post("/simulator/send", json=payload)
    assert response.status_code == 400
    assert response.get_json()["error"]
    assert simulator.delivered == []


def test_simulator_reports_an_emulator_failure(make_client):
    response = make_client(BrokenSimulator()).post("/simulator/send", json={"number": "0912345678", "text": "x"})
    assert response.status_code == 503
    assert "emulator is not running" in response.get_json()["error"]


def test_simulator_without_the_emulator(make_client, db):
    client = make_client(None)
    add_inbox(db, "+84912345678", "Tin thật của người dân")
    response = client.post("/simulator/send", json={"number": "0912345678", "text": "MENU"})
    assert response.status_code == 409
    assert 'modem.port = "emulator"' in response.get_json()["error"]
    thread = client.get("/simulator/thread?number=0912345678")
    assert thread.status_code == 409
    assert "Tin thật" not in thread.get_data(as_text=True)
    for page in ("/simulator", "/simulator?number=0912345678", "/"):
        html = client.get(page).get_data(as_text=True)
        assert "modem giả lập" in html and 'modem.port = &#34;emulator&#34;' in html
        assert 'id="sim-form"' not in html
    assert "Tin thật" not in client.get("/simulator?number=0912345678").get_data(as_text=True)


def test_simulator_thread_is_the_conversation_oldest_first(client, db):
    add_inbox(db, "+84912345678", "Tin thật từ trước", at="2026-01-05T03:00:00+00:00")
    assert client.get("/simulator/thread", query_string={"number": "0912345678"}).get_json()["messages"] == []
    assert client.post("/simulator/send", json={"number": "0912345678", "text": "MENU"}).status_code == 200
    add_inbox(db, "+84912345678", "MENU", at="2026-01-05T03:40:00+00:00")
    add_outbox(db, "+84912345678", "1. Thu tuc\n2. Tin bao", at="2026-01-05T03:40:01+00:00", status="queued")
    add_inbox(db, "+84912345678", "2", at="2026-01-05T03:41:00+00:00")
    add_outbox(db, "+84912345678", "Moi ban nhan tin bao", at="2026-01-05T03:41:01+00:00")
    add_inbox(db, VILLAGER, "not this one", at="2026-01-05T03:40:30+00:00")
    add_outbox(db, VILLAGER, "nor this one", at="2026-01-05T03:40:31+00:00")
    for typed in ("0912345678", "84912345678", "+84912345678"):
        response = client.get("/simulator/thread", query_string={"number": typed})
        assert response.status_code == 200
        body = response.get_json()
        assert body["number"] == "+84912345678"
        messages = body["messages"]
        assert [(m["direction"], m["text"]) for m in messages] == [
            ("in", "MENU"),
            ("out", "1. Thu tuc\n2. Tin bao"),
            ("in", "2"),
            ("out", "Moi ban nhan tin bao"),
        ]
        assert messages[0]["time"] == "2026-01-05T03:40:00+00:00"
        assert messages[0]["time_display"] == "05/01/2026 10:40"
        assert messages[1]["status"] == "queued" and messages[1]["status_label"] == "Chờ gửi"
        assert messages[3]["status"] == "sent"
    # Only what this session sent: another officer's browser sees none of it.
    other = client.application.test_client()
    login_client(other, client.application.extensions["tinbao"]["config"].storage_path, "officer")
    assert other.get("/simulator/thread", query_string={"number": "0912345678"}).get_json()["messages"] == []


def test_simulator_thread_refuses_a_bad_number(client):
    assert client.get("/simulator/thread?number=%3Cx%3E").status_code == 400
    assert client.get("/simulator/thread").status_code == 400


def test_simulator_page_shows_the_conversation_escaped(client, db):
    client.post("/simulator/send", json={"number": "0912345678", "text": "x"})
    add_inbox(db, "+84912345678", EVIL)
    add_outbox(db, "+84912345678", "Trả lời")
    html = client.get("/simulator?number=0912345678").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html and "Trả lời" in html
    assert "bubble-mine" in html and "bubble-reply" in html


def test_post_from_another_site_is_refused(client, simulator):
    payload = {"number": "0912345678", "text": "MENU"}
    assert client.post("/simulator/send", json=payload, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/simulator/send", json=payload, headers={"Origin": "null"}).status_code == 403
    assert client.post("/simulator/send", json=payload, headers={"Referer": "http://evil.example/x"}).status_code == 403
    form = client.post("/simulator/send", data=payload, headers={"Origin": "http://evil.example"})
    assert form.status_code == 403
    assert simulator.delivered == []
    assert client.post("/simulator/send", json=payload, headers={"Origin": "http://localhost"}).status_code == 200
    assert client.post("/simulator/send", json=payload, headers={"Referer": "http://localhost/"}).status_code == 200
    assert len(simulator.delivered) == 2


# --- static files and page hygiene ---------------------------------------------------------


@pytest.mark.parametrize(
    "name, mimetype",
    [("tinbao.css", "text/css"), ("dashboard.js", "text/javascript"), ("simulator.js", "text/javascript"),
     ("favicon.png", "image/png")],
)
def test_static_files_are_served(client, name, mimetype):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.mimetype == mimetype
    response.close()


def _web_files():
    for path in sorted((WEB_DIR / "templates").rglob("*")) + sorted((WEB_DIR / "static").rglob("*")):
        if path.is_file() and path.suffix in {".html", ".css", ".js", ".svg", ".txt"}:
            yield path


def test_templates_and_static_files_reference_nothing_outside():
    files = list(_web_files())
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, path
        assert not re.search(r"""(src|href)=["']//""", text), path
        assert "@import" not in text and "url(" not in text, path


def test_no_inline_script_or_style_and_no_html_from_script():
    for path in (WEB_DIR / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert not re.search(r"\sstyle\s*=", text), path
        assert "<style" not in text, path
        for tag in re.findall(r"<script\b[^>]*>", text):
            # a page's own file, or inert data for one (never run: not JavaScript)
            assert "src=" in tag or 'type="application/json"' in tag, path
        assert "|safe" not in text.replace(" ", ""), path
    for path in (WEB_DIR / "static").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, (path, sink)


def test_pages_send_a_strict_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
