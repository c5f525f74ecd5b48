"""A province's load on the hub: 120 posts beating, pushing tips in bursts and reporting
campaign progress, 4 officers reading the fleet page, against ``python app.py hub`` holding a
year of a province's tips.

The hub is ``python app.py hub`` in its own process (waitress, fsync'd commits), its database
filled beforehand with ``--tips`` tips (a year of a province: about 200,000) through the hub's
own ``store_batch``. The 120 gateways are threads of this process, each with its own token and
its own kept-alive HTTP connection, each sending a heartbeat every ``--beat`` seconds (a state
like a real one: health, alerts in two languages, a ``campaigns`` section) and, now and then, a
burst of 1-8 tips. 4 officers, logged in, read ``/fleet`` and one post's page in turn, with a
short pause between clicks.

Figures: heartbeat p95, tip push p95, fleet page p95 and a post's page p95 (the mixed run);
the hub's CPU time per heartbeat (a run of heartbeats alone, CPU read from /proc by psutil);
and the database's growth for a month of heartbeats (a month of hourly rows and the newest
state of each post, inserted directly: 120 posts × 24 h × 30 days).

    python bench/province_load.py [--gateways 120] [--tips 200000] [--seconds 60] [--beat 5] [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import PASSWORD, ROOT, figure, free_port, percentile, workdir

from gateway.database import prepare_hub
from gateway.hub import store
from gateway.storage import open_db

COMMAND = "python bench/province_load.py"
METRICS_TOKEN = "bench-metrics"
OFFICERS = 4


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}


def gateway_ids(count: int) -> list[str]:
    return [f"x{k:03d}" for k in range(count)]


# -- the hub's file before the run ----------------------------------------------------------------

def fill_tips(path: Path, ids: list[str], total: int) -> None:
    """A year of tips, spread over the posts and the year, through the hub's own batch store."""
    db = open_db(path)
    now = datetime.now(UTC)
    per = max(1, total // len(ids))
    try:
        for gateway_id in ids:
            items = []
            for i in range(per):
                at = now - timedelta(minutes=random.randrange(365 * 24 * 60))
                items.append({"uid": f"{gateway_id}-y{i}", "reference": f"{gateway_id.upper()}-{i:04d}",
                              "received_at": at.isoformat(), "status": "closed" if i % 3 else "new",
                              "text": f"Có người lạ vào thôn hỏi mua đất giá cao, hẹn đặt cọc trước #{i}",
                              "tipster_masked": "0*** *** *12"})
            for start in range(0, len(items), 2000):
                store.store_batch(db, gateway_id, items[start:start + 2000], source="online", now=now)
    finally:
        db.close()


def state_of(gateway_id: str, beat: int) -> dict:
    """A heartbeat's state as a gateway builds it (gateway.sync.heartbeat): a few KB."""
    return {
        "status": "ok", "version": "0.1.0", "gateway_id": gateway_id, "uptime_seconds": 3600 + beat * 5,
        "modem": {"state": "connected", "signal": 18 + beat % 5, "registered": True},
        "queues": {"inbox_queued": 0, "inbox_failed": 0, "outbox_queued": beat % 4, "outbox_failed": 0,
                   "tips_new": 3, "tips_to_confirm": beat % 2, "zalo_queued": 0, "district_queued": beat % 3},
        "network": {"technology": "4G", "operator": "Viettel", "rsrp": -95, "rsrq": -11, "smsc": "+84980200030",
                    "profile": "sim7600-usb"},
        "database": "ok",
        "storage": {"writable": True, "reason": None, "since": None, "free_bytes": 12_000_000_000},
        "clock_trusted": True,
        "clock": {"trusted": True, "source": "system", "offset_seconds": 0.4, "corrected_at": None,
                  "doubt_before": None},
        "inbox_failed": {"count": 0, "last_error": None, "last_at": None},
        "setup_complete": True,
        "backup": {"at": "2026-12-01T19:00:00+00:00", "age_seconds": 40_000, "stale": False},
        "sim": {"state": "ok", "reason": "", "balance_vnd": 85_000 - beat * 350, "valid_until": "2027-03-01"},
        "time": datetime.now(UTC).isoformat(),
        "alerts": [{"code": "backup", "tone": "wait",
                    "text": "Chưa sao lưu cơ sở dữ liệu trong hơn 2 ngày: chạy python app.py doctor để xem cách sửa.",
                    "text_en": "No backup of the database for more than 2 days: run python app.py doctor."}]
        if beat % 7 == 0 else [],
        "campaigns": [{"campaign": 3, "recipients": 1800, "sent": min(1800, beat * 40),
                       "delivered": min(1750, beat * 38), "failed": beat % 5, "paused": None, "parts": 2,
                       "price_per_part": 350}],
    }


def fill_month(path: Path, ids: list[str], now: datetime) -> None:
    """A month of heartbeats as the hub keeps them: one row per post and hour, the newest state."""
    db = open_db(path)
    try:
        start = (now - timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
        rows = []
        for gateway_id in ids:
            for hour in range(30 * 24):
                at = (start + timedelta(hours=hour)).astimezone(UTC).isoformat()
                worst = "ok" if hour % 50 else "warning"
                rows.append((gateway_id, at, 12, worst, 0 if hour % 97 else 3, "backup" if worst != "ok" else ""))
        db.conn.execute("BEGIN")
        db.conn.executemany("INSERT OR IGNORE INTO hub_fleet_hours (gateway_id, hour, beats, worst, line_failed, codes)"
                            " VALUES (?,?,?,?,?,?)", rows)
        db.conn.executemany(
            "INSERT OR REPLACE INTO hub_heartbeats (gateway_id, at, heard_at, received_at, source, state)"
            " VALUES (?,?,?,?,'online',?)",
            [(g, now.isoformat(), now.isoformat(), now.isoformat(), json.dumps(state_of(g, 1), ensure_ascii=False))
             for g in ids])
        db.conn.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


# -- the hub and its clients -------------------------------------------------------------------

def start_hub(work: Path, port: int, ids: list[str]) -> subprocess.Popen:
    env = clean_env()
    env.update({"TINBAO_STORAGE_PATH": str(work / "hub.db"), "TINBAO_WEB_PORT": str(port),
                "TINBAO_HUB_GATEWAYS": ",".join(f"{g}:token-{g}" for g in ids),
                "TINBAO_HUB_METRICS_TOKEN": METRICS_TOKEN, "TINBAO_HUB_MAX_BATCH": "2000"})
    proc = subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "hub"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if json.load(response)["status"] == "ok":
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the hub did not start")


class Client:
    """One kept-alive HTTP connection (a gateway's or an officer's)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
                ) -> tuple[int, bytes, float]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            start = time.perf_counter()
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - start
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data, elapsed


class Samples:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, kind: str, status: int, elapsed: float) -> None:
        with self.lock:
            if status == 200:
                self.times.setdefault(kind, []).append(elapsed)
            else:
                self.errors[kind] = self.errors.get(kind, 0) + 1


def gateway_loop(gateway_id: str, port: int, stop: threading.Event, samples: Samples, beat_every: float,
                 tips: bool) -> None:
    client = Client(port)
    auth = {"Authorization": f"Bearer token-{gateway_id}", "Content-Type": "application/json"}
    rng = random.Random(gateway_id)
    stop.wait(rng.uniform(0, beat_every))  # the posts do not beat in step
    beat, pushed = 0, 0
    next_burst = time.monotonic() + rng.uniform(2, 20)
    while not stop.is_set():
        started = time.monotonic()
        body = json.dumps({"gateway_id": gateway_id, "at": datetime.now(UTC).isoformat(),
                           "state": state_of(gateway_id, beat)}, ensure_ascii=False).encode()
        status, _, elapsed = client.request("POST", "/api/v1/heartbeat", body, auth)
        samples.add("heartbeat", status, elapsed)
        beat += 1
        if tips and time.monotonic() >= next_burst:
            items = [{"uid": f"{gateway_id}-n{pushed + i}", "reference": f"{gateway_id.upper()}-N{pushed + i}",
                      "received_at": datetime.now(UTC).isoformat(), "status": "new",
                      "text": "Tin báo: có người lạ bán hàng giả ở chợ phiên, hẹn đặt cọc qua điện thoại",
                      "tipster_masked": "0*** *** *34"} for i in range(rng.randint(1, 8))]
            pushed += len(items)
            body = json.dumps({"gateway_id": gateway_id, "tips": items}, ensure_ascii=False).encode()
            status, _, elapsed = client.request("POST", "/api/v1/tips", body, auth)
            samples.add("push", status, elapsed)
            next_burst = time.monotonic() + rng.uniform(10, 40)
        stop.wait(max(0.0, beat_every - (time.monotonic() - started)))


def officer_loop(name: str, port: int, ids: list[str], stop: threading.Event, samples: Samples,
                 think: float) -> None:
    client = Client(port)
    status, page, _ = client.request("GET", "/login")
    token = re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()
    from urllib.parse import urlencode

    status, _, _ = client.request("POST", "/login", urlencode({"username": name, "password": PASSWORD,
                                                               "csrf_token": token}).encode(),
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 303:
        raise SystemExit(f"login of {name} failed: {status}")
    rng = random.Random(name)
    while not stop.is_set():
        status, _, elapsed = client.request("GET", "/fleet")
        samples.add("fleet", status, elapsed)
        stop.wait(think)
        status, _, elapsed = client.request("GET", f"/fleet/{rng.choice(ids)}")
        samples.add("post", status, elapsed)
        stop.wait(think)


def run_phase(port: int, ids: list[str], seconds: float, beat_every: float, *, tips: bool, officers: bool,
              think: float) -> Samples:
    samples = Samples()
    stop = threading.Event()
    threads = [threading.Thread(target=gateway_loop, args=(g, port, stop, samples, beat_every, tips), daemon=True)
               for g in ids]
    if officers:
        threads += [threading.Thread(target=officer_loop, args=(f"tinh.doc{k}", port, ids, stop, samples, think),
                                     daemon=True) for k in range(OFFICERS)]
    for thread in threads:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join(120)
    return samples


def p95(samples: Samples, kind: str) -> str:
    times = samples.times.get(kind, [])
    if not times:
        return "no sample"
    errors = samples.errors.get(kind, 0)
    extra = f", {errors} errors" if errors else ""
    return (f"{percentile(times, 0.95) * 1000:.0f} ms (median {percentile(times, 0.5) * 1000:.0f} ms,"
            f" {len(times):,} requests{extra})")


def main() -> None:
    import psutil

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=120)
    parser.add_argument("--tips", type=int, default=200_000, help="tips in the hub's database before the run")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mixed run")
    parser.add_argument("--beat", type=float, default=5.0, help="seconds between two heartbeats of one post")
    parser.add_argument("--think", type=float, default=0.5, help="an officer's pause between two pages, seconds")
    parser.add_argument("--quick", action="store_true", help="a smoke run (20 posts, 4,000 tips, 8 s)")
    args = parser.parse_args()
    if args.quick:
        args.gateways, args.tips, args.seconds, args.beat = 20, 4000, 8.0, 2.0
    ids = gateway_ids(args.gateways)
    work = workdir()
    path = work / "hub.db"
    try:
        prepare_hub(path)
        t0 = time.perf_counter()
        fill_tips(path, ids, args.tips)
        from gateway.accounts import users

        db = open_db(path)
        try:
            for k in range(OFFICERS):
                users.create_user(db, f"tinh.doc{k}", PASSWORD, "viewer", by="bench")
        finally:
            db.close()
        print(f"hub database: {args.tips:,} tips in {time.perf_counter() - t0:.0f} s", flush=True)
        port = free_port()
        hub = start_hub(work, port, ids)
        try:
            process = psutil.Process(hub.pid)
            # 1. Heartbeats alone: the hub's CPU per heartbeat.
            cpu = process.cpu_times()
            alone = run_phase(port, ids, max(5.0, args.seconds / 4), args.beat, tips=False, officers=False,
                              think=args.think)
            spent = sum(process.cpu_times()[:2]) - sum(cpu[:2])
            beats = len(alone.times.get("heartbeat", []))
            # 2. The mixed run: heartbeats, tips in bursts, 4 officers reading.
            mixed = run_phase(port, ids, args.seconds, args.beat, tips=True, officers=True, think=args.think)
        finally:
            hub.terminate()
            hub.wait(30)
        before = file_size(path)
        fill_month(path, ids, datetime.now(UTC))
        month = file_size(path) - before
    finally:
        shutil.rmtree(work, ignore_errors=True)
    setting = (f"{args.gateways} posts beating every {args.beat:g} s with campaign progress, tips in bursts of 1-8,"
               f" {OFFICERS} officers reading; {args.tips:,} tips held; `python app.py hub`, fsync'd commits")
    figure(f"hub: heartbeat p95 ({setting})", "≤ 100 ms", p95(mixed, "heartbeat"),
           leaves_out="a real network (loopback); the gateways' own work", command=COMMAND)
    figure("hub: tip push p95 (same run)", "≤ 100 ms", p95(mixed, "push"),
           leaves_out="a real network (loopback)", command=COMMAND)
    figure("hub: fleet page p95 (same run)", "≤ 200 ms", p95(mixed, "fleet"),
           leaves_out="the browser's rendering", command=COMMAND)
    figure("hub: one post's page (7 days by the hour) p95 (same run)", "≤ 200 ms", p95(mixed, "post"),
           leaves_out="the browser's rendering", command=COMMAND)
    figure(f"hub CPU time per heartbeat ({args.gateways} posts, heartbeats alone)", "—",
           f"{spent / max(1, beats) * 1000:.1f} ms ({beats:,} heartbeats)",
           leaves_out="the clients' CPU (same machine)", command=COMMAND)
    figure(f"hub database growth for a month of heartbeats ({args.gateways} posts × 24 h × 30 days of hourly rows"
           " and each post's newest state)", "≤ 50 MB", f"{month / 1e6:.1f} MB",
           leaves_out="nothing (the file's growth, WAL included)", command=COMMAND)


if __name__ == "__main__":
    main()
