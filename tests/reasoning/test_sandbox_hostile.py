"""Hostile programs: every one is refused (or bounded) with a clear error, and the caller stays healthy.

Each class of the issue (#14) and of the standard Python sandbox escapes has programs here. For each, the
test checks the refusal, that ``safe_run`` returned (never raised) quickly, and that a follow-up program
still gets its answer; ``test_caller_memory_did_not_grow`` then checks the calling process's resident
memory against a baseline taken before them (tests in a file run in order). The in-process mode (``isolate=False``) must refuse them too: the
worker's checks are the same code, and a crash there would take the test process down.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import traceback
import warnings

import pytest

from utils.reasoning import sandbox as S

LIM = S.Limits(max_seconds=1.0, max_steps=50_000, max_memory_mb=48)
DEEP = S.Limits(max_seconds=5.0, max_steps=400_000, max_memory_mb=256)  # enough to build a 10**6-deep tuple
WALL = 120.0            # a refusal comes back within this many seconds, even on a very busy machine
_follow = itertools.count(1)

TIME = ("TimeLimitExceeded", "StepLimitExceeded")
MEM = ("MemoryLimitExceeded",)
CONT = ("ContainerTooLarge",)
FORB = ("ForbiddenOperation",)
NOANS = ("NoAnswer",)
NEST50 = "(" * 50 + "t" + ",)" * 50        # 50 levels of tuple per line: a deep tuple in few steps
DEEP_TUPLE = f"t = ()\nfor i in range(20000):\n    t = {NEST50}\n"        # 10**6 levels
DAG_LIST = "a = []\nb = []\nfor i in range(100):\n    a = [a, a]\n    b = [b, b]\n"   # 2**100 paths, 200 lists
DAG_TUPLE = "t = ()\nfor i in range(100):\n    t = (t, t)\n"
SWALLOW = ("g = (x for x in [1, 2, 3])\nfor x in g:\n    break\nbox = [g]\ng = None\n"
           "def f(n):\n    if n > 0:\n        return f(n - 1)\n    box.pop()\n    return 0\nf(98)\n")

# (class, source, limits, accepted error types)
HOSTILE = [
    # --- the issue: a deeply nested tuple hashed in one C call (segfaulted the kernel)
    ("deep tuple as a set item", DEEP_TUPLE + "s = {t}\nanswer = 1", DEEP, CONT),
    ("deep tuple as a dict key", DEEP_TUPLE + "d = {}\nd[t] = 1\nanswer = 1", DEEP, CONT),
    ("deep tuple membership", DEEP_TUPLE + "answer = int(t in {1: 2})", DEEP, CONT),
    ("deep tuple compared", DEEP_TUPLE + "u = ()\nanswer = int(t == (u,))", DEEP, CONT),
    ("deep tuple in set()", DEEP_TUPLE + "answer = len(set([t]))", DEEP, CONT),
    ("deep tuple printed", DEEP_TUPLE + "print(t)\nanswer = 1", DEEP, ("OutputLimitExceeded",)),
    ("deep tuple str()", DEEP_TUPLE + "answer = len(str(t))", DEEP, CONT),
    # --- the issue: the tracer switched off by a refusal swallowed in a generator's finaliser
    ("tracer off, then endless loop", SWALLOW + "while True:\n    pass\n", LIM, ("RecursionTooDeep",) + TIME),
    ("tracer off, then memory growth", SWALLOW + "x = []\nwhile True:\n    x = [x, x, x, x]\n", LIM,
     ("RecursionTooDeep",) + TIME + MEM),
    ("tracer off, then a normal answer", SWALLOW + "answer = 1", LIM, ("RecursionTooDeep",)),
    # --- the issue: single C calls the tracer never interrupts
    ("compare shared nested lists", DAG_LIST + "answer = int(a == b)", LIM, CONT),
    ("order shared nested lists", DAG_LIST + "answer = int(a < b)", LIM, CONT),
    ("hash shared nested tuples", DAG_TUPLE + "s = {t}\nanswer = 1", LIM, CONT),
    ("membership of shared lists", DAG_LIST + "answer = int(a in [b])", LIM, CONT),
    ("list.count of shared lists", DAG_LIST + "answer = [b].count(a)", LIM, CONT),
    ("sorted shared lists", DAG_LIST + "answer = len(sorted([a, b]))", LIM, CONT),
    ("max of shared lists", DAG_LIST + "answer = len(max(a, b))", LIM, CONT),
    ("str of shared lists", DAG_LIST + "answer = len(str(a))", LIM, CONT),
    ("f-string of shared lists", DAG_LIST + "answer = len(f'{a}')", LIM, CONT),
    ("f-string !r of shared lists", DAG_LIST + "answer = len(f'{a!r}')", LIM, CONT),
    ("print shared lists", DAG_LIST + "print(a)\nanswer = 1", LIM, ("OutputLimitExceeded",)),
    ("power with a Fraction exponent", "answer = 10 ** Fraction(10 ** 8)", LIM, ("IntegerTooLarge",)),
    ("pow() with a Fraction exponent", "answer = pow(10, Fraction(10 ** 8))", LIM, ("IntegerTooLarge",)),
    ("Fraction base, huge exponent", "answer = Fraction(3, 2) ** 10 ** 8", LIM, ("IntegerTooLarge",)),
    ("zip of a thousand copies", "a = [1] * 10 ** 5\nanswer = len(list(zip(*[a] * 1000)))", LIM, MEM + TIME),
    ("unpack a million arguments", "answer = max(*range(10 ** 6))", LIM, MEM),
    ("unpack a big dict as keywords", "d = {}\nfor i in range(2000):\n    d['k' + str(i)] = i\n"
                                      "answer = len(dict(**d))", LIM, MEM),
    ("print a million arguments", "print(*range(10 ** 6))\nanswer = 1", LIM, MEM),
    # --- the issue: non-numeric answers, NaN and infinity
    ("a string answer", "answer = 'forty-two'", LIM, NOANS),
    ("a list answer", "answer = [42]", LIM, NOANS),
    ("a dict answer", "answer = {'a': 42}", LIM, NOANS),
    ("a generator answer", "answer = (x for x in [42])", LIM, NOANS),
    ("a huge shared list as answer", DAG_LIST + "answer = a", LIM, NOANS),
    ("a bool answer", "answer = True", LIM, NOANS),
    ("a complex answer", "answer = (-8) ** 0.5", LIM, NOANS),
    ("a builtin as answer", "answer = print", LIM, NOANS),
    ("solution() returns a string", "def solution():\n    return '42'", LIM, NOANS),
    ("NaN answer", "answer = float('nan')", LIM, NOANS),
    ("infinite answer", "answer = float('inf') - 1", LIM, NOANS),
    ("overflowing float answer", "answer = 1e308 * 10", LIM, NOANS),
    # --- attribute walks to __subclasses__, __globals__, frames, code
    ("subclasses walk", "answer = ().__class__.__bases__[0].__subclasses__()", LIM, FORB),
    ("function globals", "def f():\n    pass\nanswer = f.__globals__", LIM, FORB),
    ("lambda code", "answer = (lambda: 0).__code__.co_consts", LIM, FORB),
    ("builtins through a name", "answer = __builtins__", LIM, FORB),
    ("generator frame walk", "g = (x for x in [1])\nanswer = g.gi_frame.f_back.f_globals", LIM, FORB),
    ("generator code", "g = (x for x in [1])\nanswer = g.gi_code", LIM, FORB),
    ("an allowed name on a function", "def f():\n    pass\nanswer = f.copy", LIM, FORB),
    ("the guard's own names", "answer = __sb_attr__(1, 'real')", LIM, FORB),
    ("attribute assignment", "xs = []\nxs.append = 1\nanswer = 1", LIM, FORB),
    # --- format-string attribute access
    ("str.format attribute walk", "answer = '{0.__class__}'.format(1)", LIM, FORB),
    ("f-string attribute walk", "answer = f'{(1).__class__}'", LIM, FORB),
    ("f-string nested format spec", "x = 1\nanswer = f'{x:{x}}'", LIM, FORB),
    ("percent formatting", "answer = '%s' % (1,)", LIM, FORB),
    # --- NFKC look-alike identifiers (Python normalises them to the ASCII names)
    ("full-width eval", "answer = ｅｖａｌ('1 + 1')", LIM, FORB),
    ("script-e eval", "answer = ℯval('1 + 1')", LIM, FORB),
    ("bold open", "answer = 𝐨𝐩𝐞𝐧('/etc/passwd')", LIM, FORB),
    ("full-width dunder import", "answer = ＿＿import＿＿('os')", LIM, FORB + ("MalformedProgram",)),
    ("full-width dunder attribute", "answer = (1).＿＿class＿＿", LIM, FORB + ("MalformedProgram",)),
    ("full-width letters in a dunder", "answer = (1).__ｃｌａｓｓ__.__ｂａｓｅ__", LIM, FORB),
    ("full-width getattr", "answer = ｇｅｔａｔｔｒ(1, 'real')", LIM, FORB),
    # --- decorators and default arguments
    ("decorator", "@print\ndef f():\n    pass\nanswer = 1", LIM, FORB),
    ("lambda decorator", "@(lambda f: f)\ndef f():\n    pass\nanswer = 1", LIM, FORB),
    ("default argument import", "def f(x=__import__('os')):\n    return 1\nanswer = f()", LIM, FORB),
    ("default argument open", "def f(x=open):\n    return 1\nanswer = f()", LIM, FORB),
    ("lambda default globals", "g = lambda x=globals: x()\nanswer = 1", LIM, FORB),
    ("argument named like a builtin", "def f(open):\n    return 1\nanswer = f(1)", LIM, FORB),
    # --- generator and coroutine frames
    ("async def", "async def f():\n    return 1\nanswer = 1", LIM, FORB),
    ("async generator expression", "answer = (x async for x in y)", LIM, FORB),
    ("await at top level", "answer = await f()", LIM, FORB + ("MalformedProgram",)),
    ("yield", "def f():\n    yield 1\nanswer = 1", LIM, FORB),
    # --- exceptions that carry tracebacks; SystemExit / KeyboardInterrupt
    ("try/except", "try:\n    answer = 1 / 0\nexcept Exception as e:\n    answer = e.__traceback__", LIM, FORB),
    ("raise SystemExit", "raise SystemExit(1)", LIM, FORB),
    ("raise KeyboardInterrupt", "raise KeyboardInterrupt", LIM, FORB),
    ("exit()", "exit(1)", LIM, FORB),
    ("quit()", "quit()", LIM, FORB),
    ("breakpoint()", "breakpoint()", LIM, FORB),
    ("an assertion with a huge message", "assert False, 'x' * 10 ** 6", LIM, ("ProgramRaised",)),
    ("a KeyError with a huge key", "d = {}\nanswer = d[tuple(range(10 ** 5))]", LIM, ("ProgramRaised",)),
    # --- memory bombs
    ("huge list", "x = [0] * 10 ** 9\nanswer = 1", LIM, MEM),
    ("huge string", "x = 'a' * 10 ** 9\nanswer = 1", LIM, MEM),
    ("doubling list", "x = [1]\nfor i in range(40):\n    x = x + x\nanswer = len(x)", LIM, MEM),
    ("doubling string", "s = 'ab'\nwhile True:\n    s = s + s", LIM, MEM),
    ("many big rows", "x = [[0] * 10 ** 5 for i in range(2000)]\nanswer = 1", LIM, MEM),
    ("copies of a big list", "xs = list(range(10 ** 6))\nys = [xs[:] for i in range(1000)]\nanswer = 1", LIM, MEM),
    # every way to copy a big object is measured when it is made (in-process, the meter looked only every 64
    # steps, so 60 copies could pass unseen and the CPU limit came first on a slower machine)
    ("reversed copies", "xs = list(range(10 ** 6))\nys = [xs[::-1] for i in range(1000)]\nanswer = 1", LIM, MEM),
    ("spread copies", "xs = list(range(10 ** 6))\nys = [[*xs] for i in range(1000)]\nanswer = 1", LIM, MEM),
    ("list.copy copies", "xs = list(range(10 ** 6))\nys = [xs.copy() for i in range(1000)]\nanswer = 1", LIM, MEM),
    ("str.split copies", "s = 'ab ' * 200000\nys = [s.split() for i in range(1000)]\nanswer = 1", LIM, MEM),
    ("append forever", "xs = []\nwhile True:\n    xs.append(xs)", LIM, TIME + MEM),
    ("a range too long", "answer = len(list(range(10 ** 9)))", LIM, MEM),
    ("integer bomb", "answer = 10 ** 10 ** 10", LIM, ("IntegerTooLarge",)),
    ("squaring bomb", "x = 2\nfor i in range(100):\n    x = x * x\nanswer = x", LIM, ("IntegerTooLarge",)),
    ("shift bomb", "answer = 1 << 10 ** 9", LIM, ("IntegerTooLarge",)),
    ("factorial bomb", "answer = factorial(10 ** 6)", LIM, ("IntegerTooLarge",)),
    # --- CPU bombs
    ("endless loop", "while True:\n    pass", LIM, TIME),
    ("nested loops", "for i in range(10 ** 6):\n    for j in range(10 ** 6):\n        pass", LIM, TIME),
    ("sum of sums", "answer = sum(sum(range(10 ** 6)) for i in range(10 ** 6))", LIM, TIME),
    # a million keys outgrow 48 MB at about the time the CPU limit comes: either refusal is right
    ("sorting with a key", "answer = sorted(range(10 ** 6), key=lambda x: -x)[0]", LIM, TIME + MEM),
    # one C call doing quadratic work (every key hashes alike): only the worker's OS CPU limit stops it
    ("colliding hash keys", "m = 2 ** 61 - 1\nks = [i * m for i in range(100000)]\nanswer = len(set(ks))",
     S.Limits(max_seconds=1.0, max_steps=400_000), TIME),
    ("runaway recursion", "def f(n):\n    return f(n + 1) + 1\nanswer = f(0)", LIM, ("RecursionTooDeep",)),
    ("mutual recursion", "def f(n):\n    return g(n)\ndef g(n):\n    return f(n)\nanswer = f(0)", LIM,
     ("RecursionTooDeep",)),
    # --- huge output
    ("print loop", "while True:\n    print('spam ' * 100)", LIM, ("OutputLimitExceeded",)),
    ("print a huge string", "print('x' * 10 ** 6)\nanswer = 1", LIM, ("OutputLimitExceeded",)),
    ("print with a huge separator", "print(1, 2, sep='x' * 10 ** 6)\nanswer = 1", LIM, FORB),
    # --- files, processes, network
    ("read a file", "answer = open('/etc/passwd').read()", LIM, FORB),
    ("import os", "import os\nanswer = os.system('true')", LIM, FORB),
    ("import socket", "import socket\nanswer = socket.socket()", LIM, FORB),
    ("from-import", "from subprocess import run\nanswer = 1", LIM, FORB),
]
IDS = [h[0] for h in HOSTILE]


def follow_up(isolate=True):
    """A normal program after a hostile one: the sandbox still answers (a new text each time: no cache)."""
    n = next(_follow)
    o = S.safe_run(f"def solution():\n    return {n} * 2 + 1", isolate=isolate)
    assert o.ok and o.value == 2 * n + 1, f"the sandbox no longer answers: {o}"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


_RSS: dict = {}
needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read memory")


@needs_proc
def test_warm_up_and_measure_the_caller():
    """Tests run in file order: this one first, then every hostile program, then the memory check."""
    for _, src, limits, _ in HOSTILE[::12]:
        S.safe_run(src, limits)
    for i in range(20):
        S.safe_run(f"for i in range(90):\n    print('{i:05d}' * 20)\nanswer = {i}")
    _RSS["before"] = rss_mb()


@pytest.mark.parametrize("name, src, limits, errors", HOSTILE, ids=IDS)
def test_hostile_program_is_refused_and_the_caller_is_healthy(name, src, limits, errors):
    t0 = time.perf_counter()
    o = S.safe_run(src, limits)
    elapsed = time.perf_counter() - t0
    assert not o.ok, f"{name}: expected a refusal, got {o}"
    assert o.error_type in errors, f"{name}: expected {errors}, got {o}"
    assert o.error and o.kind and len(o.text) <= 300 and len(o.error) <= 500, o
    assert elapsed < WALL, f"{name}: took {elapsed:.1f} s"
    follow_up()


@needs_proc
def test_caller_memory_did_not_grow():
    """After every hostile program above (and 150 legal ones with a lot of output, which the cache keeps
    within its bytes), the calling process is no bigger."""
    if "before" not in _RSS:
        pytest.skip("run the whole file: the baseline is taken by its first test")
    for i in range(150):
        assert S.safe_run(f"for i in range(90):\n    print('{i:05d}' * 20)\nanswer = {1000 + i}").ok
    grown = rss_mb() - _RSS["before"]
    assert grown < 16, f"the calling process grew by {grown:.1f} MB while running the hostile programs"
    assert S.stats()["cache_bytes"] <= S._CACHE.max_bytes


# Bounded only by the worker's OS limits (a single C call, or growth the in-process meter sees late):
# in-process they would run for minutes. The threat model says so.
OS_ONLY = {"tracer off, then memory growth", "colliding hash keys"}
# the deep-tuple programs differ only in what they do last; in-process one of them (the hash that used to
# segfault) is enough to show the caller survives, and each takes seconds to build its tuple
DEEP_NAMES = [h[0] for h in HOSTILE if h[2] is DEEP]
IN_PROCESS = [h for h in HOSTILE if h[0] not in OS_ONLY and (h[2] is not DEEP or h[0] == DEEP_NAMES[0])]


@pytest.mark.parametrize("name, src, limits, errors", IN_PROCESS, ids=[h[0] for h in IN_PROCESS])
def test_the_same_checks_hold_in_process(name, src, limits, errors):
    """Defence in depth: without the worker's OS limits, the engine alone refuses every one of them."""
    S.clear_cache()
    o = S.safe_run(src, limits, isolate=False)
    assert not o.ok and o.error_type in errors, f"{name}: {o}"
    follow_up(isolate=False)


