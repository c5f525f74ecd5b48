"""Zalo's messaging rules, each officer on their own, and tokens kept alive with no tips.

The stand-in Zalo (a real HTTP server on 127.0.0.1) applies the OA rules: a reply to the
officer's latest message is free 8 times within 48 h; anything else is proactive and refused
with -230 unless the OA is verified and the officer wrote within 7 days. The clock is a
ManualClock shared by the gateway and the stand-in, so two days or a week pass in a moment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import rows, wait_until
from fake_zalo import OA_ID, add_tips
from upstream import OFFICERS, all_done, running, statuses, sync_config

from gateway import duty
from gateway.clock import ManualClock
from gateway.storage import ThreadLocalDb, open_db
from gateway.sync import zalo_officers, zalo_tokens

PHONES = {"111": "0912000111", "222": "0912000222"}
pytestmark = pytest.mark.zalo_rules  # the stand-in applies the OA's rules on the test's clock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


def put_on_roster(config, clock, *, active: bool = False) -> None:
    """Both officers' phones on the duty roster with their Zalo user_id (paused: no duty alerts)."""
    db = open_db(config.storage_path)
    try:
        for officer, number in PHONES.items():
            entry = duty.add(db, number, f"Cán bộ {officer}", by="admin", now=clock.now(), zalo_user_id=officer)
            if not active:
                duty.set_active(db, entry.id, False, by="admin", now=clock.now())
    finally:
        db.close()


def sms_to(config, officer: str) -> list[str]:
    number = "+84" + PHONES[officer][1:]
    return [r[0] for r in rows(config.storage_path, "SELECT text FROM outbox WHERE number=? AND kind='duty_alert'"
                                                    " ORDER BY id", (number,))]


def deliveries(config, officer: str) -> list[tuple]:
    return rows(config.storage_path, "SELECT tip_id, status, attempts, error FROM zalo_deliveries"
                                     " WHERE officer_id=? ORDER BY tip_id", (officer,))


def test_the_stand_in_refuses_a_proactive_message_outside_the_window_and_reports_the_quota(zalo, clock):
    """The stand-in's rules, spoken to directly: what the gateway will meet."""
    from gateway.sync.http import HttpClient

    zalo.access["at-test"] = float("inf")
    api = HttpClient(zalo.url, 2)

    def cs(recipient):
        return api.json("POST", "/v3.0/oa/message/cs", payload={"recipient": recipient, "message": {"text": "x"}},
                        headers={"access_token": "at-test"})[1]

    assert cs({"user_id": "111"})["error"] == -230  # never wrote: proactive, refused
    mid = zalo.user_writes("111")
    answers = [cs({"message_id": mid}) for _ in range(9)]
    assert [a["data"]["quota"]["remain"] for a in answers[:8]] == [7, 6, 5, 4, 3, 2, 1, 0]
    assert answers[8]["error"] == -230  # the 9th counts as proactive: this OA is not verified
    clock.advance(hours=49)
    assert cs({"message_id": zalo.user_writes("111")})["error"] == 0  # a new message opens a new window
    zalo.verified = True
    clock.advance(hours=72)
    answer = cs({"user_id": "111"})  # proactive within 7 days, verified OA: counted against the quota
    assert answer["error"] == 0 and answer["data"]["quota"] == {
        "quota_type": "sub_quota", "remain": "999", "total": "1000", "owner_type": "OA", "owner_id": OA_ID}
    clock.advance(days=5)
    assert cs({"user_id": "111"})["error"] == -230
    conversation = api.json("GET", "/v2.0/oa/conversation", query={"data": '{"user_id":"111","offset":0,"count":5}'},
                            headers={"access_token": "at-test"})[1]["data"]
    assert conversation[0]["src"] == 0 and any(m["src"] == 1 for m in conversation)
    api.close()


def test_in_the_window_a_reply_outside_it_an_sms_and_a_reminder_before_it_closes(tmp_path, zalo, clock):
    config = sync_config(tmp_path, zalo)
    put_on_roster(config, clock)
    zalo.user_writes("111", "có", at=(clock.now() - timedelta(hours=43)).timestamp())  # closes in 5 h
    made = add_tips(config.storage_path, 2, destinations=("zalo",), now=clock.now())
    with running(config, clock):
        assert wait_until(lambda: all_done(config, "zalo", 2), 10), statuses(config, "zalo")
        # 111 wrote 43 h ago: both tips as replies (free); 222 never wrote: Zalo refused, SMS instead.
        assert zalo.kinds_for("111") == ["reply", "reply"] and zalo.texts_for("222") == []
        assert [status for _, status, _, _ in deliveries(config, "222")] == ["sms", "sms"]
        fallbacks = [text for text in sms_to(config, "222") if text.startswith("Tin bao moi")]
        assert [text.split(":")[0] for text in fallbacks] == [f"Tin bao moi {tip.reference}" for tip in made]
        # Reminders: 111's window closes within 6 h; 222's is closed. Each gets one, once.
        assert wait_until(lambda: any("Zalo OA" in t for t in sms_to(config, "111")), 5)
        assert wait_until(lambda: any("Zalo OA" in t for t in sms_to(config, "222")), 5)
        closes = (clock.now() + timedelta(hours=5)).astimezone(config.timezone).strftime("%H:%M %d/%m")
        assert closes in next(t for t in sms_to(config, "111") if "Zalo OA" in t)
    db = open_db(config.storage_path)
    try:
        reach = {r.officer_id: r for r in zalo_officers.all_of(db, list(OFFICERS))}
    finally:
        db.close()
    assert reach["111"].kind(clock.now()) == "reply" and reach["111"].replies_left() == 6
    assert reach["222"].kind(clock.now()) == "closed" and "-230" in reach["222"].last_error
    with running(config, clock):  # a restart does not remind again
        clock.advance(minutes=1)
        assert wait_until(lambda: statuses(config, "zalo").get("done") == 2, 5)
    assert sum("Zalo OA" in t for t in sms_to(config, "111") + sms_to(config, "222")) == 2


