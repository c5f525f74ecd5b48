"""Credit and validity by USSD through the serial port: every form a modem gives the reply in,
each big operator's wording, a modem without USSD, and a USSD that never answers (sends wait at
most for its timeout)."""

from __future__ import annotations

import logging
import time
from datetime import date

import pytest
from conftest import Phone, wait_until
from sim_fixtures import last_reading, post, read_credit, sim  # noqa: F401 - post is a fixture

FORMS = ["text", "gsm7", "ucs2", "ucs2_68"]


@pytest.mark.parametrize("wording", ["viettel", "vinaphone", "mobifone"])
def test_credit_is_read_in_every_form_and_wording(post, emulator, wording):  # noqa: F811
    for number, form in enumerate(FORMS):
        for accented in (True, False):
            amount = 31_000 + 1_000 * number + (500 if accented else 0)
            until = date(2027, 3, 10 + number)
            emulator.set_line(wording=wording, ussd_form=form, accented=accented, balance_vnd=amount,
                              valid_until=until.isoformat())
            reading = read_credit(post)
            assert reading["status"] == "ok", reading
            assert (reading["balance_vnd"], reading["valid_until"]) == (amount, until.isoformat()), (form, reading)
            assert reading["dcs"] == {"text": 15, "gsm7": 15, "ucs2": 72, "ucs2_68": 68}[form]
            if accented and form.startswith("ucs2"):
                assert "đ" in reading["text"] or "đồng" in reading["text"]  # the accents came through
    shown = sim(post)
    assert shown["balance_vnd"] == 31_000 + 1_000 * 3 and shown["valid_until"] == "2027-03-13"
    assert shown["ussd"] == "ok" and shown["read_at"]


def test_a_reply_before_ok_is_read_too(post, emulator):  # noqa: F811
    emulator.set_line(ussd="before_ok", balance_vnd=12_345)
    assert read_credit(post)["balance_vnd"] == 12_345


def test_a_modem_without_ussd_says_so_once(post, emulator, caplog):  # noqa: F811
    caplog.set_level(logging.WARNING, logger="gateway.sim.keeper")
    emulator.set_line(ussd="unsupported")
    assert read_credit(post)["status"] == "unsupported"
    assert read_credit(post)["status"] == "unsupported"  # the page may ask again; the log does not repeat
    said = [r for r in caplog.records if "has no USSD" in r.getMessage()]
    assert len(said) == 1
    shown = sim(post)
    assert shown["ussd"] == "unsupported"
    assert shown["balance_vnd"] == 85_000  # the last reading that said something is kept


def test_a_silent_ussd_blocks_sending_for_its_timeout_at_most(post, emulator, tmp_path):  # noqa: F811
    emulator.set_line(ussd="silent")
    before = (last_reading(post) or {})["id"]
    asked = emulator.line.ussd_requests
    post.sim.request_balance()
    assert wait_until(lambda: emulator.line.ussd_requests > asked, 5)  # the session is open, unanswered
    started = time.monotonic()
    phone = Phone(emulator, post.config.storage_path)
    reply = phone.send("0912345678", "MENU", timeout=15)
    waited = time.monotonic() - started
    assert reply is not None and "Thu tuc hanh chinh" in reply
    timeout = 3 * post.config.modem.command_timeout
    assert waited < timeout + 2, f"the reply waited {waited:.1f} s behind a {timeout:g} s USSD session"
    assert wait_until(lambda: last_reading(post)["id"] > before, 10)
    failed = last_reading(post)
    assert failed["status"] == "failed" and "no USSD answer" in failed["error"]
    assert sim(post)["balance_vnd"] == 85_000  # a failed reading changes nothing shown


def test_low_credit_and_a_near_validity_date_raise_alerts(post, emulator):  # noqa: F811
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from conftest import login_client

    soon = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=3)  # the post's local day
    emulator.set_line(balance_vnd=15_000, valid_until=soon.isoformat())
    read_credit(post)
    client = post.web_app().test_client()
    login_client(client, post.config.storage_path, "viewer")
    alerts = {a["key"]: a for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert "15.000 đ" in alerts["sim_credit"]["text"] and alerts["sim_credit"]["tone"] == "wait"
    validity = alerts["sim_validity"]["text"]
    assert soon.strftime("%d/%m/%Y") in validity and "còn 3 ngày" in validity
    card = client.get("/api/dashboard").get_json()["sim"]
    assert card["balance"] == "15.000 đ" and "còn 3 ngày" in card["valid_until"]
    health = client.get("/healthz").get_json()["sim"]
    assert health["balance_low"] is True and health["valid_days_left"] == 3

    emulator.set_line(balance_vnd=95_000, valid_until=(soon + timedelta(days=90)).isoformat())
    read_credit(post)
    alerts = {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert not alerts & {"sim_credit", "sim_validity"}


def test_when_a_reading_is_due(db):
    from datetime import UTC, datetime, timedelta

    from gateway.sim import balance
    from gateway.sim.ussd import Balance

    start = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert balance.due(db, "modem0", start, 12, started=start) == "start"
    balance.record(db, modem="modem0", now=start, source="ussd", status="ok", parsed=Balance(50_000, None))
    assert balance.due(db, "modem0", start + timedelta(hours=11), 12, started=start) is None
    assert balance.due(db, "modem0", start + timedelta(hours=13), 12, started=start) == "schedule"
    # A reconnect does not read again while the last reading is fresh.
    assert balance.due(db, "modem0", start + timedelta(hours=2), 12, started=start + timedelta(hours=2)) is None
    balance.request(db, "page", start + timedelta(hours=3))
    assert balance.due(db, "modem0", start + timedelta(hours=3), 12, started=start) == "page"
    balance.record(db, modem="modem0", now=start + timedelta(hours=3, seconds=5), source="ussd", status="failed")
    # A failed reading waits ten minutes before the next try, whatever was asked before it.
    assert balance.due(db, "modem0", start + timedelta(hours=3, minutes=5), 12, started=start) is None
    assert balance.due(db, "modem0", start + timedelta(hours=3, minutes=11), 12, started=start) == "schedule"
