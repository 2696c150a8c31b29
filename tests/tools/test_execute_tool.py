"""tools.execute: error collection and the timing table (the notebook runs themselves are in test_notebooks)."""

from __future__ import annotations

from pathlib import Path

import nbformat

from tools.execute import Result, cell_errors, execute, format_results


def _nb_with_error(ename: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell("x")
    c.outputs = [nbformat.v4.new_output("error", ename=ename, evalue="boom", traceback=[])]
    nb.cells = [nbformat.v4.new_markdown_cell("m"), c]
    return nb


def test_cell_errors_and_table():
    errs = cell_errors(_nb_with_error("ValueError"))
    assert errs == [(1, "ValueError", "boom")]
    table = format_results([Result(Path("a.ipynb"), 200.0, errs), Result(Path("b.ipynb"), 1.0, [])])
    assert "ERROR ValueError in cell 1" in table and "over the 180 s budget" in table and "b.ipynb" in table
    course = format_results([Result(Path("c.ipynb"), 1.0, [(1, "NotImplementedError", "x")])], course=True)
    assert "c.ipynb" in course and "ERROR" not in course


def test_execute_runs_a_notebook_in_this_environment(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys, utils\nprint(sys.prefix)"),
                nbformat.v4.new_code_cell("raise NotImplementedError('stub')")]
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, str(path))
    r = execute(path, allow_errors=True, timeout=120)
    assert r.errors == [(1, "NotImplementedError", "stub")]
    import sys

    assert r.nb.cells[0].outputs[0].text.strip() == sys.prefix
    strict = execute(path, allow_errors=False, timeout=120)
    assert strict.errors and strict.errors[0][1] == "NotImplementedError"
