"""Officers' pages through waitress, one officer and then 8 at once, with a year of a busy commune.

Fills a fresh SQLite file with 100,000 tips and 300,000 messages (200,000 in, 100,000 out;
20,000 villagers; Vietnamese texts, villages, statuses spread over a year), starts the
gateway as ``python app.py`` (waitress, 8 threads, as on the Pi), logs 8 officers in through
the real login form and drops the database file from the operating system's cache. Then:

1. one officer clicks through every page, ``--runs`` times each, alone: per page p50, p95,
   the first request (cold: templates not compiled, nothing of the file in any cache) and
   the gateway's CPU time per request (its process's user + system time over that page's
   warm requests, less what its workers spend at rest, divided by them: what load on a
   shared machine disturbs least);
2. the 8 officers click through every page at once over real HTTP (one kept-alive
   connection each, as a browser), each in its own order, without pause: per page p95.

Targets: 8 at once p95 <= 100 ms, one officer p95 <= 30 ms, each page <= 8 ms of CPU, the
cold first request <= 100 ms.

With ``--https`` the gateway serves as the installer sets it up on the Pi (``python app.py tls
init``, cheroot on TLS 1.2+, its threads): each officer's connection makes one TLS handshake,
then every request is encrypted, as in a browser that trusts the post's CA.

    python bench/web_response.py [--tips 100000] [--messages 300000] [--runs 10] [--keep DIR] [--quick] [--https]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from _harness import PASSWORD, RunningGateway, create_user, figure, percentile, workdir

from gateway.accounts import users
from gateway.storage import open_db, utcnow_iso

COMMAND = "python bench/web_response.py"
TARGET_MS = 100.0
OFFICERS = [f"canbo{i}" for i in range(1, 9)]
VILLAGES = ["Na Hối", "Bản Phố", "Nậm Đét", "Cốc Lầu", "Tả Van Chư", "Lùng Phình", "Bản Liền",
            "Hoàng Thu Phố", "Thải Giàng Phố", "Nậm Mòn", "Tà Chải", "Lầu Thí Ngài"]
WORDS = ("có người lạ vào thôn hỏi mua trâu bò giá cao rồi đòi đặt cọc trước qua điện thoại "
         "tối qua mất xe máy ở đầu cầu nghi trộm cắp đánh nhau say rượu gây rối trật tự "
         "cháy rừng khói nhiều trên đồi thông tin nhắn trúng thưởng yêu cầu chuyển khoản "
         "đường trơn sạt lở đất chặn lối đi trẻ em nghỉ học đi làm thuê bên kia biên giới").split()
SCAM = "lừa đảo"


def fill(path: Path, n_tips: int, n_messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    create_user(path, OFFICERS[0])  # python app.py create-user: the database, complete
    db = open_db(path)
    now = datetime.now(UTC)
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
    for name in OFFICERS[1:]:
        users.create_user(db, name, PASSWORD, "officer", by="bench")
    db.execute("ANALYZE")
    db.close()
    print(f"filled {n_tips:,} tips, {n_in:,} inbound + {n_out:,} outbound messages "
          f"in {time.perf_counter() - start:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")


def pages(n_tips: int) -> list[tuple[str, str]]:
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    month_ago = today - timedelta(days=30)
    return [
        ("dashboard", "/"),
        ("/api/dashboard", "/api/dashboard"),
        ("tips list", "/tips"),
        ("tips list, page 20", "/tips?page=20"),
        ("tips list, status=new", "/tips?status=new"),
        ("tips list, village", "/tips?village=N%E1%BA%ADm+%C4%90%C3%A9t"),
        ("tips list, last 30 days", f"/tips?from={month_ago}&to={today}"),
        ("search 'lua dao'", "/tips?q=lua+dao"),
        ("search 'lừa đảo' + closed", "/tips?q=l%E1%BB%ABa+%C4%91%E1%BA%A3o&status=closed"),
        ("search 'trom xe may'", "/tips?q=trom+xe+may"),
        ("search 'nam det' (village)", "/tips?q=nam+det"),
        ("search rare word 'giang'", "/tips?q=giang"),
        ("search, no match", "/tips?q=khongcotu"),
        ("one tip", f"/tips/CL-{n_tips // 2:04d}"),
        ("conversations", "/conversations"),
    ]


def drop_from_cache(path: Path) -> None:
    """Ask the kernel to forget the database's pages, so the first requests read the disk."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if name.exists() and hasattr(os, "posix_fadvise"):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def one_officer(run: RunningGateway, urls: list[tuple[str, str]], runs: int) -> dict[str, dict[str, float]]:
    """One officer alone, ``runs`` + 1 requests of each page in turn: per page the times (ms),
    the first (cold) request and the gateway's CPU per warm request (ms)."""
    officer = run.officer(OFFICERS[0])
    idle = idle_cpu_rate(run)
    print(f"the gateway's own workers at rest: {idle * 1000:.1f} ms of CPU per second (left out of each page's CPU)")
    drop_from_cache(run.db_path)
    found: dict[str, dict[str, float]] = {}
    for name, url in urls:
        times = []
        for index in range(runs + 1):
            if index == 1:  # the CPU of warm requests: the first (cold) one is its own figure
                cpu_before, wall_before = run.cpu_seconds(), time.perf_counter()
            start = time.perf_counter()
            status, _body = officer.get(url)
            times.append((time.perf_counter() - start) * 1000)
            if status != 200:
                raise SystemExit(f"{url} answered {status}")
        spent = run.cpu_seconds() - cpu_before - idle * (time.perf_counter() - wall_before)
        cpu = max(spent, 0.0) * 1000 / runs
        warm = times[1:]  # the cold first request is its own figure
        found[name] = {"p50": statistics.median(warm), "p95": percentile(warm, 0.95), "cold": times[0],
                       "cpu": cpu, "all": warm}
    officer.close()
    return found


