"""Officers' accounts: create, check a password, change role, disable, reset a password.

Passwords are stored only as werkzeug hashes (PBKDF2, at the cost ``PASSWORD_HASH_METHOD``).
Roles are ranked: an ``admin`` can do everything an ``officer`` can, who can do everything a
``viewer`` can (read only).

The first admin is made on the command line, on the Pi itself::

    python app.py create-user an --role admin

It asks for the password twice on a terminal, or reads one line from standard input when that
is not a terminal (``echo "$PASSWORD" | python app.py create-user an --role admin``).
"""

from __future__ import annotations

import getpass
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.accounts import audit
from gateway.errors import TinBaoError
from gateway.storage import utcnow_iso, write_transaction

ROLES = ("viewer", "officer", "admin")  # lowest first
RANK = {role: rank for rank, role in enumerate(ROLES)}
ROLE_LABELS = {"admin": _l("Quản trị viên"), "officer": _l("Cán bộ"), "viewer": _l("Người xem")}
LANGUAGES = ("vi", "en")
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 200
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,31}")

# The password hash's cost, chosen for the Pi's memory (a Pi Zero 2 / Pi 3 has 512 MB-1 GB for
# everything, and waitress runs 8 threads that may each check a password at once).
# werkzeug's default, scrypt N=2**15 r=8, takes 128*N*r = 32 MB per check: a login lifts the
# gateway from ~55 MB to ~89 MB, and 8 at once would ask for 256 MB more. A smaller scrypt is
# worse, not better: glibc keeps a freed block under 32 MB in the thread's malloc arena (its
# mmap threshold rises to the block's size), so with scrypt N=2**14 (16 MB) the gateway held
# 168 MB after 20 logins (bench/memory.py). PBKDF2-HMAC-SHA256 at 600,000 iterations (OWASP's
# Password Storage Cheat Sheet) needs no memory at all; it costs CPU time instead (about
# 0.15 s on a server core, roughly 1 s on a Pi; hashlib lets the other threads run meanwhile),
# and it is cheaper than scrypt for a GPU to guess, which a long password makes up for.
# Hashes made with another method (the scrypt of older accounts) still verify: each hash
# names its method, and an account takes this one at its next new password.
PASSWORD_HASH_METHOD = "pbkdf2:sha256:600000"

# The method new hashes are made with: always PASSWORD_HASH_METHOD, except in the test suite,
# which makes hundreds of accounts and would spend minutes on 600,000 rounds each. Only
# ``cheapen_hash_for_tests`` changes it, and it refuses outside pytest: no config key and no
# environment variable reaches it, so a gateway cannot be started with cheap hashes.
_hash_method = PASSWORD_HASH_METHOD
# Checked when the username is unknown, so a wrong name takes as long as a wrong password
# (one per method, made when first needed: importing this module hashes nothing).
_dummy_hashes: dict[str, str] = {}


def cheapen_hash_for_tests(method: str = "pbkdf2:sha256:1") -> None:
    """Tests only (``tests/conftest.py``): hash new passwords with ``method``.

    Hashes name their method, so an account made this way still verifies anywhere; the
    production cost is tested once, on its own (``tests/test_web_auth.py``).
    """
    if "pytest" not in sys.modules:
        raise RuntimeError("the password hash cost is lowered only inside the test suite")
    global _hash_method
    _hash_method = method


def _hash(password: str) -> str:
    return generate_password_hash(password, _hash_method)


def _dummy_hash() -> str:
    if _hash_method not in _dummy_hashes:
        _dummy_hashes[_hash_method] = _hash("tinbao-no-such-user")
    return _dummy_hashes[_hash_method]


class AccountError(TinBaoError):
    """A request about accounts that cannot be done; the message is shown to the person."""


