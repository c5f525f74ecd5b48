"""Keywords answered in code: each handler declares its own, the router reserves them from the
handlers it is given, and a saved menus version that uses one stays in use with a dashboard
alert (never a silent fall back to an older version or the shipped files)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import login_client, make_config

from gateway import doctor, simulation
from gateway.broadcasts.subscriptions import SubscriptionHandler
from gateway.database import prepare_gateway
from gateway.menus import versions as menu_versions
from gateway.router import Router, reserved_keywords
from gateway.service import Gateway
from gateway.storage import open_db

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SAVED_CCCD = "CĂN CƯỚC (bản đã lưu): làm tại Công an xã sáng thứ Bảy."


class Weather:
    """A handler a later version might add: its keyword is reserved by adding it, nothing else."""

    keywords = ("THỜI TIẾT", "DK")

    def handle(self, db, number, text, inbox_id, now):
        return None


def test_the_reserved_set_is_computed_from_the_handlers_keywords(tmp_path):
    assert reserved_keywords([Weather()]) == ("THỜI TIẾT", "DK")
    assert reserved_keywords([SubscriptionHandler(None), Weather()])[-1] == "THỜI TIẾT"  # each word once
    config = make_config(tmp_path)
    gateway = Gateway(config)
    try:
        router = gateway.router
        assert router.reserved == reserved_keywords(router.handlers)
        assert {"DK", "TC", "HUY", "STOP"} <= set(router.reserved)
        services = gateway.web_app().extensions["tinbao"]["services"]
        assert services.menus_reserved == router.reserved  # the editor refuses what the router reserves

        wider = Router(router.book, router.settings, handlers=[*router.handlers, Weather()])
        assert "THỜI TIẾT" in wider.reserved
        sources = menu_versions.shipped_sources(config.menus_path)
        sources["vi.toml"]["menu"]["1"]["3"]["keywords"].append("Thoi tiet")
        menu_versions.check(sources, **menu_versions.book_options(config, router.reserved))  # not reserved yet
        with pytest.raises(menu_versions.MenuError, match="reserved by the router"):
            menu_versions.check(sources, **menu_versions.book_options(config, wider.reserved))
    finally:
        gateway.stop()


def test_a_saved_version_using_a_reserved_keyword_stays_in_use_with_a_dashboard_alert(tmp_path):
    config = make_config(tmp_path)
    prepare_gateway(config.storage_path)
    sources = menu_versions.shipped_sources(config.menus_path)
    item = sources["vi.toml"]["menu"]["1"]["3"]
    item["keywords"].append("TC")  # as a gateway that did not reserve it yet let an admin save
    item["text"] = SAVED_CCCD
    db = open_db(config.storage_path)
    try:
        assert menu_versions.save(db, sources, "an", "").version == 1
    finally:
        db.close()

    gateway = Gateway(config)
    sandbox = simulation.DryRun(tmp_path / "sandbox.db", gateway.router.settings, lambda: gateway.router.book,
                                handlers=gateway.router.handlers)
    try:
        # The saved version answers (the post's own texts), not an older one or the shipped files.
        assert gateway.router.book.respond("CCCD", None, NOW).reply == SAVED_CCCD
        # "TC" is the subscriptions handler's: the router asks it first.
        assert sandbox.send("0912345678", "TC", NOW).handler == "unsubscribe (never subscribed)"
        assert sandbox.send("0912345678", "CCCD", NOW).replies[0].text.startswith("CAN CUOC (ban da luu)")

        app = gateway.web_app()
        app.testing = True
        client = app.test_client()
        login_client(client, config.storage_path, "viewer")
        alerts = {a["key"]: a for a in client.get("/api/dashboard").get_json()["alerts"]}
        clash = alerts["menus_clash"]
        assert clash["tone"] == "bad" and "#1" in clash["text"] and "TC" in clash["text"]
        assert clash["url"] == "/menus/"
        assert "menus_skipped" not in alerts
        html = client.get("/").get_data(as_text=True)
        assert 'data-key="menus_clash"' in html
        with open_db(config.storage_path) as db:  # python app.py doctor says it too, with the fix
            said = doctor.check_menus_in_use(config, db)
        assert not said.ok and "version #1 uses TC" in said.found and "/menus/" in said.fix, said

        # An admin saves menus without the clash: the alert goes.
        item["keywords"].remove("TC")
        with open_db(config.storage_path) as db:
            menu_versions.save(db, sources, "an", "", **menu_versions.book_options(config, gateway.router.reserved))
        alerts = {a["key"] for a in client.get("/api/dashboard").get_json()["alerts"]}
        assert "menus_clash" not in alerts
        with open_db(config.storage_path) as db:
            assert doctor.check_menus_in_use(config, db) == doctor.Check("menus in use", True, "version #2")
    finally:
        sandbox.close()
        gateway.stop()
