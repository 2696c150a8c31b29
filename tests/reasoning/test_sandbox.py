"""The sandbox for model-written programs: answers, refusals, escape attempts, resource limits."""

import os
import signal
import tempfile
import threading
import time
from fractions import Fraction

import pytest

from utils.reasoning import sandbox as S

FAST = S.Limits(max_seconds=1.0, max_steps=50_000, max_memory_mb=32)


def refused(src, limits=FAST):
    o = S.safe_run(src, limits)
    assert not o.ok, f"expected a refusal, got {o}"
    return o


# ------------------------------------------------------------------------------ ordinary code
@pytest.mark.parametrize("src, want", [
    ("answer = 12 + 5", 17),
    ("a = 27\nb = 7\nanswer = (a - b) / 2", 10.0),
    ("def solution():\n    x = 3\n    return x ** 2", 9),
    ("result = sum(i * i for i in range(10))", 285),
    ("xs = []\nfor i in range(5):\n    xs.append(i)\nanswer = len(xs)", 5),
    ("answer = Fraction(1, 3) + Fraction(1, 6)", Fraction(1, 2)),
    ("answer = comb(10, 3) + factorial(5) + gcd(12, 18)", 120 + 120 + 6),
    ("d = {'a': 1}\nd['b'] = 2\nanswer = sum(d.values())", 3),
    ("f = lambda x: x + 1\nanswer = max(map(f, [1, 5, 2]))", 6),
    ("n = 0\nwhile n < 100:\n    n += 7\nanswer = n", 105),
    ("answer = 2 ** 100", 2 ** 100),
])
def test_ordinary_programs_run(src, want):
    assert S.run_program(src) == want


def test_outcome_reports_stdout_and_steps():
    o = S.safe_run("print('hi', 3)\nanswer = 1")
    assert o.ok and o.value == 1 and o.stdout == "hi 3\n" and o.steps > 0 and "answer = 1" in str(o)


def test_normalise_answer():
    assert S.normalise_answer(4.0) == 4 and type(S.normalise_answer(4.0)) is int
    assert S.normalise_answer(Fraction(6, 2)) == 3 and type(S.normalise_answer(Fraction(6, 2))) is int
    assert S.normalise_answer(Fraction(1, 4)) == 0.25
    assert S.normalise_answer(3.5) == 3.5
    assert S.normalise_answer(float("nan")) is None and S.normalise_answer(float("inf")) is None
    assert S.normalise_answer("7") is None and S.normalise_answer(True) is None and S.normalise_answer(None) is None


# ------------------------------------------------------------------------------ escape attempts
@pytest.mark.parametrize("src", [
    "import os\nanswer = 1",
    "from os import system\nanswer = 1",
    "answer = __import__('os').getcwd()",
    "answer = ().__class__.__bases__[0].__subclasses__()",
    "answer = (1).__class__",
    "answer = open('/etc/passwd').read()",
    "f = open\nanswer = 1",
    "answer = eval('1 + 1')",
    "exec('answer = 1')",
    "answer = compile('1', 'x', 'eval')",
    "answer = getattr(1, '__class__')",
    "answer = getattr(1, 'real')",
    "answer = globals()",
    "answer = vars()",
    "answer = type(1)",
    "answer = __builtins__",
    "g = (x for x in [1])\nanswer = g.gi_frame.f_back.f_globals",
    "def f():\n    pass\nanswer = f.__globals__",
    "answer = '{0.__class__}'.format(1)",
    "answer = f'{(1).__class__}'",
    "class A:\n    pass\nanswer = 1",
    "try:\n    answer = 1\nexcept Exception:\n    pass",
    "with open('x') as f:\n    pass",
    "global x\nanswer = 1",
    "answer = _secret",
    "import subprocess\nsubprocess.run(['ls'])",
    "answer = [c for c in ().__class__.__base__.__subclasses__()]",
    "answer = help",
    "answer = breakpoint()",
])
def test_escape_attempts_are_forbidden_before_running(src):
    o = refused(src)
    assert o.error_type == "ForbiddenOperation", o
    with pytest.raises(S.ForbiddenOperation):
        S.check_program(src)


def test_the_guard_function_cannot_be_reached():
    # the rewritten operators call a helper whose name starts with '_': user code cannot name it
    o = refused("answer = __sandbox_binop__('+', 1, 2)")
    assert o.error_type == "ForbiddenOperation"


