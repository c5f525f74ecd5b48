"""The gateway's own ``GET /metrics`` on its page port, for a province's Prometheus that can
reach the post: the same figures as ``/healthz`` (``gateway.health.state``) in the Prometheus
text format (``gateway.prometheus``: ``prometheus_client``, its own bearer token
``web.metrics_token``). Off (404) while the token is empty, as shipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, request

from gateway import prometheus
from gateway.web import health_state
from gateway.web.auth import public
from gateway.web.nav import register_area
from gateway.web.services import current_config

bp = Blueprint("metrics", __name__)

MODEM_STATES = ("connected", "connecting", "error", "unplugged", "stopped", "unknown", "not_started")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class GatewayCollector:
    """One scrape: the health state read once, one series per figure."""

    def __init__(self, state: dict[str, Any], healthy: bool) -> None:
        self.state = state
        self.healthy = healthy

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        st = self.state
        healthy = GaugeMetricFamily("tinbao_healthy", "1 when /healthz answers 200 (modem connected, database"
                                    " read and written)")
        healthy.add_metric([], 1 if self.healthy else 0)
        modem = GaugeMetricFamily("tinbao_modem_state", "1 for the modem's state now", labels=["state"])
        for name in MODEM_STATES:
            modem.add_metric([name], 1 if st["modem"]["state"] == name else 0)
        queue = GaugeMetricFamily("tinbao_queue", "rows waiting in each queue", labels=["queue"])
        for name, value in st["queues"].items():
            if _number(value) is not None:
                queue.add_metric([name], value)
        yield from (healthy, modem, queue)
        for name, what, value in (
            ("tinbao_modem_signal_csq", "the modem's signal (CSQ 0-31)", st["modem"]["signal"]),
            ("tinbao_modem_registered", "1 when the modem is registered on the network",
             int(st["modem"]["registered"] is True)),
            ("tinbao_storage_writable", "1 while the database can be written", int(st["storage"]["writable"])),
            ("tinbao_storage_free_bytes", "free space where the database lives", st["storage"]["free_bytes"]),
            ("tinbao_backup_age_seconds", "age of the last backup", st["backup"]["age_seconds"]),
            ("tinbao_clock_trusted", "1 when the clock is trusted", int(st["clock"]["trusted"] is True)),
            ("tinbao_clock_offset_seconds", "the Pi's clock against the network's", st["clock"]["offset_seconds"]),
            ("tinbao_uptime_seconds", "seconds since the gateway started", st["uptime_seconds"]),
            ("tinbao_sim_balance_vnd", "the SIM's credit, VND, as last read",
             (st.get("sim") or {}).get("balance_vnd") if isinstance(st.get("sim"), dict) else None),
        ):
            if _number(value) is not None:
                family = GaugeMetricFamily(name, what)
                family.add_metric([], value)
                yield family


@bp.get("/metrics")
@public
def scrape() -> Response:
    token = current_config().web.metrics_token
    if not token:  # off: say nothing more than "no such page", and read nothing
        return prometheus.answer(token, "", None)
    if not prometheus.authorised(request.headers.get("Authorization", ""), token):
        return prometheus.answer(token, "", None)
    state, healthy = health_state.current()
    return prometheus.answer(token, request.headers.get("Authorization", ""), GatewayCollector(state, healthy))


def register(app: Flask) -> None:
    register_area(app, bp)  # no menu entry: a machine's door
