"""Lesson 07: every check rejects the stub and typical mistakes and accepts the reference; the
solvers (tokenisation, training, decoding, the widget's report) work and reject bad input."""

import math
import re
from collections import Counter
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
import torch

from utils.reasoning import mathgen, sandbox, solvers
from utils.checks import CheckFailed
from utils.reasoning import checks as C


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


def rejects(check, fn):
    with pytest.raises(CheckFailed):
        check(fn)


# ------------------------------------------------------------------------------ extract_answer
def test_extract_answer_check():
    with pytest.raises(NotImplementedError):
        C.check_extract_answer(stub)
    C.check_extract_answer(C._reference_extract_answer)

    def first_number(text):
        m = re.search(r"-?\d+(?:\.\d+)?", text)
        return None if m is None else (float(m.group()) if "." in m.group() else int(m.group()))

    def stops_at_comma(text):
        if "####" not in text:
            return None
        m = re.search(r"-?\d+", text.rsplit("####", 1)[1])
        return int(m.group())

    def returns_string(text):
        return text.rsplit("####", 1)[1].strip() if "####" in text else None

    for wrong in (first_number, stops_at_comma, returns_string):
        rejects(C.check_extract_answer, wrong)


# ------------------------------------------------------------------------------ pal_answer
def _program(numbers, steps, last=True):
    lines = [f"n{i} = {v}" for i, v in enumerate(numbers)]
    lines += [f"r{k} = {a} {op} {b}" for k, (op, a, b) in enumerate(steps, 1)]
    lines.append(f"answer = r{len(steps) if last else 1}")
    return "\n".join(lines)


def test_pal_answer_check():
    with pytest.raises(NotImplementedError):
        C.check_pal_answer(stub)
    C.check_pal_answer(C._reference_pal_answer)

    def without_sandbox(numbers, steps):       # exec on model output: the mistake the lesson is about
        program = _program(numbers, steps)
        env = {}
        try:
            exec(program, env)
        except Exception:
            return program, None
        return program, sandbox.normalise_answer(env.get("answer"))

    def first_step_answer(numbers, steps):     # extracts the wrong number
        program = _program(numbers, steps, last=False)
        try:
            return program, sandbox.normalise_answer(sandbox.run_program(program))
        except sandbox.SandboxError:
            return program, None

    def not_normalised(numbers, steps):        # 4.0 instead of 4
        program = _program(numbers, steps)
        try:
            return program, sandbox.run_program(program)
        except sandbox.SandboxError:
            return program, None

    def lets_refusals_escape(numbers, steps):  # a refusal must become None, not a crash
        program = _program(numbers, steps)
        return program, sandbox.normalise_answer(sandbox.run_program(program))

    for wrong in (without_sandbox, first_step_answer, not_normalised, lets_refusals_escape):
        rejects(C.check_pal_answer, wrong)


# ------------------------------------------------------------------------------ best_of_n
def _answers(programs):
    out = []
    for p in programs:
        try:
            out.append(sandbox.normalise_answer(sandbox.run_program(p)))
        except sandbox.SandboxError:
            out.append(None)
    return out


def test_best_of_n_check():
    with pytest.raises(NotImplementedError):
        C.check_best_of_n(stub)
    C.check_best_of_n(C._reference_best_of_n)

    def most_likely_only(programs, logprobs, plausible):      # a single sample, not a vote
        i = int(np.argmax(logprobs))
        a = _answers([programs[i]])[0]
        return a if a is not None and plausible(a) else None

    def no_rejection(programs, logprobs, plausible):          # refusals vote for None
        return Counter(_answers(programs)).most_common(1)[0][0]

    def no_verifier(programs, logprobs, plausible):           # implausible answers may win
        votes = Counter(a for a in _answers(programs) if a is not None)
        return votes.most_common(1)[0][0] if votes else None

    for wrong in (most_likely_only, no_rejection, no_verifier):
        rejects(C.check_best_of_n, wrong)


