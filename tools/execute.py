"""Execute notebooks headless and print a table of wall time per notebook.

    python -m tools.execute                      # every solution notebook; fails on any error
    python -m tools.execute solutions/01_*.ipynb --write   # also save outputs (authors)
    python -m tools.execute --course             # learner notebooks: only NotImplementedError allowed

Instructors: run ``make execute`` on the classroom machine before a workshop.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 180.0
ALLOWED_IN_COURSE = {"NotImplementedError"}


@dataclass
class Result:
    path: Path
    seconds: float
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (cell index, ename, evalue)
    nb: nbformat.NotebookNode | None = None


def cell_errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    errs = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errs.append((i, out.get("ename", "?"), out.get("evalue", "")))
    return errs


def execute(path: Path, allow_errors: bool = False, timeout: int = 600, cwd: Path | None = None) -> Result:
    """Run one notebook in a fresh kernel of this Python environment; return timing and errors."""
    nb = nbformat.read(str(path), as_version=4)
    env_kernel = "python3"
    client = NotebookClient(
        nb, timeout=timeout, kernel_name=env_kernel, allow_errors=allow_errors, record_timing=False,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except Exception as err:  # CellExecutionError and friends: record the failing cell
        seconds = time.perf_counter() - start
        errs = cell_errors(nb) or [(-1, type(err).__name__, str(err)[:500])]
        return Result(path, seconds, errs, nb)
    return Result(path, time.perf_counter() - start, cell_errors(nb), nb)


def format_results(results: list[Result], course: bool = False) -> str:
    lines = [f"{'notebook':40s} {'seconds':>8s}  status", "-" * 64]
    for r in results:
        if course:
            bad = [e for e in r.errors if e[1] not in ALLOWED_IN_COURSE]
            status = "ok" if not bad else f"ERROR {bad[0][1]} in cell {bad[0][0]}: {bad[0][2][:60]}"
        else:
            status = "ok" if not r.errors else f"ERROR {r.errors[0][1]} in cell {r.errors[0][0]}: {r.errors[0][2][:60]}"
        if not course and r.seconds > BUDGET_S:
            status += f" (over the {BUDGET_S:.0f} s budget)"
        lines.append(f"{r.path.name:40s} {r.seconds:8.1f}  {status}")
    lines.append(f"{'total':40s} {sum(r.seconds for r in results):8.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Execute course notebooks headless and time them.")
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--course", action="store_true", help="run course/ notebooks; only NotImplementedError allowed")
    ap.add_argument("--write", action="store_true", help="save the executed notebooks in place (solutions only)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    folder = ROOT / ("course" if args.course else "solutions")
    paths = args.notebooks or sorted(folder.glob("*.ipynb"))
    if args.write and args.course:
        ap.error("--write is for solution notebooks; course/ is generated without outputs")
    results = []
    for p in paths:
        print(f"running {p} ...", flush=True)
        r = execute(p, allow_errors=args.course)
        results.append(r)
        if args.write and not r.errors and r.nb is not None:
            nbformat.write(r.nb, str(p))
    print(format_results(results, course=args.course))
    failed = [r for r in results if (
        [e for e in r.errors if e[1] not in ALLOWED_IN_COURSE] if args.course else r.errors
    ) or (not args.course and r.seconds > BUDGET_S)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
