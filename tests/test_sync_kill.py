"""The sync worker killed for real (SIGKILL) while it sends: nothing lost, nothing twice.

The worker runs in its own process (``python app.py sync``); the district hub and
the stand-in Zalo OA run in this process's threads, so what they received survives the kills.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from conftest import ROOT, rows, wait_until
from fake_zalo import FakeZalo, HubServer, add_tips
from upstream import OFFICERS

from gateway.database import prepare_gateway
from gateway.storage import open_db
from gateway.sync import zalo_tokens


def worker_env(db_path: Path, zalo: FakeZalo, hub: HubServer | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update({
        "TINBAO_STORAGE_PATH": str(db_path),
        "TINBAO_SYNC_POLL_INTERVAL": "0.02",
        "TINBAO_SYNC_BATCH_SIZE": "10",
        "TINBAO_SYNC_RETRY_BASE": "0.05",
        "TINBAO_SYNC_RETRY_MAX": "0.3",
        "TINBAO_SYNC_TIMEOUT": "2",
        "TINBAO_SYNC_CHECK_TIMEOUT": "1",
        "TINBAO_ZALO_ENABLED": "true",
        "TINBAO_ZALO_API_BASE": zalo.url,
        "TINBAO_ZALO_OAUTH_BASE": zalo.url,
        "TINBAO_ZALO_APP_ID": zalo.app_id,
        "TINBAO_ZALO_SECRET_KEY": zalo.secret_key,
        "TINBAO_ZALO_REFRESH_TOKEN": zalo.live_refresh,
        "TINBAO_ZALO_OFFICER_IDS": ",".join(OFFICERS),
    })
    if hub is not None:
        env.update({"TINBAO_DISTRICT_URL": hub.url, "TINBAO_DISTRICT_TOKEN": "token-cl"})
    return env


def spawn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "app.py", "--log-level", "WARNING", "sync"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def done(db_path: Path, destination: str) -> int:
    return rows(db_path, "SELECT COUNT(*) FROM sync_queue WHERE destination=? AND status='done'",
                (destination,))[0][0]


def assert_each_officer_once(fake: FakeZalo, references: list[str]) -> None:
    expected = Counter(f"TIN BÁO {reference}" for reference in references)
    for officer in OFFICERS:
        got = Counter(text.split("\n", 1)[0] for text in fake.texts_for(officer))
        assert got == expected, f"officer {officer}: extra {got - expected}, missing {expected - got}"


def test_killed_at_random_points_20_times_no_tip_missing_none_twice(tmp_path, zalo, hub):
    db_path = tmp_path / "tinbao.db"
    prepare_gateway(db_path)
    env = worker_env(db_path, zalo, hub)
    zalo.delay = 0.002  # a slow uplink, so a kill lands while messages are in flight
    # The gateway already holds a token pair (it has been running): no refresh happens during
    # the kills. (A kill between Zalo rotating the pair and our commit cannot be survived by
    # anyone; the refresh-then-kill case is the next test.)
    db = open_db(db_path)
    zalo_tokens.seed(db, env["TINBAO_ZALO_REFRESH_TOKEN"], datetime.now(UTC))
    answer = zalo.token_refresh({"secret_key": zalo.secret_key}, {
        "refresh_token": zalo.live_refresh, "app_id": zalo.app_id, "grant_type": "refresh_token"})
    zalo_tokens.save_pair(db, answer["access_token"], 90000, answer["refresh_token"], datetime.now(UTC))
    db.close()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    made = []
    cut_short = 0

    def progress() -> int:
        return len(zalo.received) + len(hub.uids())

    for _round in range(20):
        made += add_tips(db_path, 25)
        before = progress()
        proc = spawn(env)
        assert wait_until(lambda before=before: progress() > before, 15), (
            f"round {_round}: the worker did not start syncing")
        time.sleep(rng.uniform(0, 0.04))
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait(5)
        pending = rows(db_path, "SELECT COUNT(*) FROM sync_queue WHERE status != 'done'")[0][0]
        cut_short += pending > 0

    proc = spawn(env)
    try:
        finished = wait_until(lambda: done(db_path, "district") == len(made) and done(db_path, "zalo") == len(made), 60)
    finally:
        stop(proc)
    assert finished, (seed, rows(db_path, "SELECT value FROM state WHERE key='sync'"), rows(
        db_path, "SELECT destination, status, COUNT(*) FROM sync_queue GROUP BY 1, 2"), proc.stderr.read()[-2000:])

    assert cut_short >= 15, f"only {cut_short} of 20 kills interrupted a sync (seed {seed})"
    uids = hub.uids()
    assert len(uids) == len(set(uids)) == len(made), f"seed {seed}"
    assert set(uids) == {tip.uid for tip in made}
    assert_each_officer_once(zalo, [tip.reference for tip in made])
    # Some kills fell between a message reaching Zalo and its answer being recorded: the
    # restarted worker found those in the conversation instead of sending them again.
    assert zalo.requests.get("conversation", 0) > 0, f"no kill left a message in doubt (seed {seed})"


def test_killed_right_after_a_token_refresh_the_gateway_works_on_restart(tmp_path, zalo):
    db_path = tmp_path / "tinbao.db"
    prepare_gateway(db_path)
    env = worker_env(db_path, zalo, None)
    made = add_tips(db_path, 5, destinations=("zalo",))
    zalo.fail("hang", None)  # the first message never gets an answer: the worker sits on it
    proc = spawn(env)
    try:
        # The refresh rotated the pair (the config's token is dead now) and the new pair is on disk.
        assert wait_until(lambda: zalo.refreshes == 1 and rows(
            db_path, "SELECT refresh_token FROM zalo_tokens ORDER BY id DESC LIMIT 1") == [(zalo.live_refresh,)], 15)
        assert wait_until(lambda: zalo.requests.get("cs", 0) >= 1, 10)
    finally:
        proc.kill()
        proc.wait(5)
    assert "rt-initial" in zalo.dead_refresh

    zalo.clear_faults()
    zalo.expire_tokens()  # and the access token died meanwhile: the restart must refresh again
    proc = spawn(env)
    try:
        assert wait_until(lambda: done(db_path, "zalo") == 5, 20), proc.stderr
    finally:
        stop(proc)
    assert zalo.refreshes == 2  # with the rotated token the dead process had committed
    assert_each_officer_once(zalo, [tip.reference for tip in made])
    state = rows(db_path, "SELECT value FROM state WHERE key='sync'")[0][0]
    assert '"needs_reauth"' not in state
