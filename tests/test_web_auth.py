"""Accounts and safety with Flask's test client on a real SQLite file: the login wall, roles,
CSRF, cookie flags, session expiry on a settable clock, throttling that survives a restart,
the persisted secret key, the audit log, the English catalog and ``app.py create-user``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, TEST_PASSWORD, csrf_token_from, login_client, make_services, make_user, rows

from gateway.accounts import audit, users
from gateway.clock import ManualClock
from gateway.config import load_config
from gateway.storage import open_db
from gateway.web import create_app, i18n

START = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def services(db_path, web_config, storage, clock):
    """The page's services on the clock the tests move."""
    return make_services(db_path, config=web_config, db=storage, clock=clock)


@pytest.fixture
def make_app(db_path, clock):
    """Another app on the same file (a restart, other config keys), the same clock."""

    def make(**env: str):
        config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path), **env})
        app = create_app(config, make_services(db_path, config=config, clock=clock))
        app.testing = True
        return app

    return make


def _login(client, username: str, password: str = TEST_PASSWORD, **extra):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token, **extra})


# --- the login wall ------------------------------------------------------------------------


def test_passwords_are_hashed_at_the_production_cost_and_only_tests_can_lower_it(db_path, monkeypatch):
    """The suite hashes with one round (conftest); this is the one test of the real cost."""
    assert users.PASSWORD_HASH_METHOD == "pbkdf2:sha256:600000"  # OWASP's figure for PBKDF2-HMAC-SHA256
    monkeypatch.setattr(users, "_hash_method", users.PASSWORD_HASH_METHOD)
    db = open_db(db_path)
    try:
        users.create_user(db, "an", TEST_PASSWORD, "officer")
        [(stored,)] = rows(db_path, "SELECT password_hash FROM users WHERE username='an'")
        assert stored.startswith("pbkdf2:sha256:600000$")
        assert users.authenticate(db, "an", TEST_PASSWORD).username == "an"
        assert users.authenticate(db, "an", TEST_PASSWORD + "x") is None
    finally:
        db.close()
    # A gateway (no pytest loaded) hashes at the production cost and cannot be talked out of it.
    script = ("from gateway.accounts import users\n"
              "assert users._hash_method == users.PASSWORD_HASH_METHOD\n"
              "try:\n    users.cheapen_hash_for_tests()\nexcept RuntimeError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "only inside the test suite" in done.stdout


def test_a_fresh_gateway_says_how_to_make_the_first_admin(app, db_path):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert "python app.py create-user" in page and 'id="first-run"' in page
    make_user(db_path, "admin", "an")
    assert 'id="first-run"' not in app.test_client().get("/login").get_data(as_text=True)


def test_login_sets_a_session_and_writes_the_audit_log(app, db_path):
    make_user(db_path, "officer", "hoang.an")
    client = app.test_client()
    response = _login(client, "Hoang.An")  # usernames ignore case
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    entries = rows(db_path, "SELECT who, action, target, ip FROM audit_log WHERE action LIKE 'login.%'")
    assert entries == [("hoang.an", "login.ok", "hoang.an", "127.0.0.1")]
    assert rows(db_path, "SELECT last_login_at FROM users") == [(START.isoformat(),)]  # the page's clock


def test_wrong_password_and_unknown_name_are_refused_alike(app, db_path):
    make_user(db_path, "officer", "hoang.an")
    client = app.test_client()
    wrong = _login(client, "hoang.an", "not-the-password")
    unknown = _login(client, "nobody", TEST_PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert rows(db_path, "SELECT action, target FROM audit_log WHERE action = 'login.failed' ORDER BY id") == [
        ("login.failed", "hoang.an"), ("login.failed", "nobody")
    ]
    assert rows(db_path, "SELECT username, ok FROM login_attempts ORDER BY id") == [("hoang.an", 0), ("nobody", 0)]


def test_login_redirects_only_inside_the_site(app, db_path):
    make_user(db_path, "officer", "an")
    for target, expected in [("/admin/audit?who=x", "/admin/audit?who=x"), ("//evil.example/", "/"),
                             ("http://evil.example/", "/"), ("/\\evil.example", "/"),
                             ("/\t/evil.example", "/")]:  # a browser drops the tab: //evil.example
        client = app.test_client()
        assert _login(client, "an", next=target).headers["Location"] == expected
    client = app.test_client()
    response = client.get("/admin/audit?who=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/admin/audit?who%3Dx"


def test_a_disabled_account_cannot_log_in(app, db_path):
    make_user(db_path, "admin", "chief")
    make_user(db_path, "officer", "an")
    db = open_db(db_path)
    users.set_active(db, "an", False, by="chief")
    db.close()
    assert _login(app.test_client(), "an").status_code == 401


def test_logout_needs_a_post_with_the_token(app, db_path):
    client = app.test_client()
    login_client(client, db_path)
    assert client.get("/logout").status_code == 405
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/logout").status_code == 400  # a cross-site logout is not possible
    assert client.get("/").status_code == 200
    token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role, status", [("viewer", 403), ("officer", 403), ("admin", 200)])
def test_admin_pages_need_the_admin_role(app, db_path, role, status):
    client = app.test_client()
    login_client(client, db_path, role)
    assert client.get("/admin/users").status_code == status
    assert client.get("/admin/audit").status_code == status
    html = client.get("/").get_data(as_text=True)
    assert ('href="/admin/users"' in html) == (role == "admin")
    assert ('href="/simulator"' in html) == (role != "viewer")


def test_a_viewer_cannot_change_accounts(app, db_path):
    make_user(db_path, "officer", "an")
    client = app.test_client()
    login_client(client, db_path, "viewer")
    response = client.post("/admin/users/an/role", data={"role": "admin"})
    assert response.status_code == 403
    assert rows(db_path, "SELECT role FROM users WHERE username = 'an'") == [("officer",)]
    assert rows(db_path, "SELECT count(*) FROM audit_log WHERE action = 'access.denied'") == [(1,)]


def test_role_required_ranks_roles(app, db_path):
    from flask import Blueprint

    from gateway.web.auth import role_required

    bp = Blueprint("probe", __name__)

    @bp.get("/probe/officer")
    @role_required("officer")
    def officer_only():
        return "ok"

    app.register_blueprint(bp)
    for role, status in (("viewer", 403), ("officer", 200), ("admin", 200)):
        client = app.test_client()
        login_client(client, db_path, role)
        assert client.get("/probe/officer").status_code == status
    assert app.test_client().get("/probe/officer").status_code == 302


# --- admin actions, all audited --------------------------------------------------------------


def test_admin_manages_accounts_and_each_change_is_audited(app, db_path):
    client = app.test_client()
    admin = login_client(client, db_path, "admin")
    form = {"username": "hoang.an", "role": "officer", "password": "mat-khau-moi-1", "password2": "mat-khau-moi-1"}
    assert client.post("/admin/users", data=form).status_code == 303
    assert client.post("/admin/users", data=form).status_code == 400  # already there
    assert client.post("/admin/users", data={**form, "username": "b", "password2": "x"}).status_code == 400
    assert client.post("/admin/users/hoang.an/role", data={"role": "viewer"}).status_code == 303
    assert client.post("/admin/users/hoang.an/active", data={"active": "0"}).status_code == 303
    assert client.post("/admin/users/hoang.an/active", data={"active": "1"}).status_code == 303
    reset = {"password": "mat-khau-khac-2", "password2": "mat-khau-khac-2"}
    assert client.post("/admin/users/hoang.an/password", data=reset).status_code == 303
    assert rows(db_path, "SELECT role, active FROM users WHERE username = 'hoang.an'") == [("viewer", 1)]
    entries = rows(db_path, "SELECT who, action, target, detail FROM audit_log WHERE action LIKE 'user.%' ORDER BY id")
    assert [(who, action, target) for who, action, target, _ in entries] == [
        ("test", "user.create", admin),
        (admin, "user.create", "hoang.an"),
        (admin, "user.role", "hoang.an"),
        (admin, "user.disable", "hoang.an"),
        (admin, "user.enable", "hoang.an"),
        (admin, "user.password", "hoang.an"),
    ]
    assert entries[2][3] == '{"from": "officer", "to": "viewer"}'
    assert "mat-khau" not in str(rows(db_path, "SELECT * FROM audit_log"))
    assert _login(app.test_client(), "hoang.an", "mat-khau-khac-2").status_code == 303


def test_the_last_admin_stays_an_admin(app, db_path):
    client = app.test_client()
    admin = login_client(client, db_path, "admin")
    client.post(f"/admin/users/{admin}/role", data={"role": "officer"})
    assert rows(db_path, "SELECT role FROM users") == [("admin",)]
    html = client.get("/admin/users").get_data(as_text=True)
    assert "Không thể bỏ quyền quản trị của quản trị viên cuối cùng." in html
    client.post(f"/admin/users/{admin}/active", data={"active": "0"})
    assert rows(db_path, "SELECT active FROM users") == [(1,)]


def test_a_password_reset_ends_the_accounts_other_sessions(app, db_path):
    officer_client = app.test_client()
    officer = login_client(officer_client, db_path, "officer")
    admin_client = app.test_client()
    login_client(admin_client, db_path, "admin")
    assert officer_client.get("/").status_code == 200
    reset = {"password": "mat-khau-khac-2", "password2": "mat-khau-khac-2"}
    admin_client.post(f"/admin/users/{officer}/password", data=reset)
    assert officer_client.get("/").status_code == 302
    admin_client.post(f"/admin/users/{officer}/active", data={"active": "0"})
    assert _login(app.test_client(), officer, "mat-khau-khac-2").status_code == 401


def test_audit_page_filters_and_shows_local_dates(app, db_path):
    db = open_db(db_path)
    audit.record(db, "an", "tip.reveal", "CL-0042", {"why": "gọi lại"}, now=datetime(2026, 1, 5, 3, 40, tzinfo=UTC))
    audit.record(db, "binh", "tip.status", "CL-0043", "new → handling", now=datetime(2026, 1, 6, 18, 0, tzinfo=UTC))
    db.close()
    client = app.test_client()
    login_client(client, db_path, "admin")
    html = client.get("/admin/audit?who=an").get_data(as_text=True)
    assert "CL-0042" in html and "05/01/2026 10:40" in html and "CL-0043" not in html
    html = client.get("/admin/audit?action=tip.status").get_data(as_text=True)
    assert "CL-0043" in html and "CL-0042" not in html
    # 18:00 UTC on the 6th is 01:00 on the 7th in Asia/Ho_Chi_Minh
    html = client.get("/admin/audit?from=2026-01-07&to=2026-01-07").get_data(as_text=True)
    assert "CL-0043" in html and "07/01/2026 01:00" in html and "CL-0042" not in html
    html = client.get("/admin/audit?from=07/01/2026&to=07/01/2026").get_data(as_text=True)  # as typed
    assert "CL-0043" in html and "CL-0042" not in html
    assert 'value="07/01/2026"' in html and 'type="date"' not in html
    assert "Đổi trạng thái tin báo" in html  # the action in words, not tip.status
    html = client.get("/admin/audit?from=nonsense&target=%3Cscript%3E").get_data(as_text=True)
    assert "<script>" not in html


def test_audit_record_joins_the_callers_transaction(db_path):
    db = open_db(db_path)
    with pytest.raises(RuntimeError):
        with db.conn:
            db.conn.execute("UPDATE users SET role = role")
            audit.record(db, "an", "tip.status", "CL-1")
            raise RuntimeError("the change failed")
    assert rows(db_path, "SELECT count(*) FROM audit_log") == [(0,)]
    audit.record(db, "an", "tip.status", "CL-1")  # on its own: committed at once
    assert rows(db_path, "SELECT who, action, target FROM audit_log") == [("an", "tip.status", "CL-1")]
    db.close()


# --- CSRF and cookies ----------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_are_refused(app, db_path):
    client = app.test_client()
    login_client(client, db_path, "admin")
    token = client.environ_base.pop("HTTP_X_CSRFTOKEN")
    form = {"username": "x.y", "role": "viewer", "password": "mat-khau-moi-1", "password2": "mat-khau-moi-1"}
    missing = client.post("/admin/users", data=form)
    assert missing.status_code == 400 and "CSRF" in missing.get_data(as_text=True)
    assert client.post("/admin/users", data={**form, "csrf_token": "forged"}).status_code == 400
    as_json = client.post("/admin/users", data=form, headers={"X-Requested-With": "fetch"})
    assert as_json.status_code == 400 and "CSRF" in as_json.get_json()["error"]
    assert rows(db_path, "SELECT count(*) FROM users WHERE username = 'x.y'") == [(0,)]
    assert client.post("/admin/users", data=form, headers={"X-CSRFToken": token}).status_code == 303
    # A token from another session is worth nothing here.
    other = app.test_client()
    other_token = csrf_token_from(other.get("/login").get_data(as_text=True))
    assert client.post("/admin/users", data={**form, "username": "z.z", "csrf_token": other_token}).status_code == 400


def test_cookie_flags_over_http_and_https(app, db_path):
    make_user(db_path, "officer", "an")
    client = app.test_client()
    cookie = _login(client, "an").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert cookie.startswith("tinbao_session=")
    secure = app.test_client()
    page = secure.get("/login", base_url="https://localhost")
    token = csrf_token_from(page.get_data(as_text=True))
    response = secure.post(
        "/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
        data={"username": "an", "password": TEST_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


# --- sessions that end -------------------------------------------------------------------------


def test_a_session_ends_after_idle_hours(app, db_path, clock):
    client = app.test_client()
    user = login_client(client, db_path)
    clock.advance(hours=5)
    assert client.get("/").status_code == 200  # activity: the idle timer starts again
    clock.advance(hours=5)
    assert client.get("/").status_code == 200  # 10 h after the login, 5 h idle
    clock.advance(hours=1)
    assert client.get("/").status_code == 200
    clock.advance(minutes=8 * 60 + 1)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "Phiên làm việc đã hết hạn" in client.get("/login").get_data(as_text=True)
    assert rows(db_path, "SELECT who FROM audit_log WHERE action = 'session.expired'") == [(user,)]
    assert client.get("/api/dashboard", headers={"Accept": "application/json"}).status_code == 401


def test_a_session_ends_after_max_hours_even_when_busy(app, db_path, clock):
    client = app.test_client()
    login_client(client, db_path)
    for _ in range(11):
        clock.advance(hours=1)
        assert client.get("/").status_code == 200
    clock.advance(hours=1, minutes=1)
    assert client.get("/").status_code == 302


def test_session_hours_are_configurable(make_app, db_path, clock):
    app = make_app(TINBAO_WEB_SESSION_HOURS="0.5")
    client = app.test_client()
    login_client(client, db_path)
    clock.advance(minutes=31)
    assert client.get("/").status_code == 302


def test_a_tampered_session_timestamp_is_not_trusted(app, db_path):
    client = app.test_client()
    login_client(client, db_path)
    with client.session_transaction() as session:
        session["login_at"] = "forever"
    assert client.get("/").status_code == 302


# --- throttling ----------------------------------------------------------------------------


def test_login_is_throttled_per_name_and_survives_a_restart(make_app, db_path, clock):
    make_user(db_path, "officer", "an")
    app = make_app()
    client = app.test_client()
    for _ in range(5):
        assert _login(client, "an", "wrong-password").status_code == 401
    throttled = _login(client, "an")
    assert throttled.status_code == 429
    assert "Thử lại sau 15 phút" in throttled.get_data(as_text=True)
    # A restart of the gateway (a new app on the same file) does not reset it.
    restarted = make_app().test_client()
    assert _login(restarted, "an").status_code == 429
    # Another name from the same address is not held back by this one.
    make_user(db_path, "officer", "binh")
    assert _login(restarted, "binh").status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert _login(make_app().test_client(), "an").status_code == 303
    # One row per address per window, counting the refusals (not a row each).
    throttled_rows = rows(db_path, "SELECT detail FROM audit_log WHERE action = 'login.throttled'")
    assert len(throttled_rows) == 1 and '"count": 2' in throttled_rows[0][0]


def test_login_is_throttled_per_address(app, db_path):
    make_user(db_path, "officer", "an")
    client = app.test_client()
    for n in range(20):  # 20 different names, 1 failure each: a guesser walking through names
        assert _login(client, f"user{n}", "wrong-password").status_code == 401
    assert _login(client, "an").status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert _login(elsewhere, "an").status_code == 303


def test_a_success_resets_the_count_and_an_admin_can_unlock(app, db_path):
    make_user(db_path, "officer", "an")
    client = app.test_client()
    for _ in range(4):
        _login(client, "an", "wrong-password")
    assert _login(client, "an").status_code == 303
    other = app.test_client()
    for _ in range(5):
        _login(other, "an", "wrong-password")
    assert _login(other, "an").status_code == 429
    admin = app.test_client()
    login_client(admin, db_path, "admin")
    assert "Tạm chặn do sai mật khẩu" in admin.get("/admin/users").get_data(as_text=True)
    assert admin.post("/admin/users/an/unlock").status_code == 303
    assert _login(other, "an").status_code == 303


# --- the secret key ------------------------------------------------------------------------


def test_the_secret_key_is_kept_so_sessions_survive_a_restart(make_app, db_path):
    first = make_app()
    client = first.test_client()
    login_client(client, db_path)
    second = make_app()
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert rows(db_path, "SELECT value FROM state WHERE key = 'web_secret_key'") == [(first.config["SECRET_KEY"],)]
    cookie = client.get_cookie("tinbao_session")
    restarted = second.test_client()
    restarted.set_cookie("tinbao_session", cookie.value)
    assert restarted.get("/").status_code == 200


def test_a_configured_secret_key_wins(make_app):
    app = make_app(TINBAO_WEB_SECRET_KEY="k" * 40)
    assert app.config["SECRET_KEY"] == "k" * 40


# --- languages -----------------------------------------------------------------------------


def test_vietnamese_first_english_on_request(app, db_path):
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="vi">' in html and "Đăng nhập" in html
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html and "Log in" in html and "Password" in html
    user = login_client(client, db_path, "admin")
    html = client.get("/").get_data(as_text=True)
    assert "Overview" in html and "Administration" in html and "Log out" in html
    assert rows(db_path, "SELECT language FROM users WHERE username = ?", (user,)) == [("en",)]
    # The account remembers it: a new browser is in English after the login.
    fresh = app.test_client()
    assert _login(fresh, user).status_code == 303
    assert "Overview" in fresh.get("/").get_data(as_text=True)
    assert "Tổng quan" in fresh.get("/?lang=vi").get_data(as_text=True)


def test_every_frame_string_has_an_english_translation():
    from babel.messages.extract import extract_from_file

    web = ROOT / "gateway" / "web"
    accounts = ROOT / "gateway" / "accounts"
    files = [*(accounts / name for name in ("users.py", "audit.py", "security.py")),
             *(web / name for name in ("admin.py", "auth.py", "login.py", "errors.py", "__init__.py"))]
    templates = [web / "templates" / "base.html", *(web / "templates" / "auth").glob("*.html"),
                 *(web / "templates" / "admin").glob("*.html")]
    keywords = {"_": None, "_l": None, "gettext": None}
    found = set()
    for path in files:
        found |= {m[1] for m in extract_from_file("python", str(path), keywords=keywords)}
    for path in templates:
        found |= {m[1] for m in extract_from_file("jinja2", str(path), keywords=keywords)}
    assert len(found) > 80
    assert not found & set(i18n.untranslated("en"))
    assert (i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.mo").stat().st_mtime >= (
        i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
    ).stat().st_mtime - 1


def test_english_error_messages_of_accounts(app, db_path):
    client = app.test_client()
    client.get("/login?lang=en")
    login_client(client, db_path, "admin")
    form = {"username": "x", "role": "officer", "password": "short", "password2": "short"}
    html = client.post("/admin/users", data=form).get_data(as_text=True)
    assert "A username is 2–32 characters" in html
    form["username"] = "xy"
    html = client.post("/admin/users", data=form).get_data(as_text=True)
    assert "The password needs at least 8 characters." in html


# --- python app.py create-user -------------------------------------------------------------


def _create_user(tmp_path: Path, *args: str, stdin: str):
    env = {**os.environ, "TINBAO_STORAGE_PATH": str(tmp_path / "cli.db")}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "create-user", *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60,
    )


def test_create_user_command_reads_the_password_from_stdin(tmp_path, make_app):
    done = _create_user(tmp_path, "chief", "--role", "admin", stdin="mật khẩu dài\n")
    assert done.returncode == 0, done.stderr
    assert "chief" in done.stdout
    db_path = tmp_path / "cli.db"
    assert rows(db_path, "SELECT username, role, active FROM users") == [("chief", "admin", 1)]
    assert rows(db_path, "SELECT who, action, target FROM audit_log") == [("cli", "user.create", "chief")]
    assert "mật khẩu" not in str(rows(db_path, "SELECT password_hash FROM users"))
    config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path)})
    app = create_app(config, make_services(db_path, config=config))
    assert _login(app.test_client(), "chief", "mật khẩu dài").status_code == 303


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (["an"], "short\n", "Mật khẩu phải có ít nhất 8 ký tự."),
        (["an"], "", "stdin trống"),
        (["a b"], "mat-khau-dai\n", "Tên đăng nhập phải dài 2–32 ký tự"),
    ],
)
def test_create_user_command_explains_what_is_wrong(tmp_path, args, stdin, message):
    done = _create_user(tmp_path, *args, stdin=stdin)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("tinbao: ") and message in done.stderr
    assert "Traceback" not in done.stderr


