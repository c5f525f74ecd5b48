"""Consent you can show (issue 17 part 1): every subscription rests on a recorded basis.

A DK is a ledger row with the SMS as received and the notice version its confirmation
carried; a number an officer adds or imports gets ONE invitation (paced, through the
outbox, never twice, not even across a restart) and no warning until it replies DK, or a
consent seen on paper with the officer's note; the older code's imports are "no recorded
consent" and the dashboard suggests inviting them.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from conftest import ON_PAPER, make_config, rows, wait_until

from gateway import outbox
from gateway.broadcasts import consent, control, subscribers
from gateway.broadcasts.library import Composer, Library
from gateway.broadcasts.service import BroadcastService
from gateway.clock import ManualClock
from gateway.database import prepare_gateway
from gateway.service import Gateway
from gateway.sms.segments import plan
from gateway.sms.text import fold, khong_dau
from gateway.storage import ThreadLocalDb, write_transaction

LIVE = {
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
    "TINBAO_BROADCASTS_PER_DAY": "5",
    "TINBAO_GATEWAY_PHONE_NUMBER": "0981234567",
}
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 10:00 local


@pytest.fixture
def config(tmp_path, emulator):
    return make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **LIVE)


def ledger(path, number: str) -> list[tuple]:
    return rows(path, "SELECT event, basis, raw_text, notice_version, by FROM consent_ledger WHERE number=?"
                      " ORDER BY id", (number,))


# -- the DK confirmation and its notice ------------------------------------------------------------

# The confirmations before the notice was added (commit de66f31): the part budget they had.
OLD = {
    "subscribed": "{ten}: Số này đã đăng ký nhận cảnh báo lừa đảo qua tin nhắn{thon}. Soạn TC gửi {so} để ngừng nhận.",
    "already": "{ten}: Số này đã đăng ký nhận cảnh báo lừa đảo từ trước{thon}. Soạn TC gửi {so} để ngừng nhận.",
}


@pytest.mark.parametrize("name", ["subscribed", "already"])
@pytest.mark.parametrize("village", [None, "Thôn Na Hối", "Bản " + "Xín Chải " * 4 + "Trên"])
def test_the_dk_confirmation_carries_the_notice_within_its_part_budget(name, village):
    library = Library.load()
    composer = Composer("Công an xã Cốc Lầu", "0981234567", library.messages)
    new = composer.confirmation(name, village)
    where = library.messages.village.replace("{thon}", village) if village else ""
    old = OLD[name].replace("{ten}", composer.sender).replace("{so}", composer.dial).replace("{thon}", where)
    for form in (khong_dau, lambda text: text):  # sent without diacritics by default (sms.khong_dau)
        assert plan(form(new)).count == plan(form(old)).count, (form(new), form(old))
    assert plan(khong_dau(new)).encoding == "gsm7" and plan(khong_dau(new)).count == 1
    folded = fold(new)
    assert "canh bao lua dao" in folded and "soan huy gui 0981234567 de ngung nhan" in folded  # what, and how to stop


def test_the_notice_version_changes_with_its_words(tmp_path):
    shipped = Library.load().messages
    assert shipped.notice.startswith(shipped.notice_version + "-")
    folder = tmp_path / "warnings"
    folder.mkdir()
    text = (Library.load.__globals__["DEFAULT_FOLDER"] / "_messages.toml").read_text(encoding="utf-8")
    (folder / "_messages.toml").write_text(text.replace("qua SMS{thon}", "qua tin nhắn{thon}"), encoding="utf-8")
    assert Library.load(folder).messages.notice != shipped.notice  # reworded without a new version: still told apart
    older = re.sub(r'^notice_version = .*$|^invitation = """[^"]*"""', "", text, flags=re.M)
    assert "invitation" not in older.split("# Put in")[0].split("anything)")[-1]
    (folder / "_messages.toml").write_text(older, encoding="utf-8")
    assert Library.load(folder).messages.invitation == shipped.invitation  # a folder made before: the shipped one


# -- DK and HUY through the whole path ---------------------------------------------------------------

def test_a_dk_is_a_ledger_row_with_its_raw_text_and_notice_version(gateway, phone):
    path = gateway.config.storage_path
    notice = gateway.broadcasts.composer.notice_version
    assert "huy gui 0981 234 567" in fold(phone.send("0912345678", "dk  Na Hối") or "")
    [(event, basis, raw, version, by)] = ledger(path, "+84912345678")
    assert (event, basis, raw, version, by) == ("given", "sms", "dk  Na Hối", notice, "sms")
    (inbox_id,) = rows(path, "SELECT inbox_id FROM consent_ledger")[0]
    assert rows(path, "SELECT text FROM inbox WHERE id=?", (inbox_id,)) == [("dk  Na Hối",)]
    assert rows(path, "SELECT status, consent_id FROM subscribers") == [("subscribed", 1)]

    assert phone.send("0912345678", "DK") is not None  # already: the same notice, nothing new to record
    assert len(ledger(path, "+84912345678")) == 1
    assert "ngung nhan" in fold(phone.send("0912345678", "Hủy") or "")
    assert ledger(path, "+84912345678")[1][:3] == ("withdrawn", "sms", "Hủy")
    assert rows(path, "SELECT status, consent_id FROM subscribers") == [("left", None)]


def test_the_ledger_is_append_only_and_an_erasure_keeps_the_events_not_the_person(db):
    with write_transaction(db):
        subscribers.subscribe_by_sms(db, "+84912000001", None, NOW, raw_text="DK", notice_version="v1")
        subscribers.leave(db, "+84912000001", "sms", NOW, raw_text="HUY")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE consent_ledger SET event = 'given' WHERE event = 'withdrawn'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE consent_ledger SET number = '+84912000002'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM consent_ledger")
    with write_transaction(db):
        assert subscribers.erase(db, "+84912000001", NOW, by="an", note="yêu cầu số 3")
    assert db.execute("SELECT COUNT(*) FROM subscribers").fetchone()[0] == 0
    assert db.execute("SELECT event, number, raw_text FROM consent_ledger ORDER BY id").fetchall() == [
        ("given", None, None), ("withdrawn", None, None), ("erased", None, None)]


# -- an imported number: one invitation, no warning until DK ----------------------------------------

def test_an_imported_number_gets_one_invitation_and_no_warning_until_it_replies_dk(gateway, phone, emulator):
    path = gateway.config.storage_path
    service = gateway.broadcasts
    assert phone.send("0912000001", "DK") is not None
    db = gateway.dbs.get()
    basis = subscribers.Basis("invite", service.composer.notice_version, khong_dau(service.composer.invitation()))
    from gateway.broadcasts.importing import import_rows, parse

    csv_file = "Số điện thoại;Họ tên;Thôn\n0912000004;Bà D;Na Hối\n0912000005;Ông E;Na Hối\n".encode("utf-8-sig")
    before = len(emulator.sent_messages())
    report = import_rows(db, parse(csv_file), service.clock.now(), "an", basis)
    assert (report.added, report.invited) == (2, 2)
    service.wake()
    assert emulator.wait_for_sent(before + 2, 20)
    invitations = emulator.sent_messages()[before:]
    assert sorted(m.destination for m in invitations) == ["+84912000004", "+84912000005"]
    assert all("soan dk gui 0981 234 567" in fold(m.text) for m in invitations)
    assert ledger(path, "+84912000004") == [("invited", "import", None, service.composer.notice_version, "an")]

    def broadcast(title: str) -> list[str]:
        mark = len(emulator.sent_messages())
        control.create(gateway.dbs.get(), control.Draft(title, "Không bấm đường link lạ.", everyone=True), by="an",
                       now=service.clock.base.now(), tz=service.tz)
        service.wake()
        assert wait_until(lambda: rows(path, "SELECT status FROM broadcasts ORDER BY id DESC LIMIT 1")[0][0] == "done",
                          20)
        assert wait_until(lambda: rows(path, "SELECT COUNT(*) FROM outbox WHERE kind='broadcast' AND status='queued'")
                          [0][0] == 0, 20)
        return sorted(m.destination for m in emulator.sent_messages()[mark:])

    assert broadcast("Một") == ["+84912000001"]  # invited is not consent
    assert "da dang ky" in fold(phone.send("0912000004", "DK") or "")
    assert ledger(path, "+84912000004")[-1][:3] == ("given", "sms", "DK")
    assert broadcast("Hai") == ["+84912000001", "+84912000004"]  # the one who replied; not +84912000005

    # The same invitation is never sent twice, not even by another gateway on the same file.
    gateway.stop()
    again = Gateway(gateway.config)
    try:
        again.start()
        for _ in range(3):
            again.broadcasts.pump()
        assert rows(path, "SELECT number, COUNT(*) FROM outbox WHERE kind='invitation' GROUP BY number") == [
            ("+84912000004", 1), ("+84912000005", 1)]
        assert rows(path, "SELECT status, COUNT(*) FROM invitations GROUP BY status") == [("queued", 2)]
    finally:
        again.stop()


@pytest.fixture
def service(tmp_path):
    config = make_config(tmp_path, TINBAO_BROADCASTS_INVITATIONS_PER_HOUR="2")
    prepare_gateway(config.storage_path)
    dbs = ThreadLocalDb(config.storage_path)
    svc = BroadcastService(config, dbs, ManualClock(NOW))
    yield svc
    dbs.close_all()


def test_invitations_are_paced_and_one_in_doubt_is_never_sent_again(service):
    db = service.dbs.get()
    basis = subscribers.Basis("invite", "v1", "Moi ba con nhan canh bao. Soan DK gui so nay.")
    with write_transaction(db):
        for i in range(5):
            subscribers.save_member(db, subscribers.Member(f"+8491200000{i}"), source="officer", now=NOW, by="an",
                                    basis=basis)
        again = subscribers.save_member(db, subscribers.Member("+84912000000"), source="officer", now=NOW,
                                        basis=basis)
        assert again.consent == "waiting"  # no second invitation
    service.tick()  # the clock judged
    assert service.pump().queued == 2 and service.pump().queued == 0  # at most 2 an hour (the config)
    assert rows(service.dbs.path, "SELECT COUNT(*) FROM outbox WHERE kind='invitation'") == [(2,)]
    with write_transaction(db):  # one answered before its invitation went: it never goes
        subscribers.subscribe_by_sms(db, "+84912000004", None, NOW, raw_text="DK", notice_version="v1")
    service.clock.base.advance(hours=1, minutes=1)
    assert service.pump().queued == 2
    service.clock.base.advance(hours=1, minutes=1)
    assert service.pump().queued == 0
    assert rows(service.dbs.path, "SELECT status, COUNT(*) FROM invitations GROUP BY status") == [
        ("cancelled", 1), ("queued", 4)]

    # A part in the modem when the gateway died: an invitation is not sent again (like a broadcast).
    part = outbox.next_due(db, service.clock.base.now(), worker="modem0")
    assert part is not None
    assert outbox.recover_claims(db, service.clock.base.now()) == (0, 1)
    assert rows(service.dbs.path, "SELECT status FROM outbox_parts WHERE id=?", (part.part_id,)) == [("unknown",)]


def test_paper_consent_needs_the_officers_note_and_is_audited(app, logged_in, db_path):
    officer = logged_in("officer")
    form = {"number": "0912000009", "name": "Bà G", "consent": "paper"}
    officer.post("/broadcasts/subscribers/add", data=form)
    assert rows(db_path, "SELECT COUNT(*) FROM subscribers") == [(0,)]  # no note: nothing added
    officer.post("/broadcasts/subscribers/add", data={**form, "consent_note": "Phiếu đồng ý ký ngày 3/12, tủ số 2"})
    assert rows(db_path, "SELECT status FROM subscribers") == [("subscribed",)]
    assert rows(db_path, "SELECT event, basis, note, by FROM consent_ledger") == [
        ("given", "paper", "Phiếu đồng ý ký ngày 3/12, tủ số 2", officer.username)]
    assert rows(db_path, "SELECT action, target FROM audit_log WHERE action='subscriber.add'") == [
        ("subscriber.add", "0*** *** *09")]
    sid = rows(db_path, "SELECT id FROM subscribers")[0][0]
    page = officer.get(f"/broadcasts/subscribers/{sid}").get_data(as_text=True)
    assert 'id="consent-ledger"' in page and "Phiếu đồng ý ký ngày 3/12" in page


def test_the_older_codes_subscribers_are_marked_and_the_dashboard_suggests_inviting_them(tmp_path):
    from conftest import SCHEMA_SNAPSHOT as LAYOUT_SQL

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(LAYOUT_SQL.read_text(encoding="utf-8"))
    stamp = NOW.isoformat()
    old.executemany(
        "INSERT INTO subscribers (number, status, source, left_via, created_at, updated_at, updated_by, subscribed_at)"
        " VALUES (?,?,?,?,?,?,?,?)",
        [("+84912000001", "subscribed", "sms", None, stamp, stamp, "sms", stamp),
         ("+84912000002", "subscribed", "import", None, stamp, stamp, "an", stamp),
         ("+84912000003", "subscribed", "officer", None, stamp, stamp, "an", stamp),
         ("+84912000004", "left", "sms", "sms", stamp, stamp, "sms", stamp)])
    old.commit()
    old.close()
    prepare_gateway(path)
    assert rows(path, "SELECT number, status, consent_id IS NOT NULL FROM subscribers ORDER BY id") == [
        ("+84912000001", "subscribed", 1), ("+84912000002", "no_consent", 0), ("+84912000003", "no_consent", 0),
        ("+84912000004", "left", 0)]
    assert rows(path, "SELECT number, event, basis FROM consent_ledger ORDER BY id") == [
        ("+84912000001", "given", "legacy_sms"), ("+84912000004", "withdrawn", "sms")]

    from conftest import login_client, make_services

    from gateway.config import load_config
    from gateway.web import create_app

    config = load_config(env={"TINBAO_STORAGE_PATH": str(path)})
    app = create_app(config, make_services(path, config=config))
    client = app.test_client()
    login_client(client, path, "officer")
    alerts = {a["key"]: a for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert alerts["consent_missing"]["url"].endswith("/broadcasts/subscribers?status=no_consent")
    assert alerts["consent_missing"]["text"].startswith("2 số")
    listing = client.get("/broadcasts/subscribers?status=no_consent").get_data(as_text=True)
    assert 'id="invite-all"' in listing and "0*** *** *02" in listing
    assert client.post("/broadcasts/subscribers/invite-all").status_code == 303
    assert rows(path, "SELECT number, status FROM invitations ORDER BY id") == [
        ("+84912000002", "pending"), ("+84912000003", "pending")]
    assert rows(path, "SELECT status FROM subscribers WHERE number IN ('+84912000002', '+84912000003')") == [
        ("invited",), ("invited",)]
    assert "consent_missing" not in {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
    assert client.post("/broadcasts/subscribers/invite-all").status_code == 303  # again: nobody twice
    assert rows(path, "SELECT COUNT(*) FROM invitations") == [(2,)]


def test_an_import_through_the_page_invites_and_subscribes_nobody(app, logged_in, db_path):
    officer = logged_in("officer")
    data = "Số điện thoại,Họ tên\n0912000011,An\n0912000012,Bình\n".encode()
    page = officer.post("/broadcasts/subscribers/import", data={"file": (BytesIO(data), "ds.csv"), "consent": "invite"},
                        content_type="multipart/form-data").get_data(as_text=True)
    assert "2 sẽ nhận tin mời" in page
    assert rows(db_path, "SELECT status, COUNT(*) FROM subscribers GROUP BY status") == [("invited", 2)]
    assert subscribers.audience_size(ThreadLocalDb(db_path).get(), [], everyone=True) == 0
    assert consent.pending_count(ThreadLocalDb(db_path).get()) == 2


def test_a_withdrawal_for_a_persons_request_and_paper_consent_helpers(db):
    with write_transaction(db):
        subscribers.save_member(db, subscribers.Member("+84912000021"), source="officer", now=NOW, basis=ON_PAPER)
        change = subscribers.withdraw(db, "+84912000021", "request", NOW + timedelta(days=1), by="an",
                                      note="Yêu cầu #4")
    assert change.outcome == "left"
    assert [(e.event, e.basis, e.note) for e in consent.history(db, "+84912000021")] == [
        ("given", "paper", "giấy đồng ý (thử)"), ("withdrawn", "request", "Yêu cầu #4")]
    with write_transaction(db):  # the person's own word: an officer cannot bring it back
        assert subscribers.save_member(db, subscribers.Member("+84912000021"), source="officer", now=NOW,
                                       basis=ON_PAPER).outcome == "refused_left"
