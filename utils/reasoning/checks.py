"""Checks for lesson 07, program-aided math reasoning.

Exercises: ``extract_answer`` (read a GSM8K answer), ``pal_answer`` (operation list -> program ->
sandbox -> answer), ``best_of_n`` (sample, verify, vote), ``dice_probability`` (exact enumeration),
``mc_probability`` (Monte Carlo with a sample size chosen from the tolerance) and
``fit_logit_trend`` (a trend line for forecasting).
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from itertools import product

import numpy as np

from utils.reasoning import sandbox
from utils.checks import Case, CheckFailed, expect, run_check

__all__ = ["check_extract_answer", "check_pal_answer", "check_best_of_n", "check_dice_probability",
           "check_mc_probability", "check_fit_trend", "dice_closed_form", "mc_sample_size", "is_plausible"]


# ------------------------------------------------------------------------------ shared helpers
def is_plausible(value) -> bool:
    """The lesson's verifier for word-problem answers: a whole number, not negative, not huge."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**15


def dice_closed_form(n_dice: int, faces: int, target: int) -> Fraction:
    """P(sum of n fair dice with faces 1..f equals s), by inclusion-exclusion:
    (1/f^n) * sum_k (-1)^k C(n, k) C(s - k f - 1, n - 1)."""
    if n_dice < 1 or faces < 1:
        raise ValueError("need at least one die with at least one face")
    count = 0
    for k in range(n_dice + 1):
        m = target - k * faces - 1
        if m < n_dice - 1:
            break
        count += (-1) ** k * math.comb(n_dice, k) * math.comb(m, n_dice - 1)
    return Fraction(max(count, 0), faces ** n_dice)


def mc_sample_size(tol: float) -> int:
    """The lesson's rule: enough draws that even at p = 1/2 the standard error is tol/4,
    n = ceil(1 / (4 (tol/4)^2)) = ceil(4 / tol^2); a miss by more than tol is then a 4-sigma event."""
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number between 0 and 1, got {tol!r}")
    return math.ceil(4 / tol ** 2)


# ------------------------------------------------------------------------ 1. extract_answer
def _reference_extract_answer(text):
    import re

    if not isinstance(text, str) or "####" not in text:
        return None
    tail = text.rsplit("####", 1)[1]
    m = re.search(r"-?\$?\s*-?\d[\d,]*(?:\.\d+)?", tail)
    if m is None:
        return None
    s = m.group(0).replace("$", "").replace(",", "").replace(" ", "")
    if s.startswith("--"):
        s = s[2:]
    v = float(s) if "." in s else int(s)
    return int(v) if isinstance(v, float) and v.is_integer() else v


_EXTRACT_CASES = [
    ("a GSM8K answer", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips.\n"
                       "#### 72", 72),
    ("a number with a thousands separator", "She earns 12 * 100 = <<12*100=1200>>1200 dollars.\n#### 1,200", 1200),
    ("a dollar sign", "So the total is 3 + 15 = <<3+15=18>>18.\n#### $18", 18),
    ("a negative answer", "The temperature drops 3 - 8 = <<3-8=-5>>-5 degrees.\n#### -5", -5),
    ("a decimal answer", "Each gets 5 / 2 = <<5/2=2.5>>2.5 pies.\n#### 2.5", 2.5),
    ("numbers after the answer line", "It takes 2 * 3 = <<2*3=6>>6 hours.\n#### 6\nSo 6 hours, not 7.", 6),
    ("no '####' line (a model that never answered)", "I think the answer is 42.", None),
]


def check_extract_answer(extract_answer) -> None:
    """``extract_answer(text)`` -> the number after the last ``####`` (int if whole), or None."""
    cases = []
    for label, text, want in _EXTRACT_CASES:
        def validate(got, want=want):
            if want is None:
                expect(got is None, f"expected None (there is no '####' answer line), got {got!r}")
                return
            expect(isinstance(got, (int, float)) and not isinstance(got, bool),
                   f"expected the number {want!r}, got {type(got).__name__} {got!r}")
            expect(type(got) is type(want), f"expected {type(want).__name__} {want!r}, got {type(got).__name__} "
                                            f"{got!r} (whole numbers should be ints)")
            expect(math.isclose(got, want), f"expected {want!r}, got {got!r}")
        cases.append(Case(label, args=(text,), validate=validate))
    run_check("extract_answer", extract_answer, cases,
              hint="Take the text after the last '####', then the first number in it; drop '$' and ',' "
                   "before converting. Return None when there is no '####'.")


