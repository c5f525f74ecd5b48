"""A gateway's sync worker and the real hub over HTTP: one text limit, refused tips dead with
the hub's reason, the commune's status going up, the hub's name on the gateway's pages."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

from conftest import rows, wait_until
from fake_zalo import add_tips
from upstream import hub_login, manual_clock, running, settled, statuses, sync_config

from gateway import tips
from gateway.hub import store
from gateway.storage import open_db
from gateway.web import tip_actions


def test_a_long_tip_reaches_the_hub_cut_with_a_marker_and_stays_whole_at_the_commune(tmp_path, hub):
    config = sync_config(tmp_path, hub=hub)
    long_text = "Trộm bò ở thôn Nậm Khánh. " * 1500  # 39,000 characters: a patient villager
    made = add_tips(config.storage_path, 1, destinations=("district",), text=long_text)
    with running(config, manual_clock()):
        assert wait_until(lambda: statuses(config, "district") == Counter({"done": 1}), 10)
    [(text, chars)] = rows(hub.path, "SELECT text, text_chars FROM hub_tips")
    assert len(text) == tips.UPSTREAM_TEXT_MAX == store.MAX_TEXT
    assert text.startswith(long_text[:1000]) and text.endswith("bản đầy đủ ở xã]")
    [(whole,)] = rows(config.storage_path, "SELECT text FROM tips WHERE id=?", (made[0].id,))
    assert whole.startswith(long_text) and chars == len(whole) > 39_000  # the whole text stays here


def test_a_tip_the_hub_refuses_goes_dead_with_the_hubs_reason_and_the_others_pass(tmp_path, hub):
    config = sync_config(tmp_path, hub=hub)
    made = add_tips(config.storage_path, 3, destinations=("district",))
    # The hub already holds another tip under the second uid (a gateway reinstalled from scratch).
    store.store_batch(hub.dbs.get(), "cl", [{"uid": made[1].uid, "reference": made[1].reference,
                                             "received_at": "2026-11-01T00:00:00+00:00", "text": "another"}],
                      source="online", now=datetime.now(UTC))
    clock = manual_clock()
    with running(config, clock) as worker:
        assert wait_until(lambda: statuses(config, "district") == Counter({"done": 2, "dead": 1}), 10)
        clock.advance(hours=2)  # no back-off would bring it back
        assert settled(worker)
    assert statuses(config, "district") == Counter({"done": 2, "dead": 1})
    [(attempts, error)] = rows(config.storage_path, "SELECT attempts, last_error FROM sync_queue WHERE status='dead'")
    assert attempts == 1 and error.startswith("Công an tỉnh từ chối tin này: uid conflict")


def test_a_status_set_at_the_commune_reaches_the_hub_with_the_officers_name(tmp_path, hub):
    config = sync_config(tmp_path, hub=hub, TINBAO_SYNC_PULL_INTERVAL="0.1")
    made = add_tips(config.storage_path, 2, destinations=("district",))
    db = open_db(config.storage_path)
    try:
        tip_actions.change_status(db, made[0].reference, "handling", by="xa.binh", now=datetime.now(UTC))
        with running(config, manual_clock()):
            assert wait_until(lambda: statuses(config, "district") == Counter({"done": 2}), 10)
            # The first tip went up already carrying its status; a later change goes by /api/v1/status.
            assert rows(hub.path, "SELECT commune_status FROM hub_tips ORDER BY id") == [("handling",), ("new",)]
            tip_actions.change_status(db, made[1].reference, "closed", by="xa.binh", now=datetime.now(UTC))
            assert wait_until(lambda: rows(hub.path, "SELECT commune_status, commune_status_by FROM hub_tips"
                                                     " WHERE uid=?", (made[1].uid,)) == [("closed", "xa.binh")], 10)
    finally:
        db.close()
    # The hub's own decision is untouched: the commune's is shown beside it.
    assert rows(hub.path, "SELECT status FROM hub_tips ORDER BY id") == [("new",), ("new",)]


def test_the_hub_shows_the_communes_status_on_its_pages(tmp_path, hub):
    from gateway.accounts import users

    now = datetime.now(UTC)
    db = hub.dbs.get()
    store.store_batch(db, "cl", [{"uid": "cl-1", "reference": "CL-0001", "received_at": now.isoformat(),
                                  "text": "Trộm bò", "status": "new"}], source="online", now=now)
    result = store.store_statuses(db, "cl", [{"uid": "cl-1", "status": "closed", "changed_at": now.isoformat(),
                                              "by": "xa.binh"}, {"uid": "cl-7", "status": "closed",
                                                                 "changed_at": now.isoformat()}], now=now)
    assert result.accepted == ["cl-1"] and "unknown uid" in result.rejected[0]["error"]
    users.create_user(db, "tinh.an", "mat-khau-dai", "officer")
    client = hub.app.test_client()
    hub_login(client, "tinh.an")
    assert "Ở xã: Đã xử lý xong" in client.get("/").data.decode()
    assert "xa.binh" in client.get("/tips/cl-1").data.decode()


def test_the_gateways_pages_name_the_provincial_police(tmp_path):
    from conftest import login_client, make_services

    from gateway.web import create_app

    config = sync_config(tmp_path, TINBAO_DISTRICT_TOKEN="t", TINBAO_HUB_LEVEL="Công an tỉnh")
    app = create_app(config, make_services(config.storage_path, config=config))
    client = app.test_client()
    login_client(client, config.storage_path, "admin")
    for path in ("/", "/sync"):
        html = client.get(path).data.decode()
        assert "Công an tỉnh" in html, path
        assert not re.search(r"\bhuyện", html.lower()), path  # ("district" is in data-field names only)
