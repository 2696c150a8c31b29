"""tools.execute: error collection and the timing table (the notebook runs themselves are in test_notebooks)."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat

from tools.execute import Result, cell_errors, execute, format_results


def _nb_with_error(ename: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell("x")
    c.outputs = [nbformat.v4.new_output("error", ename=ename, evalue="boom", traceback=[])]
    nb.cells = [nbformat.v4.new_markdown_cell("m"), c]
    return nb


def _notebook(path: Path, *sources: str) -> Path:
    """Write a notebook with one code cell per source to ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
    nbformat.write(nb, str(path))
    return path


def test_cell_errors_and_table():
    errs = cell_errors(_nb_with_error("ValueError"))
    assert errs == [(1, "ValueError", "boom")]
    table = format_results([Result(Path("a.ipynb"), 200.0, errs, cpu_seconds=130.0),
                            Result(Path("b.ipynb"), 1.0, [], cpu_seconds=0.5)])
    assert "ERROR ValueError in cell 1" in table and "over the 120 CPU s budget" in table and "b.ipynb" in table
    # a busy machine stretches wall time, not CPU time: 600 s wall at 40 CPU s is no regression
    busy = format_results([Result(Path("slow.ipynb"), 600.0, [], cpu_seconds=40.0)])
    assert "over" not in busy and "ok" in busy
    course = format_results([Result(Path("c.ipynb"), 1.0, [(1, "NotImplementedError", "x")])], course=True)
    assert "c.ipynb" in course and "ERROR" not in course


def test_execute_runs_a_notebook_in_this_environment(tmp_path):
    path = _notebook(tmp_path / "t.ipynb", "import sys, utils\nprint(sys.prefix)", "raise NotImplementedError('stub')")
    r = execute(path, allow_errors=True, timeout=120)
    assert r.errors == [(1, "NotImplementedError", "stub")]
    import sys

    assert r.nb.cells[0].outputs[0].text.strip() == sys.prefix
    strict = execute(path, allow_errors=False, timeout=120)
    assert strict.errors and strict.errors[0][1] == "NotImplementedError"


def test_budget_policy_fails_on_cpu_or_a_hang_not_on_a_busy_machine():
    from tools.execute import CPU_BUDGET_S, WALL_CEILING_S, over_budget

    assert over_budget("solution", 500.0, 50.0) == ""           # loaded machine: slow wall, normal CPU
    assert "CPU s budget" in over_budget("solution", 50.0, CPU_BUDGET_S["solution"] + 1)
    assert "CPU s budget" in over_budget("course", 10.0, CPU_BUDGET_S["course"] + 1)
    assert "ceiling" in over_budget("course", WALL_CEILING_S + 1, 1.0)  # a hang
    assert over_budget("solution", 10.0, None) == ""            # CPU unknown: only the wall ceiling applies


def test_execute_measures_the_kernels_cpu_time(tmp_path):
    path = _notebook(tmp_path / "cpu.ipynb",
                     "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass",
                     "time.sleep(1.0)")
    r = execute(path, timeout=120)
    assert not r.errors
    assert r.cpu_seconds is not None and 1.0 <= r.cpu_seconds < r.seconds, (r.cpu_seconds, r.seconds)


def test_a_timeout_is_an_error_even_where_stubs_may_fail(tmp_path):
    # A course notebook allows NotImplementedError; a cell that hangs must still fail the run, not hide behind it.
    path = _notebook(tmp_path / "hang.ipynb", "raise NotImplementedError('stub')", "import time\ntime.sleep(30)")
    r = execute(path, allow_errors=True, timeout=3)
    names = [e[1] for e in r.errors]
    # nbclient either interrupts the cell (KeyboardInterrupt in its outputs) or gives up (CellTimeoutError)
    assert names[0] == "NotImplementedError" and {"KeyboardInterrupt", "CellTimeoutError"} & set(names), r.errors
    assert "ERROR" in format_results([r], course=True)


