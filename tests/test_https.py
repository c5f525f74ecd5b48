"""HTTPS on the post's LAN (issue 17, part 5): the installed certificate, a real TLS handshake.

The installer runs into a temporary root (its dry run), the gateway is started through the
installed ``tinbao`` command with that config (on 127.0.0.1 and free ports), and Python's
``ssl`` connects verifying against the CA the installer made: the page answers, its session
cookie is ``Secure``, plain http redirects to https and hands out the CA, the doctor's health
question goes over https. Then the CA itself: name-constrained, kept on renewal, warned
about before its certificate ends; the setup page's card; a half-configured TLS is one line.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, install, login_client, make_config, make_services, wait_until

from gateway import filekeys, tls
from gateway.config import load_config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def installed_gateway(tmp_path):
    """The gateway run from a temporary install, served over HTTPS with the installed certificate."""
    root = tmp_path / "root"
    install(root)
    port, redirect = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update(TINBAO_WEB_HOST="127.0.0.1", TINBAO_WEB_PORT=str(port), TINBAO_WEB_HTTP_REDIRECT_PORT=str(redirect),
               TINBAO_MODEM_PORT="emulator")
    log = open(tmp_path / "gateway.log", "w+")
    process = subprocess.Popen([str(root / "usr/local/bin/tinbao")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: answers(port) and answers(redirect), 30), (tmp_path / "gateway.log").read_text()
        yield SimpleNamespace(root=root, port=port, redirect=redirect, env=env,
                              ca=root / "etc/tinbao/tls/ca.crt", log=tmp_path / "gateway.log")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def test_the_installed_certificate_serves_the_page_over_https(installed_gateway):
    served = installed_gateway
    context = ssl.create_default_context(cafile=str(served.ca))
    for name in ("127.0.0.1", "localhost"):  # verified against the post's CA, by address and by name
        connection = http.client.HTTPSConnection(name, served.port, context=context, timeout=10)
        connection.request("GET", "/login")
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200 and b"csrf" in body
        cookie = response.getheader("Set-Cookie") or ""
        assert "tinbao_session=" in cookie and "; Secure" in cookie and "HttpOnly" in cookie
        assert connection.sock.version() in ("TLSv1.2", "TLSv1.3")
        connection.close()

    # An officer logs in over https as a browser does (the form, its CSRF token, a same-origin Referer).
    from conftest import csrf_token_from, make_user

    user = make_user(served.root / "var/lib/tinbao/tinbao.db", "admin")
    connection = http.client.HTTPSConnection("127.0.0.1", served.port, context=context, timeout=10)
    connection.request("GET", "/login")
    response = connection.getresponse()
    token, cookie = csrf_token_from(response.read().decode()), response.getheader("Set-Cookie").split(";")[0]
    connection.request("POST", "/login", body=f"username={user}&password=mat-khau-thu-123&csrf_token={token}",
                       headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                                "Referer": f"https://127.0.0.1:{served.port}/login"})
    response = connection.getresponse()
    response.read()
    assert response.status == 303 and "; Secure" in response.getheader("Set-Cookie")
    connection.request("GET", "/", headers={"Cookie": response.getheader("Set-Cookie").split(";")[0]})
    response = connection.getresponse()
    assert response.status == 200 and user in response.read().decode()
    connection.close()

    stranger = ssl.create_default_context()  # the system's CAs do not know the post's
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
            stranger.wrap_socket(raw, server_hostname="127.0.0.1")

    plain = http.client.HTTPConnection("127.0.0.1", served.redirect, timeout=10)
    plain.request("GET", "/tips?status=new&q=tr%E1%BB%99m")
    response = plain.getresponse()
    response.read()
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{served.port}/tips?status=new&q=tr%E1%BB%99m"
    plain.request("POST", "/login", body=b"x=1")
    response = plain.getresponse()
    response.read()
    assert response.status == 308  # a form is not turned into a GET
    plain.request("GET", "/ca.crt")
    response = plain.getresponse()
    assert response.status == 200 and response.read() == served.ca.read_bytes()
    plain.close()

    wrapper = served.root / "usr/local/bin/tinbao"
    health = subprocess.run([str(wrapper), "doctor", "--health"], env=served.env, capture_output=True, text=True,
                            timeout=60)
    assert health.returncode == 0 and f"https://127.0.0.1:{served.port}/healthz: 200" in health.stdout, health
    doctor = subprocess.run([str(wrapper), "doctor"], env=served.env, capture_output=True, text=True, timeout=60)
    line = next(line for line in doctor.stdout.splitlines() if "HTTPS certificate" in line)
    assert line.startswith("✓") and tls.fingerprint(served.ca) in line
    last = [line for line in served.log.read_text().splitlines() if "officers' page on" in line]
    assert last and f"officers' page on https://127.0.0.1:{served.port}/" in last[-1]


def test_the_ca_is_constrained_to_local_names_kept_on_renewal_and_warned_about(tmp_path):
    from cryptography import x509

    folder = tmp_path / "tls"
    config = make_config(tmp_path, TINBAO_WEB_TLS_CERT=str(folder / "server.crt"),
                         TINBAO_WEB_TLS_KEY=str(folder / "server.key"), TINBAO_WEB_HOST="0.0.0.0")
    args = SimpleNamespace(tls_command="init", dir=str(folder), hostname="don-coclau", address=["192.168.1.20"],
                           new_ca=False)
    assert tls.tls_command(config, args) == 0
    ca = x509.load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    domains = {n.value for n in constraints.value.permitted_subtrees if isinstance(n, x509.DNSName)}
    assert domains == {"don-coclau", "local", "localhost"}
    cert = x509.load_pem_x509_certificate((folder / "server.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"don-coclau", "don-coclau.local", "localhost"} <= set(names.get_values_for_type(x509.DNSName))
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} >= {"192.168.1.20", "127.0.0.1"}
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in folder.iterdir())

    fingerprint = tls.fingerprint(folder / "ca.crt")
    assert tls.tls_command(config, SimpleNamespace(**{**vars(args), "address": ["10.1.2.3"]})) == 0
    assert tls.fingerprint(folder / "ca.crt") == fingerprint  # renewed, same CA: phones keep trusting
    with pytest.raises(tls.TlsError, match="may not certify other-name"):
        tls.tls_command(config, SimpleNamespace(**{**vars(args), "hostname": "other-name"}))

    ok, found, _ = tls.health(config)
    assert ok and fingerprint in found and "don-coclau.local" in found
    ok, found, fix = tls.health(config, now=datetime.now(UTC) + timedelta(days=tls.CERT_DAYS - 10))
    assert not ok and "ends in" in found and "tls init" in fix
    plain = make_config(tmp_path, TINBAO_WEB_HOST="0.0.0.0")
    ok, found, _ = tls.health(plain)
    assert not ok and "plain http" in found


def test_half_a_tls_config_stops_start_up_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env.update(TINBAO_STORAGE_PATH=str(tmp_path / "tinbao.db"), TINBAO_WEB_PORT=str(free_port()),
               TINBAO_WEB_TLS_CERT=str(tmp_path / "missing.crt"))
    done = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("tinbao:")]
    assert errors == ["tinbao: config key web.tls_key: must be set with web.tls_cert"], done.stderr


def test_the_setup_page_shows_the_recovery_code_once_and_offers_the_ca(tmp_path):
    from gateway.database import prepare_gateway
    from gateway.web import create_app

    folder = tmp_path / "tls"
    config = make_config(tmp_path, TINBAO_WEB_TLS_CERT=str(folder / "server.crt"),
                         TINBAO_WEB_TLS_KEY=str(folder / "server.key"))
    tls.tls_command(config, SimpleNamespace(tls_command="init", dir=str(folder), hostname="pi", address=[],
                                            new_ca=False))
    prepare_gateway(config.storage_path)
    key = filekeys.ensure_default(config)  # made without a terminal: its code waits for the page
    assert key is not None and key.recovery_shown == ""
    app = create_app(config, make_services(config.storage_path, config=config))

    stranger = app.test_client()
    ca = stranger.get("/ca.crt")  # public: a phone needs it before it trusts the page
    assert ca.status_code == 200 and ca.data == (folder / "ca.crt").read_bytes()

    client = app.test_client()
    login_client(client, config.storage_path, "admin")
    page = client.get("/admin/setup/").get_data(as_text=True)
    assert key.key_id in page and tls.fingerprint(folder / "ca.crt") in page and 'id="setup-show-code"' in page
    shown = client.post("/admin/setup/recovery-code")
    text = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert all(group in text for group in filekeys.recovery_code(key.key).split())
    again = client.post("/admin/setup/recovery-code", follow_redirects=True).get_data(as_text=True)
    assert filekeys.recovery_code(key.key).split()[0] not in again and "không hiện lại" in again
    assert 'id="setup-code-shown"' in client.get("/admin/setup/").get_data(as_text=True)
    officer = app.test_client()
    login_client(officer, config.storage_path, "officer")
    assert officer.post("/admin/setup/recovery-code").status_code == 403
    from conftest import rows
    assert rows(config.storage_path, "SELECT action, target FROM audit_log WHERE action LIKE 'backup_key%'") == [
        ("backup_key.recovery_code_shown", key.key_id)]
    english = app.test_client()
    login_client(english, config.storage_path, "admin")
    text = english.get("/admin/setup/?lang=en").get_data(as_text=True)
    assert "Install a certificate" in text and "Show the recovery code" not in text  # shown already
    assert "The recovery code was shown once" in text


def test_a_config_with_tls_loads_and_the_defaults_stay_plain():
    config = load_config(env={})
    assert (config.web.tls_cert, config.web.tls_key, config.web.http_redirect_port) == ("", "", 0)
    assert not Path(config.backup.key_path or "unset").is_absolute()
