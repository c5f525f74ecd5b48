"""The officers' pages in a real headless Chromium, against the live gateway and its emulator.

Every page at 1280 and 360 px (screenshots in test-output/), with nothing wider than the phone
and no control drawn over another; the English pages with no Vietnamese string that the
catalog translates; a broadcast followed live without a reload; the poster on one A4 page.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import login_page, make_config, rows, screenshot, wait_until

from gateway.broadcasts import subscribers
from gateway.service import Gateway
from gateway.storage import write_transaction

LIVE = {
    "TINBAO_MODEM_PORT": "emulator",
    "TINBAO_WEB_PORT": "0",
    "TINBAO_GATEWAY_PHONE_NUMBER": "0912 345 678",  # the poster needs it (a SIM: a mobile)
    "TINBAO_BROADCASTS_TICK_INTERVAL": "0.2",
    "TINBAO_BROADCASTS_QUIET_START": "00:00",  # no quiet hours, whatever the hour of the run
    "TINBAO_BROADCASTS_QUIET_END": "00:00",
}
PAGES = [
    ("dashboard", "/"), ("tips", "/tips"), ("tip", "/tips/CL-0001"), ("conversations", "/conversations"),
    ("thread", "/conversations/i1"), ("broadcasts", "/broadcasts/"), ("broadcast", "/broadcasts/1"),
    ("broadcast-new", "/broadcasts/new"), ("subscribers", "/broadcasts/subscribers"),
    ("subscriber", "/broadcasts/subscribers/1"), ("menus", "/menus/"), ("menus-vi", "/menus/vi"),
    ("menus-history", "/menus/history"), ("sync", "/sync"), ("poster", "/poster"), ("duty", "/duty"),
    ("simulator", "/simulator"), ("users", "/admin/users"), ("audit", "/admin/audit"),
]

# Boxes of visible form controls, links-as-buttons and key figures; two that intersect overlap.
OVERLAPS = """() => {
  /* A bar that stays on screen (sticky, fixed) lies over the page on purpose. */
  const stuck = el => { for (let e = el; e; e = e.parentElement) {
    if (['sticky', 'fixed'].includes(getComputedStyle(e).position)) return true; } return false; };
  const picked = Array.from(document.querySelectorAll(
    'main input:not([type=hidden]), main select, main textarea, main button, main .button, main label > span'))
    .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
      && el.checkVisibility({ visibilityProperty: true }) && !stuck(el); });
  const found = [];
  for (let i = 0; i < picked.length; i++) {
    for (let j = i + 1; j < picked.length; j++) {
      const a = picked[i], b = picked[j];
      if (a.contains(b) || b.contains(a)) continue;
      const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
      const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
      const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
      if (w > 2 && h > 2) found.push((a.id || a.name || a.tagName) + ' × ' + (b.id || b.name || b.tagName)
        + ' at ' + Math.round(r.left) + ',' + Math.round(r.top) + ' ' + Math.round(s.left) + ',' + Math.round(s.top));
    }
  }
  return found;
}"""
# Elements whose content is cut by their own box (text wider than the element, overflow hidden).
CLIPPED = """() => Array.from(document.querySelectorAll('main *')).filter(el => {
  const style = getComputedStyle(el);
  if (!['hidden', 'clip'].includes(style.overflowX) || el.clientWidth <= 2 || el.clientHeight <= 2) return false;
  if (['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)) return false;  /* a long value scrolls inside */
  if (style.textOverflow === 'ellipsis') return false;
  return el.scrollWidth > el.clientWidth + 1;
}).map(el => el.id || el.className || el.tagName)"""
TEXTS = """() => { const out = []; const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) { const n = walk.currentNode; const el = n.parentElement;
    if (!el || el.closest('script, style, .sms-text, .sms-full, .bubble-text, textarea, #tip-text, [lang=vi], '
      + '.item-legend-title')) continue;  /* villagers' texts, the menus' words, the poster are Vietnamese data */
    const t = n.textContent.replace(/\\s+/g, ' ').trim(); if (t) out.push(t); }
  document.querySelectorAll('option, input[placeholder], [aria-label], [title]').forEach(el => {
    ['placeholder', 'aria-label', 'title'].forEach(a => { const v = el.getAttribute(a); if (v) out.push(v.trim()); });
  });
  return out; }"""


@pytest.fixture
def gateway_with_data(tmp_path: Path):
    import threading

    import waitress

    config = make_config(tmp_path, **LIVE)
    gw = Gateway(config)
    gw.start()
    server = waitress.create_server(gw.web_app(), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_until(lambda: gw.modem.state.state == "connected", 15)
    yield gw, f"http://127.0.0.1:{server.effective_port}"
    server.close()
    gw.stop()


def seed(gw, people: int = 6) -> None:
    db = gw.dbs.get()
    now = gw.clock.now()
    with write_transaction(db):
        for i in range(people):
            subscribers.save_member(db, subscribers.Member(f"+8491500000{i}", name=f"Người thử {i}",
                                                           village="Na Hối"), source="officer", now=now)


def catalog() -> dict[str, str]:
    from babel.messages.pofile import read_po

    from gateway.web import i18n

    with (i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        entries = read_po(handle)
    return {m.id: m.string for m in entries if isinstance(m.id, str) and m.id and m.string and m.string != m.id}


def compose_and_confirm(page, base: str) -> int:
    page.goto(f"{base}/broadcasts/new")
    page.select_option("#warning", "01_gia_danh_cong_an")
    page.check("#everyone")
    with page.expect_navigation():
        page.click("#do-send")
    with page.expect_navigation():
        page.click("#confirm-send")
    return int(re.search(r"/broadcasts/(\d+)$", page.url).group(1))


def test_a_broadcast_is_followed_live_and_shows_what_went_out(gateway_with_data, page, browser):
    gw, base = gateway_with_data
    seed(gw)
    db_path = gw.config.storage_path
    login_page(page, base, db_path, role="officer")
    page.goto(f"{base}/broadcasts/new")
    page.select_option("#warning", "01_gia_danh_cong_an")
    page.check("#everyone")
    with page.expect_navigation():
        page.click("#do-send")
    assert page.text_content("#confirm-people") == "6"
    parts = int(page.text_content("#confirm-parts"))
    assert page.text_content("#confirm-total") == str(6 * parts)
    assert page.text_content("#confirm-cost") == f"{6 * parts * 350:,} đồng".replace(",", ".")
    assert gw.emulator.sent_messages() == []  # nothing leaves before the officer confirms
    screenshot(page, "broadcast-confirm-1280")
    with page.expect_navigation():
        page.click("#confirm-send")
    page.evaluate("window.__samePage = true")

    list_page = page.context.new_page()
    list_page.goto(f"{base}/broadcasts/")
    list_page.evaluate("window.__samePage = true")

    assert wait_until(lambda: len({m.destination for m in gw.emulator.sent_messages()}) == 6, 60)
    assert wait_until(lambda: rows(db_path, "SELECT status FROM broadcasts") == [("done",)], 30)
    # Within a few seconds of reality, with no reload.
    page.locator("#broadcast-status", has_text="Đã xong").wait_for(timeout=6000)
    page.locator("#live-run .progress-text", has_text="6/6").wait_for(timeout=6000)
    list_page.locator("#broadcast-list .progress-text", has_text="6/6").wait_for(timeout=6000)
    list_page.locator("#broadcast-list .broadcast-status", has_text="Đã xong").wait_for(timeout=6000)
    assert page.evaluate("window.__samePage") is True and list_page.evaluate("window.__samePage") is True

    sent_text = rows(db_path, "SELECT text FROM broadcast_runs")[0][0]
    assert {m.text for m in gw.emulator.sent_messages()} == {sent_text}  # what the villagers got
    assert page.text_content("#broadcast-text") == sent_text
    page.reload()
    assert page.text_content("#broadcast-text") == sent_text
    screenshot(page, "broadcast-live-1280")
    list_page.close()


def test_every_page_at_1280_and_360_in_both_languages(gateway_with_data, page):
    gw, base = gateway_with_data
    seed(gw)
    db_path = gw.config.storage_path
    gw.emulator.deliver("0912345678", "TIN Có người lạ dụ bán đất ở thôn Na Hối")
    assert wait_until(lambda: rows(db_path, "SELECT COUNT(*) FROM tips")[0][0] == 1, 20)
    login_page(page, base, db_path, role="admin")
    compose_and_confirm(page, base)
    translated = catalog()
    problems: list[str] = []
    for lang in ("vi", "en"):
        page.goto(f"{base}/?lang={lang}")
        for name, path in PAGES:
            for width in (1280, 360):
                page.set_viewport_size({"width": width, "height": 900 if width > 400 else 740})
                response = page.goto(f"{base}{path}")
                assert response.status == 200, (path, response.status)
                screenshot(page, f"page-{name}-{lang}-{width}")
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if wide > 0:
                    problems.append(f"{path} {lang} {width}px: {wide}px wider than the screen")
                for pair in page.evaluate(OVERLAPS):
                    problems.append(f"{path} {lang} {width}px: overlap {pair}")
                for element in page.evaluate(CLIPPED):
                    problems.append(f"{path} {lang} {width}px: clipped {element}")
                body = page.inner_text("body")
                if "Version(" in body:
                    problems.append(f"{path} {lang}: the footer prints a Version(...)")
                if lang == "en" and width == 1280:
                    for text in page.evaluate(TEXTS):
                        if text in translated:
                            problems.append(f"{path} en: Vietnamese shown: {text!r}")
    (Path(__file__).resolve().parent.parent / "test-output" / "page-problems.txt").write_text("\n".join(problems))
    assert problems == [], "\n".join(problems)


def test_the_poster_prints_on_one_a4_page(gateway_with_data, page):
    gw, base = gateway_with_data
    login_page(page, base, gw.config.storage_path, role="officer")
    for lang in ("vi", "en"):
        page.goto(f"{base}/poster?lang={lang}")
        assert page.locator(".poster").count() == 1  # the poster itself, not the "set the number" notice
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4", print_background=True)
        pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
        (Path(__file__).resolve().parent.parent / "test-output").mkdir(exist_ok=True)
        (Path(__file__).resolve().parent.parent / "test-output" / f"poster-{lang}.pdf").write_bytes(pdf)
        assert pages == 1, f"the {lang} poster prints on {pages} pages"
        page.emulate_media(media="screen")


def test_tips_filters_are_a_row_on_a_desktop_and_a_sheet_on_a_phone(gateway_with_data, page):
    gw, base = gateway_with_data
    db_path = gw.config.storage_path
    gw.emulator.deliver("0912345678", "TIN Có người lạ dụ bán đất ở thôn Na Hối")
    assert wait_until(lambda: rows(db_path, "SELECT COUNT(*) FROM tips")[0][0] == 1, 20)
    login_page(page, base, db_path, role="officer")
    page.goto(f"{base}/tips")
    tops = page.eval_on_selector_all("#tip-filters .field",
                                     "els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(tops) >= 5 and len(set(tops)) == 1  # one row
    assert page.is_hidden("#tip-filters > summary")

    # Dates are typed and shown as dd/mm/yyyy, whatever the browser's locale.
    today = rows(db_path, "SELECT received_at FROM tips")[0][0]
    day = datetime.fromisoformat(today).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    page.fill("input[name=from]", day)
    page.fill("input[name=to]", day)
    with page.expect_navigation():
        page.click("#tip-filters button[type=submit]")
    assert page.input_value("input[name=from]") == day and "CL-0001" in page.inner_text("main")
    screenshot(page, "tips-filters-1280")

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{base}/tips")
    assert page.is_visible("#tip-filters > summary") and page.is_hidden("#tip-filters form")
    page.click("#tip-filters > summary")
    assert page.eval_on_selector("#tip-filters form", "f => getComputedStyle(f).position") == "fixed"
    screenshot(page, "tips-filters-sheet-360")
    page.click("#tip-filters .filter-close")
    assert page.is_hidden("#tip-filters form")
