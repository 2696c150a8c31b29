"""Word-blind baselines for lesson 07: answers computed from the question's numbers alone, never its words.

A solver that reads the words must beat these, or its accuracy says nothing about understanding the story:

* a **fixed rule** over the question's numbers (``n0 * n1``, ``copy n1``, ...), the best of :data:`RULES` chosen on a
  training set with :func:`fit_rule` and then applied unchanged to every test question;
* the **copy oracle** (:func:`copy_oracle_correct`): right whenever the answer is one of the question's numbers.
  It is told which number to copy, so no word-blind copier can do better; it is an upper bound for copying, not a
  solver.

The numbers are read from the question's text with :func:`utils.reasoning.mathgen.numbers_in`, in order.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence

from utils.reasoning.mathgen import numbers_in

__all__ = ["RULES", "rule_answer", "rule_accuracy", "fit_rule", "copy_oracle_correct"]


def _pair(op: Callable[[int, int], int | None]) -> Callable[[Sequence[int]], int | None]:
    return lambda ns: op(ns[0], ns[1]) if len(ns) >= 2 else None


def _copy(i: int) -> Callable[[Sequence[int]], int | None]:
    return lambda ns: ns[i] if -len(ns) <= i < len(ns) else None


#: The family a fixed rule is chosen from: the first two numbers combined by + - * //, or one number copied.
RULES: dict[str, Callable[[Sequence[int]], int | None]] = {
    "n0 + n1": _pair(operator.add),
    "n0 - n1": _pair(operator.sub),
    "n0 * n1": _pair(operator.mul),
    "n0 // n1": _pair(lambda a, b: a // b if b else None),
    "copy n0": _copy(0),
    "copy n1": _copy(1),
    "copy n2": _copy(2),
    "copy the last number": _copy(-1),
}


def rule_answer(rule: str, question: str) -> int | None:
    """The answer the rule named ``rule`` gives to ``question`` (None when the question has too few numbers)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {list(RULES)}")
    return RULES[rule](numbers_in(question))


def rule_accuracy(rule: str, problems) -> float:
    """The fraction of ``problems`` (objects with ``.question`` and ``.value``) that ``rule`` answers right."""
    if not problems:
        raise ValueError("no problems to score")
    return sum(rule_answer(rule, p.question) == p.value for p in problems) / len(problems)


def fit_rule(problems) -> tuple[str, dict[str, float]]:
    """The rule of :data:`RULES` with the highest accuracy on ``problems`` (a training set; ties: the first in
    :data:`RULES`), and every rule's accuracy there."""
    scores = {rule: rule_accuracy(rule, problems) for rule in RULES}
    return max(scores, key=scores.get), scores


def copy_oracle_correct(question: str, value) -> bool:
    """True when ``value`` is one of the numbers written in ``question`` (the copy-the-right-number oracle)."""
    return value in numbers_in(question)
