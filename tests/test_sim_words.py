"""The SIM area's pure parts: operators' USSD replies in every form and wording, notices' topics,
the line's verdicts, how long a broadcast takes under the caps. (The same through the serial port:
test_sim_credit.py, test_sim_line.py, test_sim_notices.py, test_sim_pacing.py.)

The replies are shaped like the three big operators' (Viettel, VinaPhone, MobiFone), accented and
without accents; the amounts and dates are invented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from gateway.errors import SendError
from gateway.sim import lines, pacing, ussd
from gateway.sim.line import LineState
from gateway.sim.notices import topics
from gateway.sms import gsm7

REPLIES = [
    # Viettel
    ("TK chính=25.300đ, sử dụng đến 0h ngày 15/03/2027. Bấm *098# để mua gói cước.", 25_300, date(2027, 3, 15)),
    ("TK chinh=25300d, su dung den 0h ngay 15/03/2027. Bam *098# de mua goi cuoc.", 25_300, date(2027, 3, 15)),
    ("TK goc: 7.150d, HSD: 02/11/2027. TK KM: 0d", 7_150, date(2027, 11, 2)),
    # VinaPhone
    ("Tài khoản chính của Quý khách là 48000 đồng, hạn sử dụng đến 20/05/2027.", 48_000, date(2027, 5, 20)),
    ("Tai khoan chinh cua Quy khach la 48000 dong, han su dung den 20/05/2027.", 48_000, date(2027, 5, 20)),
    ("TKC 48.000 VND, HSD 20/05/27. Cam on Quy khach.", 48_000, date(2027, 5, 20)),
    # MobiFone
    ("TKC: 12.500đ, KM1: 0đ. HSD: 01-02-2027. Soạn KT gửi 999.", 12_500, date(2027, 2, 1)),
    ("So du TK chinh: 12500 VND. Han su dung: 01-02-2027", 12_500, date(2027, 2, 1)),
    ("TKC: 0d, KM1: 5.000d. HSD: 01-02-2027.", 0, date(2027, 2, 1)),
]


@pytest.mark.parametrize(("reply", "amount", "until"), REPLIES)
def test_the_amount_and_the_date_in_each_operators_wording(reply, amount, until):
    found = ussd.parse_balance(reply)
    assert (found.balance_vnd, found.valid_until) == (amount, until)


def test_a_reply_without_the_main_account_is_not_guessed():
    assert ussd.parse_balance("Goi ST90: con 2GB, KM 5.000d, 10.000d").balance_vnd is None
    assert ussd.parse_balance("He thong dang ban, vui long thu lai sau").read is False


TEXT = "TK chính=25.300đ, sử dụng đến 0h ngày 15/03/2027."


@pytest.mark.parametrize(("line", "expected"), [
    ('+CUSD: 0,"TK chinh=25.300d, su dung den 0h ngay 15/03/2027.",15', "TK chinh=25.300d"),
    ('+CUSD: 0,"' + gsm7.pack_septets(gsm7.to_septets("TK chinh=25.300d, HSD 15/03/2027")).hex().upper() + '",15',
     "TK chinh=25.300d"),
    ('+CUSD: 0,"' + TEXT.encode("utf-16-be").hex().upper() + '",72', "TK chính=25.300đ"),
    ('+CUSD: 0,"' + TEXT.encode("utf-16-be").hex().upper() + '",68', "TK chính=25.300đ"),
    ('+CUSD: 2,"' + TEXT.encode("utf-16-be").hex().upper() + '",72', "TK chính"),
])
def test_every_form_a_modem_gives_a_ussd_reply_in(line, expected):
    reply = ussd.parse_cusd(line)
    assert reply is not None and reply.text.startswith(expected), reply
    assert ussd.parse_balance(reply.text).balance_vnd == 25_300


def test_cusd_lines_that_are_not_answers():
    assert ussd.parse_cusd("+CUSD: 4").mode == 4
    assert ussd.parse_cusd("+CMTI: \"SM\",3") is None
    assert ussd.parse_cusd('+CUSD: 0,"12345",15').text == "12345"  # digits that look like hex stay digits


def test_the_operators_code():
    assert ussd.code_for("Viettel") == "*101#"
    assert ussd.code_for("VINAPHONE") == "*101#"
    assert ussd.code_for("Mobifone", "*102#") == "*102#"
    assert ussd.code_for(None) == "*101#"


@pytest.mark.parametrize(("text", "expected"), [
    ("Thuê bao của Quý khách sẽ bị khóa chiều đi sau 24 giờ do chưa xác thực thông tin chính chủ.",
     ["lock", "verify"]),
    ("Quy khach vui long xac thuc sinh trac hoc tren ung dung VNeID trong 30 ngay de tranh bi khoa hai chieu.",
     ["lock", "verify", "biometric"]),
    ("Tài khoản của Quý khách sẽ hết hạn sử dụng vào ngày 05/01/2027.", ["expiry"]),
    ("Tai khoan chinh cua Quy khach con 4.200d, han su dung den 12/02/2027.", ["balance"]),
    ("Uu dai: tang 50% gia tri the nap trong ngay 25/12. Soan KM gui 9084.", []),
])
def test_what_an_operators_notice_speaks_of(text, expected):
    assert topics(text) == expected


def test_call_lines():
    assert lines.kind_of("RING") == "RING" and lines.kind_of("+CRING: VOICE") == "RING"
    assert lines.kind_of('+CLIP: "0912345678",129,"",0,"",0') == "CLIP"
    assert lines.kind_of('+CUSD: 0,"x",15') == "CUSD" and lines.kind_of("+CMTI: \"SM\",1") is None
    assert lines.caller('+CLIP: "0912345678",129,"",0,"",0') == ("0912345678", False)
    assert lines.caller('+CLIP: "+84912345678",145') == ("+84912345678", False)
    assert lines.caller('+CLIP: "",128,"",0,"",1') == ("", True)


def test_the_line_as_a_state():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    state = LineState(probe_base=0.0, probe_max=0.0)
    assert state.failed(SendError("CMS ERROR 500", code=500), now) is False  # the message's own
    assert state.state == "unknown"
    assert state.failed(SendError("CMS ERROR 41", code=41), now) is False
    assert state.failed(SendError("CMS ERROR 41", code=41), now) is False
    assert state.failed(SendError("CMS ERROR 41", code=41), now) is True  # the third in a row
    assert state.state == "refused"
    assert state.sent(now) is True and state.state == "ok"
    assert state.failed(SendError("CMS ERROR 8", code=8), now) is True and state.state == "barred"
    assert state.failed(SendError("CMS ERROR 500", code=500), now) is True  # a probe: the part still waits
    state.sent(now)
    assert state.failed(SendError("CMS ERROR 69", code=69), now) is True and state.state == "no_credit"
    state.sent(now)
    for _ in range(2):
        assert state.failed(SendError("timeout", timeout=True), now) is False
    assert state.failed(SendError("timeout", timeout=True), now) is True and state.detail == "timeout"


def test_probes_back_off_and_a_restart_remembers_the_bar():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    state = LineState(probe_base=60.0, probe_max=600.0)
    state.failed(SendError("CMS ERROR 10", code=10), now)
    assert not state.may_send()  # the next probe is a minute away
    restarted = LineState(probe_base=60.0, probe_max=600.0)
    restarted.restore(state.view(), now)
    assert restarted.state == "barred" and restarted.may_send()  # the first part after a start probes


HCM = ZoneInfo("Asia/Ho_Chi_Minh")
QUIET = {"quiet_start": time(22, 0), "quiet_end": time(7, 0), "tz": HCM}


def test_how_long_a_broadcast_takes_under_the_caps_and_the_quiet_hours():
    start = datetime(2026, 12, 1, 8, 0, tzinfo=HCM)
    # 60 an hour, no daily cap: 120 parts are two hours.
    assert pacing.finish_time(120, start, per_hour=60, per_day=0, **QUIET) == datetime(2026, 12, 1, 10, 0, tzinfo=HCM)
    # 400 a day at 60 an hour: 1,000 parts take two full days and 200 more on the third morning.
    end = pacing.finish_time(1000, start, per_hour=60, per_day=400, **QUIET)
    assert end == datetime(2026, 12, 3, 10, 20, tzinfo=HCM)
    assert pacing.duration_words((end - start).total_seconds()) == (2, 2, 20)
    # Started at 21:30: half an hour now, the rest from 07:00.
    late = datetime(2026, 12, 1, 21, 30, tzinfo=HCM)
    assert pacing.finish_time(60, late, per_hour=60, per_day=0, **QUIET) == datetime(2026, 12, 2, 7, 30, tzinfo=HCM)
    # No caps: what a modem can do.
    assert pacing.finish_time(600, start, per_hour=0, per_day=0, **QUIET) == datetime(2026, 12, 1, 9, 0, tzinfo=HCM)
