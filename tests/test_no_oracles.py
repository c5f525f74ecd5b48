"""No page rebuilds a masked number (DESIGN.md, rule 6): one test per side door.

A viewer once linked a masked tipster to a named subscriber by searching "321", then found
the whole number by searching 0987000321 … 0987999321 (655 requests, nothing audited). Here
the same walk is tried on every door, through the real login, on a real SQLite file.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import ON_PAPER, RecordingSimulator, login_client, make_services, rows

from gateway.broadcasts import subscribers
from gateway.clock import ManualClock
from gateway.config import load_config
from gateway.database import prepare_gateway
from gateway.phone import mask
from gateway.storage import ThreadLocalDb, write_transaction
from gateway.web import create_app

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TIPSTER = "+84987654321"  # masked: 0*** *** *21
NEIGHBOUR = "+84912000021"  # another number with the same last two digits


@pytest.fixture
def env(tmp_path):
    path = tmp_path / "t.db"
    prepare_gateway(path)
    storage = ThreadLocalDb(path)
    db = storage.get()
    with write_transaction(db):
        subscribers.save_member(db, subscribers.Member(TIPSTER, name="Lò Văn A"), source="officer", now=NOW,
                                basis=ON_PAPER)
        subscribers.save_member(db, subscribers.Member(NEIGHBOUR, name="Giàng Thị B"), source="officer", now=NOW,
                                basis=ON_PAPER)
    db["tips"].insert({"reference": "CL-0001", "uid": "cl-1", "received_at": NOW.isoformat(), "tipster": TIPSTER,
                       "text": "Có người lạ ở thôn 2", "status": "new"})
    db["inbox"].insert({"received_at": NOW.isoformat(), "sender": TIPSTER, "sender_kind": "mobile",
                        "text": "TIN Có người lạ ở thôn 2", "encoding": "ucs2", "kind": "text", "status": "done",
                        "handler": "tip:CL-0001"})
    yield path, storage
    storage.close_all()


def client_for(env, role: str, simulator=None):
    path, storage = env
    config = load_config(env={"TINBAO_STORAGE_PATH": str(path)})
    app = create_app(config, make_services(path, config=config, db=storage, simulator=simulator,
                                           clock=ManualClock(NOW), version="t"))
    app.testing = True
    client = app.test_client()
    client.username = login_client(client, path, role)
    return client


def number_searches(path) -> list[tuple[str, str]]:
    return rows(path, "SELECT who, target FROM audit_log WHERE action='subscriber.search' ORDER BY id")


def test_a_mask_is_not_an_identifier(env):
    # The subscribers list pairs masks with names: the mask must fit many numbers, not one.
    assert mask(TIPSTER) == mask(NEIGHBOUR) == "0*** *** *21"
    page = client_for(env, "viewer").get("/broadcasts/subscribers").get_data(as_text=True)
    assert page.count("0*** *** *21") == 2
    assert "987654321" not in page and "912000021" not in page


@pytest.mark.parametrize("partial", ["321", "21", "0987", "987654", "0987 654", "098765432", "+8498765432",
                                     "0987*321", "0987%321", "%", "_"])
def test_a_part_of_a_number_finds_nobody(env, partial):
    client = client_for(env, "officer")
    page = client.get("/broadcasts/subscribers", query_string={"q": partial, "status": "all"}).get_data(as_text=True)
    assert "Lò Văn A" not in page and "Giàng Thị B" not in page
    if any(ch.isdigit() for ch in partial):
        assert 'id="number-search-note"' in page
    assert number_searches(env[0]) == []


def test_the_655_request_walk_finds_nothing_for_a_viewer(env):
    client = client_for(env, "viewer")
    codes = {client.get("/broadcasts/subscribers", query_string={"q": f"0987{middle:03d}321"}).status_code
             for middle in range(0, 1000, 7)}
    codes.add(client.get("/broadcasts/subscribers", query_string={"q": "0987654321"}).status_code)
    assert codes == {403}
    assert client.get("/broadcasts/subscribers", query_string={"q": "321"}).status_code == 403
    # A name is still searched by any part.
    page = client.get("/broadcasts/subscribers", query_string={"q": "Văn"}).get_data(as_text=True)
    assert "Lò Văn A" in page and "Giàng Thị B" not in page
    denied = rows(env[0], "SELECT COUNT(*) FROM audit_log WHERE action='access.denied' AND who=?",
                  (client.username,))[0][0]
    assert denied == len(range(0, 1000, 7)) + 2


@pytest.mark.parametrize("typed", ["0987654321", "0987 654 321", "+84987654321", "84987654321"])
def test_an_officer_finds_a_number_typed_whole_and_it_is_audited(env, typed):
    client = client_for(env, "officer")
    page = client.get("/broadcasts/subscribers", query_string={"q": typed}).get_data(as_text=True)
    assert "Lò Văn A" in page and "Giàng Thị B" not in page
    assert number_searches(env[0]) == [(client.username, "0*** *** *21")]
    client.get("/broadcasts/subscribers", query_string={"q": "0987654320"})  # a miss is audited too
    assert len(number_searches(env[0])) == 2


def test_the_simulator_thread_is_for_officers_only(env):
    viewer = client_for(env, "viewer", RecordingSimulator())
    response = viewer.get("/simulator/thread", query_string={"number": "0987654321"})
    assert response.status_code == 403
    assert "Có người lạ" not in response.get_data(as_text=True)
    page = viewer.get("/simulator", query_string={"number": "0987654321"}).get_data(as_text=True)
    assert "Có người lạ" not in page and 'id="sim-form"' not in page
    assert "dành cho cán bộ" in page and "không có quyền xem trang này" not in page
    assert viewer.post("/simulator/send", json={"number": "0912345678", "text": "MENU"}).status_code == 403

    officer = client_for(env, "officer", RecordingSimulator())
    thread = officer.get("/simulator/thread", query_string={"number": "0987654321"})
    assert thread.status_code == 200 and thread.get_json()["messages"] == []  # not a way to read a tipster's SMS
    page = officer.get("/simulator", query_string={"number": "0987654321"}).get_data(as_text=True)
    assert "Có người lạ" not in page
    assert rows(env[0], "SELECT who, action, target FROM audit_log WHERE action LIKE 'simulator.%'") == [
        (officer.username, "simulator.refused", "0*** *** *21")]


def test_the_simulator_shows_only_what_this_session_sent_not_a_guessed_numbers_past(env):
    """Issue 17: 600 guesses behind a mask found the tipster of CL-0003 through the simulator."""
    path, storage = env
    officer = client_for(env, "officer", RecordingSimulator())
    for middle in range(0, 1000, 50):  # the walk, now: nothing to see, whatever is sent
        number = f"0987{middle:03d}321"
        officer.post("/simulator/send", json={"number": number, "text": "MENU"})
        assert officer.get("/simulator/thread", query_string={"number": number}).get_json()["messages"] == []
    officer.post("/simulator/send", json={"number": "0987654321", "text": "MENU"})
    storage.get()["inbox"].insert({"received_at": NOW.isoformat(), "sender": TIPSTER, "sender_kind": "mobile",
                                   "text": "MENU", "encoding": "gsm7", "kind": "text", "status": "done"})
    texts = [m["text"] for m in officer.get("/simulator/thread", query_string={"number": "0987654321"}
                                            ).get_json()["messages"]]
    assert texts == ["MENU"]  # its own message, not the tip sent before
    sends = rows(path, "SELECT COUNT(*) FROM audit_log WHERE action = 'simulator.send'")[0][0]
    assert sends == len(range(0, 1000, 50)) + 1  # each send is audited


def test_tip_search_does_not_match_the_tipster_number(env):
    client = client_for(env, "viewer")
    for q in ("321", "0987654321", "987654321"):
        page = client.get("/tips", query_string={"q": q}).get_data(as_text=True)
        assert "CL-0001" not in page, q
