"""Store and forward: the sync worker against a stand-in Zalo OA and the real district hub.

Both run as real HTTP servers on 127.0.0.1; the gateway's database is a real SQLite file; the
clock is a ManualClock, so a week without internet passes in a second.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import rows, wait_until
from fake_zalo import FakeZalo, add_tips
from upstream import OFFICERS, all_done, manual_clock, running, settled, statuses, sync_config

from gateway.config import Config
from gateway.sync import queue, report, zalo_tokens


def sync_state(config: Config) -> dict:
    found = rows(config.storage_path, "SELECT value FROM state WHERE key='sync'")
    return json.loads(found[0][0]) if found else {}


def assert_each_officer_once(fake: FakeZalo, references: list[str]) -> None:
    expected = sorted(f"TIN BÁO {reference}" for reference in references)
    for officer in OFFICERS:
        got = sorted(text.split("\n", 1)[0] for text in fake.texts_for(officer))
        assert got == expected, f"officer {officer}: {Counter(got) - Counter(expected)} extra, " \
                                f"{Counter(expected) - Counter(got)} missing"


def test_a_week_offline_then_every_tip_reaches_the_hub_and_every_officer_once(tmp_path, zalo, hub):
    config = sync_config(tmp_path, zalo, hub)
    zalo.stop()  # the internet is down: neither answers
    hub.stop()
    made = add_tips(config.storage_path, 1000)
    clock = manual_clock()
    with running(config, clock) as worker:
        lanes = worker.lanes
        assert wait_until(lambda: sync_state(config).get("zalo", {}).get("state") == "offline"
                          and sync_state(config).get("district", {}).get("state") == "offline", 10), sync_state(config)
        for _hour in range(7 * 24):
            before = {name: lane.checks for name, lane in lanes.items()}
            clock.advance(hours=1)
            worker.wake()
            # This hour's check made, and its back-off set from this hour's time (the counter moves
            # before the check answers: waiting on it alone would let the next advance slip in
            # between, and the lane would then wait from the later hour).
            assert wait_until(lambda before=before: all(
                lane.checks > before[name] and lane.next_try is not None and lane.next_try > clock.now()
                for name, lane in lanes.items()), 10), (
                _hour, before, {n: (ln.checks, ln.next_try, ln.failures) for n, ln in lanes.items()}, clock.now())
        # A week of back-off: about one cheap check an hour each, no request burnt on a tip.
        assert all(lane.checks <= 7 * 24 + 12 for lane in lanes.values())
        assert rows(config.storage_path, "SELECT MAX(attempts) FROM sync_queue")[0][0] == 0
        state = sync_state(config)
        assert state["zalo"]["state"] == "offline" and state["zalo"]["queued"] == 1000
        assert state["district"]["queued"] == 1000

        zalo.start()  # the link is back, on the same addresses
        hub.start()
        clock.advance(hours=1)
        worker.wake()
        assert wait_until(lambda: all_done(config, "district", 1000) and all_done(config, "zalo", 1000), 60)
        assert wait_until(lambda: sync_state(config)["zalo"]["state"] == "ok"
                          and sync_state(config)["zalo"]["queued"] == 0, 5)

    uids = hub.uids()
    assert sorted(uids) == sorted(tip.uid for tip in made) and len(uids) == len(set(uids)) == 1000
    assert_each_officer_once(zalo, [tip.reference for tip in made])
    # Oldest first: each officer got the tips in the order they came in.
    assert [t.split("\n", 1)[0] for t in zalo.texts_for("111")][:3] == [f"TIN BÁO {t.reference}" for t in made[:3]]


def test_access_token_expiring_mid_batch_is_refreshed_once(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    made = add_tips(config.storage_path, 40, destinations=("zalo",))
    zalo.expire_after(25)
    with running(config, manual_clock()):
        assert wait_until(lambda: all_done(config, "zalo", 40), 20)
    assert zalo.refreshes == 2  # the first token, then once after -220 mid-batch
    assert_each_officer_once(zalo, [tip.reference for tip in made])
    tokens = rows(config.storage_path, "SELECT source, refresh_token FROM zalo_tokens ORDER BY id")
    assert [source for source, _ in tokens] == ["config", "refresh", "refresh"]
    assert tokens[-1][1] == zalo.live_refresh  # the live refresh token is the one on disk


def test_a_refused_refresh_stops_the_mirror_until_the_oa_is_reauthorised(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    zalo.refuse_refresh = True
    made = add_tips(config.storage_path, 5, destinations=("zalo",))
    clock = manual_clock()
    with running(config, clock) as worker:
        assert wait_until(lambda: sync_state(config).get("zalo", {}).get("state") == "needs_reauth", 5), \
            sync_state(config)
        state = sync_state(config)["zalo"]
        assert "re-authorise the OA" in state["error"] and state["queued"] == 5
        refreshes_asked = zalo.requests.get("refresh", 0)
        clock.advance(days=1)
        assert settled(worker)
        assert zalo.requests.get("refresh", 0) == refreshes_asked  # stopped: no more tries
        assert statuses(config, "zalo") == Counter({"queued": 5})  # the tips wait
        assert zalo.received == []

        # An officer re-authorises the OA and pastes the new refresh token.
        zalo_tokens.seed(worker.dbs.get(), zalo.reauthorise(), clock.now(), source="officer")
        worker.wake()
        assert wait_until(lambda: all_done(config, "zalo", 5), 10)
        assert wait_until(lambda: sync_state(config)["zalo"]["state"] == "ok", 5), sync_state(config)
    assert_each_officer_once(zalo, [tip.reference for tip in made])


def test_an_unreachable_officer_is_reported_and_the_others_still_get_the_tip(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    zalo.unreachable["222"] = -213
    made = add_tips(config.storage_path, 3, destinations=("zalo",))
    with running(config, manual_clock()):
        assert wait_until(lambda: all_done(config, "zalo", 3), 10)
        assert wait_until(lambda: sync_state(config)["zalo"].get("unreachable_officers") == ["222"], 5)
    assert len(zalo.texts_for("111")) == 3 and zalo.texts_for("222") == []
    assert rows(config.storage_path, "SELECT DISTINCT status FROM zalo_deliveries WHERE officer_id='222'") == [
        ("unreachable",)]
    got = sorted(text.split("\n", 1)[0] for text in zalo.texts_for("111"))
    assert got == sorted(f"TIN BÁO {tip.reference}" for tip in made), "the reachable officer got each tip"


def test_nobody_reachable_keeps_the_tip_queued(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    zalo.unreachable.update({"111": -230, "222": -232})
    add_tips(config.storage_path, 1, destinations=("zalo",))
    with running(config, manual_clock()):
        assert wait_until(lambda: statuses(config, "zalo").get("failed") == 1, 10)
    assert rows(config.storage_path, "SELECT COUNT(*) FROM zalo_deliveries")[0][0] == 0  # tried afresh next time


def test_rate_limit_backs_off_then_sends_each_once(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    made = add_tips(config.storage_path, 6, destinations=("zalo",))
    zalo.fail("rate_limit", 1)
    clock = manual_clock()
    with running(config, clock) as worker:
        assert wait_until(lambda: sync_state(config).get("zalo", {}).get("state") == "backing_off", 5)
        assert "-32" in sync_state(config)["zalo"]["error"]
        clock.advance(seconds=10)
        worker.wake()
        assert wait_until(lambda: all_done(config, "zalo", 6), 10)
    assert_each_officer_once(zalo, [tip.reference for tip in made])


def test_bad_parameter_dead_letters_one_tip_and_the_rest_go_on(tmp_path, zalo):
    config = sync_config(tmp_path, zalo)
    made = add_tips(config.storage_path, 3, destinations=("zalo",))
    zalo.fail("bad_parameter", 1)
    with running(config, manual_clock()):
        assert wait_until(lambda: statuses(config, "zalo") == Counter({"done": 2, "dead": 1}), 10)
    dead = rows(config.storage_path, "SELECT tip_id, last_error FROM sync_queue WHERE status='dead'")
    assert dead[0][0] == made[0].id and "-201" in dead[0][1]


@pytest.mark.parametrize("fault", ["drop_after", "drop_before", "http500", "hang"])
def test_a_lost_answer_is_checked_in_the_conversation_never_sent_twice(tmp_path, zalo, fault):
    config = sync_config(tmp_path, zalo, TINBAO_SYNC_TIMEOUT="0.5")
    made = add_tips(config.storage_path, 4, destinations=("zalo",))
    zalo.fail(fault, 1)
    clock = manual_clock()
    with running(config, clock) as worker:
        assert wait_until(lambda: sync_state(config).get("zalo", {}).get("state") in ("offline", "backing_off"), 5)
        clock.advance(seconds=10)
        worker.wake()
        assert wait_until(lambda: all_done(config, "zalo", 4), 10)
    assert_each_officer_once(zalo, [tip.reference for tip in made])
    if fault in ("drop_after", "http500", "hang"):
        assert zalo.requests.get("conversation", 0) >= 1  # the answer was in doubt: it looked first


def test_the_hub_refusing_our_token_is_an_alert_and_nothing_is_marked_done(tmp_path, hub):
    config = sync_config(tmp_path, hub=hub, TINBAO_HUB_TOKEN="not-the-token")
    add_tips(config.storage_path, 5, destinations=("district",))
    with running(config, manual_clock()):
        assert wait_until(lambda: sync_state(config).get("district", {}).get("state") == "needs_reauth", 5)
    assert "hub.token" in sync_state(config)["district"]["error"]
    assert statuses(config, "district") == Counter({"queued": 5})
    assert hub.uids() == []
    refused = rows(hub.path, "SELECT count, last_detail FROM hub_refusals")
    assert refused and refused[0][0] >= 1 and "sai mã" in refused[0][1]


def test_retry_now_ends_the_back_off_at_once(tmp_path, zalo, hub):
    config = sync_config(tmp_path, zalo, hub)
    hub.stop()
    add_tips(config.storage_path, 3)
    clock = manual_clock()
    with running(config, clock) as worker:
        assert wait_until(lambda: sync_state(config).get("district", {}).get("state") == "offline", 5)
        assert wait_until(lambda: all_done(config, "zalo", 3), 10)
        hub.start()
        assert settled(worker)
        assert not all_done(config, "district", 3)  # still backing off: the clock did not move
        # The page's button: a request in the state table (the page need not hold the worker).
        db = worker.dbs.get()
        queue.retry_now(db, clock.now(), destination="district")
        report.request_retry(db, "district", clock.now())
        assert wait_until(lambda: all_done(config, "district", 3), 10)


def test_hub_decisions_come_back_and_the_tipster_is_told_once(tmp_path, hub):
    from gateway.hub import store

    config = sync_config(tmp_path, hub=hub, TINBAO_SYNC_PULL_INTERVAL="0.1")
    made = add_tips(config.storage_path, 3, destinations=("district",))
    clock = manual_clock()
    with running(config, clock):
        assert wait_until(lambda: all_done(config, "district", 3), 10)
        hub_db = hub.dbs.get()
        now = datetime.now(UTC)
        store.set_status(hub_db, made[0].uid, "handling", by="tinh.an", now=now, notify_tipster=True,
                         message=f"Tin {made[0].reference} da duoc tiep nhan. Cam on ban.", sender="Công an tỉnh")
        store.set_status(hub_db, made[1].uid, "closed", by="tinh.an", now=now)
        assert wait_until(lambda: rows(config.storage_path, "SELECT hub_status FROM tips WHERE id=?",
                                       (made[1].id,)) == [("closed",)], 10)
        pulls_before = hub.changes_served
        assert wait_until(lambda: hub.changes_served >= pulls_before + 3, 10)  # more pulls: nothing applied twice
    tip_rows = rows(config.storage_path, "SELECT reference, status, status_changed_by, hub_status, hub_status_by"
                                         " FROM tips ORDER BY id")
    by = "tinh.an, Công an tỉnh"  # the hub's officer and the hub, as the hub names itself
    # The hub's status beside the commune's, never over it: the commune's officers still see their own.
    assert tip_rows == [(made[0].reference, "new", None, "handling", by),
                        (made[1].reference, "new", None, "closed", by), (made[2].reference, "new", None, None, None)]
    sms = rows(config.storage_path, "SELECT id, number, text, kind, auto FROM outbox")
    assert [row[1:] for row in sms] == [
        ("+84910000000", "Tin CL-0001 da duoc tiep nhan. Cam on ban. - Cong an tinh", "tip_status", 0)]
    # The commune's history says who decided, and shows the SMS the villager got as a reply.
    assert rows(config.storage_path, "SELECT tip_id, by, action, old_value, new_value, outbox_id FROM tip_history"
                                     " ORDER BY id") == [
        (made[0].id, by, "hub_status", None, "handling", None), (made[0].id, by, "reply", None, "1", sms[0][0]),
        (made[1].id, by, "hub_status", None, "closed", None)]


def test_the_router_hook_queues_a_tip_in_the_same_transaction(tmp_path):
    from gateway.menus import MenuBook
    from gateway.router import Router, RouterSettings
    from gateway.storage import open_db, utcnow_iso, write_transaction
    from gateway.sync.hooks import SyncTipHook

    config = sync_config(tmp_path, TINBAO_HUB_TOKEN="t", TINBAO_ZALO_ENABLED="1", TINBAO_ZALO_OFFICER_IDS="9")
    router = Router(MenuBook.load(config.menus_path), RouterSettings(gateway_id="cl"),
                    tip_hooks=[SyncTipHook(config)])
    db = open_db(config.storage_path)
    now = datetime.now(UTC)
    with write_transaction(db):
        db.conn.execute("INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
                        (utcnow_iso(now), "+84912345678", "mobile", "TIN có người lạ mặt hỏi mua đất"))
    router.run_once(db, now)
    db.close()
    assert rows(config.storage_path, "SELECT destination, status FROM sync_queue ORDER BY destination") == [
        ("district", "queued"), ("zalo", "queued")]


def test_sweep_queues_tips_stored_before_a_destination_was_switched_on(tmp_path):
    from gateway.storage import open_db
    from gateway.sync import hooks

    config = sync_config(tmp_path)
    add_tips(config.storage_path, 4, destinations=())
    later = sync_config(tmp_path, TINBAO_HUB_TOKEN="t")
    db = open_db(config.storage_path)
    assert hooks.sweep(db, later, datetime.now(UTC)) == {"district": 4}
    assert hooks.sweep(db, later, datetime.now(UTC)) == {"district": 0}
    db.close()


def test_a_message_kept_to_confirm_stays_in_the_commune_until_confirmed(db):
    """Neither the router's hook nor the sweep queues it; confirming queues it, dismissing never."""
    from gateway import tips
    from gateway.storage import write_transaction
    from gateway.sync import queue
    from gateway.sync.hooks import enqueue_tip
    from gateway.web.tip_actions import confirm

    now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    with write_transaction(db):
        kept = [tips.create(db, gateway_id="cl", tipster=f"+8491200000{n}", text=f"có trộm bò thôn {n}",
                            inbox_id=None, now=now, to_confirm=True) for n in (1, 2)]
        sent = tips.create(db, gateway_id="cl", tipster="+84912000003", text="trộm", inbox_id=None, now=now)
    assert kept[0].to_confirm and not sent.to_confirm
    assert queue.sweep(db, "district", now) == 1  # only the tip sent with the keyword
    assert [r[0] for r in db.execute("SELECT tip_id FROM sync_queue").fetchall()] == [sent.id]
    confirm(db, kept[0].reference, "confirmed", by="officer", now=now, destinations=("district",))
    confirm(db, kept[1].reference, "dismissed", by="officer", now=now, destinations=("district",))
    assert queue.sweep(db, "district", now) == 0
    assert sorted(r[0] for r in db.execute("SELECT tip_id FROM sync_queue").fetchall()) == [kept[0].id, sent.id]
    with write_transaction(db):
        enqueue_tip(db, kept[0], now, ("district",))  # a repeat is harmless
    assert db.execute("SELECT COUNT(*) FROM sync_queue").fetchone()[0] == 2
