"""The word-problem generator: format, knobs, reference programs, splits, bad inputs."""

import random
import re
from fractions import Fraction

import pytest

from utils.reasoning import mathgen as M
from utils.reasoning import sandbox
from utils.reasoning.pal import extract_answer


@pytest.fixture(scope="module")
def splits():
    return M.make_splits(n_train=600, n_test=100, seed=3)


def test_gsm8k_format_and_reference_program_agree():
    for steps in range(1, M.MAX_STEPS + 1):
        for size in ("small", "hard"):
            for p in M.generate(15, steps, size, seed=steps):
                assert p.n_steps == steps and p.size == size
                lines = p.answer.splitlines()
                assert lines[-1] == f"#### {p.value}"
                assert extract_answer(p.answer) == p.value
                assert all("<<" in ln for ln in lines[1:-1])       # calculator annotations, GSM8K style
                assert sandbox.normalise_answer(sandbox.run_program(p.program)) == p.value
                assert M.steps_value(p.numbers, p.steps) == p.value
                assert M.compile_tags(p.question, p.tags) == p.steps
                assert tuple(M.numbers_in(p.question)) == p.numbers
                assert isinstance(p.value, int) and p.value >= 1


def test_calculator_annotations_are_correct():
    for p in M.generate(200, seed=1):
        for expr, res in re.findall(r"<<([^=]+)=([^>]+)>>", p.answer):
            assert Fraction(sandbox.run_program(f"answer = {expr}")) == Fraction(res)


def test_number_size_knob():
    small = M.generate(300, size="small", seed=0)
    hard = M.generate(300, size="hard", seed=0)
    assert max(p.value for p in small) <= M.SMALL_LIMIT
    assert max(max(p.numbers) for p in small) <= 20
    assert min(max(p.numbers) for p in hard) >= 1000
    assert max(p.value for p in hard) <= M.HARD_LIMIT


def test_harden_keeps_words_and_operations():
    rng = random.Random(0)
    for p in M.generate(100, seed=5):
        h = M.harden(p, rng=rng)
        if h is None:
            continue
        assert h.steps == p.steps and h.tags == p.tags
        assert re.sub(r"\d+", "#", h.question) == re.sub(r"\d+", "#", p.question)
        assert h.size == "hard" and max(h.numbers) >= 1000


def test_splits(splits):
    train, test, hard, held = splits["train"], splits["test"], splits["hard"], splits["heldout"]
    assert not {p.question for p in train} & {p.question for p in test}
    assert sorted({p.n_steps for p in test}) == [1, 2, 3, 4, 5]
    assert len(hard) >= 0.95 * len(test)
    assert all(p.phrasing == "heldout" for p in held) and all(p.phrasing == "train" for p in train)


def test_heldout_phrasings_are_unseen(splits):
    def skeletons(ps):
        return {re.sub(r"\d+", "#", s) for p in ps for s in M.split_sentences(p.question)}
    seen_clauses = {c for p in splits["train"] for c in p.clauses}
    for p in splits["heldout"]:
        # every held-out problem has at least one phrasing (or a story frame) never used in training
        assert any(c not in seen_clauses for c in p.clauses) or p.frame == "shells"
    for p in M.generate(200, seed=9):
        assert p.frame != "shells"
    assert skeletons(splits["heldout"]) - skeletons(splits["train"])


def test_generation_is_deterministic():
    assert M.generate(20, seed=4) == M.generate(20, seed=4)
    assert M.generate(20, seed=4) != M.generate(20, seed=5)


def test_compile_tags_failure_modes():
    q = "Ken has 5 marbles. He buys 3 more. How many marbles does Ken have now?"
    assert M.compile_tags(q, [(("=", "x1", "x1"),), (("+", "t", "x1"),), ()]) == (("+", "n0", "n1"),)
    # no running total yet, or a number that the sentence does not have -> an undefined operand
    assert M.compile_tags(q, [(), (("+", "t", "x1"),), ()]) == (("+", "undefined", "n1"),)
    assert M.compile_tags(q, [(("=", "x1", "x1"),), (("+", "t", "x2"),), ()]) == (("+", "n0", "undefined"),)
    with pytest.raises(ValueError):
        M.compile_tags(q, [(), ()])
    with pytest.raises(ValueError):
        M.compile_tags(q, [(("^", "t", "x1"),), (), ()])


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(steps=M.MAX_STEPS + 1), dict(steps=2.0), dict(steps=True),
                                    dict(steps=2, size="huge"), dict(steps=2, phrasing="new")])
def test_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        M.generate_problem(seed=0, **kwargs)


def test_bad_inputs_other():
    with pytest.raises(ValueError):
        M.generate(-1)
    with pytest.raises(ValueError):
        M.generate(3, steps=[])
    with pytest.raises(TypeError):
        M.harden("not a problem")
    with pytest.raises(ValueError):
        M.steps_value([1, 2], [("+", "n0", "n5")])
    with pytest.raises(ValueError):
        M.steps_value([1, 2], [])
    with pytest.raises(ZeroDivisionError):
        M.steps_value([1, 0], [("/", "n0", "n1")])
