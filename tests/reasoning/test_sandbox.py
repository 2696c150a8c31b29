"""The sandbox for model-written programs: answers, refusals, escape attempts, resource limits."""

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


def test_isolated_process():
    assert S.run_program("answer = 6 * 7", isolate=True) == 42
    assert S.run_program("answer = Fraction(1, 3)", isolate=True) == Fraction(1, 3)
    o = S.safe_run("while True:\n    pass", S.Limits(max_seconds=0.5, max_steps=10**9), isolate=True)
    assert not o.ok and o.error_type in ("TimeLimitExceeded", "StepLimitExceeded")
    o = S.safe_run("answer = ().__class__", isolate=True)
    assert o.error_type == "ForbiddenOperation"
    o = S.safe_run("answer = 1 / 0", isolate=True)
    assert o.error_type == "ProgramRaised"
