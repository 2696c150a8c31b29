"""Execute notebooks headless and print a table of wall time and kernel CPU time per notebook.

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
from queue import Empty
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
import uuid

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Type, default
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
ALLOWED_IN_COURSE = {"NotImplementedError"}

# What fails a run is a real regression, never a busy machine alone.
# * CPU seconds of the notebook's kernel (with its finished child processes) over CPU_BUDGET_S. The kernels run
#   on one thread, so CPU time is what the notebook costs; other processes competing for the cores stretch its
#   wall time but hardly its CPU time (see the README's timing section for the loaded vs idle tables). The
#   targets are 60 s wall for a solution notebook and 30 s for a course notebook on an idle 2-core machine;
#   the budgets allow twice that, for slower CPUs.
# * wall time over WALL_CEILING_S: only a hang or a pathological slowdown gets there (with about five busy
#   processes on two cores, notebooks took 3-6x their idle time).
CPU_BUDGET_S = {"solution": 120.0, "course": 60.0}
WALL_CEILING_S = 1200.0


POLL_SLICE_MS = 1000   # the longest a reply that has already arrived can go unnoticed


async def poll_in_slices(socket, timeout_ms: int | None, slice_ms: int = POLL_SLICE_MS) -> bool:
    """Wait until ``socket`` has a message (True) or ``timeout_ms`` passed (False; None waits for ever),
    in polls of at most ``slice_ms``.

    pyzmq's asyncio poll learns of a new message from an edge-triggered file descriptor; when that wake-up is
    missed, the message sits unread until the poll times out, and only the final check at the timeout finds
    it. With nbclient's 600 s timeout that was a cell that finished normally after exactly 600 s (seen about
    once per full test run: course/07's widget cell, 600.0 s, with the kernel idle). Every slice ends with that
    check, so a missed wake-up costs at most ``slice_ms``.
    """
    deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000
    while True:
        left_ms = None if deadline is None else int((deadline - time.monotonic()) * 1000)
        step = slice_ms if left_ms is None else max(0, min(slice_ms, left_ms))
        if await socket.poll(step):
            return True
        if left_ms is not None and left_ms <= step:
            return False


class SlicedPollChannel(AsyncZMQSocketChannel):
    """A kernel channel whose ``get_msg`` waits with :func:`poll_in_slices`."""

    async def get_msg(self, timeout: float | None = None) -> dict:
        assert self.socket is not None
        if await poll_in_slices(self.socket, None if timeout is None else int(timeout * 1000)):
            return await self._recv()
        raise Empty


class SlicedPollKernelClient(AsyncKernelClient):
    shell_channel_class = Type(SlicedPollChannel)
    iopub_channel_class = Type(SlicedPollChannel)
    control_channel_class = Type(SlicedPollChannel)
    stdin_channel_class = Type(SlicedPollChannel)


class IPCKernelManager(AsyncKernelManager):
    """A kernel that talks over Unix sockets, not TCP ports, through clients that poll in slices.

    Two kernels started at once (pytest-xdist runs notebooks in parallel) can pick the same free TCP port
    (jupyter/jupyter_client#487) and then hang or die; socket files have unique names instead. They live under
    an absolute path in Jupyter's runtime folder, so the kernel's working directory does not matter.
    """

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @default("client_factory")
    def _default_client_factory(self):
        return SlicedPollKernelClient

    @default("ip")
    def _default_ip(self) -> str:
        folder = jupyter_runtime_dir()
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"kernel-{uuid.uuid4().hex[:12]}")


def kernel_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` and its reaped children (``None`` if it cannot be read)."""
    if pid is None:
        return None
    try:
        c = psutil.Process(pid).cpu_times()
    except (psutil.Error, OSError):
        return None
    return c.user + c.system + c.children_user + c.children_system


def over_budget(kind: str, wall: float, cpu: float | None) -> str:
    """Why a notebook run of ``kind`` ("solution" or "course") is a regression, or "" if it is not."""
    if cpu is not None and cpu > CPU_BUDGET_S[kind]:
        return f"{cpu:.0f} CPU s is over the {CPU_BUDGET_S[kind]:.0f} CPU s budget of a {kind} notebook"
    if wall > WALL_CEILING_S:
        return f"{wall:.0f} s wall is over the {WALL_CEILING_S:.0f} s ceiling (a hang?)"
    return ""


@dataclass
class Result:
    path: Path
    seconds: float
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (cell index, ename, evalue)
    nb: nbformat.NotebookNode | None = None
    cpu_seconds: float | None = None  # the kernel's CPU time (with its finished children), None if unknown
    steps: dict[str, float] = field(default_factory=dict)  # wall seconds of: kernel start, each cell, shutdown

    @property
    def slowest(self) -> str:
        """The step that took longest, e.g. "cell 12: 3.1 s" (what to look at when a run is slow)."""
        if not self.steps:
            return ""
        name = max(self.steps, key=self.steps.__getitem__)
        return f"{name}: {self.steps[name]:.1f} s"


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
    cpu: list[float] = []
    steps: dict[str, float] = {}
    mark = [time.perf_counter()]   # when the step now running began

    def lap(name: str) -> None:
        now = time.perf_counter()
        steps[name] = steps.get(name, 0.0) + now - mark[0]
        mark[0] = now

    def sample(cell_index: int = -1, **_):  # after every cell, while the kernel is alive
        lap(f"cell {cell_index}")
        pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        value = kernel_cpu_seconds(pid)
        if value is not None:
            cpu.append(value)

    client = NotebookClient(
        nb, kernel_manager_class=IPCKernelManager, timeout=timeout, startup_timeout=300, kernel_name=env_kernel,
        allow_errors=allow_errors, record_timing=False, resources={"metadata": {"path": str(cwd or path.parent)}},
        on_notebook_start=lambda **_: lap("kernel start"), on_cell_start=lambda **_: lap("between cells"),
        on_cell_executed=sample, on_notebook_complete=lambda **_: lap("between cells"),
    )
    start = mark[0] = time.perf_counter()
    try:
        client.execute()
    except Exception as err:
        seconds = time.perf_counter() - start
        lap("after the last cell (error)")
        errs = cell_errors(nb)
        # A cell's own exception is already in its outputs. Anything else (a cell over the timeout, a kernel
        # that died or never started) is not, and must never hide behind errors a course notebook allows.
        if not (isinstance(err, CellExecutionError) and errs):
            errs.append((-1, type(err).__name__, str(err)[:500]))
        return Result(path, seconds, errs, nb, max(cpu, default=None), steps)
    seconds = time.perf_counter() - start
    lap("kernel shutdown")
    return Result(path, seconds, cell_errors(nb), nb, max(cpu, default=None), steps)


def _cpu(v: float | None) -> str:
    return f"{v:8.1f}" if v is not None else f"{'?':>8s}"


def format_results(results: list[Result], course: bool = False) -> str:
    kind = "course" if course else "solution"
    lines = [f"{'notebook':40s} {'wall s':>8s} {'CPU s':>8s}  status", "-" * 72]
    for r in results:
        if course:
            bad = [e for e in r.errors if e[1] not in ALLOWED_IN_COURSE]
            status = "ok" if not bad else f"ERROR {bad[0][1]} in cell {bad[0][0]}: {bad[0][2][:60]}"
        else:
            status = "ok" if not r.errors else f"ERROR {r.errors[0][1]} in cell {r.errors[0][0]}: {r.errors[0][2][:60]}"
        why = over_budget(kind, r.seconds, r.cpu_seconds)
        if why:
            status += f" ({why})"
        lines.append(f"{r.path.name:40s} {r.seconds:8.1f} {_cpu(r.cpu_seconds)}  {status}")
    cpus = [r.cpu_seconds for r in results]
    total_cpu = sum(cpus) if None not in cpus else None
    lines.append(f"{'total':40s} {sum(r.seconds for r in results):8.1f} {_cpu(total_cpu)}")
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
    ) or over_budget("course" if args.course else "solution", r.seconds, r.cpu_seconds)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
