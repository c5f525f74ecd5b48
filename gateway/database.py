"""Which tables a file holds: the migration sets of a gateway's file and of a hub's file.

This is schema, not wiring: the gateway, the sync command, the USB export, the dry-run
sandbox, the hub and the tests all make their files here. It imports the schema modules and
``storage.prepare`` only, so any module may import it without loading a worker or Flask.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils.migrations import Migrations

from gateway import schema, state
from gateway.accounts import schema as accounts_schema
from gateway.broadcasts import schema as broadcasts_schema
from gateway.duty import schema as duty_schema
from gateway.hub import schema as hub_schema
from gateway.menus import schema as menus_schema
from gateway.sim import schema as sim_schema
from gateway.storage import prepare
from gateway.sync import schema as sync_schema


def gateway_migrations() -> list[Migrations]:
    """Every table a gateway's file holds: the core's set first, then each area's, in a fixed order."""
    return [
        schema.migrations, state.migrations, accounts_schema.migrations, menus_schema.migrations,
        sync_schema.migrations, broadcasts_schema.migrations, duty_schema.migrations, sim_schema.migrations,
    ]


def hub_migrations() -> list[Migrations]:
    """Every table the hub's file holds: ``state`` (its secret), accounts for hub logins, its own."""
    return [state.migrations, accounts_schema.migrations, hub_schema.migrations]


def prepare_gateway(path: str | Path) -> None:
    """Make or bring up to date a gateway's database file (WAL, every area's tables)."""
    prepare(path, gateway_migrations())


def prepare_hub(path: str | Path) -> None:
    """Make or bring up to date the hub's database file: hub tables only, no gateway table."""
    prepare(path, hub_migrations())
