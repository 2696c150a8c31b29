"""Shared pytest set-up: fixture notebooks are not collected, and per-notebook times are reported."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET_S = 180.0

# Fixture notebooks are inputs to tests, not notebooks to run under nbval.
collect_ignore_glob = ["fixtures/*"]

_nb_seconds: dict[str, float] = collections.defaultdict(float)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _nb_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _nb_seconds:
        return
    tr = terminalreporter
    tr.section("notebook wall time (nbval, seconds)")
    for path, secs in sorted(_nb_seconds.items()):
        flag = f"  OVER the {NOTEBOOK_BUDGET_S:.0f} s budget" if secs > NOTEBOOK_BUDGET_S else ""
        tr.write_line(f"{path:50s} {secs:7.1f}{flag}")
    tr.write_line(f"{'total':50s} {sum(_nb_seconds.values()):7.1f}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    over = [p for p, s in _nb_seconds.items() if s > NOTEBOOK_BUDGET_S]
    if over and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nnotebooks over the {NOTEBOOK_BUDGET_S:.0f} s budget: {', '.join(over)}")
