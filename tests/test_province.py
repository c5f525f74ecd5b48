"""The province's warnings and campaigns, one part at a time: the hub's store and door, the
gateway's copy (acceptance, versions, one broadcast per campaign), the progress that goes up,
the USB file, and both sides' pages. The same parts over real HTTP with real processes, killed
on both sides, are in test_province_live.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ON_PAPER, login_client, make_config, make_services, rows
from fake_zalo import HubServer

from gateway.accounts import users
from gateway.broadcasts import campaigns, control, province, subscribers
from gateway.broadcasts.library import Library
from gateway.database import prepare_gateway
from gateway.hub import campaigns as hub_campaigns
from gateway.hub import province_file
from gateway.hub import warnings as hub_warnings
from gateway.storage import open_db, write_transaction
from gateway.sync import province as province_sync
from gateway.sync.sneakernet import SneakernetError, TamperedFile

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # 10:00 in Lào Cai
ACCENTED = ("Cảnh giác: kẻ gian gọi điện giả danh công an, đòi chuyển tiền để “xóa án”."
            " Công an không làm việc qua điện thoại.")
NUMBERS = [f"+8491300{i:04d}" for i in range(12)]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    server = HubServer(tmp_path)  # cl and bh, each with its token; not serving (test clients)
    yield server
    server.close()


@pytest.fixture
def hub_db(hub):
    return hub.dbs.get()


def write_warning(hub_db, *, title: str = "Giả danh công an", accented: str = ACCENTED, by: str = "tinh.an",
                  now: datetime = NOW, warning_id: int | None = None) -> int:
    return hub_warnings.save(hub_db, title=title, accented=accented, plain=hub_warnings.suggested_khong_dau(accented),
                             by=by, now=now, warning_id=warning_id)


def schedule(hub_db, warning_id: int, *, communes: list[str] | None = None, starts: datetime = NOW,
             ends: datetime = NOW + timedelta(days=2), now: datetime = NOW) -> int:
    return hub_campaigns.schedule(hub_db, warning_id=warning_id, encoding="khong_dau", communes=communes,
                                  starts_at=starts, ends_at=ends, by="tinh.an", now=now, known=["cl", "bh"])


@pytest.fixture
def gateway_db(tmp_path: Path):
    path = tmp_path / "gw.db"
    prepare_gateway(path)
    db = open_db(path)
    with write_transaction(db):
        for number in NUMBERS:
            subscribers.save_member(db, subscribers.Member(number, village="Na Hối"), source="import", now=NOW,
                                    basis=ON_PAPER)
    yield db
    db.close()


def cfg(tmp_path: Path, **env: str):
    return make_config(tmp_path, TINBAO_STORAGE_PATH=str(tmp_path / "gw.db"), **env)


def take_from_hub(hub_db, gateway_db, config, gateway_id: str = "cl", now: datetime = NOW):
    """What the gateway's pull would take, straight from the hub's store (the HTTP is in _live)."""
    found, _ = hub_warnings.since(hub_db, 0, 500)
    got = province.apply(gateway_db, found, now, via="sync", auto_accept=config.broadcasts.accept_province,
                         hub_name="Công an tỉnh Lào Cai")
    items, _ = hub_campaigns.for_gateway_since(hub_db, gateway_id, 0, 500)
    return got, campaigns.apply(gateway_db, items, now, via="sync", tz=config.timezone, hub_name="Công an tỉnh Lào Cai")


# -- the hub's warnings ------------------------------------------------------------------------

def test_a_warning_edited_is_a_new_version_with_a_new_change_number(hub_db):
    first = write_warning(hub_db)
    other = write_warning(hub_db, title="Việc làm online", accented="Cảnh giác việc làm online trả tiền trước.")
    assert [(w["id"], w["version"], w["seq"]) for w in hub_warnings.since(hub_db, 0, 10)[0]] == [
        (first, 1, 1), (other, 1, 2)]
    write_warning(hub_db, warning_id=first, accented=ACCENTED + " Gọi 113.")
    write_warning(hub_db, warning_id=first, accented=ACCENTED + " Gọi 113.")  # the same text again: nothing
    found, last = hub_warnings.since(hub_db, 2, 10)
    assert [(w["id"], w["version"], w["seq"]) for w in found] == [(first, 2, 3)] and last == 3
    assert hub_warnings.since(hub_db, 3, 10) == ([], 3)


def test_the_hub_editor_keeps_the_commune_editors_size_guard(hub_db):
    with pytest.raises(hub_warnings.WarningError, match="quá dài"):
        write_warning(hub_db, accented="Lừa đảo. " * 200)
    with pytest.raises(hub_warnings.WarningError, match="không dấu còn ký tự có dấu"):
        hub_warnings.save(hub_db, title="T", accented=ACCENTED, plain="Cảnh giác", by="a", now=NOW)
    with pytest.raises(hub_warnings.WarningError, match="tiêu đề"):
        write_warning(hub_db, title="  ")
    # The same guard as the commune's compose form: one function, not a copy.
    draft = control.Draft(title="x", body="Lừa đảo. " * 200, everyone=True)
    assert "Nội dung quá dài (tối đa 1000 ký tự)." in draft.problems(NOW)


# -- the door: pulls need the gateway's token; campaigns go to the communes they name -----------

def pull(client, path: str, token: str | None = "token-cl", since: int = 0):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"{path}?since={since}", headers=headers)


def test_warnings_and_campaigns_are_pulled_with_the_gateways_token_only(hub, hub_db):
    client = hub.app.test_client()
    warning = write_warning(hub_db)
    for_bh = schedule(hub_db, warning, communes=["bh"])
    for_all = schedule(hub_db, warning)
    assert pull(client, "/api/v1/warnings", None).status_code == 401
    assert pull(client, "/api/v1/campaigns", "wrong").status_code == 401
    assert client.get("/api/v1/warnings?since=-1", headers={"Authorization": "Bearer token-cl"}).status_code == 400
    answer = pull(client, "/api/v1/warnings").get_json()
    assert [w["id"] for w in answer["warnings"]] == [warning] and answer["hub"] == "Công an tỉnh"
    cl = pull(client, "/api/v1/campaigns").get_json()
    bh = pull(client, "/api/v1/campaigns", "token-bh").get_json()
    assert [c["id"] for c in cl["campaigns"]] == [for_all]
    assert [c["id"] for c in bh["campaigns"]] == [for_bh, for_all]
    assert cl["campaigns"][0]["warning"]["accented"] == ACCENTED
    assert pull(client, "/api/v1/campaigns", since=cl["last_seq"]).get_json()["campaigns"] == []


# -- the gateway's copy of the warnings ----------------------------------------------------------

def test_a_province_warning_waits_for_an_officer_and_a_changed_one_waits_again(tmp_path, hub_db, gateway_db):
    config = cfg(tmp_path)
    warning = write_warning(hub_db)
    got, _ = take_from_hub(hub_db, gateway_db, config)
    assert got.new == [warning]
    assert province.get(gateway_db, warning)["status"] == "waiting"
    assert province.usable(gateway_db) == []
    province.accept(gateway_db, warning, version=1, by="xa.binh", now=NOW)
    assert [w.id for w in province.usable(gateway_db)] == [f"tinh-{warning}"]

    write_warning(hub_db, warning_id=warning, accented=ACCENTED + " Gọi ngay 113.")
    got, _ = take_from_hub(hub_db, gateway_db, config)
    assert got.changed == [warning]
    row = province.get(gateway_db, warning)
    assert (row["version"], row["status"], row["accepted_version"]) == (2, "waiting", None)
    assert province.usable(gateway_db) == []
    with pytest.raises(province.ProvinceError, match="bản mới"):
        province.accept(gateway_db, warning, version=1, by="xa.binh", now=NOW)  # read the old text
    # An older version arriving late (a USB file written before) changes nothing.
    old = {"id": warning, "version": 1, "title": "cũ", "accented": "cũ", "khong_dau": "cu"}
    assert province.apply(gateway_db, [old], NOW, via="usb", auto_accept=False).count == 0
    assert province.get(gateway_db, warning)["accented"].endswith("Gọi ngay 113.")


def test_with_accept_province_a_warning_is_taken_at_once(tmp_path, hub_db, gateway_db):
    config = cfg(tmp_path, TINBAO_BROADCASTS_ACCEPT_PROVINCE="true")
    warning = write_warning(hub_db)
    take_from_hub(hub_db, gateway_db, config)
    row = province.get(gateway_db, warning)
    assert (row["status"], row["accepted_by"]) == ("accepted", "broadcasts.accept_province")


def test_the_communes_own_warnings_stay_its_own(tmp_path, hub_db, gateway_db):
    library = Library.load()
    own = dict(library.warnings)
    # The hub names a warning like one of the commune's files: it lives apart, as tinh-<id>.
    write_warning(hub_db, title=own["05_gia_nguoi_than"].title, accented="Bản của tỉnh.")
    take_from_hub(hub_db, gateway_db, cfg(tmp_path))
    assert Library.load().warnings == own
    assert province.parse_library_id("05_gia_nguoi_than") is None
    assert province.usable_one(gateway_db, "05_gia_nguoi_than") is None


def test_a_bad_warning_from_the_hub_is_refused_and_the_others_kept(gateway_db):
    good = {"id": 7, "version": 1, "title": "Tốt", "accented": "Cảnh giác.", "khong_dau": "Canh giac."}
    bad = [{"id": 8, "version": 1, "title": "", "accented": "x", "khong_dau": "x"},
           {"id": 9, "version": 1, "title": "t", "accented": "x", "khong_dau": "có dấu"},
           {"id": True, "version": 1}, "nonsense", {"id": 10, "version": 1, "title": "t", "accented": "x" * 1001,
                                                    "khong_dau": "x"}]
    got = province.apply(gateway_db, [*bad, good], NOW, via="sync", auto_accept=False)
    assert got.new == [7] and len(got.refused) == 5


# -- a campaign becomes one local broadcast ------------------------------------------------------

def test_a_campaign_becomes_exactly_one_broadcast_however_often_it_arrives(tmp_path, hub_db, gateway_db):
    config = cfg(tmp_path)
    campaign = schedule(hub_db, write_warning(hub_db), starts=NOW + timedelta(hours=1))
    for _ in range(3):
        take_from_hub(hub_db, gateway_db, config)
    # And again by a USB file written for this post.
    path = tmp_path / "tinh.json"
    path.write_bytes(province_file.build(hub_db, cfg(tmp_path, TINBAO_HUB_GATEWAYS="cl:token-cl"), "cl", NOW))
    province_sync.import_file(gateway_db, cfg(tmp_path, TINBAO_HUB_TOKEN="token-cl"), path, NOW)
    [row] = rows(Path(gateway_db.conn.execute("PRAGMA database_list").fetchone()[2]),
                 "SELECT id, broadcast_id, status FROM province_campaigns")
    assert row[0] == campaign and row[2] == "broadcast"
    [broadcast] = list(gateway_db.query("SELECT * FROM broadcasts"))
    assert broadcast["id"] == row[1] and broadcast["all_subscribers"] == 1 and broadcast["schedule"] == "once"
    assert broadcast["run_at"] == (NOW + timedelta(hours=1)).isoformat()
    assert broadcast["title"] == "Công an tỉnh Lào Cai: Giả danh công an"
    assert broadcast["warning_id"] == "tinh-1" and broadcast["status"] == "scheduled"
    # A gateway off at the start still sends once it is up inside the window.
    assert broadcast["grace_minutes"] == pytest.approx(47 * 60)


def test_a_campaign_first_heard_of_after_its_window_is_missed(tmp_path, hub_db, gateway_db):
    config = cfg(tmp_path)
    campaign = schedule(hub_db, write_warning(hub_db), starts=NOW - timedelta(days=3), ends=NOW - timedelta(days=1),
                        now=NOW - timedelta(days=4))
    take_from_hub(hub_db, gateway_db, config)
    row = campaigns.get(gateway_db, campaign)
    assert row["status"] == "missed" and row["broadcast_id"] is None
    assert list(gateway_db.query("SELECT id FROM broadcasts")) == []
    [item] = campaigns.progress_section(gateway_db, NOW, price_per_part=350)["items"]
    assert item["status"] == "missed" and item["recipients"] == 0


def test_a_gateway_off_for_the_whole_window_records_the_campaign_missed(tmp_path, hub_db, gateway_db):
    """Heard of in time, but the Pi was off from before the start until after the end."""
    from gateway.broadcasts.service import BroadcastService
    from gateway.clock import ManualClock
    from gateway.storage import ThreadLocalDb

    config = cfg(tmp_path)
    campaign = schedule(hub_db, write_warning(hub_db), starts=NOW + timedelta(hours=1), ends=NOW + timedelta(hours=9))
    take_from_hub(hub_db, gateway_db, config)
    clock = ManualClock(NOW + timedelta(hours=10))  # the next boot
    dbs = ThreadLocalDb(gateway_db_path(gateway_db))
    service = BroadcastService(config, dbs, clock)
    service.tick()
    assert service.pump().queued == 0
    item = campaigns.heartbeat_section(dbs.get(), config, clock.now())["items"][0]
    assert item["id"] == campaign and item["status"] == "missed" and item["sent"] == 0
    assert campaigns.get(dbs.get(), campaign)["status"] == "closed"
    dbs.close_all()


def test_cancelled_by_the_hub_the_broadcast_stops(tmp_path, hub_db, gateway_db):
    config = cfg(tmp_path)
    campaign = schedule(hub_db, write_warning(hub_db), starts=NOW + timedelta(hours=1))
    take_from_hub(hub_db, gateway_db, config)
    hub_campaigns.cancel(hub_db, campaign, by="tinh.an", now=NOW)
    take_from_hub(hub_db, gateway_db, config)
    row = campaigns.get(gateway_db, campaign)
    assert row["status"] == "cancelled"
    assert control.get(gateway_db, row["broadcast_id"])["status"] == "cancelled"


def test_a_campaign_keeps_the_communes_rules_and_closes_with_its_window(tmp_path, hub_db, gateway_db):
    """Fired by the commune's own broadcast tick, sent by its own sender: its per-day cap and
    quiet hours hold; at the window's end what has not gone out is cancelled."""
    from gateway.broadcasts.service import BroadcastService
    from gateway.clock import ManualClock
    from gateway.storage import ThreadLocalDb

    config = cfg(tmp_path, TINBAO_BROADCASTS_WINDOW_PARTS="1000")
    clock = ManualClock(NOW)
    dbs = ThreadLocalDb(gateway_db_path(gateway_db))
    service = BroadcastService(config, dbs, clock)
    db = dbs.get()
    # This morning the commune's own warning went to the first four (broadcasts.per_day = 1).
    with write_transaction(db):
        for number in NUMBERS[:4]:
            subscribers.save_member(db, subscribers.Member(number, labels=["Tổ 1"]), source="officer", now=NOW,
                                    basis=ON_PAPER)
        group = subscribers.find_group(db, "Tổ 1")[0]
    control.create(db, control.Draft("Của xã", "Tin của xã.", group_ids=[group]), by="xa", now=NOW, tz=config.timezone)
    service.tick()
    assert service.pump().queued == 4
    campaign = schedule(hub_db, write_warning(hub_db), starts=NOW - timedelta(hours=1), ends=NOW + timedelta(hours=20))
    take_from_hub(hub_db, db, config)
    service.tick()
    service.pump()
    [item] = campaigns.heartbeat_section(db, config, clock.now())["items"]
    assert item["status"] == "running" and item["recipients"] == len(NUMBERS)
    assert item["queued"] == len(NUMBERS) - 4 and item["pending"] == 4 and item["held"] == "per_day"
    modem_sends_everything(db, clock)
    service.settle()
    assert campaigns.heartbeat_section(db, config, clock.now())["items"][0]["sent"] == len(NUMBERS) - 4
    clock.advance(hours=12)  # 22:00 in Lào Cai: quiet hours hold what is left
    service.tick()
    assert service.pump().held == "quiet"
    assert campaigns.heartbeat_section(db, config, clock.now())["items"][0]["held"] == "quiet"
    clock.advance(hours=9)  # 07:00 the next day: the window ended at 06:00
    service.tick()
    assert campaigns.get(db, campaign)["status"] == "closed"
    item = campaigns.heartbeat_section(db, config, clock.now())["items"][0]
    assert item["status"] == "closed" and item["cancelled"] == 4 and item["pending"] == 0
    assert service.pump().queued == 0  # nothing of the campaign goes out after its window
    dbs.close_all()


