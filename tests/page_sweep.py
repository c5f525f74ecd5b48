"""Every page of the gateway and of the hub, and what a page must be at 1280 px and on a 360 px phone.

**The one list.** ``GATEWAY_PAGES`` and ``HUB_PAGES`` name every page the browser sweep opens
(``tests/test_browser_officers.py``); ``NOT_PAGES`` the GET endpoints that are no page (JSON, images,
files, redirects). A page added to either app is added here in one line, with an address the
sweep's data opens: ``test_every_page_of_both_apps_is_in_the_sweep`` fails until it is.

**The checks**, each a fault an officer's phone showed:
- nothing wider than the screen (``/admin/setup`` was 522 px wide on a 360 px phone);
- no control cut off by the screen's edge or by a box that scrolls or clips it (the admin tab
  cut to "Cà", "Xếp vào thôn" sticking out at 398/430 px);
- every item of the menu bar reachable: on screen, or on screen once the menu button is pressed
  (3 of 10 items showed, nothing said the bar scrolled);
- a button's words centred in it (the tips' "Bộ lọc" sat at the top of a too-tall button);
- a list stacked into cards names each value (the hub's tip cards kept an empty label column);
- no two controls drawn over each other, no text cut by its own box;
- in English: no Vietnamese the catalog translates, no "1 people" (counts in their plural form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Page:
    name: str  # screenshots: test-output/page-<name>-<lang>-<width>.png
    path: str
    logged_out: bool = False


GATEWAY_PAGES = [
    Page("login", "/login", logged_out=True),
    Page("dashboard", "/"), Page("tips", "/tips"), Page("tip", "/tips/CL-0001"),
    Page("conversations", "/conversations"), Page("thread", "/conversations/i1"),
    Page("broadcasts", "/broadcasts/"), Page("broadcast", "/broadcasts/1"), Page("broadcast-new", "/broadcasts/new"),
    Page("broadcast-confirm", "/broadcasts/1/confirm"), Page("subscribers", "/broadcasts/subscribers"),
    Page("subscriber", "/broadcasts/subscribers/1"), Page("menus", "/menus/"), Page("menus-vi", "/menus/vi"),
    Page("menus-history", "/menus/history"), Page("menus-version", "/menus/history/1"), Page("sync", "/sync"),
    Page("poster", "/poster"), Page("duty", "/duty"), Page("simulator", "/simulator"),
    Page("failures", "/inbox/failed"), Page("sim", "/sim/"), Page("users", "/admin/users"),
    Page("audit", "/admin/audit"), Page("setup", "/admin/setup/"), Page("province", "/broadcasts/province/"),
    Page("requests", "/requests"), Page("request", "/requests/1"), Page("request-export", "/requests/1/export"),
]
HUB_PAGES = [
    Page("hub-login", "/login", logged_out=True),
    Page("hub-tips", "/"), Page("hub-tip", "/tips/cl-1"), Page("hub-users", "/admin/users"),
    Page("hub-audit", "/admin/audit"), Page("hub-fleet", "/fleet"), Page("hub-fleet-post", "/fleet/cl"),
    Page("hub-province", "/province/"), Page("hub-warnings", "/province/warnings"),
    Page("hub-warning-new", "/province/warnings/new"), Page("hub-warning", "/province/warnings/1"),
    Page("hub-campaigns", "/province/campaigns"), Page("hub-campaign-new", "/province/campaigns/new"),
    Page("hub-campaign", "/province/campaigns/1"),
]
#: GET endpoints that answer no page: JSON, images, files, redirects, static files.
NOT_PAGES = {
    "gateway": {"static", "status.dashboard_json", "status.healthz", "broadcasts.progress_json", "poster.png",
                "poster.qr_svg", "simulator.thread", "simulator.dry_thread", "tips.export", "admin.index",
                "setup_files.ca_certificate", "metrics.scrape", "data_requests.export_file"},
    "hub": {"static", "hub_api.changes", "hub_api.healthz", "admin.index", "hub_api.province_warnings",
            "hub_api.province_campaigns", "hub_api.prometheus_metrics", "province.usb_file"},
}

# -- the checks, run in the page ---------------------------------------------------------------

_VISIBLE = """const visible = el => { const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && el.checkVisibility({ visibilityProperty: true }); };
const named = el => el.id || el.getAttribute('name') || (el.textContent || '').trim().slice(0, 30) || el.tagName;"""

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
# Controls reaching past the screen's edge, or past a box that scrolls or clips them: on a phone
# a control half off-screen, or in a strip that scrolls sideways with nothing to say so, is lost.
CUT_OFF = """() => { /*VISIBLE*/
  const width = document.documentElement.clientWidth;
  const found = [];
  document.querySelectorAll('header a, header button, header summary, header label, main a, main button,'
    + ' main summary, main input:not([type=hidden]), main select, main textarea').forEach(el => {
    if (!visible(el)) return;
    const r = el.getBoundingClientRect();
    let by = r.left < -1 || r.right > width + 1 ? 'the screen' : '';
    for (let box = el.parentElement; !by && box && box !== document.body; box = box.parentElement) {
      if (getComputedStyle(box).overflowX === 'visible') continue;
      const b = box.getBoundingClientRect();
      if (r.left < b.left - 1 || r.right > b.right + 1) by = box.id || box.className || box.tagName;
    }
    if (by) found.push(named(el) + ' cut by ' + by + ' (' + Math.round(r.left) + '-' + Math.round(r.right) + ' px)');
  });
  return found; }""".replace("/*VISIBLE*/", _VISIBLE)
# Menu bar items not fully on the screen.
NAV_OFF = """() => { /*VISIBLE*/
  const width = document.documentElement.clientWidth, height = window.innerHeight;
  return Array.from(document.querySelectorAll('header nav.nav a')).filter(el => {
    const r = el.getBoundingClientRect();
    return !visible(el) || r.left < -1 || r.right > width + 1 || r.top < -1 || r.bottom > height + 1;
  }).map(el => el.textContent.trim()); }""".replace("/*VISIBLE*/", _VISIBLE)
# A button's words away from its middle (more than 4 px up or down).
OFF_CENTRE = """() => { /*VISIBLE*/
  const found = [];
  document.querySelectorAll('main .button, main button, main summary, header .nav-toggle').forEach(el => {
    if (!visible(el) || !el.textContent.trim()) return;
    const range = document.createRange();
    range.selectNodeContents(el);
    const t = range.getBoundingClientRect(), b = el.getBoundingClientRect();
    if (t.height === 0 || t.height >= b.height - 2) return;
    const off = (t.top + t.bottom) / 2 - (b.top + b.bottom) / 2;
    if (Math.abs(off) > 4) found.push(named(el) + ': its words ' + Math.round(off) + ' px off the middle');
  });
  return found; }""".replace("/*VISIBLE*/", _VISIBLE)
# List rows stacked as cards ("Title: value" lines) whose cells carry no title.
UNLABELLED = """() => { /*VISIBLE*/
  const found = new Set();
  document.querySelectorAll('table.list td').forEach(td => {
    if (!visible(td) || getComputedStyle(td).display !== 'grid') return;
    if (!(td.getAttribute('data-label') || '').trim()) {
      found.add((td.closest('table').id || 'a list') + ', column ' + (td.cellIndex + 1)); }
  });
  return Array.from(found); }""".replace("/*VISIBLE*/", _VISIBLE)
TEXTS = """() => { const out = []; const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) { const n = walk.currentNode; const el = n.parentElement;
    if (!el || el.closest('script, style, .sms-text, .sms-full, .bubble-text, textarea, #tip-text, [lang=vi], '
      + '.item-legend-title')) continue;  /* villagers' texts, the menus' words, the poster are Vietnamese data */
    const t = n.textContent.replace(/\\s+/g, ' ').trim(); if (t) out.push(t); }
  document.querySelectorAll('option, input[placeholder], [aria-label], [title]').forEach(el => {
    ['placeholder', 'aria-label', 'title'].forEach(a => { const v = el.getAttribute(a); if (v) out.push(v.trim()); });
  });
  return out; }"""
#: English words that must not follow a 1 ("1 people", "1 tips"): a count without its plural form.
ONE_AND_PLURAL = re.compile(r"(?<![\d/.,])\b1 (people|persons|tips|accounts|attempts|villages|officers|messages|"
                            r"times|days|hours|minutes|lines|replies|items|characters|groups|subscribers)\b")


def catalog() -> dict[str, str]:
    """Vietnamese source → English, for the strings the catalog translates."""
    from babel.messages.pofile import read_po

    from gateway.web import i18n

    with (i18n.TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        entries = read_po(handle)
    found = {}
    for m in entries:
        if isinstance(m.id, str) and m.id and m.string and m.string != m.id:
            found[m.id] = m.string
    return found


def nav_unreachable(page) -> list[str]:
    """Menu bar items the officer cannot reach: off screen even after pressing the menu button."""
    missing = page.evaluate(NAV_OFF)
    toggle = page.locator("header .nav-toggle")
    if missing and toggle.count() and toggle.is_visible():
        toggle.click()
        missing = page.evaluate(NAV_OFF)
        toggle.click()
    return missing


def sweep(page, base: str, pages: list[Page], shots: str, *, logged_out: bool) -> list[str]:
    """Open each page at 1280 and 360 px in both languages; every fault found, in words."""
    from conftest import screenshot

    translated = catalog()
    problems: list[str] = []
    for lang in ("vi", "en"):
        page.goto(f"{base}/login?lang={lang}" if logged_out else f"{base}/?lang={lang}")
        for each in pages:
            if each.logged_out != logged_out:
                continue
            for width in (1280, 360):
                page.set_viewport_size({"width": width, "height": 900 if width > 400 else 740})
                response = page.goto(f"{base}{each.path}")
                where = f"{each.path} {lang} {width}px"
                if response.status != 200:
                    problems.append(f"{where}: HTTP {response.status}")
                    continue
                # Whole pages in Vietnamese; the English ones as the screen shows them (a full-page shot
                # costs a layout of the whole height; their strings are checked below all the same).
                screenshot(page, f"{shots}-{each.name}-{lang}-{width}", full_page=lang == "vi")
                wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                if wide > 0:
                    problems.append(f"{where}: {wide}px wider than the screen")
                for check, what in ((OVERLAPS, "overlap"), (CLIPPED, "clipped"), (CUT_OFF, "cut off"),
                                    (OFF_CENTRE, "off centre"), (UNLABELLED, "stacked without labels")):
                    problems += [f"{where}: {what}: {found}" for found in page.evaluate(check)]
                problems += [f"{where}: menu item out of reach: {item}" for item in nav_unreachable(page)]
                body = page.inner_text("body")
                if "Version(" in body:
                    problems.append(f"{where}: the footer prints a Version(...)")
                if lang == "en":
                    problems += [f"{where}: {m.group(0)!r} (no plural form)" for m in ONE_AND_PLURAL.finditer(body)]
                    if width == 1280:
                        problems += [f"{where}: Vietnamese shown: {text!r}" for text in page.evaluate(TEXTS)
                                     if text in translated]
    out = Path(__file__).resolve().parent.parent / "test-output"
    out.mkdir(exist_ok=True)
    (out / f"{shots}-problems{'-logged-out' if logged_out else ''}.txt").write_text("\n".join(problems))
    return problems
