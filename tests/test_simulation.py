"""The dry run: admins try the menus on a real-modem gateway and nothing goes over the air.

The real ``Router`` answers on a sandbox SQLite file beside the gateway's; the test checks
both files, so "nothing entered the real outbox" is read from the real database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import RecordingSimulator, login_client, make_services, rows

from gateway.config import load_config
from gateway.menus import versions as menu_versions
from gateway.simulation import DryRun, router_settings, sandbox_path
from gateway.web import create_app

MENUS = Path(__file__).resolve().parent.parent / "firmware_config" / "menus"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def config(db_path):
    return load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})


@pytest.fixture
def make_client(storage, db_path, config):
    """A client of a fresh app (``simulator``: the built-in emulator; None: a real modem)."""

    def make(role="admin", simulator=None):
        app = create_app(config, make_services(db_path, config=config, db=storage, simulator=simulator))
        app.testing = True
        client = app.test_client()
        if role:
            login_client(client, db_path, role)
        return client

    return make


def real_traffic(db_path):
    return rows(db_path, "SELECT COUNT(*) FROM inbox")[0][0] + rows(db_path, "SELECT COUNT(*) FROM outbox")[0][0]


def test_the_sandbox_sits_beside_the_real_file_never_in_it(tmp_path):
    assert sandbox_path(tmp_path / "tinbao.db") == tmp_path / "tinbao-dry-run.db"
    assert sandbox_path(Path("data/x")) == Path("data/x-dry-run.db")


def test_the_real_router_answers_a_conversation_in_the_sandbox(tmp_path, config, storage):
    book = menu_versions.load_current(storage.get(), MENUS)
    dry = DryRun(tmp_path / "sandbox.db", router_settings(config), lambda: book)
    try:
        menu = dry.send("0912345678", "MENU", NOW)  # (a villager takes a few seconds per message)
        assert menu.number == "+84912345678" and menu.handler == "menu"
        [reply] = menu.replies
        assert reply.kind == "menu" and "1. Thu tuc hanh chinh" in reply.text  # không dấu, as sent
        assert dry.send("0912345678", "1", NOW + timedelta(seconds=5)).replies[0].text.startswith("Thu tuc hanh chinh")
        tip = dry.send("0912345678", "TIN có trộm bò ở thôn Na Pắc", NOW + timedelta(seconds=30))
        assert tip.handler.startswith("tip:CL-") and "da nhan tin bao" in tip.replies[0].text
        assert dry.send("1900", "KM", NOW).replies == []  # a short code is never answered, as for real
        thread = dry.conversation("0912345678")
        assert [m["direction"] for m in thread] == ["in", "out"] * 3
        assert {m["status"] for m in thread if m["direction"] == "out"} == {"dry_run"}
        sandbox = tmp_path / "sandbox.db"
        assert rows(sandbox, "SELECT COUNT(*) FROM outbox_parts WHERE status != 'dry_run'") == [(0,)]
        assert dry.forget("0912345678") == 3
        assert dry.conversation("0912345678") == []
        assert rows(sandbox, "SELECT COUNT(*) FROM tips") == [(0,)]
    finally:
        dry.close()


def test_an_admin_on_a_real_modem_gets_the_dry_run_and_nothing_enters_the_real_tables(make_client, db_path):
    admin = make_client("admin")
    page = admin.get("/simulator").get_data(as_text=True)
    assert "Chạy thử · không gửi qua mạng" in page and 'id="sim-form"' in page
    assert 'action="/simulator/dry-run/send"' in page

    response = admin.post("/simulator/dry-run/send", json={"number": "0912345678", "text": "MENU"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["dry_run"] is True and body["number"] == "+84912345678"
    assert "Thu tuc hanh chinh" in body["replies"][0]["text"]
    thread = admin.get("/simulator/dry-run/thread?number=0912345678").get_json()["messages"]
    assert [m["direction"] for m in thread] == ["in", "out"]
    assert thread[1]["status_label"] == "Chạy thử · không gửi"

    assert real_traffic(db_path) == 0
    assert rows(db_path, "SELECT COUNT(*) FROM tips") == [(0,)]
    assert (db_path.parent / "tinbao-dry-run.db").exists()

    # a plain form (no JavaScript) comes back to the page with the conversation
    response = admin.post("/simulator/dry-run/send", data={"number": "0912345678", "text": "CCCD"})
    assert response.status_code == 303
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "CAN CUOC: tu du 14 tuoi" in page
    assert admin.post("/simulator/dry-run/reset", data={"number": "0912345678"}).status_code == 303
    assert admin.get("/simulator/dry-run/thread?number=0912345678").get_json()["messages"] == []
    assert real_traffic(db_path) == 0


def test_the_dry_run_answers_from_the_menus_just_saved(make_client, storage):
    admin = make_client("admin")
    sources = menu_versions.shipped_sources(MENUS)
    sources["vi.toml"]["menu"]["1"]["3"]["text"] = "CCCD: sang thu Bay tai tru so."
    menu_versions.save(storage.get(), sources, "an", "")
    reply = admin.post("/simulator/dry-run/send", json={"number": "0912345678", "text": "cccd"}).get_json()
    assert reply["replies"][0]["text"] == "CCCD: sang thu Bay tai tru so."


@pytest.mark.parametrize("role", ["viewer", "officer"])
def test_only_admins_may_dry_run(make_client, db_path, role):
    client = make_client(role)
    page = client.get("/simulator").get_data(as_text=True)
    assert "modem giả lập" in page and 'id="sim-form"' not in page
    assert client.post("/simulator/dry-run/send", json={"number": "0912345678", "text": "MENU"}).status_code == 403
    assert client.get("/simulator/dry-run/thread?number=0912345678").status_code == 403
    assert client.post("/simulator/dry-run/reset", data={"number": "0912345678"}).status_code == 403
    assert not (db_path.parent / "tinbao-dry-run.db").exists()


def test_bad_input_to_the_dry_run_gets_a_clear_answer(make_client):
    admin = make_client("admin")
    for payload in ({"number": "", "text": "x"}, {"number": "0912345678", "text": ["x"]},
                    {"number": "0912345678", "text": "á" * 1601}):
        response = admin.post("/simulator/dry-run/send", json=payload)
        assert response.status_code == 400 and response.get_json()["error"]
    assert admin.get("/simulator/dry-run/thread?number=").status_code == 400


def test_with_the_emulator_the_simulator_stays_the_real_path(make_client, db_path):
    simulator = RecordingSimulator()
    admin = make_client("admin", simulator)
    page = admin.get("/simulator").get_data(as_text=True)
    assert 'action="/simulator/send"' in page and "không gửi qua mạng" not in page
    assert admin.post("/simulator/send", json={"number": "0912345678", "text": "MENU"}).status_code == 200
    assert simulator.delivered == [("+84912345678", "MENU")]
    viewer = make_client("viewer", simulator)
    assert viewer.post("/simulator/send", json={"number": "0912345678", "text": "MENU"}).status_code == 403
    assert simulator.delivered == [("+84912345678", "MENU")]
