"""The line as a state, through the serial port: a barred SIM stops burning tries and sends
everything once the bar is lifted; credit running out; the network refusing again and again;
an error of one message stays that message's."""

from __future__ import annotations

import json
import time

from conftest import login_client, rows, wait_until
from sim_fixtures import post, sim  # noqa: F401 - post is a fixture

from gateway import outbox
from gateway.storage import open_db

VILLAGERS = [f"09120000{i:02d}" for i in range(12)]


def ask_menus(emulator, numbers: list[str]) -> None:
    emulator.deliver_many([(number, "MENU") for number in numbers])


def replies_to(emulator, numbers: list[str]) -> dict[str, int]:
    from gateway.phone import normalise

    wanted = {normalise(n).value: n for n in numbers}
    counts = dict.fromkeys(numbers, 0)
    for message in emulator.sent_messages():
        number = normalise(message.destination).value
        if number in wanted:
            counts[wanted[number]] += 1
    return counts


def probes(path) -> int:
    """How many probes met the line's fault so far (the modem worker publishes it)."""
    found = rows(path, "SELECT value FROM state WHERE key='sim_line'")
    return json.loads(found[0][0])["probes"] if found else 0


def test_a_barred_sim_waits_and_sends_everything_once_the_bar_is_lifted(post, emulator):  # noqa: F811
    path = post.config.storage_path
    assert wait_until(lambda: sim(post)["loop_test"]["ok"] is True, 15)  # the first loop test went out
    emulator.set_line(barred_after=5, barred_code=8)
    started = time.monotonic()
    ask_menus(emulator, VILLAGERS)

    assert wait_until(lambda: sim(post)["state"] == "barred", 60), sim(post)
    assert time.monotonic() - started < 60
    shown = sim(post)
    assert shown["reason"] == "SIM bị chặn chiều đi" and shown["code"] == 8
    assert "xác thực lại" in shown["fix"]
    sent = sum(replies_to(emulator, VILLAGERS).values())
    assert sent == 5

    # The line is down: the other replies wait, untouched, however long it lasts.
    assert wait_until(lambda: probes(path) >= 3, 10)  # probes (back-off 0.05-0.2 s here) meet the bar
    waiting = rows(path, "SELECT status, attempts FROM outbox WHERE kind='menu'"
                         " AND status NOT IN ('sent', 'delivered')")
    assert len(waiting) == 7, waiting
    assert all(status == "queued" and attempts == 0 for status, attempts in waiting), waiting
    assert rows(path, "SELECT COUNT(*) FROM outbox_parts WHERE status='failed'")[0][0] == 0
    assert "line barred" in rows(path, "SELECT last_error FROM outbox WHERE status='queued' LIMIT 1")[0][0]

    client = post.web_app().test_client()
    login_client(client, path, "viewer")
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["sim"]["state"] == "barred"
    page = client.get("/").get_data(as_text=True)
    assert "SIM bị chặn chiều đi" in page
    assert "sim_line" in {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}

    emulator.set_line(barred=0)  # the owner re-verified: the operator lifts the bar
    assert wait_until(lambda: all(n == 1 for n in replies_to(emulator, VILLAGERS).values()), 30), \
        replies_to(emulator, VILLAGERS)
    assert wait_until(lambda: sim(post)["state"] == "ok", 10)
    time.sleep(0.5)
    assert all(n == 1 for n in replies_to(emulator, VILLAGERS).values()), "a reply went out twice"
    assert client.get("/healthz").get_json()["sim"]["state"] == "ok"


def test_credit_running_out_after_n_parts(post, emulator):  # noqa: F811
    emulator.set_line(credit_parts=3)
    ask_menus(emulator, VILLAGERS[:6])
    assert wait_until(lambda: sim(post)["state"] == "no_credit", 30), sim(post)
    assert sum(replies_to(emulator, VILLAGERS[:6]).values()) == 3
    assert sim(post)["reason"] == "SIM hết tiền"
    emulator.set_line(credit_parts=None, balance_vnd=50_000)  # topped up
    assert wait_until(lambda: all(n == 1 for n in replies_to(emulator, VILLAGERS[:6]).values()), 30)
    assert wait_until(lambda: sim(post)["state"] == "ok", 10)


def test_the_network_refusing_again_and_again_makes_the_line_refused(post, emulator):  # noqa: F811
    emulator.set_fault("cms_error", {"count": 100_000, "code": 41})
    ask_menus(emulator, VILLAGERS[:2])
    assert wait_until(lambda: sim(post)["state"] == "refused", 30), sim(post)
    assert sim(post)["reason"] == "Mạng từ chối gửi tin"
    with open_db(post.config.storage_path) as db:
        assert outbox.failed_count(db) == 0  # two tries each at most, then the line waited
    emulator.set_fault("cms_error", 0)
    assert wait_until(lambda: all(n == 1 for n in replies_to(emulator, VILLAGERS[:2]).values()), 30)


def test_an_error_of_one_message_stays_that_messages(post, emulator):  # noqa: F811
    emulator.set_fault("cms_error", {"count": 1, "code": 500})
    ask_menus(emulator, VILLAGERS[:1])
    assert wait_until(lambda: replies_to(emulator, VILLAGERS[:1])[VILLAGERS[0]] == 1, 15)
    path = post.config.storage_path
    assert rows(path, "SELECT attempts FROM outbox WHERE kind='menu'")[0][0] == 1  # counted as the message's try
    assert sim(post)["state"] == "ok"
