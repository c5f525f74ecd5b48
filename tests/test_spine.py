"""The whole path, villager's phone → emulator → pyserial → python-gsmmodem → gateway → reply.

Conversation scripts read like RapidSMS's: ``> MENU`` is what the villager texts, ``< ...``
a piece of the reply that must come back (``<`` alone: the gateway must stay silent).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import rows, wait_until

from gateway.sms import pdu as pdu_codec
from gateway.sms.segments import plan


def test_menu_conversation(gateway, phone):
    phone.converse(
        """
        > MENU
        < 1. Thu tuc hanh chinh
        > 1
        < Dang ky thuong tru
        > 3
        < CCCD
        > 0
        < Thu tuc hanh chinh
        > menu
        < 4. Gui tin bao
        """
    )


def test_keywords_fold_accents_case_and_one_typo(gateway, phone):
    phone.converse(
        """
        > Căn Cước
        < can cuoc
        > MNEU
        < 1. Thu tuc hanh chinh
        > hd
        < 2. So dien thoai
        > xin chao cong an
        < MENU
        """
    )


def test_tip_inline_gets_reference_and_is_stored(gateway, phone, config):
    reply = phone.send("0912345678", "TIN Có người lạ bán thuốc giả ở chợ thôn 3")
    assert reply is not None and "CL-0001" in reply
    tips = rows(config.storage_path, "SELECT reference, tipster, text, status FROM tips")
    assert tips == [("CL-0001", "+84912345678", "Có người lạ bán thuốc giả ở chợ thôn 3", "new")]


def test_tip_after_choosing_it_in_the_menu(gateway, phone, config):
    phone.converse(
        """
        > MENU
        < 4. Gui tin bao
        > 4
        < noi dung
        > Xe máy lạ để ở bìa rừng từ hôm qua
        < CL-0001
        """
    )
    assert rows(config.storage_path, "SELECT text FROM tips") == [("Xe máy lạ để ở bìa rừng từ hôm qua",)]


def test_a_tip_without_the_keyword_is_kept_to_confirm(gateway, phone, config):
    """Nothing with content is lost: filed "to confirm", the villager told how to send a tip."""
    phone.converse(
        """
        > Chào, có kẻ trộm 🐄 bò ở thôn 2 😱
        < Cong an xa da nhan tin nhan, ma CL-0001. Lan sau gui tin bao, nhan TIN roi noi dung.
        < Vi du: TIN co trom bo o thon A
        > ok
        <
        > asdf
        < Chua hieu tin nhan. Nhan MENU
        > ?
        < 1. Thu tuc hanh chinh
        """
    )
    path = config.storage_path
    assert rows(path, "SELECT reference, text, status, confirmation FROM tips") == [
        ("CL-0001", "Chào, có kẻ trộm 🐄 bò ở thôn 2 😱", "new", "pending")]
    reply, = rows(path, "SELECT text, encoding, parts_total FROM outbox WHERE kind='tip_ack'")
    assert reply[1:] == ("gsm7", 1)  # không dấu, one SMS
    assert rows(path, "SELECT handler FROM inbox ORDER BY id LIMIT 1") == [("tip:CL-0001 (to confirm)",)]


def test_unknown_text_gets_help_once_not_twice_in_a_row(gateway, phone):
    phone.converse(
        """
        > asdfgh
        < MENU
        > qwerty
        <
        > MENU
        < 1. Thu tuc hanh chinh
        """
    )


def test_short_codes_and_alphanumeric_senders_are_never_answered(gateway, phone, emulator, config):
    emulator.deliver("VIETTEL", "MENU khuyen mai 50%")
    emulator.deliver("5656", "MENU")
    emulator.deliver("113", "MENU")
    assert wait_until(lambda: len(rows(config.storage_path, "SELECT 1 FROM inbox WHERE status='done'")) == 3)
    assert rows(config.storage_path, "SELECT number FROM outbox") == []  # handled, and nothing queued
    assert emulator.sent_messages() == []
    handlers = {r[0] for r in rows(config.storage_path, "SELECT handler FROM inbox")}
    assert handlers == {"silent:alphanumeric", "silent:short_code", "silent:emergency"}


def test_auto_replies_are_not_answered(gateway, phone):
    phone.converse(
        """
        > Day la tin nhan tu dong, vui long khong tra loi.
        <
        """
    )


def test_three_part_ucs2_sms_out_of_order(gateway, emulator, config):
    text = (
        "TIN Tối qua khoảng 22 giờ có hai người đi xe máy không biển số vào thôn Nậm Đét, "
        "hỏi mua trâu giá rẻ bất thường rồi đi về phía cầu treo. Bà con nghi là trộm gia súc, "
        "đề nghị công an xã kiểm tra giúp."
    )
    assert len(emulator.encode("0987654321", text)) == 3
    emulator.deliver("0987654321", text, order=[2, 0, 1])
    assert emulator.wait_for_sent(1, 10)
    assert "CL-0001" in emulator.sent_messages()[0].text
    stored = rows(config.storage_path, "SELECT text, parts, partial, encoding FROM inbox")
    assert stored == [(text, 3, 0, "ucs2")]
    assert rows(config.storage_path, "SELECT text FROM tips")[0][0] == text[4:]


def test_sms_stored_on_the_sim_while_the_gateway_was_down(tmp_path, emulator):
    from conftest import make_config

    from gateway.service import Gateway

    for i in range(5):
        emulator.preload(f"09120000{i:02d}", "MENU")
    emulator.preload("0912000099", "TIN da co trom o thon 2", read=True)
    assert emulator.stored_count() == 6
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem")))
    gw.start()
    try:
        assert emulator.wait_for_sent(6, 15)
        assert wait_until(lambda: emulator.stored_count() == 0)
        assert len(rows(gw.config.storage_path, "SELECT 1 FROM inbox")) == 6
    finally:
        gw.stop()


def test_emoji_and_long_officer_text_send(gateway, emulator, config):
    from gateway import outbox

    db = gateway.dbs.get()
    text = "Cảm ơn bà con 🙏 " + "Công an xã nhắc: không chuyển tiền cho người lạ. " * 6
    outbox.enqueue(db, "+84912345678", text, kind="officer", auto=False, now=datetime.now(UTC))
    gateway.modem.wake()
    assert emulator.wait_for_sent(1, 10)
    sent = emulator.sent_messages()[0]
    assert sent.text == text and sent.parts == plan(text).count == 5
    assert wait_until(lambda: rows(config.storage_path, "SELECT status FROM outbox") == [("delivered",)])


def test_delivery_report_marks_the_reply_delivered(gateway, phone, config):
    phone.send("0912345678", "MENU")
    assert wait_until(lambda: rows(config.storage_path, "SELECT status FROM outbox") == [("delivered",)])
    assert rows(config.storage_path, "SELECT report_status FROM outbox_parts") == [(0,)]


def test_cms_errors_are_retried_then_given_up(gateway, phone, emulator, config):
    emulator.set_fault("cms_error", [2, 500])
    assert phone.send("0912345678", "MENU") is not None  # third try goes through
    assert wait_until(lambda: rows(config.storage_path, "SELECT status, attempts FROM outbox")
                      in ([("sent", 2)], [("delivered", 2)]))
    emulator.set_fault("cms_error", [50, 500])
    emulator.deliver("0912345679", "MENU")
    assert wait_until(lambda: rows(config.storage_path, "SELECT status FROM outbox WHERE number='+84912345679'")
                      == [("failed",)], 15)
    failed = rows(config.storage_path, "SELECT attempts, last_error FROM outbox WHERE number='+84912345679'")
    assert failed == [(config.outbox.max_attempts, "CMS ERROR 500")]


def test_final_cms_error_gives_up_at_once(gateway, emulator, config):
    emulator.set_fault("cms_error", [1, 304])  # invalid PDU parameter: trying again won't help
    emulator.deliver("0912345678", "MENU")
    assert wait_until(lambda: rows(config.storage_path, "SELECT status, attempts FROM outbox") == [("failed", 1)])


def test_multipart_reply_resumes_at_the_failed_part(gateway, emulator, config):
    from gateway import outbox

    db = gateway.dbs.get()
    emulator.set_fault("cms_error", [0, 500])
    text = "Thông báo: " + "lịch làm căn cước tại nhà văn hoá thôn. " * 4
    outbox.enqueue(db, "+84912345678", text, kind="officer", auto=False, now=datetime.now(UTC))
    total = rows(config.storage_path, "SELECT parts_total FROM outbox")[0][0]
    assert total >= 3
    # let part 1 go, then fail part 2 once
    assert wait_until(lambda: len(emulator.sent_parts()) >= 1)
    emulator.set_fault("cms_error", [1, 500])
    assert emulator.wait_for_sent(1, 10)
    seqs = [p.concat[2] for p in emulator.sent_parts()]
    assert sorted(seqs) == list(range(1, total + 1)), "each part sent exactly once"


def test_malformed_and_binary_pdus_are_kept_and_not_answered(gateway, emulator, config):
    now = datetime.now(UTC)
    emulator.deliver_pdu("07914889200026F5240B914889")  # cut short
    emulator.deliver_pdu("ZZZZ")
    emulator.deliver_pdu(pdu_codec.encode_deliver_binary("0912345678", b"\x00\x01\xff", timestamp=now))
    emulator.deliver("0912345678", "")  # an empty SMS is a message too
    assert wait_until(lambda: len(rows(config.storage_path, "SELECT 1 FROM inbox WHERE status='done'")) == 4)
    kinds = sorted(r[0] for r in rows(config.storage_path, "SELECT kind FROM inbox"))
    assert kinds == ["binary", "text", "undecodable", "undecodable"]
    errors = rows(config.storage_path, "SELECT pdu, decode_error FROM pdus WHERE kind='undecodable'")
    assert {e[0] for e in errors} == {"07914889200026F5240B914889", "ZZZZ"} and all(e[1] for e in errors)
    # all four handled: the one reply queued is the help text for the empty SMS
    assert rows(config.storage_path, "SELECT number, kind FROM outbox") == [("+84912345678", "help")]
    assert emulator.wait_for_sent(1, 10)
    assert len(emulator.sent_messages()) == 1
    assert emulator.stored_count() == 0


def test_partial_long_sms_is_kept_after_the_timeout(tmp_path, emulator):
    from conftest import make_config

    from gateway.clock import ManualClock
    from gateway.service import Gateway

    clock = ManualClock(datetime.now(UTC))
    gw = Gateway(make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"),
                             TINBAO_MODEM_REASSEMBLY_TIMEOUT="4"), clock=clock)
    gw.start()
    try:
        text = "TIN " + "Có đám cháy rừng nhỏ ở đồi sau trường tiểu học thôn Cốc Lầu. " * 3
        emulator.deliver("0912345678", text, order=[0, 2])  # part 2 never comes
        assert wait_until(lambda: len(rows(gw.config.storage_path, "SELECT 1 FROM parts")) == 2)
        assert rows(gw.config.storage_path, "SELECT 1 FROM inbox") == []
        clock.advance(seconds=5)
        assert wait_until(lambda: rows(gw.config.storage_path, "SELECT partial FROM inbox") == [(1,)], 10)
        kept = rows(gw.config.storage_path, "SELECT text FROM inbox")[0][0]
        assert "[…]" in kept and kept.startswith("TIN Có đám cháy")
        assert emulator.wait_for_sent(1, 10)  # the tip is still taken and acknowledged
    finally:
        gw.stop()


def test_clock_is_not_needed_for_dedupe_of_a_message_read_twice(tmp_path):
    """Crash between commit and delete: the next drain lists the same slot again."""
    from gateway import inbox, storage
    from gateway.database import prepare_gateway
    from gateway.modem.types import StoredPdu

    path = tmp_path / "d.db"
    prepare_gateway(path)
    db = storage.open_db(path, durable=True)
    now = datetime.now(UTC)
    pdu = pdu_codec.encode_deliver("0912345678", "MENU", timestamp=now)[0]
    first = inbox.commit_batch(db, [StoredPdu("ME:1", 0, pdu)], now)
    again = inbox.commit_batch(db, [StoredPdu("ME:1", 1, pdu)], now + timedelta(seconds=3))
    assert (first.new_messages, again.new_messages, again.duplicates) == (1, 0, 1)
    inbox.forget_slots(db, again.pdu_ids)
    # the same bytes arriving later into the freed slot are a new message (same text, same second)
    later = inbox.commit_batch(db, [StoredPdu("ME:1", 0, pdu)], now + timedelta(seconds=9))
    assert later.new_messages == 1
    assert db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0] == 2


def test_a_ten_part_tip_and_an_emoji_tip_are_each_one_message(gateway, emulator, config):
    long_text = "TIN " + " ".join(f"chi tiet {i:03d} ve vu viec o thon" for i in range(48))
    assert len(emulator.encode("0912345678", long_text)) == 10
    emulator.deliver("0912345678", long_text, order=[9, 3, 0, 7, 1, 8, 2, 6, 4, 5])
    emulator.deliver("0987654321", "TIN Có cháy 🔥🔥 ở nương ngô thôn 4 😢")
    assert emulator.wait_for_sent(2, 15)
    stored = dict(rows(config.storage_path, "SELECT sender, parts FROM inbox"))
    assert stored == {"+84912345678": 10, "+84987654321": 1}
    tips = dict(rows(config.storage_path, "SELECT tipster, text FROM tips"))
    assert tips["+84912345678"] == long_text[4:]
    assert tips["+84987654321"] == "Có cháy 🔥🔥 ở nương ngô thôn 4 😢"


def test_a_reply_longer_than_max_parts_is_cut_with_a_marker(gateway, emulator, config):
    from gateway import outbox

    db = gateway.dbs.get()
    text = "Thông báo lịch tiêm phòng cho gia súc ở các thôn. " * 40  # far beyond 10 parts
    outbox.enqueue(db, "+84912345678", text, kind="officer", auto=False, now=datetime.now(UTC),
                   max_parts=config.sms.max_parts)
    gateway.modem.wake()
    assert emulator.wait_for_sent(1, 15)
    sent = emulator.sent_messages()[0]
    assert sent.parts == config.sms.max_parts and sent.text.endswith("…")
    # a GSM-7 text keeps GSM-7: the marker is "...", not "…" (which would force UCS-2)
    plain = "Lich tiem phong gia suc o cac thon. " * 60
    outbox.enqueue(db, "+84912345679", plain, kind="officer", auto=False, now=datetime.now(UTC),
                   max_parts=config.sms.max_parts)
    gateway.modem.wake()
    assert emulator.wait_for_sent(2, 15)
    sent = emulator.sent_messages()[1]
    assert sent.parts == config.sms.max_parts and sent.text.endswith("...")
    assert plan(sent.text).encoding == "gsm7" and len(sent.text) == 153 * config.sms.max_parts
