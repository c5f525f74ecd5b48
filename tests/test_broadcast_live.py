"""Broadcasts through the real stack: a menu reply overtakes a running broadcast, and the
modem's network time (AT+CCLK?) makes an RTC-less Pi's clock trustworthy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from conftest import ON_PAPER, make_config, rows, wait_until

from gateway.broadcasts import control, subscribers
from gateway.broadcasts.service import BroadcastService
from gateway.clock import Clock, ManualClock
from gateway.service import CLOCK_EVIDENCE, Gateway
from gateway.storage import write_transaction

LIVE = {
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour of the run
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
}


@pytest.fixture
def config(tmp_path, emulator):
    return make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **LIVE)


@pytest.fixture
def broadcasts(gateway):
    """The running gateway's BroadcastService."""
    return gateway.broadcasts


def test_a_menu_reply_overtakes_a_running_broadcast(gateway, broadcasts, emulator, phone):
    emulator.set_fault("send_delay", 0.05)  # a slow modem (scaled down from 2 s per part)
    db = gateway.dbs.get()
    now = datetime.now(UTC)
    with write_transaction(db):
        for i in range(60):
            subscribers.save_member(db, subscribers.Member(f"+849140{i:05d}"), source="import", now=now, basis=ON_PAPER)
    control.create(db, control.Draft("Cảnh báo", "Không bấm đường link lạ.", everyone=True), by="officer", now=now,
                   tz=broadcasts.tz)
    broadcasts.wake()
    assert emulator.wait_for_sent(5, 20)

    reply = phone.send("0912345678", "MENU")  # the first SMS to this number, among the broadcast's
    assert reply is not None and "Thu tuc hanh chinh" in reply
    path = gateway.config.storage_path
    assert wait_until(lambda: rows(path, "SELECT sent_at FROM outbox WHERE kind='menu'")[0][0], 5)
    asked, answered = rows(path, "SELECT created_at, sent_at FROM outbox WHERE kind='menu'")[0]
    overtaken = rows(path, "SELECT COUNT(*) FROM outbox WHERE kind='broadcast' AND sent_at > ? AND sent_at <= ?",
                     (asked, answered))[0][0]
    assert overtaken <= 1, f"{overtaken} broadcast SMS went out while the villager waited"
    assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts")[0][0] == "done", 30)
    assert rows(path, "SELECT COUNT(*) FROM outbox WHERE kind='broadcast' AND sent_at > ?", (answered,))[0][0] > 20, \
        "the broadcast was still running when the reply went out"
    assert len({m.destination for m in emulator.sent_messages()}) == 61


def test_modem_network_time_makes_the_clock_trusted(tmp_path, emulator):
    boot = datetime(1970, 1, 1, 0, 0, 30, tzinfo=UTC)  # a Pi with no RTC and no NTP yet
    clock = ManualClock(boot)
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **LIVE)
    network = datetime(2026, 12, 7, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    emulator.set_clock(network)
    gateway = Gateway(config, clock)
    service = BroadcastService(config, gateway.dbs, clock, clock_evidence=CLOCK_EVIDENCE)
    gateway.start()
    try:
        assert wait_until(lambda: rows(config.storage_path, "SELECT 1 FROM state WHERE key='modem_time'"), 15)
        value = json.loads(rows(config.storage_path, "SELECT value FROM state WHERE key='modem_time'")[0][0])
        assert value["system_time"] == boot.isoformat()
        assert abs(datetime.fromisoformat(value["network_time"]) - network) < timedelta(seconds=30)
        service.tick()
        assert service.clock.trusted and service.clock.reading.source == "modem"
        assert abs(service.clock.now() - network) < timedelta(seconds=30)
        published = json.loads(rows(config.storage_path, "SELECT value FROM state WHERE key='clock'")[0][0])
        assert published["trusted"] is True and published["source"] == "modem"
    finally:
        gateway.stop()


def test_two_modems_share_a_broadcast_without_sending_anything_twice(tmp_path):
    from gateway.database import prepare_gateway
    from gateway.modem.emulator import ModemEmulator
    from gateway.modem.worker import ModemWorker, all_settings_from_config
    from gateway.storage import ThreadLocalDb

    emulators = [ModemEmulator(link=str(tmp_path / f"modem{i}")) for i in range(2)]
    for emulator in emulators:
        emulator.start()
        emulator.set_fault("send_delay", 0.01)
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem0"),
                         TINBAO_MODEM_EXTRA_PORTS=str(tmp_path / "modem1"), **LIVE)
    prepare_gateway(config.storage_path)
    dbs, durable = ThreadLocalDb(config.storage_path), ThreadLocalDb(config.storage_path, durable=True)
    settings = all_settings_from_config(config)
    assert [(s.name, s.state_key) for s in settings] == [("modem0", "modem"), ("modem1", "modem1")]
    clock = Clock()
    workers = [ModemWorker(s, durable, clock) for s in settings]
    service = BroadcastService(config, dbs, clock, wake_senders=lambda: [w.wake() for w in workers])
    db = dbs.get()
    now = datetime.now(UTC)
    numbers = [f"+849160{i:05d}" for i in range(40)]
    with write_transaction(db):
        for n in numbers:
            subscribers.save_member(db, subscribers.Member(n), source="import", now=now, basis=ON_PAPER)
    warning = service.library.warnings["03_trung_thuong"]  # 2 parts "không dấu": both from one modem
    control.create(db, control.Draft(warning.title, warning.accented, body_khong_dau=warning.khong_dau,
                                     everyone=True), by="officer", now=now, tz=service.tz)
    for worker in workers:
        worker.start()
    service.start()
    try:
        assert wait_until(lambda: sum(len(e.sent_messages()) for e in emulators) >= 40, 30)
        assert wait_until(lambda: rows(config.storage_path, "SELECT status FROM broadcasts")[0][0] == "done", 10)
    finally:
        service.stop()
        for worker in workers:
            worker.stop()
        for emulator in emulators:
            emulator.stop()
    per_modem = [[m.destination for m in e.sent_messages()] for e in emulators]
    assert all(len(sent) >= 5 for sent in per_modem), [len(s) for s in per_modem]  # both modems worked
    everything = per_modem[0] + per_modem[1]
    assert sorted(everything) == sorted(numbers), "each person once, whole (both parts from the same modem)"
    assert sum(len(e.sent_parts()) for e in emulators) == 80
    dbs.close_all()
    durable.close_all()
