"""Check a built course website: internal links, and every page in headless Chromium with the network cut.

    python -m tools.site_check              # checks _site/ (build it first with `make site`)
    python -m tools.site_check DIR --file   # also open every page from file://

Links: every ``href``/``src`` of every HTML page that points inside the site must name a file that exists,
and a ``#fragment`` on an HTML page must name an element id there.

Browser: Debian's Chromium, driven by Playwright (nothing is downloaded), opens the home page and every lesson
page from a static file server on 127.0.0.1 (and, with ``--file``, from ``file://``). Every request that leaves
that server is aborted and reported. A page passes when it logged no console error and no uncaught exception,
no request was blocked or failed, every math element was typeset by MathJax (an ``mjx-container`` inside it,
no ``mjx-merror``), and every image loaded (``naturalWidth > 0``). A screenshot of the top of each page goes to
``artifacts/site/<mode>/`` (kept out of git), and (``details``) one of the first figure and the first displayed
equation.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "site"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
               "--no-first-run", "--no-default-browser-check", "--mute-audio"]
LINK_ATTRS = {"a": "href", "link": "href", "script": "src", "img": "src", "source": "src", "iframe": "src"}
EXTERNAL = ("http:", "https:", "mailto:", "javascript:", "data:", "tel:")


# ------------------------------------------------------------------------------------------ links


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        url = a.get(LINK_ATTRS.get(tag, ""))
        if url:
            self.links.append((tag, url))
        if tag == "img" and a.get("srcset"):
            self.links += [("img", part.split()[0]) for part in a["srcset"].split(",") if part.strip()]


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8", errors="replace"))
    return c


def html_pages(site: Path) -> list[Path]:
    """Every page of the site (the theme's Jinja macro files in _static/ are not pages)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


def link_problems(site: Path) -> list[str]:
    """Broken internal links of every page: '<page>: <tag> <url>: <why>'."""
    site = site.resolve()
    _parse.cache_clear()
    problems = []
    for page in html_pages(site):
        for tag, url in _parse(page).links:
            if url.lower().startswith(EXTERNAL) or url.startswith("//"):
                continue
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            where = f"{page.relative_to(site)}: <{tag}> {url}"
            if site not in target.parents and target != site:
                problems.append(f"{where}: points outside the site")
                continue
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"{where}: no such file")
                continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html" and frag not in _parse(target).ids:
                problems.append(f"{where}: no element with id {frag!r} in {target.relative_to(site)}")
    return problems