def test_an_officer_without_a_phone_is_not_silently_skipped(tmp_path, zalo, clock):
    config = sync_config(tmp_path, zalo)
    zalo.user_writes("111")
    add_tips(config.storage_path, 1, destinations=("zalo",), now=clock.now())
    with running(config, clock):
        assert wait_until(lambda: all_done(config, "zalo", 1), 10)
    status, error = rows(config.storage_path, "SELECT status, error FROM zalo_deliveries WHERE officer_id='222'")[0]
    assert status == "unreachable" and "-230" in error and "chưa có số điện thoại" in error


@pytest.mark.parametrize("code", [-305, -311, -224, -320, -321])
def test_one_officers_error_never_delays_another_and_ends_as_a_dead_letter_with_an_sms(tmp_path, zalo, clock, code):
    config = sync_config(tmp_path, zalo, TINBAO_ZALO_OFFICER_ATTEMPTS="3")
    put_on_roster(config, clock)
    for officer in OFFICERS:
        zalo.user_writes(officer)
    zalo.fail_officer("111", code, times=None)  # first in the list, failing every time
    made = add_tips(config.storage_path, 3, destinations=("zalo",), now=clock.now())
    with running(config, clock) as worker:
        # The first pass: 222 has every tip, 111's failure is recorded for 111 alone.
        assert wait_until(lambda: len(zalo.texts_for("222")) == 3, 10)
        assert wait_until(lambda: [r[1:3] for r in deliveries(config, "111")] == [("failed", 1)] * 3, 5)
        assert str(code) in deliveries(config, "111")[0][3]
        for attempts in (2, 3):  # back-off measured on the clock: move it, and 111 is tried again
            clock.advance(seconds=700)
            worker.wake()
            assert wait_until(lambda attempts=attempts: {r[2] for r in deliveries(config, "111")} == {attempts}, 5)
        assert wait_until(lambda: statuses(config, "zalo").get("dead") == 3, 10), statuses(config, "zalo")
    assert [r[1:3] for r in deliveries(config, "111")] == [("dead", 3)] * 3
    assert len(zalo.texts_for("222")) == 3 and zalo.texts_for("111") == []
    # The dead letter went to 111's phone instead, one SMS per tip, and the row says why.
    assert sorted(t.split(":")[0] for t in sms_to(config, "111") if t.startswith("Tin bao")) == sorted(
        f"Tin bao moi {tip.reference}" for tip in made)
    errors = rows(config.storage_path, "SELECT last_error FROM sync_queue WHERE destination='zalo'")
    assert all(str(code) in e[0] and "111" in e[0] for e in errors)


def test_tokens_are_refreshed_on_schedule_through_a_week_without_tips(tmp_path, zalo, clock):
    config = sync_config(tmp_path, zalo)
    start = clock.now()
    with running(config, clock) as worker:
        db = worker.durable_dbs.get()
        assert wait_until(lambda: zalo.requests.get("conversation", 0) >= 2, 5)  # each officer's window read
        for _ in range(7 * 8):  # a week, three hours at a time
            clock.advance(hours=3)
            worker.wake()
            assert wait_until(lambda: not zalo_tokens.current(db).refresh_due(clock.now(), timedelta(hours=12))
                              and all(r.checked_at == clock.now().isoformat()
                                      for r in zalo_officers.all_of(db, list(OFFICERS))), 5)
            pair = zalo_tokens.current(db)
            assert pair.access_usable(clock.now()) and clock.now() - datetime.fromisoformat(pair.obtained_at) < \
                timedelta(hours=12)
    assert clock.now() - start == timedelta(days=7)
    assert 13 <= zalo.refreshes <= 15, zalo.refreshes  # every 12 hours, no tip sent
    assert zalo.requests.get("cs", 0) == 0
    assert zalo.requests.get("conversation", 0) >= 2 * 7 * 8  # each officer's window read at each step