def modem_sends_everything(db, clock) -> None:
    """Play the modem worker: every due part is sent (test_broadcast_rules does the same)."""
    from gateway import outbox

    sent = 0
    while (part := outbox.next_due(db, clock.now(), worker="modem0")) is not None:
        outbox.mark_part_sent(db, part, sent % 256, clock.now())
        sent += 1


def gateway_db_path(db) -> Path:
    return Path(db.conn.execute("PRAGMA database_list").fetchone()[2])


# -- progress: counts only, to the hub -----------------------------------------------------------

def test_progress_holds_no_number_and_the_hub_shows_missed_and_cost(tmp_path, hub, hub_db, gateway_db):
    config = cfg(tmp_path)
    warning = write_warning(hub_db)
    running = schedule(hub_db, warning)
    past = schedule(hub_db, warning, communes=["cl"], starts=NOW - timedelta(days=2), ends=NOW - timedelta(days=1),
                    now=NOW - timedelta(days=3))
    take_from_hub(hub_db, gateway_db, config)
    control.fire_due(gateway_db, NOW, config.timezone, timedelta(hours=3),
                     _starter(config), lambda *a: None)
    section = campaigns.heartbeat_section(gateway_db, config, NOW)
    text = json.dumps(section, ensure_ascii=False)
    assert not any(number[3:] in text for number in NUMBERS) and "Cảnh giác" not in text
    assert section["price_per_part"] == 350
    assert hub_campaigns.take_progress(hub_db, "cl", section, reported_at=NOW, now=NOW) == 2
    # bh never said a word: inside the window "no news", after it "missed".
    seen = hub_campaigns.overview(hub_db, hub_campaigns.get(hub_db, running), ["cl", "bh"], NOW)
    states = {r["gateway_id"]: r["state"] for r in seen["rows"]}
    assert states == {"bh": "no_news", "cl": "running"}
    cl = next(r for r in seen["rows"] if r["gateway_id"] == "cl")
    assert cl["recipients"] == len(NUMBERS) and cl["parts"] == 2  # the commune's name and the stop line added
    assert cl["cost"] == len(NUMBERS) * 2 * 350
    assert seen["total"]["cost"] == cl["cost"]
    later = hub_campaigns.overview(hub_db, hub_campaigns.get(hub_db, running), ["cl", "bh"], NOW + timedelta(days=3))
    assert {r["gateway_id"]: r["state"] for r in later["rows"]}["bh"] == "missed" and later["missed"] == 1
    assert {r["gateway_id"]: r["state"] for r in hub_campaigns.overview(
        hub_db, hub_campaigns.get(hub_db, past), ["cl", "bh"], NOW)["rows"]} == {"cl": "missed"}
    # An older heartbeat (a USB file carried late) does not undo a newer word; a campaign not
    # addressed to the gateway and junk items are skipped.
    stale = {"price_per_part": 1, "items": [{**section["items"][0], "status": "scheduled", "recipients": 0}]}
    assert hub_campaigns.take_progress(hub_db, "cl", stale, reported_at=NOW - timedelta(hours=1), now=NOW) == 0
    assert hub_campaigns.take_progress(hub_db, "bh", {"items": [{"id": past, "status": "done"}, {"id": "x"},
                                                                 {"id": running, "status": "hacked"}]},
                                       reported_at=NOW, now=NOW) == 0


