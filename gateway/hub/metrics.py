"""The hub's ``/metrics``: one series per gateway and figure, from each post's newest heartbeat
and the one judgement (``gateway.hub.fleet``), for the province's Prometheus.

``tinbao_gateway_up{gateway="cl"}`` is 1 when the post was heard within ``hub.silent_minutes``;
``tinbao_gateway_last_heard_seconds``, ``tinbao_gateway_sim_balance_vnd``,
``tinbao_gateway_queue{queue}``, ``tinbao_gateway_alerts`` and a few more follow DESIGN.md
(Fleet). ``gateway`` is the gateway's id; ``tinbao_gateway_info`` carries the hub's name for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response

from gateway import prometheus
from gateway.config import Config
from gateway.hub import fleet
from gateway.storage import ThreadLocalDb


class FleetCollector:
    """Reads the fleet once per scrape (``prometheus_client``'s custom collector)."""

    def __init__(self, config: Config, dbs: ThreadLocalDb, now: datetime) -> None:
        self.config = config
        self.dbs = dbs
        self.now = now

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        hub = self.config.hub
        posts = fleet.posts(self.dbs.get(), hub.gateways, hub.names, self.now, hub.silent_minutes)
        up = GaugeMetricFamily("tinbao_gateway_up", "1 when the gateway was heard within hub.silent_minutes",
                               labels=["gateway"])
        info = GaugeMetricFamily("tinbao_gateway_info", "the hub's name for the gateway and its version",
                                 labels=["gateway", "name", "version"])
        state = GaugeMetricFamily("tinbao_gateway_state", "1 for the gateway's state now (ok, warning, fault,"
                                  " silent)", labels=["gateway", "state"])
        heard = GaugeMetricFamily("tinbao_gateway_last_heard_seconds", "seconds since the gateway was last heard",
                                  labels=["gateway"])
        balance = GaugeMetricFamily("tinbao_gateway_sim_balance_vnd", "the SIM's credit, VND, as last read",
                                    labels=["gateway"])
        queue = GaugeMetricFamily("tinbao_gateway_queue", "rows waiting in each queue", labels=["gateway", "queue"])
        alerts = GaugeMetricFamily("tinbao_gateway_alerts", "alerts standing on the gateway's dashboard",
                                   labels=["gateway"])
        signal = GaugeMetricFamily("tinbao_gateway_signal_csq", "the modem's signal (CSQ 0-31)", labels=["gateway"])
        free = GaugeMetricFamily("tinbao_gateway_storage_free_bytes", "free space where the database lives",
                                 labels=["gateway"])
        backup = GaugeMetricFamily("tinbao_gateway_backup_age_seconds", "age of the last backup", labels=["gateway"])
        counted = dict.fromkeys(fleet.STATES, 0)
        for post in posts:
            gid, st = post.gateway_id, post.state
            counted[post.judgement.state] += 1
            up.add_metric([gid], 0 if post.judgement.state == "silent" else 1)
            info.add_metric([gid, post.name, fleet.dig(st, "version", kind=str) or ""], 1)
            for name in fleet.STATES:
                state.add_metric([gid, name], 1 if post.judgement.state == name else 0)
            if post.beat is not None:
                heard.add_metric([gid], (self.now - datetime.fromisoformat(post.beat["heard_at"])).total_seconds())
            for family, path in ((balance, ("sim", "balance_vnd")), (signal, ("modem", "signal")),
                                 (free, ("storage", "free_bytes")), (backup, ("backup", "age_seconds"))):
                value = fleet.dig(st, *path)
                if value is not None:
                    family.add_metric([gid], value)
            queues = st.get("queues")
            for name, value in (queues.items() if isinstance(queues, dict) else ()):
                if isinstance(value, int) and not isinstance(value, bool):
                    queue.add_metric([gid, str(name)[:40]], value)
            if post.beat is not None:
                alerts.add_metric([gid], len(fleet.alerts_of(st)))
        yield from (up, info, state, heard, balance, queue, alerts, signal, free, backup)
        posts_by_state = GaugeMetricFamily("tinbao_hub_gateways", "gateways in each state", labels=["state"])
        for name, n in counted.items():
            posts_by_state.add_metric([name], n)
        yield posts_by_state


def answer(config: Config, dbs: ThreadLocalDb, now: datetime, header: str) -> Response:
    return prometheus.answer(config.hub.metrics_token, header, FleetCollector(config, dbs, now))
