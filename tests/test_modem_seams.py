"""The modem's seams (issue 18): AT parsing apart from the library, a parser per serving-cell
command, the ``Transport`` protocol the worker drives, and threads named after their port."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
from conftest import ROOT, make_config, rows, wait_until

from gateway.clock import Clock
from gateway.database import prepare_gateway
from gateway.errors import ConfigError
from gateway.modem import at_parse
from gateway.modem.at_parse import SERVING_CELL_PARSERS, ServingCell, modem_status, serving_cell
from gateway.modem.emulator import ModemEmulator
from gateway.modem.profiles import load_profile
from gateway.modem.transport import ModemTransport
from gateway.modem.types import Transport
from gateway.modem.worker import ModemWorker, all_settings_from_config, serial_transport
from gateway.storage import ThreadLocalDb

SHIPPED_PROFILES = ("generic", "sim7600-usb", "a7670-usb", "ec25-usb", "huawei-usb", "sim800-uart")


# -- parsers: pure functions of the lines a modem sends ---------------------------------------


@pytest.mark.parametrize(("command", "lines", "cell"), [
    ("AT+CPSI?", ["+CPSI: LTE,Online,452-04,0x1A2B,27447297,310,EUTRAN-BAND3,1650,5,5,-110,-954,-545,15", "OK"],
     ServingCell("4G", rsrp=-95, rsrq=-11.0)),
    ("AT+CPSI?", ["+CPSI: NO SERVICE,Online"], ServingCell(None)),
    ("AT+CPSI?", ["+CPSI: WCDMA,Online,452-04,0x1A2B,27447297,WCDMA IMT 2000,10700,-70,-12"], ServingCell("3G")),
    ("AT+QCSQ", ['+QCSQ: "LTE",-55,-95,195,-11', "OK"], ServingCell("4G", rsrp=-95, rsrq=-11.0)),
    ("AT+QCSQ", ['+QCSQ: "NOSERVICE"'], ServingCell(None)),
    ("AT^HCSQ?", ["^RSSI:17", '^HCSQ: "LTE",50,46,120,18', "OK"], ServingCell("4G", rsrp=-95, rsrq=-11.0)),
    ("AT^HCSQ?", [], ServingCell()),  # refused: nothing known
])
def test_each_vendor_serving_cell_answer_is_read_by_the_parser_registered_under_its_command(command, lines, cell):
    assert SERVING_CELL_PARSERS[command](lines) == cell


def test_every_shipped_profile_names_a_registered_parser_and_an_unknown_command_is_refused(tmp_path):
    for name in SHIPPED_PROFILES:
        command = load_profile(name).serving_cell
        assert command == "" or command in SERVING_CELL_PARSERS, name
    path = tmp_path / "profiles.toml"
    path.write_text('[odd]\nserving_cell = "AT+XCELL?"\n')
    with pytest.raises(ConfigError, match=r"serving_cell must be empty or one of AT\+CPSI\?, AT\+QCSQ, AT\^HCSQ\?"):
        load_profile("odd", path)


def test_a_new_serving_cell_command_is_one_registered_function(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text('[newcomer]\nserving_cell = "AT+XCELL?"\n')

    @serving_cell("AT+XCELL?")
    def _xcell(lines: list[str]) -> ServingCell:
        match = at_parse.first_match(lines, at_parse.re.compile(r"^\+XCELL: (\w+),(-?\d+)"))
        return ServingCell("4G", rsrp=int(match.group(2))) if match and match.group(1) == "LTE" else ServingCell()

    try:
        profile = load_profile("newcomer", path)
        status = modem_status({"AT+CEREG?": ["+CEREG: 0,1"], "AT+XCELL?": ["+XCELL: LTE,-101", "OK"]},
                              profile.serving_cell)
    finally:
        del SERVING_CELL_PARSERS["AT+XCELL?"]
    assert (status.technology, status.rsrp, status.registered) == ("4G", -101, True)


def test_a_poll_reads_registration_from_every_domain_and_unknown_is_not_no():
    lte_only = modem_status({"AT+CSQ": ["+CSQ: 20,99"], "AT+CREG?": ["+CREG: 0,0"], "AT+CGREG?": ["+CGREG: 0,0"],
                             "AT+CEREG?": ["+CEREG: 0,1"], "AT+COPS?": ['+COPS: 0,0,"Viettel",7'],
                             "AT+CPMS?": ['+CPMS: "SM",3,50,"SM",3,50,"SM",3,50']}, smsc="+84980200030")
    assert (lte_only.registered, lte_only.registration, lte_only.technology) == (True, "CREG 0 CGREG 0 CEREG 1", "4G")
    assert (lte_only.signal, lte_only.operator, lte_only.sim_used, lte_only.sim_total) == (20, "Viettel", 3, 50)
    assert lte_only.smsc == "+84980200030"
    refused = modem_status({"AT+CSQ": ["+CSQ: 99,99"]})
    assert (refused.registered, refused.registration, refused.signal) == (None, None, None)


def test_single_answers():
    assert at_parse.message_reference(["", "+CMGS: 17", "OK"]) == 17
    assert at_parse.message_reference(["OK"]) is None
    assert at_parse.smsc_of(['+CSCA: "+84980200030",145']) == "+84980200030"
    moment = at_parse.network_time(['+CCLK: "26/12/06,09:30:00+28"'])
    assert moment is not None and moment.isoformat() == "2026-12-06T09:30:00+07:00"
    assert at_parse.network_time(["OK"]) is None
    assert at_parse.cms_error_is_final(304) and not at_parse.cms_error_is_final(500)
    assert at_parse.is_smsc_number("+84980200030") and not at_parse.is_smsc_number("8498-02")


def test_the_parsers_need_no_serial_library():
    """at_parse and the Transport protocol read lines and name types: no pyserial, no python-gsmmodem."""
    import subprocess
    import sys

    code = ("import sys, gateway.modem.at_parse, gateway.modem.types, gateway.modem.profiles;"
            " print(sorted(m for m in sys.modules if m.split('.')[0] in ('serial', 'gsmmodem')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


# -- the Transport protocol -------------------------------------------------------------------------


def _protocol_members() -> set[str]:
    return {name for name in vars(Transport) if not name.startswith("_")}


def test_the_worker_asks_a_transport_only_what_the_protocol_says():
    """Every ``transport.<x>`` in worker.py is a member of ``Transport``, and ModemTransport has them all."""
    tree = ast.parse((ROOT / "gateway" / "modem" / "worker.py").read_text(encoding="utf-8"))
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "transport"}
    used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
             and isinstance(node.value, ast.Attribute) and node.value.attr == "transport"}
    assert used and used <= _protocol_members(), used - _protocol_members()
    assert isinstance(ModemTransport("/dev/null"), Transport)  # has every member (runtime_checkable)


def test_the_worker_drives_the_transport_its_factory_makes(tmp_path, emulator):
    """Any Transport: here python-gsmmodem's, wrapped to count what the worker asked of it."""
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"))
    prepare_gateway(config.storage_path)
    made: list[CountingTransport] = []

    class CountingTransport:
        def __init__(self, inner: ModemTransport) -> None:
            self.inner, self.calls = inner, []

        def __getattr__(self, name: str):
            if name in _protocol_members() - {"alive", "memory", "listed"}:
                self.calls.append(name)
            return getattr(self.inner, name)

    def factory(settings, on_notify):
        made.append(CountingTransport(serial_transport(settings, on_notify)))
        return made[-1]

    durable = ThreadLocalDb(config.storage_path, durable=True)
    (settings,) = all_settings_from_config(config)
    worker = ModemWorker(settings, durable, Clock(), transport_factory=factory)
    worker.start()
    try:
        assert wait_until(lambda: worker.state.state == "connected", 10)
        emulator.deliver("0912345678", "HELLO")
        assert wait_until(lambda: rows(config.storage_path, "SELECT COUNT(*) FROM inbox") == [(1,)], 10)
        assert emulator.wait_for_stored(0, 10)  # committed, then deleted from the SIM
    finally:
        worker.stop()
        durable.close_all()
    assert len(made) == 1 and worker.transport is None
    assert {"connect", "poll", "list_stored", "delete", "close"} <= set(made[0].calls)


