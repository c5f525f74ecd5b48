"""When broadcasts fire, with a clock the test sets: the pure decision, then the tick on a database.

Local times are Asia/Ho_Chi_Minh (UTC+7): 08:00 local is 01:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ON_PAPER, make_config, rows

from gateway.broadcasts import control, subscribers
from gateway.broadcasts.scheduler import Schedule, evaluate
from gateway.broadcasts.service import BroadcastService
from gateway.clock import BUILD_DATE, ManualClock, TrustedClock, judge
from gateway.database import prepare_gateway
from gateway.service import CLOCK_EVIDENCE
from gateway.storage import ThreadLocalDb

VN = ZoneInfo("Asia/Ho_Chi_Minh")
UTC = UTC


def local(*args) -> datetime:
    return datetime(*args, tzinfo=VN)


# -- the pure decision -------------------------------------------------------------------------

def test_weekly_next_is_the_weekday_at_local_time():
    monday_8 = Schedule("weekly", VN, weekday=0, time_of_day=time(8, 0))
    # Sunday 2026-11-29 20:00 local → Monday 30th 08:00 local = 01:00 UTC
    assert monday_8.after(local(2026, 11, 29, 20, 0)) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    # at exactly Monday 08:00 the next one is a week later; "first" includes the moment itself
    assert monday_8.after(local(2026, 11, 30, 8, 0)) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    assert monday_8.first(local(2026, 11, 30, 8, 0)) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
    # Monday 07:59 local is still before
    assert monday_8.after(local(2026, 11, 30, 7, 59)) == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_monthly_day_31_falls_on_the_last_day_of_short_months():
    s = Schedule("monthly", VN, day=31, time_of_day=time(9, 30))
    assert s.after(local(2027, 2, 1)) == local(2027, 2, 28, 9, 30).astimezone(UTC)
    assert s.after(local(2027, 2, 28, 9, 30)) == local(2027, 3, 31, 9, 30).astimezone(UTC)
    assert s.after(local(2027, 4, 1)) == local(2027, 4, 30, 9, 30).astimezone(UTC)
    assert s.after(local(2027, 12, 31, 10, 0)) == local(2028, 1, 31, 9, 30).astimezone(UTC)


@pytest.mark.parametrize("day", range(1, 32))
def test_every_monthly_day_fires_on_that_day_or_the_months_last_over_two_years(day):
    """The calendar (APScheduler's triggers) against the rule written out by hand: min(day, last)."""
    import calendar

    s = Schedule("monthly", VN, day=day, time_of_day=time(19, 45))
    moment = local(2027, 12, 31, 23, 0)  # 2028 is a leap year
    for month_index in range(24):
        year, month = 2028 + month_index // 12, month_index % 12 + 1
        expected = local(year, month, min(day, calendar.monthrange(year, month)[1]), 19, 45)
        moment = s.after(moment)
        assert moment == expected.astimezone(UTC), (year, month)


def test_the_calendar_takes_the_now_it_is_given_not_the_system_clock():
    """A Pi whose system clock is years off still gets the right next firing for the trusted now."""
    friday_6 = Schedule("weekly", VN, weekday=4, time_of_day=time(6, 0))
    assert friday_6.after(local(2031, 5, 5, 12, 0)) == local(2031, 5, 9, 6, 0).astimezone(UTC)
    assert friday_6.first(local(2019, 1, 4, 6, 0)) == local(2019, 1, 4, 6, 0).astimezone(UTC)


def test_evaluate_fires_once_within_grace_and_records_older_as_missed():
    weekly = Schedule("weekly", VN, weekday=0, time_of_day=time(8, 0))
    due = local(2026, 11, 30, 8, 0)
    grace = timedelta(hours=3)
    # not yet
    assert evaluate(weekly, due, due - timedelta(seconds=1), grace).fire is None
    # on time
    on_time = evaluate(weekly, due, due + timedelta(seconds=30), grace)
    assert on_time.fire == due and on_time.missed == () and on_time.next_run_at == due + timedelta(days=7)
    # Pi off for three weeks, back 2 hours after the third Monday: that one fires, two missed
    back = due + timedelta(days=14, hours=2)
    late = evaluate(weekly, due, back, grace)
    assert late.fire == due + timedelta(days=14)
    assert late.missed == (due, due + timedelta(days=7))
    # back 4 hours after: beyond grace, all three missed, nothing fires
    too_late = evaluate(weekly, due, due + timedelta(days=14, hours=4), grace)
    assert too_late.fire is None and len(too_late.missed) == 3
    assert too_late.next_run_at == due + timedelta(days=21)


def test_once_fires_once_then_nothing():
    at = local(2026, 12, 5, 14, 0)
    once = Schedule("once", VN, at=at)
    assert once.first(local(2026, 12, 1)) == at
    firing = evaluate(once, at, at + timedelta(minutes=1), timedelta(hours=1))
    assert firing.fire == at and firing.next_run_at is None


# -- the trusted clock -------------------------------------------------------------------------

def test_clock_trusts_a_plausible_system_clock_else_the_modem_else_sms():
    good = datetime(2026, 12, 1, tzinfo=UTC)
    boot = datetime(1970, 1, 1, 0, 5, tzinfo=UTC)  # a Pi without RTC, no network yet
    assert judge(good, None, None) == judge(good, None, None).__class__(True, "system", 0.0)
    modem = (good, boot)  # the modem said "good" when our clock said "boot"
    reading = judge(boot + timedelta(minutes=1), modem, None)
    assert reading.trusted and reading.source == "modem"
    assert reading.offset_seconds == (good - boot).total_seconds()
    # a modem that never heard the network reports its power-on default: not believed
    assert judge(boot, (datetime(2004, 1, 1, tzinfo=UTC), boot), None).trusted is False
    assert judge(boot, (datetime(2080, 1, 6, tzinfo=UTC), boot), None).trusted is False
    sms = (good - timedelta(seconds=20), boot)
    assert judge(boot, None, sms).source == "sms"
    assert judge(boot, None, None).trusted is False


def test_network_time_wins_when_the_pi_is_more_than_five_minutes_off():
    from gateway.clock import trusted

    restored = datetime(2026, 12, 1, tzinfo=UTC)  # fake-hwclock: plausible, but days behind
    network = restored + timedelta(days=3)
    reading = judge(restored, (network, restored), None)
    assert reading.trusted and reading.source == "modem" and reading.offset_seconds == 3 * 86400
    assert judge(restored, (restored + timedelta(minutes=4), restored), None).source == "system"
    # The page without a published verdict judges the system clock by the same rule.
    assert trusted(None, datetime(2025, 6, 1, tzinfo=UTC)) is False
    assert trusted(None, restored) is True and trusted({"trusted": False}, restored) is False


def test_untrusted_clock_holds_schedules_until_the_modem_gives_the_time(tmp_path):
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    db = dbs.get()
    real = datetime(2026, 12, 7, 1, 0, 30, tzinfo=UTC)  # Monday 08:00:30 local
    boot = datetime(1970, 1, 1, 0, 1, tzinfo=UTC)
    clock = ManualClock(boot)
    service = BroadcastService(config, dbs, clock, clock_evidence=CLOCK_EVIDENCE)
    _subscribe(db, 3, real)
    bid = control.create(db, control.Draft("Tuần", "Cảnh báo tuần.", everyone=True, schedule="weekly", weekday=0,
                                           time_of_day="08:00"), by="test", now=real, tz=service.tz)
    db.execute("UPDATE broadcasts SET next_run_at=? WHERE id=?", (real.replace(second=0).isoformat(), bid))

    assert service.tick() == [] and not service.clock.trusted
    assert json.loads(rows(config.storage_path, "SELECT value FROM state WHERE key='clock'")[0][0]) == {
        "trusted": False, "source": "system", "offset_seconds": 0.0,
        "checked_at": boot.isoformat()}
    assert service.pump().held == "clock"

    # the modem worker publishes the network time (as ModemWorker._publish_network_time does)
    db.execute("INSERT INTO state (key, value, updated_at) VALUES ('modem_time', ?, ?)",
               (json.dumps({"network_time": real.isoformat(), "system_time": boot.isoformat()}), boot.isoformat()))
    fired = service.tick()
    assert len(fired) == 1 and service.clock.reading.source == "modem"
    assert abs((service.clock.now() - real).total_seconds()) < 1
    state = json.loads(rows(config.storage_path, "SELECT value FROM state WHERE key='clock'")[0][0])
    assert state["trusted"] is True and state["source"] == "modem" and state["offset_seconds"] > 1e9
    # outbox rows carry the system clock (the modem worker's), the delivery the true time
    service.pump()
    created, = rows(config.storage_path, "SELECT created_at FROM outbox LIMIT 1")[0]
    assert created.startswith("1970-01-01")
    assert rows(config.storage_path, "SELECT queued_at FROM broadcast_deliveries WHERE status='queued' LIMIT 1")[0][0] \
        .startswith("2026-12-07")


def test_trusted_clock_before_first_check_is_untrusted():
    clock = TrustedClock(ManualClock(BUILD_DATE + timedelta(days=30)))
    assert clock.trusted is False and clock.now() == BUILD_DATE + timedelta(days=30)


# -- the tick on a real database ----------------------------------------------------------------

@pytest.fixture
def service(tmp_path):
    config = make_config(tmp_path, TINBAO_BROADCASTS_GRACE_MINUTES="120")
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    clock = ManualClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # Sunday 19:00 local
    svc = BroadcastService(config, dbs, clock)
    yield svc
    dbs.close_all()


def _subscribe(db, count: int, now: datetime) -> None:
    with db.atomic():
        for i in range(count):
            subscribers.save_member(db, subscribers.Member(f"+8491{i:07d}", village="Na Hối"), source="officer",
                                    now=now, basis=ON_PAPER)


def test_weekly_schedule_fires_at_the_right_local_time(service):
    db, clock = service.dbs.get(), service.clock.base
    _subscribe(db, 5, clock.now())
    bid = control.create(db, control.Draft("Thứ Hai", "Cảnh báo đầu tuần.", everyone=True, schedule="weekly",
                                           weekday=0, time_of_day="08:00"),
                         by="officer", now=clock.now(), tz=service.tz)
    assert rows(service.dbs.path, "SELECT status, next_run_at FROM broadcasts")[0] == (
        "scheduled", "2026-11-30T01:00:00+00:00")  # Monday 08:00 local
    clock.set(datetime(2026, 11, 30, 0, 59, 59, tzinfo=UTC))  # 07:59:59 local
    assert service.tick() == []
    clock.set(datetime(2026, 11, 30, 1, 0, 20, tzinfo=UTC))  # 08:00:20 local, one tick later
    fired = service.tick()
    assert len(fired) == 1
    run = rows(service.dbs.path, "SELECT due_at, status, recipients, text FROM broadcast_runs")[0]
    assert run[:3] == ("2026-11-30T01:00:00+00:00", "running", 5)
    assert run[3].startswith("Cong an xa Coc Lau: Canh bao dau tuan.")  # sender first, không dấu
    assert rows(service.dbs.path, "SELECT status, next_run_at FROM broadcasts WHERE id=?", (bid,))[0] == (
        "running", "2026-12-07T01:00:00+00:00")
    assert service.tick() == []  # the same Monday never fires twice


def test_missed_schedule_inside_grace_fires_once_at_boot(service):
    db, clock = service.dbs.get(), service.clock.base
    _subscribe(db, 4, clock.now())
    control.create(db, control.Draft("Tuần", "Cảnh báo.", everyone=True, schedule="weekly", weekday=0,
                                     time_of_day="08:00"), by="officer", now=clock.now(), tz=service.tz)
    # the Pi was off from Sunday until Monday 09:30 local (90 min late, grace is 120)
    clock.set(datetime(2026, 11, 30, 2, 30, tzinfo=UTC))
    assert len(service.tick()) == 1
    assert rows(service.dbs.path, "SELECT status, due_at, fired_at FROM broadcast_runs") == [
        ("running", "2026-11-30T01:00:00+00:00", "2026-11-30T02:30:00+00:00")]


def test_missed_schedule_outside_grace_is_recorded_as_missed(service):
    db, clock = service.dbs.get(), service.clock.base
    _subscribe(db, 4, clock.now())
    bid = control.create(db, control.Draft("Tuần", "Cảnh báo.", everyone=True, schedule="weekly", weekday=0,
                                           time_of_day="08:00"), by="officer", now=clock.now(), tz=service.tz)
    # off for eight days: back on Tuesday 8 December 11:00 local
    clock.set(datetime(2026, 12, 8, 4, 0, tzinfo=UTC))
    assert service.tick() == []
    assert rows(service.dbs.path, "SELECT status, due_at, fired_at FROM broadcast_runs ORDER BY due_at") == [
        ("missed", "2026-11-30T01:00:00+00:00", None), ("missed", "2026-12-07T01:00:00+00:00", None)]
    assert rows(service.dbs.path, "SELECT COUNT(*) FROM broadcast_deliveries")[0][0] == 0
    assert rows(service.dbs.path, "SELECT status, next_run_at FROM broadcasts WHERE id=?", (bid,))[0] == (
        "scheduled", "2026-12-14T01:00:00+00:00")
    service.pump()
    assert rows(service.dbs.path, "SELECT COUNT(*) FROM outbox")[0][0] == 0


def test_once_broadcast_missed_beyond_grace_is_done_without_sending(service):
    db, clock = service.dbs.get(), service.clock.base
    _subscribe(db, 2, clock.now())
    at = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    bid = control.create(db, control.Draft("Một lần", "Họp dân.", everyone=True, schedule="once", run_at=at),
                         by="officer", now=clock.now(), tz=service.tz)
    clock.set(at + timedelta(hours=3))
    assert service.tick() == []
    assert rows(service.dbs.path, "SELECT status FROM broadcasts WHERE id=?", (bid,))[0][0] == "done"
    assert rows(service.dbs.path, "SELECT status FROM broadcast_runs")[0][0] == "missed"
