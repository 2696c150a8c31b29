"""End to end: every solution notebook runs in a real JupyterLab in headless Chromium, and its widgets
render and respond (tools/browser_e2e.py does the driving).

    make test-browser        # = bash tools/ensure_browser.sh; pytest -m browser tests

Skipped only when Debian's chromium (/usr/bin/chromium) is not installed. Every ``solutions/*.ipynb``
present at run time is covered, plus a fixture notebook with every kind of control, and a copy of that
fixture broken on purpose (a slider's observe callback removed, a widget view whose model does not exist)
to prove that the driver notices. All notebooks share one server and run ``BROWSER_E2E_JOBS`` (default 2)
at a time; screenshots go to artifacts/browser/ (kept out of git).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from tools.browser_e2e import (
    ARTIFACTS, CHROMIUM, JOBS, ROOT, append_code, drop_lines, project_python, run_notebooks,
    saved_notebook_problems, solution_notebooks, strip_copy,
)

SOLUTIONS = solution_notebooks()
FIXTURE = ROOT / "tests" / "tools" / "fixtures" / "widgets_fixture.ipynb"
FIXTURE_REL = "tests/tools/fixtures/widgets_fixture.ipynb"
BROKEN_REL = "tests/tools/fixtures/widgets_fixture_broken.ipynb"
OBSERVE_MARKER = "# observe: slider"
# A widget view whose model the kernel never created: JupyterLab shows "Error displaying widget".
MISSING_MODEL_CELL = (
    "from IPython.display import display\n"
    "display({'application/vnd.jupyter.widget-view+json':"
    " {'model_id': 'no-such-model', 'version_major': 2, 'version_minor': 0}}, raw=True)"
)
CONTROL_KINDS = {"slider", "button", "text", "dropdown", "checkbox", "togglebuttons", "textarea"}

no_browser = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is not installed (Debian's chromium package; `bash tools/ensure_browser.sh` installs it as root)",
)


def _break(nb: nbformat.NotebookNode) -> None:
    drop_lines(OBSERVE_MARKER)(nb)
    append_code(MISSING_MODEL_CELL)(nb)


def _sources() -> dict:
    sources = {p.relative_to(ROOT).as_posix(): (p, None) for p in SOLUTIONS}
    sources[FIXTURE_REL] = (FIXTURE, None)
    sources[BROKEN_REL] = (FIXTURE, _break)
    return sources


class _Runs:
    """Runs notebooks on first request. In one process: all of them in one batch (one server, JOBS pages at
    a time). Under pytest-xdist each worker runs only the notebooks its tests ask for."""

    def __init__(self, session: pytest.Session):
        self.config = session.config
        wanted = {_notebook_of(item) for item in session.items}  # only what the selected tests need
        self.pending = {rel: src for rel, src in _sources().items() if rel in wanted}
        self.reports: dict = {}
        self.xdist = bool(os.environ.get("PYTEST_XDIST_WORKER"))

    def get(self, rel: str):
        if rel not in self.reports:
            if rel not in self.pending:
                self.pending[rel] = _sources()[rel]
            batch = {rel: self.pending[rel]} if self.xdist else dict(self.pending)
            reports, wall = run_notebooks(batch, jobs=JOBS)
            for r in reports:
                self.reports[r.name] = r
                self.pending.pop(r.name, None)
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            capman = self.config.pluginmanager.get_plugin("capturemanager")
            lines = [f"browser: {r.name}: {'ok' if r.ok else 'FAILED'}"
                     f"{' (broken on purpose; expected)' if r.name == BROKEN_REL else ''} in {r.seconds:.0f} s, "
                     f"{len(r.widgets)} control(s); screenshot {r.screenshot}" for r in reports]
            lines.append(f"browser: {len(reports)} notebook(s), {JOBS} at a time: {wall:.0f} s wall "
                         f"(server start to stop); screenshots in {ARTIFACTS}")
            # shown even when output is captured (the screenshot paths are the point)
            with capman.global_and_fixture_disabled() if capman else contextlib.nullcontext():
                for line in lines:
                    if tr is not None:
                        tr.write_line(line)
                    else:
                        print(line)
        return self.reports[rel]


def _notebook_of(item: pytest.Item) -> str | None:
    """The notebook (path under the server root) that a collected test asks ``runs`` for."""
    if "runs" not in getattr(item, "fixturenames", ()):
        return None
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "path" in callspec.params:
        return callspec.params["path"].relative_to(ROOT).as_posix()
    return {
        "test_every_kind_of_control_responds_and_the_kernel_is_this_environment": FIXTURE_REL,
        "test_a_broken_widget_makes_the_browser_test_fail": BROKEN_REL,
    }.get(getattr(item, "originalname", ""))


@pytest.fixture(scope="session")
def runs(request) -> _Runs:
    return _Runs(request.session)


# ----------------------------------------------------------------------------------- browser tests


@pytest.mark.browser
@no_browser
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebook_runs_and_widgets_respond_in_jupyterlab(path, runs):
    report = runs.get(path.relative_to(ROOT).as_posix())
    assert report.ok, report.summary()
    assert report.screenshot and report.screenshot.exists()


@pytest.mark.browser
@no_browser
def test_every_kind_of_control_responds_and_the_kernel_is_this_environment(runs):
    report = runs.get(FIXTURE_REL)
    assert report.ok, report.summary()
    kinds = {w.kind for w in report.widgets}
    assert CONTROL_KINDS <= kinds, f"controls not found on the page: {CONTROL_KINDS - kinds}\n{report.summary()}"
    expected = subprocess.run([str(project_python()), "-c", "import sys; print(sys.prefix)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    printed = [line.split(":", 1)[1].strip() for text in report.stdout for line in text.splitlines()
               if line.startswith("kernel prefix:")]
    assert printed and Path(printed[0]).resolve() == Path(expected).resolve(), (
        f"the notebook kernel ran in {printed}, not in this project's environment {expected}")


@pytest.mark.browser
@no_browser
def test_a_broken_widget_makes_the_browser_test_fail(runs):
    report = runs.get(BROKEN_REL)
    assert not report.ok, "the driver passed a notebook with a broken widget:\n" + report.summary()
    slider = [w for w in report.widgets if w.kind == "slider" and w.label == "freq"]
    assert slider and not slider[0].changed, report.summary()
    assert "no displayed output changed" in slider[0].detail
    others = [w for w in report.widgets if w is not slider[0]]
    assert others and all(w.changed for w in others), "only the broken slider may fail:\n" + report.summary()
    assert any("Error displaying widget" in p for p in report.problems), report.summary()


# ----------------------------------------------------------------------------------- helpers, no browser


def test_copies_are_stripped_and_can_be_broken(tmp_path):
    dst = tmp_path / "copy.ipynb"
    strip_copy(FIXTURE, dst, _break)
    nb = nbformat.read(str(dst), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    code_text = "\n".join(c.source for c in code)
    assert OBSERVE_MARKER not in code_text and "slider.observe" not in code_text
    assert code[-1].source == MISSING_MODEL_CELL
    with pytest.raises(ValueError, match="no code line contains"):
        strip_copy(FIXTURE, dst, drop_lines("no such marker anywhere"))


def test_the_fixture_wires_the_slider_on_one_marked_line():
    nb = nbformat.read(str(FIXTURE), as_version=4)
    lines = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines() if OBSERVE_MARKER in line]
    assert lines == ["slider.observe(draw_slider, names='value')  # observe: slider"]


def test_saved_notebook_problems_reports_errors_and_unexecuted_cells(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("1", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="hi\n")]),
        nbformat.v4.new_code_cell("1/0", execution_count=2, outputs=[
            nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]),
        nbformat.v4.new_code_cell("2"),
        nbformat.v4.new_code_cell("raise ValueError", execution_count=3, metadata={"tags": ["raises-exception"]},
                                  outputs=[nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])]),
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    problems, text = saved_notebook_problems(path)
    assert problems == ["cell 1 raised ZeroDivisionError: division by zero", "cell 2 was not executed"]
    assert text == ["hi\n"]
