"""Charts drawn on the server as inline SVG: no chart library, nothing fetched from outside.

The Pi serves pages to officers' phones over its own Wi-Fi with no internet, so the charts are
a few hundred bytes of SVG inside the HTML. Every label is escaped (a keyword may come from an
area's handler name; nothing here trusts it), colours are presentation attributes (the CSP
forbids inline styles) and each bar carries a ``<title>`` so a tap or hover shows its figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from markupsafe import Markup, escape

from gateway.figures import DAYS, Count

TOP_KEYWORDS = 8

BAR = "#1f6feb"
BAR_TODAY = "#0b4fb3"
AXIS = "#8c959f"
TEXT = "#3d4751"


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


def _num(value: float) -> str:
    """Short SVG numbers: 12 not 12.0, 3.5 not 3.5000001."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def tips_by_day(figures: Count) -> list[DayCount]:
    """Tips per local day of the window, oldest first, today last (zeros included)."""
    return [DayCount(day, n) for day, n in figures.days]


def keyword_label(handler: str, titles: dict[str, str] | None = None) -> str | None:
    """What the officers call a handler's answer; None for silences that are not keywords.

    Menu items are named by their title when ``titles`` knows it ("1.3 · Làm căn cước").
    """
    name = handler.split(" (", 1)[0].strip()  # "1.3 (no reply: limit)" → "1.3"
    if not name or name.startswith("silent:") or name in ("ignore", "binary", "undecodable", "loop_test"):
        return None
    if name.startswith("tip:") or name == "tip":
        return _("TIN (tin báo)")
    fixed = {
        "menu": _("MENU"),
        "back": _("Quay lại (0)"),
        "help": _("Không hiểu"),
        "expired": _("Hết hạn chờ tin báo"),
        "tip_empty": _("Tin báo trống"),
        "language": _("Đổi ngôn ngữ"),
        "subscribe": _("DK (đăng ký nhận cảnh báo)"),
        "unsubscribe": _("Ngừng nhận cảnh báo"),
    }
    if name in fixed:
        return fixed[name]
    if name.replace(".", "").isdigit():
        title = (titles or {}).get(name)
        return _("%(item)s · %(title)s", item=name, title=title) if title else _("Mục %(item)s", item=name)
    return name


def keyword_counts(figures: Count, top: int = TOP_KEYWORDS,
                   titles: dict[str, str] | None = None) -> list[tuple[str, int]]:
    """The most used keywords and menu items of the window, most used first."""
    totals: dict[str, int] = {}
    for handler, count in figures.handlers:
        name = keyword_label(handler, titles)
        if name is not None:
            totals[name] = totals.get(name, 0) + count
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:top]


def tips_chart(series: list[DayCount]) -> Markup:
    """Vertical bars, one per day; the day and month under every fifth bar and the last."""
    width, height, left, bottom, top = 600, 180, 28, 22, 12
    plot_w, plot_h = width - left - 4, height - bottom - top
    peak = max((d.count for d in series), default=0)
    scale = max(peak, 1)
    step = plot_w / max(len(series), 1)
    total = sum(d.count for d in series)
    summary = _("Tin báo mỗi ngày trong %(days)d ngày qua: tổng %(total)d, nhiều nhất %(peak)d.",
                days=len(series), total=total, peak=peak)
    out = [
        f'<svg class="chart chart-days" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary)}" xmlns="http://www.w3.org/2000/svg">',
        f"<desc>{escape(summary)}</desc>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" stroke="{AXIS}"/>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="11" fill="{TEXT}">0</text>',
    ]
    if peak:
        out.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="11" fill="{TEXT}">{peak}</text>')
    for i, item in enumerate(series):
        bar_h = plot_h * item.count / scale
        x = left + i * step + step * 0.15
        y = top + plot_h - bar_h
        colour = BAR_TODAY if i == len(series) - 1 else BAR
        label = escape(f"{item.day:%d/%m/%Y}: {item.count}")
        if item.count:
            out.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(step * 0.7)}" '
                f'height="{_num(max(bar_h, 1))}" fill="{colour}"><title>{label}</title></rect>'
            )
        if i % 5 == 0 or i == len(series) - 1:
            out.append(
                f'<text x="{_num(x + step * 0.35)}" y="{height - 6}" text-anchor="middle" '
                f'font-size="10" fill="{TEXT}">{item.day:%d/%m}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def keywords_chart(counts: list[tuple[str, int]]) -> Markup:
    """One row per keyword: its name, a bar (``<progress>``) and its count.

    HTML rather than SVG so the words keep the page's text size on a phone (an SVG scaled to
    360 px shrank them to 7 px); a ``<progress>`` needs no inline style (the CSP forbids it).
    """
    if not counts:
        return Markup("")
    peak = max(count for _name, count in counts)
    summary = _("Từ khoá dùng nhiều nhất trong %(days)d ngày qua.", days=DAYS)
    out = [f'<ol class="chart chart-keywords" aria-label="{escape(summary)}">']
    for name, count in counts:
        out.append(
            f'<li title="{escape(name)}: {count}"><span class="kw-name">{escape(name)}</span>'
            f'<progress max="{peak}" value="{count}">{count}</progress>'
            f'<span class="kw-count">{count}</span></li>'
        )
    out.append("</ol>")
    return Markup("".join(out))
