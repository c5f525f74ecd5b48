"""Client for an emulator running in its own process (`python -m gateway.modem.emulator`).

Same method names as `ModemEmulator`'s phone-side API, so a test or benchmark can take
either and not care whether the modem lives in its process or survives its SIGKILL.
Stdlib only (urllib), so it adds nothing to the gateway's dependencies.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime

from gateway.errors import ModemError

from .store import SentMessage, StoredSms

logger = logging.getLogger(__name__)


class EmulatorClient:
    """Talks JSON to the control server at `base_url` (e.g. "http://127.0.0.1:8765")."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise ModemError(f"emulator {method} {path}: {exc.code} {detail}") from exc
        except OSError as exc:
            raise ModemError(f"emulator {method} {path}: {exc}") from exc

    # --- phone side -------------------------------------------------------------------

    def deliver(self, sender: str, text: str, *, order: list[int] | None = None,
                timestamp: datetime | None = None) -> None:
        body: dict = {"sender": sender, "text": text, "order": order}
        if timestamp is not None:
            body["timestamp"] = timestamp.isoformat()
        self._call("POST", "/deliver", body)

    def deliver_many(self, messages: list[dict | tuple[str, str]]) -> None:
        items = [m if isinstance(m, dict) else {"sender": m[0], "text": m[1]} for m in messages]
        self._call("POST", "/deliver_many", {"messages": items})

    def deliver_pdu(self, pdu_hex: str) -> None:
        self._call("POST", "/deliver_pdu", {"pdu": pdu_hex})

    def preload(self, sender: str, text: str, *, order: list[int] | None = None,
                read: bool = False, memory: str | None = None) -> list[int]:
        body = {"sender": sender, "text": text, "order": order, "read": read, "memory": memory}
        return self._call("POST", "/preload", body)["indexes"]

    def inject(self, line: str) -> None:
        """An unsolicited line ("^RSSI:17", "^MODE:5,4") written at the modem's next gap."""
        self._call("POST", "/inject", {"line": line})

    def sent_messages(self) -> list[SentMessage]:
        return [SentMessage.from_dict(m) for m in self._call("GET", "/sent")["messages"]]

    def wait_for_sent(self, count: int, timeout: float) -> bool:
        """Poll /status until `count` messages were sent; a short sleep is fine out here."""
        deadline = time.monotonic() + timeout
        while True:
            if self.status()["sent"] >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def wait_for_stored(self, count: int, timeout: float) -> bool:
        """Poll until exactly `count` SMS are on the SIM."""
        deadline = time.monotonic() + timeout
        while True:
            if self.stored_count() == count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def stored(self) -> list[StoredSms]:
        return [StoredSms(**s) for s in self._call("GET", "/stored")["messages"]]

    def stored_count(self) -> int:
        return self._call("GET", "/stored")["count"]

    def network_backlog(self) -> int:
        return self.status()["backlog"]

    # --- the SIM's contract, calls, operator notices ---------------------------------------

    def set_line(self, **values: object) -> None:
        """Barred, credit, USSD wording and form, loop... (``line.LineModel`` fields)."""
        self._call("POST", "/line", values)

    def swap(self, *, sim: bool = True, modem: bool = False) -> dict:
        return self._call("POST", "/swap", {"sim": sim, "modem": modem})

    def call(self, number: str, *, clip: bool = True, hidden: bool = False, rings: int = 4,
             interval: float = 1.0) -> dict:
        return self._call("POST", "/call", {"number": number, "clip": clip, "hidden": hidden, "rings": rings,
                                            "interval": interval})

    def operator_notice(self, topic: str, *, sender: str | None = None, accented: bool = True) -> str:
        return self._call("POST", "/operator_notice", {"topic": topic, "sender": sender, "accented": accented})["text"]

    def calls(self) -> list[dict]:
        return self.status()["calls"]

    # --- faults and power -------------------------------------------------------------

    def set_fault(self, name: str, value: object) -> None:
        self._call("POST", "/fault", {"name": name, "value": value})

    def unplug(self) -> None:
        self._call("POST", "/unplug", {})

    def replug(self) -> str:
        return self._call("POST", "/replug", {})["path"]

    def status(self) -> dict:
        return self._call("GET", "/status")

    def shutdown(self) -> None:
        """Stop the emulator process (its SIM store goes with it)."""
        self._call("POST", "/shutdown", {})
