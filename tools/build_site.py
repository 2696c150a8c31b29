"""Build the course website from the committed solution notebooks (nothing is executed).

    python -m tools.build_site                  # -> _site/ (what `make site` runs)
    python -m tools.build_site --out /tmp/site  # elsewhere

Sphinx with MyST-NB and the Sphinx Book Theme (the Jupyter Book 1 stack) renders the notebooks with their
stored outputs; ``website/conf.py`` is the Sphinx configuration. Before Sphinx runs, this tool lays out a
source tree in ``build/site/src``:

* ``index.md``: the home page: the README's introduction (what the course is, who it is for), the lesson
  table generated from ``utils.course.LESSONS`` and the two set-up commands;
* ``lessons/NN_name.ipynb``: a copy of every ``solutions/*.ipynb`` (found by globbing: a new lesson gets a page
  without any change here), with a bar of links under the title (download the notebook and its exercise
  version, open in Colab, launch on Binder), each exercise cell marked with a link to the learner notebook in
  ``course/`` and its solution folded, and every widget output replaced by a static note (with the picture
  the widget showed when the notebook was saved, when there is one): widgets need a running kernel.

The notebooks themselves are copied into the site (``notebooks/solutions``, ``notebooks/course``) so that the
download links work offline. MathJax 3.2.2 comes from the exactly pinned PyPI package
``sphinx-mathjax-offline`` (its files are those of the ``mathjax`` npm package 3.2.2); only the part the
pages use is copied. The site loads nothing from another host and opens from ``file://``.

Colab and Binder links are built from ONE repository URL, the one the notebooks' set-up cell installs the
course from: the ``COURSE_REPO`` environment variable, else the default written in
``solutions/00_welcome.ipynb``. ``COURSE_BRANCH`` (default ``main``) names the branch.
"""

from __future__ import annotations

import argparse
import copy
import html
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import nbformat

from utils.course import LESSONS

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = "website"  # the Sphinx configuration folder, in the repository root
DEFAULT_OUT = ROOT / "_site"
BEGIN = "### BEGIN SOLUTION"  # the exercise marker of tools/build_course.py (not imported: it loads torch)
MARKER = ".course-site"  # written into the output folder; only such a folder is ever emptied
REPO_NOTEBOOK = "00_welcome.ipynb"
_REPO_RE = re.compile(r"""os\.environ\.get\(\s*["']COURSE_REPO["']\s*,\s*["']([^"']+)["']\s*\)""")
_GITHUB_RE = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
MATHJAX_DIST = "sphinx-mathjax-offline"
# The parts of MathJax's es5 build that tex-chtml uses: the component itself, its fonts, the TeX extensions
# it loads on demand, the menu and the assistive-MathML module the menu enables by default.
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui", "a11y")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
# Widget models that only show something; any other model in a widget (slider, button, ...) is a control.
PASSIVE_MODELS = {"LayoutModel", "HBoxModel", "VBoxModel", "BoxModel", "GridBoxModel", "HTMLModel",
                  "HTMLMathModel", "LabelModel", "OutputModel", "FloatProgressModel", "IntProgressModel",
                  "ImageModel", "AccordionModel", "TabModel"}
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


class SiteError(RuntimeError):
    """The site cannot be built; the message says what to fix."""


# ------------------------------------------------------------------------------------------ settings


def lesson_notebooks(root: Path = ROOT) -> list[Path]:
    """Every solution notebook, in order: each gets a page (the same glob as tools/build_course.py)."""
    return sorted(p for p in (root / "solutions").glob("*.ipynb") if not p.name.startswith("."))


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(str(path), as_version=4)
    except Exception as err:  # nbformat raises several kinds for bad JSON / schema
        raise SiteError(f"{path}: not a readable notebook ({type(err).__name__}: {err})") from None


