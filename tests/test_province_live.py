"""The province's warnings and campaigns for real: a hub and two communes' gateways talking over
HTTP, as processes, killed with SIGKILL on both sides (as test_broadcast_kill.py and
test_sync_kill.py kill theirs).

- A province warning reaches both gateways' libraries and waits for an officer there; with
  ``broadcasts.accept_province = true`` it is taken at once.
- A campaign reaches every subscriber of both gateways exactly once although one gateway is
  killed while it sends and the hub is killed while the campaign runs; the hub sees each
  commune's progress in the heartbeats.
- A post without internet gets the campaign by USB file, sends it, and its progress reaches the
  hub in the USB file going the other way.
- A campaign first heard of after its window is "missed" at the gateway and at the hub.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import FAST, ON_PAPER, ROOT, make_config, make_services, rows, wait_until

from gateway.broadcasts import subscribers
from gateway.database import prepare_gateway, prepare_hub
from gateway.hub import campaigns as hub_campaigns
from gateway.hub import warnings as hub_warnings
from gateway.storage import open_db, write_transaction

TOKENS = {"cl": "token-cl", "bh": "token-bh"}
SHORT = "Canh bao: ke gian gia danh cong an goi dien doi chuyen tien. Khong chuyen tien cho nguoi la."
LIVE = {
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours: the test runs at any hour
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
    "TINBAO_SYNC_POLL_INTERVAL": "0.05",
    "TINBAO_SYNC_PULL_INTERVAL": "0.2",
    "TINBAO_SYNC_RETRY_BASE": "0.1",
    "TINBAO_SYNC_RETRY_MAX": "0.5",
    "TINBAO_SYNC_TIMEOUT": "3",
    "TINBAO_SYNC_CHECK_TIMEOUT": "1",
    "TINBAO_SYNC_HEARTBEAT_MINUTES": "0.01",  # a heartbeat every 0.6 s
    "TINBAO_SMS_MAX_PER_HOUR": "0",  # no SIM pacing: 120 people in seconds, not two hours
    "TINBAO_SMS_MAX_PER_DAY": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update(values)
    return env


class Processes:
    """Every process a test starts, stopped at the end whatever happened."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        out = open(log, "ab")
        proc = subprocess.Popen([sys.executable, "app.py", *args], cwd=ROOT, env=env, stdout=out, stderr=out)
        out.close()
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.started:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    yield started
    started.stop_all()


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)  # no clean-up of any kind
    proc.wait(10)


# -- the hub ------------------------------------------------------------------------------------

