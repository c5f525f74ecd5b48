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
from gateway.broadcasts.subscriptions import RESERVED_KEYWORDS, parse
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
        < Bạn đã đăng ký nhận cảnh báo lừa đảo
        > DK
        < đã đăng ký nhận cảnh báo
        > TC
        < Bạn đã ngừng nhận cảnh báo lừa đảo. Muốn nhận lại, soạn DK gửi 0981234567
        """,
        number=VILLAGER,
    )
    assert phone.send(VILLAGER, "TC") is None, "nothing after leaving"
    assert phone.send(VILLAGER, "HUY") is None
    phone.converse(
        """
        > ĐĂNG KÝ
        < Soạn TC gửi 0981234567 để ngừng nhận
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
    assert (report.added, report.skipped_left) == (1, 1)

    before = len(emulator.sent_messages())
    draft = control.Draft("Cảnh báo", "Không bấm đường link lạ.", everyone=True)
    control.create(gateway.dbs.get(), draft, by="officer", now=broadcasts.clock.base.now(), tz=broadcasts.tz)
    broadcasts.wake()
    assert emulator.wait_for_sent(before + 3, 20), emulator.sent_messages()[before:]
    assert wait_until(lambda: rows(gateway.config.storage_path, "SELECT status FROM broadcasts")[0][0] == "done", 10)
    got = sorted(m.destination for m in emulator.sent_messages()[before:])
    assert got == ["+84912000001", "+84912000003", "+84912000004"]
    text = emulator.sent_messages()[-1].text
    assert text.startswith("Cong an xa Coc Lau: Khong bam duong link la.") and "Soan TC gui 0981234567" in text
