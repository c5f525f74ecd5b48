"""Failures never hide: a message the router fails on is tried again with back-off, then shown
on the dashboard and in /healthz with its error, with a "retry" for officers; the villager
gets one plain acknowledgement, not one per try.

The failure is real: a handler in the router's list that raises on one word.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from conftest import csrf_token_from, login_client, rows, wait_until

from gateway import inbox
from gateway.menus import versions as menu_versions
from gateway.router import FAILURE_ACK, Router, RouterSettings
from gateway.storage import write_transaction

VILLAGER = "0912345678"
VILLAGER_E164 = "+84912345678"


class BrokenHandler:
    """A keyword handler with a bug: it raises on BOOM while ``broken`` is set."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0

    def handle(self, db, number, text, inbox_id, now):
        if "BOOM" not in text.upper():
            return None
        self.calls += 1
        if self.broken:
            raise RuntimeError("handler broke on this message")
        from gateway.router import HandlerReply

        return HandlerReply("Da sua xong", "menu", "boom")


def _queue(db, text: str, now: datetime) -> int:
    with write_transaction(db):
        cur = db.conn.execute(
            "INSERT INTO inbox (received_at, sender, sender_kind, text, encoding, kind) VALUES (?,?,?,?,'gsm7','text')",
            (now.isoformat(), VILLAGER_E164, "mobile", text),
        )
    return int(cur.lastrowid)


def test_a_failing_message_is_retried_with_back_off_then_failed_and_acknowledged_once(db, tmp_path):
    from gateway.config import load_config

    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db")})
    book = menu_versions.load_current(db, config.menus_path, **menu_versions.book_options(config))
    handler = BrokenHandler()
    policy = inbox.RetryPolicy(max_attempts=3, base=60.0, maximum=600.0)
    router = Router(book, replace(RouterSettings.from_config(config), retry=policy), handlers=[handler])
    start = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    inbox_id = _queue(db, "BOOM", start)

    assert router.run_once(db, start) == 1
    status, attempts, due, error = db.execute(
        "SELECT status, attempts, next_attempt_at, last_error FROM inbox WHERE id=?", [inbox_id]).fetchone()
    assert (status, attempts) == ("queued", 1) and error.startswith("RuntimeError")
    wait = datetime.fromisoformat(due) - start
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)  # 60 s ± jitter
    assert router.run_once(db, start + timedelta(seconds=10)) == 0  # not due yet: not tried
    assert handler.calls == 1

    later = start + timedelta(seconds=80)
    assert router.run_once(db, later) == 1  # second try, still failing
    assert db.execute("SELECT status, attempts FROM inbox WHERE id=?", [inbox_id]).fetchone() == ("queued", 2)
    router.run_once(db, later + timedelta(hours=1))  # the third and last
    assert db.execute("SELECT status, attempts FROM inbox WHERE id=?", [inbox_id]).fetchone() == ("failed", 3)
    assert router.run_once(db, later + timedelta(days=1)) == 0  # given up: waits for an officer
    assert handler.calls == 3
    assert inbox.failed_count(db) == 1 and inbox.last_failure(db)["id"] == inbox_id

    acks = db.execute("SELECT number, text, kind FROM outbox WHERE in_reply_to=?", [inbox_id]).fetchall()
    assert acks == [(VILLAGER_E164, FAILURE_ACK, "ack")]  # once, not per try

    handler.broken = False
    assert inbox.retry(db, inbox_id)
    assert not inbox.retry(db, inbox_id)  # already queued again
    router.run_once(db, later + timedelta(days=1))
    assert db.execute("SELECT status, handler FROM inbox WHERE id=?", [inbox_id]).fetchone() == ("done", "boom")


@pytest.fixture
def broken_gateway(gateway):
    handler = BrokenHandler()
    gateway.router.handlers.insert(0, handler)
    gateway.router.settings = replace(gateway.router.settings,
                                      retry=inbox.RetryPolicy(max_attempts=3, base=0.2, maximum=0.4))
    return gateway, handler