def idle_cpu_rate(run: RunningGateway, seconds: float = 5.0) -> float:
    """CPU seconds per second the gateway spends with no officer asking (modem polls, sync
    and broadcast ticks, the figures worker): not any page's cost."""
    before, start = run.cpu_seconds(), time.perf_counter()
    time.sleep(seconds)
    return (run.cpu_seconds() - before) / (time.perf_counter() - start)


def click_through(run: RunningGateway, urls: list[tuple[str, str]], runs: int) -> list[tuple[float, str, float, int]]:
    """8 officers at once, each through every page ``runs`` times in its own order.
    Returns (start, page, ms, bytes) for every request."""
    officers = [run.officer(name) for name in OFFICERS]  # 8 logins, one after the other
    samples: list[tuple[float, str, float, int]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(officers))

    def officer_clicks(index: int) -> None:
        officer = officers[index]
        order = urls[index % len(urls):] + urls[:index % len(urls)]
        barrier.wait()
        for _ in range(runs):
            for name, url in order:
                start = time.perf_counter()
                status, body = officer.get(url)
                ms = (time.perf_counter() - start) * 1000
                with lock:
                    if status != 200:
                        errors.append(f"{url} answered {status}")
                    samples.append((start, name, ms, len(body)))
        officer.close()

    threads = [threading.Thread(target=officer_clicks, args=(i,)) for i in range(len(officers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("; ".join(sorted(set(errors))))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tips", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=10, help="rounds through every page, per officer")
    parser.add_argument("--keep", help="reuse/keep the database in this folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run (5,000 tips, 15,000 messages, 2 rounds)")
    parser.add_argument("--https", action="store_true",
                        help="serve as installed on the Pi: python app.py tls init, HTTPS through cheroot")
    args = parser.parse_args()
    if args.quick:
        args.tips, args.messages, args.runs = 5_000, 15_000, 2

    work = Path(args.keep) if args.keep else workdir()
    work.mkdir(parents=True, exist_ok=True)
    path = work / "tinbao.db"
    try:
        if not path.exists():
            fill(path, args.tips, args.messages)
        urls = pages(args.tips)
        with RunningGateway(storage=path, https=args.https) as run:
            alone = one_officer(run, urls, args.runs)
            cpu_before, wall_before = run.cpu_seconds(), time.perf_counter()
            samples = click_through(run, urls, args.runs)
            together_cpu = (run.cpu_seconds() - cpu_before) * 1000 / len(samples)
            together_rate = len(samples) / (time.perf_counter() - wall_before)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"{'page':32} {'alone p50':>9} {'p95':>6} {'cold':>6} {'CPU ms':>7} {'8 at once p95':>14} {'KB':>6}")
    worst = worst_alone = worst_cpu = cold_worst = (0.0, "")
    for name, _url in urls:
        mine = [s for s in samples if s[1] == name]
        p95 = percentile([s[2] for s in mine], 0.95)
        one = alone[name]
        worst = max(worst, (p95, name))
        worst_alone = max(worst_alone, (one["p95"], name))
        worst_cpu = max(worst_cpu, (one["cpu"], name))
        cold_worst = max(cold_worst, (one["cold"], name))
        print(f"{name:32} {one['p50']:9.1f} {one['p95']:6.1f} {one['cold']:6.1f} {one['cpu']:7.1f} {p95:14.1f}"
              f" {mine[-1][3] / 1024:6.1f}")
    every = [s[2] for s in samples]
    every_alone = [t for one in alone.values() for t in one["all"]]
    cpus = [one["cpu"] for one in alone.values()]
    print(f"8 at once: {len(every):,} requests, {together_rate:.0f}/s, {together_cpu:.1f} ms of CPU per request")
    scale = f"{args.tips:,} tips / {args.messages:,} messages"
    server = "over HTTPS through cheroot (as installed)" if args.https else "through waitress (plain http)"
    command = f"{COMMAND} --https" if args.https else COMMAND
    leaves_out = "Wi-Fi and the phone's rendering" + ("" if args.https else "; TLS (see --https)")
    figure(f"officers' pages p95 {server}, 8 officers at once, {scale}", "≤ 100 ms",
           f"worst page {worst[0]:.0f} ms ({worst[1]}); all {len(every):,} requests {percentile(every, 0.95):.0f} ms",
           leaves_out=leaves_out, command=command)
    figure(f"officers' pages p95 {server}, one officer, {scale}", "≤ 30 ms",
           f"worst page {worst_alone[0]:.0f} ms ({worst_alone[1]}); all {len(every_alone):,} requests "
           f"{percentile(every_alone, 0.95):.0f} ms",
           leaves_out=leaves_out, command=command)
    figure(f"gateway CPU time per page (one officer, same run{', HTTPS' if args.https else ''})", "≤ 8 ms",
           f"worst page {worst_cpu[0]:.1f} ms ({worst_cpu[1]}); mean {statistics.mean(cpus):.1f} ms",
           leaves_out="the browser's own work", command=command)
    colds = [one["cold"] for one in alone.values()]
    figure(f"first request of each page, cold (one officer, same run{', HTTPS' if args.https else ''})", "≤ 100 ms",
           f"worst {cold_worst[0]:.0f} ms ({cold_worst[1]}); median {statistics.median(colds):.0f} ms",
           leaves_out="an SD card's slower reads", command=command)


if __name__ == "__main__":
    main()
