"""Shared pytest set-up: fixture notebooks are not collected, and per-notebook times are reported."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S = 180.0

# Fixture notebooks are inputs to tests, not notebooks to run under nbval.
collect_ignore_glob = ["tools/fixtures/*"]

_nb_seconds: dict[str, float] = collections.defaultdict(float)
_course_seconds: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):  # nbval: one item per cell
        _nb_seconds[path] += report.duration
    elif "test_course_notebook_runs_with_only_not_implemented_errors[" in report.nodeid:
        _course_seconds["course/" + report.nodeid.rsplit("[", 1)[1].rstrip("]")] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tr = terminalreporter
    for title, table in (("solution notebooks under nbval", _nb_seconds),
                         ("course notebooks (stubs)", _course_seconds)):
        if not table:
            continue
        tr.section(f"wall time, {title} (seconds)")
        for path, secs in sorted(table.items()):
            flag = f"  OVER the {NOTEBOOK_BUDGET_S:.0f} s budget" if secs > NOTEBOOK_BUDGET_S else ""
            tr.write_line(f"{path:50s} {secs:7.1f}{flag}")
        tr.write_line(f"{'total':50s} {sum(table.values()):7.1f}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    over = [p for p, s in _nb_seconds.items() if s > NOTEBOOK_BUDGET_S]
    if over and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {', '.join(over)}")