def test_no_side_effects_on_files(tmp_path):
    target = tmp_path / "pwned.txt"
    for src in (f"open({str(target)!r}, 'w').write('x')", f"import os\nos.system('touch {target}')"):
        refused(src)
    assert not target.exists()


# ------------------------------------------------------------------------------ resource limits
def test_infinite_loop_is_stopped_quickly():
    t0 = time.perf_counter()
    o = refused("while True:\n    pass")
    assert o.error_type in ("StepLimitExceeded", "TimeLimitExceeded")
    assert isinstance(S.TimeLimitExceeded("x"), S.ResourceLimitExceeded)
    assert time.perf_counter() - t0 < 10


def test_time_limit_on_slow_builtins():
    o = refused("x = [str(2 ** 8000) for i in range(10 ** 5)]\nanswer = 1",
                S.Limits(max_seconds=0.3, max_steps=10**7, max_memory_mb=512))
    assert o.error_type in ("TimeLimitExceeded", "MemoryLimitExceeded")


@pytest.mark.parametrize("src", ["answer = 10 ** 10 ** 10", "x = 2\nfor i in range(100):\n    x = x * x\nanswer = x",
                                 "x = 2\nx **= 100000\nanswer = x", "answer = pow(7, 10 ** 9)",
                                 "answer = 1 << 10 ** 8", "answer = factorial(10 ** 6)",
                                 "answer = 9" + "9" * 3000])
def test_huge_integers_are_refused_not_computed(src):
    t0 = time.perf_counter()
    o = refused(src)
    assert o.error_type == "IntegerTooLarge", o
    assert time.perf_counter() - t0 < 2


@pytest.mark.parametrize("src", ["x = [0] * 10 ** 9\nanswer = 1", "x = 'a' * 10 ** 9\nanswer = 1",
                                 "x = list(range(10 ** 9))\nanswer = 1",
                                 "x = [[0] * 10 ** 5 for i in range(2000)]\nanswer = 1",
                                 "x = [1]\nfor i in range(40):\n    x = x + x\nanswer = len(x)"])
def test_huge_allocations_are_refused(src):
    o = refused(src)
    assert o.error_type in ("MemoryLimitExceeded", "StepLimitExceeded"), o


def test_output_is_bounded():
    o = refused("for i in range(10000):\n    print('spam spam spam')\nanswer = 1")
    assert o.error_type == "OutputLimitExceeded"


def test_recursion_is_bounded():
    o = refused("def f(n):\n    return f(n + 1)\nanswer = f(0)")
    assert o.error_type == "RecursionTooDeep"


# ------------------------------------------------------------------------------ failures -> clear errors
@pytest.mark.parametrize("src, err", [
    ("answer = (", "MalformedProgram"),
    ("", "MalformedProgram"),
    ("   \n", "MalformedProgram"),
    ("answer = 1 / 0", "ProgramRaised"),
    ("answer = undefined_name + 1", "ProgramRaised"),
    ("answer = [1, 2][5]", "ProgramRaised"),
    ("x = 1", "NoAnswer"),
    ("answer = None", "NoAnswer"),
    ("def solution():\n    return 1\nanswer = solution", "NoAnswer"),
    ("x = 'a' % 3", "ForbiddenOperation"),
])
def test_failures_give_clear_errors(src, err):
    o = refused(src)
    assert o.error_type == err and o.error and o.kind
    with pytest.raises(getattr(S, err)):
        S.run_program(src, FAST)


def test_bad_inputs():
    with pytest.raises(S.MalformedProgram):
        S.run_program(123)
    with pytest.raises(S.MalformedProgram):
        S.run_program("answer = 1\n" * 5000)
    with pytest.raises(ValueError):
        S.Limits(max_steps=0)
    with pytest.raises(ValueError):
        S.Limits(max_seconds=-1)
    assert S.safe_run(None).error_type == "MalformedProgram"


def test_every_refusal_is_a_sandbox_error():
    for name in ("MalformedProgram", "ForbiddenOperation", "TimeLimitExceeded", "StepLimitExceeded",
                 "MemoryLimitExceeded", "OutputLimitExceeded", "IntegerTooLarge", "RecursionTooDeep",
                 "ProgramRaised", "NoAnswer"):
        assert issubclass(getattr(S, name), S.SandboxError)


def test_sandbox_leaves_the_host_untouched():
    import sys
    import tracemalloc

    before = sys.gettrace(), tracemalloc.is_tracing(), sys.getrecursionlimit()
    for src in ("while True:\n    pass", "answer = 10 ** 10 ** 10", "answer = 1", "import os"):
        S.safe_run(src, FAST)
    assert (sys.gettrace(), tracemalloc.is_tracing(), sys.getrecursionlimit()) == before


