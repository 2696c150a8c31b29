"""Build the learner notebooks in ``course/`` from the solution notebooks in ``solutions/``.

Rules (nbgrader style):

* In a code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (markers included)
  become a stub at the marker's indentation::

      # YOUR CODE HERE
      raise NotImplementedError("Exercise: replace this line with your code")

  and the cell is tagged ``exercise``.
* Cells tagged ``solution-only`` are dropped.
* Outputs and execution counts are cleared; cell metadata keeps only tags; notebook metadata is
  normalised to the course kernel.

Malformed notebooks raise :class:`AuthoringError` naming the notebook and cell: unreadable JSON,
unbalanced or nested markers, markers in markdown, or a stubbed cell that is not valid Python.

Usage::

    python -m tools.build_course            # write course/
    python -m tools.build_course --check    # exit 1 if course/ differs from a fresh build
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from utils.checks import STUB_MESSAGE  # one definition, shared with need()

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_BEGIN_RE = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END_RE = re.compile(r"^(\s*)### END SOLUTION\s*$")
SOLUTION_ONLY = "solution-only"
EXERCISE_TAG = "exercise"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class AuthoringError(ValueError):
    """A solution notebook breaks an authoring rule; the message names the notebook and cell."""


def _where(path: str, index: int) -> str:
    return f"{path}, cell {index}"


def _python_only(source: str) -> str:
    """Source with IPython-only lines (magics, shell escapes) blanked, for a syntax check."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def stub_source(source: str, where: str) -> tuple[str, list[str]]:
    """Replace every solution region of a code cell's source; return (new source, removed lines)."""
    out: list[str] = []
    removed: list[str] = []
    inside: str | None = None
    begin_line = 0
    for n, line in enumerate(source.splitlines(), start=1):
        b, e = _BEGIN_RE.match(line), _END_RE.match(line)
        if b:
            if inside is not None:
                raise AuthoringError(f"{where}: line {n}: '{BEGIN}' inside a region opened at line {begin_line}; "
                                     f"close it with '{END}' first")
            inside, begin_line = b.group(1), n
            out.append(f"{inside}# YOUR CODE HERE")
            out.append(f'{inside}raise NotImplementedError("{STUB_MESSAGE}")')
        elif e:
            if inside is None:
                raise AuthoringError(f"{where}: line {n}: '{END}' without a matching '{BEGIN}'")
            inside = None
        elif inside is not None:
            removed.append(line)
        else:
            if BEGIN in line or END in line:
                raise AuthoringError(f"{where}: line {n}: a solution marker must stand alone on its line")
            out.append(line)
    if inside is not None:
        raise AuthoringError(f"{where}: '{BEGIN}' at line {begin_line} has no matching '{END}'")
    new = "\n".join(out)
    try:
        ast.parse(_python_only(new))
    except SyntaxError as err:
        raise AuthoringError(
            f"{where}: after replacing the solution region the cell is not valid Python "
            f"(line {err.lineno}: {err.msg}). Put the markers around whole statements inside a function body."
        ) from None
    return new, removed


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:  # nbformat raises several kinds for bad JSON / schema
        raise AuthoringError(f"{path}: not a readable notebook ({type(err).__name__}: {err})") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as err:
        raise AuthoringError(f"{path}: invalid notebook: {err.message}") from None
    return nb


def build_notebook(nb: nbformat.NotebookNode, name: str = "<notebook>") -> nbformat.NotebookNode:
    """The learner version of a solution notebook (the input is not modified)."""
    cells = []
    for i, cell in enumerate(nb.cells):
        where = _where(name, i)
        tags = list(cell.get("metadata", {}).get("tags", []))
        if SOLUTION_ONLY in tags:
            continue
        new = copy.deepcopy(cell)
        new.setdefault("id", f"cell-{i:03d}")
        if cell.cell_type == "code":
            source, removed = stub_source(cell.source, where)
            new.source = source
            new.outputs = []
            new.execution_count = None
            if removed and EXERCISE_TAG not in tags:
                tags.append(EXERCISE_TAG)
        else:
            if BEGIN in cell.source or END in cell.source:
                raise AuthoringError(f"{where}: solution markers are only allowed in code cells "
                                     f"(this is a {cell.cell_type} cell)")
            new.pop("outputs", None)
            new.pop("execution_count", None)
        new.metadata = nbformat.NotebookNode({"tags": tags}) if tags else nbformat.NotebookNode()
        if "attachments" in cell and not cell.attachments:
            new.pop("attachments")
        cells.append(new)
    out = nbformat.v4.new_notebook()
    out.cells = cells
    out.metadata = nbformat.NotebookNode({
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    })
    out.nbformat, out.nbformat_minor = 4, 5
    nbformat.validate(out)
    return out


def solution_notebooks(src: Path) -> list[Path]:
    return sorted(p for p in src.glob("*.ipynb") if not p.name.startswith("."))


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def build_all(src: Path, dst: Path, check: bool = False) -> list[str]:
    """Build every notebook; write them (or, with ``check``, only compare). Returns the problems found."""
    problems: list[str] = []
    expected: dict[str, str] = {}
    for path in solution_notebooks(src):
        expected[path.name] = render(build_notebook(read_notebook(path), f"{src.name}/{path.name}"))
    existing = {p.name for p in dst.glob("*.ipynb")} if dst.exists() else set()
    for name, text in expected.items():
        target = dst / name
        if check:
            if not target.exists():
                problems.append(f"{target} is missing")
            elif target.read_text(encoding="utf-8") != text:
                problems.append(f"{target} differs from a fresh build of solutions/{name}")
        else:
            dst.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for stale in sorted(existing - set(expected)):
        if check:
            problems.append(f"{dst / stale} has no source in {src}")
        else:
            (dst / stale).unlink()
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=ROOT / "solutions")
    ap.add_argument("--dst", type=Path, default=ROOT / "course")
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    args = ap.parse_args(argv)
    try:
        problems = build_all(args.src, args.dst, check=args.check)
    except AuthoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if problems:
        print("course/ is out of sync with solutions/ (run `make course`):", *problems, sep="\n  ", file=sys.stderr)
        return 1
    n = len(solution_notebooks(args.src))
    print(f"{'checked' if args.check else 'built'} {n} notebook(s): {args.src} -> {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
