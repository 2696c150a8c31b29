"""Every notebook's wall and kernel CPU seconds are reported in a table, and a notebook fails the run only when it
is a real regression (see tools/execute.py: CPU seconds over the budget, or wall time over the hang ceiling); a
busy machine alone cannot fail it. The learner's workspace is guarded: a run that changed any file in it fails.

These hooks live at the root so that they see the items of solutions/ (nbval) as well as those of tests/.
"""

from __future__ import annotations

import collections

import pytest

from tools.execute import kernel_cpu_seconds, over_budget
from tools.workspace import WORKSPACE, fingerprint

_wall: dict[str, dict[str, float]] = {"solution": collections.defaultdict(float), "course": collections.defaultdict(float)}
_cpu: dict[str, dict[str, float]] = {"solution": {}, "course": {}}
_slowest: dict[str, str] = {}   # course notebook -> its slowest step ("cell 12: 3.1 s"), from tools.execute
COURSE_TEST = "test_course_notebook_runs_with_only_not_implemented_errors["


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In the process that ran it: attach the nbval kernel's CPU seconds so far to the cell's report."""
    outcome = yield
    report = outcome.get_result()
    if call.when == "call" and str(item.fspath).endswith(".ipynb"):
        kernel = getattr(item.parent, "kernel", None)
        pid = getattr(getattr(getattr(kernel, "km", None), "provisioner", None), "pid", None)
        cpu = kernel_cpu_seconds(pid)
        if cpu is not None:
            report.user_properties.append(("kernel_cpu_s", cpu))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """In the controller: add up each notebook's wall time; keep its kernel's CPU time."""
    path = report.nodeid.split("::", 1)[0]
    props = dict(report.user_properties)
    if path.endswith(".ipynb"):  # nbval: one item per cell
        _wall["solution"][path] += report.duration
        if "kernel_cpu_s" in props:
            _cpu["solution"][path] = max(_cpu["solution"].get(path, 0.0), props["kernel_cpu_s"])
    elif COURSE_TEST in report.nodeid and report.when == "call":
        name = "course/" + report.nodeid.rsplit("[", 1)[1].rstrip("]")
        _wall["course"][name] += report.duration
        if "kernel_cpu_s" in props:
            _cpu["course"][name] = props["kernel_cpu_s"]
        if props.get("slowest_step"):
            _slowest[name] = props["slowest_step"]


def _regressions() -> list[str]:
    return [f"{path}: {why}" for kind in _wall for path, wall in _wall[kind].items()
            if (why := over_budget(kind, wall, _cpu[kind].get(path)))]


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    tr = terminalreporter
    for kind, title in (("solution", "solution notebooks under nbval"), ("course", "course notebooks (stubs)")):
        if not _wall[kind]:
            continue
        tr.section(f"{title}: wall and kernel CPU seconds")
        tr.write_line(f"{'notebook':50s} {'wall s':>8s} {'CPU s':>8s}" + ("  slowest step" if kind == "course" else ""))
        for path, wall in sorted(_wall[kind].items()):
            cpu = _cpu[kind].get(path)
            why = over_budget(kind, wall, cpu)
            tr.write_line(f"{path:50s} {wall:8.1f} {cpu if cpu is not None else float('nan'):8.1f}"
                          + (f"  {_slowest[path]}" if path in _slowest else "")
                          + (f"  REGRESSION: {why}" if why else ""))
        cpus = [_cpu[kind].get(p) for p in _wall[kind]]
        tr.write_line(f"{'total':50s} {sum(_wall[kind].values()):8.1f} "
                      f"{sum(c for c in cpus if c is not None):8.1f}")


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config._workspace_before = fingerprint(WORKSPACE)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    regressions = _regressions()
    if regressions and session.exitstatus == 0:
        session.exitstatus = 1
        print("\nnotebook run-time regressions:\n  " + "\n  ".join(regressions))
    before = getattr(session.config, "_workspace_before", None)
    if before is not None and not hasattr(session.config, "workerinput"):  # the controller checks once
        after = fingerprint(WORKSPACE)
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if changed:
            session.exitstatus = 1
            print(f"\nthe test run changed the learner's workspace ({WORKSPACE}): {', '.join(changed[:10])}")
