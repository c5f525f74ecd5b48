"""DK / HUY / TC through the whole path: phone → emulator → modem worker → router → reply.

``> DK`` is what the villager texts, ``< ...`` a piece of the reply (``<`` alone: silence).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import make_config, rows, wait_until

from gateway.broadcasts import control, subscribers
from gateway.broadcasts.importing import import_rows
from gateway.broadcasts.importing import parse as parse_csv
from gateway.broadcasts.subscriptions import SubscriptionHandler, parse
from gateway.errors import ConfigError
from gateway.menus import MenuBook
from gateway.sms.text import fold
from gateway.storage import write_transaction

LIVE = {
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # start == end: no quiet hours, whatever the hour
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
    "TINBAO_GATEWAY_PHONE_NUMBER": "0981234567",
}
VILLAGER = "0912345678"
RESERVED_KEYWORDS = SubscriptionHandler.keywords  # what the router reserves for the handler


@pytest.fixture
def config(tmp_path, emulator):
    return make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **LIVE)


@pytest.fixture
def broadcasts(gateway):
    """The running gateway's BroadcastService."""
    return gateway.broadcasts


def test_keywords_parse():
    assert parse("DK") == ("join", None)
    assert parse("đăng ký") == ("join", None)
    assert parse("Đăng Ký ") == ("join", None)
    assert parse("dk Na Hối") == ("join", "Na Hối")
    assert parse("DANG KY thon Coc Lau.") == ("join", "thon Coc Lau")
    for word in ("HUY", "Hủy", "tc", "TC.", "STOP", "tu choi", "TỪ CHỐI", "huy dk"):
        assert parse(word) == ("leave", None), word
    assert parse("Tôi muốn hủy hẹn") is None
    assert parse("DKX") is None
    assert parse("TIN có trộm") is None


def test_menus_cannot_take_the_subscription_keywords(config):
    import tomllib

    shipped = tomllib.loads((config.menus_path / "vi.toml").read_text(encoding="utf-8"))
    MenuBook.from_dict({"vi.toml": shipped}, reserved=RESERVED_KEYWORDS)  # the shipped menus do not clash
    shipped["keywords"]["menu"].append("Tu chối")
    with pytest.raises(ConfigError, match="reserved by the router"):
        MenuBook.from_dict({"vi.toml": shipped}, reserved=RESERVED_KEYWORDS)


def test_dk_then_tc_round_trip(gateway, broadcasts, phone, emulator):
    phone.converse(
        """
        > DK
        < Đã đăng ký nhận cảnh báo lừa đảo qua SMS
        > DK
        < Đã đăng ký từ trước nhận cảnh báo lừa đảo
        > TC
        < Số này đã ngừng nhận cảnh báo lừa đảo. Muốn nhận lại, soạn DK gửi 0981 234 567
        """,
        number=VILLAGER,
    )
    assert phone.send(VILLAGER, "TC") is None, "nothing after leaving"
    assert phone.send(VILLAGER, "HUY") is None
    phone.converse(
        """
        > ĐĂNG KÝ
        < Soạn HUY gửi 0981 234 567 để ngừng nhận
        > STOP
        < ngừng nhận
        """,
        number=VILLAGER,
    )
    db = gateway.config.storage_path
    assert rows(db, "SELECT number, status, source, left_via FROM subscribers") == [
        ("+84912345678", "left", "sms", "sms")]
    handlers = [h for (h,) in rows(db, "SELECT handler FROM inbox ORDER BY id")]
    assert handlers == ["subscribe", "subscribe", "unsubscribe", "unsubscribe (already left)",
                        "unsubscribe (already left)", "subscribe", "unsubscribe"]
    assert len(emulator.sent_messages()) == 5, "one confirmation each way, none for a repeated TC"


def test_dk_with_a_village_joins_its_group(gateway, broadcasts, phone):
    db = gateway.dbs.get()
    with write_transaction(db):
        subscribers.ensure_group(db, "Thôn Na Hối", "village", datetime.now(UTC))
    reply = phone.send(VILLAGER, "DK na hoi")
    assert reply is not None and "thon na hoi" in fold(reply)  # sent không dấu (sms.khong_dau)
    assert rows(gateway.config.storage_path,
                "SELECT s.number, g.name FROM subscribers s JOIN subscriber_group_members m ON m.subscriber_id = s.id"
                " JOIN subscriber_groups g ON g.id = m.group_id") == [("+84912345678", "Thôn Na Hối")]
    # a village nobody set up yet: subscribed anyway, the request kept for an officer
    reply = phone.send("0912000111", "DK Bản Mới")
    assert reply is not None and "da dang ky" in fold(reply)
    assert rows(gateway.config.storage_path, "SELECT village_request FROM subscribers WHERE number='+84912000111'") == [
        ("Bản Mới",)]