def test_the_sync_page_shows_each_officers_reach_the_quota_the_token_and_the_dead_letter(tmp_path, zalo, clock):
    from conftest import login_client, make_services

    from gateway.web import create_app

    config = sync_config(tmp_path, zalo, TINBAO_ZALO_OFFICER_ATTEMPTS="1", TINBAO_WEB_SECRET_KEY="test-secret")
    db = open_db(config.storage_path)
    duty.add(db, PHONES["111"], "Cán bộ Ba", by="admin", now=clock.now(), zalo_user_id="111")
    db.close()
    zalo.verified, zalo.quota_remain = True, 60
    zalo.user_writes("111", at=(clock.now() - timedelta(hours=10)).timestamp())
    zalo.user_writes("222", at=(clock.now() - timedelta(days=3)).timestamp())
    zalo.fail_officer("111", -305, times=1)
    add_tips(config.storage_path, 1, destinations=("zalo",), now=clock.now())
    with running(config, clock):
        assert wait_until(lambda: statuses(config, "zalo").get("dead") == 1, 10), statuses(config, "zalo")
    assert zalo.kinds_for("222") == ["proactive"]  # 3 days: only a verified OA's quota reaches them
    dbs = ThreadLocalDb(config.storage_path)
    try:
        app = create_app(config, make_services(config.storage_path, config=config, db=dbs, clock=clock))
        client = app.test_client()
        login_client(client, config.storage_path, "officer")
        html = client.get("/sync").get_data(as_text=True)
        assert 'data-officer="111" data-reach="reply"' in html and 'data-officer="222" data-reach="proactive"' in html
        closes = (clock.now() + timedelta(hours=38)).astimezone(config.timezone).strftime("%d/%m/%Y %H:%M")
        assert closes in html and "còn 8/8 lượt" in html  # the failed message used no reply
        assert "Chưa có số: thêm mã Zalo ở trang Trực ban" in html  # 222 has no phone on the roster
        assert "còn 59 / 1000" in html and "Hạn mức tin chủ động của OA sắp hết" in html
        assert "Refresh token: nhận 0 ngày trước" in html
        assert 'data-delivery="dead"' in html and "-305" in html and "số trực ban đã nhận SMS báo tin" in html
        assert "Hạn mức tin chủ động của Zalo OA còn 59 tin" in client.get("/").get_data(as_text=True)
        # An old refresh token (an outage of 80 days): the page and the dashboard warn.
        zalo_tokens.save_pair(dbs.get(), "at-old", 90000, "rt-old", datetime.now(UTC) - timedelta(days=80))
        assert "Refresh token của Zalo OA hết hạn lúc" in client.get("/").get_data(as_text=True)
        # "Gửi lại" on the dead row tries the officer Zalo gave up on again.
        row_id = rows(config.storage_path, "SELECT id FROM sync_queue WHERE status='dead'")[0][0]
        assert client.post(f"/sync/rows/{row_id}/retry").status_code == 302
        assert deliveries(config, "111")[0][1:3] == ("failed", 0)
    finally:
        dbs.close_all()


def test_the_duty_roster_ties_a_number_to_a_zalo_officer(tmp_path, clock):
    from conftest import login_client, make_services

    from gateway.web import create_app

    config = sync_config(tmp_path, TINBAO_WEB_SECRET_KEY="test-secret")
    dbs = ThreadLocalDb(config.storage_path)
    try:
        client = create_app(config, make_services(config.storage_path, config=config, db=dbs,
                                                  clock=clock)).test_client()
        login_client(client, config.storage_path, "officer")
        client.post("/duty", data={"name": "Ba", "number": PHONES["111"], "zalo_user_id": " 111 "})
        client.post("/duty", data={"name": "Tư", "number": PHONES["222"], "zalo_user_id": "111"})  # taken
        client.post("/duty", data={"name": "Năm", "number": "0912000333", "zalo_user_id": "abc"})  # not digits
        html = client.get("/duty").get_data(as_text=True)
        assert 'data-zalo="111"' in html and "đã gắn với một số khác" in html and "chỉ gồm chữ số" in html
        assert {e.zalo_user_id: e.name for e in duty.roster(dbs.get())} == {"111": "Ba"}
        assert set(duty.by_zalo_user(dbs.get())) == {"111"}
        assert duty.sms_zalo_officer(dbs.get(), "999", "x", clock.now()) == ("no_number", None)
        assert duty.sms_zalo_officer(dbs.get(), "111", "x", clock.now(), skip_active=True) == ("on_duty", None)
        how, outbox_id = duty.sms_zalo_officer(dbs.get(), "111", "Tin báo", clock.now())
        assert how == "queued" and rows(config.storage_path, "SELECT number, text, kind FROM outbox WHERE id=?",
                                        (outbox_id,)) == [("+84912000111", "Tin bao", "duty_alert")]
    finally:
        dbs.close_all()