def _starter(config):
    from gateway.broadcasts.library import Composer
    from gateway.broadcasts.runs import RunStarter

    return RunStarter(Composer.from_config(config, Library.load()))


# -- the USB file --------------------------------------------------------------------------------

def test_the_usb_file_is_for_one_post_and_refused_when_altered(tmp_path, hub_db, gateway_db):
    hub_config = cfg(tmp_path, TINBAO_HUB_GATEWAYS="cl:token-cl,bh:token-bh")
    config = cfg(tmp_path, TINBAO_HUB_TOKEN="token-cl")
    warning = write_warning(hub_db)
    schedule(hub_db, warning, communes=["bh"])
    campaign = schedule(hub_db, warning, communes=["cl"])
    path = tmp_path / "cl.json"
    path.write_bytes(province_file.build(hub_db, hub_config, "cl", NOW))
    got = province_sync.import_file(gateway_db, config, path, NOW)
    assert (got.warnings, got.campaigns) == (1, 1)
    assert [c["id"] for c in campaigns.listing(gateway_db)] == [campaign]
    assert province.get(gateway_db, warning)["received_via"] == "usb"
    again = province_sync.import_file(gateway_db, config, path, NOW)
    assert (again.warnings, again.campaigns) == (0, 0)

    other = tmp_path / "bh.json"
    other.write_bytes(province_file.build(hub_db, hub_config, "bh", NOW))
    with pytest.raises(TamperedFile):  # signed with bh's token: cl's cannot check it
        province_sync.import_file(gateway_db, config, other, NOW)
    with pytest.raises(SneakernetError, match="written for gateway 'bh'"):
        province_sync.import_file(gateway_db, cfg(tmp_path, TINBAO_HUB_TOKEN="token-bh"), other, NOW)
    altered = tmp_path / "altered.json"
    altered.write_text(path.read_text(encoding="utf-8").replace("Giả danh", "Giả dạng"), encoding="utf-8")
    with pytest.raises(TamperedFile, match="signature"):
        province_sync.import_file(gateway_db, config, altered, NOW)
    with pytest.raises(SneakernetError, match="not a TinBao"):
        tips = tmp_path / "tips.json"
        tips.write_text(json.dumps({"format": "tinbao-tips", "version": 1}), encoding="utf-8")
        province_sync.import_file(gateway_db, config, tips, NOW)
    with pytest.raises(SneakernetError, match=r"not in hub\.gateways"):
        province_file.build(hub_db, hub_config, "xx", NOW)


