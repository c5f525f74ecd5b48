"""The hub's USB file for a post without internet: the province's warnings and campaigns.

``python app.py hub export-province GATEWAY FILE`` (or the download on the hub's campaign
page) writes every province warning and every campaign addressed to that post into one file,
signed with that post's token from ``hub.gateways`` exactly as the posts sign their tips files
(``gateway.sync.sneakernet.sign``; the gateway checks it with ``verify``). A file for another
post, or one altered on the way, is refused by the gateway (``python app.py import-province``).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlite_utils import Database

from gateway.config import Config
from gateway.hub import campaigns, warnings
from gateway.storage import utcnow_iso
from gateway.sync.sneakernet import PROVINCE_FORMAT, VERSION, SneakernetError, sign


def build(db: Database, config: Config, gateway_id: str, now: datetime) -> bytes:
    """The signed file's bytes for ``gateway_id`` (``SneakernetError`` if the hub has no token for it)."""
    token = config.hub.gateways.get(gateway_id)
    if not token:
        raise SneakernetError(f"gateway {gateway_id!r} is not in hub.gateways: the file could not be signed")
    payload = {
        "format": PROVINCE_FORMAT,
        "version": VERSION,
        "gateway_id": gateway_id,
        "hub": config.hub.display_name,
        "written_at": utcnow_iso(now),
        "warnings": [warnings.as_sent(row) for row in warnings.listing(db)],
        "campaigns": campaigns.for_gateway(db, gateway_id),
    }
    return json.dumps(sign(payload, token), ensure_ascii=False, indent=1).encode("utf-8")


def file_name(gateway_id: str, now: datetime) -> str:
    return f"tinbao-tinh-{gateway_id}-{now.strftime('%Y%m%d-%H%M')}.json"