def default_repo(root: Path = ROOT) -> str:
    """The repository URL written in the set-up cell of the welcome notebook."""
    path = root / "solutions" / REPO_NOTEBOOK
    nb = read_notebook(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            m = _REPO_RE.search(cell.source)
            if m:
                return m.group(1)
    raise SiteError(f"{path}: no set-up cell with os.environ.get('COURSE_REPO', '<url>'); "
                    "set COURSE_REPO to the course repository's URL")


def course_repo(root: Path = ROOT) -> str:
    """COURSE_REPO from the environment (when set and not empty), else the notebooks' default."""
    return os.environ.get("COURSE_REPO", "").strip() or default_repo(root)


def course_branch() -> str:
    return os.environ.get("COURSE_BRANCH", "").strip() or "main"


def launch_links(repo: str, branch: str, notebook: str) -> dict[str, str]:
    """Colab and Binder links that open ``course/<notebook>`` (the exercise version) of a GitHub repository;
    empty when the repository is not on GitHub (both services need that)."""
    m = _GITHUB_RE.match(repo)
    if not m:
        return {}
    owner, name = m.groups()
    return {
        "colab": f"https://colab.research.google.com/github/{owner}/{name}/blob/{quote(branch)}/course/{notebook}",
        "binder": f"https://mybinder.org/v2/gh/{owner}/{name}/{quote(branch, safe='')}"
                  f"?labpath={quote('course/' + notebook, safe='')}",
    }


def clone_command(repo: str) -> str:
    name = repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "course"
    return f"git clone {repo} && cd {name}"


def mathjax_source() -> Path:
    """The MathJax es5 folder inside the pinned PyPI package."""
    try:
        dist = md.distribution(MATHJAX_DIST)
    except md.PackageNotFoundError:
        raise SiteError(f"{MATHJAX_DIST} is not installed: run `make setup` (the `site` extra)") from None
    for f in dist.files or ():
        if f.as_posix().endswith("static/mathjax/tex-chtml.js"):
            return Path(dist.locate_file(f)).parent
    raise SiteError(f"{MATHJAX_DIST} {dist.version} has no static/mathjax/tex-chtml.js")


# ------------------------------------------------------------------------------------------ widgets


def _model_refs(value) -> list[str]:
    """Model ids referenced (``IPY_MODEL_<id>``) anywhere in a widget state value, in order."""
    if isinstance(value, str):
        return [value[len("IPY_MODEL_"):]] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, list):
        return [r for v in value for r in _model_refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _model_refs(v)]
    return []


def _subtree(model_id: str, states: dict) -> list[tuple[str, dict]]:
    """(model name, state) of a widget and every model it references, depth first, each once."""
    seen, out, stack = set(), [], [model_id]
    while stack:
        mid = stack.pop()
        if mid in seen or mid not in states:
            continue
        seen.add(mid)
        model = states[mid]
        out.append((model.get("model_name", "?"), model.get("state", {})))
        stack.extend(reversed(_model_refs(model.get("state", {}))))
    return out


def _text(fragment: str) -> str:
    """Plain text of a small HTML fragment (widget labels), whitespace collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", fragment or ""))
    return " ".join(text.replace("\u200b", " ").split())


CONTROL_WORDS = (("Slider", "slider"), ("ToggleButtons", "toggle buttons"), ("ToggleButton", "toggle button"),
                 ("Button", "button"), ("Dropdown", "dropdown"), ("Textarea", "text area"), ("Text", "text box"),
                 ("Checkbox", "checkbox"), ("Radio", "radio buttons"), ("Select", "list"), ("Play", "player"))


def _is_control(model_name: str) -> bool:
    return model_name not in PASSIVE_MODELS and not model_name.endswith("StyleModel")


def _kind(model_name: str) -> str:
    """A learner's word for a control: FloatSliderModel -> 'slider'."""
    return next((word for key, word in CONTROL_WORDS if key in model_name),
                model_name.removesuffix("Model").lower())


def _note(body: str, cls: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/html": f'<div class="widget-static {cls}">{body}</div>',
                                                         "text/plain": _text(body)})


