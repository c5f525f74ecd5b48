"""The modems a commune can buy in 2026 (issue 8), through pyserial and python-gsmmodem.

Each test starts the emulator as one model (``sim7600``, ``a7670``, ``ec25``, ``e3372``) and the
gateway with the matching profile of ``firmware_config/modem_profiles.toml``: an LTE-only
attach, Huawei lines inside listings, SMS in more than one store, status reports kept in SR or
handed over as ``+CDS`` with the PDU on the next line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_config, rows, wait_until

from gateway.modem.emulator import ModemEmulator
from gateway.modem.worker import settings_from_config
from gateway.service import Gateway

LTE = [("sim7600", "sim7600-usb"), ("a7670", "a7670-usb"), ("ec25", "ec25-usb"), ("e3372", "huawei-usb"),
       ("ec25", "generic")]
VILLAGERS = [f"09123400{n:02d}" for n in range(1, 6)]


class Rig:
    """An emulator of one model and a gateway with one profile, started on demand."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.emulator: ModemEmulator | None = None
        self.gateway: Gateway | None = None

    def modem(self, model: str, **options: object) -> ModemEmulator:
        self.emulator = ModemEmulator(link=str(self.tmp_path / "modem"), model=model, **options)
        self.emulator.start()
        return self.emulator

    def start(self, profile: str, **env: str) -> Gateway:
        config = make_config(self.tmp_path, TINBAO_MODEM_PORT=str(self.tmp_path / "modem"),
                             TINBAO_MODEM_PROFILE=profile, **env)
        self.db = config.storage_path
        self.gateway = Gateway(config)
        self.gateway.start()
        assert wait_until(lambda: self.gateway.modem.state.state == "connected"
                          and self.gateway.modem.state.registered, 15), self.gateway.modem.state
        return self.gateway

    def modem_state(self) -> dict:
        [(value,)] = rows(self.db, "SELECT value FROM state WHERE key = 'modem'")
        return json.loads(value)

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.emulator is not None:
            self.emulator.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.close()


def replies_to(emulator: ModemEmulator) -> list[str]:
    """Who got a reply, one entry per reply, in the villagers' own 0... form."""
    return sorted("0" + m.destination.removeprefix("+84") for m in emulator.sent_messages())


@pytest.mark.parametrize(("model", "profile"), LTE)
def test_an_lte_only_modem_answers_menu(rig, model, profile):
    emulator = rig.modem(model)
    rig.start(profile)
    emulator.deliver("0912345678", "MENU")
    assert emulator.wait_for_sent(1, 10), rig.modem_state()
    assert "1. Thu tuc hanh chinh" in emulator.sent_messages()[0].text
    state = rig.modem_state()
    assert state["registered"] is True and state["technology"] == "4G" and state["operator"] == "Viettel"
    if profile != "generic":  # the vendor's serving-cell command gives the LTE signal
        assert (state["rsrp"], state["rsrq"]) == (-85, -9)


@pytest.mark.parametrize("profile", ["huawei-usb", "generic"])
def test_five_sms_with_rssi_inside_the_listing_are_each_answered_once(rig, profile):
    """issue 8: with ^RSSI:17 between a +CMGL: header and its PDU the first SMS was lost."""
    emulator = rig.modem("e3372")
    for number in VILLAGERS:
        emulator.preload(number, "MENU")  # waiting on the SIM before the gateway starts
    emulator.set_fault("report_in_listing", True)  # a stick that ignores AT^CURC=0
    rig.start(profile)
    assert emulator.wait_for_sent(5, 15)
    assert emulator.wait_for_stored(0, 5)
    assert wait_until(lambda: len(rows(rig.db, "SELECT 1 FROM inbox WHERE status='done'")) == 5)
    emulator.deliver(VILLAGERS[0], "MENU")  # and a drain more
    assert emulator.wait_for_sent(6, 10)
    assert replies_to(emulator) == sorted(VILLAGERS + VILLAGERS[:1])
    assert rows(rig.db, "SELECT COUNT(*) FROM pdus WHERE kind = 'undecodable'") == [(0,)]
    assert emulator.curc == (0 if profile == "huawei-usb" else 1)
    assert emulator.faults.report_in_listing < 1 << 30  # listings did carry the line


def test_the_listing_parser_takes_only_a_fitting_pdu():
    from gateway.modem.at_parse import parse_listing

    pdu = ModemEmulator().encode("0912345678", "MENU")[0]
    length = len(pdu) // 2 - 1 - int(pdu[:2], 16)
    listing = parse_listing([
        f"+CMGL: 1,0,,{length}", "^RSSI:17", pdu,
        f"+CMGL: 2,0,,{length}", '+CMTI: "SM",4', "^BOOT:1,2,3",  # its PDU never came
        f"+CMGL: 3,1,,{length}", "RING", pdu.lower(),
        "+CDS: 25", "0791448720003023", "OK",
    ], "ME")
    assert [(m.slot, m.pdu) for m in listing.messages] == [("ME:1", pdu), ("ME:3", pdu.lower())]
    assert listing.notices == [("CMTI", "SM:4")] and listing.headers_without_pdu == ["ME:2"]
    assert listing.te_reports == ["0791448720003023"]


