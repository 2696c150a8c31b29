"""Lesson 07: the trusted implementations behave as documented, and the solvers (tokenisation, training, decoding,
the widget's report) work and reject bad input. The checks and their tables of mistakes: test_mistakes.py."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch

from utils.reasoning import checks as C
from utils.reasoning import forecast, mathgen, pal, probability, solvers


# ------------------------------------------------------------------ the trusted implementations
def test_extract_answer_reference():
    assert pal.extract_answer("a\n#### 1,234") == 1234
    assert pal.extract_answer("#### $-3.50") == -3.5
    assert pal.extract_answer("#### 7\nthen #### 9") == 9
    assert pal.extract_answer("#### no number") is None
    assert pal.extract_answer(None) is None and pal.extract_answer("42") is None


def test_pal_answer_reference():
    program, value = pal.pal_answer([27, 7, 2], [("-", "n0", "n1"), ("/", "r1", "n2")])
    assert program.splitlines() == ["n0 = 27", "n1 = 7", "n2 = 2", "r1 = n0 - n1", "r2 = r1 / n2", "answer = r2"]
    assert value == 10 and type(value) is int
    assert pal.pal_answer([5, 0], [("/", "n0", "n1")])[1] is None
    assert pal.pal_answer([6], [("+", "n0", "getattr(n0, 'real')")])[1] is None   # plain Python would say 12
    assert pal.pal_answer([3], [])[1] is None


def test_vote_and_best_of_n_reference():
    assert pal.vote([7, 7, 5], [-1.0, -3.0, -0.5]) == 7
    assert pal.vote([2, 9], [-1.0, -0.5]) == 9
    assert pal.vote([None, 3.5, 4], [0.0, 0.0, -9.0]) == 4
    assert pal.vote([None, None], [0.0, 0.0]) is None
    assert pal.vote([3.5, 3.5, 4], [0.0, 0.0, -1.0], plausible=lambda v: True) == 3.5
    assert pal.best_of_n(["answer = 16 / 2", "answer = 8", "answer = 6"], [-1.0, -1.5, -0.1]) == 8
    assert pal.best_of_n(["import os\nanswer = 1", "for i in range(10 ** 12):\n    pass\nanswer = 1"],
                         [0.0, 0.0]) is None


def test_most_common_answer():
    assert pal.most_common_answer([3, 5, 5, 3, 2]) == 3      # ties go to the smaller answer
    assert pal.most_common_answer(iter([4])) == 4
    with pytest.raises(ValueError):
        pal.most_common_answer([])


def test_probability_and_forecast_references():
    assert probability.dice_probability(2, 6, 7) == Fraction(1, 6)
    for n in (1, 2, 3, 4):
        for f in (2, 4, 6):
            for s in range(0, n * f + 2):
                assert probability.dice_closed_form(n, f, s) == probability.dice_probability(n, f, s)
    est, n = probability.mc_probability(lambda x: x.sum(1) == 7, lambda r, k: r.integers(1, 7, (k, 2)), 0.02,
                                        np.random.default_rng(0))
    assert n == 10_000 and abs(est - 1 / 6) < 0.02
    assert probability.mc_sample_size(0.01) == 40_000
    for bad in (0, 1.5, "0.1", True):
        with pytest.raises(ValueError):
            probability.mc_sample_size(bad)
    with pytest.raises(ValueError):
        probability.dice_closed_form(0, 6, 3)
    slope, intercept, sd = forecast.fit_logit_trend([0.0, 1.0, 2.0], [0.5, 0.7310585786300049, 0.8807970779778823])
    assert math.isclose(slope, 1.0) and abs(intercept) < 1e-9 and sd < 1e-9
    for x, acc in (([0, 1, 2], [50, 60, 70]), ([0, 1, 2], [0.5, 0.6, 1.0]), ([0, 1], [0.2, 0.3]),
                   ([0, 1, 2], [0.2, 0.3])):
        with pytest.raises(ValueError):
            forecast.fit_logit_trend(x, acc)


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
    assert solvers.direct_targets([507], n_slots=3)[0].tolist() == [7, 0, 5]
    with pytest.raises(ValueError):
        solvers.direct_targets([5070], n_slots=3)
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

    dm = solvers.DirectSolver(vocab, n_slots=5)
    seen = []
    solvers.train_solver(dm, sp["train"], steps=6, progress=False, every=3,
                         callback=lambda step: seen.append((step, dm.training)))
    assert seen == [(3, False), (6, False)]          # the callback sees an eval-mode model every 3 steps
    preds = solvers.predict_direct(dm, [p.question for p in sp["test"][:7]])
    assert len(preds) == 7 and all(v is None or (isinstance(v, int) and v < 10 ** 5) for v in preds)
    with pytest.raises(ValueError):
        solvers.DirectSolver(vocab, n_slots=0)
    with pytest.raises(ValueError):
        solvers.train_solver(dm, sp["train"], steps=2, callback=print, every=0)

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
    report = solvers.solve_report(test[0].question, dm, pm, pal.pal_answer, gold=test[0].value)
    assert "DIRECT" in report and "PROGRAM-AIDED" in report and "Generated program" in report
    other = solvers.solve_report("Ana owns 7 shells. She donates 2 of them. How many are left?", dm, pm,
                                 pal.pal_answer)
    assert other != report and "never seen" in other
    assert "Type a word problem" in solvers.solve_report("   ", dm, pm, pal.pal_answer)


def test_training_reuses_encodings_only_for_the_same_problems(data):
    sp, vocab = data
    first, copy, other = sp["train"][:150], list(sp["train"][:150]), sp["train"][150:300]

    def losses(problems):
        torch.manual_seed(0)
        return solvers.train_solver(solvers.ProgramSolver(vocab, d=16, ff=32), problems, steps=3, seed=0,
                                    progress=False)

    a = losses(first)
    assert losses(first) == a          # encoded once, reused: the same run
    assert losses(copy) == a           # another list with the same problems is encoded again: the same run
    assert losses(other) != a          # other problems are never served from the cache
