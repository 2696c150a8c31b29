"""Benchmark: run each notebook alone and write a table of wall and kernel CPU seconds (``make bench``).

    python -m tools.bench                    # every solution and course notebook, one at a time
    python -m tools.bench --compete 1        # the same while 1 CPU-bound process competes for the cores
    python -m tools.bench solutions/03_ood_robustness.ipynb

The table also gives the fixed cost of starting a kernel and importing the course (torch included), measured the
same way, so figures from different machines can be compared as ratios (notebook wall / fixed cost). The table is
printed and written to ``artifacts/bench/`` (git-ignored), with the machine it ran on. The README's timing
figures come from this tool.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from tools.execute import ROOT, execute

FIXED_COST_SOURCE = "import utils.repro, utils.checks, utils.plotting, torch"
BURNER = ("import time, sys\n"
          "deadline = time.monotonic() + float(sys.argv[1])\n"
          "while time.monotonic() < deadline:\n"
          "    sum(i * i for i in range(10000))\n")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{cpu}; {os.cpu_count()} cores; Python {platform.python_version()}; torch {torch.__version__}; "
            f"{platform.system()} {platform.release()}")


def fixed_cost(repeats: int = 3) -> tuple[float, float]:
    """Median wall and CPU seconds of a kernel that starts and imports the course (torch included)."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fixed_cost.ipynb"
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(FIXED_COST_SOURCE)]
        nbformat.write(nb, str(path))
        for _ in range(repeats):
            r = execute(path, timeout=300)
            if r.errors:
                raise RuntimeError(f"the fixed-cost notebook failed: {r.errors[0]}")
            walls.append(r.seconds)
            cpus.append(r.cpu_seconds or float("nan"))
    return statistics.median(walls), statistics.median(cpus)


class Competitors:
    """``n`` CPU-bound processes that stop by themselves after ``seconds`` (and are stopped on exit)."""

    def __init__(self, n: int, seconds: float):
        self.n, self.seconds, self.procs = n, seconds, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", BURNER, str(self.seconds)]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def run(paths: list[Path], compete: int = 0, out_dir: Path | None = None) -> str:
    out_dir = out_dir or ROOT / "artifacts" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = []
    with Competitors(compete, seconds=7200):
        fw, fc = fixed_cost()
        for p in paths:
            print(f"running {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p} ...", flush=True)
            course = p.parent.name == "course"
            r = execute(p, allow_errors=course, timeout=1800)
            bad = [e for e in r.errors if not (course and e[1] == "NotImplementedError")]
            rows.append((p, r.seconds, r.cpu_seconds, "ok" if not bad else f"ERROR {bad[0][1]}"))
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        f"# Notebook benchmark, {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        f"- machine: {machine()}",
        f"- competing CPU-bound processes: {compete}; load average before {load0[0]:.2f}, after {load1[0]:.2f}",
        f"- fixed cost (start a kernel, import the course and torch): {fw:.1f} s wall, {fc:.1f} s CPU",
        "",
        "| notebook | wall s | CPU s | wall / fixed cost | status |",
        "|---|---:|---:|---:|---|",
    ]
    for p, wall, cpu, status in rows:
        name = f"{p.parent.name}/{p.name}"
        lines.append(f"| {name} | {wall:.1f} | {cpu if cpu is not None else float('nan'):.1f} | {wall / fw:.1f} | {status} |")
    lines.append(f"| total | {sum(r[1] for r in rows):.1f} | {sum(r[2] or 0.0 for r in rows):.1f} | | |")
    text = "\n".join(lines) + "\n"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out_dir / f"bench-{stamp}{'-compete' + str(compete) if compete else ''}.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run each notebook alone; table of wall and kernel CPU seconds.")
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--compete", type=int, default=0, help="start N CPU-bound processes during the runs")
    ap.add_argument("--solutions-only", action="store_true", help="skip the course (stub) notebooks")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "solutions").glob("*.ipynb")) + (
        [] if args.solutions_only else sorted((ROOT / "course").glob("*.ipynb")))
    text = run(paths, compete=args.compete)
    print(text)
    return 1 if "ERROR" in text else 0


if __name__ == "__main__":
    sys.exit(main())
