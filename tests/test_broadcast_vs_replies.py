"""A villager's MENU never waits for the end of a long broadcast, even when its +CMTI is lost.

python-gsmmodem misses notifications (MODEM_NOTES.md); the safety net is the periodic listing
of every store. While the modem worker sends, it lists the stores at least every
``busy_drain_interval`` seconds (30 s on a real modem), whatever ``modem.drain_interval`` says
for an idle modem. Here the idle drain is ten minutes, status reports are off (a ``+CDSI``
would wake a drain too) and the MENU is put on the SIM without its ``+CMTI``: only the
listing while sending can find it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import make_config, rows, wait_until

from gateway.broadcasts import control, subscribers
from gateway.modem.worker import WorkerSettings
from gateway.service import Gateway
from gateway.storage import write_transaction

SUBSCRIBERS = 40
VILLAGER = "0912345678"  # not a subscriber: its reply is the only SMS to it


def run_broadcast_and_lost_menu(tmp_path, emulator, busy_drain_interval: float):
    """Start a broadcast to ``SUBSCRIBERS`` numbers on a slow modem, slip a MENU onto the SIM
    without +CMTI once it runs; return (whole messages sent, index of the reply or None)."""
    config = make_config(
        tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), TINBAO_MODEM_DRAIN_INTERVAL="600",
        TINBAO_BROADCASTS_TICK_INTERVAL="0.2",
        TINBAO_BROADCASTS_QUIET_START="00:00", TINBAO_BROADCASTS_QUIET_END="00:00",  # no quiet hours
    )
    emulator.set_fault("report_delay", None)  # no status reports, so no +CDSI wakes a drain
    emulator.set_fault("send_delay", 0.1)  # a slow modem (a real one takes 2-10 s per part)
    gateway = Gateway(config)
    gateway.worker_settings[0].busy_drain_interval = busy_drain_interval  # 30 s, scaled down (4 parts)
    gateway.start()
    try:
        assert wait_until(lambda: gateway.modem.state.state == "connected" and gateway.modem.state.registered, 15)
        db, now = gateway.dbs.get(), datetime.now(UTC)
        with write_transaction(db):
            for i in range(SUBSCRIBERS):
                subscribers.save_member(db, subscribers.Member(f"+849150{i:05d}"), source="import", now=now)
        control.create(db, control.Draft("Cảnh báo", "Không bấm đường link lạ.", everyone=True), by="officer",
                       now=now, tz=gateway.broadcasts.tz)
        gateway.broadcasts.wake()
        assert emulator.wait_for_sent(3, 20)
        emulator.preload(VILLAGER, "MENU")  # on the SIM, its +CMTI lost
        path = config.storage_path
        assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts")[0][0] == "done", 60)
        wait_until(lambda: any(m.destination.endswith("912345678") for m in emulator.sent_messages()), 2)
        sent = emulator.sent_messages()
        reply = next((i for i, m in enumerate(sent) if m.destination.endswith("912345678")), None)
        return sent, reply
    finally:
        gateway.stop()


def test_the_reply_to_a_menu_whose_cmti_was_lost_goes_out_before_the_broadcast_ends(tmp_path, emulator):
    sent, reply = run_broadcast_and_lost_menu(tmp_path, emulator, busy_drain_interval=0.4)
    assert reply is not None, "the MENU was never answered"
    assert "Thu tuc hanh chinh" in sent[reply].text or "Thủ tục hành chính" in sent[reply].text
    later = len(sent) - reply - 1
    assert later >= 10, f"the reply went out with only {later} broadcast SMS left: it waited behind the broadcast"
    assert len({m.destination for m in sent}) == SUBSCRIBERS + 1  # nobody twice, nobody missed


def test_without_listing_while_sending_the_menu_waits_for_the_broadcast(tmp_path, emulator):
    """The scenario above proves something: with no listing while sending, no reply in time."""
    sent, reply = run_broadcast_and_lost_menu(tmp_path, emulator, busy_drain_interval=600.0)
    assert reply is None or len(sent) - reply - 1 < 10


def test_a_real_modem_lists_its_stores_at_least_every_30_seconds_while_sending():
    assert WorkerSettings(port="/dev/ttyUSB2").busy_drain_interval <= 30.0