def test_run_counter_counts_runs():
    before = S.RUN_COUNT[0]
    S.safe_run("answer = 1")
    S.safe_run("import os")
    assert S.RUN_COUNT[0] == before + 2


@pytest.mark.parametrize("isolate", [True, "fresh", False])
def test_every_mode_gives_the_same_results(isolate):
    S.clear_cache()
    assert S.run_program("answer = 6 * 7", isolate=isolate) == 42
    assert S.run_program("answer = Fraction(1, 3)", isolate=isolate) == Fraction(1, 3)
    assert S.run_program("answer = 7 / 2", isolate=isolate) == 3.5
    o = S.safe_run("while True:\n    pass", S.Limits(max_seconds=0.5, max_steps=10**9), isolate=isolate)
    assert not o.ok and o.error_type == "TimeLimitExceeded", o
    o = S.safe_run("answer = ().__class__", isolate=isolate)
    assert o.error_type == "ForbiddenOperation"
    o = S.safe_run("answer = 1 / 0", isolate=isolate)
    assert o.error_type == "ProgramRaised"
    o = S.safe_run("print('hi', 3)\nanswer = 2 ** 100", isolate=isolate)
    assert o.ok and o.value == 2 ** 100 and o.stdout == "hi 3\n" and o.steps == 3


def test_the_default_is_a_worker_process():
    import inspect
    for fn in (S.safe_run, S.run_program):
        assert inspect.signature(fn).parameters["isolate"].default is True
    S.clear_cache()
    before = S.stats()["cache_misses"]
    S.safe_run("answer = 123456 + 1")
    assert S.stats()["workers_started"] >= 1 and S.stats()["cache_misses"] == before + 1


def _in_process_calls(source: str) -> list[int]:
    """Lines of ``source`` that call with ``isolate=False`` (or ``0``, ``"inprocess"``) or call ``run_in_process``."""
    import ast
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name == "run_in_process" or any(
                k.arg == "isolate" and isinstance(k.value, ast.Constant) and k.value.value in (False, "inprocess")
                for k in node.keywords):
            lines.append(node.lineno)
    return lines


def test_no_course_code_runs_a_program_in_process():
    """Out of process everywhere: no module, solution or learner notebook calls with ``isolate=False`` (or
    the engine's in-process runner); the lesson, the solvers' widget and the LLM client use the default."""
    import inspect
    import json
    from pathlib import Path

    from utils.reasoning import llm_client
    assert _in_process_calls("S.safe_run(p, isolate=False)\nsafe_run(p, L, isolate='inprocess')") == [1, 2]
    root = Path(S.__file__).resolve().parents[2]
    sources = {p: [p.read_text()] for p in (root / "utils").rglob("*.py")
               if p.name not in ("sandbox.py", "sandbox_worker.py")}
    for folder in ("solutions", "course"):
        for nb in (root / folder).glob("*.ipynb"):
            sources[nb] = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    assert len(sources) > 10
    offenders = [str(p.relative_to(root)) for p, texts in sources.items() if any(map(_in_process_calls, texts))]
    assert not offenders, f"programs run in the caller's process in: {offenders}"
    assert inspect.signature(llm_client.solve).parameters["isolate"].default is True


# ------------------------------------------------------------------------------ limits and outcomes
@pytest.mark.parametrize("kwargs", [
    {"max_seconds": float("inf")}, {"max_seconds": float("nan")}, {"max_seconds": 0}, {"max_seconds": -1},
    {"max_seconds": True}, {"max_seconds": "2"}, {"max_seconds": 10_000}, {"max_memory_mb": float("inf")},
    {"max_memory_mb": 0.5}, {"max_steps": 0}, {"max_steps": 2.5}, {"max_steps": True}, {"max_int_bits": 10 ** 6},
    {"max_items": -5}, {"max_depth": 10_000}, {"max_output_chars": None}, {"max_source_chars": 0},
])
def test_invalid_limits_are_a_clear_error_at_construction(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=f"Limits.{name} must be"):
        S.Limits(**kwargs)


