"""The duty roster and the on-duty alert SMS: each new tip reaches the officers on patrol.

Real parts: a SQLite file with the whole schema, the real router and menus, the roster page
through Flask's test client behind the real login, and one run through the modem emulator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import rows

from gateway import duty, phone
from gateway.config import load_config
from gateway.menus import MenuBook
from gateway.router import Router, RouterSettings
from gateway.sms.segments import plan
from gateway.storage import open_db, utcnow_iso

NOW = datetime(2026, 3, 2, 2, 15, tzinfo=UTC)
TIPSTER = "+84912345678"
PATROL = "0987 654 321"  # an officer's basic phone


def route(db, router: Router, sender: str, text: str, now: datetime = NOW) -> None:
    with db.atomic():
        db.conn.execute(
            "INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
            (utcnow_iso(now), sender, "mobile", text),
        )
    router.run_once(db, now)


@pytest.fixture
def router():
    config = load_config(env={})
    book = MenuBook.load(config.menus_path)
    return Router(book, RouterSettings(gateway_id="cl"), tip_hooks=[duty.alert_new_tip])


def alerts(db):
    return db.execute(
        "SELECT number, text, kind, auto, parts_total FROM outbox WHERE kind = 'duty_alert' ORDER BY id"
    ).fetchall()


# -- the roster --------------------------------------------------------------------------------

def test_roster_stores_numbers_in_one_form_and_refuses_what_cannot_get_an_sms(db):
    entry = duty.add(db, PATROL, "  Anh   Ba ", by="an", now=NOW)
    assert (entry.number, entry.name, entry.active) == ("+84987654321", "Anh Ba", True)
    again = duty.add(db, "+84987654321", "Ba (trực đêm)", by="binh", now=NOW)
    assert again.id == entry.id and again.name == "Ba (trực đêm)" and again.changed_by == "binh"
    assert len(duty.roster(db)) == 1
    for bad in ("", "abc", "1900 1234", "113", "VIETTEL", "12"):
        with pytest.raises(duty.RosterError):
            duty.add(db, bad, "X", by="an", now=NOW)
    with pytest.raises(duty.RosterError):
        duty.add(db, PATROL, "   ", by="an", now=NOW)
    with pytest.raises(duty.RosterError):
        duty.add(db, PATROL, "x" * 61, by="an", now=NOW)


def test_pause_resume_and_remove(db):
    entry = duty.add(db, PATROL, "Ba", by="an", now=NOW)
    paused = duty.set_active(db, entry.id, False, by="an", now=NOW)
    assert not paused.active and duty.roster(db, active_only=True) == []
    assert duty.add(db, PATROL, "Ba", by="an", now=NOW).active  # adding again switches it back on
    duty.remove(db, entry.id)
    assert duty.roster(db) == []
    with pytest.raises(duty.RosterError):
        duty.remove(db, entry.id)
    with pytest.raises(duty.RosterError):
        duty.set_active(db, 999, True, by="an", now=NOW)


# -- the alert text ----------------------------------------------------------------------------

def test_alert_text_is_short_khong_dau_with_reference_village_and_first_words():
    text = duty.alert_text("CL-0042", "Nậm Đét",
                           "Có người lạ  dụ\nmua đất, hứa trả tiền cao rồi đòi đặt cọc trước qua điện thoại")
    assert text.startswith("Tin bao moi CL-0042 (thon Nam Det): Co nguoi la du mua dat")
    assert text.endswith("...")
    assert plan(text).encoding == "gsm7" and plan(text).count == 1
    assert duty.alert_text("CL-0001", None, "Cháy") == "Tin bao moi CL-0001: Chay"
    assert duty.alert_text("CL-0001", "", "") == "Tin bao moi CL-0001"


def test_alert_of_a_long_emoji_tip_still_costs_one_sms():
    text = duty.alert_text("CL-0042", None, "🔥🔥 cháy " * 20)
    assert len(text) <= 160


# -- the router hook ---------------------------------------------------------------------------

def test_new_tip_queues_one_alert_per_active_number_never_with_the_tipster_number(db, router):
    duty.add(db, PATROL, "Ba", by="an", now=NOW)
    duty.add(db, "0911000111", "Tư", by="an", now=NOW)
    paused = duty.add(db, "0911000222", "Năm", by="an", now=NOW)
    duty.set_active(db, paused.id, False, by="an", now=NOW)

    route(db, router, TIPSTER, "TIN Có trộm bò ở thôn Na Hối đêm qua, 2 người đi xe máy")

    sent = alerts(db)
    assert [row[0] for row in sent] == ["+84987654321", "+84911000111"]
    for _number, text, kind, auto, parts in sent:
        assert text == "Tin bao moi CL-0001: Co trom bo o thon Na Hoi dem qua, 2 nguoi di xe may"
        assert (kind, auto, parts) == ("duty_alert", 0, 1)
        assert "912345678" not in text and "0912" not in text
    # The tipster still gets the usual acknowledgement.
    assert db.execute("SELECT count(*) FROM outbox WHERE number = ? AND kind = 'tip_ack'",
                      (TIPSTER,)).fetchone()[0] == 1


def test_no_roster_no_alert_and_menu_messages_never_alert(db, router):
    route(db, router, TIPSTER, "TIN Có người lạ")
    assert alerts(db) == []
    duty.add(db, PATROL, "Ba", by="an", now=NOW)
    route(db, router, "+84911222333", "MENU")
    assert alerts(db) == []


def test_alerts_do_not_count_against_the_flood_guard_of_an_officer_who_also_texts(db, router):
    duty.add(db, PATROL, "Ba", by="an", now=NOW)
    for i in range(3):
        route(db, router, TIPSTER, f"TIN việc số {i}", NOW + timedelta(seconds=i))
    assert len(alerts(db)) == 3
    assert db.execute("SELECT count(*) FROM outbox WHERE number = '+84987654321' AND auto = 1").fetchone()[0] == 0


def test_an_officer_who_sends_a_tip_himself_gets_the_ack_not_an_alert(db, router):
    duty.add(db, TIPSTER, "Chính tôi", by="an", now=NOW)
    route(db, router, TIPSTER, "TIN thử hệ thống")
    assert alerts(db) == []


def test_a_broken_alert_never_costs_the_villager_the_tip(db, router):
    duty.add(db, PATROL, "Ba", by="an", now=NOW)
    db.execute("DROP TABLE duty_roster")  # the hook's query now fails inside the router

    route(db, router, TIPSTER, "TIN Có cháy rừng trên đồi")

    assert db.execute("SELECT reference, text FROM tips").fetchall() == [("CL-0001", "Có cháy rừng trên đồi")]
    assert db.execute("SELECT status FROM inbox").fetchall() == [("done",)]
    assert db.execute("SELECT kind FROM outbox").fetchall() == [("tip_ack",)]


def test_alert_through_the_modem_emulator(gateway, emulator, config):
    """The whole path: a tip in by SMS, the ack and the alert out through the modem."""
    conn = open_db(config.storage_path)
    try:
        duty.add(conn, PATROL, "Ba", by="an", now=NOW)
    finally:
        conn.close()
    gateway.router.tip_hooks.append(duty.alert_new_tip)
    emulator.deliver("0912345678", "TIN Có người lạ đi xe biển số lạ vào thôn Bản Phố")
    assert emulator.wait_for_sent(2, 15)
    by_number = {m.destination: m.text for m in emulator.sent_messages()}
    alert = next(text for number, text in by_number.items() if "987654321" in number)
    assert alert.startswith("Tin bao moi CL-0001: Co nguoi la di xe bien so la vao thon Ban")
    assert "912345678" not in alert


# -- the roster page ---------------------------------------------------------------------------

def test_roster_page_adds_pauses_and_removes_with_audit(logged_in, db_path):
    client = logged_in("officer")
    page = client.get("/duty").get_data(as_text=True)
    assert "Tin bao moi CL-0042 (thon Na Hoi)" in page  # the example shows what officers will get

    response = client.post("/duty", data={"name": "Ba <b>", "number": PATROL}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "0987654321" in html
    assert "Ba &lt;b&gt;" in html and "Ba <b>" not in html
    entry_id = rows(db_path, "SELECT id FROM duty_roster")[0][0]

    bad = client.post("/duty", data={"name": "X", "number": "1900 1234"}, follow_redirects=True)
    assert "Số điện thoại không hợp lệ" in bad.get_data(as_text=True)

    client.post(f"/duty/{entry_id}/active", data={"active": "0"})
    assert rows(db_path, "SELECT active FROM duty_roster") == [(0,)]
    client.post(f"/duty/{entry_id}/active", data={"active": "1"})
    client.post(f"/duty/{entry_id}/remove")
    assert rows(db_path, "SELECT count(*) FROM duty_roster") == [(0,)]
    actions = [a for (a,) in rows(db_path, "SELECT action FROM audit_log WHERE action LIKE 'duty.%' ORDER BY id")]
    assert actions == ["duty.add", "duty.pause", "duty.resume", "duty.remove"]
    details = " ".join(d for (d,) in rows(db_path, "SELECT detail FROM audit_log"))
    assert "0987654321" not in details and "987654321" not in details


def test_viewers_cannot_see_or_change_the_roster(logged_in, db_path):
    client = logged_in("viewer")
    assert client.get("/duty").status_code == 403
    assert client.post("/duty", data={"name": "X", "number": PATROL}).status_code == 403
    assert rows(db_path, "SELECT count(*) FROM duty_roster") == [(0,)]


def test_roster_post_without_csrf_token_is_refused(logged_in, db_path):
    client = logged_in("officer")
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/duty", data={"name": "X", "number": PATROL}).status_code == 400
    assert rows(db_path, "SELECT count(*) FROM duty_roster") == [(0,)]


def test_roster_numbers_are_normalised_like_the_router_does():
    assert phone.normalise(PATROL).value == "+84987654321"
