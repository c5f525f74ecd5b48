"""Serving a web app (the officers' page, the hub): plain http with waitress, or https with cheroot.

Plain http (``web.tls_cert`` empty: the emulator demo, tests, a page on 127.0.0.1) stays on
waitress exactly as before. With a certificate (``gateway.tls``; the installer makes one), the
page is served over TLS by cheroot's built-in adapter, on Python's own ``ssl`` module
(OpenSSL): waitress speaks no TLS, and cheroot is a well-kept pure-Python WSGI server
(CherryPy's) with no dependencies beyond two small pure-Python ones, so the Pi runs one
process as before, with no nginx or caddy to configure, update and keep in step. Why, and
the figures: ``docs/architecture.md``.

With TLS, ``web.http_redirect_port`` (80 on the Pi) answers plain http with a redirect to
the same path over https, and serves the post's CA certificate at ``/ca.crt`` (public: a
phone needs it before it can trust the page; officers compare its fingerprint with the one
the setup page and the doctor print). Session cookies are ``Secure`` over https
(``gateway.web.frame``).

The last line this logs before serving is ``<name> on <url>`` (README step 4 checks it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from gateway.config import Config
from gateway.errors import ConfigError

log = logging.getLogger(__name__)

THREADS = 8
REDIRECT_THREADS = 2
CA_PATH = "/ca.crt"


def url_of(config: Config, scheme: str) -> str:
    host = config.web.host
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{config.web.port}/"


def tls_enabled(config: Config) -> bool:
    return bool(config.web.tls_cert or config.web.tls_key)


def serve(app: Any, config: Config, *, ident: str, name: str) -> None:
    """Serve ``app`` on ``web.host``:``web.port`` until interrupted (https when configured)."""
    if not tls_enabled(config):
        _serve_plain(app, config, ident=ident, name=name)
    else:
        _serve_tls(app, config, ident=ident, name=name)


def _port_error(config: Config, port: int, key: str, exc: OSError) -> ConfigError:
    return ConfigError(f"config key {key}: {config.web.host}:{port} cannot be opened "
                       f"({exc.strerror or exc}; another program on that port?)")


def _serve_plain(app: Any, config: Config, *, ident: str, name: str) -> None:
    import waitress

    try:
        server = waitress.create_server(app, host=config.web.host, port=config.web.port, threads=THREADS, ident=ident)
    except OSError as exc:
        raise _port_error(config, config.web.port, "web.port", exc) from None
    log.info("%s on %s", name, url_of(config, "http"))
    server.run()


def _serve_tls(app: Any, config: Config, *, ident: str, name: str) -> None:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from gateway import tls

    context = tls.server_context(config)  # a missing or wrong file: one line naming the key
    server = wsgi.Server((config.web.host, config.web.port), app, numthreads=THREADS, server_name=ident)
    adapter = BuiltinSSLAdapter(config.web.tls_cert, config.web.tls_key)
    adapter.context = context
    server.ssl_adapter = adapter
    redirect = None
    try:
        server.prepare()
    except OSError as exc:
        raise _port_error(config, config.web.port, "web.port", exc) from None
    try:
        if config.web.http_redirect_port:
            redirect = wsgi.Server((config.web.host, config.web.http_redirect_port),
                                   redirect_app(config), numthreads=REDIRECT_THREADS, server_name=ident)
            try:
                redirect.prepare()
            except OSError as exc:
                raise _port_error(config, config.web.http_redirect_port, "web.http_redirect_port", exc) from None
            threading.Thread(target=redirect.serve, name="http-redirect", daemon=True).start()
        also = (f" (http on port {config.web.http_redirect_port} redirects there)"
                if config.web.http_redirect_port else "")
        log.info("%s on %s%s", name, url_of(config, "https"), also)
        server.serve()
    finally:
        if redirect is not None:
            redirect.stop()
        server.stop()


def redirect_app(config: Config) -> Callable[[dict, Callable], Iterable[bytes]]:
    """A WSGI app that sends every plain-http request to https, and serves the CA at ``/ca.crt``."""
    from gateway import tls

    port = config.web.port
    ca = tls.ca_cert_path(config)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        if path == CA_PATH and ca is not None and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            try:
                body = ca.read_bytes()
            except OSError:
                body = b""
            if body:
                start_response("200 OK", [("Content-Type", "application/x-x509-ca-cert"),
                                          ("Content-Disposition", 'attachment; filename="tinbao-ca.crt"'),
                                          ("Content-Length", str(len(body)))])
                return [body]
        host = _host_only(environ.get("HTTP_HOST", "") or environ.get("SERVER_NAME", ""))
        target = f"https://{host}{'' if port == 443 else f':{port}'}{_path(environ)}"
        safe = environ.get("REQUEST_METHOD") in ("GET", "HEAD")
        status = "301 Moved Permanently" if safe else "308 Permanent Redirect"
        start_response(status, [("Location", target), ("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", "0")])
        return [b""]

    return app


def _host_only(host: str) -> str:
    """The request's host without its port; a host no browser would send becomes ``localhost``."""
    host = host.strip()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else "localhost"
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
    return host if host and set(host) <= allowed else "localhost"


def _path(environ: dict) -> str:
    from urllib.parse import quote

    path = quote(environ.get("PATH_INFO", "/").encode("latin-1", "replace").decode("utf-8", "replace"),
                 safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING", "")
    path = "/" + path.lstrip("/")  # never "//host": that would be another site
    return f"{path}?{query}" if query else path
