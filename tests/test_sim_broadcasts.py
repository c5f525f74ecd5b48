"""Money and pacing before and during a broadcast, through the page and the serial port.

A broadcast whose cost would leave less than ``sim.reserve`` (kept for replies to villagers)
cannot be confirmed; a running one pauses when a credit reading falls under the reserve and,
resumed after a top-up, reaches everyone exactly once. The caps (``sms.max_per_hour``) hold
broadcasts back but never a villager's reply, and the confirm page says how long it will take.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from conftest import Phone, login_client, rows, wait_until
from sim_fixtures import post, post_config, read_credit, sim, start_post  # noqa: F401 - post is a fixture

from gateway.broadcasts import subscribers
from gateway.phone import normalise
from gateway.storage import write_transaction

BODY = "Canh bao: khong bam vao duong link la."


def subscribe(gateway, count: int) -> list[str]:
    db = gateway.dbs.get()
    numbers = [f"+849140{i:05d}" for i in range(count)]
    with write_transaction(db):
        for number in numbers:
            subscribers.save_member(db, subscribers.Member(number), source="import", now=datetime.now(UTC))
    return numbers


def officer(gateway):
    client = gateway.web_app().test_client()
    login_client(client, gateway.config.storage_path, "officer")
    return client


def form(**extra: str) -> dict[str, str]:
    return {"title": "Cảnh báo link lạ", "body": BODY, "encoding": "khong_dau", "everyone": "1", "schedule": "now",
            **extra}


def received(emulator, numbers: list[str]) -> Counter:
    wanted = set(numbers)
    return Counter(normalise(m.destination).value for m in emulator.sent_messages()
                   if normalise(m.destination).value in wanted)


def test_a_broadcast_that_would_eat_the_reserve_cannot_be_confirmed(post, emulator):  # noqa: F811
    path = post.config.storage_path
    subscribe(post, 20)  # 20 people × 1 part × 350 đ = 7.000 đ
    emulator.set_line(balance_vnd=14_000)
    assert read_credit(post)["balance_vnd"] == 14_000
    client = officer(post)

    page = client.post("/broadcasts/new", data=form(action="send")).get_data(as_text=True)
    assert 'id="confirm-balance">14.000 đ' in page
    assert 'id="confirm-no-credit"' in page and "10.000 đ" in page
    assert 'id="confirm-send" disabled' in page
    refused = client.post("/broadcasts/new", data=form(action="send", confirmed="1"))
    assert refused.status_code == 422 and "Không đủ tiền" in refused.get_data(as_text=True)
    assert rows(path, "SELECT COUNT(*) FROM broadcasts") == [(0,)]

    draft = client.post("/broadcasts/new", data=form(action="save"))  # a draft, scheduled later
    draft_id = int(draft.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    token = client.environ_base["HTTP_X_CSRFTOKEN"]
    start = client.post(f"/broadcasts/{draft_id}/start", data={"csrf_token": token, "confirmed": "1"})
    assert start.status_code == 303 and start.headers["Location"].endswith(f"/broadcasts/{draft_id}/confirm")
    assert rows(path, "SELECT status FROM broadcasts WHERE id=?", (draft_id,)) == [("draft",)]
    assert 'id="confirm-send" disabled' in client.get(f"/broadcasts/{draft_id}/confirm").get_data(as_text=True)

    emulator.set_line(balance_vnd=40_000)  # topped up
    read_credit(post)
    page = client.post("/broadcasts/new", data=form(action="send")).get_data(as_text=True)
    assert 'id="confirm-no-credit"' not in page and 'id="confirm-after">33.000 đ' in page
    assert "khoảng" in page  # how long it will take
    assert client.post("/broadcasts/new", data=form(action="send", confirmed="1")).status_code == 303


def test_a_running_broadcast_pauses_under_the_reserve_and_resumes_without_duplicates(post, emulator):  # noqa: F811
    path = post.config.storage_path
    numbers = subscribe(post, 40)  # 40 × 350 đ = 14.000 đ by the page's price
    # The operator charges 1.000 đ a part, not the 350 đ of broadcasts.price_per_part: the real
    # credit falls three times faster than the page's estimate, and the readings catch it.
    emulator.set_line(balance_vnd=25_000, price_per_part=1_000, charge=True)
    emulator.set_fault("send_delay", 0.2)
    read_credit(post)
    client = officer(post)
    assert client.post("/broadcasts/new", data=form(action="send", confirmed="1")).status_code == 303
    broadcast_id = rows(path, "SELECT id FROM broadcasts")[0][0]

    assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts")[0][0] == "paused", 60), \
        rows(path, "SELECT status, updated_by FROM broadcasts")
    hold = rows(path, "SELECT balance_vnd, reserve FROM sim_holds")[0]
    assert hold[0] < 10_000 and hold[1] == 10_000
    assert rows(path, "SELECT updated_by FROM broadcasts")[0][0] == "SIM"
    page = client.get(f"/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert 'id="held-for-credit"' in page
    pending = rows(path, "SELECT COUNT(*) FROM broadcast_deliveries WHERE status='pending'")[0][0]
    assert pending > 0, "the broadcast ended before the credit ran low"
    assert max(received(emulator, numbers).values()) == 1

    emulator.set_line(balance_vnd=60_000)  # the commune tops up
    read_credit(post)
    token = client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post(f"/broadcasts/{broadcast_id}/resume", data={"csrf_token": token}).status_code == 303
    assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts")[0][0] == "done", 60), \
        rows(path, "SELECT status FROM broadcast_deliveries")
    got = received(emulator, numbers)
    assert set(got) == set(numbers) and set(got.values()) == {1}, "someone got the warning twice or not at all"
    states = Counter(s for (s,) in rows(path, "SELECT status FROM broadcast_deliveries"))
    assert set(states) <= {"sent", "delivered"} and sum(states.values()) == 40


def test_caps_hold_broadcasts_back_but_never_a_reply(tmp_path, emulator):
    emulator.own_number = "+84900000017"
    gateway = start_post(post_config(tmp_path, TINBAO_SMS_MAX_PER_HOUR="3"))
    try:
        path = gateway.config.storage_path
        numbers = subscribe(gateway, 6)
        client = officer(gateway)
        page = client.post("/broadcasts/new", data=form(action="send")).get_data(as_text=True)
        assert "khoảng 2 giờ 0 phút" in page and "3 tin/giờ" in page  # 6 parts at 3 an hour
        assert client.post("/broadcasts/new", data=form(action="send", confirmed="1")).status_code == 303
        assert wait_until(lambda: sum(received(emulator, numbers).values()) == 3, 20)
        assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM outbox WHERE kind='broadcast'"
                                             " AND status='queued'")[0][0] == 3, 10)

        reply = Phone(emulator, path).send("0912345678", "MENU")  # a villager is never capped
        assert reply is not None and "Thu tuc hanh chinh" in reply
        assert sum(received(emulator, numbers).values()) == 3
        broadcast_id = rows(path, "SELECT id FROM broadcasts")[0][0]
        shown = client.get(f"/broadcasts/{broadcast_id}").get_data(as_text=True)
        assert 'id="expected-end"' in shown and "3 tin còn lại" in shown
    finally:
        gateway.stop()


def test_credit_is_read_again_after_each_broadcast(post, emulator):  # noqa: F811
    path = post.config.storage_path
    subscribe(post, 3)
    before = rows(path, "SELECT COUNT(*) FROM sim_balance WHERE trigger='broadcast'")[0][0]
    client = officer(post)
    assert client.post("/broadcasts/new", data=form(action="send", confirmed="1")).status_code == 303
    assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts")[0][0] == "done", 30)
    assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM sim_balance WHERE trigger='broadcast'")[0][0]
                      == before + 1, 20)
    assert sim(post)["balance_vnd"] == 85_000