# ------------------------------------------------------------------------------ probability
def test_dice_probability_check():
    with pytest.raises(NotImplementedError):
        C.check_dice_probability(stub)
    C.check_dice_probability(C._reference_dice_probability)

    def as_float(n, f, s):
        return float(C._reference_dice_probability(n, f, s))

    def zero_based_faces(n, f, s):
        count = sum(1 for r in product(range(f), repeat=n) if sum(r) == s)
        return Fraction(count, f ** n)

    def at_least(n, f, s):
        count = sum(1 for r in product(range(1, f + 1), repeat=n) if sum(r) >= s)
        return Fraction(count, f ** n)

    for wrong in (as_float, zero_based_faces, at_least):
        rejects(C.check_dice_probability, wrong)


def test_dice_closed_form_matches_enumeration():
    for n in (1, 2, 3, 4):
        for f in (2, 4, 6):
            for s in range(0, n * f + 2):
                assert C.dice_closed_form(n, f, s) == C._reference_dice_probability(n, f, s)


def test_mc_probability_check():
    with pytest.raises(NotImplementedError):
        C.check_mc_probability(stub)
    C.check_mc_probability(C._reference_mc_probability)

    def fixed_n(event, sample, tol, rng):
        n = 1000
        return float(np.mean(event(sample(rng, n)))), n

    def sd_equals_tol(event, sample, tol, rng):             # one standard error = tol: misses a third of the time
        n = math.ceil(1 / (4 * tol ** 2))
        return float(np.mean(event(sample(rng, n)))), n

    def returns_count(event, sample, tol, rng):
        n = math.ceil(4 / tol ** 2)
        return float(np.sum(event(sample(rng, n)))), n

    for wrong in (fixed_n, sd_equals_tol, returns_count):
        rejects(C.check_mc_probability, wrong)
    assert C.mc_sample_size(0.01) == 40_000
    for bad in (0, 1.5, "0.1"):
        with pytest.raises(ValueError):
            C.mc_sample_size(bad)
    with pytest.raises(ValueError):
        C.dice_closed_form(0, 6, 3)


# ------------------------------------------------------------------------------ fit_trend
def test_fit_trend_check():
    with pytest.raises(NotImplementedError):
        C.check_fit_trend(stub)
    C.check_fit_trend(C._reference_fit_trend)

    def linear_in_accuracy(x, acc):
        x, acc = np.asarray(x, float), np.asarray(acc, float)
        if not ((acc > 0) & (acc < 1)).all():
            raise ValueError
        slope, intercept = np.polyfit(x, acc, 1)
        r = acc - (intercept + slope * x)
        return float(slope), float(intercept), float(np.sqrt((r ** 2).sum() / (len(x) - 2)))

    def sd_with_n(x, acc):
        slope, intercept, sd = C._reference_fit_trend(x, acc)
        return slope, intercept, sd * math.sqrt((len(x) - 2) / len(x))

    def no_validation(x, acc):
        x, acc = np.asarray(x, float), np.asarray(acc, float)
        with np.errstate(all="ignore"):
            z = np.log(acc / (1 - acc))
        slope, intercept = np.polyfit(x, z, 1)
        r = z - (intercept + slope * x)
        return float(slope), float(intercept), float(np.sqrt((r ** 2).sum() / (len(x) - 2)))

    for wrong in (linear_in_accuracy, sd_with_n, no_validation):
        rejects(C.check_fit_trend, wrong)


def test_is_plausible():
    assert C.is_plausible(0) and C.is_plausible(12)
    assert not C.is_plausible(-1) and not C.is_plausible(2.5) and not C.is_plausible(True)
    assert not C.is_plausible(None) and not C.is_plausible(10 ** 16)