# -- threads named after their port -------------------------------------------------------------------


def test_two_modems_threads_and_log_lines_carry_their_port(tmp_path, caplog):
    emulators = [ModemEmulator(link=str(tmp_path / f"modem{i}")) for i in range(2)]
    for emulator in emulators:
        emulator.start()
    config = make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem0"),
                         TINBAO_MODEM_EXTRA_PORTS=str(tmp_path / "modem1"))
    prepare_gateway(config.storage_path)
    durable = ThreadLocalDb(config.storage_path, durable=True)
    workers = [ModemWorker(s, durable, Clock()) for s in all_settings_from_config(config)]
    ports = [str(tmp_path / "modem0"), str(tmp_path / "modem1")]
    caplog.set_level(logging.INFO, logger="gateway.modem.transport")
    for worker in workers:
        worker.start()
    try:
        assert wait_until(lambda: all(w.state.state == "connected" for w in workers), 10)
        assert [w.thread.name for w in workers] == [f"modem-worker:{port}" for port in ports]
        readers = [w.transport._modem.rxThread.name for w in workers]
        assert readers == [f"modem-reader:{port}" for port in ports]
    finally:
        for worker in workers:
            worker.stop()
        durable.close_all()
        for emulator in emulators:
            emulator.stop()
    connected = {r.threadName: r.getMessage() for r in caplog.records if r.getMessage().startswith("modem connected")}
    assert sorted(connected) == [f"modem-worker:{port}" for port in ports]
    assert all(Path(name.split(":", 1)[1]).name in message for name, message in connected.items())
