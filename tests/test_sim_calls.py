"""Missed calls through the serial port: RING and +CLIP, hung up without answering, answered
with the main menu by SMS once per number per hour; hidden numbers, short codes and a modem
without +CLIP get nothing; ``calls.on_missed = "alert"`` puts the call on the call-back list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import Phone, login_client, rows, wait_until
from sim_fixtures import post, post_config, start_post  # noqa: F401 - post is a fixture

from gateway.phone import normalise
from gateway.storage import utcnow_iso

VILLAGER = "0912345678"


def menus_to(emulator, number: str) -> list[str]:
    wanted = normalise(number).value
    return [m.text for m in emulator.sent_messages() if normalise(m.destination).value == wanted]


def calls(path) -> list[tuple]:
    return rows(path, "SELECT number, number_kind, status, action, callback FROM calls ORDER BY id")


def ring(emulator, path, number: str, **how) -> None:
    before = len(calls(path))
    # A ring without +CLIP waits a second for a number that may still come: let it ring longer.
    emulator.call(number, interval=0.3 if how.get("clip", True) else 1.0, **how)
    assert wait_until(lambda: len(calls(path)) == before + 1 and calls(path)[-1][2] == "done", 15), calls(path)


def test_a_missed_call_is_answered_with_the_menu_once_per_hour(post, emulator):  # noqa: F811
    path = post.config.storage_path
    ring(emulator, path, VILLAGER)
    assert emulator.calls[-1].hung_up and emulator.calls[-1].rung == 1  # hung up at the first ring, unanswered
    assert wait_until(lambda: len(menus_to(emulator, VILLAGER)) == 1, 15)
    menu = menus_to(emulator, VILLAGER)[0]
    assert "Thu tuc hanh chinh" in menu  # the main menu, without diacritics
    assert calls(path)[-1] == ("+84912345678", "mobile", "done", "menu", None)

    ring(emulator, path, VILLAGER)  # rings again ten minutes later: no second SMS this hour
    assert calls(path)[-1][3] == "paced"
    # The villager's next text picks from the menu the call opened.
    reply = Phone(emulator, path).send(VILLAGER, "1")
    assert reply is not None and reply != menu

    # An hour later the next missed call gets the menu again.
    hour_ago = utcnow_iso(datetime.now(UTC) - timedelta(minutes=61))
    post.dbs.get().execute("UPDATE calls SET at=?", (hour_ago,))
    post.dbs.get().conn.commit()
    ring(emulator, path, VILLAGER)
    assert calls(path)[-1][3] == "menu"
    assert wait_until(lambda: len(menus_to(emulator, VILLAGER)) == 3, 15)  # menu, the reply to "1", menu


@pytest.mark.parametrize(("how", "kind"), [
    ({"hidden": True}, "hidden"),
    ({"clip": False}, "unknown"),
])
def test_a_hidden_number_or_a_ring_without_clip_gets_nothing(post, emulator, how, kind):  # noqa: F811
    path = post.config.storage_path
    sent = len(emulator.sent_messages())
    ring(emulator, path, VILLAGER, **how)
    assert calls(path)[-1] == (None, kind, "done", "not_a_mobile", None)
    assert emulator.calls[-1].hung_up
    assert len(emulator.sent_messages()) == sent


def test_a_short_code_calling_gets_nothing(post, emulator):  # noqa: F811
    path = post.config.storage_path
    ring(emulator, path, "9090")
    assert calls(path)[-1][:4] == ("9090", "short_code", "done", "not_a_mobile")
    assert menus_to(emulator, "9090") == []


def test_alert_puts_the_call_on_the_call_back_list(tmp_path, emulator):
    emulator.own_number = "+84900000017"
    gateway = start_post(post_config(tmp_path, TINBAO_CALLS_ON_MISSED="alert"))
    try:
        path = gateway.config.storage_path
        ring(emulator, path, VILLAGER)
        assert calls(path)[-1] == ("+84912345678", "mobile", "done", "none", "pending")
        assert menus_to(emulator, VILLAGER) == []
        client = gateway.web_app().test_client()
        login_client(client, path, "officer")
        alerts = {a["key"]: a["text"] for a in client.get("/api/dashboard").get_json()["alerts"]}
        assert "1 cuộc gọi nhỡ" in alerts["calls"]
        page = client.get("/sim/").get_data(as_text=True)
        assert "0*** *** *78" in page and VILLAGER not in page  # masked like a tipster's number
        call_id = rows(path, "SELECT id FROM calls")[0][0]
        token = client.environ_base["HTTP_X_CSRFTOKEN"]
        shown = client.post(f"/sim/calls/{call_id}/number", data={"csrf_token": token},
                            headers={"X-Requested-With": "fetch"})
        assert shown.get_json() == {"number": "+84912345678"}
        assert rows(path, "SELECT COUNT(*) FROM audit_log WHERE action='call.reveal_number'")[0][0] == 1
        assert client.post(f"/sim/calls/{call_id}/done", data={"csrf_token": token}).status_code == 303
        assert calls(path)[-1][4] == "done"
        assert "calls" not in {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
        poster = client.get("/poster").get_data(as_text=True)
        assert "Gọi nhỡ để nhận menu" not in poster  # no menu is sent for a missed call: the poster says nothing
    finally:
        gateway.stop()


def test_the_poster_tells_villagers_to_ring(post):  # noqa: F811
    client = post.web_app().test_client()
    login_client(client, post.config.storage_path, "viewer")
    assert "Không có tiền? Gọi nhỡ để nhận menu" in client.get("/poster").get_data(as_text=True)
    assert client.get("/poster.png").status_code == 200