def test_the_swallowed_refusal_does_not_print_in_the_caller(capfd):
    S.clear_cache()
    for isolate in (True, False):
        o = S.safe_run(SWALLOW + "answer = 1", LIM, isolate=isolate)
        assert o.error_type == "RecursionTooDeep", o
    out, err = capfd.readouterr()
    assert "Exception ignored" not in err and not out.strip(), (out, err)


def test_exceptions_carry_no_program_frames():
    S.clear_cache()
    for isolate in (True, False):
        with pytest.raises(S.ProgramRaised) as info:
            S.run_program("def f(x):\n    return 1 / x\nanswer = f(0)", LIM, isolate=isolate)
        e = info.value
        assert "ZeroDivisionError" in str(e) and "line 2" in str(e)
        assert e.__context__ is None and e.__cause__ is None
        assert all(fr.filename != "<sandbox>" for fr in traceback.extract_tb(e.__traceback__))


@pytest.mark.parametrize("isolate", [True, "fresh", False])
def test_compile_and_runtime_warnings_never_reach_the_caller(isolate, capfd):
    S.clear_cache()
    programs = ["x = 1\nanswer = 1 if x is 1 else 0", "s = '\\d'\nanswer = len(s)",
                "def f():\n    return [1, 2](3)\nanswer = 1"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for src in programs:
            assert S.safe_run(src, LIM, isolate=isolate).ok
        S.check_program(programs[0])
    out, err = capfd.readouterr()
    assert not caught and not err.strip(), ([str(w.message) for w in caught], err)


def test_bounded_but_legal_work_is_not_refused():
    """Big but bounded work inside the limits runs (the checks refuse growth, not size)."""
    ok = ["xs = list(range(10 ** 5))\nanswer = sum(xs) % 7",
          "m = [[0] * 100 for i in range(100)]\nanswer = len(m) * len(m[0])",
          "answer = len(str(list(range(10 ** 4))))",
          "pairs = [(i, -i) for i in range(1000)]\nanswer = sorted(pairs)[0][1]",
          "d = {(i, i + 1): i for i in range(1000)}\nanswer = d[(5, 6)]",
          "answer = comb(8192, 4096) % 1000",
          "answer = 2 ** 8000 % 1000"]
    for src in ok:
        o = S.safe_run(src, S.Limits(max_seconds=5, max_steps=200_000))
        assert o.ok, (src, o)


def test_in_process_runs_leave_the_interpreter_as_they_found_it():
    before = sys.gettrace(), sys.unraisablehook, sys.getrecursionlimit(), len(warnings.filters)
    S.clear_cache()
    for src in (SWALLOW + "while True:\n    pass\n", DAG_LIST + "answer = int(a == b)", "answer = 1 / 0",
                "while True:\n    pass"):
        assert not S.safe_run(src, LIM, isolate=False).ok
    assert (sys.gettrace(), sys.unraisablehook, sys.getrecursionlimit(), len(warnings.filters)) == before
    follow_up()
    follow_up(isolate=False)
