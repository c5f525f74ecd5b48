"""Shared set-up for the benchmarks: an emulator process, a gateway, a burst of SMS."""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gateway.database import prepare_gateway
from gateway.modem.emulator.client import EmulatorClient

ROOT = Path(__file__).resolve().parent.parent


def start_emulator(workdir: Path, capacity: int = 50) -> tuple[subprocess.Popen, Path, EmulatorClient]:
    """The modem emulator in its own process, as a real modem is its own device."""
    from gateway.modem.emulator.process import start_emulator_process

    return start_emulator_process(workdir, capacity=capacity, client_timeout=60)



# --- the figures and the machine ---------------------------------------------------------

FIGURES_FILE_ENV = "TINBAO_BENCH_FIGURES"  # run_all.py collects each figure here (JSON lines)
PASSWORD = "bench-password-123"


def figure(name: str, target: str, measured: str, *, leaves_out: str, command: str) -> None:
    """Print one figure, and hand it to ``run_all.py`` when that is what started us."""
    print(f"* {name}: {measured}  (target {target}; leaves out {leaves_out})", flush=True)
    path = os.environ.get(FIGURES_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"figure": name, "target": target, "measured": measured,
                                  "leaves_out": leaves_out, "command": command}, ensure_ascii=False) + "\n")


def machine() -> str:
    """Cores, CPU model, RAM, Python and the load at the moment: the figures mean little without it."""
    model = platform.processor() or platform.machine()
    ram_gb = 0.0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^(?:model name|Model)\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        model = found.group(1).strip() if found else model
        meminfo = Path("/proc/meminfo").read_text()
        ram_gb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) / 2**20
    except (OSError, AttributeError):
        pass
    load = ", load {:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return (f"{os.cpu_count()} cores, {model}, {ram_gb:.0f} GB RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}{load}")


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.95 for p95) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- set-up ------------------------------------------------------------------------------


