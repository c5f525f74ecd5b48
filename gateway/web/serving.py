"""Serving a web app (the officers' page, the hub): plain http with waitress, or https with cheroot.

**The port first.** ``open_server`` binds the port before anything else starts (the gateway's
workers, the hub's database), so a port already in use, or one the user may not open, stops
start-up with one line naming the config key (``PortUnavailable``), never a traceback. The app
is handed over once it is built (``LateApp``: until then a request gets 503).

**Plain http** (``web.tls_cert`` empty: the emulator demo, tests, a page on 127.0.0.1) is
waitress. **HTTPS** (``gateway.tls``; the installer makes the certificate) is cheroot's built-in
adapter on Python's own ``ssl`` module (OpenSSL): waitress speaks no TLS, and cheroot is a
well-kept pure-Python WSGI server (CherryPy's), so the Pi runs one process as before, with no
nginx or caddy to configure, update and keep in step. Why, and the figures:
``docs/architecture.md``. With TLS, ``web.http_redirect_port`` (80 on the Pi) answers plain
http with a redirect to the same path over https, and serves the post's CA certificate at
``/ca.crt`` (public: a phone needs it before it can trust the page). Session cookies are
``Secure`` over https (``gateway.web.frame``).

The last line logged before serving is ``<name> on <url>`` (README step 4 checks it).
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from gateway.config import Config
from gateway.errors import ConfigError

log = logging.getLogger(__name__)

#: waitress's threads only run the page's code (its main loop reads and writes the sockets), and
#: Python runs one of them at a time: past a few, more threads only queue behind the GIL and
#: stretch the slowest answers. With 8, eight officers clicking at once waited 233 ms (p95,
#: conversations) on a 2-core Pi-class machine; with 4, 131 ms at the same 116 requests/s
#: (``bench/web_response.py``). Four still leave three pages answering while one CSV export runs.
WAITRESS_THREADS = 4
#: cheroot (https, as installed on the Pi) runs the page's code in its worker threads too, and
#: the same GIL holds: with 8, eight officers clicking at once over HTTPS waited 156 ms p95 (237 ms
#: on conversations); with 4, 102 ms (143 ms), 8.5 ms of CPU per page against 10.0
#: (``bench/web_response.py --https``). The price: idle kept-alive connections wait in cheroot's
#: selector, but a thread reads a whole request and writes a whole response, so a phone on weak
#: Wi-Fi downloading a CSV export holds one until it is done (or its 10 s socket timeout): a post's
#: 2-4 officers leave three for the others.
CHEROOT_THREADS = 4
#: The hub's: a hundred posts, some pushing their tips over 3G, each upload holding a thread for
#: its whole body; the province's officers must not queue behind them.
HUB_CHEROOT_THREADS = 8
REDIRECT_THREADS = 2
CA_PATH = "/ca.crt"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PortUnavailable(ConfigError):
    """The configured port cannot be listened on (in use, not allowed, no such address)."""


class LateApp:
    """A WSGI app whose real app is set once it is built (the port is taken before the workers
    start, the page is built after them); until then every request is answered 503."""

    def __init__(self) -> None:
        self.app: WsgiApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                                       ("Retry-After", "2")])
            return [b"starting\n"]
        return self.app(environ, start_response)


def url_of(config: Config, scheme: str, port: int | None = None) -> str:
    host = config.web.host
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port or config.web.port}/"


def tls_enabled(config: Config) -> bool:
    return bool(config.web.tls_cert or config.web.tls_key)


def port_problem(host: str, port: int, key: str, exc: OSError) -> PortUnavailable:
    """One line naming the config key and what to do."""
    env = "TINBAO_" + key.replace(".", "_").upper()
    where = f"config key {key} ({port} on {host})"
    if exc.errno == errno.EADDRINUSE:
        return PortUnavailable(f"{where}: the port is already in use (another TinBao or another program"
                               f" listens there): stop it, or choose a free port ({env}=...)")
    if exc.errno == errno.EACCES:
        return PortUnavailable(f"{where}: not allowed to listen there (ports below 1024 need root or the"
                               f" service's CAP_NET_BIND_SERVICE): choose a port above 1024 ({env}=...)")
    if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "EAI_NONAME", -2)):
        return PortUnavailable(f"{where}: this machine has no such address (check web.host)")
    return PortUnavailable(f"{where}: cannot listen ({exc.strerror or exc})")


class Server:
    """A bound server (the port is taken), not serving yet: ``run()`` serves until interrupted."""

    def __init__(self, run: Callable[[], None], close: Callable[[], None], url: str, note: str = "") -> None:
        self._run = run
        self._close = close
        self.url = url
        self.note = note

    def run(self, name: str) -> None:
        log.info("%s on %s%s", name, self.url, self.note)
        self._run()

    def close(self) -> None:
        """Let go of the port (safe after ``run`` returned, or when it never ran)."""
        self._close()


def open_server(app: WsgiApp, config: Config, *, port: int | None = None, ident: str,
                connection_limit: int = 100, tls_threads: int = CHEROOT_THREADS) -> Server:
    """Bind ``web.host``:``port`` (default ``web.port``) for ``app``: https when configured
    (cheroot with ``tls_threads`` workers).

    ``PortUnavailable`` (one line) when the port cannot be taken; a missing or wrong
    certificate is one line naming its key (``gateway.tls``).
    """
    port = port or config.web.port
    if not tls_enabled(config):
        return _plain(app, config, port, ident, connection_limit)
    return _tls(app, config, port, ident, tls_threads)


def _plain(app: WsgiApp, config: Config, port: int, ident: str, connection_limit: int) -> Server:
    import waitress

    try:
        server = waitress.create_server(app, host=config.web.host, port=port, threads=WAITRESS_THREADS, ident=ident,
                                        connection_limit=connection_limit)
    except OSError as exc:
        raise port_problem(config.web.host, port, "web.port", exc) from None
    return Server(server.run, server.close, url_of(config, "http", getattr(server, "effective_port", port)))


def _tls(app: WsgiApp, config: Config, port: int, ident: str, threads: int) -> Server:
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    from gateway import tls

    context = tls.server_context(config)  # a missing or wrong file: one line naming the key
    server = wsgi.Server((config.web.host, port), app, numthreads=threads, server_name=ident)
    adapter = BuiltinSSLAdapter(config.web.tls_cert, config.web.tls_key)
    adapter.context = context
    server.ssl_adapter = adapter
    try:
        server.prepare()
    except OSError as exc:
        raise port_problem(config.web.host, port, "web.port", exc) from None
    redirect = None
    if config.web.http_redirect_port:
        redirect = wsgi.Server((config.web.host, config.web.http_redirect_port), redirect_app(config, port),
                               numthreads=REDIRECT_THREADS, server_name=ident)
        try:
            redirect.prepare()
        except OSError as exc:
            server.stop()
            raise port_problem(config.web.host, config.web.http_redirect_port, "web.http_redirect_port",
                               exc) from None

    def run() -> None:
        try:
            if redirect is not None:
                threading.Thread(target=redirect.serve, name="http-redirect", daemon=True).start()
            server.serve()
        finally:
            close()

    def close() -> None:
        if redirect is not None:
            redirect.stop()
        server.stop()

    note = (f" (http on port {config.web.http_redirect_port} redirects there)"
            if config.web.http_redirect_port else "")
    return Server(run, close, url_of(config, "https", port), note)


def redirect_app(config: Config, port: int | None = None) -> Callable[[dict, Callable], Iterable[bytes]]:
    """A WSGI app that sends every plain-http request to https, and serves the CA at ``/ca.crt``."""
    from gateway import tls

    port = port or config.web.port
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