def static_widget_outputs(output: dict, states: dict) -> list[nbformat.NotebookNode]:
    """What the site shows instead of one widget output: a short note, plus the outputs the widget's output
    areas held when the notebook was saved (the figure at the starting settings, for an explorer)."""
    view = output.get("data", {}).get(WIDGET_VIEW, {})
    tree = _subtree(view.get("model_id", ""), states)
    if not tree:
        return [_note("A widget appears here when the notebook runs (run it locally with <code>make lab</code>, "
                      "in Colab or on Binder).", "widget-missing")]
    names = [name for name, _ in tree]
    controls = [_kind(n) for n in names if _is_control(n)]
    labels = [_text(s.get("value", "")) for n, s in tree if n in ("HTMLModel", "HTMLMathModel", "LabelModel")]
    labels = [t for t in labels if t]
    if controls:
        kinds = ", ".join(dict.fromkeys(controls))
        saved = [copy.deepcopy(o) for n, s in tree if n == "OutputModel" for o in s.get("outputs", [])]
        saved = [nbformat.from_dict(o) for o in saved if WIDGET_VIEW not in o.get("data", {})]
        title = f"<strong>{html.escape(labels[0])}</strong>: " if labels else ""
        shown = " Below, what it showed at its starting settings." if saved else ""
        body = (f"<p>&#9881; {title}an interactive widget ({html.escape(kinds)}). Its controls need a running "
                f"notebook: open it locally with <code>make lab</code>, in Colab or on Binder (links at the top "
                f"of the page).{shown}</p>")
        return [_note(body, "widget-interactive"), *saved]
    if any(n in PROGRESS_MODELS for n in names):
        bar = next(s for n, s in tree if n in PROGRESS_MODELS)
        desc = re.sub(r"[\s:]*\d+%$", "", labels[0]) if labels else "progress"
        done = f"{bar.get('value', 0):g}/{bar.get('max', 0):g}"
        body = (f"<p>Progress bar <strong>{html.escape(desc)}</strong>: {done} when the notebook was saved "
                f"(it moves while the notebook runs).</p>")
        return [_note(body, "widget-progress")]
    text = html.escape(" · ".join(labels)) or "a widget"
    return [_note(f"<p>{text} (a widget; it is live when the notebook runs)</p>", "widget-display")]


# ------------------------------------------------------------------------------------------ lesson pages


@dataclass
class Page:
    source: Path  # solutions/NN_name.ipynb
    title: str
    has_math: bool
    images: int
    exercises: int
    widgets: int

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def html(self) -> str:
        return f"lessons/{self.stem}.html"


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _links_bar(name: str, has_course: bool, links: dict[str, str]) -> str:
    items = [f'<a class="lesson-link" href="../notebooks/solutions/{name}" download>&#11015; Download the notebook</a>']
    if has_course:
        items.append(f'<a class="lesson-link" href="../notebooks/course/{name}" download>'
                     f'&#11015; Exercise version</a>')
    if "colab" in links:
        items.append(f'<a class="lesson-link" href="{html.escape(links["colab"])}">Open in Colab</a>')
    if "binder" in links:
        items.append(f'<a class="lesson-link" href="{html.escape(links["binder"])}">Launch on Binder</a>')
    return f'<div class="lesson-links">{" ".join(items)}</div>'


def _exercise_note(name: str, has_course: bool) -> str:
    where = (f'<a href="../notebooks/course/{name}"><code>course/{name}</code></a>' if has_course
             else f"<code>course/{name}</code>")
    return (f'<div class="exercise-note">&#9998; <strong>Exercise cell.</strong> In the exercise notebook {where} '
            f"this function is a stub (<code># YOUR CODE HERE</code>) for you to write; the check at the end of the "
            f"cell tells you when it is right. The solution is folded below; try first.</div>")


def _is_exercise(cell) -> bool:
    return cell.cell_type == "code" and any(line.strip() == BEGIN for line in cell.source.splitlines())


