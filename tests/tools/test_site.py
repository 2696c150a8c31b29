"""The course website, built from a clean state into a temporary folder (what `make site` does), then checked:
a page per lesson, no broken internal link, nothing loaded from another host, and every page in headless
Chromium, from a local server and from file://, with every request outside the site blocked: no console
error, math typeset, figures shown, hints folded. Screenshots go to artifacts/site/ (kept out of git).

    make test-site       # = bash tools/ensure_browser.sh; pytest -m site tests

Marked ``browser`` so that `make test` runs them in its browser phase (one build, one process); the build
and link tests need no browser, the Chromium ones skip when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import contextlib
import html
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from tools import build_site as bs
from tools import site_check as sc
from utils.course import LESSONS

pytestmark = [pytest.mark.browser, pytest.mark.site]

NOTEBOOKS = bs.lesson_notebooks()
PAGES = ["index.html"] + [f"lessons/{p.stem}.html" for p in NOTEBOOKS] + [sc.SEARCH]
no_browser = pytest.mark.skipif(not sc.CHROMIUM.exists(), reason=f"{sc.CHROMIUM} is not installed "
                                "(Debian's chromium package; `bash tools/ensure_browser.sh` installs it as root)")


def _say(config, line: str) -> None:
    """A line in pytest's output even when output is captured (timings and screenshot paths)."""
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
        (tr.write_line if tr else print)(line)


