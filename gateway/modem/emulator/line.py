"""The emulated SIM's contract with its operator: credit, validity, barring, identity, what it says.

A real SIM's life shows at the serial port in a few ways, and the emulator plays each one
(``LineModel``), set through ``ModemEmulator.set_line`` / the control API's ``POST /line``:

- **USSD** (``AT+CUSD``): the balance and validity in each operator's wording (Viettel,
  VinaPhone, MobiFone; accented or "không dấu"; amounts and dates invented), in each form a
  modem gives it (``ussd_form``: ``text`` dcs 15, ``gsm7`` packed hex dcs 15, ``ucs2`` hex
  dcs 72, ``ucs2_68`` hex dcs 68), answered after OK (or before it, ``ussd = "before_ok"``),
  never (``silent``), or refused by a modem without USSD (``unsupported``);
- **barring** on send: every ``AT+CMGS`` answers ``+CMS ERROR: <barred>`` (8, 10, 50, 69, 38,
  41, 42, 47...), or only after ``barred_after`` more parts;
- **credit**: ``charge`` takes ``price_per_part`` per part from the balance; ``credit_parts``
  gives credit for exactly that many more parts, after which sends answer ``no_credit_code``;
- **identity**: ICCID, IMSI, IMEI (``AT+CCID``/``AT+ICCID``, ``AT+CIMI``, ``AT+CGSN``), and a
  SIM or modem swap (``swap``) seen at the next connect;
- **the loop**: an SMS to the SIM's own number comes back after ``loop_delay`` (or not: ``loop``);
- **operator notices** (``notice``): SMS from "Viettel"/"VinaPhone"/"MobiFone" or a short code;
- **calls** (``calls.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

from gateway.sms import gsm7
from gateway.sms.text import khong_dau

USSD_FORMS = ("text", "gsm7", "ucs2", "ucs2_68")
USSD_MODES = ("ok", "before_ok", "silent", "unsupported")


@dataclass
class LineModel:
    """The SIM as the operator sees it (see the module docstring)."""

    wording: str = ""  # "viettel" | "vinaphone" | "mobifone"; "" follows the network's name
    accented: bool = False
    ussd_form: str = "text"
    ussd: str = "ok"
    balance_vnd: int = 85_000
    valid_until: date | None = None  # None: 120 days after today
    price_per_part: int = 350
    charge: bool = False  # take price_per_part from the balance for every part sent
    credit_parts: int | None = None  # credit for this many more parts, then no_credit_code
    no_credit_code: int = 50
    barred: int = 0  # every send answers +CMS ERROR: barred (0: not barred)
    barred_after: int | None = None  # that many more parts go through, then barred_code
    barred_code: int = 8
    loop: bool = True  # an SMS to own_number comes back
    loop_delay: float = 0.3
    iccid: str = "8984048000000000017"
    imsi: str = "452040000000017"
    imei: str = "861234050000017"
    swaps: int = 0
    ussd_requests: int = 0  # codes asked so far (tests see a session open)

    def set(self, name: str, value: object) -> None:
        """One field from the control API, checked (ValueError names what is wrong)."""
        known = {f.name: f for f in fields(self)}
        if name not in known or name in ("swaps", "ussd_requests"):
            settable = ", ".join(n for n in known if n not in ("swaps", "ussd_requests"))
            raise ValueError(f"unknown line field {name!r}: one of {settable}")
        if name == "ussd_form" and value not in USSD_FORMS:
            raise ValueError(f"ussd_form must be one of {', '.join(USSD_FORMS)}")
        if name == "ussd" and value not in USSD_MODES:
            raise ValueError(f"ussd must be one of {', '.join(USSD_MODES)}")
        if name == "valid_until":
            value = date.fromisoformat(str(value)) if value else None
        elif name == "credit_parts":
            value = None if value is None else int(value)
            if value is not None:
                self.balance_vnd = value * self.price_per_part
        elif name == "barred_after":
            value = None if value is None else int(value)
        elif name in ("balance_vnd", "price_per_part", "no_credit_code", "barred", "barred_code"):
            value = int(value)
        elif name in ("accented", "charge", "loop"):
            value = bool(value)
        elif name == "loop_delay":
            value = float(value)
        setattr(self, name, value)

    def swap(self, sim: bool, modem: bool) -> None:
        """Another SIM card (new ICCID and IMSI) and/or another modem (new IMEI), as after a visit to a shop."""
        self.swaps += 1
        tail = f"{17 + self.swaps:03d}"
        if sim:
            self.iccid = self.iccid[:-3] + tail
            self.imsi = self.imsi[:-3] + tail
        if modem:
            self.imei = self.imei[:-3] + tail

    def refusal(self) -> int | None:
        """The +CMS ERROR the next send meets, or None when it goes through (then ``accepted``)."""
        if self.barred:
            return self.barred
        if self.credit_parts is not None and self.credit_parts <= 0:
            return self.no_credit_code
        if self.charge and self.balance_vnd < self.price_per_part:
            return self.no_credit_code
        return None

    def accepted(self) -> None:
        """One part went out: the network charges it and counts towards a bar."""
        if self.charge or self.credit_parts is not None:
            self.balance_vnd = max(0, self.balance_vnd - self.price_per_part)
        if self.credit_parts is not None:
            self.credit_parts -= 1
        if self.barred_after is not None:
            self.barred_after -= 1
            if self.barred_after <= 0:
                self.barred, self.barred_after = self.barred_code, None

    def expiry(self, today: date) -> date:
        return self.valid_until or today + timedelta(days=120)

    # -- USSD --------------------------------------------------------------------------------------
    def balance_text(self, operator: str, today: date) -> str:
        """The reply to the balance code in the operator's wording (invented figures)."""
        who = self.wording or _operator_key(operator)
        amount, until = _money(self.balance_vnd), self.expiry(today).strftime("%d/%m/%Y")
        text = {
            "viettel": f"TK chính={amount}đ, sử dụng đến 0h ngày {until}. Bấm *098# để mua gói cước ưu đãi.",
            "vinaphone": f"Tài khoản chính của Quý khách là {self.balance_vnd} đồng, hạn sử dụng đến {until}."
                         " Cảm ơn Quý khách đã sử dụng dịch vụ VinaPhone.",
            "mobifone": f"TKC: {amount}đ, KM1: 0đ. HSD: {self.expiry(today).strftime('%d-%m-%Y')}."
                        " Soạn KT gửi 999 để xem gói cước.",
        }.get(who, f"TKC {amount}đ, HSD {until}")
        return text if self.accented else khong_dau(text)

    def cusd(self, operator: str, today: date) -> str:
        """The ``+CUSD:`` line the modem writes, in ``ussd_form``: the GSM alphabet (plain or packed)
        cannot carry Vietnamese accents, UCS-2 can."""
        text = self.balance_text(operator, today)
        if self.ussd_form == "gsm7":
            septets = gsm7.to_septets(khong_dau(text))
            return f'+CUSD: 0,"{gsm7.pack_septets(septets).hex().upper()}",15'
        if self.ussd_form in ("ucs2", "ucs2_68"):
            return f'+CUSD: 0,"{text.encode("utf-16-be").hex().upper()}",{72 if self.ussd_form == "ucs2" else 68}'
        return f'+CUSD: 0,"{khong_dau(text)}",15'  # plain text is the GSM alphabet: no accents