@dataclass(frozen=True)
class User:
    """An officer's account as Flask-Login sees it (``current_user``)."""

    id: int
    username: str
    role: str
    active: bool
    language: str | None
    auth_version: int
    created_at: str = ""
    created_by: str | None = None
    last_login_at: str | None = None

    # Flask-Login's protocol.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        # The version makes a session end when the password is reset or the account disabled.
        return f"{self.id}:{self.auth_version}"

    def can(self, role: str) -> bool:
        """True when this account's role is ``role`` or ranks above it."""
        return self.active and RANK.get(self.role, -1) >= RANK[role]

    @property
    def is_admin(self) -> bool:
        return self.can("admin")


_COLUMNS = "id, username, role, active, language, auth_version, created_at, created_by, last_login_at"


def _user(row: Any) -> User:
    return User(
        id=row[0], username=row[1], role=row[2], active=bool(row[3]), language=row[4],
        auth_version=row[5], created_at=row[6], created_by=row[7], last_login_at=row[8],
    )


def check_username(username: str) -> str:
    username = (username or "").strip()
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError(
            _("Tên đăng nhập phải dài 2–32 ký tự: chữ không dấu, số, dấu chấm, gạch nối hoặc gạch dưới.")
        )
    return username


def check_role(role: str) -> str:
    if role not in RANK:
        raise AccountError(_("Vai trò không hợp lệ: %(role)s (admin, officer hoặc viewer).", role=repr(role)))
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(_("Mật khẩu phải có ít nhất %(n)d ký tự.", n=MIN_PASSWORD_CHARS))
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(_("Mật khẩu dài quá %(n)d ký tự.", n=MAX_PASSWORD_CHARS))
    if password.strip() != password:
        raise AccountError(_("Mật khẩu không được bắt đầu hay kết thúc bằng dấu cách."))
    return password


def get(db: Database, user_id: int) -> User | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id]).fetchone()
    return _user(row) if row else None


def find(db: Database, username: str) -> User | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE username = ?", [username.strip()]).fetchone()
    return _user(row) if row else None


def all_users(db: Database) -> list[User]:
    rows = db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY active DESC, username").fetchall()
    return [_user(row) for row in rows]


def officers(db: Database) -> list[str]:
    """Usernames a tip can be assigned to: active accounts that may handle tips."""
    rows = db.execute(
        "SELECT username FROM users WHERE role IN ('admin', 'officer') AND active = 1 ORDER BY username"
    ).fetchall()
    return [row[0] for row in rows]


def count_users(db: Database) -> int:
    """Every account, active or not: none at all means the first admin is still to be made."""
    return db.execute("SELECT count(*) FROM users").fetchone()[0]


def count_admins(db: Database) -> int:
    return db.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1").fetchone()[0]


def create_user(
    db: Database,
    username: str,
    password: str,
    role: str,
    *,
    by: str = "cli",
    ip: str = "",
    now: datetime | None = None,
) -> User:
    """Make an account and write ``user.create`` to the audit log; AccountError when refused."""
    username = check_username(username)
    check_role(role)
    check_password(password)
    at = utcnow_iso(now)
    with write_transaction(db):
        if find(db, username) is not None:
            raise AccountError(_("Tên đăng nhập %(name)s đã có.", name=username))
        db.conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at, created_by, password_changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [username, _hash(password), role, at, by, at],
        )
        audit.record(db, by, audit.USER_CREATE, username, {"role": role}, ip=ip, now=now)
    user = find(db, username)
    assert user is not None
    return user


def authenticate(db: Database, username: str, password: str) -> User | None:
    """The active account for this name and password, or None (same time either way)."""
    row = db.execute(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = ?", [(username or "").strip()]
    ).fetchone()
    if row is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(row[-1], password or ""):
        return None
    user = _user(row)
    return user if user.active else None


def mark_login(db: Database, user: User, now: datetime | None = None) -> None:
    with write_transaction(db):
        db.conn.execute("UPDATE users SET last_login_at = ? WHERE id = ?", [utcnow_iso(now), user.id])


def end_sessions(db: Database, user_id: int) -> None:
    """End every session of this account (a logout): a copy of an old cookie no longer works."""
    with write_transaction(db):
        db.conn.execute("UPDATE users SET auth_version = auth_version + 1 WHERE id = ?", [user_id])


