"""Checks for lesson 07, program-aided math reasoning.

Exercises: ``extract_answer`` (read a GSM8K answer), ``pal_answer`` (operation list -> program -> sandbox ->
answer), ``best_of_n`` (sample, verify, vote), ``dice_probability`` (exact enumeration), ``mc_probability`` (Monte
Carlo with a sample size chosen from the tolerance) and ``fit_logit_trend`` (a trend line for forecasting).

Every check compares with the trusted implementation in :mod:`utils.reasoning.pal`,
:mod:`utils.reasoning.probability` or :mod:`utils.reasoning.forecast`, and when a result is wrong it first tries
the typical mistakes (computed from the same trusted pieces) to say which one was made. Every case is tiny and
bounded in time: a function that never returns fails the check instead of hanging it.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from itertools import combinations_with_replacement, permutations, product

import numpy as np

from utils.checks import Case, CheckFailed, expect, plain, run_check
from utils.reasoning import forecast, pal, probability, sandbox
from utils.reasoning.pal import is_plausible
from utils.reasoning.probability import dice_closed_form, mc_sample_size

__all__ = ["check_extract_answer", "check_pal_answer", "check_best_of_n", "check_dice_probability",
           "check_mc_probability", "check_fit_trend", "dice_closed_form", "mc_sample_size", "is_plausible",
           "CASE_SECONDS"]

CASE_SECONDS = 10.0  # every case below answers in well under a second with the reference


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _show(v) -> str:
    return repr(plain(v))[:120]


class _Labelled:
    """Calls the learner's function with a case's arguments (the last argument is the case's label) and turns
    an exception that escapes it into a failed check that says so: for these exercises, raising on a bad
    program or odd input is itself the mistake. ``NotImplementedError`` (the stub) passes through."""

    def __init__(self, fn, name: str, advice: str, advice_for: dict | None = None):
        self.fn, self.name, self.advice, self.advice_for = fn, name, advice, advice_for or {}

    def __call__(self, *args):
        *args, label = args
        try:
            return self.fn(*args)
        except (NotImplementedError, CheckFailed):
            raise
        except sandbox.SandboxError as e:
            raise CheckFailed(f"`{self.name}` failed check case '{label}': the sandbox's {type(e).__name__} escaped "
                              f"from your function ({e}).\n  Hint: catch sandbox.SandboxError: a refused program "
                              f"counts as a wrong answer (None), it must not stop the evaluation.") from None
        except Exception as e:
            if label in self.advice_for:   # this case exists for one mistake: name it first
                raise CheckFailed(f"`{self.name}` failed check case '{label}': {self.advice_for[label]} (your "
                                  f"function raised {type(e).__name__}: {str(e)[:120]})") from None
            raise CheckFailed(f"`{self.name}` failed check case '{label}': your function raised "
                              f"{type(e).__name__}: {str(e)[:150]}.\n  Hint: {self.advice}") from None


# ------------------------------------------------------------------------ 1. extract_answer
_EXTRACT_CASES = [
    ("a GSM8K answer", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n"
                       "#### 72"),
    ("a number with a thousands separator", "She earns 12 * 100 = <<12*100=1200>>1200 dollars.\n#### 1,200"),
    ("two thousands separators", "The shop sells 1234567 screws.\n#### 1,234,567"),
    ("a dollar sign", "So the total is 3 + 15 = <<3+15=18>>18.\n#### $18"),
    ("a negative answer", "The temperature drops 3 - 8 = <<3-8=-5>>-5 degrees.\n#### -5"),
    ("a decimal answer", "Each gets 5 / 2 = <<5/2=2.5>>2.5 pies.\n#### 2.5"),
    ("numbers after the answer line", "It takes 2 * 3 = <<2*3=6>>6 hours.\n#### 6\nSo 6 hours, not 7."),
    ("a model that wrote '####' twice: the last one is its answer",
     "3 + 4 = <<3+4=7>>7 eggs.\n#### 7\nWait, I forgot the 5 she bought: 7 + 5 = <<7+5=12>>12.\n#### 12"),
    ("no '####' line (a model that never answered)", "I think the answer is 42."),
    ("a whole number written with a decimal point: the int 4", "Each box holds 8 / 2 = <<8/2=4>>4.\n#### 4.0"),
    ("words before the number: the first number after the last '####'", "She has 72 clips.\n#### The answer is 72"),
    ("an answer line with no number: None", "I could not finish this one.\n####"),
    ("words between two numbers: the FIRST number after '####'", "3 apples and 4 pears.\n#### 3 apples and 4 pears"),
]
_EXTRACT_ADVICE = {
    "words before the number: the first number after the last '####'":
        "a model may write words before its number ('#### The answer is 72'): look for the first NUMBER after the "
        "last '####' (a regular expression), not the first word",
    "an answer line with no number: None":
        "an answer line with no number after '####' states no answer: return None, do not raise",
    "words between two numbers: the FIRST number after '####'":
        "'#### 3 apples and 4 pears' answers 3: take the first number after the last '####', do not raise on the "
        "words around it",
}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _explain_extract(text: str, got, want) -> str | None:
    """Name the typical mistake that gives ``got`` instead of ``want`` on ``text`` (None if none fits)."""
    numbers = [float(m) for m in _NUMBER.findall(text.replace(",", ""))]
    if want is None:
        if got is not None:
            return (f"there is no '####' answer line, so the answer is None (a model that never states its answer "
                    f"gets no credit), but you returned {_show(got)}")
        return None
    if got is None:
        return f"you returned None, but the text ends with '#### ...' and the answer is {want!r}"
    tail = text.rsplit("####", 1)[1]
    glued = "".join(re.findall(r"\d", tail.splitlines()[0] if tail.strip() else ""))
    if got != want and len(_NUMBER.findall(tail.replace(",", ""))) > 1 and glued and _is_number(got) \
            and got == int(glued):
        return (f"you returned {_show(got)}: you removed every character that is not a digit, which glues the numbers "
                f"of the answer line together; the answer is the FIRST number after the last '####' ({want!r})")
    if isinstance(got, str):
        return f"you returned the text {got!r}; convert it to a number ({want!r})"
    if not _is_number(got):
        return f"expected the number {want!r}, got {type(got).__name__} {_show(got)}"
    if text.count("####") > 1:
        first = pal.extract_answer(text.split("####")[0] + "####" + text.split("####")[1])
        if got == first:
            return (f"you returned {_show(got)}, the number after the FIRST '####'; a model may write '####' more "
                    f"than once, and its answer is after the LAST one ({want!r})")
    if got == want and type(plain(got)) is not type(want):
        return (f"you returned {_show(got)}: whole numbers should be ints ({want!r}), other numbers floats; "
                f"convert with float only when there is a decimal point")
    if isinstance(want, int) and abs(want) >= 1000 and got == int(str(abs(want))[: len(str(abs(want))) % 3 or 3]):
        return f"you stopped at the thousands separator: the answer is {want!r}, you returned {_show(got)}"
    if got == -want:
        return f"you lost the minus sign: the answer is {want!r}, you returned {_show(got)}"
    if isinstance(want, float) and got == int(want):
        return f"you dropped the decimals: the answer is {want!r}, you returned {_show(got)}"
    if numbers and got == numbers[0] and got != want:
        return (f"you returned {_show(got)}, the first number of the text; the answer is the number after the "
                f"last '####' ({want!r})")
    if numbers and got == numbers[-1] and got != want:
        return (f"you returned {_show(got)}, the last number of the text; the answer is the first number after "
                f"the last '####' ({want!r}): the model may keep writing after its answer line")
    if got != want:
        return f"expected {want!r}, got {_show(got)}"
    return None


def check_extract_answer(extract_answer) -> None:
    """``extract_answer(text)`` -> the number after the last ``####`` (int if whole), or None."""
    cases = []
    for label, text in _EXTRACT_CASES:
        want = pal.extract_answer(text)

        def validate(got, text=text, want=want):
            why = _explain_extract(text, got, want)
            if why:
                raise CheckFailed(why)
        cases.append(Case(label, args=(text, label), validate=validate))
    run_check("extract_answer", _Labelled(extract_answer, "extract_answer",
                                          "return None when there is no answer line; never raise on a model's text",
                                          _EXTRACT_ADVICE),
              cases, timeout_s=CASE_SECONDS,
              hint="Look only at the text after the last '####' (str.rsplit), and in it at the first number; a "
                   "number may carry '$', thousands separators, a minus sign or decimals.")


# --------------------------------------------------------------------------- 2. pal_answer
_ESCAPE = "getattr(n0, 'real')"   # plain Python evaluates it to n0; the sandbox refuses getattr
_HUGE = "2 ** 9000"   # passes the sandbox's static rules; refused when it runs (IntegerTooLarge); plain Python computes it
_PAL_CASES = [
    ("one step", [12, 5], [("+", "n0", "n1")]),
    ("two steps: the answer is the LAST step's result", [30, 4, 7], [("*", "n1", "n2"), ("-", "n0", "r1")]),
    ("a constant operand and exact division: 4, not 4.0", [27, 7, 2, 9, 7],
     [("-", "n0", "n1"), ("/", "r1", "2"), ("*", "n2", "n3"), ("+", "r2", "r3"), ("/", "r4", "n4")]),
    ("a division that is not exact", [7, 2], [("/", "n0", "n1")]),
    ("large numbers (GSM-Hard style)", [805423, 467, 283], [("*", "n1", "n2"), ("+", "n0", "r1")]),
    ("division by zero: the sandbox refuses, answer None", [5, 0], [("/", "n0", "n1")]),
    ("an operand that does not exist (n4 with 2 numbers): None", [3, 4], [("+", "n0", "n4")]),
    ("a model-written operand that tries an escape (getattr): the sandbox refuses it, answer None", [6, 2],
     [("+", "n0", _ESCAPE)]),
    ("an empty operation list: None", [3, 4], []),
    ("an answer of 0", [5, 5], [("-", "n0", "n1")]),
    ("a division that does not terminate (7 / 3): the sandbox's float, unrounded", [7, 3], [("/", "n0", "n1")]),
    (f"an operand that passes the static rules but is refused when it runs ({_HUGE}): None", [3, 4],
     [("+", "n0", _HUGE)]),
]


def _explain_pal(numbers, steps, got, want) -> str | None:
    if not (isinstance(got, tuple) and len(got) == 2):
        return f"return a tuple (program, answer), got {_show(got)}"
    program, answer = got
    if not isinstance(program, str):
        return f"the program should be a string (the text you ran), got {type(program).__name__}"
    in_sandbox = pal.run_answer(program)   # what the sandbox makes of the learner's own program
    if want is None:
        if answer is None:
            return None
        if _HUGE in str(steps):
            return (f"the sandbox refuses {_HUGE} when the program RUNS (IntegerTooLarge), although it passes the "
                    f"static checks, yet your answer is {_show(answer)}: a static check (sandbox.check_program) "
                    f"followed by exec/eval is not the sandbox; run the text with sandbox.run_program and use its "
                    f"result")
        if _ESCAPE in str(steps):
            return (f"the operand {_ESCAPE!r} calls getattr, which the sandbox refuses, yet your answer is "
                    f"{_show(answer)}: the answer did not come from the sandbox. Model-written code runs only "
                    f"through sandbox.run_program, never exec/eval (a sandbox call whose result you ignore does "
                    f"not count)")
        return (f"the sandbox cannot run this program, so the answer must be None (a wrong answer, not a crash), "
                f"but you returned {_show(answer)}")
    if answer is None:
        if want == 0:
            return ("you returned None for the answer 0: a test like `if value:` treats 0 as 'no answer'; only a "
                    "SandboxError means None (test `value is None` if you must)")
        if re.search(r"^r0\s*=", program, re.M):
            return ("you returned None because your program numbers its steps from r0; the steps refer to r1 for "
                    "the first step's result (enumerate(steps, 1))")
        if in_sandbox is None:
            why = sandbox.safe_run(program)
            return (f"you returned None: the sandbox refuses your program ({why.error_type}: {why.error[:80]}), "
                    f"so the text you wrote is not the program for these steps")
        return f"you returned None, but the sandbox runs your program to {_show(in_sandbox)} (expected {want!r})"
    if not _is_number(answer):
        return f"the answer should be a number ({want!r}), got {type(answer).__name__} {_show(answer)}"
    for v in numbers:
        if str(v) not in program:
            return f"the program does not contain the number {v}: write one line 'n<i> = <number>' per number"
    if answer == want and type(plain(answer)) is not type(want):
        return (f"you returned {_show(answer)}: pass the sandbox's value through sandbox.normalise_answer "
                f"({want!r})")
    if answer != want:
        if len(steps) > 1 and answer == pal.pal_answer(numbers, steps[:1])[1]:
            return (f"you returned {_show(answer)}, the FIRST step's result; the answer is the last step's "
                    f"(r{len(steps)} = {want!r})")
        swapped = [(op, b, a) for op, a, b in steps]
        if answer == pal.pal_answer(numbers, swapped)[1] and answer != want:
            return f"you swapped the operands: step (op, a, b) is 'a op b', which gives {want!r}, not {_show(answer)}"
        if re.search(r"//", program) and all(op != "//" for op, _, _ in steps):
            return (f"you wrote the division '/' as '//' (integer division), which gives {_show(answer)} instead of "
                    f"{want!r}: write each step's operator exactly as given")
        if isinstance(want, float) and answer == int(want):
            return f"you cut {want!r} to {_show(answer)}: keep non-whole answers as floats (normalise_answer does)"
        if isinstance(want, float) and any(answer == round(want, k) for k in range(8)):
            return (f"you rounded {want!r} to {_show(answer)}: return the sandbox's value as it is "
                    f"(normalise_answer only turns a whole float such as 4.0 into 4)")
        return f"expected {want!r}, got {_show(answer)}"
    if in_sandbox != answer:
        return (f"your answer {_show(answer)} is not what your program gives in the sandbox ({_show(in_sandbox)}): "
                f"the answer must be the sandbox's value of the program you return")
    return None


class _WatchIsolation:
    """Calls ``fn`` while watching the sandbox's entry points, and returns ``(its result, the isolate arguments it
    passed)``: a learner who runs the program with ``isolate=False`` gets right answers from inside their own
    kernel, which only a spy can see."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        seen: list = []
        real = {name: getattr(sandbox, name) for name in ("run_program", "safe_run")}

        def spy(real_fn):
            def watched(source, *a, **k):
                seen.append(k["isolate"] if "isolate" in k else a[1] if len(a) > 1 else True)
                return real_fn(source, *a, **k)
            return watched
        for name, fn in real.items():
            setattr(sandbox, name, spy(fn))
        try:
            return self.fn(*args), seen
        finally:
            for name, fn in real.items():
                setattr(sandbox, name, fn)


def check_pal_answer(pal_answer) -> None:
    """``pal_answer(numbers, steps)`` -> ``(program, answer)``: the program text, and its answer from the sandbox
    (int when whole), or None when the sandbox refuses or the program fails."""
    cases = []
    for label, numbers, steps in _PAL_CASES:
        want = pal.pal_answer(numbers, steps)[1]

        def validate(watched, numbers=numbers, steps=steps, want=want):
            got, isolates = watched
            if any(i is False for i in isolates):
                raise CheckFailed("you ran the program with isolate=False, inside your own Python process: the "
                                  "answers may be right, but a model-written program must run in the sandbox's "
                                  "worker process (the default), where the operating system bounds its memory and "
                                  "time and a crash kills the worker, not your kernel")
            why = _explain_pal(numbers, steps, got, want)
            if why:
                raise CheckFailed(why)
        cases.append(Case(label, args=(numbers, steps, label), validate=validate))
    run_check("pal_answer", _Labelled(_WatchIsolation(pal_answer), "pal_answer",
                                      "whatever the operation list holds, return (program, None) when it cannot "
                                      "be run; never raise"),
              cases, timeout_s=CASE_SECONDS,
              hint="Write the text line by line as the exercise says, run that exact text with "
                   "sandbox.run_program inside try/except sandbox.SandboxError, and normalise what it returns.")


# ------------------------------------------------------------------------------ 3. best_of_n
def _p(value) -> str:
    return f"answer = {value}"


_LOOP = "for i in range(10 ** 12):\n    pass\nanswer = 1"   # the sandbox refuses it at once; plain Python never ends
# (label, programs, logprobs, plausible, {wrong answer: what it means})
_BEST_CASES = [
    ("majority beats the single most likely sample", [_p(7), _p(7), _p(5)], [-1.0, -3.0, -0.5], None,
     {5: "you returned 5, the answer with the best log-probability; best-of-N returns the answer with the most "
         "votes (7 has 2 of 3), and log-probabilities only break ties"}),
    ("a program that fails is rejected, not voted", [_p("1 / 0"), _p("1 / 0"), _p(5)], [-0.1, -0.2, -2.0], None,
     {None: "you returned None although one candidate runs (answer 5): a refused program must be skipped, not "
            "counted as a vote for 'no answer'"}),
    ("a program the sandbox refuses is rejected, even where plain Python would run it",
     [_p("getattr(9, 'real')"), _p("getattr(9, 'real')"), _p(4)], [-0.1, -0.2, -3.0], None,
     {9: "two programs that call getattr won the vote with 9, but the sandbox refuses them: run every candidate "
         "with sandbox.run_program, never exec/eval"}),
    ("implausible answers (not whole numbers) are rejected", [_p("7 / 2"), _p("7 / 2"), _p(4)],
     [-0.1, -0.2, -3.0], None,
     {3.5: "3.5 fails `plausible` but won the vote: drop the answers that fail the verifier before counting",
      None: "you returned None although 4 passes the verifier"}),
    ("a tie is broken by the higher log-probability", [_p(2), _p(9)], [-1.0, -0.5], None,
     {2: "a 1-1 tie must go to the answer whose best candidate has the higher log-probability (9, at -0.5); you "
         "kept the first one"}),
    ("a tie whose more likely answer comes first and is smaller", [_p(3), _p(8)], [-0.5, -1.0], None,
     {8: "a 1-1 tie must go to the answer whose best candidate has the higher log-probability (3, at -0.5); you "
         "broke it by the larger answer, or kept the last one seen"}),
    ("a 2-2 tie: the best candidate decides, not the sum, mean, minimum or last one",
     [_p(4), _p(6), _p(4), _p(6)], [-0.1, -1.0, -5.0, -1.0], None,
     {6: "a 2-2 tie must go to the answer whose BEST candidate has the higher log-probability (4, at -0.1); you "
         "broke it by the sum, the mean or the minimum of each answer's log-probabilities, or by its last "
         "candidate's (6 wins those)"}),
    ("a 2-2 tie: the best candidate decides, not the first one of each answer",
     [_p(6), _p(4), _p(6), _p(4)], [-1.0, -5.0, -1.0, -0.1], None,
     {6: "a 2-2 tie must go to the answer whose BEST candidate has the higher log-probability (4, at -0.1); you "
         "broke it by each answer's FIRST candidate (6 at -1.0 came before 4 at -0.1)"}),
    ("8.0 and 8 are the same answer", [_p("16 / 2"), _p(8), _p(6)], [-1.0, -1.5, -0.1], None,
     {6: "8.0 and 8 were counted apart (or the verifier rejected 8.0): pass each value through "
         "sandbox.normalise_answer before verifying and counting",
      8.0: "return the answer as the int 8 (normalise_answer)"}),
    ("the verifier is the `plausible` you are given (here: even numbers)", [_p(3), _p(3), _p(4)],
     [-0.1, -0.2, -1.0], "even",
     {3: "you ignored the `plausible` argument: 3 is not even, so only 4 survives"}),
    ("every candidate refused, one of them an endless loop that only the sandbox stops: None",
     [_p("1 / 0"), "import os\nanswer = 1", _LOOP], [-1.0, -1.0, -1.0], None,
     {1: "a program that the sandbox refuses (an import, or a loop of 10**12 steps) got a vote: run candidates with "
         "sandbox.run_program and skip every SandboxError"}),
]


def _even(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v % 2 == 0


def check_best_of_n(best_of_n) -> None:
    """``best_of_n(programs, logprobs, plausible)`` -> the voted answer of the candidates that run and pass
    ``plausible``; ties go to the higher log-probability; None when nothing survives."""
    cases = []
    for label, progs, lps, verifier, mistakes in _BEST_CASES:
        plausible = _even if verifier == "even" else is_plausible
        want = pal.best_of_n(progs, lps, plausible)

        def validate(got, want=want, mistakes=mistakes):
            if got is not None and not _is_number(got):
                raise CheckFailed(f"expected the answer {want} (a number, or None), got {type(got).__name__} "
                                  f"{_show(got)}")
            if got == want and type(plain(got)) is type(want):
                return
            for wrong, why in mistakes.items():
                if got == wrong and type(plain(got)) is type(wrong):
                    raise CheckFailed(why)
            if want is None:
                raise CheckFailed(f"expected None (no candidate survives), got {_show(got)}")
            raise CheckFailed(f"expected {want}, got {_show(got)}")
        cases.append(Case(label, args=(progs, lps, plausible, label), validate=validate))
    run_check("best_of_n", _Labelled(best_of_n, "best_of_n",
                                     "a candidate that fails or is refused is skipped; best_of_n never raises"),
              cases, timeout_s=CASE_SECONDS,
              hint="Three parts: get each candidate's answer from the sandbox (skipping refusals), keep the ones "
                   "`plausible` accepts, then count votes; a second dictionary remembers the best log-probability "
                   "of each answer for ties.")


# ------------------------------------------------------------------------ 4. dice_probability
_DICE_CASES = [(3, 6, 10), (2, 6, 7), (2, 6, 12), (2, 6, 2), (1, 4, 5), (4, 6, 14), (3, 4, 12), (2, 10, 11)]


def _count(n, f, s, lo=1, hi=None, cmp="=="):
    hi = f if hi is None else hi
    ok = {"==": lambda t: t == s, ">=": lambda t: t >= s, "<=": lambda t: t <= s}[cmp]
    return sum(1 for r in product(range(lo, hi + 1), repeat=n) if ok(sum(r)))


def _explain_dice(n, f, s, got, want) -> str | None:
    if isinstance(got, Fraction) and got == want:
        return None
    if isinstance(got, (bool, np.bool_)) or not _is_number(got) and not isinstance(got, Fraction):
        return f"expected the exact Fraction {want}, got {type(got).__name__} {_show(got)}"
    if not isinstance(got, Fraction):
        if isinstance(got, (int, np.integer)) and got == _count(n, f, s) and want != got:
            return (f"you returned the number of matching outcomes ({got}), not a probability: divide by the "
                    f"{f ** n} outcomes (as a Fraction)")
        return (f"expected an exact Fraction ({want}), got {type(got).__name__} {_show(got)}: floats are not exact; "
                f"build Fraction(count, total) from the two integers")
    total = f ** n
    perms = sum(1 for r in permutations(range(1, f + 1), n) if sum(r) == s)
    combos = [r for r in combinations_with_replacement(range(1, f + 1), n)]
    variants = [
        (Fraction(perms, total), "you enumerated permutations, in which no two dice show the same face; dice can "
                                 "repeat a face: itertools.product(range(1, faces + 1), repeat=n_dice)"),
        (Fraction(sum(1 for r in combos if sum(r) == s), len(combos)),
         "you enumerated combinations (unordered rolls): they are not equally likely ((1, 2) happens two ways, (1, "
         "1) one way); enumerate ordered rolls with itertools.product"),
        (Fraction(_count(n, f, s, lo=0, hi=f - 1), total),
         "the faces of a die run from 1 to `faces`; you enumerated 0 .. faces-1 (range(faces))"),
        (Fraction(_count(n, f, s, hi=f - 1), total),
         "your dice never show their top face: range(1, faces) stops at faces-1; use range(1, faces + 1)"),
        (Fraction(_count(n, f, s, cmp=">="), total), "you counted sums of AT LEAST the target; count sum == target"),
        (Fraction(_count(n, f, s, cmp="<="), total), "you counted sums of AT MOST the target; count sum == target"),
        (Fraction(_count(n, f, s), n * f), f"you divided by n_dice * faces ({n * f}); there are faces ** n_dice = "
                                           f"{total} equally likely outcomes"),
    ]
    fits = [why for value, why in variants if got == value and value != want]
    if fits:   # two mistakes can give the same value on one case: then name each
        return fits[0] if len(fits) == 1 else "one of these: " + "; OR ".join(fits)
    if float(got) == float(want) or math.isclose(float(got), float(want), rel_tol=1e-12):
        return (f"you returned {got}, which is {want} converted through a float: Fraction(count / total) is not "
                f"exact; use Fraction(count, total)")
    return f"expected {want}, got {got}"


def check_dice_probability(dice_probability) -> None:
    """``dice_probability(n_dice, faces, target)`` -> the exact Fraction P(sum == target)."""
    cases = []
    for n, f, s in _DICE_CASES:
        want = probability.dice_probability(n, f, s)

        def validate(got, n=n, f=f, s=s, want=want):
            why = _explain_dice(n, f, s, got, want)
            if why:
                raise CheckFailed(why)
        cases.append(Case(f"{n} dice with {f} faces, sum {s}", args=(n, f, s), validate=validate))
    run_check("dice_probability", dice_probability, cases, timeout_s=CASE_SECONDS,
              hint="Which outcomes are there? Every tuple of n_dice faces, each from 1 to faces (itertools.product "
                   "lists them). Count the ones you want and keep the ratio exact.")


# -------------------------------------------------------------------------- 5. mc_probability
def _mc_problems():
    def dice_sample(rng, n):
        return rng.integers(1, 7, size=(n, 2))

    def birthday_sample(rng, n):
        return rng.integers(0, 365, size=(n, 23))

    def coins_sample(rng, n):
        return rng.integers(0, 2, size=(n, 10))

    def birthday_event(x):
        s = np.sort(x, axis=1)
        return (np.diff(s, axis=1) == 0).any(axis=1)

    p_birthday = 1 - math.prod((365 - i) / 365 for i in range(23))
    return [
        ("two dice sum to 7", lambda x: x.sum(1) == 7, dice_sample, 1 / 6),
        ("23 people, a shared birthday", birthday_event, birthday_sample, p_birthday),
        ("at least 7 heads in 10 flips", lambda x: x.sum(1) >= 7, coins_sample, 176 / 1024),
    ]


MC_MAX_FACTOR = 10   # a sample more than this many times mc_sample_size(tol) is refused before it is drawn


class _Recorder:
    """Wraps a problem's ``sample``: records how many outcomes each call asked for, whether it was given the
    caller's generator, and what it returned; refuses, before drawing, a sample far larger than ``tol`` needs (a
    huge draw is one long C call that no time limit can interrupt)."""

    def __init__(self, sample, tol, rng=None):
        self.sample, self.tol, self.rng = sample, tol, rng
        self.calls, self.own_rng, self.outcomes = [], [], None

    def __call__(self, rng, n):
        need = mc_sample_size(self.tol)
        if _is_number(n) and n > MC_MAX_FACTOR * need:
            raise CheckFailed(f"you asked `sample` for {int(n):,} outcomes, {n / need:.0f} times the {need:,} that "
                              f"tol = {self.tol} needs: choose n from tol (a 4-sigma miss at p = 1/2), not a fixed "
                              f"large number; the check refuses to draw it rather than wait")
        self.calls.append(int(n))
        self.own_rng.append(self.rng is not None and rng is not self.rng)
        self.outcomes = self.sample(rng, n)
        return self.outcomes


def _state(rng: np.random.Generator):
    return repr(rng.bit_generator.state)


def check_mc_probability(mc_probability) -> None:
    """``mc_probability(event, sample, tol, rng)`` -> ``(estimate, n)`` with n >= mc_sample_size(tol) outcomes, all
    drawn with ``sample(rng, n)`` from the rng given, and the estimate within ``tol`` of the exact probability
    (checked on several seeds)."""
    cases = []
    for label, event, sample, p in _mc_problems():
        for tol in (0.02, 0.01):
            def run(event=event, sample=sample, tol=tol):
                rng = np.random.default_rng(7)
                rec = _Recorder(sample, tol, rng)
                before = _state(rng)
                out = mc_probability(event, rec, tol, rng)
                return out, rec, before != _state(rng)

            def validate(got, p=p, tol=tol, event=event, sample=sample):
                out, rec, advanced = got
                calls = rec.calls
                expect(isinstance(out, tuple) and len(out) == 2, f"return a tuple (estimate, n), got {_show(out)}")
                est, n = out
                if _is_number(est) and _is_number(n) and float(est) >= 1 and 0 <= float(n) <= 1:
                    raise CheckFailed(f"you returned ({_show(est)}, {_show(n)}): the order is (estimate, n)")
                expect(isinstance(n, (int, np.integer)) and not isinstance(n, bool), f"n should be an int, got {_show(n)}")
                need = mc_sample_size(tol)
                expect(n >= need, f"n = {n} draws is too few for tol = {tol}: the standard error at p = 1/2 is "
                                  f"{0.5 / math.sqrt(max(int(n), 1)):.4f}, and a miss by more than tol must be a "
                                  f"4-sigma event (standard error tol/4 = {tol / 4:g}), which needs more draws")
                drawn = sum(calls)
                expect(drawn > 0, "your function never called `sample`: draw the outcomes with sample(rng, n)")
                expect(drawn == n, f"you report n = {n} but drew {drawn} outcomes with `sample`: n must be the "
                                   f"number of outcomes the estimate is made of")
                expect(len(calls) == 1, f"you called `sample` {len(calls)} times; draw all n outcomes in one call "
                                        f"sample(rng, n) (one array, one row per outcome)")
                expect(advanced, "the rng you were given was never used: draw with sample(rng, n) and that rng, not "
                                 "a generator of your own (results must follow the caller's seed)")
                expect(not any(rec.own_rng), "you passed `sample` a generator of your own: draw with sample(rng, n) "
                                             "and the rng you were given, so that the caller's seed decides the result")
                expect(_is_number(est), f"the estimate should be a float, got {type(est).__name__} {_show(est)}")
                expect(0 <= est <= 1, f"the estimate {_show(est)} is not a probability: did you return the count of "
                                      f"outcomes instead of their fraction?")
                drawn_est = float(np.mean(event(rec.outcomes)))
                expect(math.isclose(float(est), drawn_est, rel_tol=1e-9, abs_tol=1e-12),
                       f"your estimate {float(est):.6f} is not the fraction of the outcomes you drew where the event "
                       f"holds ({drawn_est:.6f})")
                expect(abs(est - p) <= tol, f"estimate {float(est):.4f} is more than tol = {tol} from the exact "
                                            f"{p:.4f}")
                for s in (1, 2):  # the estimate must hold up on other seeds too
                    est2, _ = mc_probability(event, _Recorder(sample, tol), tol, np.random.default_rng(100 + s))
                    expect(abs(est2 - p) <= tol, f"with another seed the estimate {float(est2):.4f} is more than "
                                                 f"tol = {tol} from the exact {p:.4f}")
            cases.append(Case(f"{label}, tol {tol}", args=(run,), validate=validate))
    run_check("mc_probability", lambda run: run(), cases, timeout_s=CASE_SECONDS,
              hint="Choose n before sampling, from the worst-case standard error 1 / (2 sqrt(n)) and the rule that "
                   "a miss by more than tol is a 4-sigma event; then one call of `sample` with the rng you are "
                   "given, and the fraction of outcomes where `event` holds.")


# ------------------------------------------------------------------------------ 6. fit_trend
def _fit_variants(x, acc):
    """What typical mistakes return on (x, acc): (slope, intercept, sd) triples with their explanation."""
    x, acc = np.asarray(x, float), np.asarray(acc, float)
    n = len(x)

    def line(z, ddof=2):
        slope, intercept = np.polyfit(x, z, 1)
        r = z - (intercept + slope * x)
        return float(slope), float(intercept), float(np.sqrt((r ** 2).sum() / (n - ddof)))

    logit = np.log(acc / (1 - acc))
    s, i, sd = line(logit)
    sc, ic = np.polyfit(x - x.mean(), logit, 1)
    sx, ix = np.polyfit(logit, x, 1)
    rx = x - (ix + sx * logit)
    ra = acc - 1 / (1 + np.exp(-(i + s * x)))
    return [
        (line(np.log((1 - acc) / acc)), "you used log((1 - acc) / acc), the log-odds of FAILURE, which flips the signs "
                                        "of slope and intercept; the log-odds are log(acc / (1 - acc))"),
        ((float(sc), float(ic), sd), "you centred x before fitting (x - mean(x)): the intercept must be the value of "
                                     "the line at x = 0, as in logit(acc) = intercept + slope * x"),
        ((float(sx), float(ix), float(np.sqrt((rx ** 2).sum() / (n - 2)))),
         "you regressed x on the log-odds (np.polyfit(logit, x, 1)): the axes are swapped; fit the log-odds as a "
         "function of x, np.polyfit(x, logit, 1)"),
        ((s, i, sd ** 2), "you returned the residual VARIANCE; resid_sd is its square root"),
        ((s, i, float(np.sqrt((ra ** 2).sum() / (n - 2)))),
         "your residuals are on the accuracy scale; resid_sd measures the residuals of the fitted line, in log-odds"),
        ((i, s, sd), "you returned (intercept, slope, sd); the order is (slope, intercept, resid_sd) - "
                     "np.polyfit returns the slope first"),
        (line(acc), "you fitted a straight line to the accuracies themselves; fit it to their log-odds "
                    "log(acc / (1 - acc))"),
        (line(np.log(acc)), "you fitted log(acc); the log-odds are log(acc / (1 - acc))"),
        (line(np.log10(acc / (1 - acc))), "you used log10; log-odds use the natural log (np.log)"),
        ((s, i, line(logit, 0)[2]), "your residual sd divides by n; with two fitted parameters it divides by n - 2"),
        ((s, i, line(logit, 1)[2]), "your residual sd divides by n - 1; with two fitted parameters it divides by n - 2"),
        ((s, i, float(np.std(logit, ddof=2)) if n > 2 else 0.0),
         "your sd is the spread of the log-odds around their mean; it should be the spread of the residuals around "
         "the fitted line"),
    ]


def _explain_fit(x, acc, got) -> str | None:
    want = forecast.fit_logit_trend(x, acc)
    if not (isinstance(got, (tuple, list)) and len(got) == 3 and all(_is_number(v) for v in got)):
        return f"return a tuple of three numbers (slope, intercept, resid_sd), got {_show(got)}"
    got = tuple(float(v) for v in got)
    if np.allclose(got, want, rtol=1e-6, atol=1e-6):
        return None
    for value, why in _fit_variants(x, acc):
        if np.allclose(got, value, rtol=1e-6, atol=1e-6):
            return why
    names = ("slope", "intercept", "resid_sd")
    k = next(j for j in range(3) if not math.isclose(got[j], want[j], rel_tol=1e-6, abs_tol=1e-6))
    return f"{names[k]} is {got[k]:.6g}, expected {want[k]:.6g}"


_FIT_DATA = [
    ("points exactly on a logistic curve", [0.0, 1.0, 2.0, 3.0],
     [0.2689414213699951, 0.3775406687981454, 0.5, 0.6224593312018546]),   # logit = -1 + 0.5 x
    ("noisy points", [2020.5, 2021.0, 2021.8, 2022.4, 2023.1], [0.10, 0.18, 0.35, 0.55, 0.80]),
    ("three points", [1.0, 2.0, 4.0], [0.3, 0.6, 0.9]),
]
_FIT_BAD = [
    ("accuracies given in percent: raise ValueError", [0.0, 1.0, 2.0], [55.0, 60.0, 80.0]),
    ("an accuracy of exactly 1 (log-odds would be infinite): raise ValueError", [0.0, 1.0, 2.0], [0.5, 0.8, 1.0]),
    ("an accuracy of exactly 0 (log-odds would be infinite): raise ValueError", [0.0, 1.0, 2.0], [0.0, 0.5, 0.8]),
]


def check_fit_trend(fit_logit_trend) -> None:
    """``fit_logit_trend(x, acc)`` -> ``(slope, intercept, resid_sd)`` of the least-squares line
    logit(acc) = intercept + slope * x, with the residual sd on n - 2 degrees of freedom; ValueError unless every
    accuracy is strictly between 0 and 1."""
    cases = []
    for label, x, acc in _FIT_DATA:
        def validate(got, x=x, acc=acc):
            why = _explain_fit(x, acc, got)
            if why:
                raise CheckFailed(why)
        cases.append(Case(label, args=(np.array(x), np.array(acc)), validate=validate))

    for label, x, acc in _FIT_BAD:
        def call(x=np.array(x), acc=np.array(acc)):
            try:
                with np.errstate(all="ignore"):
                    out = fit_logit_trend(x, acc)
            except ValueError:
                return "raised ValueError"
            return out

        def validate(got, acc=acc):
            if got == "raised ValueError":
                return
            raise CheckFailed(f"accuracies {acc} must raise ValueError (every accuracy must be a fraction strictly "
                              f"between 0 and 1), but your function returned {_show(got)}: a percentage passed by "
                              f"mistake, or a perfect score, would give a silent nan or inf")
        cases.append(Case(label, args=(call,), validate=validate))
    run_check("fit_logit_trend", lambda *a: a[0]() if len(a) == 1 and callable(a[0]) else fit_logit_trend(*a),
              cases, timeout_s=CASE_SECONDS,
              hint="Transform first (log-odds), then an ordinary least-squares line (np.polyfit returns the slope "
                   "first); the residuals are what the line leaves unexplained, and two parameters were fitted.")