def test_kernels_use_unix_sockets_not_tcp_ports(tmp_path):
    path = _notebook(tmp_path / "ipc.ipynb",
                     "from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().transport)")
    r = execute(path, timeout=120)
    assert not r.errors and r.nb.cells[0].outputs[0].text.strip() == "ipc"


def test_a_dead_kernel_is_an_error_even_where_stubs_may_fail(tmp_path):
    path = _notebook(tmp_path / "dies.ipynb", "raise NotImplementedError('stub')", "import os\nos._exit(1)")
    r = execute(path, allow_errors=True, timeout=60)
    assert r.errors[0][1] == "NotImplementedError" and len(r.errors) == 2, r.errors
    assert "ERROR" in format_results([r], course=True)


def test_execute_names_the_slowest_step(tmp_path):
    """A slow run says where its time went: the kernel start, a cell, or the shutdown."""
    path = _notebook(tmp_path / "s.ipynb", "x = 1", "import time\ntime.sleep(1.5)", "y = 2")
    r = execute(path, timeout=120)
    assert not r.errors, r.errors
    assert {"kernel start", "cell 0", "cell 1", "cell 2", "kernel shutdown"} <= set(r.steps), r.steps
    top = max(r.steps, key=r.steps.__getitem__)   # on a loaded machine, starting or stopping a kernel may take longer
    assert r.slowest == f"{top}: {r.steps[top]:.1f} s", (r.slowest, r.steps)
    assert r.steps["cell 1"] >= 1.5 > r.steps["cell 0"], r.steps
    assert abs(sum(r.steps.values()) - r.seconds) < 1.0, (r.steps, r.seconds)   # the steps cover the run


class _MissedWakeUpSocket:
    """A socket whose message is there from the start, but whose first poll misses it (as an edge-triggered
    wake-up that never came would): only a poll that ends and looks again finds it."""

    def __init__(self, ready_after_polls: int = 1):
        self.asked: list[int] = []
        self.ready_after = ready_after_polls

    async def poll(self, timeout_ms):
        import asyncio

        self.asked.append(timeout_ms)
        if len(self.asked) > self.ready_after:
            return 1
        await asyncio.sleep(timeout_ms / 1000)
        return 0


def test_a_missed_wake_up_costs_one_slice_not_the_whole_timeout():
    import asyncio

    from tools.execute import POLL_SLICE_MS, poll_in_slices

    assert POLL_SLICE_MS <= 1000
    sock = _MissedWakeUpSocket()
    t0 = time.perf_counter()
    assert asyncio.run(poll_in_slices(sock, 600_000, slice_ms=100)) is True
    assert sock.asked == [100, 100] and time.perf_counter() - t0 < 5     # one slice lost, not 600 s
    never = _MissedWakeUpSocket(ready_after_polls=10**6)
    t0 = time.monotonic()
    assert asyncio.run(poll_in_slices(never, 250, slice_ms=100)) is False   # a real timeout still times out,
    assert time.monotonic() - t0 >= 0.24, never.asked                      # after the whole timeout (a busy
    assert sum(never.asked) <= 255 and max(never.asked) <= 100, never.asked  # machine's late wake-ups ask less)
    zero = _MissedWakeUpSocket(ready_after_polls=10**6)
    assert asyncio.run(poll_in_slices(zero, 0)) is False and zero.asked == [0]   # timeout 0: one look
    forever = _MissedWakeUpSocket(ready_after_polls=3)
    assert asyncio.run(poll_in_slices(forever, None, slice_ms=50)) is True and forever.asked == [50] * 4


def test_notebook_kernels_talk_through_sliced_polls(tmp_path):
    from tools.execute import IPCKernelManager, SlicedPollChannel

    km = IPCKernelManager()
    kc = km.client()
    assert kc.shell_channel_class is SlicedPollChannel and kc.iopub_channel_class is SlicedPollChannel
    path = _notebook(tmp_path / "w.ipynb", "import ipywidgets as W\nb = W.Button()\nb", "print(6 * 7)")
    r = execute(path, timeout=120)
    assert not r.errors and r.nb.cells[1].outputs[0].text.strip() == "42", r.errors
