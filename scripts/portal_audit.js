// The measurements scripts/portal_audit.py takes in each page, run in the page: a function of no arguments
// returning {sideways, out, small, contrast, sizes}.
() => {
  const vw = document.documentElement.clientWidth, found = {sideways: 0, out: [], small: [], contrast: [], sizes: []};
  found.sideways = document.documentElement.scrollWidth - vw;
  const shown = (el) => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' +
    (el.getAttribute('aria-label') || el.innerText || el.name || '').trim().replace(/\s+/g, ' ').slice(0, 40) + '"';
  const scroller = (el) => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)
    if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) return a; return null; };
  for (const el of document.body.querySelectorAll('*')) {
    if (!shown(el) || scroller(el) || el.closest('.visually-hidden, .skip')) continue;
    const r = el.getBoundingClientRect(), box = el.parentElement.closest('.card, main, body');
    const edge = Math.min(vw, box.getBoundingClientRect().right), parentRight = el.parentElement.getBoundingClientRect().right;
    if (r.right > edge + 0.5 && parentRight <= edge + 0.5) found.out.push(`${name(el)} by ${(r.right - edge).toFixed(1)} px`);
  }
  const targets = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
    .filter(el => shown(el) && !el.closest('.skip'));
  const rects = targets.map(el => el.getBoundingClientRect());
  targets.forEach((el, i) => {
    const r = rects[i], small = (q) => q.width < 24 || q.height < 24;
    found.sizes.push(Math.min(r.width, r.height));
    if (!small(r)) return;
    let block = el.parentElement;
    while (getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    let prose = block.innerText;
    for (const t of block.querySelectorAll('a, button')) prose = prose.replace(t.innerText, '');
    if (getComputedStyle(el).display === 'inline' && /[^\W\d_]{2,}\s+[^\W\d_]{2,}/u.test(prose)) return;  // in a sentence
    const cx = r.left + r.width / 2, cy = r.top + r.height / 2;
    const crowded = rects.some((q, j) => {
      if (j === i || targets[j].contains(el) || el.contains(targets[j])) return false;
      const dx = Math.max(q.left - cx, 0, cx - q.right), dy = Math.max(q.top - cy, 0, cy - q.bottom);
      return Math.hypot(dx, dy) < 12 || (small(q) && Math.hypot(q.left + q.width / 2 - cx, q.top + q.height / 2 - cy) < 24);
    });
    if (crowded) found.small.push(`${name(el)} ${r.width.toFixed(1)}x${r.height.toFixed(1)}`);
  });
  const rgb = (c) => { const p = c.match(/[\d.]+/g).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const over = (f, b) => ({r: f.r * f.a + b.r * (1 - f.a), g: f.g * f.a + b.g * (1 - f.a), b: f.b * f.a + b.b * (1 - f.a), a: 1});
  const lum = (c) => [c.r, c.g, c.b].map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, k) => sum + v * [0.2126, 0.7152, 0.0722][k], 0);
  const behind = (el) => { const layers = [];
    for (let a = el; a; a = a.parentElement) { const c = rgb(getComputedStyle(a).backgroundColor); if (c.a > 0) { layers.push(c); if (c.a >= 1) break; } }
    return layers.reverse().reduce((b, l) => over(l, b), {r: 255, g: 255, b: 255, a: 1}); };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !shown(el) || el.closest('.visually-hidden, .skip')) continue;
    const s = getComputedStyle(el), bg = behind(el), fg = over(rgb(s.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x), ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(s.fontSize), large = size >= 24 || (parseInt(s.fontWeight) >= 700 && size >= 18.66);
    if (ratio < (large ? 3 : 4.5)) found.contrast.push(`${name(el)} ${ratio.toFixed(2)}:1`);
  }
  return found;
}
