"""The retention purge on a database with a year of rows, made by the owners' own functions
under a clock the test sets: it removes exactly what the rules say (privacy.* keys), nothing
open, nothing on hold, nothing the hub has not acknowledged; the removed text leaves the file
(``secure_delete``, the WAL emptied) and the search index; the dry run counts what the purge
then removes; the nightly worker waits for its hour and for a trusted clock.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ROOT, make_config, rows

from gateway import clock as clock_rule
from gateway import duty, inbox, outbox, state, tips
from gateway.accounts import audit
from gateway.broadcasts import control
from gateway.broadcasts.service import BroadcastService
from gateway.clock import ManualClock
from gateway.database import prepare_gateway
from gateway.menus import MenuBook
from gateway.modem.types import StoredPdu
from gateway.privacy import retention
from gateway.privacy.retention import months_before
from gateway.privacy.worker import PurgeWorker, due
from gateway.router import Router, RouterSettings
from gateway.sms import pdu as pdu_codec
from gateway.storage import ThreadLocalDb, utcnow_iso, write_transaction
from gateway.sync import queue as sync_queue
from gateway.sync.hooks import SyncTipHook
from gateway.tips import history, search

START = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, a Monday
DAYS = 365
NOW = START + timedelta(days=DAYS, hours=17)  # 03:00 local time on the day after the last
OFFICER = "+84981111111"
SECRET_CHATTER = "Zqxkv bi mat tro chuyen"
SECRET_TIP = "Plonkvarg giau hang o nha kho"


def villager(n: int) -> str:
    return f"+8491{n:07d}"


def tipster(n: int) -> str:
    return f"+8497{n:07d}"


@dataclass
class Year:
    """A gateway's file after a year of work, and what the test knows of each row it made."""

    config: object
    dbs: ThreadLocalDb
    clock: ManualClock
    tips: dict[str, dict] = field(default_factory=dict)  # reference -> what happened to it

    @property
    def db(self):
        return self.dbs.get()


def _modem_sends(db, now: datetime) -> None:
    """Play the modem worker: every due part is sent (+CMGS answered)."""
    mr = 0
    while (part := outbox.next_due(db, now, worker="modem0")) is not None:
        outbox.mark_part_sent(db, part, mr % 256, now)
        mr += 1


def _deliver(db, sender: str, text: str, now: datetime, slot: int) -> None:
    """The modem worker's side: PDUs from the SIM committed to the inbox, the slots freed."""
    stored = [StoredPdu(f"SM:{slot + i}", 1, pdu) for i, pdu in
              enumerate(pdu_codec.encode_deliver(sender, text, timestamp=now, concat_ref=slot % 256))]
    result = inbox.commit_batch(db, stored, now)
    inbox.forget_slots(db, result.pdu_ids)