# ------------------------------------------------------------------------------------------ server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def serve(site: Path):
    """A static file server for ``site`` on 127.0.0.1 and a free port; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ------------------------------------------------------------------------------------------ browser

_WAIT_MATH_JS = """
async (ms) => {
  const has = document.querySelector('.math') !== null;
  if (!has) return 'no math';
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - t0 > ms) return 'MathJax did not start';
    await new Promise(r => setTimeout(r, 100));
  }
  await MathJax.startup.promise;
  return 'typeset';
}
"""

_WAIT_SEARCH_JS = """
async () => {
  const t0 = Date.now();
  while (Date.now() - t0 < 20000) {  // results appear one by one; wait for the closing summary
    const done = /Search finished/.test(document.querySelector('.search-summary')?.textContent || '');
    if (done) return document.querySelectorAll('#search-results li').length;
    await new Promise(r => setTimeout(r, 100));
  }
  return 0;
}
"""

_WAIT_IMAGES_JS = """
async () => {
  await Promise.all(Array.from(document.images).map(img => img.complete ? null :
    new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  return true;
}
"""

_FACTS_JS = """
() => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const imgs = Array.from(document.images);
  return {
    title: document.title,
    math: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.trim().slice(0, 60)),
    typeset: document.querySelectorAll('mjx-container').length,
    mathErrors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent.slice(0, 80)),
    images: imgs.length,
    brokenImages: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    figures: imgs.filter(i => i.closest('.cell_output, .output')).length,
    details: document.querySelectorAll('details').length,
    openDetails: Array.from(document.querySelectorAll('details[open]')).map(d => d.querySelector('summary')?.textContent.trim()),
  };
}
"""


@dataclass
class PageReport:
    url: str
    mode: str
    facts: dict = field(default_factory=dict)
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = [f"console error: {e}" for e in self.console_errors]
        out += [f"request to another host blocked: {u}" for u in self.blocked]
        out += [f"request failed: {u}" for u in self.failed]
        f = self.facts
        if f.get("untypeset"):
            out.append(f"{len(f['untypeset'])} of {f['math']} math element(s) not typeset, e.g. {f['untypeset'][:3]}")
        if f.get("mathErrors"):
            out.append(f"MathJax errors: {f['mathErrors'][:3]}")
        if f.get("brokenImages"):
            out.append(f"images not shown: {f['brokenImages'][:5]}")
        if f.get("wait") not in ("no math", "typeset"):
            out.append(f"math: {f.get('wait')}")
        if f.get("searchResults") == 0:
            out.append("the search page found nothing")
        return out

    def summary(self) -> str:
        f = self.facts
        head = (f"[{self.mode}] {self.url}: {'ok' if not self.problems else 'FAILED'} in {self.seconds:.1f} s; "
                f"math {f.get('typeset', 0)} typeset / {f.get('math', 0)}, images {f.get('images', 0)}, "
                f"folded <details> {f.get('details', 0)}; screenshots {[str(p) for p in self.screenshots]}")
        return "\n".join([head] + [f"  problem: {p}" for p in self.problems])


SEARCH = "search.html?q=exercise"  # the search page with a query every lesson answers


def _router(base: str, report: PageReport):
    """A route handler: requests inside the site go through; any other is aborted and recorded."""
    def handle(route) -> None:  # one parameter: Playwright then passes only the route
        url = route.request.url
        if url.startswith((base, "data:", "blob:")):
            route.continue_()
        else:
            report.blocked.append(url)
            route.abort()
    return handle


def page_paths(site: Path) -> list[str]:
    """The pages the browser opens: the home page, every lesson page and a search (site-relative)."""
    return (["index.html"] + [p.relative_to(site).as_posix() for p in sorted((site / "lessons").glob("*.html"))]
            + [SEARCH])


def check_pages(site: Path, mode: str = "http", pages: list[str] | None = None,
                artifacts: Path = ARTIFACTS, timeout_s: float = 60.0, details: bool = True,
                math_wait_s: float = 20.0) -> list[PageReport]:
    """Open pages in headless Chromium with every request outside the site blocked (see module doc);
    ``details``: also screenshot the first figure and the first displayed equation of each page."""
    from playwright.sync_api import sync_playwright

    site = site.resolve()
    pages = pages if pages is not None else page_paths(site)
    shots = artifacts / mode
    shots.mkdir(parents=True, exist_ok=True)
    reports = []
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(serve(site)) if mode == "http" else site.as_uri() + "/"
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        stack.callback(browser.close)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        context.set_default_timeout(timeout_s * 1000)
        for rel in pages:
            report = PageReport(base + rel, mode)
            page = context.new_page()

            page.route("**/*", _router(base, report))
            page.on("console", lambda m, report=report: report.console_errors.append(m.text)
                    if m.type == "error" else None)
            page.on("pageerror", lambda e, report=report: report.console_errors.append(f"uncaught: {e}"))
            page.on("requestfailed", lambda r, report=report: report.failed.append(
                f"{r.url} ({r.failure})") if not any(r.url in b for b in report.blocked) else None)
            page.on("response", lambda r, report=report: report.failed.append(f"{r.url} (HTTP {r.status})")
                    if r.status >= 400 else None)
            t0 = time.monotonic()
            page.goto(report.url, wait_until="load")
            wait = page.evaluate(_WAIT_MATH_JS, math_wait_s * 1000)
            page.evaluate(_WAIT_IMAGES_JS)
            found = page.evaluate(_WAIT_SEARCH_JS) if rel.startswith("search.html") else None
            page.wait_for_timeout(300)  # late console messages (fonts, lazy MathJax parts)
            report.facts = page.evaluate(_FACTS_JS) | {"wait": wait, "searchResults": found}
            report.seconds = time.monotonic() - t0
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.split("?")[0].replace("/", "_")).removesuffix(".html")
            top = shots / f"{stem}.png"
            page.screenshot(path=str(top))
            report.screenshots.append(top)
            for what, selector in (("figure", ".cell_output img"), ("math", "div.math")) if details else ():
                loc = page.locator(selector).first
                if loc.count():
                    path = shots / f"{stem}.{what}.png"
                    loc.scroll_into_view_if_needed()
                    loc.screenshot(path=str(path))
                    report.screenshots.append(path)
            page.close()
            reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site", nargs="?", type=Path, default=ROOT / "_site")
    ap.add_argument("--file", action="store_true", help="also open every page from file://")
    args = ap.parse_args(argv)
    if not (args.site / "index.html").exists():
        print(f"error: no site in {args.site}; run `make site` first", file=sys.stderr)
        return 2
    bad = link_problems(args.site)
    print(f"links: {len(bad)} broken" + "".join(f"\n  {b}" for b in bad))
    reports = []
    for mode in ("http", "file") if args.file else ("http",):
        reports += check_pages(args.site, mode, details=mode == "http")
    for r in reports:
        print(r.summary())
    return 1 if bad or any(r.problems for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
