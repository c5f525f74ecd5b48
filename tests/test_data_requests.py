"""A person's requests about their data (issue 17, part 3): the deadline arithmetic, and the
admin page through its real login and CSRF: record, look the number up (audited), see what is
held, export it (a printable page and a downloaded file), erase what may go (a tip on hold
keeps its number, and the page says why), withdraw consent, close; the dashboard lists the
requests near their deadline.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import make_services, rows

from gateway import inbox, outbox, tips
from gateway.accounts import audit
from gateway.broadcasts import subscribers
from gateway.clock import ManualClock
from gateway.privacy import deadlines, requests
from gateway.privacy.deadlines import holidays, is_working_day, working_days_after
from gateway.storage import utcnow_iso, write_transaction

PERSON = "+84912000111"
OTHER = "+84912000222"
NOW = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)  # Wednesday 10 March 2027, 09:00 in Vietnam


# -- deadlines -----------------------------------------------------------------------------------

def test_acknowledge_within_two_working_days_not_counting_the_day_received():
    off = frozenset()
    wednesday = date(2027, 3, 10)
    assert working_days_after(wednesday, 2, off) == date(2027, 3, 12)  # Friday
    assert working_days_after(date(2027, 3, 11), 2, off) == date(2027, 3, 15)  # Thursday → Monday
    assert working_days_after(date(2027, 3, 12), 2, off) == date(2027, 3, 16)  # Friday → Tuesday
    assert working_days_after(date(2027, 3, 13), 2, off) == date(2027, 3, 16)  # Saturday → Tuesday
    assert working_days_after(date(2027, 3, 14), 2, off) == date(2027, 3, 16)  # Sunday → Tuesday


def test_public_holidays_are_not_working_days():
    listed = holidays()
    assert date(2026, 9, 2) in listed and date(2026, 2, 17) in listed and date(2027, 1, 1) in listed
    assert not is_working_day(date(2026, 4, 30)) and not is_working_day(date(2026, 5, 1))
    assert is_working_day(date(2026, 5, 4))
    # Received on Wednesday 29 April 2026: Thursday 30/4 and Friday 1/5 are holidays, then a weekend.
    assert working_days_after(date(2026, 4, 29), 2) == date(2026, 5, 5)
    # Received the Friday before Tết Bính Ngọ (13 February 2026): the whole Tết week is off.
    assert working_days_after(date(2026, 2, 13), 2) == date(2026, 2, 24)


def test_each_kind_has_its_calendar_deadline_and_the_earliest_completes():
    lines = deadlines.deadlines(date(2027, 3, 10), ["delete", "withdraw", "see"], off=frozenset())
    assert lines.acknowledge == date(2027, 3, 12)
    assert lines.per_kind == {"delete": date(2027, 3, 30), "withdraw": date(2027, 3, 25), "see": date(2027, 3, 20)}
    assert lines.complete == date(2027, 3, 20)
    # A calendar deadline on a weekend stays there (never later than the law's day count).
    assert deadlines.deadlines(date(2027, 3, 11), ["correct"]).per_kind["correct"] == date(2027, 3, 21)
    with pytest.raises(ValueError):
        deadlines.deadlines(date(2027, 3, 10), ["nothing"])


def test_urgency_near_means_two_days_or_less():
    day = date(2027, 3, 12)
    assert deadlines.urgency(day, date(2027, 3, 9)) == "ok"
    assert deadlines.urgency(day, date(2027, 3, 10)) == "near"
    assert deadlines.urgency(day, date(2027, 3, 12)) == "near"
    assert deadlines.urgency(day, date(2027, 3, 13)) == "late"


def test_a_request_is_due_to_acknowledge_then_to_complete(db):
    found = requests.record(db, requester="Nguyễn Văn A", contact="thôn Na Hối", channel="in_person",
                            kinds=["delete"], received_on=date(2027, 3, 10), by="admin1", now=NOW,
                            today=date(2027, 3, 10))
    assert found.reference == "YC-0001" and requests.id_of("yc-1") == 1 and requests.id_of("CL-1") is None
    assert found.next_deadline() == ("acknowledge", date(2027, 3, 12))
    assert [r.reference for r, *_ in requests.due(db, date(2027, 3, 10))] == ["YC-0001"]
    requests.acknowledge(db, found.id, by="admin1", now=NOW)
    assert requests.get(db, found.id).next_deadline() == ("complete", date(2027, 3, 30))
    assert requests.due(db, date(2027, 3, 20)) == []
    assert [level for *_, level in requests.due(db, date(2027, 3, 31))] == ["late"]
    with pytest.raises(requests.RequestError):
        requests.close(db, found.id, "  ", by="admin1", now=NOW)
    assert requests.close(db, found.id, "Đã xoá", by="admin1", now=NOW)
    assert requests.due(db, date(2027, 4, 30)) == []


@pytest.mark.parametrize(("field", "value"), [
    ("requester", ""), ("contact", ""), ("channel", "fax"), ("kinds", []),
    ("received_on", date(2027, 3, 11)), ("requester", "x" * 121),
])
def test_what_an_admin_types_is_checked(db, field, value):
    given = {"requester": "Lò Thị B", "contact": "0912000111", "channel": "phone", "kinds": ["see"],
             "received_on": date(2027, 3, 10)}
    given[field] = value
    with pytest.raises(requests.RequestError):
        requests.record(db, **given, by="admin1", now=NOW, today=date(2027, 3, 10))


# -- the page ------------------------------------------------------------------------------------

@pytest.fixture
def clock():
    return ManualClock(NOW)


@pytest.fixture
def services(db_path, web_config, storage, clock):
    return make_services(db_path, config=web_config, db=storage, clock=clock)


def held_data(db, now: datetime = NOW) -> dict[str, int]:
    """The person texted a menu, sent two tips (one put on hold) and subscribed; another number too."""
    with write_transaction(db):
        ids = {}
        for number, text in ((PERSON, "MENU"), (PERSON, "TIN trom bo o thon Na Hoi"), (PERSON, "TIN lan hai"),
                             (OTHER, "MENU")):
            ids[(number, text)] = db.conn.execute(
                "INSERT INTO inbox (received_at, sender, sender_kind, text, status, handler) VALUES (?,?,?,?,?,?)",
                (utcnow_iso(now - timedelta(days=3)), number, "mobile", text, "done", "menu")).lastrowid
        outbox.enqueue(db, PERSON, "1. Thu tuc", kind="menu", now=now - timedelta(days=3),
                       in_reply_to=ids[(PERSON, "MENU")])
        first = tips.create(db, gateway_id="cl", tipster=PERSON, text="trom bo o thon Na Hoi",
                            inbox_id=ids[(PERSON, "TIN trom bo o thon Na Hoi")], now=now - timedelta(days=3))
        second = tips.create(db, gateway_id="cl", tipster=PERSON, text="lan hai",
                             inbox_id=ids[(PERSON, "TIN lan hai")], now=now - timedelta(days=3))
        tips.hold(db, second.id, "Vụ trộm đang điều tra", by="officer1", now=now)
        subscribers.subscribe_by_sms(db, PERSON, None, now - timedelta(days=3))
    part = outbox.next_due(db, now, worker="m")
    outbox.mark_part_sent(db, part, 1, now)
    return {"first": first.id, "second": second.id}


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def flashes(html: str) -> list[str]:
    return [m.strip() for m in re.findall(r'class="flash[^"]*">([^<]*)<', html)]


def new_request(admin, **form) -> str:
    data = {"requester": "Lò Thị B", "contact": "thôn Na Hối, 0912000111", "channel": "in_person",
            "kinds": ["see", "delete"], "received_on": "2027-03-10", **form}
    response = admin.post("/requests", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def test_only_admins_reach_the_page(logged_in):
    assert logged_in("officer").get("/requests").status_code == 403
    assert logged_in("admin").get("/requests").status_code == 200


def test_record_look_up_see_export_erase_and_close(logged_in, db, db_path):
    made = held_data(db)
    admin = logged_in("admin")
    url = new_request(admin)
    page = admin.get(url).get_data(as_text=True)
    assert "YC-0001" in page and "12/03/2027" in page and "30/03/2027" in page and "20/03/2027" in page
    assert "trom bo" not in page  # nothing held is shown before the number is looked up

    admin.post(f"{url}/lookup", data={"number": "0912 000 111"})
    page = admin.get(url).get_data(as_text=True)
    assert "0912000111" in page and "trom bo o thon Na Hoi" in page and "1. Thu tuc" in page
    assert "Vụ trộm đang điều tra" in page and "MENU" in page
    looked = audit.search(db, target="YC-0001", action="request.lookup")
    assert len(looked) == 1 and "0912000111" not in looked[0].detail and "*" in looked[0].detail

    printable = admin.get(f"{url}/export")
    assert printable.status_code == 200 and printable.headers["Cache-Control"] == "no-store"
    assert "trom bo o thon Na Hoi" in printable.get_data(as_text=True)
    assert "ghi chu" not in printable.get_data(as_text=True)
    download = admin.get(f"{url}/export.json")
    assert download.headers["Content-Disposition"] == 'attachment; filename="tinbao-yc-0001.json"'
    exported = json.loads(download.get_data(as_text=True))
    assert exported["number"] == PERSON and exported["request"]["reference"] == "YC-0001"
    assert [t["text"] for t in exported["tips"]] == ["trom bo o thon Na Hoi", "lan hai"]
    assert exported["subscription"]["status"] == "subscribed"
    assert OTHER not in download.get_data(as_text=True)

    refused = admin.post(f"{url}/erase", data={}, follow_redirects=True).get_data(as_text=True)
    assert any("xác nhận" in f for f in flashes(refused))
    done = admin.post(f"{url}/erase", data={"confirm": "1"}, follow_redirects=True).get_data(as_text=True)
    assert any("Vụ trộm đang điều tra" in f for f in flashes(done))
    # The first tip keeps its text without the number; the held one keeps both; the rest of the
    # person's messages and their subscription are gone; the other number is untouched.
    assert tips.get(db, made["first"])["tipster"] == "" and tips.get(db, made["first"])["text"]
    assert tips.get(db, made["second"])["tipster"] == PERSON
    assert [r["text"] for r in inbox.of_numbers(db, [PERSON])] == ["TIN lan hai"]
    assert outbox.to_numbers(db, [PERSON]) == [] and inbox.of_numbers(db, [OTHER])
    assert rows(db_path, "SELECT count(*) FROM subscribers WHERE number = ?", (PERSON,)) == [(0,)]
    # The consent ledger keeps what happened, without the number; the erasure names the request.
    assert rows(db_path, "SELECT count(*) FROM consent_ledger WHERE number = ?", (PERSON,)) == [(0,)]
    assert rows(db_path, "SELECT event, note FROM consent_ledger ORDER BY id DESC LIMIT 1") == [("erased", "YC-0001")]
    erased = audit.search(db, target="YC-0001", action="request.erase")[0]
    assert '"kept_tips_on_hold": ["CL-0002"]' in erased.detail and PERSON not in erased.detail

    closed = admin.post(f"{url}/close", data={"outcome": "Đã gửi bản in, đã xoá."}, follow_redirects=True)
    page = closed.get_data(as_text=True)
    assert "Đã gửi bản in, đã xoá." in page and 'id="erase-form"' not in page
    steps = [e.action for e in audit.search(db, target="YC-0001", action="request.")]
    assert {"request.record", "request.lookup", "request.view", "request.export", "request.erase",
            "request.close"} <= set(steps)


def test_withdraw_stops_the_warnings(logged_in, db, db_path):
    held_data(db)
    admin = logged_in("admin")
    url = new_request(admin, kinds=["withdraw"])
    admin.post(f"{url}/lookup", data={"number": PERSON})
    admin.post(f"{url}/withdraw")
    assert rows(db_path, "SELECT status FROM subscribers WHERE number = ?", (PERSON,)) == [("left",)]
    assert audit.search(db, target="YC-0001", action="request.withdraw")
    # The ledger keeps the withdrawal with the request; the page shows the person's consent events.
    assert rows(db_path, "SELECT event, basis, note FROM consent_ledger WHERE number = ? ORDER BY id DESC LIMIT 1",
                (PERSON,)) == [("withdrawn", "request", "YC-0001")]
    page = admin.get(url).get_data(as_text=True)
    assert "Rút lại đồng ý (theo yêu cầu)" in page and "(tin nhắn của người đó)" in page


def test_a_bad_form_is_a_400_with_the_reason(logged_in):
    admin = logged_in("admin")
    response = admin.post("/requests", data={"requester": "A", "contact": "B", "channel": "phone",
                                             "received_on": "2027-03-10"})
    assert response.status_code == 400 and "yêu cầu gì" in response.get_data(as_text=True)
    response = admin.post("/requests", data={"requester": "A", "contact": "B", "channel": "phone", "kinds": "see",
                                             "received_on": "hôm qua"})
    assert response.status_code == 400
    assert admin.post("/requests/1/lookup", data={"number": "1"}).status_code == 404
    url = new_request(admin)
    after = admin.post(f"{url}/lookup", data={"number": "abc"}, follow_redirects=True).get_data(as_text=True)
    assert any("không hợp lệ" in f for f in flashes(after))


def test_the_dashboard_lists_requests_near_their_deadline(logged_in, clock):
    admin = logged_in("admin")
    new_request(admin, received_on="2027-03-01")  # acknowledge by Wednesday 3 March: late now
    alerts = {a["key"]: a for a in admin.get("/api/dashboard").get_json()["alerts"]}
    assert alerts["data_requests"]["tone"] == "bad" and "YC-0001" in alerts["data_requests"]["text"]
    assert "(quá hạn)" in alerts["data_requests"]["text"] and alerts["data_requests"]["url"] == "/requests"
    admin.post("/requests/1/acknowledge")  # then: complete by 11 March (see): near, not late
    alerts = {a["key"]: a for a in admin.get("/api/dashboard").get_json()["alerts"]}
    assert alerts["data_requests"]["tone"] == "wait" and "11/03/2027" in alerts["data_requests"]["text"]
    officer = logged_in("officer")
    assert "url" not in {a["key"]: a for a in officer.get("/api/dashboard").get_json()["alerts"]}["data_requests"]


def test_every_string_of_the_page_has_an_english_translation(logged_in, db):
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    from gateway.web import i18n

    root = Path(__file__).resolve().parent.parent / "gateway"
    files = [root / "web" / "data_requests.py", root / "privacy" / "requests.py"]
    templates = list((root / "web" / "templates" / "data_requests").glob("*.html"))
    keywords = {"_": None, "_l": None, "gettext": None, "N_": None}
    found = {m[1] for path in files for m in extract_from_file("python", str(path), keywords=keywords)}
    found |= {m[1] for path in templates for m in extract_from_file("jinja2", str(path), keywords=keywords)}
    assert len(found) > 60
    assert sorted(found & set(i18n.untranslated("en"))) == []

    held_data(db)
    admin = logged_in("admin")
    url = new_request(admin)
    admin.post(f"{url}/lookup", data={"number": PERSON})
    page = admin.get(f"{url}?lang=en").get_data(as_text=True)
    assert "Personal data requests" in page and "Data the gateway holds" in page


def test_a_hold_on_the_tip_page_needs_a_reason_is_audited_and_removable(logged_in, db):
    made = held_data(db)
    officer = logged_in("officer")
    page = officer.get("/tips/CL-0001").get_data(as_text=True)
    assert 'id="hold-form"' in page
    empty = officer.post("/tips/CL-0001/hold", data={"reason": "  "}, follow_redirects=True)
    assert any("lý do" in f for f in flashes(empty.get_data(as_text=True)))
    assert tips.get(db, made["first"])["hold_reason"] is None
    held = officer.post("/tips/CL-0001/hold", data={"reason": "Chờ kết quả xác minh"}, follow_redirects=True)
    page = held.get_data(as_text=True)
    assert "Chờ kết quả xác minh" in page and 'id="unhold-button"' in page
    assert tips.get(db, made["first"])["held_by"] == officer.username
    assert audit.search(db, action="tip.hold", target="CL-0001")[0].detail == "Chờ kết quả xác minh"
    assert logged_in("viewer").post("/tips/CL-0001/unhold").status_code == 403
    officer.post("/tips/CL-0001/unhold")
    assert tips.get(db, made["first"])["hold_reason"] is None
    assert audit.search(db, action="tip.unhold", target="CL-0001")
    history_page = officer.get("/tips/CL-0001?lang=en").get_data(as_text=True)
    assert "Put on hold" in history_page and "Hold released" in history_page


def test_a_tip_without_its_number_says_so_and_cannot_show_it(logged_in, db):
    made = held_data(db)
    tips.detach_numbers(db, [made["first"]], NOW, closed_only=False)
    officer = logged_in("officer")
    page = officer.get("/tips/CL-0001").get_data(as_text=True)
    assert "Số đã được xoá" in page and 'id="reveal-form"' not in page and 'id="reply-form"' not in page
    refused = officer.post("/tips/CL-0001/number", follow_redirects=True).get_data(as_text=True)
    assert any("đã được xoá" in f for f in flashes(refused))


def test_only_what_was_asked_can_be_done(logged_in, db, db_path):
    held_data(db)
    admin = logged_in("admin")
    url = new_request(admin, kinds=["see"])
    admin.post(f"{url}/lookup", data={"number": PERSON})
    page = admin.get(url).get_data(as_text=True)
    assert 'id="erase-form"' not in page and 'id="withdraw-button"' not in page
    admin.post(f"{url}/erase", data={"confirm": "1"})
    admin.post(f"{url}/withdraw")
    assert rows(db_path, "SELECT count(*) FROM inbox WHERE sender = ?", (PERSON,)) == [(3,)]
    assert rows(db_path, "SELECT status FROM subscribers WHERE number = ?", (PERSON,)) == [("subscribed",)]
