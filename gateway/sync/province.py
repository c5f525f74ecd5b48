"""What the province sends down: its warnings and campaigns, by the sync pull or by USB file.

Online (DESIGN.md): ``GET {hub.url}/api/v1/warnings?since=N`` and
``GET {hub.url}/api/v1/campaigns?since=N`` with the gateway's bearer token, after each pull
of the hub's tip decisions (``DistrictLane``, every ``sync.pull_interval``). Each answers
``{"warnings"|"campaigns": [...], "last_seq": M, "hub": name}``; the items are kept by their
owners (``gateway.broadcasts.province``, ``gateway.broadcasts.campaigns``) and the cursor
(``state`` ``sync_province_warnings_cursor`` / ``..._campaigns_cursor``) moves in the same
transaction, so an answer lost by a crash is asked again and taken once.

Offline: the hub writes a file for one post (``python app.py hub export-province GATEWAY FILE``
or its page); ``python app.py import-province FILE`` (or the page's upload) takes it in. The file
is signed with that gateway's token like the tips files (``gateway.sync.sneakernet``'s
``sign``/``verify``): a file for another post, or altered on the way, is refused. It holds every
warning and every campaign for the post; taking it twice, or after the same items came online,
changes nothing (each item is kept by its version or change number).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from gateway import state
from gateway.broadcasts import campaigns, province
from gateway.clock import Clock
from gateway.config import Config
from gateway.database import prepare_gateway
from gateway.storage import open_db, write_transaction
from gateway.sync.district import DistrictClient
from gateway.sync.http import BadAnswer
from gateway.sync.sneakernet import PROVINCE_FORMAT, SneakernetError, read_document, verify

log = logging.getLogger(__name__)

WARNINGS_CURSOR = "sync_province_warnings_cursor"
CAMPAIGNS_CURSOR = "sync_province_campaigns_cursor"
PULL_LIMIT = 200
HUB_NAME_MAX = 120


@dataclass
class Received:
    """How many warnings and campaigns changed something here."""

    warnings: int = 0
    campaigns: int = 0


def _cursor(db: Database, key: str) -> int:
    value = state.get(db, key)
    return int(value) if value is not None and value.isdigit() else 0


def _hub_name(value: Any, config: Config) -> str:
    return value.strip()[:HUB_NAME_MAX] if isinstance(value, str) and value.strip() else config.hub.level


def _take_warnings(db: Database, config: Config, items: list[Any], now: datetime, via: str, hub: str) -> int:
    applied = province.apply(db, items, now, via=via, auto_accept=config.broadcasts.accept_province, hub_name=hub)
    for problem in applied.refused:
        log.warning("a province warning was refused: %s", problem)
    if applied.count:
        log.info("province warnings: %d new, %d changed (%s)", len(applied.new), len(applied.changed), via)
    return applied.count


def _take_campaigns(db: Database, config: Config, items: list[Any], now: datetime, via: str, hub: str) -> int:
    changed = campaigns.apply(db, items, now, via=via, tz=config.timezone, hub_name=hub)
    if changed:
        log.info("province campaigns received or changed: %s (%s)", changed, via)
    return len(changed)


def pull(client: DistrictClient, db: Database, config: Config, clock: Clock) -> Received:
    """Fetch and keep the province's new warnings and campaigns since the cursors."""
    return Received(
        _pull(client, db, config, clock, "/api/v1/warnings", "warnings", WARNINGS_CURSOR, _take_warnings),
        _pull(client, db, config, clock, "/api/v1/campaigns", "campaigns", CAMPAIGNS_CURSOR, _take_campaigns),
    )


def _pull(client: DistrictClient, db: Database, config: Config, clock: Clock, path: str, key: str,
          cursor_key: str, take) -> int:
    taken = 0
    while True:
        since = _cursor(db, cursor_key)
        answer = client.get(path, {"since": str(since), "limit": str(PULL_LIMIT)})
        if answer is None:
            return taken  # an older hub: no province warnings there yet
        items = answer.get(key) if isinstance(answer, dict) else None
        last_seq = answer.get("last_seq") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not isinstance(last_seq, int) or isinstance(last_seq, bool):
            raise BadAnswer(f"the hub's {key} answer is not what was expected")
        if last_seq <= since:
            return taken
        now = clock.now()
        with write_transaction(db):
            taken += take(db, config, items, now, "sync", _hub_name(answer.get("hub"), config))
            state.put(db, cursor_key, str(last_seq), now)
        if len(items) < PULL_LIMIT:
            return taken


# -- the USB file -------------------------------------------------------------------------------

def read_file(path: str | Path, config: Config) -> dict[str, Any]:
    """The verified contents of a province file for this gateway, or ``SneakernetError``."""
    document, _raw = read_document(path, kind=PROVINCE_FORMAT, items="warnings")
    if not config.hub.token:
        raise SneakernetError("hub.token is not set: the file's signature cannot be checked")
    payload = verify(document, config.hub.token)
    if payload["gateway_id"] != config.gateway.id:
        raise SneakernetError(f"{path} was written for gateway {payload['gateway_id'][:16]!r},"
                              f" not this one ({config.gateway.id!r})")
    if not isinstance(payload.get("campaigns"), list):
        raise SneakernetError(f"{path}: campaigns missing")
    return payload


def import_file(db: Database, config: Config, path: str | Path, now: datetime) -> Received:
    """Take a province file in (one transaction): its warnings and campaigns, each once."""
    payload = read_file(path, config)
    hub = _hub_name(payload.get("hub"), config)
    with write_transaction(db):
        return Received(_take_warnings(db, config, payload["warnings"], now, "usb", hub),
                        _take_campaigns(db, config, payload["campaigns"], now, "usb", hub))


def import_command(config: Config, args: Any) -> int:
    """``python app.py import-province FILE``: 0 when taken in, 1 with one clear line if not."""
    prepare_gateway(config.storage_path)
    db = open_db(config.storage_path)
    try:
        got = import_file(db, config, args.file, Clock().now())
    except SneakernetError as exc:
        line = f"tinbao: tệp {args.file} bị từ chối: {exc}".encode("utf-8", "replace").decode("utf-8")
        print(line, file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"Đã nhập {args.file}: {got.warnings} cảnh báo mới hoặc đã sửa, {got.campaigns} chiến dịch mới hoặc"
          f" thay đổi. / {got.warnings} warnings and {got.campaigns} campaigns new or changed.")
    return 0