# --------------------------------------------------------------------------- 2. pal_answer
def _reference_pal_answer(numbers, steps):
    lines = [f"n{i} = {v}" for i, v in enumerate(numbers)]
    lines += [f"r{k} = {a} {op} {b}" for k, (op, a, b) in enumerate(steps, 1)]
    lines.append(f"answer = r{len(steps)}")
    program = "\n".join(lines)
    try:
        value = sandbox.run_program(program)
    except sandbox.SandboxError:
        return program, None
    return program, sandbox.normalise_answer(value)


_PAL_CASES = [
    ("one step", [12, 5], [("+", "n0", "n1")], 17),
    ("two steps: the answer is the LAST step's result", [30, 4, 7], [("*", "n1", "n2"), ("-", "n0", "r1")], 2),
    ("a constant operand and exact division: 4, not 4.0", [27, 7, 2, 9, 7],
     [("-", "n0", "n1"), ("/", "r1", "2"), ("*", "n2", "n3"), ("+", "r2", "r3"), ("/", "r4", "n4")], 4),
    ("a division that is not exact", [7, 2], [("/", "n0", "n1")], 3.5),
    ("large numbers (GSM-Hard style)", [805423, 467, 283], [("*", "n1", "n2"), ("+", "n0", "r1")], 937584),
    ("division by zero: the sandbox refuses, answer None", [5, 0], [("/", "n0", "n1")], None),
    ("an operand that does not exist (n4 with 2 numbers): None", [3, 4], [("+", "n0", "n4")], None),
    ("an empty program: None", [3, 4], [], None),
]


def check_pal_answer(pal_answer) -> None:
    """``pal_answer(numbers, steps)`` -> ``(program, answer)``: the program text, and its answer from
    the sandbox (int when whole), or None when the sandbox refuses or the program fails."""
    cases = []
    for label, numbers, steps, want in _PAL_CASES:
        def validate(got, want=want, numbers=numbers):
            out, runs = got
            expect(isinstance(out, tuple) and len(out) == 2, f"return a tuple (program, answer), got {out!r}"[:200])
            program, answer = out
            expect(isinstance(program, str), f"the program should be a string, got {type(program).__name__}")
            expect(runs >= 1, "the program was not run by the sandbox (utils.reasoning.sandbox.run_program / safe_run was "
                              "never called). Never run model-written code with exec/eval.")
            if want is None:
                expect(answer is None, f"expected None (the sandbox refuses this program), got {answer!r}")
                return
            expect(isinstance(answer, (int, float)) and not isinstance(answer, bool),
                   f"expected the number {want!r}, got {answer!r}")
            expect(type(answer) is type(want), f"expected {type(want).__name__} {want!r}, got "
                                               f"{type(answer).__name__} {answer!r} (use sandbox.normalise_answer)")
            expect(math.isclose(answer, want), f"expected {want!r}, got {answer!r}")
            for v in numbers:
                expect(str(v) in program, f"the program does not contain the number {v}")
        cases.append(Case(label, args=(numbers, steps, label), validate=validate))
    run_check("pal_answer", _Observed(pal_answer), cases,
              hint="Write one line 'n0 = 12' per number, one line 'r1 = n0 + n1' per step, then "
                   "'answer = r<last>'; run it with sandbox.run_program, catch sandbox.SandboxError "
                   "(-> None), and normalise the value.")


