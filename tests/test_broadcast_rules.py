"""The rules that protect villagers, on a real database with a clock the test sets.

Quiet hours hold and release, at most N broadcasts per number per day, replies before
broadcasts, a small window in the outbox, pause/resume/cancel, and the crash rule: a
broadcast part that was in the modem when the gateway died is never sent again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ON_PAPER, make_config, rows

from gateway import outbox
from gateway.broadcasts import control, subscribers
from gateway.broadcasts.sender import in_quiet_hours, quiet_until
from gateway.broadcasts.service import BroadcastService
from gateway.clock import ManualClock
from gateway.database import prepare_gateway
from gateway.storage import ThreadLocalDb, utcnow_iso

UTC = UTC


def at_local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in December 2026, given in local time (UTC+7)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


@pytest.fixture
def service(tmp_path):
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    svc = BroadcastService(config, dbs, ManualClock(at_local(1, 9)))
    yield svc
    dbs.close_all()


def subscribe(svc, count: int, village: str = "Na Hối") -> list[str]:
    db = svc.dbs.get()
    numbers = [f"+8498{i:07d}" for i in range(count)]
    with db.atomic():
        for n in numbers:
            subscribers.save_member(db, subscribers.Member(n, village=village), source="officer",
                                    now=svc.clock.base.now(), basis=ON_PAPER)
    return numbers


def send_now(svc, title: str = "Cảnh báo", body: str = "Không chuyển tiền cho người lạ.", **kw) -> int:
    draft = control.Draft(title, body, everyone=True, **kw)
    bid = control.create(svc.dbs.get(), draft, by="officer", now=svc.clock.base.now(), tz=svc.tz)
    svc.tick()
    return bid


def modem_sends_everything(svc) -> int:
    """Play the modem worker: send every due part (without a modem), return how many."""
    db, sent = svc.dbs.get(), 0
    while (part := outbox.next_due(db, svc.clock.base.now(), worker="modem0")) is not None:
        outbox.mark_part_sent(db, part, sent % 256, svc.clock.base.now())
        sent += 1
    return sent


def drain(svc, rounds: int = 1000) -> None:
    for _ in range(rounds):
        result = svc.pump()
        modem_sends_everything(svc)
        if not result.active:
            break
    svc.settle()


def test_quiet_hours_window_crosses_midnight():
    from datetime import time
    assert in_quiet_hours(time(22, 0), time(22, 0), time(7, 0))
    assert in_quiet_hours(time(3, 0), time(22, 0), time(7, 0))
    assert not in_quiet_hours(time(7, 0), time(22, 0), time(7, 0))
    assert not in_quiet_hours(time(21, 59), time(22, 0), time(7, 0))
    assert not in_quiet_hours(time(3, 0), time(0, 0), time(0, 0))  # start == end: none


def test_quiet_hours_hold_and_release(service):
    clock = service.clock.base
    clock.set(at_local(1, 21, 58))
    subscribe(service, 30)
    bid = send_now(service)
    first = service.pump()
    assert first.queued == 10 and first.held is None  # the window
    assert modem_sends_everything(service) == 10

    clock.set(at_local(1, 22, 0))
    service.pump()  # refill happened before 22:00? no: now it is quiet
    held = service.pump()
    assert held.held == "quiet" and held.queued == 0 and held.pending == 20
    assert modem_sends_everything(service) == 0, "nothing goes out at night"

    # a reply to a villager at 23:00 is not held
    clock.set(at_local(1, 23, 0))
    outbox.enqueue(service.dbs.get(), "+84911111111", "MENU ...", kind="menu", now=clock.now())
    assert modem_sends_everything(service) == 1

    # SMS already in the outbox when the quiet hours begin wait until 07:00
    clock.set(at_local(1, 21, 59))
    db = service.dbs.get()
    assert service.pump().queued == 10  # window refilled at 21:59
    clock.set(at_local(1, 22, 0, ))
    assert service.pump().held == "quiet"
    waiting = rows(service.dbs.path, "SELECT DISTINCT next_attempt_at FROM outbox WHERE status='queued'")
    assert waiting == [(utcnow_iso(at_local(2, 7)),)]
    clock.set(at_local(2, 6, 59))
    assert service.pump().held == "quiet" and modem_sends_everything(service) == 0

    clock.set(at_local(2, 7, 0))  # released: the waiting ones, then the rest
    drain(service)
    assert rows(service.dbs.path, "SELECT status, COUNT(*) FROM broadcast_deliveries GROUP BY status") == [("sent", 30)]
    assert rows(service.dbs.path, "SELECT status FROM broadcasts WHERE id=?", (bid,))[0][0] == "done"
    assert db.execute(
        "SELECT COUNT(DISTINCT number) FROM outbox WHERE kind='broadcast' AND status='sent'").fetchone()[0] == 30


def test_at_most_one_broadcast_per_number_per_day_the_second_waits(service):
    clock = service.clock.base
    numbers = subscribe(service, 5)
    send_now(service, "Một")
    send_now(service, "Hai", body="Cảnh báo thứ hai.")
    drain(service)
    per_number = rows(service.dbs.path, "SELECT number, COUNT(*) FROM outbox WHERE kind='broadcast' GROUP BY number")
    assert sorted(per_number) == [(n, 1) for n in numbers]
    held = rows(service.dbs.path, "SELECT d.status, d.not_before FROM broadcast_deliveries d JOIN broadcast_runs r"
                " ON r.id=d.run_id WHERE r.broadcast_id=2")
    assert held == [("pending", utcnow_iso(at_local(2, 0)))] * 5

    clock.set(at_local(2, 7, 30))  # next morning (midnight itself is quiet hours)
    drain(service)
    assert rows(service.dbs.path, "SELECT COUNT(*) FROM outbox WHERE kind='broadcast' AND status='sent'")[0][0] == 10
    assert rows(service.dbs.path, "SELECT status FROM broadcasts ORDER BY id") == [("done",), ("done",)]


def test_every_message_names_the_sender_and_how_to_stop(service):
    subscribe(service, 1)
    send_now(service, body="Họp dân lúc 8 giờ.", encoding="accented")
    drain(service)
    text, = rows(service.dbs.path, "SELECT text FROM outbox WHERE kind='broadcast'")[0]
    assert text == "Công an xã Cốc Lầu: Họp dân lúc 8 giờ. Soạn TC gửi số này để ngừng nhận."


def test_a_number_that_left_after_the_run_fired_gets_nothing(service):
    numbers = subscribe(service, 3)
    send_now(service)
    with service.dbs.get().atomic():
        subscribers.leave(service.dbs.get(), numbers[1], "sms", service.clock.base.now())
    drain(service)
    assert rows(service.dbs.path, "SELECT number, status FROM broadcast_deliveries ORDER BY id") == [
        (numbers[0], "sent"), (numbers[1], "skipped"), (numbers[2], "sent")]


def test_replies_go_before_broadcasts_and_the_window_stays_small(service):
    subscribe(service, 50)
    send_now(service)
    service.pump()
    db = service.dbs.get()
    assert service.sender.parts_in_outbox(db) == 10
    assert service.pump().queued == 0  # full window: nothing more until the modem sends
    reply_id = outbox.enqueue(db, "+84911111111", "Trả lời menu", kind="menu", now=service.clock.base.now())
    assert outbox.next_due(db, service.clock.base.now(), worker="modem0").outbox_id == reply_id


def test_pause_takes_back_unsent_sms_resume_continues_cancel_stops(service):
    numbers = subscribe(service, 25)
    bid = send_now(service)
    service.pump()
    db = service.dbs.get()
    # one SMS is in the modem right now (claimed): pause must not take it back
    in_modem = outbox.next_due(db, service.clock.base.now(), worker="modem0")
    assert control.pause(db, bid, by="officer", now=service.clock.base.now()) == 9
    assert service.pump().queued == 0
    outbox.mark_part_sent(db, in_modem, 1, service.clock.base.now())
    assert modem_sends_everything(service) == 0
    control.resume(db, bid, by="officer", now=service.clock.base.now())
    for _ in range(2):
        service.pump()
        modem_sends_everything(service)
    control.cancel(db, bid, by="officer", now=service.clock.base.now())
    drain(service)
    counts = dict(rows(service.dbs.path, "SELECT status, COUNT(*) FROM broadcast_deliveries GROUP BY status"))
    assert counts == {"sent": 1 + 20, "cancelled": 4}
    sent_to = [n for (n,) in rows(service.dbs.path, "SELECT number FROM outbox WHERE status='sent'")]
    assert len(sent_to) == len(set(sent_to)) == 21 and set(sent_to) <= set(numbers)
    assert rows(service.dbs.path, "SELECT status FROM broadcasts")[0][0] == "cancelled"
    assert rows(service.dbs.path, "SELECT status FROM broadcast_runs")[0][0] == "cancelled"


def test_a_broadcast_part_in_the_modem_at_a_crash_is_not_sent_again_a_reply_is(service):
    subscribe(service, 3)
    send_now(service)
    service.pump()
    db, now = service.dbs.get(), service.clock.base.now()
    reply_id = outbox.enqueue(db, "+84911111111", "Trả lời", kind="menu", now=now)
    reply = outbox.next_due(db, now, worker="modem0")
    assert reply.outbox_id == reply_id
    # the gateway dies with the reply in the modem; on restart the worker settles its claims
    assert outbox.recover_claims(db, now, worker="modem0") == (1, 0)
    again = outbox.next_due(db, now, worker="modem0")
    assert again.outbox_id == reply_id  # the reply goes again (rule 2: at most one duplicate)
    outbox.mark_part_sent(db, again, 5, now)
    broadcast = outbox.next_due(db, now, worker="modem0")
    assert outbox.recover_claims(db, now, worker="modem1") == (0, 0), "another worker's claim is not ours"
    assert outbox.recover_claims(db, now, worker="modem0") == (0, 1)
    service.settle()
    status, = rows(service.dbs.path, "SELECT status FROM broadcast_deliveries WHERE outbox_id=?",
                   (broadcast.outbox_id,))[0]
    assert status == "unknown"
    assert modem_sends_everything(service) == 2  # the other two, never the one in doubt


def test_two_workers_never_take_the_same_message(service):
    subscribe(service, 4)
    send_now(service)
    service.pump()
    db, now = service.dbs.get(), service.clock.base.now()
    a = outbox.next_due(db, now, worker="modem0")
    b = outbox.next_due(db, now, worker="modem1")
    assert a.outbox_id != b.outbox_id
    # a long SMS stays with the modem that sent its first part
    long_id = outbox.enqueue(db, "+84912222222", "x" * 400, kind="officer", now=now, priority=-1)
    first = outbox.next_due(db, now, worker="modem0")
    assert (first.outbox_id, first.seq) == (long_id, 1)
    outbox.mark_part_sent(db, first, 7, now)
    assert outbox.next_due(db, now, worker="modem1").outbox_id != long_id
    assert (outbox.next_due(db, now, worker="modem0").outbox_id, 2) == (long_id, 2)


def test_quiet_until_is_the_next_seven_oclock(service):
    s = service.sender.s
    assert quiet_until(at_local(1, 23), s) == at_local(2, 7)
    assert quiet_until(at_local(2, 3), s) == at_local(2, 7)
    assert quiet_until(at_local(2, 12), s) is None


def test_a_delivery_report_reaches_the_delivery_row(service):
    subscribe(service, 2)
    send_now(service)
    drain(service)
    db = service.dbs.get()
    outbox_id = rows(service.dbs.path, "SELECT outbox_id FROM broadcast_deliveries ORDER BY id LIMIT 1")[0][0]
    # what inbox._apply_status_report does when the network confirms delivery
    db.execute("UPDATE outbox SET status='delivered', delivered_at=? WHERE id=?",
               (utcnow_iso(service.clock.base.now()), outbox_id))
    service.settle(reports=False)  # the sender's quick pass looks only at queued ones
    assert rows(service.dbs.path, "SELECT status FROM broadcast_deliveries ORDER BY id") == [("sent",), ("sent",)]
    service.tick()
    assert rows(service.dbs.path, "SELECT status FROM broadcast_deliveries ORDER BY id") == [("delivered",), ("sent",)]
    progress = rows(service.dbs.path, "SELECT status, COUNT(*) FROM broadcast_deliveries GROUP BY status")
    assert dict(progress) == {"delivered": 1, "sent": 1}