def test_a_menu_question_starting_with_dang_ky_goes_to_the_menu(gateway, broadcasts, phone):
    reply = phone.send(VILLAGER, "ĐĂNG KÝ XE")
    assert reply is not None and "xe" in fold(reply) and "canh bao lua dao" not in fold(reply)
    assert rows(gateway.config.storage_path, "SELECT COUNT(*) FROM subscribers")[0][0] == 0


def test_nothing_is_sent_after_leaving_not_even_by_an_import(gateway, broadcasts, phone, emulator):
    for number in ("0912000001", "0912000002", "0912000003"):
        assert phone.send(number, "DK") is not None
    assert phone.send("0912000002", "TU CHOI") is not None
    csv_file = "Số điện thoại;Họ tên;Thôn\n0912000002;Ông B;Na Hối\n0912000004;Bà D;Na Hối\n".encode("utf-8-sig")
    report = import_rows(gateway.dbs.get(), parse_csv(csv_file), datetime.now(UTC), "officer")
    assert (report.added, report.skipped_left, report.no_consent) == (1, 1, 1)

    before = len(emulator.sent_messages())
    draft = control.Draft("Cảnh báo", "Không bấm đường link lạ.", everyone=True)
    control.create(gateway.dbs.get(), draft, by="officer", now=broadcasts.clock.base.now(), tz=broadcasts.tz)
    broadcasts.wake()
    assert emulator.wait_for_sent(before + 2, 20), emulator.sent_messages()[before:]
    assert wait_until(lambda: rows(gateway.config.storage_path, "SELECT status FROM broadcasts")[0][0] == "done", 10)
    got = sorted(m.destination for m in emulator.sent_messages()[before:])
    assert got == ["+84912000001", "+84912000003"]  # the imported number has no consent: nothing
    text = emulator.sent_messages()[-1].text
    assert text.startswith("Cong an xa Coc Lau: Khong bam duong link la.") and "Soan TC gui 0981 234 567" in text


def test_huy_from_a_number_that_never_subscribed_gets_its_own_answer(gateway, broadcasts, phone):
    phone.converse(
        """
        > HUY
        < Số này chưa đăng ký nhận cảnh báo nên không có gì để hủy. Muốn nhận, soạn DK gửi 0981 234 567
        > HUY
        <
        """,
        number=VILLAGER,
    )
    db = gateway.config.storage_path
    assert [h for (h,) in rows(db, "SELECT handler FROM inbox ORDER BY id")] == [
        "unsubscribe (never subscribed)", "unsubscribe (already left)"]
    # kept as "left", so an import cannot add a number that said no
    assert rows(db, "SELECT status FROM subscribers") == [("left",)]


def test_keywords_end_an_open_tip_prompt(gateway, broadcasts, phone):
    """After "4" (send a tip), HUY is not the tip, and what follows is not taken as the tip."""
    phone.converse(
        """
        > MENU
        < 4. Gửi tin báo
        > 4
        < Hãy nhắn nội dung tin báo
        > HUY
        < chưa đăng ký nhận cảnh báo
        > Căn cước?
        < CĂN CƯỚC: từ đủ 14 tuổi
        > TIN
        < Hãy nhắn nội dung tin báo
        > DK
        < đã đăng ký nhận cảnh báo lừa đảo
        > Cho hỏi làm căn cước cho con ở đâu
        < Công an xã đã nhận tin nhắn
        > TIN
        < Hãy nhắn nội dung tin báo
        > MENU
        < 1. Thủ tục hành chính
        > 4
        < Hãy nhắn nội dung tin báo
        > TC
        < đã ngừng nhận cảnh báo
        > TIN
        < Hãy nhắn nội dung tin báo
        > Có người lạ dò hỏi nhà có trâu
        < Công an xã đã nhận tin báo, mã CL-0002
        """,
        number=VILLAGER,
    )
    db = gateway.config.storage_path
    # One message a question waiting for an officer (not a tip from the prompt), one real tip.
    assert rows(db, "SELECT reference, text, confirmation FROM tips ORDER BY id") == [
        ("CL-0001", "Cho hỏi làm căn cước cho con ở đâu", "pending"),
        ("CL-0002", "Có người lạ dò hỏi nhà có trâu", None)]
    assert not any("HUY" in text or "DK" == text for (text,) in rows(db, "SELECT text FROM tips"))