def _checkout(dst: Path) -> Path:
    """A copy of the working tree as git sees it (tracked and new files, nothing git ignores: no build/,
    _site/, .venv), like a fresh checkout with the current changes."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=bs.ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = bs.ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


@pytest.fixture(scope="module")
def built(request, tmp_path_factory):
    """(site folder, pages) of a build from a fresh copy of the working tree, as `make site` runs it."""
    tmp = tmp_path_factory.mktemp("site")
    root = _checkout(tmp / "checkout")
    out, work = tmp / "_site", tmp / "work"
    t0 = time.monotonic()
    pages = bs.build(out, root=root, work=work)
    assert not (root / "_site").exists() and not (root / "jupyter_execute").exists(), "the build wrote into the tree"
    size, files = bs.folder_size(out)
    _say(request.config, f"site: built {len(pages)} lesson page(s) in {time.monotonic() - t0:.0f} s, "
                         f"{size / 2**20:.1f} MiB in {files} files")
    return out, {p.source.name: p for p in pages}


def test_the_build_needs_nothing_git_ignores_and_writes_only_its_folders(built):
    """The fixture built from a copy of what git tracks (no build/, _site/, workspace files git ignores)."""
    site, pages = built
    assert (site / bs.MARKER).exists() and (site / "index.html").exists() and pages


@pytest.fixture(scope="module")
def browsed(request, built):
    """Browser reports per mode ('http', 'file'), keyed by page."""
    site, _ = built
    reports = {}
    for mode in ("http", "file"):
        shutil.rmtree(sc.ARTIFACTS / mode, ignore_errors=True)  # only this run's screenshots
        t0 = time.monotonic()
        reports[mode] = dict(zip(PAGES, sc.check_pages(site, mode, PAGES, details=mode == "http")))
        _say(request.config, f"site: {len(PAGES)} page(s) from {mode} in Chromium in {time.monotonic() - t0:.0f} s; "
                             f"screenshots in {sc.ARTIFACTS / mode}")
    return reports


# ------------------------------------------------------------------------------------------ the build


def test_every_solution_notebook_has_a_page_and_nothing_else_does(built):
    site, pages = built
    assert NOTEBOOKS, "no solution notebooks found"
    assert sorted(pages) == [p.name for p in NOTEBOOKS]
    assert sorted(p.name for p in (site / "lessons").glob("*.html")) == [f"{p.stem}.html" for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        page = (site / "lessons" / f"{path.stem}.html").read_text(encoding="utf-8")
        title = re.sub(r"[*_`]", "", bs._title(nbformat.read(str(path), as_version=4), path.stem))
        h1 = re.search(r"<h1>(.*?)</h1>", page, re.S)
        assert h1 and _text(h1.group(1)).startswith(title), f"{path.name}: title {title!r} not on its page"
        assert (site / "notebooks" / "solutions" / path.name).read_bytes() == path.read_bytes()
        learner = bs.ROOT / "course" / path.name
        if learner.exists():
            assert (site / "notebooks" / "course" / path.name).read_bytes() == learner.read_bytes()


def test_the_home_page_lists_every_lesson_with_time_papers_and_the_set_up_commands(built):
    site, _ = built
    home = (site / "index.html").read_text(encoding="utf-8")
    for lesson in LESSONS:
        row = re.search(rf"<td><p>{lesson.number}</p></td>\s*<td><p>(.*?)</p></td>\s*<td><p>(.*?)</p></td>\s*"
                        rf"<td><p>(.*?)</p></td>", home, re.S)
        assert row, f"lesson {lesson.number} is not in the home page's table"
        assert lesson.title in _text(row.group(1))
        assert _text(row.group(2)) == f"{lesson.minutes} min" and _text(row.group(3)) == lesson.papers
        if (bs.ROOT / "solutions" / lesson.notebook).exists():
            assert f'href="lessons/{Path(lesson.notebook).stem}.html"' in row.group(1)
    text = _text(home)
    assert "make lab" in text and "make test" in text and "Who it is for" in text


def test_no_internal_link_is_broken(built):
    site, _ = built
    assert sc.link_problems(site) == []


def test_the_link_checker_finds_a_broken_link_and_a_missing_anchor(tmp_path):
    (tmp_path / "a.html").write_text('<a href="b.html#there">b</a> <img src="missing.png"> <a href="#top">up</a>'
                                     '<a href="https://example.org/x">out</a> <p id="top"></p>')
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    problems = sc.link_problems(tmp_path)
    assert len(problems) == 2, problems
    assert "no element with id 'there'" in problems[0] and "missing.png: no such file" in problems[1]


def test_every_lesson_page_has_the_download_colab_and_binder_links(built):
    site, pages = built
    repo = bs.course_repo()
    for name, page in pages.items():
        text = (site / page.html).read_text(encoding="utf-8")
        bar = re.search(r'<div class="lesson-links">(.*?)</div>', text, re.S)
        assert bar, f"{page.html}: no links bar"
        hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]+)"', bar.group(1))]
        expected = [f"../notebooks/solutions/{name}"]
        if (bs.ROOT / "course" / name).exists():
            expected.append(f"../notebooks/course/{name}")
        expected += list(bs.launch_links(repo, bs.course_branch(), name).values())
        assert hrefs == expected
        assert text.count('class="exercise-note"') == page.exercises
        assert len(re.findall(r'class="cell [^"]*\btag_exercise\b', text)) == page.exercises


def test_no_page_loads_anything_from_another_host(built):
    """The static half of the offline promise (the browser tests check the dynamic half)."""
    site, _ = built
    problems = []
    for page in sc.html_pages(site):
        p = _Assets()
        p.feed(page.read_text(encoding="utf-8"))
        problems += [f"{page.relative_to(site)}: {u}" for u in p.remote]
    for css in site.rglob("*.css"):
        problems += [f"{css.relative_to(site)}: {u}" for u in
                     re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css.read_text(errors="replace"))]
    assert problems == []
    assert not list(site.rglob("*widget*embed*")), "no widget manager is shipped"
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()


# ------------------------------------------------------------------------------------------ Chromium


@no_browser
@pytest.mark.parametrize("mode", ["http", "file"])
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_with_math_typeset_and_figures_shown(page, mode, built, browsed):
    """The home page, every lesson page and the search page."""
    report = browsed[mode][page]
    assert not report.problems, report.summary()
    f = report.facts
    if page == sc.SEARCH:
        assert f["searchResults"] >= len(NOTEBOOKS), report.summary()
    if not page.startswith("lessons/"):
        return
    info = built[1][Path(page).stem + ".ipynb"]
    if info.has_math:
        assert f["math"] > 0 and f["typeset"] >= f["math"], report.summary()
    assert f["figures"] == info.images, f"{info.images} figure(s) in the notebook\n{report.summary()}"
    nb = nbformat.read(str(info.source), as_version=4)
    hints = sum(c.source.count("<details>") for c in nb.cells if c.cell_type == "markdown")
    assert f["details"] >= hints + info.exercises, "hints and solutions are folded <details>"
    assert f["openDetails"] == [], "every hint and solution starts folded"
    assert all(p.exists() and p.stat().st_size > 0 for p in report.screenshots)


BROKEN_PAGE = """<!DOCTYPE html><html><head><title>broken</title>
<script src="https://cdn.example.org/tex-chtml.js"></script></head>
<body><p><span class="math">\\(x^2\\)</span></p><div class="cell_output"><img src="missing.png"></div>
<script>console.error("boom")</script></body></html>"""


@no_browser
@pytest.mark.parametrize("mode", ["http", "file"])
def test_the_browser_check_notices_a_cdn_script_raw_math_a_missing_figure_and_a_console_error(mode, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(BROKEN_PAGE)
    (report,) = sc.check_pages(tmp_path / "site", mode, ["index.html"], artifacts=tmp_path / "shots",
                               details=False, math_wait_s=2)
    problems = "\n".join(report.problems)
    assert "request to another host blocked: https://cdn.example.org/tex-chtml.js" in problems
    assert "console error: boom" in problems
    assert "1 of 1 math element(s) not typeset" in problems and "MathJax did not start" in problems
    assert "images not shown: ['missing.png']" in problems


# ------------------------------------------------------------------------------------------ helpers


def _text(fragment: str) -> str:
    """The text of an HTML fragment, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


class _Assets(HTMLParser):
    """Resources a page would fetch on load (scripts, stylesheets, images, frames) that live on another host."""

    def __init__(self):
        super().__init__()
        self.remote: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        url = {"script": a.get("src"), "img": a.get("src"), "iframe": a.get("src"), "source": a.get("src"),
               "link": a.get("href") if a.get("rel") not in ("canonical",) else None}.get(tag)
        if url and re.match(r"^(https?:)?//", url):
            self.remote.append(f"<{tag}> {url}")
