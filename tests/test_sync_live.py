"""A tip by SMS reaches the district hub and every Zalo officer through the whole running gateway."""

from __future__ import annotations

from conftest import make_config, rows, wait_until
from fake_zalo import FakeZalo, HubServer

from gateway.service import Gateway

OFFICERS = ("111", "222")


def test_a_tip_texted_in_reaches_the_hub_and_every_officer_once(tmp_path, emulator):
    zalo = FakeZalo()
    zalo.start()
    hub = HubServer(tmp_path)
    hub.start()
    gateway = Gateway(make_config(
        tmp_path,
        TINBAO_MODEM_PORT=str(tmp_path / "modem"),
        TINBAO_ZALO_ENABLED="true", TINBAO_ZALO_API_BASE=zalo.url, TINBAO_ZALO_OAUTH_BASE=zalo.url,
        TINBAO_ZALO_APP_ID=zalo.app_id, TINBAO_ZALO_SECRET_KEY=zalo.secret_key,
        TINBAO_ZALO_REFRESH_TOKEN=zalo.live_refresh, TINBAO_ZALO_OFFICER_IDS=",".join(OFFICERS),
        TINBAO_HUB_URL=hub.url, TINBAO_HUB_TOKEN="token-cl", TINBAO_SYNC_POLL_INTERVAL="0.05",
    ))
    gateway.start()
    try:
        emulator.deliver("0912345678", "TIN Có người lạ dò hỏi nhà ông bà già ở thôn 2")
        assert emulator.wait_for_sent(1, 15) and "CL-0001" in emulator.sent_messages()[0].text
        assert wait_until(lambda: rows(hub.path, "SELECT uid, text FROM hub_tips")
                          == [("cl-1", "Có người lạ dò hỏi nhà ông bà già ở thôn 2")], 20)
        for officer in OFFICERS:
            assert wait_until(lambda officer=officer: len(zalo.texts_for(officer)) == 1, 20), officer
            assert "CL-0001" in zalo.texts_for(officer)[0]
            assert "0912345678" not in zalo.texts_for(officer)[0]  # masked unless configured
        assert wait_until(lambda: {r[0] for r in rows(gateway.config.storage_path,
                                                      "SELECT status FROM sync_queue")} == {"done"})
    finally:
        gateway.stop()
        hub.close()
        zalo.stop()
