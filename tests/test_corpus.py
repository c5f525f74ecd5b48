"""Every PDU of ../shared/testdata/real_pdus.jsonl through the gateway's receive path.

Each goes onto the emulated SIM as raw bytes, the gateway drains the SIM as it would a real
one, and the test checks: nothing crashed, every PDU is stored exactly once (raw), PDUs the
source decodes are decoded to the values it states, the rest keep their decoding error.
"""

from __future__ import annotations

import json

from conftest import needs_corpus, real_pdus_path, rows, wait_until

from gateway import phone

pytestmark = needs_corpus


def load_corpus() -> list[dict]:
    with open(real_pdus_path(), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_every_real_pdu_goes_through_the_receive_path(gateway, emulator, config):
    corpus = load_corpus()
    for record in corpus:
        emulator.deliver_pdu(record["pdu"])
    db = config.storage_path
    assert wait_until(lambda: rows(db, "SELECT COUNT(*) FROM pdus")[0][0] == len(corpus), 60)
    assert wait_until(lambda: emulator.stored_count() == 0 and emulator.network_backlog() == 0, 20)
    assert gateway.modem.state.state == "connected"

    stored = {}
    for pdu, kind, error, pdu_id in rows(db, "SELECT pdu, kind, decode_error, id FROM pdus"):
        stored.setdefault(pdu.upper(), []).append((kind, error, pdu_id))
    texts = {t for (t,) in rows(db, "SELECT text FROM inbox WHERE text IS NOT NULL")}
    texts |= {t for (t,) in rows(db, "SELECT text FROM parts")}  # one part of a long SMS
    senders = {s for (s,) in rows(db, "SELECT sender FROM inbox")}

    for record in corpus:
        entries = stored.get(record["pdu"].strip().upper())
        assert entries, f"{record['id']} was lost"
        expected = record.get("expected") or {}
        kinds = {kind for kind, _, _ in entries}
        if record["kind"] == "invalid":
            assert kinds == {"undecodable"}, record["id"]
            assert all(error for _, error, _ in entries)
            continue
        if expected.get("type") == "SMS-DELIVER" and "text" in expected and "udh" not in expected:
            if record["id"] in ("babca-pdu-8", "gammu-at-sms-41"):
                assert kinds == {"undecodable"}  # user data shorter than its length: see test_pdu.py
                continue
            assert expected["text"] in texts, record["id"]
            if expected.get("number") and expected["number"].lstrip("+").isdigit():
                assert phone.normalise(expected["number"]).value in senders, record["id"]
        if expected.get("type") == "SMS-STATUS-REPORT":
            assert kinds == {"status-report"}, record["id"]

    # nothing auto-answered a foreign or service sender by mistake
    for message in emulator.sent_messages():
        assert phone.normalise(message.destination).can_auto_reply