@pytest.mark.parametrize("typed", ["DK Thôn 3", "dk thon 3", "DK THON3", "DK 3", "ĐK thôn Nà Hối", "DK Na Hoii"])
def test_dk_with_a_village_matches_accents_and_one_typo(gateway, broadcasts, phone, typed):
    db = gateway.dbs.get()
    with write_transaction(db):
        subscribers.ensure_group(db, "Thôn 3", "village", datetime.now(UTC))
        subscribers.ensure_group(db, "Thôn Nà Hối", "village", datetime.now(UTC))
        subscribers.ensure_group(db, "Thôn 2", "village", datetime.now(UTC))
    reply = phone.send(VILLAGER, typed)
    assert reply is not None and "da dang ky" in fold(reply)
    village = rows(gateway.config.storage_path,
                   "SELECT g.name FROM subscriber_group_members m JOIN subscriber_groups g ON g.id = m.group_id")
    expected = "Thôn Nà Hối" if "hoi" in fold(typed) else "Thôn 3"
    assert village == [(expected,)]
    assert fold(expected) in fold(reply)
    assert rows(gateway.config.storage_path, "SELECT village_request FROM subscribers") == [(None,)]


def test_an_unmatched_village_waits_for_an_officer(gateway, broadcasts, phone):
    db = gateway.dbs.get()
    with write_transaction(db):
        subscribers.ensure_group(db, "Thôn 3", "village", datetime.now(UTC))
    for number, typed in (("0912000001", "DK Thôn 4"), ("0912000002", "DK thon 4"), ("0912000003", "DK Bản Mới")):
        assert "da dang ky" in fold(phone.send(number, typed) or "")
    path = gateway.config.storage_path
    assert rows(path, "SELECT COUNT(*) FROM subscriber_group_members")[0][0] == 0  # "4" is never guessed as "3"
    waiting = subscribers.unmatched_villages(db)
    assert [(w["count"], fold(w["name"])) for w in waiting] == [(2, "thon 4"), (1, "ban moi")]
    with write_transaction(db):
        four = subscribers.ensure_group(db, "Thôn 4", "village", datetime.now(UTC))
        assert subscribers.assign_village_request(db, "thon 4", four, datetime.now(UTC), "officer") == 2
    assert [fold(w["name"]) for w in subscribers.unmatched_villages(db)] == ["ban moi"]


@pytest.mark.parametrize("typed", ["ＨＵＹ", "ＳＴＯＰ", "S\u200bTOP", "T\u200bC"])
def test_an_opt_out_in_any_spelling_stops_at_once(gateway, broadcasts, phone, typed):
    """Full-width letters (some phones' keyboards) and a zero-width space inside the word."""
    assert phone.send(VILLAGER, "DK") is not None
    reply = phone.send(VILLAGER, typed)
    assert reply is not None and "da ngung nhan canh bao" in fold(reply), reply
    path = gateway.config.storage_path
    assert rows(path, "SELECT status FROM subscribers") == [("left",)]
    assert rows(path, "SELECT event, raw_text FROM consent_ledger ORDER BY id DESC LIMIT 1") == [("withdrawn", typed)]
    assert rows(path, "SELECT text, handler FROM inbox ORDER BY id DESC LIMIT 1") == [(typed, "unsubscribe")]
    assert rows(path, "SELECT COUNT(*) FROM tips") == [(0,)]


def test_a_full_width_dk_subscribes_and_is_no_tip(gateway, broadcasts, phone):
    reply = phone.send(VILLAGER, "ＤＫ")
    assert reply is not None and "da dang ky nhan canh bao lua dao" in fold(reply), reply
    path = gateway.config.storage_path
    assert rows(path, "SELECT status FROM subscribers") == [("subscribed",)]
    assert rows(path, "SELECT event, raw_text FROM consent_ledger") == [("given", "ＤＫ")]
    assert rows(path, "SELECT COUNT(*) FROM tips") == [(0,)]
    assert rows(path, "SELECT text FROM inbox") == [("ＤＫ",)]  # stored as received