@pytest.mark.parametrize("args, kwargs", [
    (("answer = 1",), {"limits": {"max_seconds": 1}}), (("answer = 1",), {"limits": 5}),
    (("answer = 1",), {"isolate": "maybe"}), ((b"answer = 1",), {}), ((None,), {}), ((["answer = 1"],), {}),
    (("answer = 1\n" * 5000,), {}), (("\ud800 = 1",), {}), (("answer = '\x00'",), {}),
])
def test_safe_run_never_raises(args, kwargs):
    o = S.safe_run(*args, **kwargs)
    assert isinstance(o, S.Outcome) and not o.ok and o.error_type and len(o.text) <= 300, o


def test_run_program_rejects_wrong_arguments_clearly():
    with pytest.raises(TypeError, match="limits must be a sandbox.Limits"):
        S.run_program("answer = 1", limits={"max_seconds": 1})
    with pytest.raises(ValueError, match="isolate must be"):
        S.run_program("answer = 1", isolate="sometimes")


@pytest.mark.parametrize("isolate", [True, False])
@pytest.mark.parametrize("src", ["answer = float('nan')", "answer = float('inf')", "answer = -1e308 * 10",
                                 "def solution():\n    return float('nan')"])
def test_nan_and_infinity_are_no_answer_in_every_mode(src, isolate):
    o = S.safe_run(src, isolate=isolate)
    assert not o.ok and o.error_type == "NoAnswer" and "not a finite number" in o.error, o


def test_the_text_of_an_outcome_is_short_and_safe():
    o = S.safe_run("answer = 2 ** 8000")
    assert o.ok and "digits" in o.text and len(o.text) <= 300 and len(str(o)) <= 300
    o = S.safe_run("answer = Fraction(2 ** 500 + 1, 3 ** 300)")
    assert o.ok and len(o.text) <= 300
    assert len(S.safe_run("answer = " + "(" * 300 + "1" + ")" * 300).text) <= 300
    assert S.Outcome(True, 10 ** 4000).text.endswith("(4001 digits)")


def test_only_numbers_come_back():
    for src in ("answer = 5", "answer = 2.5", "answer = Fraction(1, 3)", "def solution():\n    return 9"):
        v = S.run_program(src)
        assert type(v) in (int, float, Fraction)


def test_normalise_answer_of_extreme_values():
    assert S.normalise_answer(Fraction(10 ** 400, 3)) is None            # too large for a float
    assert S.normalise_answer(Fraction(1, 10 ** 400)) == 0.0
    assert S.normalise_answer(10 ** 100) == 10 ** 100


# ------------------------------------------------------------------------------ the cache
def test_the_cache_is_bounded_in_bytes(monkeypatch):
    small = S._ResultCache(max_bytes=256 * 1024)      # one entry may take 4 KB; these take about 2.3 KB
    monkeypatch.setattr(S, "_CACHE", small)
    for i in range(200):
        assert S.safe_run(f"print('{i:04d}' * 500)\nanswer = {i}").ok
    assert 200 * 1024 < small.bytes <= 256 * 1024 and 50 < len(small.items) < 200
    hits = small.hits
    assert S.safe_run("print('0199' * 500)\nanswer = 199").stdout.startswith("0199")   # recent: a hit
    assert small.hits == hits + 1
    S.safe_run(f"print('x' * 9000)\nanswer = 1")                   # larger than 1/64 of the cache: not kept
    assert small.bytes <= 256 * 1024


def test_time_and_memory_refusals_are_not_cached():
    S.clear_cache()
    src = "while True:\n    pass"
    lim = S.Limits(max_seconds=0.3, max_steps=10 ** 9)
    for _ in range(2):
        assert S.safe_run(src, lim).error_type == "TimeLimitExceeded"
    assert S.stats()["cache_entries"] == 0


# ------------------------------------------------------------------------------ the worker processes
posix = pytest.mark.skipif(os.name != "posix" or not os.path.isdir("/proc/self"), reason="POSIX with /proc")


