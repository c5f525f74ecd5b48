"""Layout checks run in Chromium (``page.evaluate``): shared by the browser sweeps of the gateway
and the hub, once (a test module never imports another)."""

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