def site_notebook(path: Path, repo: str, branch: str, has_course: bool) -> tuple[nbformat.NotebookNode, Page]:
    """The page version of one solution notebook (the input file is not modified)."""
    nb = read_notebook(path)
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    page = Page(path, _title(nb, path.stem), False, 0, 0, 0)
    cells = []
    bar_done = False
    for cell in nb.cells:
        cell = copy.deepcopy(cell)
        if cell.cell_type == "markdown":
            if "$" in cell.source or "\\begin{" in cell.source:
                page.has_math = True
            lines = cell.source.splitlines()
            if not bar_done:
                for i, line in enumerate(lines):
                    if line.startswith("# "):  # the links go right under the title
                        lines[i + 1:i + 1] = ["", _links_bar(path.name, has_course, launch_links(repo, branch, path.name)), ""]
                        cell.source = "\n".join(lines)
                        bar_done = True
                        break
        elif cell.cell_type == "code":
            if _is_exercise(cell):
                page.exercises += 1
                cells.append(nbformat.v4.new_markdown_cell(_exercise_note(path.name, has_course)))
                tags = list(cell.metadata.get("tags", []))
                cell.metadata["tags"] = tags + [t for t in ("exercise", "hide-input") if t not in tags]
            outputs = []
            for out in cell.get("outputs", []):
                if WIDGET_VIEW in out.get("data", {}):
                    page.widgets += 1
                    outputs.extend(static_widget_outputs(out, states))
                else:
                    outputs.append(out)
            cell.outputs = outputs
            page.images += sum("image/png" in o.get("data", {}) or "image/jpeg" in o.get("data", {})
                               or "image/svg+xml" in o.get("data", {}) for o in outputs)
        cells.append(cell)
    if not bar_done:  # no title line: the links open the page
        cells.insert(0, nbformat.v4.new_markdown_cell(
            f"# {page.title}\n\n{_links_bar(path.name, has_course, launch_links(repo, branch, path.name))}"))
    nb.cells = cells
    nb.metadata.pop("widgets", None)  # no widget JavaScript on the page (it would come from a CDN)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"site-{i:03d}"
    return nb, page


# ------------------------------------------------------------------------------------------ home page