class Hub:
    """``python app.py hub`` on its own port and file; the test writes warnings and campaigns
    into that file with the hub's own functions, as the hub's page does."""

    def __init__(self, folder: Path, processes: Processes) -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.path = folder / "hub.db"
        self.port = free_port()
        self.processes = processes
        self.proc: subprocess.Popen | None = None
        prepare_hub(self.path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return clean_env(TINBAO_STORAGE_PATH=str(self.path), TINBAO_WEB_PORT=str(self.port),
                         TINBAO_HUB_GATEWAYS=",".join(f"{k}:{v}" for k, v in TOKENS.items()),
                         TINBAO_HUB_NAME="Công an tỉnh Lào Cai")

    def start(self) -> None:
        self.proc = self.processes.start(["hub"], self.env(), self.folder / "hub.log")
        assert wait_until(self.healthy, 30), (self.folder / "hub.log").read_text()[-2000:]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return json.load(response)["role"] == "hub"
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def write(self, fn, **kw):
        db = open_db(self.path, durable=True)
        try:
            return fn(db, **kw)
        finally:
            db.close()

    def warning(self, text: str = SHORT, **kw) -> int:
        return self.write(hub_warnings.save, title=kw.pop("title", "Giả danh công an"), accented=text,
                          plain=hub_warnings.suggested_khong_dau(text), by="tinh.an",
                          now=kw.pop("now", datetime.now(UTC)), **kw)

    def campaign(self, warning_id: int, *, starts: datetime, ends: datetime, now: datetime | None = None,
                 communes: list[str] | None = None) -> int:
        return self.write(hub_campaigns.schedule, warning_id=warning_id, encoding="khong_dau", communes=communes,
                          starts_at=starts, ends_at=ends, by="tinh.an", now=now or datetime.now(UTC),
                          known=list(TOKENS))

    def overview(self, campaign_id: int, now: datetime | None = None) -> dict:
        db = open_db(self.path)
        try:
            return hub_campaigns.overview(db, hub_campaigns.get(db, campaign_id), list(TOKENS),
                                          now or datetime.now(UTC))
        finally:
            db.close()

    def states(self, campaign_id: int, now: datetime | None = None) -> dict[str, str]:
        return {row["gateway_id"]: row["state"] for row in self.overview(campaign_id, now)["rows"]}


# -- a commune's gateway ----------------------------------------------------------------------

class Post:
    """One commune: its database with subscribers, its emulator in its own process (a real modem
    outlives the Pi's software), and ``python app.py`` (or only its sync worker)."""

    def __init__(self, folder: Path, gateway_id: str, hub: Hub | None, processes: Processes, *,
                 subscribed: int = 0, modem: bool = True, **env: str) -> None:
        from gateway.modem.emulator.process import start_emulator_process

        folder.mkdir()
        self.folder = folder
        self.gateway_id = gateway_id
        self.path = folder / "tinbao.db"
        self.processes = processes
        self.proc: subprocess.Popen | None = None
        self.link = self.emulator = None
        if modem:
            emulator_proc, self.link, self.emulator = start_emulator_process(folder)
            processes.started.append(emulator_proc)
        self.values = {**FAST, **LIVE, "TINBAO_STORAGE_PATH": str(self.path), "TINBAO_WEB_PORT": "0",
                       "TINBAO_GATEWAY_ID": gateway_id, "TINBAO_HUB_TOKEN": TOKENS[gateway_id],
                       "TINBAO_GATEWAY_NAME": f"Cong an xa {gateway_id.upper()}", **env}
        if hub is not None:
            self.values["TINBAO_HUB_URL"] = hub.url
        if self.link is not None:
            self.values["TINBAO_MODEM_PORT"] = str(self.link)
        prepare_gateway(self.path)
        self.numbers = [f"+849{1 if gateway_id == 'cl' else 2}{i:07d}" for i in range(subscribed)]
        db = open_db(self.path)
        now = datetime.now(UTC)
        with write_transaction(db):
            for number in self.numbers:
                subscribers.save_member(db, subscribers.Member(number, village="Na Hối"), source="import", now=now,
                                        basis=ON_PAPER)
        db.close()

    def start(self, command: str = "run") -> subprocess.Popen:
        self.proc = self.processes.start([command], clean_env(**self.values), self.folder / "gateway.log")
        return self.proc

    def log(self) -> str:
        return (self.folder / "gateway.log").read_text(errors="replace")[-3000:]

    def config(self):
        return make_config(self.folder, **self.values)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return rows(self.path, sql, params)

    def broadcast_status(self) -> str | None:
        found = self.query("SELECT status FROM broadcasts")
        return found[0][0] if found else None


# -- a warning reaches both libraries ---------------------------------------------------------------

def test_a_province_warning_reaches_both_libraries_and_waits_for_an_officer(tmp_path, processes):
    hub = Hub(tmp_path / "hub", processes)
    hub.start()
    cl = Post(tmp_path / "cl", "cl", hub, processes, modem=False)
    bh = Post(tmp_path / "bh", "bh", hub, processes, modem=False, TINBAO_BROADCASTS_ACCEPT_PROVINCE="true")
    cl.start("sync")
    bh.start("sync")
    warning = hub.warning()
    assert wait_until(lambda: cl.query("SELECT id FROM province_warnings") == [(warning,)]
                      and bh.query("SELECT id FROM province_warnings") == [(warning,)], 30), cl.log() + bh.log()
    assert cl.query("SELECT status, version, hub_name FROM province_warnings") == [
        ("waiting", 1, "Công an tỉnh Lào Cai")]
    assert bh.query("SELECT status, accepted_by FROM province_warnings") == [
        ("accepted", "broadcasts.accept_province")]

    # cl's officer sees it in the library marked as the province's, and accepts it there.
    from gateway.web import create_app

    config = cl.config()
    app = create_app(config, make_services(cl.path, config=config))
    from conftest import login_client

    client = app.test_client()
    login_client(client, cl.path, "officer")
    page = client.get("/broadcasts/province/").get_data(as_text=True)
    assert "Công an tỉnh Lào Cai" in page and "Chờ duyệt" in page
    assert f'value="tinh-{warning}"' not in client.get("/broadcasts/new").get_data(as_text=True)
    assert client.post(f"/broadcasts/province/{warning}/accept", data={"version": "1"}).status_code == 303
    assert f'value="tinh-{warning}"' in client.get("/broadcasts/new").get_data(as_text=True)

    # The province changes it: the new version reaches both; cl must accept it again, bh takes it.
    hub.warning(SHORT + " Goi 113.", warning_id=warning)
    assert wait_until(lambda: cl.query("SELECT version FROM province_warnings") == [(2,)]
                      and bh.query("SELECT version FROM province_warnings") == [(2,)], 30)
    assert cl.query("SELECT status FROM province_warnings") == [("waiting",)]
    assert bh.query("SELECT status FROM province_warnings") == [("accepted",)]
    assert f'value="tinh-{warning}"' not in client.get("/broadcasts/new").get_data(as_text=True)


# -- a campaign, each villager once, whatever is killed -------------------------------------------

def test_a_campaign_reaches_every_subscriber_of_both_once_across_sigkills_of_a_gateway_and_the_hub(
        tmp_path, processes):
    people = 120
    hub = Hub(tmp_path / "hub", processes)
    campaign = hub.campaign(hub.warning(), starts=datetime.now(UTC) - timedelta(minutes=1),
                            ends=datetime.now(UTC) + timedelta(days=1))
    hub.start()
    cl = Post(tmp_path / "cl", "cl", hub, processes, subscribed=people)
    bh = Post(tmp_path / "bh", "bh", hub, processes, subscribed=people)
    for post in (cl, bh):
        post.emulator.set_fault("send_delay", 0.02)  # the modem is the bottleneck, as on the real thing

    # cl hears of the campaign and starts sending; half way it is killed, and so is the hub.
    cl.start()
    assert cl.emulator.wait_for_sent(40, 60), cl.log()
    kill(cl.proc)
    kill(hub.proc)
    sent_at_kill = len(cl.emulator.sent_messages())
    assert sent_at_kill < people, "the kill came too late to test anything"

    # Both gateways run while the hub is down: cl goes on from its own database; bh has
    # not heard of the campaign yet and waits for the hub.
    cl.start()
    bh.start()
    assert cl.emulator.wait_for_sent(sent_at_kill + 10, 60), cl.log()
    assert bh.emulator.sent_messages() == []
    hub.start()
    assert wait_until(lambda: cl.broadcast_status() == "done" and bh.broadcast_status() == "done", 120), (
        cl.log(), bh.log(), cl.query("SELECT status, COUNT(*) FROM broadcast_deliveries GROUP BY 1"),
        bh.query("SELECT status, COUNT(*) FROM broadcast_deliveries GROUP BY 1"))

    for post in (cl, bh):
        per_number = Counter(m.destination for m in post.emulator.sent_messages())
        assert max(per_number.values()) == 1, f"{post.gateway_id} sent twice: {per_number.most_common(3)}"
        statuses = dict(post.query("SELECT number, status FROM broadcast_deliveries"))
        unknown = [n for n, s in statuses.items() if s == "unknown"]
        assert len(unknown) <= (1 if post is cl else 0), unknown  # at most the one in cl's modem at the kill
        assert set(post.numbers) - set(per_number) <= set(unknown)
        assert post.query("SELECT COUNT(*), COUNT(DISTINCT number) FROM outbox WHERE kind='broadcast'")[0] == (
            people, people), "one outbox row per person, across every kill"
        assert post.query("SELECT COUNT(*) FROM broadcasts") == [(1,)]  # one campaign, one broadcast
        assert post.query("SELECT id, status FROM province_campaigns") == [(campaign, "broadcast")]
        text = post.emulator.sent_messages()[0].text
        assert text.startswith(f"Cong an xa {post.gateway_id.upper()}: Canh bao: ke gian") and "TC" in text

    # The hub knows it from the heartbeats: both communes done, everyone counted once.
    assert wait_until(lambda: hub.states(campaign) == {"cl": "done", "bh": "done"}, 30), hub.overview(campaign)
    total = hub.overview(campaign)["total"]
    assert total["recipients"] == 2 * people
    assert total["sent"] + total["delivered"] + total["unknown"] == 2 * people
    assert total["cost"] == 2 * people * 1 * 350  # one part each at the shipped price


# -- the USB file both ways, for a post without internet ---------------------------------------------

def test_a_post_without_internet_gets_the_campaign_by_usb_file_and_reports_by_usb_file(tmp_path, processes):
    people = 30
    hub = Hub(tmp_path / "hub", processes)
    campaign = hub.campaign(hub.warning(), starts=datetime.now(UTC) - timedelta(minutes=1),
                            ends=datetime.now(UTC) + timedelta(days=1), communes=["cl"])
    cl = Post(tmp_path / "cl", "cl", None, processes, subscribed=people)  # hub.token, no hub.url
    cl.start()
    stick = tmp_path / "usb"
    stick.mkdir()
    down = stick / "tinh-cl.json"
    run = subprocess.run([sys.executable, "app.py", "hub", "export-province", "cl", str(down)], cwd=ROOT,
                         env=hub.env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    took = subprocess.run([sys.executable, "app.py", "import-province", str(down)], cwd=ROOT,
                          env=clean_env(**cl.values), capture_output=True, text=True, timeout=60)
    assert took.returncode == 0, took.stderr
    assert "1 chiến dịch" in took.stdout
    assert cl.emulator.wait_for_sent(people, 60), cl.log()
    assert wait_until(lambda: cl.broadcast_status() == "done", 30)
    assert sorted(m.destination for m in cl.emulator.sent_messages()) == sorted(cl.numbers)

    # The same file again changes nothing.
    again = subprocess.run([sys.executable, "app.py", "import-province", str(down)], cwd=ROOT,
                           env=clean_env(**cl.values), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "0 chiến dịch" in again.stdout
    assert cl.query("SELECT COUNT(*) FROM broadcasts") == [(1,)]

    # Going up: the tips file carries the heartbeat, and with it the campaign's progress.
    up = stick / "tips-cl.json"
    out = subprocess.run([sys.executable, "app.py", "export-tips", str(up)], cwd=ROOT, env=clean_env(**cl.values),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert hub.states(campaign) == {"cl": "no_news"}
    inn = subprocess.run([sys.executable, "app.py", "import-tips", str(up)], cwd=ROOT, env=hub.env(),
                         capture_output=True, text=True, timeout=60)
    assert inn.returncode == 0, inn.stderr
    assert hub.states(campaign) == {"cl": "done"}
    assert hub.overview(campaign)["total"]["recipients"] == people

    # A file for another post, or altered on the way, is refused with one line.
    other = stick / "tinh-bh.json"
    subprocess.run([sys.executable, "app.py", "hub", "export-province", "bh", str(other)], cwd=ROOT, env=hub.env(),
                   check=True, capture_output=True, timeout=60)
    refused = subprocess.run([sys.executable, "app.py", "import-province", str(other)], cwd=ROOT,
                             env=clean_env(**cl.values), capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "bị từ chối" in refused.stderr


# -- first heard of after its window -----------------------------------------------------------------

def test_a_campaign_first_heard_of_after_its_window_is_missed_here_and_at_the_hub(tmp_path, processes):
    hub = Hub(tmp_path / "hub", processes)
    long_ago = datetime.now(UTC) - timedelta(days=5)
    campaign = hub.campaign(hub.warning(now=long_ago), starts=long_ago + timedelta(days=1),
                            ends=long_ago + timedelta(days=3), now=long_ago)
    hub.start()
    cl = Post(tmp_path / "cl", "cl", hub, processes, subscribed=5)
    cl.start()
    assert wait_until(lambda: cl.query("SELECT status FROM province_campaigns") == [("missed",)], 30), cl.log()
    assert cl.query("SELECT COUNT(*) FROM broadcasts") == [(0,)]
    # cl says so in its heartbeat; bh never said anything, and the window is over: missed too.
    assert wait_until(lambda: hub.states(campaign) == {"cl": "missed", "bh": "missed"}, 30), hub.overview(campaign)
    assert hub.overview(campaign)["missed"] == 2
    assert cl.emulator.sent_messages() == []
