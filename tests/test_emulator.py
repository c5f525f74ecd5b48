"""The modem emulator, driven through real pyserial and python-gsmmodem like the gateway does.

If these pass, the gateway's modem tests exercise the same code paths as on a SIM800 or
SIM7600: what python-gsmmodem sends, what it insists on, and how it breaks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest
import serial
from gsmmodem.exceptions import CmsError, CommandError, IncorrectPinError, PinRequiredError, TimeoutException
from gsmmodem.modem import GsmModem

from gateway.modem.emulator import EmulatorClient, ModemEmulator
from gateway.sms import pdu as pdu_codec

ROOT = Path(__file__).resolve().parent.parent
FINALS = ("OK", "ERROR", "+CME ERROR", "+CMS ERROR", "> ")


def close_modem(gsm: GsmModem) -> None:
    """Close like a careful gateway: let python-gsmmodem's notification threads (one per
    +CMTI/+CDSI, still inside serial.write or waiting for OK) finish first, then stop the
    reader without waiting out pyserial's 1 s read timeout."""
    for thread in threading.enumerate():
        if "HandleModemNotification" in thread.name:
            thread.join(timeout=5)
    gsm.alive = False
    with contextlib.suppress(Exception):  # the port may be gone already; closing is what counts
        gsm.serial.cancel_read()
    gsm.close()


class RawPort:
    """A bare serial port with just enough line handling to speak AT by hand.

    Unsolicited codes (+CMTI, +CDSI) are set aside wherever they arrive, so a test can
    ask for them with `urc()` without racing the reply of the command before.
    """

    URC_PREFIXES = ("+CMTI", "+CDSI")

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.buffer = b""
        self.lines: deque[str] = deque()
        self.urcs: deque[str] = deque()

    def _line(self, deadline: float) -> str | None:
        while not self.lines:
            if self.buffer == b"> ":
                self.buffer = b""
                return "> "
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.port.timeout = remaining
            self.buffer += self.port.read(self.port.in_waiting or 1)
            *complete, self.buffer = self.buffer.split(b"\r\n")
            self.lines.extend(c.decode() for c in complete if c)
        return self.lines.popleft()

    def at(self, command: str, timeout: float = 2.0) -> list[str]:
        """Send one AT command; its reply lines up to the final result code (or "> ")."""
        self.port.write(command.encode() + b"\r")
        deadline, reply = time.monotonic() + timeout, []
        while (line := self._line(deadline)) is not None:
            if line.startswith(self.URC_PREFIXES):
                self.urcs.append(line)
                continue
            reply.append(line)
            if line.startswith(FINALS):
                return reply
        raise AssertionError(f"no final result for {command!r}: {reply}")

    def urc(self, timeout: float = 2.0) -> str:
        """The next unsolicited line, or "" if none came in time."""
        deadline = time.monotonic() + timeout
        while not self.urcs:
            line = self._line(deadline)
            if line is None:
                return ""
            self.urcs.append(line)
        return self.urcs.popleft()

    def send(self, data: bytes, timeout: float = 2.0) -> str:
        """Write raw bytes (a PDU and Ctrl-Z) and return the next line that is not a URC."""
        self.port.write(data)
        deadline = time.monotonic() + timeout
        while (line := self._line(deadline)) is not None:
            if not line.startswith(self.URC_PREFIXES):
                return line
            self.urcs.append(line)
        return ""


@pytest.fixture
def emu(tmp_path):
    emulator = ModemEmulator(link=str(tmp_path / "ttyMODEM"), report_delay=0.1)
    emulator.start()
    yield emulator
    emulator.stop()