# -- the gateway's page --------------------------------------------------------------------------

@pytest.fixture
def commune(tmp_path: Path, hub_db):
    """The commune's page on a database that has received one province warning."""
    from gateway.web import create_app

    config = make_config(tmp_path, TINBAO_STORAGE_PATH=str(tmp_path / "page.db"))
    prepare_gateway(config.storage_path)
    db = open_db(config.storage_path)
    warning = write_warning(hub_db)
    province.apply(db, hub_warnings.since(hub_db, 0, 10)[0], NOW, via="sync", auto_accept=False,
                   hub_name="Công an tỉnh Lào Cai")
    db.close()
    app = create_app(config, make_services(config.storage_path, config=config))
    app.testing = True
    return app, config, warning


def test_an_officer_accepts_a_province_warning_on_the_page_and_it_is_audited(commune):
    app, config, warning = commune
    client = app.test_client()
    user = login_client(client, config.storage_path, "officer")
    page = client.get("/broadcasts/province/").get_data(as_text=True)
    assert "Công an tỉnh Lào Cai" in page and "Chờ duyệt" in page and f'id="accept-{warning}"' in page
    assert re.search(r'id="province-waiting"[^>]*>1<', client.get("/broadcasts/").get_data(as_text=True))
    compose = client.get("/broadcasts/new").get_data(as_text=True)
    assert f'value="tinh-{warning}"' not in compose
    # Choosing it anyway (a form kept from before) is refused: not accepted yet.
    refused = client.post("/broadcasts/new", data={"warning_id": f"tinh-{warning}", "title": "t", "body": ACCENTED,
                                                   "everyone": "1", "action": "send"})
    assert refused.status_code == 422 and "chưa được duyệt" in refused.get_data(as_text=True)

    answer = client.post(f"/broadcasts/province/{warning}/accept", data={"version": "1"})
    assert answer.status_code == 303
    assert rows(config.storage_path, "SELECT who, action, target FROM audit_log WHERE action LIKE 'province%'") == [
        (user, "province_warning.accept", f"tinh-{warning}")]
    compose = client.get("/broadcasts/new").get_data(as_text=True)
    assert f'value="tinh-{warning}"' in compose and "Công an tỉnh (đã duyệt)" in compose
    assert 'id="province-waiting"' not in compose
    confirm = client.post("/broadcasts/new", data={"warning_id": f"tinh-{warning}", "title": "t", "body": ACCENTED,
                                                   "everyone": "1", "action": "send"})
    assert confirm.status_code == 200 and "Canh giac: ke gian goi dien" in confirm.get_data(as_text=True)