@posix
def test_workers_run_under_os_limits_with_nothing_inherited():
    info = S.worker_info()
    for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_NPROC"):
        assert isinstance(info.get(name), int), (name, info)
    assert info["RLIMIT_FSIZE"] == 0 and info["RLIMIT_NOFILE"] <= 8
    pid = info["pid"]
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    assert fds == list(range(info["RLIMIT_NOFILE"])), fds        # stdin/out/err (/dev/null) + two pipes
    for fd in (0, 1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null"
    cwd = os.readlink(f"/proc/{pid}/cwd")        # an empty directory, already deleted: nothing can go there
    assert cwd.startswith(os.path.join(tempfile.gettempdir(), "course-sandbox-")) and cwd.endswith(" (deleted)")
    with open(f"/proc/{pid}/environ", "rb") as f:
        assert f.read().split(b"\0")[:-1] == [b"PYTHONHASHSEED=0"]
    if os.geteuid() == 0:
        assert info["user"] == "dropped to uid 65534" and os.stat(f"/proc/{pid}").st_uid == 65534


def _busy_worker(timeout=30):
    """The worker running a program right now (the tests start one in a thread)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        pool = S._pool()
        if pool.in_use and pool.in_use[0].info is not None:
            return pool.in_use[0]
        time.sleep(0.01)
    raise AssertionError("no worker became busy")


def _in_thread(fn):
    box = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    return t, box


def test_a_worker_is_replaced_after_a_violation_and_kept_after_an_error():
    S.clear_cache()
    S.safe_run("answer = 1")
    killed = S.stats()["workers_killed"]
    assert S.safe_run("answer = 1 / 0").error_type == "ProgramRaised"
    assert S.stats()["workers_killed"] == killed
    assert S.safe_run("while True:\n    pass", S.Limits(max_seconds=0.3, max_steps=10 ** 9)).error_type == \
        "TimeLimitExceeded"
    assert S.stats()["workers_killed"] == killed + 1
    assert S.run_program("answer = 40 + 2") == 42


@posix
def test_a_worker_that_crashes_gives_a_clear_error_and_is_replaced():
    S.clear_cache()
    t, box = _in_thread(lambda: S.safe_run("while True:\n    pass", S.Limits(max_seconds=20, max_steps=10 ** 9)))
    w = _busy_worker()
    os.kill(w.proc.pid, signal.SIGSEGV)
    t.join(30)
    assert box and box[0].error_type == "WorkerCrashed" and "SIGSEGV" in box[0].error, box
    assert S.run_program("answer = 2 + 2") == 4


@posix
def test_a_worker_that_stops_answering_is_killed_by_the_wall_clock_backstop(monkeypatch):
    S.clear_cache()
    monkeypatch.setattr(S, "_backstop", lambda limits: 1.5)
    t, box = _in_thread(lambda: S.safe_run("while True:\n    pass", S.Limits(max_seconds=20, max_steps=10 ** 9)))
    w = _busy_worker()
    os.kill(w.proc.pid, signal.SIGSTOP)          # uses no CPU any more: only the wall clock can tell
    t.join(30)
    assert box and box[0].error_type == "TimeLimitExceeded" and "wall-clock" in box[0].error, box
    assert w.proc.poll() is not None
    assert S.run_program("answer = 3 + 3") == 6


@posix
def test_the_user_can_still_interrupt_a_long_program():
    S.clear_cache()
    S.run_program("answer = 1")                  # a warm worker: the interrupt lands while the program runs
    main = threading.get_ident()
    # Python's own Ctrl-C handler, as in a terminal or a kernel, whatever an earlier test in this process left
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(1.0, lambda: signal.pthread_kill(main, signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            out = S.safe_run("while True:\n    pass", S.Limits(max_seconds=30, max_steps=10 ** 9))
            print("returned instead of being interrupted:", out)
    finally:
        signal.signal(signal.SIGINT, outer)
    assert not S._pool().in_use
    assert S.run_program("answer = 5 + 5") == 10


@posix
def test_a_forked_child_does_not_use_the_parents_workers():
    S.run_program("answer = 1")
    parent_workers = [w.proc.pid for w in S._pool().idle]
    pid = os.fork()
    if pid == 0:                                 # the child: its own pool, then a hard exit
        code = 1
        try:
            ok = S.run_program("answer = 6 * 7") == 42
            code = 0 if ok and all(w.proc.pid not in parent_workers for w in S._pool().idle) else 2
            S.shutdown()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert S.run_program("answer = 7 * 6") == 42 and all(w.alive() for w in S._pool().idle)


def test_benchmark_reports_every_mode():
    rows = S.benchmark(n=6)
    assert {mode for _, mode in rows} == {"warm pool", "fresh process", "in-process", "default (no worker)"}
    assert all(med > 0 for med, _ in rows.values())
    # ratios, not wall times: starting a process per program is far slower than a warm worker, and
    # straight-line arithmetic needs no worker at all
    assert rows[("trivial", "fresh process")][0] > 3 * rows[("trivial", "warm pool")][0]
    assert rows[("straight-line", "default (no worker)")][0] < rows[("trivial", "warm pool")][0]


def test_the_threat_model_is_documented():
    doc = S.__doc__
    for words in ("Threat model", "Not defended", "kernel", "worker process", "sticky", "Only numbers"):
        assert words in doc, words


# ------------------------------------------------------------------------------ straight-line arithmetic
def _random_straight_line(rng):
    names = ["n0", "n1", "n2", "r1", "r2", "r3", "x", "answer", "result"]
    literals = ["0", "1", "2", "7", "12", "2.5", "0.1", "10.0", "999999999999999999", "123456789012"]
    lines = []
    for _ in range(rng.randint(1, 8)):
        atom = lambda: rng.choice(names) if rng.random() < 0.6 else rng.choice(literals)  # noqa: E731
        rhs = atom() if rng.random() < 0.25 else f"{atom()}{rng.choice([' ', '', chr(9)])}" \
            f"{rng.choice(['+', '-', '*', '/', '//', '%'])} {atom()}"
        lines.append(f"{rng.choice(names)} = {rhs}" + rng.choice(["", " ", "", ""]))
        if rng.random() < 0.1:
            lines.append("")
    if rng.random() < 0.7:
        lines.append(f"answer = {rng.choice(names)}")
    return "\n".join(lines)


def _result(fn):
    try:
        got = fn()
        if got is None:
            return ("outside the subset",)
        value, out, steps = got
        return ("ok", value, type(value).__name__, out, steps)
    except S.SandboxError as e:
        return ("err", type(e).__name__, str(e))


def test_straight_line_arithmetic_gives_exactly_what_a_worker_gives():
    """The caller evaluates straight-line arithmetic itself (no code runs); it must agree with the engine
    on every program: answer and its type, refusal and message, steps."""
    import random
    from utils.reasoning import sandbox_worker as W
    rng = random.Random(0)
    lim = S.Limits(max_int_bits=512, max_steps=9)
    square = "x = 999999999999999999\n" + "x = x * x\n" * 3
    programs = [square + "answer = x * x", square + "answer = x // 7", "x = 5\nanswer = x % 0", "answer = 2.5 // 0",
                "answer = 0.1 * 3", "x = 1\nresult = x / 3\nanswer = result * 3", "solution = 3\nx = 1"]
    programs += [_random_straight_line(rng) for _ in range(3000)]
    kinds = set()
    for p in programs:
        calc = _result(lambda: W.calculate(p, lim))
        if calc[0] == "outside the subset":           # e.g. more steps than the limit: a worker runs it
            continue
        engine = _result(lambda: W.execute(p, lim, timer=W._NoTimer(), clock=time.process_time))
        assert calc == engine, p
        kinds.add(calc[1] if calc[0] == "err" else calc[2])
    assert {"int", "float", "ProgramRaised", "NoAnswer", "IntegerTooLarge"} <= kinds, kinds
    S.clear_cache()
    for p in programs[:150]:                             # and through a real worker
        calc = _result(lambda: W.calculate(p, lim))
        if calc[0] == "outside the subset":
            continue
        worker = _result(lambda: S._run_pooled(p, lim, S._pool()))
        assert calc == worker, p


def test_the_arithmetic_fast_path_takes_only_its_subset():
    from utils.reasoning import sandbox_worker as W
    inside = ["n0 = 12\nn1 = 5\nr1 = n0 + n1\nanswer = r1", "answer = 2.5 * 4", "a = 1\n\n \t\nresult = a \t"]
    outside = ["answer = abs(-3)", "answer = 007", "answer = -3", "answer = 2 ** 10", "answer = 1e5", "if = 3",
               "open = 1\nanswer = open", "answer = 1  # comment", "answer = 1; x = 2", "  answer = 1",
               "answer = 1\r\n", "x = [1]\nanswer = x[0]", "answer = 1_000", "def solution():\n    return 1",
               "ｘ = 1\nanswer = ｘ", "answer = (1 + 2)", "answer = 1 + 2 + 3", "sum = 3\nanswer = sum",
               "answer = " + "1" * 19]
    for src in inside:
        assert W.calculate(src, S.DEFAULT_LIMITS) is not None, src
    for src in outside:
        assert W.calculate(src, S.DEFAULT_LIMITS) is None, src
        S.safe_run(src)                                  # and the worker handles them as before
    assert W.SANDBOX_BUILTINS == set(W._Guard(S.DEFAULT_LIMITS, time.process_time).builtins())


@pytest.mark.parametrize("isolate", [True, False])
def test_text_from_a_program_is_safe_to_print(isolate):
    o = S.safe_run("print('\\ud800 and \\udfff')\nanswer = 1", isolate=isolate)
    assert o.ok and o.stdout.encode("utf-8") and "\\ud800" in o.stdout
    o = S.safe_run("assert False, '\\ud800' * 3", isolate=isolate)
    assert not o.ok and o.error.encode("utf-8") and o.text.encode("utf-8")


def test_unpacking_in_displays_is_bounded_by_max_items_not_by_the_argument_limit():
    assert S.run_program("xs = [*range(5000), 1]\nanswer = len(xs)") == 5001
    assert S.run_program("answer = len({*range(5000)})") == 5000
    assert S.safe_run("answer = max(*range(5000))").error_type == "MemoryLimitExceeded"
    assert S.safe_run("answer = len([*range(10 ** 7)])").error_type == "MemoryLimitExceeded"


_ESCAPED = r"""
import json, os, socket, sys
sys.path.insert(0, sys.argv[1])
import sandbox_worker as W
vm = W._proc_vm_bytes()
user = W._drop_root()
info = W._apply_os_limits(64, 30, 3, vm)        # what a worker applies; fds 0, 1, 2 are all that is left
tried = {"user": user}
def attempt(name, fn):
    try:
        fn()
        tried[name] = "succeeded"
    except (OSError, MemoryError) as e:
        tried[name] = type(e).__name__
attempt("socket", lambda: socket.socket())
attempt("open for writing", lambda: open("escaped.txt", "w"))
attempt("open for reading", lambda: open("/etc/hostname"))
attempt("pipe", lambda: os.pipe())
attempt("allocate 512 MB", lambda: bytearray(512 * 2 ** 20))
def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
if user.startswith("dropped") or os.geteuid() != 0:
    attempt("fork", fork)
os.write(1, json.dumps(tried).encode())
"""


@posix
def test_if_a_program_escaped_the_checks_the_os_limits_still_stop_it(tmp_path):
    """The second line of defence alone: code running with a worker's OS limits cannot open a file or
    a socket, start a process or take memory beyond its budget."""
    import json
    import subprocess
    import sys
    here = os.path.dirname(S.__file__)
    r = subprocess.run([sys.executable, "-c", _ESCAPED, here], capture_output=True, cwd=tmp_path, timeout=60)
    tried = json.loads(r.stdout)
    for name in ("socket", "open for writing", "open for reading", "pipe", "allocate 512 MB", "fork"):
        if name in tried:
            assert tried[name] != "succeeded", (name, tried)
    assert not (tmp_path / "escaped.txt").exists()



# ------------------------------------------------------------------------------ the sandbox keeps Python's meaning
ORDINARY = {
 "methods": "xs = [5, 3, 9]\nxs.append(1)\nxs.insert(0, 7)\nxs.extend([2, 2])\nxs.sort(reverse=True)\nxs.remove(2)\nanswer = xs.index(9) + xs.count(2) + xs.pop() + len(xs)",
 "dict ops": "d = {}\nfor w in 'a b a c b a'.split():\n    d[w] = d.get(w, 0) + 1\nd.setdefault('z', 0)\nd.update({'q': 1})\nanswer = max(d.values()) + len(d) + sum(v for k, v in d.items() if k != 'a')",
 "set ops": "s = set([1, 2, 3])\ns.add(4)\ns.discard(1)\nt = s.union({9}).intersection({2, 9, 4}).difference({4})\nanswer = len(t) + sum(s)",
 "comprehensions": "m = [[i * j for j in range(4)] for i in range(3)]\nflat = [x for row in m for x in row if x % 2 == 0]\nanswer = sum(flat) + len({x for x in flat}) + sum({i: i * i for i in range(4)}.values())",
 "nested functions": "def outer(n):\n    def inner(k):\n        return k * 2\n    return sum(inner(i) for i in range(n))\nanswer = outer(10)",
 "recursion": "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nanswer = fib(15)",
 "lambda sort key": "pairs = [(3, 'c'), (1, 'a'), (2, 'b')]\nanswer = sorted(pairs, key=lambda p: p[0])[0][0] + min(pairs, key=lambda p: -p[0])[0]",
 "zip map filter": "a = [1, 2, 3]\nb = [4, 5, 6]\nanswer = sum(x * y for x, y in zip(a, b)) + sum(map(lambda x: x + 1, a)) + len(list(filter(None, [0, 1, 2])))",
 "enumerate reversed": "answer = sum(i * v for i, v in enumerate(reversed([1, 2, 3]), start=1))",
 "fstring print": "x = 3.5\nprint(f'x is {x} and {x!r} and {[1, 2]}', 'done', sep=' | ', end='!\\n')\nanswer = x * 2",
 "rounding": "answer = round(2.675 * 3, 2) + round(7 / 3) + int(9.99) + abs(-2)",
 "math": "answer = sqrt(16) + floor(2.7) + ceil(2.1) + gcd(12, 18) + lcm(4, 6) + factorial(5) + comb(5, 2) + perm(5, 2)",
 "fractions": "f = Fraction(3, 4) + Fraction(1, 4) * 2\nanswer = f.numerator + f.denominator + Fraction(7, 2).limit_denominator(10).denominator",
 "divmod pow": "q, r = divmod(17, 5)\nanswer = q + r + pow(2, 10) + pow(3, 4, 7) + 2 ** -1",
 "while break": "n = 0\nwhile True:\n    n += 1\n    if n * n > 200:\n        break\nanswer = n",
 "tuple unpacking": "a, *rest = [1, 2, 3, 4]\nfirst, (second, third) = 1, (2, 3)\nanswer = a + sum(rest) + first + second + third",
 "string work": "s = '  Hello World  '\nwords = s.strip().lower().split()\nanswer = len(words) + int(words[0].startswith('he')) + int('42'.isdigit()) + len(str(12345))",
 "membership": "xs = [1, 2, 3]\nd = {'a': 1}\nanswer = int(2 in xs) + int('a' in d) + int((1, 2) in {(1, 2)}) + int('ell' in 'hello') + int([1] in [[1], [2]])",
 "chained compare": "x = 5\nanswer = int(1 < x < 10) + int(x == 5 != 6) + int([1, 2] < [1, 3]) + int((1, 2) == (1, 2))",
 "any all": "xs = [2, 4, 6]\nanswer = int(all(x % 2 == 0 for x in xs)) + int(any(x > 5 for x in xs))",
 "dict keys compare": "d = {1: 2, 3: 4}\nanswer = int(d == {3: 4, 1: 2}) + len(list(d.keys())) + len(dict(zip('ab', [1, 2])))",
 "nested data": "data = {'a': [1, 2, {'b': (3, 4)}]}\nanswer = data['a'][2]['b'][1] + len(str(data))",
 "global list mutation": "total = [0]\ndef add(k):\n    total[0] = total[0] + k\nfor i in range(5):\n    add(i)\nanswer = total[0]",
 "big but legal": "xs = list(range(100000))\nanswer = sum(xs[::3]) % 1000 + max(xs) - min(xs)",
 "isinstance": "answer = int(isinstance(3.0, float)) + int(isinstance(True, bool))",
 "default args": "def f(x, y=10, *args, z=1, **kw):\n    return x + y + sum(args) + z + len(kw)\nanswer = f(1) + f(1, 2, 3, 4, z=0, k=5)",
 "star call": "def f(a, b, c):\n    return a * b * c\nargs = [2, 3]\nkw = {'c': 4}\nanswer = f(*args, **kw)",
 "walrus": "xs = [1, 5, 9]\nanswer = sum(y for x in xs if (y := x * 2) > 4)",
 "result var": "result = 17 // 3",
 "assert ok": "x = 4\nassert x > 3, 'too small'\nanswer = x",
 "del": "xs = [1, 2, 3]\ndel xs[0]\nd = {'a': 1, 'b': 2}\ndel d['a']\nanswer = len(xs) + len(d)",
 "float answer": "answer = 0.1 + 0.2",
 "negative": "answer = -7 // 2 + -7 % 3",
}


@pytest.mark.parametrize("name", list(ORDINARY))
def test_ordinary_programs_mean_what_plain_python_says(name):
    """The checks refuse hostile programs without changing what ordinary ones compute or print."""
    import contextlib
    import io
    import math
    src = ORDINARY[name]
    env = {"Fraction": Fraction, **{f: getattr(math, f) for f in
                                    ("sqrt", "floor", "ceil", "gcd", "lcm", "factorial", "comb", "perm")}}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(src, "<plain>", "exec"), env)      # trusted test programs: the ground truth
    want = env["answer"] if "answer" in env else env["result"]
    for isolate in (True, False):
        S.clear_cache()
        o = S.safe_run(src, isolate=isolate)
        assert o.ok and o.value == want and type(o.value) is type(want) and o.stdout == buf.getvalue(), (isolate, o)
