"""The word-blind baselines of lesson 07: fixed rules over a question's numbers, and the copy oracle."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from utils.reasoning import baselines as B
from utils.reasoning import mathgen


def _p(question, value):
    return SimpleNamespace(question=question, value=value)


def test_rules_read_the_numbers_in_order():
    q = "Tom has 12 apples. He buys 3 bags of 1,000."
    assert B.rule_answer("n0 + n1", q) == 15 and B.rule_answer("n0 - n1", q) == 9
    assert B.rule_answer("n0 * n1", q) == 36 and B.rule_answer("n0 // n1", q) == 4
    assert B.rule_answer("copy n2", q) == 1000 and B.rule_answer("copy the last number", q) == 1000
    assert B.rule_answer("n0 + n1", "Tom has 12 apples.") is None        # too few numbers: no answer
    assert B.rule_answer("copy n2", "Tom has 12 apples and 3 pears.") is None
    assert B.rule_answer("n0 // n1", "He has 5 boxes and 0 lids.") is None
    with pytest.raises(ValueError, match="unknown rule"):
        B.rule_answer("n0 ** n1", q)


def test_fit_rule_chooses_on_the_problems_given():
    problems = [_p("A has 6 and B has 2.", 3), _p("A has 8 and B has 4.", 2), _p("A has 5 and B has 5.", 10)]
    rule, scores = B.fit_rule(problems)
    assert rule == "n0 // n1" and scores[rule] == pytest.approx(2 / 3)
    assert set(scores) == set(B.RULES)
    with pytest.raises(ValueError):
        B.rule_accuracy("n0 + n1", [])


def test_copy_oracle_and_rules_on_generated_problems():
    problems = mathgen.generate(200, (1, 2), seed=3)
    copy = sum(B.copy_oracle_correct(p.question, p.value) for p in problems) / len(problems)
    rule, scores = B.fit_rule(problems)
    # the oracle bounds every copying rule; no rule is right on every problem
    assert all(scores[r] <= copy + 1e-12 for r in B.RULES if r.startswith("copy"))
    assert 0 < scores[rule] < 1
