"""The committed notebooks: course/ is in sync with solutions/, has no solutions or outputs, and runs
with NotImplementedError as its only error; solutions are committed executed, top to bottom."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tools.build_course import BEGIN, END, EXERCISE_TAG, SOLUTION_ONLY, build_all, stub_source
from tools.execute import execute

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
COURSE = sorted((ROOT / "course").glob("*.ipynb"))


def test_there_are_notebooks():
    assert SOLUTIONS and [p.name for p in SOLUTIONS] == [p.name for p in COURSE]


def test_course_is_a_fresh_build_of_solutions():
    problems = build_all(ROOT / "solutions", ROOT / "course", check=True)
    assert not problems, "course/ drifted from solutions/; run `make course`:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_course_has_no_outputs_and_no_solution_text(path):
    course = nbformat.read(str(path), as_version=4)
    sol = nbformat.read(str(ROOT / "solutions" / path.name), as_version=4)
    text = nbformat.writes(course)
    assert BEGIN not in text and END not in text
    # Hints in markdown may quote a line on purpose; the code cells must not contain the solution.
    code = "\n".join(c.source for c in course.cells if c.cell_type == "code")
    removed = []
    for i, cell in enumerate(sol.cells):
        if cell.cell_type == "code" and SOLUTION_ONLY not in cell.metadata.get("tags", []):
            removed += stub_source(cell.source, f"{path.name}, cell {i}")[1]
    for line in removed:
        line = line.strip()
        if len(line) > 12 and not line.startswith(("#", "return", "pass")):
            assert line not in code, f"solution line leaked into the code of {path.name}: {line!r}"
    for cell in course.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert any(EXERCISE_TAG in c.metadata.get("tags", []) for c in course.cells), f"{path.name} has no exercise"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_are_committed_executed_in_order(path):
    nb = nbformat.read(str(path), as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(c is not None for c in counts), f"{path.name}: run it and save outputs (tools.execute --write)"
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: re-run top to bottom in a fresh kernel"
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{path.name}, cell {i} has an error output"


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebooks_follow_the_lesson_anatomy(path):
    nb = nbformat.read(str(path), as_version=4)
    md = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for needed in ("objectives", "## Summary", "## Reflection", "## References"):
        assert needed.lower() in md.lower(), f"{path.name} lacks {needed!r}"
    assert re.search(r"\bAbout \d+ minutes|\b\d+ minutes", md), f"{path.name}: give a time estimate"
    exercises = re.findall(r"### Exercise[^\n]*\n([^\n]*)", md)
    for line in exercises:
        assert "Difficulty" in line and "minutes" in line, f"{path.name}: exercise header {line!r}"
    assert md.count("<details>") >= len(exercises), f"{path.name}: each exercise needs hints in <details>"


@pytest.mark.slow
@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_course_notebook_runs_with_only_not_implemented_errors(path, record_property):
    result = execute(path, allow_errors=True)
    if result.cpu_seconds is not None:
        record_property("kernel_cpu_s", result.cpu_seconds)  # the run-time table in conftest.py reads it
    record_property("slowest_step", result.slowest)      # and names the step that took longest
    bad = [e for e in result.errors if e[1] != "NotImplementedError"]
    assert not bad, f"{path.name}: errors other than NotImplementedError: {bad[:3]}"
    nb = result.nb
    for i, cell in enumerate(nb.cells):
        if EXERCISE_TAG in cell.metadata.get("tags", []):
            errs = [o for o in cell.outputs if o.output_type == "error"]
            assert errs, f"{path.name}, cell {i}: an exercise stub ran without an error (does its check run?)"
            assert "is not implemented yet" in errs[0].evalue, (
                f"{path.name}, cell {i}: the stub must reach its check, which says 'not implemented yet'; "
                f"got {errs[0].ename}: {errs[0].evalue[:120]}")
    print(f"{path.name}: {result.seconds:.1f} s wall, {result.cpu_seconds} CPU s, "
          f"{len(result.errors)} NotImplementedError(s); slowest step {result.slowest}")
