"""Accounts and safety in a real headless Chromium against the live gateway (waitress).

Log in and out, wrong passwords and throttling, a viewer kept out of the admin pages, a form
posted without its CSRF token, the English switch; screenshots of the login and users pages.
"""

from __future__ import annotations

from conftest import TEST_PASSWORD, login_page, make_user, rows, screenshot


def _submit_login(page, username: str, password: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")


def test_login_admin_pages_and_logout(live_gateway, page):
    gateway, base = live_gateway
    db_path = gateway.config.storage_path
    response = page.goto(f"{base}/")
    assert response is not None and "/login" in page.url  # every page but /healthz needs a login
    assert page.locator("h1").inner_text() == "Đăng nhập"
    assert page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert page.locator("nav.nav").count() == 0  # no menu bar before the login
    screenshot(page, "login")

    username = login_page(page, base, db_path, role="admin")
    assert page.url.rstrip("/") == base
    nav = page.locator("nav.nav")
    assert nav.get_by_role("link", name="Quản trị").is_visible()
    assert nav.get_by_role("link", name="Tổng quan").is_visible()
    assert page.locator(".user-name").inner_text() == username

    nav.get_by_role("link", name="Quản trị").click()
    page.wait_for_url(f"{base}/admin/users")
    assert page.locator(f'#users tr[data-user="{username}"]').is_visible()
    # An admin creates an officer's account through the form (its CSRF token is in it).
    page.fill("#new-username", "hoang.an")
    page.select_option("#new-role", "officer")
    page.fill("#new-password", "mat-khau-moi-1")
    page.fill("#new-password2", "mat-khau-moi-1")
    with page.expect_navigation():
        page.click("#new-user button[type=submit]")
    assert page.locator(".flash-ok").inner_text() == "Đã tạo tài khoản hoang.an."
    assert page.locator('#users tr[data-user="hoang.an"]').is_visible()
    screenshot(page, "admin-users")

    page.get_by_role("link", name="Nhật ký thao tác").click()
    page.wait_for_url(f"{base}/admin/audit")
    actions = page.locator("#audit td[data-action]").evaluate_all("cells => cells.map(c => c.dataset.action)")
    assert "user.create" in actions and "login.ok" in actions
    shown = page.locator("#audit td[data-action]").all_inner_texts()  # in words, not codes
    assert "Tạo tài khoản" in shown and "Đăng nhập" in shown and "login.ok" not in shown

    page.click(".user-menu summary")
    with page.expect_navigation():
        page.click("#logout")
    assert "/login" in page.url
    assert page.locator(".flash-info").inner_text() == "Đã đăng xuất."
    page.goto(f"{base}/admin/users")
    assert "/login" in page.url  # the session is gone
    logged = [a for (a,) in rows(db_path, "SELECT action FROM audit_log WHERE who = ? ORDER BY id", (username,))]
    assert logged[:1] == ["login.ok"] and logged[-1] == "logout"


def test_wrong_password_is_refused_then_throttled(live_gateway, page):
    gateway, base = live_gateway
    db_path = gateway.config.storage_path
    username = make_user(db_path, "officer")
    page.goto(f"{base}/login")
    for attempt in range(gateway.config.web.login_max_failures):
        _submit_login(page, username, f"sai-mat-khau-{attempt}")
        assert page.locator(".flash-error").inner_text() == "Sai tên đăng nhập hoặc mật khẩu."
        assert "/login" in page.url
    # Now even the right password waits: the name is throttled.
    _submit_login(page, username, TEST_PASSWORD)
    message = page.locator(".flash-error").inner_text()
    assert message.startswith("Đăng nhập sai quá nhiều lần. Thử lại sau")
    assert "/login" in page.url and page.locator(".user-menu").count() == 0
    screenshot(page, "login-throttled")
    counted = rows(db_path,
                   "SELECT action, count(*) FROM audit_log WHERE target = ? AND action LIKE 'login.%' GROUP BY action",
                   (username,))
    assert dict(counted) == {"login.failed": 5, "login.throttled": 1}


def test_viewer_sees_no_admin_and_gets_403(live_gateway, page):
    gateway, base = live_gateway
    login_page(page, base, gateway.config.storage_path, role="viewer")
    nav_links = page.locator("nav.nav a").all_inner_texts()
    assert "Tổng quan" in nav_links
    assert "Quản trị" not in nav_links and "Điện thoại thử" not in nav_links
    for path in ("/admin/users", "/admin/audit"):
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 403
        assert page.locator("#error-message").inner_text() == "Bạn không có quyền xem trang này."
    denied = rows(gateway.config.storage_path, "SELECT target FROM audit_log WHERE action = 'access.denied'")
    assert ("/admin/users",) in denied


def test_a_form_post_without_csrf_token_is_refused(live_gateway, page):
    gateway, base = live_gateway
    db_path = gateway.config.storage_path
    login_page(page, base, db_path, role="admin")
    page.goto(f"{base}/admin/users")
    # The create form with its hidden token removed, as a forged form from elsewhere would be.
    page.fill("#new-username", "khong.token")
    page.fill("#new-password", "mat-khau-moi-1")
    page.fill("#new-password2", "mat-khau-moi-1")
    page.evaluate("document.querySelector('#new-user input[name=csrf_token]').remove()")
    with page.expect_navigation() as navigation:
        page.click("#new-user button[type=submit]")
    assert navigation.value.status == 400
    assert "CSRF" in page.locator("#error-message").inner_text()
    assert rows(db_path, "SELECT count(*) FROM users WHERE username = 'khong.token'") == [(0,)]
    # A script's fetch() gets the token from csrf.js; without the header it is refused too.
    result = page.evaluate(
        """async () => {
            const body = new URLSearchParams({username: 'qua.fetch', role: 'viewer',
                                              password: 'mat-khau-moi-1', password2: 'mat-khau-moi-1'});
            const withToken = await fetch('/admin/users', {method: 'POST', body});
            const bare = await new Promise((resolve) => {
                const xhr = new XMLHttpRequest();
                xhr.open('POST', '/admin/users');
                xhr.onload = () => resolve(xhr.status);
                xhr.send(new URLSearchParams({username: 'qua.xhr', role: 'viewer',
                                              password: 'mat-khau-moi-1', password2: 'mat-khau-moi-1'}));
            });
            return [withToken.status, bare];
        }"""
    )
    assert result == [200, 400]
    made = {name for (name,) in rows(db_path, "SELECT username FROM users")}
    assert "qua.fetch" in made and "qua.xhr" not in made


def test_english_switch_shows_english_labels(live_gateway, page):
    gateway, base = live_gateway
    db_path = gateway.config.storage_path
    page.goto(f"{base}/login")
    page.locator(".lang-switch a[hreflang=en]").click()
    page.wait_for_url("**lang=en")
    assert page.locator("h1").inner_text() == "Log in"
    assert page.locator("html").get_attribute("lang") == "en"
    username = make_user(db_path, "admin")
    _submit_login(page, username, TEST_PASSWORD)
    nav_links = page.locator("nav.nav a").all_inner_texts()
    assert "Overview" in nav_links and "Administration" in nav_links
    page.click(".user-menu summary")
    assert page.locator("#logout").inner_text() == "Log out"
    page.goto(f"{base}/admin/users")
    assert page.locator("h2#users-title").inner_text() == "Officers' accounts"
    # The choice is kept in the account: the next login is in English too.
    assert rows(db_path, "SELECT language FROM users WHERE username = ?", (username,)) == [("en",)]
    page.locator(".lang-switch a[hreflang=vi]").click()
    page.wait_for_url("**lang=vi")
    assert page.locator("h2#users-title").inner_text() == "Tài khoản cán bộ"


def test_login_and_users_pages_fit_a_360px_phone(live_gateway, browser):
    gateway, base = live_gateway
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN")
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "login-360")
        login_page(page, base, gateway.config.storage_path, role="admin")
        page.goto(f"{base}/admin/users")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "admin-users-360")
    finally:
        context.close()