def _money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def _operator_key(operator: str) -> str:
    name = (operator or "").lower().replace(" ", "")
    for key in ("viettel", "vinaphone", "mobifone"):
        if key in name:
            return key
    return "viettel"


# -- operator notices: what the operator texts the subscriber (invented wording, dates and sums) ---

NOTICE_SENDERS = {"viettel": "Viettel", "vinaphone": "VinaPhone", "mobifone": "MobiFone"}
NOTICES: dict[str, str] = {
    "lock": "Thuê bao của Quý khách sẽ bị khóa chiều đi sau 24 giờ do chưa xác thực thông tin chính chủ."
            " Vui lòng xác thực tại cửa hàng hoặc ứng dụng của nhà mạng. Chi tiết gọi 198 (miễn phí).",
    "biometric": "Thực hiện Thông tư 08/2026/TT-BKHCN, SIM của Quý khách vừa được lắp vào thiết bị mới. Chiều gọi đi"
                 " và nhắn tin đi sẽ tạm ngừng sau 2 giờ. Quý khách vui lòng xác thực sinh trắc học trên ứng dụng"
                 " VNeID hoặc ứng dụng của nhà mạng trong 30 ngày để tránh bị khóa hai chiều.",
    "expiry": "Tài khoản của Quý khách sẽ hết hạn sử dụng vào ngày {until}. Vui lòng nạp tiền để duy trì liên lạc.",
    "balance": "Tài khoản chính của Quý khách còn {amount}đ, hạn sử dụng đến {until}. Nạp tiền để tiếp tục sử dụng.",
    "promo": "Ưu đãi: tặng 50% giá trị thẻ nạp trong ngày 25/12. Soạn KM gửi 9084 để nhận. Từ chối quảng cáo"
             " soạn TC gửi 9241.",
}


def notice_text(topic: str, line: LineModel, today: date, accented: bool = True) -> str:
    if topic not in NOTICES:
        raise ValueError(f"unknown notice topic {topic!r}: one of {', '.join(NOTICES)}")
    text = NOTICES[topic].format(amount=_money(line.balance_vnd), until=line.expiry(today).strftime("%d/%m/%Y"))
    return text if accented else khong_dau(text)