def readme_intro(root: Path = ROOT) -> tuple[str, str]:
    """(title, introduction) from the README: its first heading and what stands before '## Quickstart'."""
    text = (root / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    lines = head.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise SiteError("README.md must open with a '# Title' line")
    return lines[0][2:].strip(), "\n".join(lines[1:]).strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def lesson_table(pages: list[Page]) -> str:
    """The lesson table: every lesson of the course map (linked when its page exists), then any notebook
    the map does not list yet."""
    by_name = {p.source.name: p for p in pages}
    rows = ["| # | lesson | time | built on |", "|---|---|---|---|"]
    listed = set()
    for lesson in LESSONS:
        listed.add(lesson.notebook)
        page = by_name.get(lesson.notebook)
        title = (f"[{_cell(lesson.title)}]({page.html.removesuffix('.html')}.ipynb)" if page
                 else f"{_cell(lesson.title)} (coming soon)")
        rows.append(f"| {lesson.number} | {title} | {lesson.minutes} min | {_cell(lesson.papers)} |")
    for page in pages:
        if page.source.name not in listed:
            number = page.stem.split("_", 1)[0]
            rows.append(f"| {number} | [{_cell(page.title)}](lessons/{page.stem}.ipynb) | - | - |")
    return "\n".join(rows)


def home_page(pages: list[Page], repo: str, root: Path = ROOT) -> str:
    title, intro = readme_intro(root)
    toctree = "\n".join(f"lessons/{p.stem}" for p in pages)
    return f"""# {title}

{intro}

## Lessons

{lesson_table(pages)}

Times are for reading and doing the exercises. Each lesson page shows the complete notebook with every output
as it ran on a 2-core CPU; the exercise version, with the functions for you to write, is one click away at the
top of the page, with links to open it in Colab or on Binder.

## Run the course on your machine

Get the repository, then use the two commands below (Python 3.10-3.12 and `make`; no GPU, no network needed
after the set-up):

```bash
{clone_command(repo)}
```

```bash
make lab     # set up .venv (pinned versions), open JupyterLab on course/
make test    # every test: unit tests, every notebook, the browser
```

```{{toctree}}
:hidden:
:caption: Lessons

{toctree}
```
"""


# ------------------------------------------------------------------------------------------ build


def _prepare_out(out: Path) -> None:
    if out.exists():
        if not (out / MARKER).exists() and any(out.iterdir()):
            raise SiteError(f"{out} exists and is not a site this tool built; choose an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def stage(root: Path, work: Path) -> tuple[list[Page], str]:
    """Write the Sphinx source tree, the notebooks to download and MathJax under ``work``."""
    if work.exists():
        shutil.rmtree(work)
    src, extra, static = work / "src", work / "extra", work / "static"
    for d in (src / "lessons", extra / "notebooks" / "solutions", extra / "notebooks" / "course", static):
        d.mkdir(parents=True)
    repo, branch = course_repo(root), course_branch()
    pages = []
    for path in lesson_notebooks(root):
        learner = root / "course" / path.name
        nb, page = site_notebook(path, repo, branch, learner.exists())
        nbformat.write(nb, str(src / "lessons" / path.name))
        shutil.copy2(path, extra / "notebooks" / "solutions" / path.name)
        if learner.exists():
            shutil.copy2(learner, extra / "notebooks" / "course" / path.name)
        pages.append(page)
    if not pages:
        raise SiteError(f"no notebooks in {root / 'solutions'}")
    (src / "index.md").write_text(home_page(pages, repo, root), encoding="utf-8")
    mj = mathjax_source()
    for part in MATHJAX_PARTS:
        s, d = mj / part, static / "mathjax" / part
        d.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if s.is_dir() else shutil.copy2)(s, d)
    title, _ = readme_intro(root)
    settings = {"title": title, "repo": repo, "branch": branch, "static": str(static), "extra": str(extra)}
    (work / "site.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return pages, repo


def build(out: Path = DEFAULT_OUT, root: Path = ROOT, work: Path | None = None, jobs: str = "1",
          quiet: bool = True) -> list[Page]:
    """Stage and run Sphinx; warnings fail the build. Returns the lesson pages."""
    work = work or (root / "build" / "site")
    out = out.resolve()
    pages, _ = stage(root, work)
    # Sphinx writes into the work folder (MyST-NB puts its image files next to Sphinx's output folder, in
    # ../jupyter_execute); the finished site is then copied to ``out``.
    html_dir = work / "html"
    env = dict(os.environ, COURSE_SITE_STAGE=str(work), PYTHONHASHSEED="0")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-j", jobs, "-c", str(root / CONF_DIR),
           "-d", str(work / "doctrees"), str(work / "src"), str(html_dir)]
    if quiet:
        cmd.insert(3, "-q")
    proc = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
    if proc.returncode:
        raise SiteError(f"sphinx-build failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    (html_dir / ".buildinfo").unlink(missing_ok=True)
    (html_dir / MARKER).write_text("built by tools/build_site.py; `make site` empties and rebuilds this folder\n")
    _prepare_out(out)
    shutil.copytree(html_dir, out, dirs_exist_ok=True)
    return pages


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: _site/)")
    ap.add_argument("--jobs", default=os.environ.get("SITE_JOBS", "1"), help="Sphinx processes (-j)")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's progress")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    try:
        pages = build(args.out, jobs=args.jobs, quiet=not args.verbose)
    except SiteError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    size, n = folder_size(args.out)
    print(f"site: {len(pages)} lesson page(s) + home page in {args.out} ({size / 2**20:.1f} MiB, {n} files) "
          f"in {time.monotonic() - t0:.0f} s; repository links: {course_repo()} ({course_branch()})")
    print(f"preview: open {args.out.resolve() / 'index.html'} or run "
          f"`{Path(sys.executable).name} -m http.server --directory {args.out} 8000`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