def gateway_env(workdir: Path, link: Path | str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    return {
        **env,
        "TINBAO_MODEM_PORT": str(link),
        "TINBAO_STORAGE_PATH": str(workdir / "tinbao.db"),
        "TINBAO_WEB_PORT": "0",
        "TINBAO_ROUTER_AUTO_REPLIES_PER_HOUR": "1000",
        "TINBAO_SMS_MAX_PER_HOUR": "0", "TINBAO_SMS_MAX_PER_DAY": "0",  # duty alerts of 2,000 SMS: not the SIM's caps
        **extra,
    }


def offline_destinations() -> dict[str, str]:
    """Zalo and the district switched on but unreachable, as on a commune's bad day: every tip
    gets its two sync rows, and the sync worker tries, fails and backs off."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    return {
        "TINBAO_ZALO_ENABLED": "true", "TINBAO_ZALO_OFFICER_IDS": "1001,1002",
        "TINBAO_ZALO_API_BASE": nowhere, "TINBAO_ZALO_OAUTH_BASE": nowhere,
        "TINBAO_ZALO_APP_ID": "bench", "TINBAO_ZALO_SECRET_KEY": "bench", "TINBAO_ZALO_REFRESH_TOKEN": "bench",
        "TINBAO_HUB_URL": nowhere, "TINBAO_HUB_TOKEN": "bench-token",
    }


def numbers(count: int, first: int = 0) -> list[str]:
    """Distinct test numbers (Viettel-looking 0912 000 000 + i), one per villager."""
    return [f"+849{12000000 + first + i:08d}" for i in range(count)]


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="tinbao-bench-"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_user(storage: Path, username: str, role: str = "officer", password: str = PASSWORD) -> None:
    """``python app.py create-user``, as an admin would on the Pi, into a complete gateway file
    (create-user alone makes only the accounts' tables: the gateway adds its own when it starts)."""
    prepare_gateway(storage)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env["TINBAO_STORAGE_PATH"] = str(storage)
    done = subprocess.run([sys.executable, "app.py", "create-user", username, "--role", role], cwd=ROOT, env=env,
                          input=password + "\n", text=True, capture_output=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"create-user {username} failed: {done.stderr.strip()}")


# --- a realistic day of inbound SMS ------------------------------------------------------

# 3-part UCS-2 SMS (accented, 135-201 characters): a long tip and a long question.
LONG_TIP = ("TIN Tối qua có hai người lạ đi xe máy không biển số vào thôn Nậm Đét hỏi mua trâu bò giá cao, "
            "hứa trả tiền sau rồi đòi người dân đặt cọc trước qua điện thoại. Đề nghị công an xã xác minh giúp.")
LONG_QUESTION = ("Chào anh công an, em ở thôn Bản Phố muốn hỏi: làm căn cước cho con 14 tuổi thì cần mang giấy "
                 "tờ gì, có phải đặt lịch trước không, và lệ phí là bao nhiêu ạ? Em cảm ơn anh nhiều.")
# One villager's messages, in order. 19 in all: 10 menu navigation (one typo, MNEU), 3 tips
# (one long), DK and HUY, 3 unknown texts (one long), 1 thanks; 2 of the 19 are 3-part UCS-2.
CONVERSATIONS = (
    ("MENU", "1", "1.2", "0"),
    ("TIN co nguoi la vao thon hoi mua dat gia cao {i}",),
    ("MENU", "1", "1.2", "0"),
    (LONG_TIP,),
    ("DK Na Hối", "HUY"),
    ("xin chào anh {i}", "cảm ơn"),
    ("TIN mat trom xe may o dau cau luc 9h toi qua {i}",),
    ("MNEU", "2"),
    (LONG_QUESTION,),
    ("alo ai đấy {i}",),
)


def mixed_messages(count: int, first_sender: int = 0) -> list[tuple[str, str]]:
    """``count`` (sender, text) pairs: villagers each going through one conversation."""
    out: list[tuple[str, str]] = []
    i = 0
    while len(out) < count:
        sender = numbers(1, first_sender + i)[0]
        for text in CONVERSATIONS[i % len(CONVERSATIONS)]:
            out.append((sender, text.replace("{i}", str(i))))
        i += 1
    return out[:count]


def mix_summary(messages: list[tuple[str, str]]) -> str:
    tips = sum(1 for _, t in messages if t.startswith("TIN "))
    long = sum(1 for _, t in messages if len(t) > 134)
    return f"{len(messages):,} SMS: {tips} tips, {long} of 3 parts (UCS-2)"


# --- the gateway as ``python app.py`` ----------------------------------------------------


class RunningGateway:
    """``python app.py`` against an emulator process, both stopped on exit (a context manager).

    ``emulator`` is the EmulatorClient; ``gateway`` the Popen; ``work`` the scratch folder;
    ``base_url`` the officers' page (waitress over http; ``https``: cheroot on TLS, as
    installed). ``storage`` reuses a prepared database file (kept on exit); ``users`` are made
    with ``python app.py create-user`` first.
    """

    def __init__(self, capacity: int = 50, *, storage: Path | None = None,
                 users: tuple[tuple[str, str], ...] = (), https: bool = False, **env: str) -> None:
        self.capacity = capacity
        self.env = env
        self.storage = storage
        self.users = users
        self.https = https  # served as installed: python app.py tls init, then cheroot on TLS
        self.tls: ssl.SSLContext | None = None

    def __enter__(self) -> RunningGateway:
        self.work = workdir()
        self.db_path = self.storage or self.work / "tinbao.db"
        for username, role in self.users:
            create_user(self.db_path, username, role)
        self.emulator_proc, link, self.emulator = start_emulator(self.work, self.capacity)
        self.port = free_port()
        self.base_url = f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"
        env = gateway_env(self.work, link, TINBAO_STORAGE_PATH=str(self.db_path),
                          TINBAO_WEB_PORT=str(self.port), **self.env)
        if self.https:
            env.update(self.make_certificate(env))
        self.gateway = subprocess.Popen(
            [sys.executable, "app.py", "--log-level", "WARNING"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not (self.connected() and self.serving()):
            if time.monotonic() > deadline or self.gateway.poll() is not None:
                self.__exit__(None, None, None)
                raise SystemExit("gateway did not connect to the emulator")
            time.sleep(0.1)
        return self

    def make_certificate(self, env: dict[str, str]) -> dict[str, str]:
        """``python app.py tls init`` as the installer runs it; the officers trust its CA, as a
        phone that installed ``/ca.crt`` does. Returns the ``web.tls_*`` keys to serve with."""
        folder = self.work / "tls"
        subprocess.run([sys.executable, "app.py", "tls", "init", "--dir", str(folder), "--hostname", "localhost",
                        "--address", "127.0.0.1"], cwd=ROOT, env=env, check=True, capture_output=True)
        self.tls = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        return {"TINBAO_WEB_TLS_CERT": str(folder / "server.crt"), "TINBAO_WEB_TLS_KEY": str(folder / "server.key")}

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the gateway's file as an outsider would (a short read-only connection)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def connected(self) -> bool:
        """True once the gateway has published a registered modem state."""
        try:
            row = self.query("SELECT value FROM state WHERE key='modem'")
        except sqlite3.Error:
            return False
        return bool(row) and json.loads(row[0][0]).get("registered") is True

    def serving(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def pending(self) -> tuple[int, int, int, int]:
        """(inbox rows handled, inbox queued, outbox queued, parts waiting for their report)."""
        return self.query(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE status != 'queued'),"
            " (SELECT COUNT(*) FROM inbox WHERE status = 'queued'),"
            " (SELECT COUNT(*) FROM outbox WHERE status = 'queued'),"
            " (SELECT COUNT(*) FROM outbox_parts WHERE status = 'sent')")[0]

    def wait_handled(self, inbound: int, timeout: float, *, reports: bool = True) -> bool:
        """Until ``inbound`` messages are handled, every reply is sent and (``reports``) every
        delivery report is read: the moment the gateway has nothing left to do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            handled, queued, outbox, unreported = self.pending()
            if handled >= inbound and not queued and not outbox and not (reports and unreported):
                return True
            time.sleep(0.05)
        return False

    def cpu_seconds(self) -> float:
        """User + system CPU time of the gateway process so far.

        From each thread's ``schedstat`` (nanoseconds) where Linux has it: the clock-tick
        counts behind ``psutil.cpu_times`` move in 10 ms steps, as long as a page's request.
        """
        total = 0
        try:
            for task in Path(f"/proc/{self.gateway.pid}/task").iterdir():
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    continue  # a thread that ended meanwhile
        except OSError:
            total = 0
        if total:
            return total / 1e9
        import psutil

        times = psutil.Process(self.gateway.pid).cpu_times()
        return times.user + times.system

    def memory(self) -> tuple[float, float]:
        """(resident MB now, peak resident MB) of the gateway process."""
        status = Path(f"/proc/{self.gateway.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
        return rss, peak

    def add_duty_officer(self) -> None:
        """An officer on duty, added through the page as an admin would (so tips raise alerts).
        Needs the ``bench-admin`` user (``users=(("bench-admin", "admin"),)``)."""
        admin = self.officer("bench-admin")
        if admin.post("/duty", {"number": "0912 999 001", "name": "Truc ban"}) != 303:
            raise SystemExit("could not add the duty officer")
        admin.close()
        if self.query("SELECT COUNT(*) FROM duty_roster WHERE active = 1")[0][0] != 1:
            raise SystemExit("the duty roster is empty")

    def officer(self, username: str) -> Officer:
        officer = Officer("127.0.0.1", self.port, self.tls)
        officer.login(username)
        return officer

    def __exit__(self, *exc: object) -> None:
        self.gateway.terminate()
        try:
            self.gateway.wait(15)
        except subprocess.TimeoutExpired:
            self.gateway.kill()
        self.emulator.shutdown()
        self.emulator_proc.wait(10)
        shutil.rmtree(self.work, ignore_errors=True)


class Officer:
    """One officer's browser, reduced to what costs the server: one kept-alive connection, the
    session cookie and the CSRF token. Real HTTP, so the server and its threads are measured;
    with ``tls`` (the CA to trust) real HTTPS: the handshake once per connection, as a browser."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=120, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
        from urllib.parse import urlencode

        headers = {"Accept-Language": "vi"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-CSRFToken"] = self.csrf
            # As a browser posting the page's own form: over HTTPS Flask-WTF wants the same origin.
            origin = f"{'https' if self.tls is not None else 'http'}://{self.host}:{self.port}"
            headers.update({"Origin": origin, "Referer": origin + path})
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed a kept-alive connection: open a new one
                self.conn = self._connect()
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def login(self, username: str, password: str = PASSWORD) -> None:
        status, page = self.get("/login")
        found = re.search(rb'name="csrf-token" content="([^"]+)"', page)
        if status != 200 or not found:
            raise SystemExit(f"no login form ({status})")
        self.csrf = found.group(1).decode()
        status, _ = self.request("POST", "/login", {"username": username, "password": password,
                                                    "csrf_token": self.csrf})
        if status != 303:
            raise SystemExit(f"login of {username} failed: {status}")
        status, page = self.get("/")  # the login renewed the CSRF token: take the new one
        found = re.search(rb'name="csrf-token" content="([^"]+)"', page)
        if status != 200 or not found:
            raise SystemExit(f"no page after the login ({status})")
        self.csrf = found.group(1).decode()

    def post(self, path: str, form: dict[str, str]) -> int:
        status, _ = self.request("POST", path, {**form, "csrf_token": self.csrf})
        return status

    def close(self) -> None:
        self.conn.close()
