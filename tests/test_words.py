"""The small words of the pages: counts in their plural forms, a backup's age, the modem named by
its technology, times and file names in the post's own time, the simulator's one title."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ON_PAPER

from gateway import backup
from gateway.broadcasts import subscribers
from gateway.storage import write_transaction

NOW = datetime(2026, 12, 6, 16, 30, tzinfo=UTC)  # 23:30 in Vietnam


def backup_label(app, db, age: timedelta, lang: str) -> str:
    from flask import session

    from gateway.web import status

    backup.record(db, Path("/x/tinbao.db"), NOW - age)
    with app.test_request_context(f"/?lang={lang}"):
        session["lang"] = lang
        return status.backup_view(db, NOW)["label"]


@pytest.mark.parametrize("age, vi, en", [
    (timedelta(seconds=20), "Sao lưu gần nhất: vừa xong", "Last backup: just now"),
    (timedelta(minutes=1, seconds=5), "Sao lưu gần nhất: 1 phút trước", "Last backup: 1 minute ago"),
    (timedelta(minutes=42), "Sao lưu gần nhất: 42 phút trước", "Last backup: 42 minutes ago"),
    (timedelta(hours=1, minutes=10), "Sao lưu gần nhất: 1 giờ trước", "Last backup: 1 hour ago"),
    (timedelta(hours=30), "Sao lưu gần nhất: 30 giờ trước", "Last backup: 30 hours ago"),
    (timedelta(days=3), "Sao lưu gần nhất: 3 ngày trước", "Last backup: 3 days ago"),
])
def test_a_backups_age_in_words_never_0_hours(app, db, age, vi, en):
    assert backup_label(app, db, age, "vi") == vi
    assert backup_label(app, db, age, "en") == en


def test_counts_take_their_plural_form_in_english(app, db, logged_in):
    officer = logged_in("admin")
    with write_transaction(db):
        subscribers.save_member(db, subscribers.Member("+84915000001", name="Người thử", village="Na Hối"),
                                source="officer", now=NOW, basis=ON_PAPER)
    page = officer.get("/broadcasts/subscribers?lang=en").get_data(as_text=True)
    assert "1 person" in page and "1 people" not in page
    with write_transaction(db):
        subscribers.save_member(db, subscribers.Member("+84915000002", name="Người thử 2", village="Na Hối"),
                                source="officer", now=NOW, basis=ON_PAPER)
    page = officer.get("/broadcasts/subscribers").get_data(as_text=True)
    assert "2 people" in page and "2 person" not in page
    accounts = officer.get("/admin/users").get_data(as_text=True)
    assert re.search(r"\b1 account\b", accounts) and not re.search(r"\b1 accounts\b", accounts)


def test_the_modem_card_names_the_modems_technology(app, logged_in):
    page = logged_in("viewer").get("/").get_data(as_text=True)
    title = re.search(r'id="modem-title"[^>]*>(.*?)</h2>', page).group(1)
    assert title == "Modem 4G (LTE)" and "GSM" not in title


def test_the_simulator_page_has_one_title(app, logged_in):
    page = logged_in("officer").get("/simulator").get_data(as_text=True)
    main = page.split('id="content"', 1)[1]
    headings = re.findall(r"<h[12][^>]*>(.*?)</h[12]>", main)
    assert headings.count("Điện thoại thử") == 1, headings
    assert 'aria-labelledby="sim-page-title"' in page


def test_backup_files_are_named_in_the_posts_local_time(tmp_path):
    from gateway.config import load_config

    config = load_config(env={"TINBAO_STORAGE_PATH": str(tmp_path / "tinbao.db")})
    name = backup.backup_name(NOW, config.timezone)
    assert name == "tinbao-20261206-233000+0700.db.sealed"  # 23:30 in the post, not 16:30 UTC
    (tmp_path / name).write_bytes(b"x")
    (tmp_path / "tinbao-20261206-170000.db.sealed").write_bytes(b"x")  # an older copy, named in UTC
    assert [p.name for p in backup.backups_in(tmp_path)] == [name, "tinbao-20261206-170000.db.sealed"]