def test_sms_in_sm_and_me_are_both_answered(rig):
    emulator = rig.modem("ec25")
    emulator.preload(VILLAGERS[0], "MENU", memory="SM")
    emulator.preload(VILLAGERS[1], "MENU", memory="ME")
    rig.start("ec25-usb")
    assert emulator.wait_for_sent(2, 10)
    assert replies_to(emulator) == VILLAGERS[:2]
    assert emulator.wait_for_stored(0, 5)
    emulator.preload(VILLAGERS[2], "MENU", memory="SM")  # no +CMTI: the safety-net drain finds it
    assert emulator.wait_for_sent(3, 10)
    assert replies_to(emulator) == VILLAGERS[:3]


def test_status_reports_kept_in_sr_mark_the_reply_delivered(rig):
    emulator = rig.modem("sim7600", report_delay=0.05)
    rig.start("sim7600-usb")
    emulator.deliver("0912345678", "MENU")
    assert emulator.wait_for_sent(1, 10)
    assert wait_until(lambda: rows(rig.db, "SELECT status FROM outbox") == [("delivered",)])
    assert emulator.wait_for_stored(0, 5)  # SR drained too
    assert emulator.network_time_on  # the profile sent AT+CLTS=1


def test_cds_reports_mark_the_outbox_row_delivered(rig):
    """A modem that refuses CNMI <ds>=2 hands reports over as +CDS with the PDU on the next line."""
    emulator = rig.modem("ec25", report_delay=0.05, cnmi_fallback_only=True)
    rig.start("ec25-usb")
    emulator.deliver("0912345678", "MENU")
    assert emulator.wait_for_sent(1, 10)
    assert wait_until(lambda: rows(rig.db, "SELECT status FROM outbox") == [("delivered",)])
    reports = rows(rig.db, "SELECT slot, pdu FROM pdus WHERE kind = 'status-report'")
    assert len(reports) == 1 and reports[0][1]  # the report's PDU, not an empty row


def test_a_registration_query_that_errors_never_blocks_sending(rig):
    emulator = rig.modem("ec25")
    emulator.set_fault("registration_error", True)
    rig.start("ec25-usb")
    emulator.deliver("0912345678", "MENU")
    assert emulator.wait_for_sent(1, 10)
    assert "registered" in (rig.modem_state()["error"] or "")


def test_no_network_on_send_backs_off_and_sends_later(rig):
    emulator = rig.modem("sim7600")
    rig.start("sim7600-usb", TINBAO_OUTBOX_MAX_ATTEMPTS="2")
    emulator.set_fault("cms_error", [3, 331])  # more refusals than max_attempts allows
    emulator.deliver("0912345678", "MENU")
    assert emulator.wait_for_sent(1, 15)
    assert wait_until(lambda: rows(rig.db, "SELECT status FROM outbox") in ([("sent",)], [("delivered",)]))
    assert len(emulator.sent_parts()) == 1


def test_smsc_from_config_is_set_and_shown(rig):
    emulator = rig.modem("ec25")
    rig.start("ec25-usb", TINBAO_MODEM_SMSC="+84980200099")
    assert emulator.smsc == "+84980200099"
    assert wait_until(lambda: rig.modem_state().get("smsc") == "+84980200099")


def test_the_2g_profile_warns_loudly(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        settings_from_config(make_config(tmp_path, TINBAO_MODEM_PROFILE="sim800-uart"))
    assert any("2G" in r.message and "Vietnam" in r.message for r in caplog.records)


BURST = [(f"09123450{n:02d}", "MENU") for n in range(40)]


@pytest.mark.parametrize(("model", "profile", "one_memory"), [
    ("emulator", "generic", False), ("sim7600", "sim7600-usb", False), ("emulator", "generic", True)])
def test_a_burst_with_delivery_reports_reads_each_report_once(rig, model, profile, one_memory):
    """Reports arriving while the drain deletes (a freed slot is filled again at once) are each
    read once, and every part ends delivered: no slot is deleted twice in a drain, under one
    name (an SR listing and its +CDSI) or two (SM and ME naming one memory)."""
    from gateway.sms import pdu as codec

    emulator = rig.modem(model, report_delay=0.01, one_memory=one_memory)
    rig.start(profile)
    for burst in (1, 2):  # the race is a matter of timing: two bursts catch it far more often
        emulator.deliver_many(BURST)

        def settled(burst=burst) -> bool:
            parts = rows(rig.db, "SELECT status, COUNT(*) FROM outbox_parts GROUP BY status")
            return (len(emulator.sent_parts()) >= burst * len(BURST) and [s for s, _ in parts] == ["delivered"]
                    and emulator.stored_count() == 0)

        assert wait_until(settled, 8), (rows(rig.db, "SELECT status, COUNT(*) FROM outbox_parts GROUP BY status"),
                                        emulator.status())
    reports = [codec.decode(pdu) for (pdu,) in rows(rig.db, "SELECT pdu FROM pdus WHERE kind = 'status-report'")]
    keys = sorted((r.reference, r.number) for r in reports)
    assert len(keys) == len(set(keys)) == len(emulator.sent_parts())
    assert replies_to(emulator) == sorted(number for number, _ in BURST * 2)  # each SMS read once too
