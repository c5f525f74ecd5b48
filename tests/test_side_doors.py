"""Issue 17 part 6: the side doors a probe of the landed gateway found, each now refused.

The logs keep no number inside a PDU; a flood of tips from one number brings the duty roster
a few alerts and one summary, not thirty SMS; the simulator shows only what it sent itself;
the hub names a gateway from its own config and refuses a reference of another gateway.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from conftest import rows, wait_until

from gateway.modem import at_parse
from gateway.sms import pdu as pdu_codec
from gateway.storage import write_transaction

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
SENDER = "0912345678"
SWAPPED_BCD = "4819325476F8"  # +84 912 345 678 as a PDU carries it


def _no_number_in(text: str) -> None:
    assert SWAPPED_BCD not in text.upper() and "912345678" not in text, text


# -- (e) logs mask numbers inside PDUs -------------------------------------------------------------

def test_a_pdu_of_the_wrong_length_is_logged_without_its_hex(caplog):
    [pdu] = pdu_codec.encode_deliver(SENDER, "TIN có trộm", timestamp=NOW)
    caplog.set_level(logging.DEBUG, logger="gateway")
    listing = at_parse.parse_listing(["+CMGL: 3,0,,99", pdu, "+CMGL: 4,0,,20", f"+84{SENDER[1:]},,hello",
                                      f"84{SENDER[1:]},hello"], "SM")
    assert [m.pdu for m in listing.messages] == [pdu, f"84{SENDER[1:]},hello"]  # kept, as undecodable
    assert "not a PDU of 99 octets" in caplog.text and "<hex:" in caplog.text
    assert "taken for a notification: '+*********78,,hello'" in caplog.text
    _no_number_in(caplog.text)


def test_bad_pdus_through_the_emulator_leave_no_number_in_the_logs(gateway, emulator, config, caplog):
    caplog.set_level(logging.DEBUG, logger="gateway")
    [pdu] = pdu_codec.encode_deliver(SENDER, "TIN có trộm", timestamp=NOW)
    emulator.deliver_pdu(pdu + "ZZ")  # a garbled line: not hex, not the announced length
    emulator.deliver_pdu(pdu[:60])  # cut short inside the text
    assert wait_until(lambda: rows(config.storage_path, "SELECT COUNT(*) FROM inbox WHERE kind='undecodable'")
                      == [(2,)], 15)
    assert rows(config.storage_path, "SELECT pdu FROM pdus ORDER BY id") == [(pdu + "ZZ",), (pdu[:60],)]  # as received
    assert "kept as undecodable" in caplog.text
    _no_number_in(caplog.text)


def test_for_log_shows_sizes_and_the_last_two_digits():
    assert pdu_codec.for_log("07914889200030F0040B914819325476F8") == "'<hex: 17 octets>'"
    assert pdu_codec.for_log("+CMT: \"+84912345678\"") == "'+CMT: \"+*********78\"'"
    assert pdu_codec.for_log("^RSSI:17") == "'^RSSI:17'"


# -- (b) duty alerts capped per sender per hour, with one summary -------------------------------------

PATROL = "+84987654321"  # the officer on duty's basic phone


def test_thirty_tin_from_one_number_bring_the_roster_three_alerts_and_one_summary(gateway, emulator, config):
    from gateway import duty

    duty.add(gateway.dbs.get(), PATROL, "Anh Ba", by="an", now=datetime.now(UTC))
    emulator.deliver_many([(SENDER, f"TIN có người lạ ở thôn {i}") for i in range(30)])
    path = config.storage_path
    assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM tips") == [(30,)], 30)
    assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM inbox WHERE status = 'queued'") == [(0,)], 10)
    kinds = rows(path, "SELECT kind, status, COUNT(*) FROM outbox WHERE number = ? GROUP BY kind, status", (PATROL,))
    assert {kind for kind, _, _ in kinds} == {"duty_alert", "duty_summary"}
    assert rows(path, "SELECT COUNT(*) FROM outbox WHERE number = ? AND kind = 'duty_alert'", (PATROL,)) == [(3,)]
    [(text, status, due)] = rows(path, "SELECT text, status, next_attempt_at FROM outbox WHERE number = ?"
                                       " AND kind = 'duty_summary'", (PATROL,))
    first_held = rows(path, "SELECT reference FROM tips ORDER BY id LIMIT 1 OFFSET 3")[0][0]
    assert text == f"Tin bao moi {first_held} va 26 tin khac tu cung mot so trong 1 gio: xem trang tin bao."
    assert status == "queued" and datetime.fromisoformat(due) > datetime.now(UTC)  # it gathers, then goes
    assert emulator.wait_for_sent(3, 10)
    assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM outbox WHERE number = ? AND status = 'sent'",
                                   (PATROL,)) == [(3,)], 10)
    assert len([m for m in emulator.sent_messages() if m.destination == PATROL]) == 3
    assert "912345678" not in text  # never the tipster's number


def test_the_summary_goes_after_its_wait_and_the_hour_starts_again(db):
    from gateway import duty, outbox, tips

    duty.add(db, PATROL, "Anh Ba", by="an", now=NOW)

    def tip(at: datetime) -> None:
        with write_transaction(db):
            inbox_id = db.conn.execute("INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
                                       (at.isoformat(), "+84912345678", "mobile", "TIN x")).lastrowid
            made = tips.create(db, gateway_id="cl", tipster="+84912345678", text="x", inbox_id=inbox_id, now=at)
            duty.alert_new_tip(db, made, "+84912345678", "x", at)

    def outgoing(kind: str) -> list[tuple]:
        return db.execute("SELECT text, status FROM outbox WHERE kind = ? ORDER BY id", (kind,)).fetchall()

    for minute in range(4):
        tip(NOW + timedelta(minutes=minute))
    assert len(outgoing("duty_alert")) == 3
    assert outgoing("duty_summary") == [("Tin bao moi CL-0004: so nay da gui 4 tin trong 1 gio, xem trang tin bao.",
                                         "queued")]
    tip(NOW + timedelta(minutes=5))
    assert outgoing("duty_summary")[0][0].startswith("Tin bao moi CL-0004 va 1 tin khac")  # reworded while it waits
    assert outbox.next_due(db, NOW + timedelta(minutes=12)) is not None  # 10 minutes after the first held tip
    while (part := outbox.next_due(db, NOW + timedelta(minutes=14), worker="m")) is not None:
        outbox.mark_part_sent(db, part, 1, NOW + timedelta(minutes=14))
    tip(NOW + timedelta(minutes=20))  # the summary went: the rest of the hour waits on the page
    assert [status for _, status in outgoing("duty_summary")] == ["sent"] and len(outgoing("duty_alert")) == 3
    tip(NOW + timedelta(minutes=90))  # a new hour: one by one again
    assert len(outgoing("duty_alert")) == 4
