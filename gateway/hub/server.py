"""``python app.py hub`` (run the hub; ``district`` is an alias) and ``python app.py import-tips FILE`` (USB files).

The hub keeps its own database: ``storage.path``, or ``data/hub.db`` while ``storage.path``
is still the gateway's default, so a hub started next to a gateway never shares its file.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.clock import Clock
from gateway.config import SCHEMA, Config
from gateway.database import prepare_hub
from gateway.hub import fleet, province_file, store
from gateway.storage import ThreadLocalDb, open_db
from gateway.sync.sneakernet import SneakernetError, TamperedFile, open_file, verify, write_file

log = logging.getLogger(__name__)

HUB_DEFAULT_PATH = Path("data/hub.db")
HUB_DEFAULT_PORT = 8090  # so a hub runs beside a gateway (8080) on one machine
HUB_CONNECTIONS = 1000  # open connections waitress keeps (its default is 100)


def hub_db_path(config: Config) -> Path:
    if config.storage.path == SCHEMA["storage"]["path"].default:
        return HUB_DEFAULT_PATH
    return config.storage_path


def hub_port(config: Config) -> int:
    """The hub's port: ``web.port``, or 8090 while ``web.port`` is the gateway's default (8080)."""
    if config.web.port == SCHEMA["web"]["port"].default:
        return HUB_DEFAULT_PORT
    return config.web.port


def hub_command(config: Config, args: Any = None) -> int:
    """``python app.py hub`` serves the hub; ``python app.py hub create-user NAME --role ROLE``
    makes an account in the hub's own database (not the gateway's); ``python app.py hub
    export-province GATEWAY FILE`` writes the province's file for a post without internet."""
    if getattr(args, "hub_command", None) == "create-user":
        return create_user_command(config, args)
    if getattr(args, "hub_command", None) == "export-province":
        return export_province_command(config, args)
    return run_command(config, args)


def create_user_command(config: Config, args: Any) -> int:
    """An account in the hub's file (``hub_db_path``), made complete with the hub's tables."""
    from gateway.accounts import users

    path = hub_db_path(config)
    return users.create_user_command(config, args, path=path, prepare_file=prepare_hub)


def run_command(config: Config, args: Any = None) -> int:
    """Serve the hub (API and page) until interrupted, on ``hub_port`` (``gateway.web.serving``:
    https when configured)."""
    from gateway.background import limit_malloc_arenas
    from gateway.hub.app import create_hub_app
    from gateway.web import serving

    limit_malloc_arenas()  # before waitress's threads start (why: gateway.background)
    path = hub_db_path(config)
    page = serving.LateApp()
    # The port first: one in use is one line (gateway.web.serving), before the database is
    # touched. A province's hundred-odd posts each keep a connection open while they sync:
    # waitress's default of 100 connections would leave the rest waiting at the door.
    server = serving.open_server(page, config, port=hub_port(config), ident="TinBao-hub",
                                 connection_limit=HUB_CONNECTIONS, tls_threads=serving.HUB_CHEROOT_THREADS)
    try:
        prepare_hub(path)
        if not config.hub.gateways:
            log.warning("hub.gateways is empty: no gateway can send tips (TINBAO_HUB_GATEWAYS=\"cl:token,...\")")
        # fsync on every commit: once the hub answers "accepted", the gateway forgets the tip, so
        # the hub's copy must survive a power cut at the hub too.
        dbs = ThreadLocalDb(path, durable=True)
        page.app = create_hub_app(config, dbs)
        try:
            server.run(f"TinBao {__version__} hub ({config.hub.display_name}; database {path}, "
                       f"{len(config.hub.gateways)} gateways)")
        finally:
            dbs.close_all()
    finally:
        server.close()
    return 0


def import_file(db, config: Config, path: str | Path, now) -> tuple[str, int, int, list[dict[str, str]]]:
    """Take a signed tips file in. Returns (outcome, tips in file, new tips, rejected).

    outcome is ``imported`` or ``already`` (the same file was imported before: nothing
    changes). Raises ``SneakernetError`` / ``TamperedFile`` with a clear reason.
    """
    try:
        opened = open_file(path, config.hub.gateways)  # a sealed file opens only with its gateway's token
    except TamperedFile as exc:
        store.log_event(db, "import_refused", now, detail=f"{path}: {exc}")
        raise
    document, raw = opened.document, opened.raw
    gateway_id = document["gateway_id"]
    key = config.hub.gateways.get(gateway_id)
    if not key:
        raise SneakernetError(f"gateway {gateway_id!r} is not in hub.gateways: the file cannot be checked")
    try:
        payload = verify(document, key)
    except TamperedFile as exc:
        store.log_event(db, "import_refused", now, gateway_id=gateway_id, detail=f"{path}: {exc}")
        raise
    if not opened.was_sealed:
        log.warning("%s is a plain tips file (not sealed: an older gateway wrote it); taking it in. "
                    "Upgrade that gateway so its USB files are sealed", path)
    digest = hashlib.sha256(raw).hexdigest()
    if store.imported_before(db, digest):
        return "already", len(payload["tips"]), 0, []
    result = store.store_batch(db, gateway_id, payload["tips"], source="file", now=now)  # no name believed
    store.note_import(db, digest, gateway_id, str(path), len(payload["tips"]), result.new, now)
    if isinstance(payload.get("heartbeat"), dict):  # the post's state when the file was written
        try:
            fleet.record(db, gateway_id, payload["heartbeat"], source="file", now=now)
        except fleet.BadHeartbeat as exc:
            store.log_event(db, "import", now, gateway_id=gateway_id, detail=f"{Path(path).name}: heartbeat: {exc}")
    store.log_event(db, "import", now, gateway_id=gateway_id,
                    detail=f"{Path(path).name}: {result.new} tin mới / {len(payload['tips'])}")
    return "imported", len(payload["tips"]), result.new, result.rejected


def import_command(config: Config, args: Any) -> int:
    """``python app.py import-tips FILE`` on the hub: 0 when taken in (or already), 1 if refused."""
    path = hub_db_path(config)
    prepare_hub(path)
    db = open_db(path, durable=True)
    try:
        outcome, total, new, rejected = import_file(db, config, args.file, Clock().now())
    except SneakernetError as exc:
        # A name from the stick may not be valid UTF-8: printed with "?" rather than a traceback.
        line = f"tinbao: tệp {args.file} bị từ chối: {exc}".encode("utf-8", "replace").decode("utf-8")
        print(line, file=sys.stderr)
        return 1
    finally:
        db.close()
    if outcome == "already":
        print(f"Tệp {args.file} đã được nhập trước đây: không có gì thay đổi.")
        return 0
    print(f"Đã nhập {args.file}: {new} tin mới, {total - new - len(rejected)} tin đã có sẵn, "
          f"{len(rejected)} tin bị từ chối.")
    for item in rejected[:20]:
        print(f"  bị từ chối {item['uid']}: {item['error']}")
    return 0


def export_province_command(config: Config, args: Any) -> int:
    """``python app.py hub export-province GATEWAY FILE``: the province's warnings and campaigns
    for a post without internet (``gateway.hub.province_file``); 0 when written, 1 with one line if not."""
    path = hub_db_path(config)
    prepare_hub(path)
    db = open_db(path)
    try:
        data = province_file.build(db, config, args.gateway, Clock().now())
        write_file(args.file, data)
    except SneakernetError as exc:
        print(f"tinbao: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"Đã ghi cảnh báo và chiến dịch của tỉnh cho xã {args.gateway} vào {args.file}."
          f" Ở xã: python app.py import-province {args.file}")
    return 0
