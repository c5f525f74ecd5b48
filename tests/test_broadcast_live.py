"""Broadcasts through the real stack: a menu reply overtakes a running broadcast, and the
modem's network time (AT+CCLK?) makes an RTC-less Pi's clock trustworthy."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from conftest import make_config, rows, wait_until

from gateway.broadcasts import control, subscribers
from gateway.broadcasts.service import BroadcastService
from gateway.clock import ManualClock
from gateway.service import Gateway
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
    """The gateway's BroadcastService, or one attached the way gateway/service.py wires it."""
    service = getattr(gateway, "broadcasts", None)
    if service is not None:
        yield service
        return
    service = BroadcastService(gateway.config, gateway.dbs, gateway.clock, menus=lambda: gateway.router.book,
                               wake_senders=lambda: gateway.modem.wake())
    gateway.router.handlers.append(service.subscriptions)
    service.start()
    yield service
    service.stop()


def test_a_menu_reply_overtakes_a_running_broadcast(gateway, broadcasts, emulator):
    emulator.set_fault("send_delay", 0.05)  # a slow modem (scaled down from 2 s per part)
    db = gateway.dbs.get()
    now = datetime.now(timezone.utc)
    with write_transaction(db):
        for i in range(60):
            subscribers.save_member(db, subscribers.Member(f"+849140{i:05d}"), source="import", now=now)
    control.create(db, control.Draft("Cảnh báo", "Không bấm đường link lạ.", everyone=True), by="officer", now=now,
                   tz=broadcasts.tz)
    broadcasts.wake()
    assert emulator.wait_for_sent(5, 20)

    emulator.deliver("0912345678", "MENU")  # (phone.send would take the next SMS to anyone)
    to_villager = lambda: [m.text for m in emulator.sent_messages() if m.destination == "+84912345678"]  # noqa: E731
    assert wait_until(to_villager, 10) and "Thu tuc hanh chinh" in to_villager()[0]
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
    boot = datetime(1970, 1, 1, 0, 0, 30, tzinfo=timezone.utc)  # a Pi with no RTC and no NTP yet
    clock = ManualClock(boot)
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **LIVE)
    network = datetime(2026, 12, 7, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    emulator.set_clock(network)
    gateway = Gateway(config, clock)
    service = BroadcastService(config, gateway.dbs, clock)
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
