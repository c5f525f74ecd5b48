"""Which tables each database file holds, and that a file made before each table had one owner
still opens: the gateway's file has every table it had, the hub's only its own.

``shape`` reads a file's schema the way SQLite sees it (columns, keys, indexes, triggers), not
the text of its CREATE statements: a column the old code added by ALTER TABLE and one the
core now creates in place are the same column.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SCHEMA_SNAPSHOT as LAYOUT_SQL

from gateway import state
from gateway.database import prepare_gateway, prepare_hub
from gateway.storage import open_db, write_transaction

ROOT = Path(__file__).resolve().parent.parent

# Every table a gateway's file held at e9f0415, the FTS5 index's own tables included.
GATEWAY_TABLES = sorted([
    "_sqlite_migrations",
    "pdus", "parts", "inbox", "outbox", "outbox_parts", "sessions",
    "tips", "tip_history", "tip_notes",
    "tips_fts", "tips_fts_config", "tips_fts_data", "tips_fts_docsize", "tips_fts_idx",
    "state",
    "users", "audit_log", "login_attempts",
    "menu_versions",
    "sync_queue", "zalo_deliveries", "zalo_tokens", "sync_exports",
    "subscribers", "subscriber_groups", "subscriber_group_members",
    "broadcasts", "broadcast_groups", "broadcast_runs", "broadcast_deliveries",
    "duty_roster",
])
# Made by migrations added since e9f0415 (a new table; ALTER TABLE appends columns at the end).
SIM_TABLES = ["sim_identity", "sim_balance", "sim_loop_tests", "sim_notices", "calls", "sim_holds"]  # tinbao-sim
SIM_INDEXES = ["sim_identity_modem", "sim_balance_status", "sim_loop_tests_status", "calls_status", "calls_number",
               "sim_holds_broadcast"]
CONSENT = {("table", "consent_ledger"), ("index", "consent_ledger_number"), ("index", "consent_ledger_subscriber"),
           ("trigger", "consent_ledger_append_only"), ("trigger", "consent_ledger_no_delete"),
           ("table", "invitations"), ("index", "invitations_status"), ("index", "invitations_queued")}  # broadcasts
PROVINCE = {("table", "province_warnings"), ("index", "province_warnings_status"),
            ("table", "province_campaigns"), ("index", "province_campaigns_status")}  # issue 16
ADDED_SINCE = {("table", "zalo_officers"), ("index", "duty_roster_zalo"), *CONSENT, *PROVINCE,
               *(("table", name) for name in SIM_TABLES), *(("index", name) for name in SIM_INDEXES),
               ("table", "data_requests"), ("index", "data_requests_status")}
GATEWAY_TABLES_NOW = sorted([*GATEWAY_TABLES, "zalo_officers", "consent_ledger", "invitations", *SIM_TABLES,
                             "data_requests", "province_warnings", "province_campaigns"])

# Columns added by migrations after e9f0415, in order: a fresh file must equal the layout plus these.
HUB_TABLES = sorted([
    "_sqlite_migrations",
    "hub_tips", "hub_changes", "hub_events", "hub_imports", "hub_refusals",
    "hub_heartbeats", "hub_fleet_hours",
    "hub_warnings", "hub_campaigns", "hub_campaign_communes", "hub_campaign_progress",
    "users", "audit_log", "login_attempts",
    "state",
])


def _words(sql: str) -> str:
    return " ".join(sql.split())


def shape(path: Path) -> dict[tuple[str, str], object]:
    """The schema of a file, comparable whatever order and wording made it."""
    db = sqlite3.connect(path)
    try:
        found: dict[tuple[str, str], object] = {}
        objects = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall()
        for kind, name, table, sql in objects:
            if name.startswith("sqlite_"):
                continue  # SQLite's own (autoindexes show up in the table's index list)
            if kind == "table":
                found[(kind, name)] = (
                    db.execute("SELECT type, ncol, wr, strict FROM pragma_table_list WHERE name = ?",
                               [name]).fetchall(),
                    db.execute("SELECT * FROM pragma_table_xinfo(?)", [name]).fetchall(),
                    sorted(db.execute("SELECT * FROM pragma_foreign_key_list(?)", [name]).fetchall()),
                    sorted((index, unique, origin, partial, db.execute(
                        "SELECT * FROM pragma_index_xinfo(?)", [index]).fetchall())
                        for _, index, unique, origin, partial in db.execute(
                            "SELECT * FROM pragma_index_list(?)", [name]).fetchall()),
                )
            else:  # an index or a trigger: its statement says all (a partial index's WHERE too)
                found[(kind, name)] = (table, _words(sql))
        return found
    finally:
        db.close()


def tables(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return sorted(row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"))
    finally:
        db.close()


def migration_records(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.fixture
def layout_db(tmp_path: Path) -> Path:
    """A gateway database as commit e9f0415 made it (see the .sql file's header)."""
    path = tmp_path / "layout.db"
    db = sqlite3.connect(path)
    try:
        db.executescript(LAYOUT_SQL.read_text(encoding="utf-8"))
    finally:
        db.close()
    return path


# What later migrations added to the tables of e9f0415 (columns at the end of their table, indexes).
ADDED_COLUMNS = {"tips": ["confirmation", "hold_reason", "held_at", "held_by", "number_detached_at",
                          "text_purged_at", "hub_status", "hub_status_at", "hub_status_by"],
                 "inbox": ["next_attempt_at"], "sessions": ["touched_at"], "subscribers": ["consent_id"]}
ADDED_INDEXES = {("index", "tips_to_confirm"), ("index", "tips_closed"), ("index", "tips_tipster")}


def test_a_fresh_gateway_database_has_every_table_and_index_it_had(tmp_path, layout_db):
    path = tmp_path / "fresh.db"
    prepare_gateway(path)
    assert tables(path) == GATEWAY_TABLES_NOW
    before, now = shape(layout_db), shape(path)
    assert set(now) - set(before) == ADDED_SINCE | ADDED_INDEXES and set(before) <= set(now)
    for key in before:
        if key[0] != "table" or now[key] == before[key]:
            assert now[key] == before[key], key
            continue
        (_, old_columns, old_keys, old_indexes), (_, columns, keys, indexes) = before[key], now[key]
        assert columns[:len(old_columns)] == old_columns, key  # columns only added, at the end
        if key[1] in ADDED_COLUMNS:
            assert [c[1] for c in columns[len(old_columns):]] == ADDED_COLUMNS[key[1]], key
        assert keys == old_keys and set(map(repr, old_indexes)) <= set(map(repr, indexes)), key


def test_a_database_made_before_opens_and_works(tmp_path, layout_db):
    fresh = tmp_path / "fresh.db"
    prepare_gateway(fresh)
    prepare_gateway(layout_db)
    prepare_gateway(layout_db)  # and again: nothing left to apply
    assert shape(layout_db) == shape(fresh)
    records = migration_records(layout_db)
    assert len(records) == len(set(records))
    # The sets it had stay recorded; the new ones (state, duty) are recorded, their tables kept.
    assert ("tinbao-web-work", "m001_tip_work") in records
    assert {("tinbao-state", "m001_state"), ("tinbao-duty", "m001_duty_roster")} <= set(records)

    db = open_db(layout_db)
    try:
        now = datetime(2026, 11, 29, 3, 40, tzinfo=UTC)
        tip = {"reference": "CL-0001", "uid": "cl-1", "received_at": now.isoformat(),
               "tipster": "+84900000001", "text": "Có người lạ ở đầu làng", "village": "Đồng Tâm"}
        db.execute(f"INSERT INTO tips ({', '.join(tip)}) VALUES ({', '.join('?' * len(tip))})", list(tip.values()))
        assert db.execute("SELECT rowid FROM tips_fts WHERE tips_fts MATCH 'dong'").fetchall() == [(1,)]
        state.put_json(db, "modem", {"state": "connected"}, now)
        assert state.get_json(db, "modem") == {"state": "connected"}
    finally:
        db.close()


def test_the_hub_database_holds_only_hub_tables(tmp_path):
    path = tmp_path / "hub.db"
    prepare_hub(path)
    prepare_hub(path)
    assert tables(path) == HUB_TABLES


def test_an_old_hub_database_still_opens(tmp_path, layout_db):
    """A hub file made before held every gateway table too; they stay, nothing fails."""
    prepare_hub(layout_db)
    assert set(HUB_TABLES) <= set(tables(layout_db))


def test_storage_imports_no_area():
    code = ("import sys, gateway.storage; "
            "print(sorted(m for m in sys.modules if m.startswith('gateway.') and m != 'gateway.storage'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_state_keeps_one_value_per_key(db_path):
    db = open_db(db_path)
    try:
        assert state.get(db, "sync_district_cursor") is None
        assert state.get_json(db, "sync") is None
        state.put(db, "sync_district_cursor", "42")
        state.put(db, "sync_district_cursor", "43")
        assert state.get(db, "sync_district_cursor") == "43"
        state.put_json(db, "sync", {"zalo": {"state": "ok", "error": "lỗi"}})
        assert state.get_json(db, "sync") == {"zalo": {"state": "ok", "error": "lỗi"}}
        assert "lỗi" in state.get(db, "sync")  # accents kept as they are
        state.put(db, "sync", "[1, 2]")
        assert state.get_json(db, "sync") is None  # not an object
        assert state.put_if_absent(db, "web_secret_key", "first") == "first"
        assert state.put_if_absent(db, "web_secret_key", "second") == "first"
        with pytest.raises(RuntimeError), write_transaction(db):
            state.put(db, "sync_district_cursor", "99")  # inside a transaction: part of it
            raise RuntimeError("rolled back")
        assert state.get(db, "sync_district_cursor") == "43"
    finally:
        db.close()
