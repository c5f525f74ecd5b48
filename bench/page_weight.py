"""Page weight of the dashboard: its HTML and every file it loads, all from the gateway itself.

An officer's phone reaches the Pi over its own Wi-Fi, often with a weak signal, and there is
no internet to fall back on: the page must be small and must load nothing from outside.
This fills a database so every list on the dashboard is full of long Vietnamese texts (the
heaviest the page gets) and 30 days of tips for the chart, logs in, fetches ``/`` and every
stylesheet, script and image it names (and ``url(...)`` in the CSS), and sums the bytes.
Any address that is not on the gateway is a failure. Target: <= 150 KB.

    python bench/page_weight.py [--page /] [--page /tips] ...
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from _harness import workdir

from gateway.config import load_config
from gateway.service import prepare_gateway
from gateway.storage import ThreadLocalDb, open_db, utcnow_iso
from gateway.web import WebServices, create_app
from gateway.web.accounts import create_user

TARGET_KB = 150
PASSWORD = "bench-password-123"
LONG = ("Có người lạ vào thôn Nậm Đét hỏi mua trâu bò với giá rất cao, hứa trả tiền sau rồi đòi "
        "người dân đặt cọc trước qua điện thoại; nghi là lừa đảo, đề nghị công an xã xác minh giúp. ")


class Assets(HTMLParser):
    """Collects every address the page would fetch by itself."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "link" and values.get("href") and set((values.get("rel") or "").split()) & {
            "stylesheet", "icon", "preload", "manifest"
        }:
            self.urls.append(("link", values["href"]))
        elif tag in ("script", "img", "source", "iframe", "embed", "audio", "video") and values.get("src"):
            self.urls.append((tag, values["src"]))
        elif tag == "image" and (values.get("href") or values.get("xlink:href")):
            self.urls.append(("svg image", values.get("href") or values.get("xlink:href")))


def fill(path) -> None:
    prepare_gateway(path)
    db = open_db(path)
    now = datetime.now(timezone.utc)
    with db.atomic():
        for i in range(60):
            at = utcnow_iso(now - timedelta(hours=12 * i))
            db.conn.execute(
                "INSERT INTO inbox (received_at, sender, sender_kind, text, status, handler) VALUES (?,?,?,?,?,?)",
                (at, f"+8491234{i:04d}", "mobile", (LONG * 2)[:300], "done", ["menu", "1.3", "help", "tip:x"][i % 4]),
            )
            db.conn.execute(
                "INSERT INTO outbox (created_at, number, text, kind, encoding, parts_total, parts_sent, status,"
                " next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (at, f"+8491234{i:04d}", LONG, "officer", "ucs2", 3, 3, "sent", at),
            )
            db.conn.execute(
                "INSERT INTO tips (reference, uid, received_at, tipster, text, inbox_id, status)"
                " VALUES (?,?,?,?,?,?,?)",
                (f"CL-{i + 1:04d}", f"cl-{i + 1}", at, f"+8491234{i:04d}", LONG, i + 1, "new"),
            )
    create_user(db, "canbo", PASSWORD, "officer", by="bench")
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--page", action="append", help="page(s) to weigh (default: the dashboard)")
    args = parser.parse_args()
    work = workdir()
    path = work / "tinbao.db"
    fill(path)
    config = load_config(env={"TINBAO_STORAGE_PATH": str(path)})
    dbs = ThreadLocalDb(path)
    app = create_app(config, WebServices(db=dbs, simulator=None, version="bench"))
    client = app.test_client()
    login_page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', login_page).group(1)
    client.post("/login", data={"username": "canbo", "password": PASSWORD, "csrf_token": token})

    failed = False
    for page in args.page or ["/"]:
        base = "http://localhost" + page
        response = client.get(page)
        html = response.get_data()
        if response.status_code != 200:
            raise SystemExit(f"{page} answered {response.status_code}")
        parser_ = Assets()
        parser_.feed(html.decode("utf-8"))
        rows = [(f"{page} (HTML)", len(html))]
        outside = []
        queue = list(parser_.urls)
        seen = set()
        while queue:
            kind, url = queue.pop(0)
            full = urljoin(base, url)
            parts = urlsplit(full)
            if parts.netloc != "localhost" or parts.scheme not in ("http", "https"):
                if parts.scheme != "data":
                    outside.append(url)
                continue
            if full in seen:
                continue
            seen.add(full)
            asset = client.get(parts.path + (f"?{parts.query}" if parts.query else ""))
            body = asset.get_data()
            rows.append((f"{parts.path} ({kind})", len(body)))
            if parts.path.endswith(".css"):
                text = body.decode("utf-8")
                for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(r"@import\s+['\"]([^'\"]+)", text):
                    queue.append(("css url", urljoin(full, ref)))
        total = sum(size for _name, size in rows)
        for name, size in rows:
            print(f"{name:48} {size / 1024:8.1f} KB")
        print(f"{'total':48} {total / 1024:8.1f} KB   (target <= {TARGET_KB} KB)")
        if outside:
            print("loads from outside the gateway: " + ", ".join(outside))
        failed |= total > TARGET_KB * 1024 or bool(outside)
    dbs.close_all()
    shutil.rmtree(work, ignore_errors=True)
    print("page weight: " + ("FAILED" if failed else "met, nothing from outside"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