class Inbox(list):
    """What python-gsmmodem hands a callback (SMS or status reports), waitable."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Condition()

    def add(self, item) -> None:
        with self.arrived:
            self.append(item)
            self.arrived.notify_all()

    def wait(self, count: int, timeout: float = 3.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self) >= count, timeout)


@pytest.fixture
def received():
    return Inbox()


@pytest.fixture
def gsm(emu, received):
    reports = Inbox()
    modem = GsmModem(emu.path, smsReceivedCallbackFunc=received.add,
                     smsStatusReportCallback=reports.add)
    modem.reports = reports
    modem.connect()
    yield modem
    close_modem(modem)


@pytest.fixture
def raw(emu):
    with serial.Serial(emu.path, 115200, timeout=1, rtscts=True, dsrdtr=True) as port:
        yield RawPort(port)


# --- python-gsmmodem against the emulator -------------------------------------------------

def test_connect_and_identity(gsm):
    assert gsm.signalStrength == 20
    assert gsm.networkName == "Viettel"
    assert "SIMCOM" in gsm.manufacturer
    assert gsm.imei.isdigit() and len(gsm.imei) == 15
    assert gsm.smsc == "+84980200030"
    assert "+CSCS" in gsm.supportedCommands


def test_list_stored_returns_preloaded(tmp_path):
    emulator = ModemEmulator(link=str(tmp_path / "tty"))
    emulator.preload("+84912345678", "Mat trom xe may o thon 3")
    emulator.preload("0987654321", "Da doc roi", read=True)
    emulator.start()
    modem = GsmModem(emulator.path)
    try:
        modem.connect()
        messages = modem.listStoredSms()
        assert [(m.number, m.text, m.status) for m in messages] == [
            ("+84912345678", "Mat trom xe may o thon 3", 0),
            ("0987654321", "Da doc roi", 1),
        ]
        assert [m.status for m in modem.listStoredSms()] == [1, 1]  # listing marks read
    finally:
        close_modem(modem)
        emulator.stop()


def test_send_is_recorded_and_status_report_arrives(emu, gsm):
    sms = gsm.sendSms("+84912000111", "Cam on, cong an xa da nhan tin bao")
    assert emu.wait_for_sent(1, timeout=2)
    [message] = emu.sent_messages()
    assert (message.destination, message.text, message.parts) == (
        "+84912000111", "Cam on, cong an xa da nhan tin bao", 1)
    assert message.references == [sms.reference]
    assert gsm.reports.wait(1)
    assert gsm.reports[0].reference == sms.reference
    assert sms.report is not None and sms.status == sms.DELIVERED
    assert emu.stored_count() == 0  # python-gsmmodem read and deleted the report


def test_multipart_send_is_reassembled(emu, gsm):
    text = "Thong bao: " + "hop dan thon vao 8h sang thu bay tai nha van hoa. " * 5
    gsm.sendSms("0912345678", text)
    assert emu.wait_for_sent(1, timeout=3)
    [message] = emu.sent_messages()
    assert message.text == text and message.parts == len(emu.sent_parts()) > 1
    assert message.references == sorted(message.references)


def test_mr_increments_modulo_256(emu):
    emu._mr = 255
    pdu = pdu_codec.encode_submit("0912345678", "x", reference=0)[0]
    for expected in (255, 0):
        assert emu._submit(pdu.hex, pdu.tpdu_length).lines == [f"+CMGS: {expected}"]


def test_cmti_on_deliver_reaches_callback(emu, gsm, received):
    emu.deliver("0987654321", "Co nguoi la mat o cho")
    assert received.wait(1)
    assert (received[0].number, received[0].text) == ("0987654321", "Co nguoi la mat o cho")
    assert emu.wait_for_stored(0, timeout=2)  # python-gsmmodem deletes after the callback


def test_cmti_is_its_own_write(emu, raw):
    assert raw.at("AT+CNMI=2,1,0,2") == ["OK"]
    emu.deliver("0987654321", "hello")
    assert raw.urc() == '+CMTI: "ME",1'
    lines = raw.at("AT+CMGR=1")
    assert lines[0] == f"+CMGR: 0,,{pdu_codec.tpdu_length(lines[1])}" and lines[-1] == "OK"
    assert pdu_codec.decode(lines[1]).text == "hello"
    assert raw.at("AT+CMGR=1")[0].startswith("+CMGR: 1,")  # read now
    assert raw.at("AT+CMGR=2") == ["+CMS ERROR: 321"]


def test_multipart_deliver_out_of_order(emu, raw):
    text = "Phát hiện cháy rừng ở khu vực đồi thông, đề nghị công an xã hỗ trợ ngay " * 2
    emu.deliver("0912345678", text, order=[2, 0, 1])
    lines = raw.at("AT+CMGL=4")
    parts = [pdu_codec.decode(p) for p in lines[1:-1:2]]
    assert [p.concat[2] for p in parts] == [3, 1, 2]
    assert "".join(p.text for p in sorted(parts, key=lambda p: p.concat[2])) == text


def test_store_full_holds_inbound_until_delete(tmp_path):
    emulator = ModemEmulator(link=str(tmp_path / "tty"), capacity=2)
    emulator.start()
    try:
        with serial.Serial(emulator.path, timeout=1, rtscts=True, dsrdtr=True) as port:
            raw = RawPort(port)
            for n in range(3):
                emulator.deliver("0912345678", f"tin {n}")
            assert (emulator.stored_count(), emulator.network_backlog()) == (2, 1)
            assert [raw.urc(), raw.urc()] == ['+CMTI: "ME",1', '+CMTI: "ME",2']
            assert raw.at("AT+CPMS?")[0] == '+CPMS: "ME",2,2,"ME",2,2,"ME",2,2'
            assert raw.at("AT+CMGD=1") == ["OK"]
            assert raw.urc() == '+CMTI: "ME",1'
            assert (emulator.stored_count(), emulator.network_backlog()) == (2, 0)
            assert "tin 2" in [pdu_codec.decode(s.pdu).text for s in emulator.stored()]
    finally:
        emulator.stop()


def test_sim_full_fault(emu, raw):
    emu.set_fault("sim_full", True)
    emu.deliver("0912345678", "held")
    assert raw.at("AT+CPMS?")[0] == '+CPMS: "ME",50,50,"ME",50,50,"ME",50,50'
    assert emu.network_backlog() == 1
    emu.set_fault("sim_full", False)
    assert raw.urc() == '+CMTI: "ME",1'


def test_cmgd_flags(emu, raw):
    for n in range(4):
        emu.preload("0912345678", f"tin {n}", read=n < 2)
    assert raw.at("AT+CMGD=1,1") == ["OK"]  # all read ones
    assert [s.index for s in emu.stored()] == [3, 4]
    assert raw.at("AT+CMGD=1,4") == ["OK"]
    assert emu.stored_count() == 0
    assert raw.at("AT+CMGD=99") == ["+CMS ERROR: 321"]


def test_raw_pdu_kept_as_is(emu, raw):
    emu.deliver_pdu("07914889200030F0DEADBEEF")
    binary = pdu_codec.encode_deliver_binary("VIETTEL", b"\x00\x01\xff", timestamp=emu.clock())
    emu.deliver_pdu(binary)
    assert raw.at("AT+CMGL=4") == [
        "+CMGL: 1,0,,4", "07914889200030F0DEADBEEF",
        f"+CMGL: 2,0,,{pdu_codec.tpdu_length(binary)}", binary, "OK"]


def test_undecodable_pdu_shifts_python_gsmmodem_indexes(emu, gsm):
    """A python-gsmmodem trap the emulator reproduces: after a PDU it cannot decode,
    listStoredSms() gives the next message the bad one's index. Delete by that index
    and the wrong slot goes; the real SMS stays and comes back on the next drain."""
    emu.preload_pdu("07914889200030F0DEADBEEF")
    emu.preload("0912345678", "tin that")
    [sms] = gsm.listStoredSms()
    assert (sms.text, sms.index) == ("tin that", 1)  # it lives at index 2


def test_raw_at_commands(emu, gsm):
    assert gsm.write("AT") == ["OK"]
    assert gsm.write("AT+CREG?") == ["+CREG: 0,1", "OK"]
    assert gsm.write('AT+CCLK="24/02/10,07:30:00+28"') == ["OK"]
    assert gsm.write("AT+CCLK?")[0].startswith('+CCLK: "24/02/10,07:30:0')
    assert gsm.write("AT+CSCS=?")[0] == '+CSCS: ("IRA","GSM","UCS2")'
    assert gsm.write("AT+CMGF=0;+CNMI?") == ["+CNMI: 2,1,0,2,0", "OK"]
    with pytest.raises(CommandError):
        gsm.write("AT+CMGF=1")
    with pytest.raises(CommandError):
        gsm.write("AT+NOSUCH")
    with pytest.raises(CommandError):
        gsm.write("AT+ZPAS?")


def test_echo_honoured(raw):
    assert raw.at("ATE1") == ["OK"]
    assert raw.at("AT+CSQ") == ["AT+CSQ\r", "+CSQ: 20,0", "OK"]
    assert raw.at("ATE0") == ["ATE0\r", "OK"]
    assert raw.at("AT") == ["OK"]


def test_cmgs_escape_and_bad_length(emu, raw):
    assert raw.at("AT+CMGS=20") == ["> "]
    assert raw.send(b"0011\x1b") == "OK"
    pdu = pdu_codec.encode_submit("0912345678", "hi", reference=0)[0]
    assert raw.at(f"AT+CMGS={pdu.tpdu_length + 1}") == ["> "]
    assert raw.send(pdu.hex.encode() + b"\x1a") == "+CMS ERROR: 304"
    assert emu.sent_messages() == []


def test_abandoned_prompt_recovers(emu, raw):
    """A gateway killed after "> " must not leave the next one talking into a PDU."""
    assert raw.at("AT+CMGS=20") == ["> "]
    raw.port.write(b"0011000B91")  # half a PDU, then the sender dies
    assert raw.at("ATZ") == ["OK"]


# --- faults ----------------------------------------------------------------------------------

def test_pin_required(tmp_path):
    emulator = ModemEmulator(link=str(tmp_path / "tty"), pin="1234")
    emulator.start()
    try:
        for pin, error in ((None, PinRequiredError), ("0000", IncorrectPinError)):
            modem = GsmModem(emulator.path)
            with pytest.raises(error):
                modem.connect(pin=pin)
            close_modem(modem)
        modem = GsmModem(emulator.path)
        modem.connect(pin="1234")
        assert modem.signalStrength == 20
        close_modem(modem)
    finally:
        emulator.stop()


def test_cms_error_fault(emu, gsm):
    emu.set_fault("cms_error", 2)
    for _ in range(2):
        with pytest.raises(CmsError) as failure:
            gsm.sendSms("0912345678", "thu lai")
        assert failure.value.code == 500
    emu.set_fault("cms_error", {"count": 1, "code": 38})
    with pytest.raises(CmsError) as failure:
        gsm.sendSms("0912345678", "thu lai")
    assert failure.value.code == 38
    gsm.sendSms("0912345678", "thu lai")
    assert [m.text for m in emu.sent_messages()] == ["thu lai"]


def test_send_delay(emu, gsm):
    emu.set_fault("send_delay", 0.3)
    started = time.monotonic()
    gsm.sendSms("0912345678", "cham")
    assert time.monotonic() - started >= 0.3


def test_silent(emu, gsm):
    emu.set_fault("silent", True)
    with pytest.raises(TimeoutException):
        gsm.write("AT", timeout=0.3)
    emu.set_fault("silent", False)
    assert gsm.write("AT") == ["OK"]


def test_no_network(emu, gsm, received):
    emu.set_fault("no_network", True)
    assert gsm.write("AT+CREG?") == ["+CREG: 0,2", "OK"]
    assert gsm.signalStrength == -1
    with pytest.raises(CmsError):
        gsm.sendSms("0912345678", "khong co song")
    emu.deliver("0987654321", "dang cho mang")
    assert emu.network_backlog() == 1 and emu.stored_count() == 0
    emu.set_fault("no_network", False)
    assert received.wait(1) and received[0].text == "dang cho mang"
    assert emu.wait_for_stored(0, timeout=2)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_garbage_byte_kills_python_gsmmodem_reader(emu, gsm):
    emu.set_fault("garbage_byte", True)
    gsm.rxThread.join(timeout=2)
    assert not gsm.rxThread.is_alive() and gsm.alive  # the trap the gateway must watch
    with pytest.raises(TimeoutException):
        gsm.write("AT", timeout=0.3)


def test_cmti_mid_reply_is_swallowed(emu, gsm, received):
    emu.set_fault("cmti_mid_reply", 1)
    emu.deliver("0987654321", "lot giua")
    assert gsm.write("AT+CSQ") == ["+CSQ: 20,0", '+CMTI: "ME",1', "OK"]
    assert not received.wait(1, timeout=0.3)  # lost to the callback, still on the SIM
    assert emu.stored_count() == 1


def test_unplug_and_replug(emu, gsm):
    failed = threading.Event()
    gsm.fatalErrorCallback = lambda exc: failed.set()
    emu.preload("0912345678", "con tren SIM")
    link = emu.path
    emu.unplug()
    assert failed.wait(2) and not gsm.alive
    assert not os.path.exists(link)
    assert emu.replug() == link
    modem = GsmModem(link)
    try:
        modem.connect()
        assert [m.text for m in modem.listStoredSms()] == ["con tren SIM"]
    finally:
        close_modem(modem)


def test_burst_is_all_on_the_sim_for_a_drain(tmp_path):
    """300 SMS at once: every one is stored and one CMGL + CMGDs takes them all."""
    emulator = ModemEmulator(link=str(tmp_path / "tty"), capacity=400)
    emulator.start()
    modem = GsmModem(emulator.path)
    try:
        modem.connect()
        modem.write("AT+CNMI=2,0,0,2,0")  # store silently: no +CMTI threads racing the drain
        emulator.deliver_many([("0912345678", f"tin {n}") for n in range(300)])
        listed = modem.listStoredSms()
        for sms in listed:
            modem.deleteStoredSms(sms.index)
        assert sorted(int(s.text.split()[1]) for s in listed) == list(range(300))
        assert emulator.stored_count() == 0
    finally:
        close_modem(modem)
        emulator.stop()


def test_spaced_cmtis_each_reach_python_gsmmodem(tmp_path, received):
    """With urc_gap (a radio's pace) python-gsmmodem's own +CMTI path keeps up."""
    emulator = ModemEmulator(link=str(tmp_path / "tty"), urc_gap=0.1)
    emulator.start()
    modem = GsmModem(emulator.path, smsReceivedCallbackFunc=received.add)
    try:
        modem.connect()
        emulator.deliver_many([("0912345678", f"tin {n}") for n in range(5)])
        assert received.wait(5, timeout=5)
        assert sorted(s.text for s in received) == sorted(f"tin {n}" for n in range(5))
        assert emulator.wait_for_stored(0, timeout=2)
    finally:
        close_modem(modem)
        emulator.stop()


def test_survives_a_killed_gateway(emu):
    """The kill tests' premise: SIGKILL the process holding the port; the next connects."""
    emu.preload("0912345678", "truoc khi chet")
    script = (
        "import sys, time; from gsmmodem.modem import GsmModem\n"
        "m = GsmModem(sys.argv[1]); m.connect(); print('up', flush=True); time.sleep(60)\n"
    )
    gateway = subprocess.Popen([sys.executable, "-c", script, emu.path],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert gateway.stdout.readline().strip() == "up"
    finally:
        gateway.kill()
        gateway.wait()
    modem = GsmModem(emu.path)
    try:
        modem.connect()
        assert [s.text for s in modem.listStoredSms()] == ["truoc khi chet"]
    finally:
        close_modem(modem)


def test_at_round_trips_are_fast(gsm):
    started = time.monotonic()
    for _ in range(1000):
        gsm.write("AT")
    assert time.monotonic() - started < 2.0  # ~0.1 s here; real modems do ~100/s


# --- out of process --------------------------------------------------------------------------

def test_out_of_process(tmp_path):
    link = tmp_path / "ttyMODEM"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.modem.emulator", "--link", str(link), "--capacity", "20"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline().split()
        assert ready[:2] == ["READY", str(link)]
        client = EmulatorClient(f"http://127.0.0.1:{ready[2]}")
        client.deliver("0912345678", "tu ben ngoai")
        client.deliver_many([{"sender": "0912345678", "text": f"tin {n}"} for n in range(5)])
        assert client.preload("0912345678", "da co san", read=True) == [7]
        assert client.stored_count() == 7 and client.status()["capacity"] == 20
        modem = GsmModem(str(link))
        try:
            modem.connect()
            assert len(modem.listStoredSms()) == 7
            modem.sendSms("0987654321", "tra loi")
            assert client.wait_for_sent(1, timeout=3)
            assert client.sent_messages()[0].text == "tra loi"
            client.set_fault("silent", True)
            with pytest.raises(TimeoutException):
                modem.write("AT", timeout=0.3)
        finally:
            close_modem(modem)
        client.unplug()
        assert not link.exists()
        assert client.replug() == str(link) and link.is_symlink()
        client.shutdown()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- models: the LTE modems a commune can buy (issue 8) ----------------------------------------

@pytest.fixture
def model_raw(tmp_path, request):
    """A raw port on an emulator of the model named by the test's parameter."""
    emulator = ModemEmulator(link=str(tmp_path / "ttyLTE"), model=request.param, report_delay=0.05)
    emulator.start()
    with serial.Serial(emulator.path, 115200, timeout=1) as port:
        yield emulator, RawPort(port)
    emulator.stop()


@pytest.mark.parametrize(("model_raw", "maker", "act"), [
    ("sim7600", "SIMCOM INCORPORATED", 7), ("a7670", "SIMCOM INCORPORATED", 7),
    ("ec25", "Quectel", 7), ("e3372", "huawei", 7), ("sim800", "SIMCOM_Ltd", 0),
], indirect=["model_raw"])
def test_models_identity_and_registration(model_raw, maker, act):
    emu, raw = model_raw
    assert raw.at("AT+CGMI") == [maker, "OK"]
    assert raw.at("AT+COPS?")[0] == f'+COPS: 0,0,"Viettel",{act}'
    if act == 7:  # LTE-only attach: circuit switched says "not registered", packet domains say 1
        assert raw.at("AT+CREG?")[0] == "+CREG: 0,0"
        assert raw.at("AT+CGREG?")[0] == "+CGREG: 0,1"
        assert raw.at("AT+CEREG?")[0] == "+CEREG: 0,1"
    else:
        assert raw.at("AT+CREG?")[0] == "+CREG: 0,1"
        assert raw.at("AT+CEREG?") == ["ERROR"]
    emu.set_fault("no_network", True)
    assert raw.at("AT+CGREG?")[0] == "+CGREG: 0,2"
    emu.set_fault("registration_error", True)
    assert raw.at("AT+CGREG?") == ["ERROR"]


def test_default_model_is_unchanged(emu, raw):
    assert raw.at("AT+CREG?")[0] == "+CREG: 0,1" and raw.at("AT+CGREG?")[0] == "+CGREG: 0,1"
    assert raw.at("AT+CEREG?") == ["ERROR"]
    assert raw.at("AT+CPMS=?")[0] == '+CPMS: ("ME","SM"),("ME","SM"),("ME","SM")'
    assert raw.at("AT+CPSI?") == ["ERROR"] and raw.at("AT^CURC=0") == ["ERROR"]


@pytest.mark.parametrize("model_raw", ["sim7600"], indirect=True)
def test_simcom_serving_cell_network_time_and_report_store(model_raw):
    emu, raw = model_raw
    assert raw.at("AT+CPSI?")[0].startswith("+CPSI: LTE,Online,452-04,") and ",-90,-850," in raw.at("AT+CPSI?")[0]
    assert raw.at("AT+CCLK?")[0] == '+CCLK: "80/01/06,00:00:27+00"'  # not synced yet
    assert raw.at("AT+CLTS=1") == ["OK"]
    assert raw.at("AT+CCLK?")[0][len('+CCLK: "'):][:8] == emu.clock().strftime("%y/%m/%d")
    assert raw.at("AT+CTZU=1") == ["ERROR"]  # the Quectel command
    assert raw.at("AT+CMGF=0;+CSMP=49,167,0,0") == ["OK"]
    pdu = pdu_codec.encode_submit("0912345678", "bao cao", reference=0)[0]
    assert raw.at(f"AT+CMGS={pdu.tpdu_length}") == ["> "]
    assert raw.send(pdu.hex.encode() + b"\x1a").startswith("+CMGS:")
    assert raw.urc() == "OK"  # the end of the +CMGS reply
    assert raw.urc() == '+CDSI: "SR",1'  # SIMCom keeps reports in their own store
    assert [(s.memory, s.kind) for s in emu.stored()] == [("SR", "status-report")]


@pytest.mark.parametrize("model_raw", ["ec25"], indirect=True)
def test_every_store_holds_its_own_and_mt_is_both(model_raw):
    emu, raw = model_raw
    emu.preload("0912345678", "tren SIM", memory="SM")
    emu.preload("0912345678", "trong modem", memory="ME")
    assert raw.at("AT+CPMS=?")[0] == '+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")'
    assert raw.at('AT+CPMS="SM"')[0] == "+CPMS: 1,50,1,50,1,50"
    assert raw.at("AT+CMGL=4")[0] == "+CMGL: 1,0,,{}".format(len(emu.stored("SM")[0].pdu) // 2 - 8)
    assert raw.at('AT+CPMS="MT"')[0].startswith("+CPMS: 2,100,")
    listing = raw.at("AT+CMGL=4")
    assert [line.split(",")[0] for line in listing if line.startswith("+CMGL")] == ["+CMGL: 1", "+CMGL: 51"]
    assert raw.at("AT+CMGD=51") == ["OK"]
    assert [s.memory for s in emu.stored()] == ["SM"]
    assert raw.at("AT+QCSQ")[0] == '+QCSQ: "LTE",-55,-85,195,-9'


def test_one_memory_lists_each_sms_under_every_name(tmp_path):
    """A modem whose store names are one memory: SM and ME list the same SMS at the same index,
    and a delete under one name frees the slot under all of them."""
    emulator = ModemEmulator(link=str(tmp_path / "tty"), one_memory=True)
    emulator.start()
    try:
        with serial.Serial(emulator.path, 115200, timeout=1) as port:
            raw = RawPort(port)
            emulator.preload("0912345678", "mot", memory="SM")
            emulator.preload("0912345678", "hai", memory="ME")
            listings = []
            for memory in ("SM", "ME", "SR"):
                assert raw.at(f'AT+CPMS="{memory}"')[0].startswith("+CPMS: 2,50,")
                listings.append([line for line in raw.at("AT+CMGL=4") if line != "OK"])
            assert len(listings[0]) == 4 and listings[1] == listings[2]  # 2 headers and their PDUs
            assert listings[1] == [line.replace(",0,,", ",1,,") for line in listings[0]]  # the SM listing read them
            assert raw.at("AT+CMGD=1") == ["OK"] and emulator.stored_count() == 1
            assert raw.at('AT+CPMS="SM"') and raw.at("AT+CMGR=1") == ["+CMS ERROR: 321"]
    finally:
        emulator.stop()


@pytest.mark.parametrize("model_raw", ["e3372"], indirect=True)
def test_huawei_lines_inside_listings_until_curc_0(model_raw):
    emu, raw = model_raw
    emu.preload("0912345678", "tin 1")
    listing = raw.at("AT+CMGL=4")
    assert listing[0].startswith("+CMGL: 1,") and listing[1] == "^RSSI:20" and listing[3] == "OK"
    assert raw.at("AT^HCSQ?")[0] == '^HCSQ: "LTE",50,56,120,22'
    assert raw.at("AT^CURC=0") == ["OK"]
    assert raw.at("AT+CMGL=4")[1] != "^RSSI:20"
    emu.set_fault("report_in_listing", 1)  # a stick that ignores AT^CURC=0
    assert raw.at("AT+CMGR=1")[1] == "^RSSI:17"
    emu.inject("^MODE:5,4")
    assert raw.urc() == "^MODE:5,4"


def test_cnmi_fallback_only_gives_cds_with_its_pdu(tmp_path):
    emulator = ModemEmulator(link=str(tmp_path / "tty"), report_delay=0.05, cnmi_fallback_only=True)
    emulator.start()
    reports = Inbox()
    modem = GsmModem(emulator.path, smsStatusReportCallback=reports.add, smsReceivedCallbackFunc=lambda sms: None)
    try:
        modem.connect()
        assert modem.write("AT+CNMI?")[0] == "+CNMI: 2,1,0,1,0"  # python-gsmmodem's fallback
        modem.sendSms("0912345678", "co bao cao")
        assert reports.wait(1, 3) and reports[0].status == 0  # +CDS: <len> then the PDU line
        assert emulator.stored_count() == 0
    finally:
        close_modem(modem)
        emulator.stop()


def test_out_of_process_model_and_inject(tmp_path):
    link = tmp_path / "ttyMODEM"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.modem.emulator", "--link", str(link), "--model", "e3372"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        ready = process.stdout.readline().split()
        client = EmulatorClient(f"http://127.0.0.1:{ready[2]}")
        assert client.status()["model"] == "e3372"
        assert client.preload("0912345678", "tren SIM", memory="SM") == [1]
        assert [s.memory for s in client.stored()] == ["SM"]
        with serial.Serial(str(link), 115200, timeout=1) as port:
            raw = RawPort(port)
            assert raw.at("AT+CGMI") == ["huawei", "OK"]
            client.inject("^RSSI:9")
            assert raw.urc() == "^RSSI:9"
        client.shutdown()
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
