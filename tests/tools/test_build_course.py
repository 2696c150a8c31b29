"""The solutions -> course authoring tool, on fixture notebooks built in each test."""

from __future__ import annotations

import json

import nbformat
import pytest

from tools.build_course import AuthoringError, build_all, build_notebook, main, stub_source


def make_nb(*cells):
    nb = nbformat.v4.new_notebook()
    for i, (kind, src, *tags) in enumerate(cells):
        c = nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src)
        c["id"] = f"c{i}"
        if tags:
            c.metadata["tags"] = tags[0]
        if kind == "code":
            c.outputs = [nbformat.v4.new_output("stream", text="secret output 42\n")]
            c.execution_count = i + 1
        nb.cells.append(c)
    nb.metadata["widgets"] = {"state": {}}
    nb.metadata["kernelspec"] = {"name": "some-env", "display_name": "x", "language": "python"}
    return nb


EXERCISE = """def pgd(x):
    y = x
    ### BEGIN SOLUTION
    secret_step = y * 2
    return secret_step
    ### END SOLUTION


check_pgd(pgd)"""


def test_region_becomes_indented_stub_and_cell_is_tagged():
    out = build_notebook(make_nb(("code", EXERCISE)), "fx.ipynb")
    src = out.cells[0].source
    assert "secret_step" not in src and "BEGIN SOLUTION" not in src
    assert "    # YOUR CODE HERE\n    raise NotImplementedError(" in src
    assert src.startswith("def pgd(x):\n    y = x\n") and src.endswith("check_pgd(pgd)")
    assert out.cells[0].metadata["tags"] == ["exercise"]


def test_outputs_counts_and_metadata_are_normalised():
    nb = make_nb(("md", "# Title"), ("code", "print(1)", ["nbval-ignore-output"]))
    nb.cells[1].metadata["collapsed"] = True
    nb.cells[1].metadata["execution"] = {"iopub.status.busy": "2026"}
    out = build_notebook(nb)
    code = out.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert dict(code.metadata) == {"tags": ["nbval-ignore-output"]}
    assert out.metadata["kernelspec"]["name"] == "python3" and "widgets" not in out.metadata
    assert out.cells[0].metadata == {}


def test_solution_only_cells_are_dropped():
    out = build_notebook(make_nb(("md", "keep"), ("code", "answer = 42", ["solution-only"]), ("code", "x = 1")))
    assert [c.source for c in out.cells] == ["keep", "x = 1"]


def test_input_notebook_is_not_modified():
    nb = make_nb(("code", EXERCISE))
    before = json.dumps(nb, sort_keys=True)
    build_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before


def test_magics_are_allowed_in_exercise_cells():
    src = "%matplotlib inline\ndef f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    new, removed = stub_source(src, "nb, cell 0")
    assert removed == ["    return 1"] and new.startswith("%matplotlib inline")


@pytest.mark.parametrize("src, fragment", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "has no matching"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a matching"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", "inside a region"),
    ("x = 1  ### BEGIN SOLUTION\n", "stand alone"),
    ("if True:\n### BEGIN SOLUTION\n    x = 1\n### END SOLUTION\n", "not valid Python"),
])
def test_malformed_markers_name_notebook_and_cell(src, fragment):
    nb = make_nb(("md", "intro"), ("code", src))
    with pytest.raises(AuthoringError) as info:
        build_notebook(nb, "solutions/99_bad.ipynb")
    msg = str(info.value)
    assert "solutions/99_bad.ipynb, cell 1" in msg and fragment in msg


def test_markers_in_markdown_are_rejected():
    with pytest.raises(AuthoringError, match="cell 0: solution markers are only allowed in code cells"):
        build_notebook(make_nb(("md", "### BEGIN SOLUTION\nanswer\n### END SOLUTION")), "nb")


def test_build_all_check_mode_finds_drift_and_stale_files(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "course"
    src.mkdir()
    nbformat.write(make_nb(("code", EXERCISE)), str(src / "01_x.ipynb"))
    assert build_all(src, dst, check=True) == [f"{dst / '01_x.ipynb'} is missing"]
    assert build_all(src, dst) == []
    assert build_all(src, dst, check=True) == []
    (dst / "01_x.ipynb").write_text((dst / "01_x.ipynb").read_text().replace("YOUR CODE", "MY CODE"))
    (dst / "02_old.ipynb").write_text("{}")
    problems = build_all(src, dst, check=True)
    assert any("differs" in p for p in problems) and any("02_old.ipynb has no source" in p for p in problems)
    build_all(src, dst)
    assert sorted(p.name for p in dst.iterdir()) == ["01_x.ipynb"]


def test_cli_reports_unreadable_notebooks(tmp_path, capsys):
    src, dst = tmp_path / "solutions", tmp_path / "course"
    src.mkdir()
    (src / "01_broken.ipynb").write_text("{not json")
    assert main(["--src", str(src), "--dst", str(dst)]) == 2
    assert "01_broken.ipynb: not a readable notebook" in capsys.readouterr().err
    (src / "01_broken.ipynb").write_text(json.dumps({"cells": "nope", "nbformat": 4, "nbformat_minor": 5,
                                                      "metadata": {}}))
    assert main(["--src", str(src), "--dst", str(dst)]) == 2


def test_cli_check_exit_codes(tmp_path):
    src, dst = tmp_path / "solutions", tmp_path / "course"
    src.mkdir()
    nbformat.write(make_nb(("code", "x = 1")), str(src / "01_x.ipynb"))
    assert main(["--src", str(src), "--dst", str(dst), "--check"]) == 1
    assert main(["--src", str(src), "--dst", str(dst)]) == 0
    assert main(["--src", str(src), "--dst", str(dst), "--check"]) == 0
