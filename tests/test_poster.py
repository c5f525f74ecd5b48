"""The outreach poster: /poster (A4 page), /poster/qr.svg and /poster.png.

The QR code is decoded back with zxing-cpp (segno only encodes), from the PNG the gateway
serves, so the test reads what a phone's camera would read.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import OUTPUT, login_client, make_services
from PIL import Image

from gateway.config import load_config
from gateway.menus import versions as menu_versions
from gateway.web import create_app, poster_image
from gateway.web.poster import dial_string, main_keywords, qr_code, sms_uri

zxingcpp = pytest.importorskip("zxingcpp")

MENUS = Path(__file__).resolve().parent.parent / "firmware_config" / "menus"
NUMBER = "0912 345 678"  # the SIM's own number: a mobile


def decode(png: bytes) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture
def make_client(storage, db_path):
    def make(role="viewer", number=NUMBER):
        config = load_config(env={"TINBAO_STORAGE_PATH": str(db_path), "TINBAO_GATEWAY_PHONE_NUMBER": number})
        app = create_app(config, make_services(db_path, config=config, db=storage))
        app.testing = True
        client = app.test_client()
        if role:
            login_client(client, db_path, role)
        return client

    return make


def test_the_sms_uri_holds_the_number_as_dialled():
    assert dial_string("0214 3880 113") == "02143880113"
    assert dial_string("+84 912.345.678") == "+84912345678"
    assert sms_uri("(0214) 3880-113", "MENU") == "SMSTO:02143880113:MENU"
    assert qr_code("SMSTO:1:MENU").version >= 1  # a full QR code, never a Micro QR phones cannot read
    assert not qr_code("SMSTO:1:MENU").is_micro


def test_the_poster_page_has_the_number_keywords_and_qr(make_client):
    page = make_client().get("/poster").get_data(as_text=True)
    assert 'id="poster-number">0912 345 678<' in page
    assert "NHẮN TIN ĐẾN SỐ" in page and "CÔNG AN XÃ CỐC LẦU" in page
    assert "<dt>MENU</dt>" in page and "<dt>TIN + nội dung</dt>" in page and "ví dụ: TIN có trộm bò ở thôn A" in page
    assert "<dt>CCCD</dt><dd>Căn cước (CCCD)</dd>" in page
    assert 'src="/poster/qr.svg"' in page and 'href="/poster.png"' in page


def test_the_poster_follows_the_menus_in_use(make_client, storage):
    sources = menu_versions.shipped_sources(MENUS)
    sources["vi.toml"]["menu"]["1"]["3"]["keywords"] = ["CĂN CƯỚC", "CCCD"]
    sources["vi.toml"]["keywords"]["menu"] = ["HƯỚNG DẪN", "HD", "MENU"]
    menu_versions.save(storage.get(), sources, "an", "")
    client = make_client()
    page = client.get("/poster").get_data(as_text=True)
    assert "<dt>CĂN CƯỚC</dt>" in page and "<dt>HD</dt>" in page  # the first plain-letters keyword
    assert decode(client.get("/poster.png").data) == ["SMSTO:0912345678:HD"]


def test_the_png_is_a4_and_its_qr_decodes_to_the_sms_uri(make_client):
    response = make_client().get("/poster.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    assert image.size == (1240, 1754)  # A4 at 150 dpi
    assert decode(response.data) == ["SMSTO:0912345678:MENU"]
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "poster-a4.png").write_bytes(response.data)


def test_the_svg_qr_is_served_for_the_page(make_client):
    response = make_client().get("/poster/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.data.startswith(b"<svg") and b"SMSTO:0912345678:MENU" in response.data


def test_without_the_gateways_number_the_poster_says_it_must_be_set_first(make_client):
    admin = make_client("admin", number="")
    page = admin.get("/poster").get_data(as_text=True)
    assert "Chưa đặt số điện thoại của cổng" in page
    assert "TINBAO_GATEWAY_PHONE_NUMBER" in page and 'phone_number = "0912 345 678"' in page
    assert 'id="poster"' not in page
    assert admin.get("/poster.png").status_code == 409
    assert admin.get("/poster/qr.svg").status_code == 409
    officer = make_client("officer", number="")
    page = officer.get("/poster").get_data(as_text=True)
    assert "Hãy nhờ quản trị viên" in page and "TINBAO_GATEWAY_PHONE_NUMBER" not in page


def test_the_poster_needs_a_login(make_client):
    client = make_client(role=None)
    for path in ("/poster", "/poster.png", "/poster/qr.svg"):
        assert client.get(path).status_code == 302, path


def test_keywords_are_taken_from_every_branch_of_the_menu():
    data = menu_versions.shipped_sources(MENUS)["vi.toml"]
    words = [k.word for k in main_keywords(data)]
    assert len(words) == 8
    assert {"THƯỜNG TRÚ", "CCCD", "TRƯỞNG CÔNG AN", "LỪA ĐẢO", "GIỜ LÀM VIỆC"} <= set(words)
    assert "THỦ TỤC" not in words  # it only opens a sub-menu: MENU does that


def test_without_a_debian_font_the_png_still_renders_and_decodes(make_client, monkeypatch):
    monkeypatch.setattr(poster_image, "FONT_PAIRS", (("/nonexistent.ttf", "/nonexistent-bold.ttf"),))
    poster_image._font.cache_clear()
    try:
        response = make_client().get("/poster.png")
    finally:
        poster_image._font.cache_clear()
    assert response.status_code == 200
    assert decode(response.data) == ["SMSTO:0912345678:MENU"]