def test_published_results_asset():
    import csv
    from importlib import resources

    with resources.files("utils.reasoning").joinpath("assets/gsm8k_results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 8
    for r in rows:
        assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", r["date"])
        assert 0 < float(r["accuracy"]) < 100
        assert r["source"] and r["url"].startswith("https://")


# ------------------------------------------------------------------------------ solvers
@pytest.fixture(scope="module")
def data():
    from utils.repro import set_seed

    set_seed(0)   # also pins torch to one thread: stable timings on a shared machine
    sp = mathgen.make_splits(n_train=1500, n_test=100, seed=11)
    vocab = solvers.build_vocab([p.question for p in sp["train"]])
    return sp, vocab


def test_tokenize_and_encode(data):
    _, vocab = data
    toks, nums = solvers.split_numbers("Tom has 1,234 apples and $5.50.")
    assert nums == [1234, 5.5] and toks.count("<num>") == 2
    assert solvers.tokenize("He buys 3 boxes of 12.", "program")[0] == ["he", "buys", "<x1>", "boxes", "of", "<x2>", "."]
    ids, dig = solvers.encode(vocab, ["Ken has 305 marbles."], "direct", 40)
    pos = solvers.tokenize("Ken has 305 marbles.", "direct")[0].index("<num>")
    assert dig[0, pos, :4].tolist() == [5, 0, 3, 10] and ids.shape == dig.shape[:2]
    assert (dig[0, :pos] == 10).all()
    with pytest.raises(TypeError):
        solvers.split_numbers(42)
    with pytest.raises(ValueError):
        solvers.tokenize("x", "other")


def test_targets():
    t = solvers.direct_targets([507, 0])
    assert t[0, :4].tolist() == [7, 0, 5, 10] and t[1, :2].tolist() == [0, 10]
    with pytest.raises(ValueError):
        solvers.direct_targets([-1])
    with pytest.raises(ValueError):
        solvers.direct_targets([10 ** 13])
    ops, a, b = solvers.program_targets([(("=", "x1", "x1"),), (), (("*", "x1", "x2"), ("+", "t", "r"))])
    assert ops[1].tolist() == [solvers.TAG_OPS.index("none"), -100]
    assert ops[2].tolist() == [solvers.TAG_OPS.index("*"), solvers.TAG_OPS.index("+")]
    with pytest.raises(ValueError):
        solvers.program_targets([(("+", "t", "x1"),) * 3])


def test_training_and_decoding(data):
    sp, vocab = data
    pm = solvers.ProgramSolver(vocab)
    losses = solvers.train_solver(pm, sp["train"], steps=120, batch_size=128, seed=0, progress=False)
    assert len(losses) == 120 and losses[-1] < losses[0]
    test = [p for p in sp["test"] if p.n_steps <= 3]
    greedy = solvers.decode_programs(pm, [p.question for p in test], greedy=True)
    acc = np.mean([mathgen.steps_value(p.numbers, c[0].steps) == p.value if c[0].steps and
                   "undefined" not in str(c[0].steps) else False for p, c in zip(test, greedy)])
    assert acc >= 0.6, f"a briefly trained program model should solve most short problems, got {acc:.2f}"
    s1 = solvers.decode_programs(pm, [test[0].question], n=5, seed=3)
    s2 = solvers.decode_programs(pm, [test[0].question], n=5, seed=3)
    assert s1 == s2 and len(s1[0]) == 5 and all(c.logprob <= 0 for c in s1[0])
    assert solvers.decode_programs(pm, []) == []

    dm = solvers.DirectSolver(vocab)
    solvers.train_solver(dm, sp["train"], steps=5, progress=False)
    preds = solvers.predict_direct(dm, [p.question for p in sp["test"][:7]])
    assert len(preds) == 7 and all(v is None or isinstance(v, int) for v in preds)

    with pytest.raises(ValueError):
        solvers.decode_programs(pm, ["q"], n=2, greedy=True)
    with pytest.raises(ValueError):
        solvers.decode_programs(pm, ["q"], n=2, temperature=0)
    with pytest.raises(ValueError):
        solvers.train_solver(pm, [], steps=3)
    with pytest.raises(ValueError):
        solvers.train_solver(pm, sp["train"], steps=0)
    with pytest.raises(TypeError):
        solvers.train_solver(torch.nn.Linear(2, 2), sp["train"], steps=1)

    # the widget's report: both solvers, the tags, the program and the sandbox's verdict
    report = solvers.solve_report(test[0].question, dm, pm, C._reference_pal_answer, gold=test[0].value)
    assert "DIRECT" in report and "PROGRAM-AIDED" in report and "Generated program" in report
    other = solvers.solve_report("Ana owns 7 shells. She donates 2 of them. How many are left?", dm, pm,
                                 C._reference_pal_answer)
    assert other != report and "never seen" in other
    assert "Type a word problem" in solvers.solve_report("   ", dm, pm, C._reference_pal_answer)