def build_year(tmp_path: Path, **env: str) -> Year:
    config = make_config(tmp_path, TINBAO_DISTRICT_TOKEN="hub-token", TINBAO_PRIVACY_TIP_TEXT_MONTHS="9",
                         TINBAO_PRIVACY_AUDIT_MONTHS="9", **env)
    prepare_gateway(config.storage_path)
    clock = ManualClock(START)
    dbs = ThreadLocalDb(config.storage_path)
    year = Year(config, dbs, clock)
    service = BroadcastService(config, dbs, clock)
    router = Router(MenuBook.load(config.menus_path), RouterSettings(gateway_id="cl"),
                    handlers=[service.subscriptions], tip_hooks=[duty.alert_new_tip, SyncTipHook(config)])
    db = year.db
    duty.add(db, OFFICER, "Cán bộ trực", by="admin", now=START)
    slot = 0
    for day in range(DAYS):
        now = START + timedelta(days=day)
        clock.set(now)
        texts = [(villager(day % 40), "MENU")]
        if day < 5:
            texts.append((villager(100 + day), "DK"))
        if day % 7 == 3:
            texts.append((tipster(day // 7), f"TIN co nguoi la o thon {day} {SECRET_TIP if day == 3 else ''}"))
        if day == TO_CONFIRM:
            texts.append((villager(7), SECRET_CHATTER + " " + "x" * 200))  # a long SMS: parts
        for sender, text in texts:
            _deliver(db, sender, text, now, slot)
            slot += 3
        if day == 20:  # a message the router gives up on
            failed = inbox.queued(db, 10, now)[-1][0]
            with write_transaction(db):  # as the router does, inside its transaction
                inbox.mark_failed(db, failed, "boom", now)
        router.run_once(db, now)
        if day % 30 == 15:  # a monthly warning to every subscriber
            control.create(db, control.Draft("Cảnh báo", "Không chuyển tiền cho người lạ.", everyone=True),
                           by="officer", now=now, tz=config.timezone)
            service.tick()
            for _ in range(5):
                service.pump()
                _modem_sends(db, now)
            service.settle()
        _modem_sends(db, now)
        if day == 40:  # a reply the modem gave up on
            outbox.enqueue(db, villager(3), "Tra loi thu", kind="officer", now=now, auto=False)
            part = outbox.next_due(db, now, worker="modem0")
            outbox.mark_failure(db, part, "refused", now, retryable=False, max_attempts=1, retry_base=1,
                                retry_max=1)
        _tip_work(year, db, now, day)
        audit.record(db, "officer1", "tip.status", f"day {day}", now=now)
    clock.set(NOW)
    return year


#: The tips the test treats apart, by the day (of the year) they came in.
REPLIED, ON_HOLD, OPEN, UNACKNOWLEDGED, TO_CONFIRM = (17, 80), 24, 31, 38, 12


def _tip_work(year: Year, db, now: datetime, day: int) -> None:
    """Each tip: acknowledged by the hub a day later, closed a month later, except the few the
    test keeps open, on hold or unacknowledged; one is answered by an officer; a message the
    router kept "to confirm" (it had no keyword) is dismissed the next day."""
    from gateway.web import tip_actions

    for tip in tips.recent(db, 200):
        ref = tip["reference"]
        came = (datetime.fromisoformat(tip["received_at"]) - START).days
        known = year.tips.setdefault(ref, {"id": tip["id"], "received": now, "closed": None, "acked": None,
                                           "hold": False, "day": came, "tipster": tip["tipster"]})
        if came == TO_CONFIRM:
            if known["closed"] is None and now >= known["received"] + timedelta(days=1):
                tip_actions.confirm(db, ref, tips.DISMISSED, by="officer1", now=now)
                known["closed"] = known["acked"] = now  # never goes up: nothing to acknowledge
            continue
        if known["received"] + timedelta(days=1) <= now and known["acked"] is None and came != UNACKNOWLEDGED:
            waiting = [r["id"] for r in sync_queue.rows_of_tip(db, tip["id"]) if r["status"] != "done"]
            sync_queue.mark_done(db, waiting, now)
            known["acked"] = now
        if known["received"] + timedelta(days=2) <= now and came in REPLIED and not history.replies(db, tip["id"]):
            tip_actions.reply(db, ref, "Cam on, chung toi da xac minh", khong_dau=True, by="officer1", now=now,
                              max_parts=10)
            _modem_sends(db, now)
        if known["received"] + timedelta(days=30) <= now and known["closed"] is None and came != OPEN:
            with write_transaction(db):
                tips.set_status(db, ref, "closed", by="officer1", now=now)
                history.record(db, tip["id"], now, "officer1", "status", "new", "closed")
                history.add_note(db, tip["id"], f"ghi chu {ref}", by="officer1", now=now)
                if came == ON_HOLD:
                    tips.hold(db, tip["id"], "Đang điều tra vụ trộm", by="officer1", now=now)
                    known["hold"] = True
            known["closed"] = now


@pytest.fixture(scope="module")
def year_file(tmp_path_factory):
    """The year is built once; each test copies the file (the purge changes it)."""
    folder = tmp_path_factory.mktemp("year")
    year = build_year(folder)
    year.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    year.dbs.close_all()
    return year


@pytest.fixture
def year(year_file, tmp_path) -> Year:
    import shutil

    shutil.copyfile(year_file.config.storage_path, tmp_path / "tinbao.db")
    config = make_config(tmp_path, TINBAO_DISTRICT_TOKEN="hub-token", TINBAO_PRIVACY_TIP_TEXT_MONTHS="9",
                         TINBAO_PRIVACY_AUDIT_MONTHS="9")
    dbs = ThreadLocalDb(config.storage_path)
    yield Year(config, dbs, ManualClock(NOW), year_file.tips)
    dbs.close_all()


def snapshot(path: Path) -> dict[str, list[tuple]]:
    return {
        "inbox": rows(path, "SELECT id, received_at, status, sender FROM inbox ORDER BY id"),
        "outbox": rows(path, "SELECT id, created_at, status, kind, number, in_reply_to FROM outbox ORDER BY id"),
        "tips": rows(path, "SELECT id, reference, tipster, text, inbox_id, status FROM tips ORDER BY id"),
        "tip_history": rows(path, "SELECT tip_id, outbox_id FROM tip_history WHERE outbox_id IS NOT NULL"),
        "sessions": rows(path, "SELECT number, touched_at FROM sessions"),
        "deliveries": rows(path, "SELECT d.id, d.number, d.outbox_id, r.finished_at FROM broadcast_deliveries d"
                                 " JOIN broadcast_runs r ON r.id = d.run_id"),
        "audit": rows(path, "SELECT at FROM audit_log"),
    }


def expected(year: Year, before: dict[str, list[tuple]]) -> dict[str, object]:
    """What the rules (docs/privacy.md's table) say must go at NOW, worked out from the rows."""
    messages = utcnow_iso(NOW - timedelta(days=90))
    number_cut = NOW - timedelta(days=180)
    text_cut = months_before(NOW, 9)
    texts, numbers = set(), set()
    for ref, known in year.tips.items():
        settled = known["closed"] is not None and not known["hold"] and known["acked"] is not None
        if settled and known["closed"] < text_cut and known["acked"] < text_cut:
            texts.add(ref)
        elif settled and known["closed"] < number_cut and known["acked"] < number_cut:
            numbers.add(ref)
    tip_rows = {row[1]: row for row in before["tips"]}
    gone_tip_inbox = {tip_rows[ref][4] for ref in texts | numbers}
    kept_tip_inbox = {row[4] for row in before["tips"] if row[1] not in texts | numbers}
    replied = {row[1] for row in before["tip_history"]}
    acks = {row[0] for row in before["outbox"] if row[5] in gone_tip_inbox | kept_tip_inbox}
    tip_linked = replied | acks
    old_out = {row[0] for row in before["outbox"] if row[1] < messages and row[2] != "queued"
               and row[0] not in tip_linked}
    kept_answers = {row[5] for row in before["outbox"] if row[0] not in old_out and row[5] is not None}
    old_in = {row[0] for row in before["inbox"] if row[1] < messages and row[2] in ("done", "failed")
              and row[0] not in kept_tip_inbox | gone_tip_inbox and row[0] not in kept_answers}
    return {"texts": texts, "numbers": numbers, "gone_tip_inbox": gone_tip_inbox, "old_out": old_out,
            "old_in": old_in, "tip_linked": tip_linked, "messages": messages}


def test_a_year_of_rows_loses_exactly_what_the_table_says(year):
    path = year.config.storage_path
    before = snapshot(path)
    want = expected(year, before)
    # The year made what the rules act on: old chatter, tips at every stage, broadcasts, failures.
    assert len(before["inbox"]) > 370 and len(before["tips"]) == 53 and before["deliveries"]
    assert want["texts"] and want["numbers"] and len(want["old_in"]) > 200 and len(want["old_out"]) > 200

    plan = retention.plan(year.db, year.config, NOW)
    result = retention.purge(year.db, year.config, NOW, by="test")
    after = snapshot(path)
    counts = result["counts"]
    assert plan.counts() == counts  # the dry run said what the purge did

    # Tips: texts gone after 9 months (this config), numbers after 180 days; the rest untouched.
    tips_after = {row[1]: row for row in after["tips"]}
    assert {ref for ref, row in tips_after.items() if row[3] == ""} == want["texts"]
    assert {ref for ref, row in tips_after.items() if row[2] == ""} == want["texts"] | want["numbers"]
    for ref, known in year.tips.items():
        if ref in want["texts"] | want["numbers"]:
            continue
        assert tips_after[ref][2] == known["tipster"] and tips_after[ref][3], ref  # number and text kept
        assert tips_after[ref][4] is not None  # and its message
    assert counts["tip_texts"] == len(want["texts"]) and counts["tip_numbers"] == len(want["numbers"])
    # Nothing open, on hold or unacknowledged was touched, however old.
    by_day = {known["day"]: ref for ref, known in year.tips.items()}
    for day, why in ((OPEN, "open"), (ON_HOLD, "on hold"), (UNACKNOWLEDGED, "not acknowledged by the hub")):
        ref = by_day[day]
        assert tips_after[ref][2] == year.tips[ref]["tipster"] and tips_after[ref][3], why
        assert ref not in want["texts"] | want["numbers"]
    # The oldest went the whole way; the dismissed one too, without waiting for a hub.
    assert {by_day[3], by_day[TO_CONFIRM], by_day[REPLIED[0]]} <= want["texts"]
    assert by_day[REPLIED[1]] in want["numbers"]
    replied = year.tips[by_day[REPLIED[1]]]["id"]
    assert [r["text"] for r in history.replies(year.db, replied)] == ["Cam on, chung toi da xac minh"]
    assert result["kept"] == {"tips_on_hold": 1, "tips_unacknowledged": 1}
    assert rows(path, "SELECT count(*) FROM tip_notes WHERE tip_id IN (SELECT id FROM tips WHERE text = '')") == [(0,)]

    # Messages: every settled one older than 90 days went, unless a kept tip needs it.
    inbox_left = {row[0] for row in after["inbox"]}
    assert inbox_left == {row[0] for row in before["inbox"]} - want["old_in"] - want["gone_tip_inbox"]
    outbox_left = {row[0] for row in after["outbox"]}
    gone_replies = {row[0] for row in before["outbox"] if row[5] in want["gone_tip_inbox"]}  # acknowledgements
    gone_replies |= {row[1] for row in before["tip_history"]
                     if row[0] in {year.tips[ref]["id"] for ref in want["texts"]}}
    gone_replies -= {row[1] for row in before["tip_history"]
                     if row[0] in {year.tips[ref]["id"] for ref in want["numbers"]}}  # kept, without number
    assert outbox_left == {row[0] for row in before["outbox"]} - want["old_out"] - gone_replies
    assert all(row[1] >= want["messages"] or row[2] == "queued" or row[0] in want["tip_linked"]
               for row in after["outbox"])
    # The replies of tips that lost their number keep their text, not the number; no PDU spells it.
    detached = {year.tips[ref]["id"] for ref in want["numbers"]}
    kept_replies = [row for row in after["outbox"] if row[0] in want["tip_linked"] and row[4] == ""]
    assert kept_replies and all(row[5] is None for row in kept_replies)
    assert rows(path, "SELECT count(*) FROM outbox_parts WHERE outbox_id IN (SELECT id FROM outbox"
                      " WHERE number = '')") == [(0,)]
    assert detached
    # Raw PDUs and parts only of messages still kept; sessions of numbers heard of lately.
    assert rows(path, "SELECT count(*) FROM pdus p WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.pdu_id = p.id)"
                      " AND NOT EXISTS (SELECT 1 FROM parts t WHERE t.pdu_id = p.id)") == [(0,)]
    assert rows(path, "SELECT count(*) FROM parts WHERE inbox_id NOT IN (SELECT id FROM inbox)") == [(0,)]
    assert counts["parts"] >= 2 and counts["pdus"] >= len(want["old_in"])
    assert all(touched >= want["messages"] for _, touched in after["sessions"]) and counts["sessions"] > 0
    # Broadcast deliveries of old runs keep their counts, not the number.
    old_runs = [row for row in after["deliveries"] if row[3] < want["messages"]]
    assert old_runs and all(row[1] == "" and row[2] is None for row in old_runs)
    assert all(row[1] for row in after["deliveries"] if row[3] >= want["messages"])
    # The audit log: entries older than 9 months went; the purge wrote its own, with the counts.
    cut = utcnow_iso(months_before(NOW, 9))
    assert all(at >= cut for (at,) in after["audit"]) and counts["audit"] > 0
    entry = audit.search(year.db, action="privacy.purge")[0]
    assert entry.who == "test" and '"tip_texts": ' in entry.detail and '"tips_on_hold": 1' in entry.detail
    assert retention.last(year.db)["counts"] == counts

    # A second purge at the same moment finds nothing more.
    assert {k: v for k, v in retention.purge(year.db, year.config, NOW)["counts"].items() if v} == {}


def test_removed_text_leaves_the_file_and_the_search_index(year):
    path = year.config.storage_path
    db = year.db
    assert search.list_tips(db, search.TipFilter(search=search.fts_query("plonkvarg")), limit=5)
    assert SECRET_CHATTER.encode() in raw_bytes(path)
    result = retention.purge(db, year.config, NOW)
    assert result["wal_truncated"]
    assert search.list_tips(db, search.TipFilter(search=search.fts_query("plonkvarg")), limit=5) == []
    assert search.list_tips(db, search.TipFilter(search=search.fts_query("thon")), limit=5)  # the index still works
    data = raw_bytes(path)
    assert SECRET_CHATTER.encode() not in data
    assert b"Plonkvarg" not in data and b"plonkvarg" not in data


def raw_bytes(path: Path) -> bytes:
    """The database file and its WAL as bytes on the card (what a thief with the SD card reads)."""
    found = path.read_bytes()
    wal = Path(f"{path}-wal")
    return found + (wal.read_bytes() if wal.exists() else b"")


def test_every_connection_sets_secure_delete(db):
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_months_are_calendar_months():
    assert months_before(datetime(2027, 3, 31, tzinfo=UTC), 1) == datetime(2027, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2028, 3, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert months_before(datetime(2027, 1, 15, tzinfo=UTC), 24) == datetime(2025, 1, 15, tzinfo=UTC)
    assert months_before(datetime(2027, 12, 1, tzinfo=UTC), 11) == datetime(2027, 1, 1, tzinfo=UTC)


# -- the nightly worker and the command ---------------------------------------------------------

def publish_clock(db, trusted: bool, now: datetime) -> None:
    state.put_json(db, clock_rule.STATE_KEY, {"trusted": trusted, "source": "system", "offset_seconds": 0.0,
                                             "checked_at": utcnow_iso(now)}, now)


def test_the_worker_purges_once_a_night_after_its_hour_and_only_under_a_trusted_clock(year):
    db = year.db
    clock = ManualClock(NOW.replace(hour=19))  # 02:00 local: before privacy.purge_hour (3)
    worker = PurgeWorker(year.config, year.dbs, clock, start_delay=0)
    publish_clock(db, True, clock.now())
    assert not due(year.config, db, clock.now())
    worker.tick()
    assert worker.last_result is None and retention.last(db) is None
    clock.set(NOW.replace(hour=20))  # 03:00 local
    publish_clock(db, False, clock.now())
    worker.tick()
    assert worker.last_result is None, "an untrusted clock never purges"
    publish_clock(db, True, clock.now())
    worker.tick()
    assert worker.last_result is not None and worker.last_result["counts"]["messages_in"] > 0
    first = retention.last(db)["at"]
    clock.advance(hours=5)
    worker.tick()
    assert retention.last(db)["at"] == first  # once a local day
    assert not due(year.config, db, clock.now())
    clock.advance(days=1)
    assert due(year.config, db, clock.now())


def test_the_command_prints_the_dry_run_per_kind_and_then_purges(year):
    db = year.db
    publish_clock(db, True, datetime.now(UTC))
    env = {"TINBAO_STORAGE_PATH": str(year.config.storage_path), "TINBAO_DISTRICT_TOKEN": "hub-token",
           "TINBAO_PRIVACY_MESSAGES_DAYS": "30", "PATH": "/usr/bin:/bin"}
    before = rows(year.config.storage_path, "SELECT count(*) FROM inbox")[0][0]
    dry = subprocess.run([sys.executable, "app.py", "purge", "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    lines = {line.split()[1]: int(line.split()[0]) for line in dry.stdout.splitlines()[1:]}
    assert set(retention.KINDS) <= set(lines) and lines["messages_in"] > 0
    assert rows(year.config.storage_path, "SELECT count(*) FROM inbox")[0][0] == before  # nothing removed
    done = subprocess.run([sys.executable, "app.py", "purge"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    removed = {line.split()[1]: int(line.split()[0]) for line in done.stdout.splitlines()[1:]
               if line.split()[0].isdigit()}
    assert removed["messages_in"] == lines["messages_in"]
    assert rows(year.config.storage_path, "SELECT count(*) FROM inbox")[0][0] < before
    assert audit.search(db, action="privacy.purge")[0].who == "cli"


def test_the_command_refuses_under_an_untrusted_clock(year):
    publish_clock(year.db, False, datetime.now(UTC))
    env = {"TINBAO_STORAGE_PATH": str(year.config.storage_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "app.py", "purge", "--dry-run"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "clock is not trusted" in out.stderr


# -- hold ---------------------------------------------------------------------------------------

def test_a_hold_needs_a_reason_and_keeps_the_tip_until_lifted(db):
    now = START
    with write_transaction(db):
        tip = tips.create(db, gateway_id="cl", tipster=tipster(1), text="trom bo", inbox_id=None, now=now)
    with pytest.raises(ValueError):
        tips.hold(db, tip.id, "   ", by="officer1", now=now)
    tips.hold(db, tip.id, "Vụ án đang điều tra", by="officer1", now=now)
    tips.set_status(db, tip.reference, "closed", by="officer1", now=now)
    assert tips.detach_numbers(db, [tip.id], now + timedelta(days=999)) == []
    assert tips.purge_texts(db, [tip.id], now + timedelta(days=999)) == []
    tips.release_hold(db, tip.id)
    assert tips.detach_numbers(db, [tip.id], now + timedelta(days=999)) == [(tip.id, None)]
    assert tips.get(db, tip.id)["tipster"] == ""
