#!/usr/bin/env python3
"""Look at the running portal in headless Chromium as the demo's people do, at several widths, and measure
what HTML and CSS checks cannot: pages that scroll sideways, elements sticking out of their card or page,
targets under 24 CSS px that are not spaced (WCAG 2.2 2.5.8), and text under its contrast minimum (1.4.3),
computed from each element's rendered styles. Optionally saves a full-page PNG of every page at every width.

    python3 scripts/dev.py serve 8123                      # in another shell: the demo on a port of its own
    python3 scripts/portal_audit.py --base http://127.0.0.1:8123 --shots /tmp/shots

Not part of the test suite and not a requirement: it needs Playwright (`pip install playwright`, in any
venv) and a Chromium (Debian's /usr/bin/chromium by default). Without either it says so and exits 0; with
both it exits 1 when it finds a problem. Logs in with the demo's published password.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections import Counter, deque
from pathlib import Path
from urllib.parse import urljoin, urlsplit

ROLES = ["huaxin-admin", "huaxin-steward", "huaxin-analyst", "officer", "security", "auditor"]
WIDTHS = [1280, 640, 375, 320]  # desktop, 200% zoom of 1280, a phone, WCAG's reflow width
ANONYMOUS_PAGES = ["/", "/login/", "/apply/", "/password/forgot/", "/password/forgot/sent/", "/apply/thanks/"]
NOT_CRAWLED = re.compile(r"^/(api|admin|logout|static|media)/|/(download|revoke|deactivate|password-link)/")
PER_PATTERN = 2  # pages opened per URL pattern (/catalog/N/): two datasets, not all of them
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (the demo's published password: seed_demo refuses production)

MEASURE = Path(__file__).with_suffix(".js")  # the measuring function, run in each page


def _pattern(path: str) -> str:
    return re.sub(r"/\d+/", "/N/", urlsplit(path).path)


def _log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    if "/login/" in page.url:
        raise SystemExit(f"could not log in as {username}")


def _crawl(page, base: str, start: list[str]) -> list[str]:
    """The portal pages reachable by links from `start`, at most PER_PATTERN per URL pattern."""
    queue, seen, per_pattern, pages = deque(start), set(), Counter(), []
    while queue:
        path = queue.popleft()
        if path in seen or per_pattern[_pattern(path)] >= PER_PATTERN:
            continue
        seen.add(path)
        per_pattern[_pattern(path)] += 1
        page.goto(base + path)
        pages.append(path)
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"):
            url = urlsplit(urljoin(base + path, href))
            if url.netloc == urlsplit(base).netloc and not url.query and not NOT_CRAWLED.search(url.path):
                queue.append(url.path)
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000", help="the running portal's address")
    parser.add_argument("--roles", default=",".join(ROLES), help="demo usernames, comma-separated")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="CSS px, comma-separated")
    parser.add_argument("--extra", action="append", default=[], metavar="USER:PATH", help="also open PATH")
    parser.add_argument("--shots", type=Path, help="save a full-page PNG of every page here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--password", default=DEMO_PASSWORD)
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("skipped: Playwright is not installed (pip install playwright)")
        return 0
    if not Path(args.chromium).is_file():
        print(f"skipped: no Chromium at {args.chromium} (apt-get install chromium, or --chromium PATH)")
        return 0
    base, widths = args.base.rstrip("/"), [int(w) for w in args.widths.split(",")]
    extra: dict[str, list[str]] = {}
    for item in args.extra:
        username, _, path = item.partition(":")
        extra.setdefault(username, []).append(path)
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    measure = MEASURE.read_text(encoding="utf-8")
    problems, sizes, opened = [], [], 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        users = [None, *args.roles.split(",")]
        users += [name for name in extra if name and name not in users]  # a user named only by --extra
        for username in users:
            context = browser.new_context()
            page = context.new_page()
            if username:
                _log_in(page, base, username, args.password)
            start = extra.get(username or "", []) + (["/"] if username else ANONYMOUS_PAGES)
            for path in _crawl(page, base, start):
                for width in widths:
                    page.set_viewport_size({"width": width, "height": 900})
                    page.goto(base + path)
                    found = page.evaluate(measure)
                    opened += 1
                    sizes += found["sizes"]
                    where = f"{username or 'visitor'} {width}px {path}"
                    if found["sideways"] > 0:
                        problems.append(f"{where}: scrolls sideways by {found['sideways']} px")
                    problems += [f"{where}: sticks out: {item}" for item in found["out"]]
                    problems += [f"{where}: under 24 px, not spaced: {item}" for item in found["small"]]
                    problems += [f"{where}: low contrast: {item}" for item in found["contrast"]]
                    if args.shots:
                        name = re.sub(r"[^a-z0-9]+", "_", path.strip("/")) or "home"
                        shot = args.shots / f"{username or 'visitor'}_{width}_{name}.png"
                        page.screenshot(path=shot, full_page=True)
            context.close()
        browser.close()
    print("\n".join(problems))
    smallest = min(sizes, default=0)
    print(f"{opened} page views, smallest target {smallest:.1f} CSS px, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