def test_create_user_command_refuses_a_taken_name_and_a_bad_role(tmp_path):
    assert _create_user(tmp_path, "an", stdin="mat-khau-dai\n").returncode == 0
    again = _create_user(tmp_path, "AN", stdin="mat-khau-khac\n")
    assert again.returncode == 1 and "đã có" in again.stderr
    bad_role = _create_user(tmp_path, "binh", "--role", "boss", stdin="mat-khau-dai\n")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    assert rows(tmp_path / "cli.db", "SELECT username, role FROM users") == [("an", "officer")]


def test_create_user_command_asks_twice_on_a_terminal(tmp_path):
    """Through a real pseudo-terminal, as an admin would type it on the Pi."""
    import pty

    env = {**os.environ, "TINBAO_STORAGE_PATH": str(tmp_path / "cli.db")}
    for second, code in (("khac-mat-khau\n", 1), ("mat-khau-dai\n", 0)):
        pid, fd = pty.fork()
        if pid == 0:  # the child: app.py on the terminal
            os.chdir(str(tmp_path))
            os.execve(sys.executable, [sys.executable, str(ROOT / "app.py"), "create-user", "tty.user"], env)
        output = b""
        answers = [b"mat-khau-dai\n", second.encode()]
        while True:
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if answers and re.search(rb"(M\xe1\xba\xadt kh\xe1\xba\xa9u|Nh\xe1\xba\xadp l\xe1\xba\xa1i)[^:]*: $",
                                     output):
                os.write(fd, answers.pop(0))
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        assert os.waitstatus_to_exitcode(status) == code, output.decode(errors="replace")
        assert b"mat-khau" not in output  # getpass does not echo
    assert rows(tmp_path / "cli.db", "SELECT username FROM users") == [("tty.user",)]