def test_a_viewer_cannot_accept_and_the_page_works_in_english(commune):
    app, config, warning = commune
    client = app.test_client()
    login_client(client, config.storage_path, "viewer")
    assert client.post(f"/broadcasts/province/{warning}/accept", data={"version": "1"}).status_code == 403
    page = client.get("/broadcasts/province/?lang=en").get_data(as_text=True)
    assert "Waiting for approval" in page and "Province-wide campaigns" in page


def test_the_usb_file_is_taken_in_on_the_page(commune, hub_db, tmp_path):
    app, config, _ = commune
    app.extensions["tinbao"]["config"] = make_config(tmp_path, TINBAO_STORAGE_PATH=str(config.storage_path),
                                                     TINBAO_HUB_TOKEN="token-cl")
    schedule(hub_db, 1)
    data = province_file.build(hub_db, cfg(tmp_path, TINBAO_HUB_GATEWAYS="cl:token-cl"), "cl", NOW)
    client = app.test_client()
    login_client(client, config.storage_path, "officer")
    import io

    answer = client.post("/broadcasts/province/upload", data={"file": (io.BytesIO(data), "tinh.json")},
                         content_type="multipart/form-data", follow_redirects=True)
    assert "1 chiến dịch" in answer.get_data(as_text=True)
    assert rows(config.storage_path, "SELECT COUNT(*) FROM broadcasts") == [(1,)]
    bad = client.post("/broadcasts/province/upload", data={"file": (io.BytesIO(data.replace(b"Gi", b"gi")), "x.json")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "Tệp bị từ chối" in bad.get_data(as_text=True)
    assert [a for (a,) in rows(config.storage_path, "SELECT action FROM audit_log WHERE action LIKE 'province%'")] == [
        "province.import", "province.import_refused"]


# -- the hub's pages -----------------------------------------------------------------------------

def hub_login(hub, role: str):
    from upstream import hub_login as login

    users.create_user(hub.dbs.get(), f"tinh.{role}", "mat-khau-dai", role)
    client = hub.app.test_client()
    login(client, f"tinh.{role}")
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/province/warnings").get_data(as_text=True))
    client.environ_base["HTTP_X_CSRFTOKEN"] = token.group(1)
    return client


def test_hub_admins_write_warnings_and_schedule_campaigns_on_the_page(hub):
    admin = hub_login(hub, "admin")
    preview = admin.post("/province/warnings/preview.json", data={"title": "T", "accented": ACCENTED,
                                                                   "khong_dau_auto": "1"}).get_json()
    assert preview["khong_dau_suggested"].startswith("Canh giac: ke gian goi dien gia danh cong an")
    assert preview["khong_dau"]["parts"] == 2 and preview["accented"]["parts"] == 3  # 168 characters each
    assert preview["problems"] == []
    long = admin.post("/province/warnings/preview.json", data={"title": "T", "accented": "Lừa " * 300}).get_json()
    assert long["problems"][0] == "Nội dung quá dài (tối đa 1000 ký tự)."

    saved = admin.post("/province/warnings/new", data={"title": "Giả danh công an", "accented": ACCENTED,
                                                       "khong_dau": "", "khong_dau_auto": "1", "action": "save"})
    assert saved.status_code == 303
    db = hub.dbs.get()
    [warning] = hub_warnings.listing(db)
    assert warning["khong_dau"] == hub_warnings.suggested_khong_dau(ACCENTED)
    edited = admin.post(f"/province/warnings/{warning['id']}", data={
        "title": "Giả danh công an", "accented": ACCENTED, "khong_dau": "Canh giac! Goi 113.", "action": "save"})
    assert edited.status_code == 303
    assert hub_warnings.get(db, warning["id"])["version"] == 2
    assert hub_warnings.get(db, warning["id"])["khong_dau"] == "Canh giac! Goi 113."

    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    made = admin.post("/province/campaigns/new", data={"warning": str(warning["id"]), "encoding": "khong_dau",
                                                       "commune": ["bh"], "starts_on": today.isoformat(),
                                                       "ends_on": (today + timedelta(days=3)).isoformat()})
    assert made.status_code == 303, made.get_data(as_text=True)
    [campaign] = hub_campaigns.listing(db)
    assert campaign["communes"] == ["bh"] and campaign["all_communes"] == 0
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC) - timedelta(hours=7)  # 00:00 in Lào Cai
    assert campaign["starts_at"] == midnight.isoformat()
    assert campaign["ends_at"] == (midnight + timedelta(days=4)).isoformat()  # the end of the last day
    page = admin.get(f"/province/campaigns/{campaign['id']}").get_data(as_text=True)
    assert 'data-commune="bh"' in page and 'data-commune="cl"' not in page
    wrong = admin.post("/province/campaigns/new", data={"warning": str(warning["id"]), "commune": ["zz"],
                                                        "starts_on": today.isoformat(),
                                                        "ends_on": (today - timedelta(days=1)).isoformat()})
    assert wrong.status_code == 422 and "Ngày kết thúc phải sau ngày bắt đầu" in wrong.get_data(as_text=True)
    actions = [a for (a,) in db.execute("SELECT action FROM audit_log WHERE action LIKE 'province%' ORDER BY id")]
    assert actions == ["province.warning.save", "province.warning.save", "province.campaign.schedule"]
    usb = admin.get("/province/usb/bh")
    assert usb.status_code == 200 and json.loads(usb.data)["gateway_id"] == "bh"
    assert admin.get("/province/usb/zz").status_code == 404


def test_hub_officers_read_but_do_not_write(hub):
    officer = hub_login(hub, "officer")
    assert officer.get("/province/warnings").status_code == 200
    assert officer.get("/province/campaigns?lang=en").status_code == 200
    assert officer.get("/province/warnings/new").status_code == 403
    assert officer.post("/province/warnings/new", data={"title": "t", "accented": "a"}).status_code == 403
    assert officer.post("/province/campaigns/new", data={}).status_code == 403
