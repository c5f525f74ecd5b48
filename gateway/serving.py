"""Serving a page with waitress: the port taken before anything starts, and a port already in
use said in one line (``tinbao: web.port 8080 on 127.0.0.1 is already in use ...``), never a
traceback. The gateway (``gateway.service``) and the hub (``gateway.hub.server``) both listen
through ``listen``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from typing import Any

from gateway.errors import ConfigError

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


def listen(app: WsgiApp, host: str, port: int, *, key: str, env: str, threads: int, ident: str,
           connection_limit: int = 100) -> Any:
    """waitress's server bound to ``host:port`` (not yet serving: call ``.run()``), or
    ``PortUnavailable`` with one line naming the config key and what to do."""
    import waitress

    try:
        return waitress.create_server(app, host=host, port=port, threads=threads, ident=ident,
                                      connection_limit=connection_limit)
    except OSError as exc:
        where = f"config key {key} ({port} on {host})"
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"{where}: the port is already in use (another TinBao or another program"
                                  f" listens there): stop it, or choose a free port ({env}=...)") from None
        if exc.errno == errno.EACCES:
            raise PortUnavailable(f"{where}: not allowed to listen there (ports below 1024 need root):"
                                  f" choose a port above 1024 ({env}=...)") from None
        if exc.errno in (errno.EADDRNOTAVAIL, getattr(errno, "EAI_NONAME", -2)):
            raise PortUnavailable(f"{where}: this machine has no such address (check web.host)") from None
        raise PortUnavailable(f"{where}: cannot listen ({exc.strerror or exc})") from None
