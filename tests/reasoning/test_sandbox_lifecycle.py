"""No sandbox worker outlives its caller: importing the package starts none, and however a caller ends (a
normal exit, an exception, ``os._exit``, SIGTERM, SIGKILL, a program still running, a Jupyter kernel shut
down or restarted, a pytest-xdist worker) its workers are gone within seconds, and no scratch directory
is left on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from utils.reasoning import sandbox as S

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix" or not os.path.isdir("/proc/self"), reason="POSIX with /proc")
GONE_WITHIN = 20.0      # seconds; a worker notices at once, a loaded machine may be slow to schedule it


def _is_worker(pid: int) -> bool:
    """True while ``pid`` is a live sandbox worker (a zombie or a reused pid does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return state not in ("Z", "X") and b"sandbox_worker.py" in cmd


def _wait_gone(pids: list[int]) -> list[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < GONE_WITHIN:
        left = [p for p in pids if _is_worker(p)]
        if not left:
            return []
        time.sleep(0.05)
    return left


def _children_of(pid: int) -> list[int]:
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def _scratch_dirs() -> set[str]:
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in tmp.glob("course-sandbox-*")}


def _python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_importing_the_package_starts_no_worker():
    r = _python("""
        import json, os
        import utils.reasoning
        from utils.reasoning import checks, llm_client, mathgen, sandbox, sandbox_worker, solvers
        kids = [int(p) for p in os.listdir('/proc') if p.isdigit()
                and open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())]
        print(json.dumps({"pool": sandbox._POOL is not None, "children": kids}))
    """)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1]) == {"pool": False, "children": []}


def test_the_pool_leaves_no_scratch_directory_on_disk():
    S.shutdown()
    S.warm_up()
    for w in S._pool().idle:
        cwd = os.readlink(f"/proc/{w.proc.pid}/cwd")
        assert cwd.endswith(" (deleted)") and not os.path.exists(cwd[: -len(" (deleted)")]), cwd
    assert S.safe_run("answer = 2 ** 3", isolate="fresh").value == 8


ENDINGS = {
    "return": "pass",
    "exception": "raise RuntimeError('the notebook failed')",
    "os._exit": "os._exit(0)",
    "SIGTERM": "os.kill(os.getpid(), signal.SIGTERM)",
    "SIGKILL": "os.kill(os.getpid(), signal.SIGKILL)",
}


@pytest.mark.parametrize("ending, busy", [(e, False) for e in ENDINGS] + [("os._exit", True), ("SIGKILL", True)],
                         ids=[f"{e}-idle" for e in ENDINGS] + ["os._exit-program-running", "SIGKILL-program-running"])
def test_no_worker_outlives_its_caller(ending, busy):
    """A caller with a warm pool (and, for ``program-running``, a 60-second program in progress in a worker)
    ends in each way; every worker it started is gone within seconds."""
    before = _scratch_dirs()
    r = _python(f"""
        import json, os, signal, sys, threading, time
        from utils.reasoning import sandbox as S
        S.warm_up()
        pids = [w.proc.pid for w in S._pool().idle]
        if {busy}:
            forever = S.Limits(max_seconds=60, max_steps=10 ** 10)
            threading.Thread(target=S.safe_run, args=("while True:\\n    pass", forever), daemon=True).start()
            t0 = time.monotonic()
            while not S._pool().in_use and time.monotonic() - t0 < 30:
                time.sleep(0.01)
            time.sleep(0.3)
            pids += [w.proc.pid for w in S._pool().in_use]
        print(json.dumps(sorted(set(pids))), flush=True)
        {ENDINGS[ending]}
    """)
    pids = json.loads(r.stdout.splitlines()[0])
    assert pids and all(isinstance(p, int) for p in pids), (r.stdout, r.stderr)
    assert _wait_gone(pids) == [], f"workers {pids} outlived a caller that ended by {ending}"
    t0 = time.monotonic()          # other tests may be starting workers: their directories last microseconds
    while _scratch_dirs() - before and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert not _scratch_dirs() - before, f"left on disk: {_scratch_dirs() - before}"


def test_a_jupyter_kernel_leaves_no_worker_when_restarted_or_shut_down():
    jupyter_client = pytest.importorskip("jupyter_client")
    code = ("from utils.reasoning import sandbox as S\nS.warm_up()\n"
            "print('PIDS', [w.proc.pid for w in S._pool().idle + S._pool().in_use])")

    def worker_pids(kc) -> list[int]:
        found: list[int] = []

        def grab(msg):
            if msg["msg_type"] == "stream" and "PIDS" in msg["content"]["text"]:
                found.extend(json.loads(msg["content"]["text"].split("PIDS", 1)[1]))
        reply = kc.execute_interactive(code, timeout=120, output_hook=grab)
        assert reply["content"]["status"] == "ok", reply["content"]
        return found

    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", startup_timeout=300, cwd=str(ROOT))
    try:
        first = worker_pids(kc)
        assert first and all(_is_worker(p) for p in first)
        km.restart_kernel(now=True)                     # "Restart kernel": the old kernel is killed
        assert _wait_gone(first) == [], "a restarted kernel left its workers behind"
        kc.wait_for_ready(timeout=300)
        second = worker_pids(kc)
        assert second and all(_is_worker(p) for p in second)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)                   # "Shut down kernel": a graceful exit
    assert _wait_gone(second) == [], "a kernel that was shut down left its workers behind"


def test_pytest_xdist_workers_leave_no_worker(tmp_path):
    pytest.importorskip("xdist")
    pids_file = tmp_path / "pids.txt"
    (tmp_path / "test_uses_sandbox.py").write_text(textwrap.dedent(f"""
        import os
        import pytest
        from utils.reasoning import sandbox as S

        @pytest.mark.parametrize("i", range(4))
        def test_runs(i):
            assert S.run_program(f"def solution():\\n    return {{i}} + 1") == i + 1
            with open({str(pids_file)!r}, "a") as f:
                for w in S._pool().idle + S._pool().in_use:
                    f.write(f"{{w.proc.pid}}\\n")
    """))
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"        # only xdist: loading nbval and the rest takes seconds
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "xdist.plugin", "-n", "2", "-q", "-c", str(tmp_path / "pytest.ini"),
                        "--rootdir", str(tmp_path), str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    pids = sorted({int(x) for x in pids_file.read_text().split()})
    assert pids, "the tests started no worker"
    assert _wait_gone(pids) == [], "pytest-xdist workers left sandbox workers behind"
