"""A post for the SIM tests: the gateway on the emulator's pty, its SIM's own number set.

``post`` is a running ``Gateway`` whose emulator (the conftest ``emulator``, in this process)
answers USSD, rings, bars and loops like the SIM of a commune post; ``sim(post)`` is its
``/healthz`` ``sim`` object as the gateway publishes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import make_config, wait_until

from gateway.service import Gateway
from gateway.sim import balance
from gateway.sim import status as sim_status
from gateway.storage import open_db

OWN = "0900000017"  # the post's SIM (obviously fake)
OWN_E164 = "+84900000017"
POST_ENV = {
    "TINBAO_GATEWAY_PHONE_NUMBER": OWN,
    "TINBAO_MODEM_COMMAND_TIMEOUT": "1",  # a USSD session waits at most 3 s here
    "TINBAO_SIM_LOOP_TEST_MINUTES": "0.05",  # 3 s for the loop SMS to come back
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour of the run
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
}


def post_config(tmp_path, **env: str):
    return make_config(tmp_path, TINBAO_MODEM_PORT=str(tmp_path / "modem"), **{**POST_ENV, **env})


def start_post(config) -> Gateway:
    gateway = Gateway(config)
    gateway.start()
    assert wait_until(lambda: gateway.modem.state.state == "connected" and gateway.modem.state.registered, 15)
    assert wait_until(lambda: sim(gateway)["balance_vnd"] is not None, 15), "no credit reading at start"
    if gateway.config.gateway.phone_number:  # the first loop test runs at start: let it finish first
        assert wait_until(lambda: sim(gateway)["loop_test"]["ok"] is not None, 15), "no loop test at start"
    return gateway


@pytest.fixture
def post(tmp_path, emulator) -> Iterator[Gateway]:
    emulator.own_number = OWN_E164
    gateway = start_post(post_config(tmp_path))
    yield gateway
    gateway.stop()


def sim(gateway: Gateway) -> dict[str, Any]:
    with open_db(gateway.config.storage_path) as db:
        return sim_status.read(db, gateway.config, datetime.now(UTC))


def last_reading(gateway: Gateway) -> dict[str, Any] | None:
    with open_db(gateway.config.storage_path) as db:
        return balance.latest(db)


def read_credit(gateway: Gateway, timeout: float = 10) -> dict[str, Any]:
    """Ask for a reading as the page's button does; the reading it made."""
    before = (last_reading(gateway) or {}).get("id", 0)
    gateway.sim.request_balance()
    assert wait_until(lambda: (last_reading(gateway) or {}).get("id", 0) > before, timeout), "no reading came"
    return last_reading(gateway)
