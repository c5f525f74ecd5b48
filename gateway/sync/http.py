"""A small HTTP client on ``http.client``: one kept-alive connection per destination thread.

The gateway runs on a 3G data bundle, so it reuses one connection instead of opening one per
message, and it sorts every failure into two boundary exceptions: ``Unreachable`` (nothing
usable came back: refused, timed out, dropped; ``maybe_delivered`` says whether the request
may have reached the other side) and ``BadAnswer`` (an answer came back, but not one we can
use: a 5xx, or not JSON).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from gateway.errors import TinBaoError

USER_AGENT = "TinBao-sync/1"
# Servers drop idle kept-alive connections (nginx: about a minute). A connection idle longer
# than this is closed and opened afresh, so a message never goes out on one the server has
# already dropped (which would make its fate unknown for nothing).
IDLE_REOPEN = 15.0


class SyncError(TinBaoError):
    """A destination could not take what we sent (the row stays queued)."""


class Unreachable(SyncError):
    """No answer: refused, timed out or dropped. ``maybe_delivered``: the request went out."""

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class BadAnswer(SyncError):
    """An answer we cannot use (HTTP 5xx, a page that is not JSON)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HttpClient:
    """Requests to one base URL (``https://openapi.zalo.me``), on one reused connection."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._last_used = 0.0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reachable(self, timeout: float) -> bool:
        """The cheapest check there is: can we open a TCP connection to the host at all?"""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and time.monotonic() - self._last_used > IDLE_REOPEN:
            self.close()
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                body: bytes | None = None, query: dict[str, str] | None = None,
                timeout: float | None = None) -> tuple[int, bytes]:
        """Send one request; returns (status, body). Raises ``Unreachable`` when no answer came."""
        url = self.prefix + path + (("?" + urlencode(query)) if query else "")
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        conn = self._connection()
        conn.timeout = timeout or self.timeout
        if conn.sock is not None:
            conn.sock.settimeout(conn.timeout)
        sent = False
        try:
            conn.request(method, url, body=body, headers=all_headers)
            sent = True
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unreachable(f"{self.host}: {type(exc).__name__}: {exc}".rstrip(": "),
                              maybe_delivered=sent) from None
        self._last_used = time.monotonic()
        if response.will_close:
            self.close()
        return response.status, data

    def json(self, method: str, path: str, *, payload: Any = None, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
             timeout: float | None = None) -> tuple[int, Any]:
        """A request with a JSON (or form) body whose answer must be JSON; 5xx is ``BadAnswer``."""
        all_headers = dict(headers or {})
        body = None
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            all_headers["Content-Type"] = "application/json; charset=utf-8"
        elif form is not None:
            body = urlencode(form).encode("ascii")
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, data = self.request(method, path, headers=all_headers, body=body, query=query, timeout=timeout)
        if status >= 500:
            raise BadAnswer(f"{self.host} answered HTTP {status}", status=status)
        try:
            return status, json.loads(data.decode("utf-8")) if data else None
        except (UnicodeDecodeError, ValueError):
            raise BadAnswer(f"{self.host} answered HTTP {status} with something that is not JSON",
                            status=status) from None
