"""The poster as one A4 PNG (150 dpi), drawn with Pillow: black on white, large type.

A print shop or a phone can take an image where a web page would not do. Works offline: it
uses a TrueType font with Vietnamese letters that Debian ships (DejaVu Sans, Liberation
Sans, Noto Sans) and, when none is installed, Pillow's own font with the text written
without diacritics (that font has no Vietnamese letters; "CAN CUOC" still reads right, and
villagers may type keywords either way).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from gateway.sms.text import khong_dau

if TYPE_CHECKING:
    import segno

    from gateway.web.poster import Poster

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
MARGIN = 80
INNER = WIDTH - 2 * MARGIN
INK = 0
PAPER = 255

#: Regular and bold faces with Vietnamese letters, the first pair found is used.
FONT_PAIRS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
     "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
     "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font_files() -> tuple[str, str] | None:
    """The (regular, bold) font files to use, or None when Debian has none installed."""
    for regular, bold in FONT_PAIRS:
        if Path(regular).is_file() and Path(bold).is_file():
            return regular, bold
    return None


@lru_cache(maxsize=64)
def _font(size: int, bold: bool) -> Font:
    files = font_files()
    if files is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(files[1] if bold else files[0], size)


class _Page:
    """A white A4 image and a pen that moves down it."""

    def __init__(self, vietnamese: bool) -> None:
        self.image = Image.new("L", (WIDTH, HEIGHT), PAPER)
        self.draw = ImageDraw.Draw(self.image)
        self.y = MARGIN
        self.text_of: Callable[[str], str] = (lambda t: t) if vietnamese else khong_dau

    def width(self, text: str, font: Font) -> float:
        return self.draw.textlength(self.text_of(text), font=font)

    def fit(self, text: str, size: int, width: int, *, bold: bool = True, smallest: int = 20) -> Font:
        """The largest font up to ``size`` that draws ``text`` within ``width``."""
        while size > smallest and self.width(text, _font(size, bold)) > width:
            size -= 2
        return _font(size, bold)

    def wrap(self, text: str, font: Font, width: int, lines: int) -> list[str]:
        words, out, line = text.split(), [], ""
        for word in words:
            trial = f"{line} {word}".strip()
            if self.width(trial, font) <= width or not line:
                line = trial
            else:
                out.append(line)
                line = word
        if line:
            out.append(line)
        if len(out) > lines:
            out = out[:lines]
            out[-1] = out[-1].rstrip(".,;") + "…"
        return out

    def line(self, text: str, font: Font, *, x: int | None = None, center: bool = False,
             gap: int = 10) -> None:
        shown = self.text_of(text)
        left = x if x is not None else MARGIN
        if center:
            left = int((WIDTH - self.draw.textlength(shown, font=font)) / 2)
        box = self.draw.textbbox((left, self.y), shown, font=font)
        self.draw.text((left, self.y), shown, font=font, fill=INK)
        self.y = box[3] + gap

    def rule(self, thickness: int = 6, gap: int = 28) -> None:
        self.y += gap // 2
        self.draw.rectangle((MARGIN, self.y, WIDTH - MARGIN, self.y + thickness), fill=INK)
        self.y += thickness + gap


def render_png(poster: Poster, qr: segno.QRCode) -> bytes:
    """The A4 poster as PNG bytes."""
    page = _Page(vietnamese=font_files() is not None)

    page.line(poster.commune.upper(), page.fit(poster.commune.upper(), 76, INNER), center=True)
    subtitle = "Nhắn tin SMS: điện thoại nào cũng dùng được, không cần Internet"
    page.line(subtitle, page.fit(subtitle, 34, INNER, bold=False), center=True, gap=4)
    page.rule()
    page.line("NHẮN TIN ĐẾN SỐ", _font(44, True), center=True, gap=6)
    page.line(poster.number, page.fit(poster.number, 150, INNER), center=True, gap=4)
    page.rule()

    # The QR code on the left, MENU and TIN beside it.
    top = page.y
    modules = qr.symbol_size(scale=1, border=4)[0]
    scale = max(1, 440 // modules)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    page.image.paste(code, (MARGIN - 4 * scale + 8, top))
    caption_font = _font(28, False)
    caption = f"Quét mã: mở tin nhắn {poster.menu_word}"
    left = MARGIN - 4 * scale + 8
    centre = left + code.width / 2
    page.y = top + code.height  # after the quiet zone: scanners need it clear
    page.line(caption, caption_font, x=max(MARGIN, int(centre - page.width(caption, caption_font) / 2)))
    bottom_of_qr = page.y

    column = MARGIN + code.height - 4 * scale + 40
    width = WIDTH - MARGIN - column
    page.y = top + 20
    for word, meaning in (
        (poster.menu_word, "xem hướng dẫn, các thủ tục, số điện thoại"),
        (f"{poster.tip_word} + nội dung", f"gửi tin báo cho Công an xã, ví dụ: {poster.tip_word} có trộm bò ở thôn A."
                                          " Danh tính người báo được giữ bí mật"),
    ):
        page.line(word, page.fit(word, 72, width), x=column, gap=6)
        meaning_font = _font(30, False)
        for text in page.wrap(meaning, meaning_font, width, 4):
            page.line(text, meaning_font, x=column, gap=4)
        page.y += 36
    page.y = max(page.y, bottom_of_qr)
    page.rule()

    if poster.keywords:
        page.line("Hoặc nhắn thẳng từ khóa:", _font(36, True), gap=18)
        col_width = (INNER - 40) // 2
        rows = (len(poster.keywords) + 1) // 2
        start = page.y
        bottom = HEIGHT - MARGIN - (150 if poster.missed_call else 90)
        row_height = min(130, (bottom - start) // max(rows, 1))
        for index, keyword in enumerate(poster.keywords):
            row, col = divmod(index, 2)
            x = MARGIN + col * (col_width + 40)
            page.y = start + row * row_height
            page.line(keyword.word, page.fit(keyword.word, 48, col_width), x=x, gap=2)
            small = _font(26, False)
            for text in page.wrap(keyword.meaning, small, col_width, 1):
                page.line(text, small, x=x, gap=2)
        page.y = start + rows * row_height

    if poster.missed_call:  # a ring-and-hang-up is free: the gateway answers it with the menu
        page.y = HEIGHT - MARGIN - 100
        page.line(poster.missed_call, page.fit(poster.missed_call, 40, INNER), center=True)
    footer = "Khẩn cấp gọi 113 · Viết có dấu hay không dấu đều được"
    page.y = HEIGHT - MARGIN - 40
    page.line(footer, page.fit(footer, 32, INNER), center=True)

    out = io.BytesIO()
    page.image.save(out, format="PNG", optimize=True)
    return out.getvalue()
