"""Issue 17 part 6: the side doors a probe of the landed gateway found, each now refused.

The logs keep no number inside a PDU; a flood of tips from one number brings the duty roster
a few alerts and one summary, not thirty SMS; the simulator shows only what it sent itself;
the hub names a gateway from its own config and refuses a reference of another gateway.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from conftest import rows, wait_until

from gateway.modem import at_parse
from gateway.sms import pdu as pdu_codec

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