class _Observed:
    """Calls the learner's ``pal_answer`` and counts the sandbox runs it makes; turns a sandbox
    error that escapes it into a failed check (a refusal must become a None answer)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, numbers, steps, label):
        before = sandbox.RUN_COUNT[0]
        try:
            out = self.fn(numbers, steps)
        except sandbox.SandboxError as e:
            raise CheckFailed(f"`pal_answer` failed check case '{label}': the sandbox's {type(e).__name__} "
                              f"escaped from your function ({e}).\n  Hint: catch sandbox.SandboxError and "
                              f"return None as the answer: a refused program counts as a wrong answer, it "
                              f"must not stop the evaluation.") from None
        return out, sandbox.RUN_COUNT[0] - before


# ------------------------------------------------------------------------------ 3. best_of_n
def _reference_best_of_n(programs, logprobs, plausible=is_plausible):
    votes: Counter = Counter()
    best_lp: dict = {}
    for prog, lp in zip(programs, logprobs):
        try:
            value = sandbox.normalise_answer(sandbox.run_program(prog))
        except sandbox.SandboxError:
            continue
        if value is None or not plausible(value):
            continue
        votes[value] += 1
        best_lp[value] = max(best_lp.get(value, -math.inf), lp)
    if not votes:
        return None
    return max(votes, key=lambda v: (votes[v], best_lp[v]))


def _p(value) -> str:
    return f"answer = {value}"


_BEST_CASES = [
    ("majority beats the single most likely sample", [_p(7), _p(7), _p(5)], [-1.0, -3.0, -0.5], 7),
    ("a program that fails is rejected, not voted", [_p("1 / 0"), _p("1 / 0"), _p(5)], [-0.1, -0.2, -2.0], 5),
    ("implausible answers (not whole numbers) are rejected", [_p("7 / 2"), _p("7 / 2"), _p(4)],
     [-0.1, -0.2, -3.0], 4),
    ("a tie is broken by the higher log-probability", [_p(2), _p(9)], [-1.0, -0.5], 9),
    ("8.0 and 8 are the same answer", [_p("16 / 2"), _p(8), _p(6)], [-1.0, -1.5, -0.1], 8),
    ("every candidate refused: None", [_p("1 / 0"), "import os", "while True:\n    pass"], [-1.0, -1.0, -1.0], None),
]


def check_best_of_n(best_of_n) -> None:
    """``best_of_n(programs, logprobs, plausible)`` -> the voted answer of the candidates that run and
    pass ``plausible``; ties go to the higher log-probability; None when nothing survives."""
    cases = []
    for label, progs, lps, want in _BEST_CASES:
        def validate(got, want=want):
            if want is None:
                expect(got is None, f"expected None (no candidate survives), got {got!r}")
                return
            expect(isinstance(got, int) and not isinstance(got, bool), f"expected the int {want}, got {got!r}")
            expect(got == want, f"expected {want}, got {got}")
        cases.append(Case(label, args=(progs, lps, is_plausible), validate=validate))
    run_check("best_of_n", best_of_n, cases,
              hint="Run every program in the sandbox, skip refusals (SandboxError) and answers that fail "
                   "`plausible` (after normalise_answer), count the remaining answers, return the most "
                   "common one (ties: the one with the best log-probability).")


# ------------------------------------------------------------------------ 4. dice_probability
_DICE_CASES = [(2, 6, 7), (2, 6, 2), (3, 6, 10), (1, 4, 5), (4, 6, 14), (3, 4, 12), (2, 10, 11)]


def check_dice_probability(dice_probability) -> None:
    """``dice_probability(n_dice, faces, target)`` -> the exact Fraction P(sum == target)."""
    cases = []
    for n, f, s in _DICE_CASES:
        want = dice_closed_form(n, f, s)

        def validate(got, want=want):
            expect(isinstance(got, Fraction), f"expected an exact Fraction ({want}), got {type(got).__name__} "
                                              f"{got!r}; floats are not exact")
            expect(got == want, f"expected {want}, got {got}")
        cases.append(Case(f"{n} dice with {f} faces, sum {s}", args=(n, f, s), validate=validate))
    run_check("dice_probability", dice_probability, cases,
              hint="Enumerate every outcome with itertools.product(range(1, faces + 1), repeat=n_dice), "
                   "count those whose sum equals target, return Fraction(count, faces ** n_dice).")


def _reference_dice_probability(n_dice, faces, target):
    count = sum(1 for roll in product(range(1, faces + 1), repeat=n_dice) if sum(roll) == target)
    return Fraction(count, faces ** n_dice)


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


def _reference_mc_probability(event, sample, tol, rng):
    n = mc_sample_size(tol)
    return float(np.mean(event(sample(rng, n)))), n


def check_mc_probability(mc_probability) -> None:
    """``mc_probability(event, sample, tol, rng)`` -> ``(estimate, n)`` with n >= mc_sample_size(tol)
    draws and the estimate within ``tol`` of the exact probability (checked on several seeds)."""
    cases = []
    for label, event, sample, p in _mc_problems():
        for tol in (0.02, 0.01):
            def validate(got, p=p, tol=tol, event=event, sample=sample):
                expect(isinstance(got, tuple) and len(got) == 2, f"return a tuple (estimate, n), got {got!r}"[:200])
                est, n = got
                expect(isinstance(n, (int, np.integer)) and not isinstance(n, bool),
                       f"n should be an int, got {n!r}")
                need = mc_sample_size(tol)
                expect(n >= need, f"n = {n} draws is too few for tol = {tol}: the standard error at p = 1/2 is "
                                  f"{0.5 / math.sqrt(max(n, 1)):.4f}, and a miss by more than tol must be a "
                                  f"4-sigma event, which needs n >= 4 / tol**2 = {need}")
                expect(isinstance(est, (float, np.floating)) and 0 <= est <= 1,
                       f"the estimate should be a probability (a float in [0, 1]), got {est!r}")
                expect(abs(est - p) <= tol, f"estimate {est:.4f} is more than tol = {tol} from the exact {p:.4f}")
                for s in (1, 2):  # the estimate must hold up on other seeds too
                    est2, _ = mc_probability(event, sample, tol, np.random.default_rng(100 + s))
                    expect(abs(est2 - p) <= tol, f"with another seed the estimate {est2:.4f} is more than "
                                                 f"tol = {tol} from the exact {p:.4f}")
            cases.append(Case(f"{label}, tol {tol}",
                              args=(event, sample, tol, np.random.default_rng(7)), validate=validate))
    run_check("mc_probability", mc_probability, cases,
              hint="n = math.ceil(4 / tol**2) (mc_sample_size); draw all n outcomes at once with "
                   "sample(rng, n), then return (float(event(outcomes).mean()), n).")


# ------------------------------------------------------------------------------ 6. fit_trend
def _reference_fit_trend(x, acc):
    x = np.asarray(x, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if x.shape != acc.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError("x and acc must be 1-D of the same length, at least 3 points")
    if not ((acc > 0) & (acc < 1)).all():
        raise ValueError("accuracies must be fractions strictly between 0 and 1")
    z = np.log(acc / (1 - acc))
    slope, intercept = np.polyfit(x, z, 1)
    resid = z - (intercept + slope * x)
    sd = float(np.sqrt((resid ** 2).sum() / (len(x) - 2)))
    return float(slope), float(intercept), sd


def check_fit_trend(fit_logit_trend) -> None:
    """``fit_logit_trend(x, acc)`` -> ``(slope, intercept, resid_sd)`` of the least-squares line
    logit(acc) = intercept + slope * x, with the residual sd on n - 2 degrees of freedom."""
    data = [
        ("points exactly on a logistic curve", [0.0, 1.0, 2.0, 3.0], [0.2689414213699951, 0.5, 0.7310585786300049,
                                                                      0.8807970779778823]),
        ("noisy points", [2020.5, 2021.0, 2021.8, 2022.4, 2023.1], [0.10, 0.18, 0.35, 0.55, 0.80]),
        ("three points", [1.0, 2.0, 4.0], [0.3, 0.6, 0.9]),
    ]
    cases = []
    for label, x, acc in data:
        want = _reference_fit_trend(x, acc)
        cases.append(Case(label, args=(np.array(x), np.array(acc)), expected=want, atol=1e-6, rtol=1e-6))

    def bad_input(fn):
        try:
            fn(np.array([0.0, 1.0, 2.0]), np.array([55.0, 60.0, 80.0]))
        except ValueError:
            return "raised"
        return "no error"

    cases.append(Case("accuracies given in percent: raise ValueError", args=(_CallWith(fit_logit_trend),),
                      expected="raised"))
    run_check("fit_logit_trend", _Dispatch(fit_logit_trend, bad_input), cases,
              hint="z = log(acc / (1 - acc)); slope, intercept = np.polyfit(x, z, 1); residual sd = "
                   "sqrt(sum(resid**2) / (n - 2)). Raise ValueError unless 0 < acc < 1.")


class _CallWith:
    def __init__(self, fn):
        self.fn = fn


class _Dispatch:
    """Runs ordinary cases on the function, and the bad-input case through ``bad_input``."""

    def __init__(self, fn, bad_input):
        self.fn, self.bad_input = fn, bad_input

    def __call__(self, *args):
        if len(args) == 1 and isinstance(args[0], _CallWith):
            return self.bad_input(self.fn)
        out = self.fn(*args)
        if isinstance(out, (tuple, list)) and len(out) == 3:
            return tuple(float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v for v in out)
        return out
