"""The emulator as its own process, steered over a small JSON API on 127.0.0.1.

The kill tests SIGKILL the gateway and check that nothing is lost: the modem (and the
messages on its SIM) must outlive the gateway, so it cannot live in the gateway's or
the test's process. `python -m gateway.modem.emulator --link /tmp/x/ttyMODEM` starts one
and prints "READY <device> <control-port>" once the gateway may open the device.

Endpoints (JSON in, JSON out):
  POST /deliver {sender, text, order?, timestamp?}   POST /deliver_pdu {pdu}
  POST /deliver_many {messages: [{sender, text}]}    POST /preload {sender, text, read?, memory?}
  GET  /sent     GET /stored    GET /status          POST /fault {name, value}
  POST /inject {line}  (an unsolicited line such as "^RSSI:17", written at the next gap)
  POST /line {field: value, ...}  (the SIM's contract: barred, barred_after, credit_parts, charge,
       balance_vnd, valid_until, ussd, ussd_form, wording, accented, loop...: see line.py)
  POST /swap {sim?, modem?}  (another SIM / modem: new ICCID+IMSI / IMEI at the next connect)
  POST /call {number, clip?, hidden?, rings?, interval?}  (RING, +CLIP, until hung up)
  POST /operator_notice {topic, sender?, accented?}  (lock, biometric, expiry, balance, promo)
  POST /unplug   POST /replug   POST /shutdown

``--model`` (sim800, sim7600, a7670, ec25, e3372; default: the emulator as it always was)
picks identity, registration answers, stores and quirks (``models.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .models import MODELS
from .modem import ModemEmulator

logger = logging.getLogger(__name__)


def _routes(emulator: ModemEmulator, stop: threading.Event) -> dict:
    def ts(body: dict) -> datetime | None:
        return datetime.fromisoformat(body["timestamp"]) if body.get("timestamp") else None

    return {
        ("POST", "/deliver"): lambda b: emulator.deliver(
            b["sender"], b["text"], order=b.get("order"), timestamp=ts(b)),
        ("POST", "/deliver_pdu"): lambda b: emulator.deliver_pdu(b["pdu"]),
        ("POST", "/deliver_many"): lambda b: emulator.deliver_many(b["messages"]),
        ("POST", "/preload"): lambda b: {"indexes": emulator.preload(
            b["sender"], b["text"], order=b.get("order"), read=bool(b.get("read")),
            memory=b.get("memory"))},
        ("POST", "/inject"): lambda b: emulator.inject(b["line"]),
        ("POST", "/fault"): lambda b: emulator.set_fault(b["name"], b.get("value")),
        ("POST", "/line"): lambda b: emulator.set_line(**b),
        ("POST", "/swap"): lambda b: emulator.swap(sim=bool(b.get("sim", True)), modem=bool(b.get("modem"))),
        ("POST", "/call"): lambda b: emulator.call(
            b["number"], clip=bool(b.get("clip", True)), hidden=bool(b.get("hidden")), rings=int(b.get("rings", 4)),
            interval=float(b.get("interval", 1.0))).to_dict(),
        ("POST", "/operator_notice"): lambda b: {"text": emulator.operator_notice(
            b["topic"], sender=b.get("sender"), accented=bool(b.get("accented", True)))},
        ("POST", "/unplug"): lambda b: emulator.unplug(),
        ("POST", "/replug"): lambda b: {"path": emulator.replug()},
        ("POST", "/shutdown"): lambda b: stop.set(),
        ("GET", "/sent"): lambda b: {"messages": [m.to_dict() for m in emulator.sent_messages()]},
        ("GET", "/stored"): lambda b: {
            "count": emulator.stored_count(),
            "messages": [s.to_dict() for s in emulator.stored()]},
        ("GET", "/status"): lambda b: emulator.status(),
    }


def make_server(emulator: ModemEmulator, port: int, stop: threading.Event) -> ThreadingHTTPServer:
    """A control server bound to 127.0.0.1:`port` (0 picks a free one)."""
    routes = _routes(emulator, stop)

    class Handler(BaseHTTPRequestHandler):
        def _handle(self, method: str) -> None:
            route = routes.get((method, self.path.split("?")[0]))
            if route is None:
                return self._reply(404, {"error": f"no {method} {self.path}"})
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                result = route(body)
            except (KeyError, ValueError, TypeError) as exc:
                return self._reply(400, {"error": f"{type(exc).__name__}: {exc}"})
            except Exception as exc:
                logger.exception("control %s %s failed", method, self.path)
                return self._reply(500, {"error": f"{type(exc).__name__}: {exc}"})
            self._reply(200, result if isinstance(result, dict) else {"ok": True})

        def _reply(self, code: int, payload: dict) -> None:
            data = json.dumps(payload, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, fmt: str, *args: object) -> None:
            logger.debug("control: " + fmt, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.modem.emulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--link", help="stable path to symlink to the pty (like a udev name)")
    parser.add_argument("--control-port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--capacity", type=int, default=50, help="SMS store size")
    parser.add_argument("--pin", help="SIM PIN the gateway must give")
    parser.add_argument("--report-delay", type=float, default=0.2,
                        help="seconds until a requested status report (negative: never)")
    parser.add_argument("--urc-gap", type=float, default=0.0,
                        help="minimum seconds between two +CMTI/+CDSI")
    parser.add_argument("--model", default="emulator", choices=sorted(MODELS),
                        help="which modem to answer as (identity, registration, stores, quirks)")
    parser.add_argument("--cnmi-fallback-only", action="store_true",
                        help="refuse AT+CNMI with <ds>=2: status reports come as +CDS <pdu>")
    parser.add_argument("--one-memory", action="store_true",
                        help="SM, ME, SR and MT name one memory (a listing of each shows the same SMS)")
    parser.add_argument("--own-number", help="the SIM's own number (AT+CNUM; an SMS to it comes back)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    emulator = ModemEmulator(
        link=args.link, capacity=args.capacity, pin=args.pin, urc_gap=args.urc_gap,
        model=args.model, cnmi_fallback_only=args.cnmi_fallback_only, one_memory=args.one_memory,
        own_number=args.own_number,
        report_delay=args.report_delay if args.report_delay >= 0 else None)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    device = emulator.start()
    server = make_server(emulator, args.control_port, stop)
    threading.Thread(target=server.serve_forever, name="emulator-control", daemon=True).start()
    print(f"READY {device} {server.server_address[1]}", flush=True)
    try:
        while not stop.wait(1.0):  # a timeout keeps signal handling prompt
            pass
    finally:
        server.shutdown()
        server.server_close()
        emulator.stop()
    return 0
