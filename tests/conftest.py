"""Shared fixtures, flaskr-style: ``config`` (a tmp_path database), ``emulator``, ``gateway``, ``phone``.

Everything is real: the emulator is an AT modem on a pseudo-terminal, the gateway opens it
with pyserial + python-gsmmodem, SQLite is a file under ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from upstream import hub, zalo  # noqa: F401 - the one hub and Zalo OA fixtures, for every test module

from gateway.accounts import users as accounts_users
from gateway.config import Config, load_config
from gateway.modem.emulator import ModemEmulator
from gateway.service import Gateway
from gateway.sms.text import fold

if TYPE_CHECKING:
    from gateway.modem.emulator.client import EmulatorClient

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FAST = {
    "TINBAO_MODEM_DRAIN_INTERVAL": "1",
    "TINBAO_MODEM_SIGNAL_INTERVAL": "0.5",
    "TINBAO_MODEM_COMMAND_TIMEOUT": "3",
    "TINBAO_MODEM_SEND_TIMEOUT": "5",
    "TINBAO_MODEM_RECONNECT_MAX": "0.5",
    "TINBAO_OUTBOX_RETRY_BASE": "0.05",
    "TINBAO_OUTBOX_RETRY_MAX": "0.2",
}


# Tests make hundreds of accounts: their passwords are hashed with one PBKDF2 round instead of
# 600,000 (minutes of CPU over the suite). The hook refuses outside pytest; the production
# cost is checked once, in test_web_auth.py.
accounts_users.cheapen_hash_for_tests()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "zalo_rules: the stand-in Zalo OA applies the OA's messaging rules on the"
                                       " test's own clock fixture (upstream.zalo)")


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes (bounded, never endless)."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return True
        event.wait(step)
    return bool(predicate())


INSTALL_SCRIPT = ROOT / "firmware_config" / "install.sh"


def install(prefix: Path, *args: str) -> subprocess.CompletedProcess:
    """``install.sh`` into a temporary root (``TINBAO_PREFIX``), nothing on the running system."""
    env = {**os.environ, "TINBAO_PREFIX": str(prefix), "TINBAO_NO_SYSTEM": "1", "TINBAO_PYTHON": sys.executable}
    done = subprocess.run(["bash", str(INSTALL_SCRIPT), *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def make_config(tmp_path: Path, **env: str) -> Config:
    values = {"TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db"), **FAST}
    values.update({k: str(v) for k, v in env.items()})
    return load_config(env=values)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ModemEmulator]:
    emu = ModemEmulator(link=str(tmp_path / "modem"))
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[tuple[Path, EmulatorClient]]:
    """The emulator in its own process (a real modem keeps its SIM when the gateway is killed).

    Yields the link the gateway opens as its port and the client for the phone side.
    """
    from gateway.modem.emulator.process import start_emulator_process, stop_emulator_process

    proc, link, client = start_emulator_process(tmp_path)
    yield link, client
    stop_emulator_process(proc)


@pytest.fixture
def config(tmp_path: Path, emulator: ModemEmulator) -> Config:
    return make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"))


@pytest.fixture
def gateway(config: Config) -> Iterator[Gateway]:
    gw = Gateway(config)
    gw.start()
    assert wait_until(lambda: gw.modem.state.state == "connected" and gw.modem.state.registered, 15), gw.modem.state
    yield gw
    gw.stop()


class Phone:
    """A villager's phone in conversation scripts: ``phone.send(number, text) -> reply``.

    Silence is proven, not waited out: once the router has handled the message (its inbox row
    is ``done``) and queued nothing to the number in that transaction, no reply is coming. A
    row the router marked ``failed`` fails the test: a crash is not silence.
    """

    def __init__(self, emulator: ModemEmulator, db_path: Path) -> None:
        self.emulator = emulator
        self.db_path = db_path

    def send(self, number: str, text: str, timeout: float = 10.0) -> str | None:
        """Text the gateway; the reply, or None when it handled the message and queued none."""
        from gateway.phone import normalise

        sender = normalise(number).value
        sent_before = len(self.emulator.sent_messages())
        inbox_before = self._count("SELECT COALESCE(MAX(id), 0) FROM inbox")
        outbox_before = self._count("SELECT COUNT(*) FROM outbox WHERE number=?", (sender,))
        self.emulator.deliver(number, text)
        handled = "SELECT status, last_error FROM inbox WHERE id>? AND sender=? AND status IN ('done', 'failed')"
        assert wait_until(lambda: rows(self.db_path, handled, (inbox_before, sender)), timeout), (
            f"the gateway did not handle {text!r} from {sender} within {timeout} s")
        status, error = rows(self.db_path, handled, (inbox_before, sender))[0]
        assert status == "done", f"routing {text!r} failed: {error}"
        if self._count("SELECT COUNT(*) FROM outbox WHERE number=?", (sender,)) == outbox_before:
            return None
        assert wait_until(lambda: self._reply_to(sender, sent_before) is not None, timeout), (
            f"a reply to {text!r} was queued for {sender} but the modem never sent it")
        return self._reply_to(sender, sent_before)

    def _count(self, sql: str, params: tuple = ()) -> int:
        return rows(self.db_path, sql, params)[0][0]

    def _reply_to(self, sender: str, sent_before: int) -> str | None:
        from gateway.phone import normalise

        for message in self.emulator.sent_messages()[sent_before:]:
            if normalise(message.destination).value == sender:
                return message.text
        return None

    def converse(self, script: str, number: str = "0912345678") -> None:
        """Run ``> text`` / ``< expected piece`` lines; ``<`` alone means silence.

        Blank lines are allowed; any other line is a mistake in the script and fails the test
        (a line skipped in silence would be an expectation nobody checks).
        """
        reply: str | None = None
        sent = False
        for number_of_line, raw in enumerate(script.strip().splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            if line == ">" or line.startswith("> "):
                reply = self.send(number, line[1:].strip())
                sent = True
            elif line == "<" or line.startswith("< "):
                assert sent, f"script line {number_of_line} {line!r} expects a reply before anything was sent"
                expected = line[1:].strip()
                if not expected:
                    assert reply is None, f"line {number_of_line}: expected silence, got {reply!r}"
                else:
                    assert reply is not None, f"line {number_of_line}: no reply, expected {expected!r}"
                    assert fold(expected) in fold(reply), f"line {number_of_line}: {expected!r} not in {reply!r}"
            else:
                raise ValueError(f"script line {number_of_line} is neither '> text' nor '< reply': {line!r}")


@pytest.fixture
def phone(emulator: ModemEmulator, config: Config) -> Phone:
    return Phone(emulator, config.storage_path)


def rows(db_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the gateway's database from the test, as an officer's tool would."""
    conn = sqlite3.connect(str(db_path), timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def real_pdus_path() -> Path:
    return SHARED / "testdata" / "real_pdus.jsonl"


# The PDU corpus sits in ../shared beside the checkout and is not shipped (its sources are GPL
# and LGPL). A checkout without it skips those tests with this reason; CI (CI set) has it and
# must run them, so there a missing corpus fails, with the same reason, instead of skipping.
CORPUS_MISSING = "corpus ../shared/testdata/real_pdus.jsonl not found"


@pytest.fixture
def corpus_required() -> Path:
    """The corpus file, or the test fails saying it is missing (CI, where skipping is not allowed)."""
    if not real_pdus_path().exists():
        pytest.fail(f"{CORPUS_MISSING} (CI must run the real-PDU tests)", pytrace=False)
    return real_pdus_path()


needs_corpus = (
    pytest.mark.usefixtures("corpus_required") if os.environ.get("CI")
    else pytest.mark.skipif(not real_pdus_path().exists(), reason=CORPUS_MISSING)
)


def missing_tool(reason: str) -> None:
    """A tool a test needs is not on this machine: skip here, fail under CI (CI set).

    CI installs every tool the tests use (``.ci/run``); a CI that lost one must go red, not
    green with the tests that needed it quietly skipped. ``reason`` names the Debian package.
    """
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the tests that need it", pytrace=False)
    pytest.skip(reason)



# -- a live gateway and a real headless Chromium (browser tests) -------------------------------

CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output"


class RecordingSimulator:
    """Stands in for the modem emulator behind the page: remembers every SMS it was given."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []

    def deliver(self, number: str, text: str) -> None:
        self.delivered.append((number, text))


@contextlib.contextmanager
def served_gateway(config: Config) -> Iterator[tuple[Gateway, str]]:
    """The whole gateway of ``config`` started, its page served by waitress on a free port."""
    import waitress

    gw = Gateway(config)
    gw.start()
    server = waitress.create_server(gw.web_app(), host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: gw.modem.state.state == "connected", 15)
        yield gw, f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        gw.stop()


@pytest.fixture
def live_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    """The whole gateway with its built-in emulator, its page served by waitress on a free port."""
    with served_gateway(make_config(tmp_path, TINBAO_MODEM_PORT="emulator", TINBAO_WEB_PORT="0")) as served:
        yield served


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download: executable_path)."""
    try:
        import playwright.sync_api as playwright_api
    except ImportError:
        missing_tool("playwright is not installed (pip install -r requirements-dev.txt -c requirements-dev.lock)")
    if not Path(CHROMIUM).exists():
        missing_tool(f"{CHROMIUM} not found: Debian's chromium package is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = context.new_page()
    yield page
    context.close()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot under test-output/ (kept by CI as the tests' visible output).

    A full-page shot costs Chromium about 0.3 s (it lays the page out again at its whole
    height); ``full_page=False`` takes what the screen shows, 8 times cheaper."""
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# -- logging in (the officers' page is behind a login) -----------------------------------------

TEST_PASSWORD = "mat-khau-thu-123"
_user_numbers = iter(range(1, 1_000_000))


def make_user(db_path: Path, role: str = "officer", username: str | None = None,
              password: str = TEST_PASSWORD) -> str:
    """Create an account straight in the database file; returns its username."""
    from gateway.accounts.users import create_user
    from gateway.database import prepare_gateway
    from gateway.storage import open_db

    username = username or f"{role}{next(_user_numbers)}"
    prepare_gateway(db_path)
    db = open_db(db_path)
    try:
        create_user(db, username, password, role, by="test")
    finally:
        db.close()
    return username


def csrf_token_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def login_client(client, db_path: Path, role: str = "officer", *, username: str | None = None,
                 password: str = TEST_PASSWORD) -> str:
    """Create a user with ``role`` and log the Flask test client in through the login form.

    CSRF stays on: the token of the login page is then sent by this client on every request
    (``X-CSRFToken``), as ``static/csrf.js`` does in a browser. Returns the username.
    """
    username = make_user(db_path, role, username, password)
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return username


def login_page(page, base_url: str, db_path: Path, role: str = "officer", *,
               username: str | None = None, password: str = TEST_PASSWORD) -> str:
    """Create a user with ``role`` and log in through the real login form in Chromium."""
    username = make_user(db_path, role, username, password)
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")
    assert "/login" not in page.url, page.url
    return username


# -- a prepared database file, for tests of one area without the modem -------------------------

@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The gateway's database file with every migration applied."""
    from gateway.database import prepare_gateway

    path = tmp_path / "tinbao.db"
    prepare_gateway(path)
    return path


@pytest.fixture
def storage(db_path: Path):
    """Per-thread connections to ``db_path``, as the running gateway hands to its web views."""
    from gateway.storage import ThreadLocalDb

    dbs = ThreadLocalDb(db_path)
    yield dbs
    dbs.close_all()


@pytest.fixture
def db(storage):
    """This thread's sqlite-utils Database on ``db_path``."""
    return storage.get()


# -- the officers' page without the modem: one factory, one app, client and logged_in ----------

_made: list[Callable[[], None]] = []  # what make_services opened, closed after each test


@pytest.fixture(autouse=True)
def _close_made_services() -> Iterator[None]:
    yield
    while _made:
        _made.pop()()


def make_services(db_path: Path, *, config: Config | None = None, **overrides: object):
    """The page's services as a running gateway gives them (``Gateway.web_app``), no worker started.

    Every part is the real one: the sync worker and the broadcast service (built, not started:
    a page that wakes them writes its rows as in production, a test may start them), the
    dry-run sandbox beside ``db_path`` with the saved menus and the gateway's handlers, the
    reserved keywords, a ``WriteHealth``. ``overrides`` replace parts by name
    (``simulator=RecordingSimulator()``, ``clock=ManualClock(...)``, ``sync=worker``,
    ``on_menus_changed=applied.append``).
    """
    from gateway.broadcasts.service import BroadcastService
    from gateway.clock import Clock
    from gateway.figures import Figures
    from gateway.menus import versions as menu_versions
    from gateway.router import RouterSettings, reserved_keywords
    from gateway.simulation import DryRun, sandbox_path
    from gateway.storage import ThreadLocalDb, WriteHealth
    from gateway.sync.worker import SyncWorker
    from gateway.web.services import WebServices

    config = config or load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
    parts: dict[str, object] = dict(overrides)
    if "db" not in parts:
        dbs = ThreadLocalDb(db_path)
        _made.append(dbs.close_all)
        parts["db"] = dbs
    dbs = parts["db"]
    parts.setdefault("clock", Clock())
    if "broadcasts" not in parts:
        parts["broadcasts"] = BroadcastService(config, dbs, parts["clock"])
    handlers = [parts["broadcasts"].subscriptions] if hasattr(parts["broadcasts"], "subscriptions") else []
    reserved = parts.setdefault("menus_reserved", reserved_keywords(handlers))
    if "sync" not in parts:
        sync = SyncWorker(config, dbs, parts["clock"])
        _made.append(sync.durable_dbs.close_all)
        parts["sync"] = sync
    if "dry_run" not in parts:
        options = menu_versions.book_options(config, reserved)
        dry = DryRun(sandbox_path(config.storage_path), RouterSettings.from_config(config),
                     lambda: menu_versions.load_current(dbs.get(), config.menus_path, **options), handlers=handlers)
        _made.append(dry.close)
        parts["dry_run"] = dry
    if "sim" not in parts:
        from gateway.sim.service import SimWatch

        parts["sim"] = SimWatch(config, dbs, parts["clock"], menu_for=lambda db, number, now: None)
    parts.setdefault("simulator", None)
    parts.setdefault("version", "test")
    parts.setdefault("on_menus_changed", lambda book: None)
    parts.setdefault("write_health", WriteHealth())
    parts.setdefault("figures", Figures())  # counted by the first dashboard (no worker in tests)
    return WebServices(**parts)


@pytest.fixture
def web_config(db_path: Path) -> Config:
    """The config the page is built with (a module overrides this fixture for its own keys)."""
    return load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})


@pytest.fixture
def services(db_path: Path, web_config: Config, storage):
    """``make_services`` on ``db_path`` (a module overrides this fixture to give other parts)."""
    return make_services(db_path, config=web_config, db=storage)


@pytest.fixture
def app(web_config: Config, services):
    """The officers' page on ``db_path``, built by ``create_app`` as the gateway builds it."""
    from gateway.web import create_app

    page = create_app(web_config, services)
    page.testing = True
    return page


@pytest.fixture
def client(app):
    """A browser that has not logged in."""
    return app.test_client()


@pytest.fixture
def logged_in(app, db_path: Path) -> Callable[..., object]:
    """``logged_in(role)``: a new browser logged in with a new account of ``role``
    (its ``username`` attribute says which); ``username=``/``password=`` choose the account."""

    def log_in(role: str = "officer", **account: str):
        browser = app.test_client()
        browser.username = login_client(browser, db_path, role, **account)
        return browser

    return log_in
