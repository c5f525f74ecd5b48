"""Page weight of the dashboard: its HTML and every file it loads, all from the gateway itself.

An officer's phone reaches the Pi over its own Wi-Fi, often with a weak signal, and there is
no internet to fall back on: the page must be small and must load nothing from outside.
This fills a database so every list on the dashboard is full of long Vietnamese texts (the
heaviest the page gets) and 30 days of tips for the chart, logs in, fetches ``/`` and every
stylesheet, script and image it names (and ``url(...)`` in the CSS), and sums the bytes.
Any address that is not on the gateway is a failure. Target: <= 150 KB. The gateway runs as
``python app.py`` and the page is fetched over HTTP, so the bytes are those waitress sends.

    python bench/page_weight.py [--page /] [--page /tips] ... [--quick]
"""

from __future__ import annotations

import argparse
import re
import shutil
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from _harness import RunningGateway, create_user, figure, workdir

from gateway.storage import open_db, utcnow_iso

COMMAND = "python bench/page_weight.py"
TARGET_KB = 150
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
    create_user(path, "canbo")  # python app.py create-user: the database, complete
    db = open_db(path)
    now = datetime.now(UTC)
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
    db.close()


def weigh(officer, base_url: str, page: str) -> tuple[list[tuple[str, int]], list[str]]:
    """(every file the page loads and its bytes, addresses outside the gateway)."""
    status, html = officer.get(page)
    if status != 200:
        raise SystemExit(f"{page} answered {status}")
    found = Assets()
    found.feed(html.decode("utf-8"))
    rows = [(f"{page} (HTML)", len(html))]
    outside = []
    queue = list(found.urls)
    seen = set()
    while queue:
        kind, url = queue.pop(0)
        full = urljoin(base_url + page, url)
        parts = urlsplit(full)
        if parts.netloc != urlsplit(base_url).netloc or parts.scheme not in ("http", "https"):
            if parts.scheme != "data":
                outside.append(url)
            continue
        if full in seen:
            continue
        seen.add(full)
        status, body = officer.get(parts.path + (f"?{parts.query}" if parts.query else ""))
        if status != 200:
            raise SystemExit(f"{full} answered {status}")
        rows.append((f"{parts.path} ({kind})", len(body)))
        if parts.path.endswith(".css"):
            text = body.decode("utf-8")
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", text) + re.findall(r"@import\s+['\"]([^'\"]+)", text):
                queue.append(("css url", urljoin(full, ref)))
    return rows, outside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--page", action="append", help="page(s) to weigh (default: the dashboard)")
    parser.add_argument("--quick", action="store_true", help="the same (it is quick already)")
    args = parser.parse_args()
    work = workdir()
    path = work / "tinbao.db"
    try:
        fill(path)
        with RunningGateway(storage=path) as run:
            officer = run.officer("canbo")
            weighed = [(page, *weigh(officer, run.base_url, page)) for page in args.page or ["/"]]
            officer.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for page, rows, outside in weighed:
        total = sum(size for _name, size in rows)
        for name, size in rows:
            print(f"{name:48} {size / 1024:8.1f} KB")
        print(f"{'total':48} {total / 1024:8.1f} KB   (target <= {TARGET_KB} KB)")
        name = "dashboard" if page == "/" else page
        measured = f"{total / 1024:.0f} KB" + (f"; loads from outside: {', '.join(outside)}" if outside
                                                else ", nothing from outside")
        figure(f"page weight of the {name}: HTML + CSS + JS + images, lists full of long Vietnamese texts",
               f"≤ {TARGET_KB} KB, nothing from outside", measured, leaves_out="HTTP headers",
               command=COMMAND)


if __name__ == "__main__":
    main()
