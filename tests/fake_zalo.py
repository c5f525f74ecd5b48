"""A stand-in Zalo OA Open API: a real HTTP server on 127.0.0.1 with the real endpoints.

- ``POST /v4/oa/access_token`` (form ``refresh_token``, ``app_id``, ``grant_type``; header
  ``secret_key``): rotates the pair; the refresh token used is dead from that moment.
- ``POST /v3.0/oa/message/cs`` (header ``access_token``; JSON ``recipient.user_id``,
  ``message.text``): records the message; HTTP 200 with ``error`` -216 (unknown token),
  -220 (expired), -201 (bad body, text over 2,000), -32 (switch), or an officer's own code
  (-213/-227/-230/-232, ``unreachable``).
- ``GET /v2.0/oa/conversation?data={"user_id","offset","count"}``: a user's conversation with the
  OA, newest first: the OA's messages (``src`` 0) and the user's own (``src`` 1, ``user_writes``).

Zalo's messaging rules, when ``window_rule`` is on (``FakeZalo(window_rule=True)``): a message
whose ``recipient`` is ``{"message_id": <the user's message>}`` is a reply, free 8 times within
48 h of the user's latest message to the OA (the answer's ``data.quota`` says
``{"quota_type": "reply", "remain", "total": 8}``); any other message (only ``user_id``, or a
reply later than that, or the 9th) is proactive: refused with -230 unless the OA is ``verified``
and the user wrote within 7 days, then counted against the monthly quota (``quota_remain``,
reported as ``{"quota_type": "sub_quota", ...}``; -211 when it is used up). ``clock`` is the
time the rules use (epoch seconds; tests hand in their ManualClock). ``fail_officer(user_id,
code, times)`` makes the next messages to one user fail with ``code`` (-305, -224, ...).

Switches for faults on the cs endpoint (``fail(kind, times)``): ``rate_limit``, ``http500``,
``hang`` (no answer until stopped), ``drop_before`` (connection closed, nothing recorded),
``drop_after`` (recorded, then closed without an answer), ``bad_parameter`` (-201);
``expire_tokens()`` and ``expire_after(n)`` kill access tokens; ``refuse_refresh``; ``delay``.

Run alone for a demo: ``python tests/fake_zalo.py --port 9001 --refresh-token rt-demo``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OA_ID = "4318000000000000001"
MAX_TEXT = 2000


class FakeZalo:
    def __init__(self, *, app_id: str = "4318", secret_key: str = "oa-secret", refresh_token: str = "rt-initial",
                 access_ttl: float = 90000.0, window_rule: bool = False, verified: bool = False,
                 clock=None) -> None:
        self.app_id = app_id
        self.window_rule = window_rule
        self.verified = verified
        self.quota_total = 1000
        self.quota_remain = 1000
        self.clock = clock or time.time            # epoch seconds, for the messaging rules
        self.from_users: list[dict[str, Any]] = [] # users' messages to the OA
        self.replies_used: dict[str, int] = {}     # user_id -> replies since their latest message
        self.officer_faults: dict[str, list[list[Any]]] = {}  # user_id -> [[code, remaining], ...]
        self.secret_key = secret_key
        self.access_ttl = access_ttl
        self.lock = threading.Lock()
        self.live_refresh = refresh_token
        self.dead_refresh: set[str] = set()
        self.access: dict[str, float] = {}       # token -> monotonic expiry
        self.received: list[dict[str, Any]] = []
        self.unreachable: dict[str, int] = {}    # user_id -> error code
        self.faults: list[list[Any]] = []        # [kind, remaining or None]
        self.refuse_refresh = False
        self.delay = 0.0                         # seconds each cs message takes (a slow uplink)
        self._expire_after: int | None = None
        self.refreshes = 0
        self.requests: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._release = threading.Event()
        self.connections: set = set()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    # -- running -------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        fake = self

        class Handler(_Handler):
            zalo = fake

        server = ThreadingHTTPServer(("127.0.0.1", port or self.port), Handler)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # clients that vanish are expected
        self.server = server
        self.port = server.server_address[1]
        self._release.clear()
        threading.Thread(target=server.serve_forever, name="fake-zalo", daemon=True).start()
        return self.url

    def stop(self) -> None:
        """Stop listening (the internet is down); ``start()`` again reuses the same port."""
        self._release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self.lock:
            open_connections, self.connections = list(self.connections), set()
        for conn in open_connections:  # kept-alive connections die with the link too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- switches ------------------------------------------------------------------------
    def fail(self, kind: str, times: int | None = 1) -> None:
        assert kind in ("rate_limit", "http500", "hang", "drop_before", "drop_after", "bad_parameter"), kind
        with self.lock:
            self.faults.append([kind, times])

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()
        self._release.set()

    def reauthorise(self) -> str:
        """An OA admin grants the app permission again: a fresh refresh token (the old one dies)."""
        with self.lock:
            self.dead_refresh.add(self.live_refresh)
            self.live_refresh = f"rt-{secrets.token_hex(8)}"
            self.refuse_refresh = False
            return self.live_refresh

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.access:
                self.access[token] = 0.0

    def expire_after(self, messages: int) -> None:
        """Expire every access token after ``messages`` more accepted messages (mid-batch)."""
        with self.lock:
            self._expire_after = messages

    def user_writes(self, user_id: str, text: str = "ok", *, at: float | None = None) -> str:
        """The user sends the OA a message (at ``at``, epoch seconds; default ``clock()``)."""
        with self.lock:
            message_id = f"u{next(self._ids):08d}"
            self.from_users.append({"user_id": user_id, "text": text, "message_id": message_id,
                                    "time": int((self.clock() if at is None else at) * 1000)})
            self.replies_used[user_id] = 0
            return message_id

    def fail_officer(self, user_id: str, code: int, times: int | None = 1) -> None:
        """The next ``times`` messages to ``user_id`` are answered with ``code`` (None: all of them)."""
        with self.lock:
            self.officer_faults.setdefault(user_id, []).append([code, times])

    def kinds_for(self, user_id: str) -> list[str]:
        """How each accepted message to ``user_id`` counted: reply or proactive."""
        with self.lock:
            return [m["kind"] for m in self.received if m["user_id"] == user_id]

    def _officer_fault(self, user_id: str) -> int | None:
        for fault in self.officer_faults.get(user_id, []):
            if fault[1] is None or fault[1] > 0:
                if fault[1] is not None:
                    fault[1] -= 1
                return fault[0]
        return None

    def _latest_from(self, user_id: str) -> dict[str, Any] | None:
        mine = [m for m in self.from_users if m["user_id"] == user_id]
        return mine[-1] if mine else None

    def _rule(self, recipient: dict) -> tuple[str, dict[str, Any] | None, dict[str, Any] | None]:
        """(user_id, error answer or None, quota) under Zalo's rules, counting what it uses."""
        now_ms = self.clock() * 1000
        if "message_id" in recipient:
            ref = next((m for m in self.from_users if m["message_id"] == str(recipient["message_id"])), None)
            if ref is None:
                return "", {"error": -201, "message": "message_id is invalid"}, None
            user_id = ref["user_id"]
        else:
            user_id = str(recipient["user_id"])
        latest = self._latest_from(user_id)
        if not self.window_rule:
            return user_id, None, None
        used = self.replies_used.get(user_id, 0)
        if "message_id" in recipient and latest and now_ms - latest["time"] <= 48 * 3600_000 and used < 8:
            self.replies_used[user_id] = used + 1
            return user_id, None, {"quota_type": "reply", "remain": 8 - used - 1, "total": 8}
        if not self.verified or latest is None or now_ms - latest["time"] > 7 * 86400_000:
            return user_id, {"error": -230, "message": "User has not interacted with the OA in the last 7 days"}, None
        if self.quota_remain <= 0:
            return user_id, {"error": -211, "message": "Out of quota"}, None
        self.quota_remain -= 1
        return user_id, None, {"quota_type": "sub_quota", "remain": str(self.quota_remain),
                               "total": str(self.quota_total), "owner_type": "OA", "owner_id": OA_ID}

    def texts_for(self, user_id: str) -> list[str]:
        with self.lock:
            return [m["text"] for m in self.received if m["user_id"] == user_id]

    # -- endpoints (called by the handler) -------------------------------------------------
    def _count(self, name: str) -> None:
        with self.lock:
            self.requests[name] = self.requests.get(name, 0) + 1

    def token_refresh(self, headers, form: dict[str, str]) -> dict[str, Any]:
        self._count("refresh")
        with self.lock:
            if headers.get("secret_key") != self.secret_key or form.get("app_id") != self.app_id:
                return {"error": -14002, "error_name": "Invalid app", "error_reason": "app_id or secret_key is wrong"}
            token = form.get("refresh_token", "")
            if self.refuse_refresh or form.get("grant_type") != "refresh_token" or token != self.live_refresh:
                return {"error": -14014, "error_name": "Invalid parameter",
                        "error_reason": "Invalid refresh token", "error_description": "Refresh token is invalid"}
            self.dead_refresh.add(token)
            self.live_refresh = f"rt-{secrets.token_hex(8)}"
            access = f"at-{secrets.token_hex(8)}"
            self.access[access] = time.monotonic() + self.access_ttl
            self.refreshes += 1
            return {"access_token": access, "refresh_token": self.live_refresh, "expires_in": str(int(self.access_ttl))}

    def _token_error(self, token: str | None) -> dict[str, Any] | None:
        if not token or token not in self.access:
            return {"error": -216, "message": "Access token is invalid"}
        if self.access[token] <= time.monotonic():
            return {"error": -220, "message": "Access token has expired"}
        return None

    def take_fault(self) -> str | None:
        with self.lock:
            for fault in self.faults:
                if fault[1] is None or fault[1] > 0:
                    if fault[1] is not None:
                        fault[1] -= 1
                    return fault[0]
        return None

    def send_cs(self, token: str | None, body: Any) -> dict[str, Any]:
        with self.lock:
            problem = self._token_error(token)
            if problem:
                return problem
            try:
                recipient = body["recipient"]
                assert isinstance(recipient, dict) and ("user_id" in recipient or "message_id" in recipient)
                text = body["message"]["text"]
                assert isinstance(text, str) and 0 < len(text) <= MAX_TEXT
            except (KeyError, TypeError, AssertionError):
                return {"error": -201, "message": "Parameters are invalid"}
            user_id = str(recipient.get("user_id") or "")
            if not user_id:
                ref = next((m for m in self.from_users if m["message_id"] == str(recipient["message_id"])), None)
                user_id = ref["user_id"] if ref else ""
            code = self._officer_fault(user_id)
            if code is not None:
                return {"error": code, "message": f"Stand-in error {code}"}
            if user_id in self.unreachable:
                return {"error": self.unreachable[user_id], "message": "User has not interacted with the OA recently"}
            user_id, problem, quota = self._rule(recipient)
            if problem:
                return problem
            message_id = f"m{next(self._ids):08d}"
            self.received.append({"user_id": user_id, "text": text, "message_id": message_id,
                                  "time": int(self.clock() * 1000),
                                  "kind": "reply" if quota and quota["quota_type"] == "reply" else "proactive"})
            if self._expire_after is not None:
                self._expire_after -= 1
                if self._expire_after <= 0:
                    self._expire_after = None
                    for known in self.access:
                        self.access[known] = 0.0
            data: dict[str, Any] = {"message_id": message_id, "user_id": user_id}
            if quota is not None:
                data["quota"] = quota
            return {"data": data, "error": 0, "message": "Success"}

    def conversation(self, token: str | None, data: Any) -> dict[str, Any]:
        with self.lock:
            problem = self._token_error(token)
            if problem:
                return problem
            try:
                user_id, offset, count = str(data["user_id"]), int(data.get("offset", 0)), int(data.get("count", 5))
                assert 0 < count <= 10 and offset >= 0
            except (KeyError, TypeError, ValueError, AssertionError):
                return {"error": -201, "message": "Parameters are invalid"}
            mine = [{"src": 0, "time": m["time"], "type": "text", "message": m["text"],
                     "message_id": m["message_id"], "from_id": OA_ID, "to_id": user_id}
                    for m in self.received if m["user_id"] == user_id]
            mine += [{"src": 1, "time": m["time"], "type": "text", "message": m["text"],
                      "message_id": m["message_id"], "from_id": user_id, "to_id": OA_ID}
                     for m in self.from_users if m["user_id"] == user_id]
            mine.sort(key=lambda m: (m["time"], m["message_id"][1:]), reverse=True)
            page = mine[offset: offset + count]
            return {"data": page, "error": 0, "message": "Success"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    zalo: FakeZalo

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms Nagle stalls
        with self.zalo.lock:
            self.zalo.connections.add(self.connection)

    def finish(self) -> None:
        with self.zalo.lock:
            self.zalo.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _answer(self, payload: Any, status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/v4/oa/access_token":
            form = {k: v[0] for k, v in parse_qs(self._body().decode()).items()}
            self._answer(self.zalo.token_refresh(self.headers, form))
        elif path == "/v3.0/oa/message/cs":
            self.zalo._count("cs")
            fault = self.zalo.take_fault()
            if fault == "drop_before" or fault == "hang":
                if fault == "hang":
                    self.zalo._release.wait(60)
                self.close_connection = True
                return
            raw = self._body()
            if fault == "http500":
                self._answer({"error": -1, "message": "Internal error"}, 500)
                return
            if fault == "rate_limit":
                self._answer({"error": -32, "message": "Request exceeded the rate limit"})
                return
            if fault == "bad_parameter":
                self._answer({"error": -201, "message": "Parameters are invalid"})
                return
            if self.zalo.delay:
                time.sleep(self.zalo.delay)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            answer = self.zalo.send_cs(self.headers.get("access_token"), body)
            if fault == "drop_after":
                self.close_connection = True
                return
            self._answer(answer)
        else:
            self._answer({"error": -404, "message": "not found"}, 404)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/v2.0/oa/conversation":
            self.zalo._count("conversation")
            try:
                data = json.loads(parse_qs(parts.query).get("data", ["{}"])[0])
            except ValueError:
                data = None
            self._answer(self.zalo.conversation(self.headers.get("access_token"), data))
        else:
            self._answer({"error": 0, "message": "Zalo OA stand-in"})


def main() -> None:
    parser = argparse.ArgumentParser(description="A stand-in Zalo OA API for demos")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--refresh-token", default="rt-demo")
    parser.add_argument("--app-id", default="4318")
    parser.add_argument("--secret-key", default="oa-secret")
    args = parser.parse_args()
    fake = FakeZalo(app_id=args.app_id, secret_key=args.secret_key, refresh_token=args.refresh_token)
    print(f"fake Zalo OA on {fake.start(args.port)}", flush=True)
    try:
        while True:
            time.sleep(5)
            print(f"{len(fake.received)} messages received, {fake.refreshes} refreshes", flush=True)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()


# -- the real district hub, run in a thread for tests (not a fake: the same code as production) --

class HubServer:
    """``python app.py district`` in a thread: its own database under ``tmp_path``, waitress."""

    def __init__(self, tmp_path, gateways: str = "cl:token-cl,bh:token-bh", clock=None, **env: str) -> None:
        from gateway.config import load_config
        from gateway.database import prepare_hub
        from gateway.hub.app import create_hub_app
        from gateway.storage import ThreadLocalDb

        self.path = tmp_path / "hub.db"
        values = {"TINBAO_STORAGE_PATH": str(self.path), "TINBAO_HUB_GATEWAYS": gateways, **env}
        self.config = load_config(env=values)
        prepare_hub(self.path)
        self.dbs = ThreadLocalDb(self.path, durable=True)  # as run_command does
        self.app = create_hub_app(self.config, self.dbs, clock)
        self.server = None
        self.port = 0
        self.changes_served = 0  # GET /api/v1/changes asked of the server: a test waits for pulls

    def _counting(self, environ, start_response):
        if environ.get("PATH_INFO") == "/api/v1/changes":
            self.changes_served += 1
        return self.app(environ, start_response)

    def start(self, port: int = 0) -> str:
        import waitress

        self.server = waitress.create_server(self._counting, host="127.0.0.1", port=port or self.port, threads=4,
                                             channel_timeout=30)
        self.port = self.server.effective_port
        threading.Thread(target=self._serve, args=(self.server,), name="hub", daemon=True).start()
        return self.url

    def _serve(self, server) -> None:
        """waitress's loop; ``stop()`` closes its sockets from another thread, so a select on a
        socket closed under it (EBADF) is the stop itself, not a fault, once the server is let go."""
        try:
            server.run()
        except OSError:
            if self.server is server:
                raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop listening and cut open connections (the link is down); ``start()`` reuses the port."""
        server, self.server = self.server, None
        if server is None:
            return
        for channel in list(server._map.values()):
            if channel is not server:
                try:
                    channel.close()
                except OSError:
                    pass
        server.close()
        server.task_dispatcher.shutdown(timeout=2)

    def close(self) -> None:
        self.stop()
        self.dbs.close_all()

    def uids(self) -> list[str]:
        import sqlite3

        conn = sqlite3.connect(str(self.path), timeout=10)
        try:
            return [row[0] for row in conn.execute("SELECT uid FROM hub_tips ORDER BY id")]
        finally:
            conn.close()


def add_tips(db_path, count: int, *, gateway_id: str = "cl", destinations=("zalo", "district"), now=None,
             text: str = "Có người lạ vào thôn") -> list:
    """Store ``count`` tips as the router would (tip + sync rows in one transaction)."""
    from gateway import tips
    from gateway.clock import Clock
    from gateway.storage import open_db, write_transaction
    from gateway.sync import hooks

    now = now or Clock().now()
    db = open_db(db_path)
    made = []
    try:
        with write_transaction(db):
            for i in range(count):
                tip = tips.create(db, gateway_id=gateway_id, tipster=f"+8491{i % 10_000_000:07d}",
                                  text=f"{text} #{i}", inbox_id=None, now=now)
                hooks.enqueue_tip(db, tip, now, tuple(destinations))
                made.append(tip)
    finally:
        db.close()
    return made
