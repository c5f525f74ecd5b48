"""Router-only messages per second: no modem, the router's decisions and its database writes.

Two figures:
- decisions/s: ``MenuBook.respond`` + the flood and loop guards' inputs, in memory;
- routed/s: ``Router.run_once`` on queued inbox rows in a real SQLite file, writing the
  tip, the reply (planned into PDUs) and the session in the same transaction.

    python bench/router_throughput.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import time
from datetime import datetime, timezone

from _harness import numbers, workdir

from gateway.config import load_config
from gateway.menus import MenuBook
from gateway.router import Router, RouterSettings
from gateway.service import prepare_gateway
from gateway.storage import open_db, utcnow_iso

TEXTS = ["MENU", "1", "2", "CCCD", "tam tru", "MNEU", "TIN co nguoi la vao thon luc 9h toi", "xin chao", "?"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    args = parser.parse_args()
    config = load_config(env={})
    book = MenuBook.load(config.menus_path)
    now = datetime.now(timezone.utc)

    texts = list(itertools.islice(itertools.cycle(TEXTS), args.messages))
    session = book.new_session()
    start = time.perf_counter()
    for text in texts:
        decision = book.respond(text, session, now)
        session = decision.session or book.new_session()
    elapsed = time.perf_counter() - start
    print(f"router decisions: {args.messages / elapsed:,.0f} messages/s (menus + keywords + typos, in memory)")

    work = workdir()
    try:
        path = work / "router.db"
        prepare_gateway(path)
        db = open_db(path)
        senders = numbers(1000)
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO inbox (received_at, sender, sender_kind, text) VALUES (?,?,?,?)",
                [(utcnow_iso(now), senders[i % len(senders)], "mobile", t) for i, t in enumerate(texts)],
            )
        router = Router(book, RouterSettings(gateway_id="cl", auto_replies_per_hour=10**6))
        start = time.perf_counter()
        while router.run_once(db, now, limit=500):
            pass
        elapsed = time.perf_counter() - start
        done = db.execute("SELECT COUNT(*) FROM inbox WHERE status='done'").fetchone()[0]
        print(f"router with database: {done / elapsed:,.0f} messages/s routed "
              f"({done} messages; tip, reply PDUs and session written per message)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
