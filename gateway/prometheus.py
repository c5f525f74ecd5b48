"""``GET /metrics`` for the hub and the gateway: Prometheus text made by ``prometheus_client``
(its registry and exposition, not by hand), behind a bearer token of its own.

Empty token: no ``/metrics`` at all (404), so a post that never set one shows nothing. A
request without the right ``Authorization: Bearer`` is 401. Each scrape builds a fresh
registry around a collector that reads the database then, so nothing is kept in memory
between scrapes and two apps in one process (the tests) never share series.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Response


def authorised(header: str, token: str) -> bool:
    """Whether ``Authorization: <header>`` carries ``token`` (constant-time)."""
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"),
                                                                               token.encode("utf-8"))


def answer(token: str, header: str, collector: Any) -> Response:
    """The scrape's answer: 404 without a token configured, 401 without it given, else the text."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if not token:
        return Response("metrics are off: set the metrics_token key\n", status=404, mimetype="text/plain")
    if not authorised(header, token):
        response = Response("unauthorized: Authorization: Bearer <metrics_token>\n", status=401,
                            mimetype="text/plain")
        response.headers["WWW-Authenticate"] = 'Bearer realm="tinbao-metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    response = Response(generate_latest(registry), status=200)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
