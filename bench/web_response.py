"""Response times of the officers' pages with a year of a busy commune in the database.

Fills a fresh SQLite file with 100,000 tips and 300,000 messages (200,000 in, 100,000 out;
20,000 villagers; Vietnamese texts, villages, statuses spread over a year), logs in through
the real login form and times each page through Flask's test client (the whole app: login
wall, CSRF, Jinja, SQL), printing p50/p95. Target: tips list and search p95 <= 100 ms.

    python bench/web_response.py [--tips 100000] [--messages 300000] [--runs 40] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _harness import workdir

from gateway.config import load_config
from gateway.service import prepare_gateway
from gateway.storage import ThreadLocalDb, open_db, utcnow_iso
from gateway.web import WebServices, create_app
from gateway.web.accounts import create_user

TARGET_MS = 100.0
PASSWORD = "bench-password-123"
VILLAGES = ["Na Hối", "Bản Phố", "Nậm Đét", "Cốc Lầu", "Tả Van Chư", "Lùng Phình", "Bản Liền",
            "Hoàng Thu Phố", "Thải Giàng Phố", "Nậm Mòn", "Tà Chải", "Lầu Thí Ngài"]
WORDS = ("có người lạ vào thôn hỏi mua trâu bò giá cao rồi đòi đặt cọc trước qua điện thoại "
         "tối qua mất xe máy ở đầu cầu nghi trộm cắp đánh nhau say rượu gây rối trật tự "
         "cháy rừng khói nhiều trên đồi thông tin nhắn trúng thưởng yêu cầu chuyển khoản "
         "đường trơn sạt lở đất chặn lối đi trẻ em nghỉ học đi làm thuê bên kia biên giới").split()
SCAM = "lừa đảo"


def fill(path: Path, n_tips: int, n_messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    prepare_gateway(path)
    db = open_db(path)
    now = datetime.now(timezone.utc)
    numbers = [f"+849{12000000 + i:08d}" for i in range(20_000)]
    n_in = n_messages * 2 // 3
    n_out = n_messages - n_in
    start = time.perf_counter()

    def text() -> str:
        words = rng.sample(WORDS, rng.randint(6, 25))
        if rng.random() < 0.05:
            words.insert(rng.randint(0, len(words)), SCAM)
        return " ".join(words).capitalize()

    with db.atomic():
        inbox_rows = []
        for i in range(1, n_in + 1):
            at = now - timedelta(seconds=(n_in - i) * 365 * 86400 / n_in)
            handler = rng.choice(["menu", "1", "1.3", "help", "2", "tip:x", "ignore", "1.4"])
            inbox_rows.append((i, utcnow_iso(at), rng.choice(numbers), "mobile", text(), "done", handler))
        db.conn.executemany(
            "INSERT INTO inbox (id, received_at, sender, sender_kind, text, status, handler) VALUES (?,?,?,?,?,?,?)",
            inbox_rows,
        )
        db.conn.executemany(
            "INSERT INTO outbox (created_at, number, text, kind, encoding, parts_total, parts_sent, status,"
            " next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (utcnow_iso(now - timedelta(seconds=(n_out - i) * 365 * 86400 / n_out)), rng.choice(numbers),
                 text(), rng.choice(["menu", "tip_ack", "help"]), "gsm7", 1, 1, "sent", utcnow_iso(now))
                for i in range(n_out)
            ],
        )
        tip_rows = []
        for i in range(1, n_tips + 1):
            at = now - timedelta(seconds=(n_tips - i) * 365 * 86400 / n_tips)
            status = rng.choices(["new", "handling", "closed"], [1, 2, 7])[0]
            village = rng.choice(VILLAGES) if rng.random() < 0.7 else None
            inbox_id = rng.randint(1, n_in)
            tip_rows.append((i, f"CL-{i:04d}", f"cl-{i}", utcnow_iso(at), inbox_rows[inbox_id - 1][2], text(),
                             inbox_id, status, village))
        db.conn.executemany(
            "INSERT INTO tips (id, reference, uid, received_at, tipster, text, inbox_id, status, village)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            tip_rows,
        )
    create_user(db, "canbo", PASSWORD, "officer", by="bench")
    db.execute("ANALYZE")
    db.close()
    print(f"filled {n_tips:,} tips, {n_in:,} inbound + {n_out:,} outbound messages "
          f"in {time.perf_counter() - start:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")


def login(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = client.post("/login", data={"username": "canbo", "password": PASSWORD, "csrf_token": token})
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code}")
    client.environ_base["HTTP_X_CSRFTOKEN"] = token


def time_page(client, url: str, runs: int) -> tuple[float, float, int]:
    for _ in range(3):  # warm the page cache and Jinja's template cache
        client.get(url)
    samples = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        body = response.get_data()
        samples.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        size = len(body)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(round(0.95 * len(samples))) - 1)]
    return statistics.median(samples), p95, size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--keep", help="reuse/keep the database in this folder")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else workdir()
    work.mkdir(parents=True, exist_ok=True)
    path = work / "tinbao.db"
    if not path.exists():
        fill(path, args.tips, args.messages)
    config = load_config(env={"TINBAO_STORAGE_PATH": str(path)})
    dbs = ThreadLocalDb(path)
    app = create_app(config, WebServices(db=dbs, simulator=None, version="bench"))
    client = app.test_client()
    login(client)
    today = datetime.now(config.timezone).date()
    month_ago = today - timedelta(days=30)
    pages = [
        ("tips list", "/tips", True),
        ("tips list, page 20", "/tips?page=20", True),
        ("tips list, status=new", "/tips?status=new", True),
        ("tips list, village", "/tips?village=N%E1%BA%ADm+%C4%90%C3%A9t", True),
        ("tips list, last 30 days", f"/tips?from={month_ago}&to={today}", True),
        ("search 'lua dao'", "/tips?q=lua+dao", True),
        ("search 'lừa đảo' + closed", "/tips?q=l%E1%BB%ABa+%C4%91%E1%BA%A3o&status=closed", True),
        ("search 'trom xe may'", "/tips?q=trom+xe+may", True),
        ("search 'nam det' (village)", "/tips?q=nam+det", True),
        ("search rare word 'giang'", "/tips?q=giang", True),
        ("search, no match", "/tips?q=khongcotu", True),
        ("one tip", f"/tips/CL-{args.tips // 2:04d}", False),
        ("conversations", "/conversations", False),
        ("dashboard", "/", False),
        ("/api/dashboard", "/api/dashboard", False),
    ]
    print(f"{'page':32} {'p50 ms':>8} {'p95 ms':>8} {'KB':>6}")
    failed = False
    for name, url, targeted in pages:
        p50, p95, size = time_page(client, url, args.runs)
        verdict = ""
        if targeted:
            verdict = "ok" if p95 <= TARGET_MS else "SLOW"
            failed |= p95 > TARGET_MS
        print(f"{name:32} {p50:8.1f} {p95:8.1f} {size / 1024:6.1f} {verdict}")
    dbs.close_all()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"target: tips list and search p95 <= {TARGET_MS:.0f} ms: {'FAILED' if failed else 'met'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