def set_language(db: Database, user_id: int, language: str) -> None:
    if language in LANGUAGES:
        with write_transaction(db):
            db.conn.execute("UPDATE users SET language = ? WHERE id = ?", [language, user_id])


def _require(db: Database, username: str) -> User:
    user = find(db, username)
    if user is None:
        raise AccountError(_("Không có tài khoản %(name)s.", name=username))
    return user


def _keep_an_admin(db: Database, user: User, *, demote: bool) -> None:
    if demote and user.role == "admin" and user.active and count_admins(db) <= 1:
        raise AccountError(_("Không thể bỏ quyền quản trị của quản trị viên cuối cùng."))


def set_role(db: Database, username: str, role: str, *, by: str, ip: str = "") -> User:
    """Change an account's role (the last active admin keeps theirs)."""
    check_role(role)
    with write_transaction(db):
        user = _require(db, username)
        if user.role == role:
            return user
        _keep_an_admin(db, user, demote=role != "admin")
        db.conn.execute("UPDATE users SET role = ? WHERE id = ?", [role, user.id])
        audit.record(db, by, audit.USER_ROLE, user.username, {"from": user.role, "to": role}, ip=ip)
    return _require(db, username)


def set_active(db: Database, username: str, active: bool, *, by: str, ip: str = "") -> User:
    """Disable (or enable again) an account; disabling ends its open sessions."""
    with write_transaction(db):
        user = _require(db, username)
        if user.active == active:
            return user
        if not active:
            if user.username.lower() == by.lower():
                raise AccountError(_("Không thể tự khoá tài khoản của chính mình."))
            _keep_an_admin(db, user, demote=True)
        db.conn.execute(
            "UPDATE users SET active = ?, auth_version = auth_version + 1 WHERE id = ?",
            [int(active), user.id],
        )
        audit.record(db, by, audit.USER_ENABLE if active else audit.USER_DISABLE, user.username, ip=ip)
    return _require(db, username)


def set_password(db: Database, username: str, password: str, *, by: str, ip: str = "") -> User:
    """Set a new password; the account's other sessions end."""
    check_password(password)
    with write_transaction(db):
        user = _require(db, username)
        db.conn.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, auth_version = auth_version + 1"
            " WHERE id = ?",
            [_hash(password), utcnow_iso(), user.id],
        )
        audit.record(db, by, audit.USER_PASSWORD, user.username, ip=ip)
    return _require(db, username)


# -- python app.py create-user NAME --role ROLE -----------------------------------------------


def read_password(stdin: TextIO | None = None, stderr: TextIO | None = None) -> str:
    """Twice with getpass on a terminal; else one line from standard input."""
    stdin = stdin or sys.stdin
    stderr = stderr or sys.stderr
    if stdin.isatty():
        first = getpass.getpass("Mật khẩu / password: ", stream=stderr)
        second = getpass.getpass("Nhập lại / again: ", stream=stderr)
        if first != second:
            raise AccountError(_("Hai lần nhập mật khẩu không giống nhau."))
        return first
    line = stdin.readline()
    if not line:
        raise AccountError(_("Không đọc được mật khẩu từ đầu vào chuẩn (stdin trống)."))
    return line.rstrip("\r\n")


def create_user_command(config: Any, args: Any, *, path: Any = None, prepare_file: Any = None) -> int:
    """``python app.py create-user NAME --role ROLE``: 0 when made, 1 with one clear line if not.

    The hub passes its own file and how to prepare it (``python app.py hub create-user``).
    """
    from gateway.accounts import schema
    from gateway.storage import open_db, prepare

    path = path or config.storage_path
    try:
        username = check_username(args.username)
        role = check_role(getattr(args, "role", None) or "officer")
        password = read_password()
        check_password(password)
        if prepare_file is not None:
            prepare_file(path)
        else:
            prepare(path, [schema.migrations])
        db = open_db(path)
        try:
            create_user(db, username, password, role, by="cli")
        finally:
            db.close()
    except AccountError as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 1
    print(f"Đã tạo tài khoản {username} ({role}) trong {path}.")
    return 0