def test_through_the_modem_retried_shown_and_retried_by_an_officer(broken_gateway, emulator, config):
    gw, handler = broken_gateway
    path = config.storage_path
    emulator.deliver(VILLAGER, "BOOM xin chao")
    assert wait_until(lambda: rows(path, "SELECT status FROM inbox WHERE text LIKE 'BOOM%'") == [("failed",)], 20)
    assert rows(path, "SELECT attempts, last_error FROM inbox") == [(3, "RuntimeError: handler broke on this message")]
    assert handler.calls == 3

    # One plain acknowledgement reached the phone, not three.
    assert wait_until(lambda: any(m.text == FAILURE_ACK for m in emulator.sent_messages()), 10)
    assert not wait_until(lambda: len(emulator.sent_messages()) > 1, 1.0)
    assert [m.text for m in emulator.sent_messages()] == [FAILURE_ACK]

    app = gw.web_app()
    health = app.test_client().get("/healthz").get_json()
    assert health["inbox_failed"]["count"] == 1 and health["inbox_failed"]["last_error"] == "RuntimeError"
    assert health["queues"]["inbox_failed"] == 1
    assert "handler broke" not in str(health)  # the message may quote the SMS: only its kind here

    viewer = app.test_client()
    login_client(viewer, path, "viewer")
    dashboard = viewer.get("/").get_data(as_text=True)
    assert 'data-key="inbox_failed"' in dashboard and "/inbox/failed" in dashboard
    listed = viewer.get("/inbox/failed").get_data(as_text=True)
    assert "handler broke on this message" in listed and "0*** *** *78" in listed
    assert "Thử lại</button>" not in listed  # a viewer sees, does not retry
    inbox_id = rows(path, "SELECT id FROM inbox")[0][0]
    assert viewer.post(f"/inbox/{inbox_id}/retry").status_code == 403
    assert rows(path, "SELECT status FROM inbox") == [("failed",)]

    officer = app.test_client()
    name = login_client(officer, path, "officer")
    page = officer.get("/inbox/failed").get_data(as_text=True)
    assert f'action="/inbox/{inbox_id}/retry"' in page
    handler.broken = False  # the cause is fixed
    answer = officer.post(f"/inbox/{inbox_id}/retry", data={"csrf_token": csrf_token_from(page)})
    assert answer.status_code == 303
    assert wait_until(lambda: rows(path, "SELECT status, handler FROM inbox") == [("done", "boom")], 10)
    assert wait_until(lambda: [m.text for m in emulator.sent_messages()] == [FAILURE_ACK, "Da sua xong"], 10)
    assert rows(path, "SELECT who, action, target FROM audit_log WHERE action='inbox.retry'") == [
        (name, "inbox.retry", f"inbox {inbox_id}")]
    assert officer.post(f"/inbox/{inbox_id}/retry").status_code == 404  # not failed any more
    assert app.test_client().get("/healthz").get_json()["inbox_failed"]["count"] == 0


def test_every_string_of_the_failures_page_and_the_new_alerts_has_an_english_translation():
    from pathlib import Path

    from babel.messages.extract import extract_from_file

    from gateway.web import i18n

    web = Path(__file__).resolve().parent.parent / "gateway" / "web"
    keywords = {"_": None, "_l": None, "gettext": None}
    found = set()
    for name in ("failures.py", "status.py", "params.py", "__init__.py"):
        found |= {m[1] for m in extract_from_file("python", str(web / name), keywords=keywords)}
    found |= {m[1] for m in extract_from_file("jinja2", str(web / "templates" / "failures" / "page.html"),
                                              keywords=keywords)}
    catalog = i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    from babel.messages.pofile import read_po

    with catalog.open("rb") as handle:
        known = {m.id for m in read_po(handle) if m.string}
    assert sorted(found - known) == []
