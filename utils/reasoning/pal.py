"""The lesson's trusted implementations: reading answers, the program-aided pipeline, the verifier and the vote.

These are the references that lesson 07's checks compare a learner's functions with, and that the notebook's
reported numbers rest on. Each one is short on purpose: read them after you have written your own.

* :func:`extract_answer`: the number after the last ``####`` of a GSM8K-format answer (Exercise 1).
* :func:`write_program` and :func:`pal_answer`: operation list -> program text -> sandbox -> answer (Exercise 2).
* :func:`is_plausible`: the lesson's verifier, and where its prior comes from.
* :func:`best_of_n`: run candidates in the sandbox, drop refusals and implausible answers, vote (Exercise 3).
* :func:`most_common_answer`: the constant-answer baseline.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from utils.reasoning import sandbox

__all__ = ["extract_answer", "write_program", "pal_answer", "is_plausible", "best_of_n", "vote", "run_answer",
           "most_common_answer", "PLAUSIBLE_MAX"]

_ANSWER_NUMBER = re.compile(r"-?\$?\s*-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text) -> int | float | None:
    """The number after the LAST ``####`` of ``text`` (an int when whole, else a float), ignoring ``$`` and
    thousands separators; None when there is no ``####`` or no number after it."""
    if not isinstance(text, str) or "####" not in text:
        return None
    m = _ANSWER_NUMBER.search(text.rsplit("####", 1)[1])
    if m is None:
        return None
    s = m.group(0).replace("$", "").replace(",", "").replace(" ", "")
    if s.startswith("--"):
        s = s[2:]
    value = float(s) if "." in s else int(s)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def write_program(numbers: Sequence, steps: Sequence[tuple[str, str, str]]) -> str:
    """The program text of an operation list: ``n<i> = <number>`` per number, ``r<k> = <a> <op> <b>`` per step
    (k from 1), then ``answer = r<last>``. Operands are copied as they are: they are untrusted model output."""
    lines = [f"n{i} = {v}" for i, v in enumerate(numbers)]
    lines += [f"r{k} = {a} {op} {b}" for k, (op, a, b) in enumerate(steps, 1)]
    lines.append(f"answer = r{len(steps)}")
    return "\n".join(lines)


def pal_answer(numbers: Sequence, steps: Sequence[tuple[str, str, str]]) -> tuple[str, int | float | None]:
    """``(program, answer)``: the program of :func:`write_program`, run by :func:`utils.reasoning.sandbox.run_program`;
    the answer normalised (``4.0`` -> ``4``), or None when the sandbox refuses or the program fails."""
    program = write_program(numbers, steps)
    try:
        value = sandbox.run_program(program)
    except sandbox.SandboxError:
        return program, None
    return program, sandbox.normalise_answer(value)


PLAUSIBLE_MAX = 10**15


def is_plausible(value) -> bool:
    """The lesson's verifier: a whole number from 0 to 10**15.

    Where its prior comes from: :mod:`utils.reasoning.mathgen` builds every problem so that every intermediate
    value, and so the answer, is a positive whole number no larger than 10**15 (exact divisions only). The
    generator never produces anything else, so this verifier knows the answer format by construction. On real
    word problems (GSM8K has answers with cents, and negative numbers in some solutions) such a prior is a guess
    that can reject right answers."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= PLAUSIBLE_MAX


def vote(answers: Sequence, logprobs: Sequence[float], plausible: Callable = is_plausible):
    """The vote of :func:`best_of_n` on answers already computed (None = refused): the most common plausible
    answer, ties to the answer whose best candidate has the higher log-probability; None when nothing survives."""
    votes: Counter = Counter()
    best_lp: dict = {}
    for value, lp in zip(answers, logprobs):
        if value is None or not plausible(value):
            continue
        votes[value] += 1
        best_lp[value] = max(best_lp.get(value, -math.inf), lp)
    if not votes:
        return None
    return max(votes, key=lambda v: (votes[v], best_lp[v]))


def run_answer(program) -> int | float | None:
    """A program's normalised answer from the sandbox, or None when the sandbox refuses it."""
    try:
        return sandbox.normalise_answer(sandbox.run_program(program))
    except sandbox.SandboxError:
        return None


def best_of_n(programs: Sequence[str], logprobs: Sequence[float], plausible: Callable = is_plausible):
    """Run each candidate program in the sandbox, drop the refused ones and answers that fail ``plausible`` (after
    normalising), and return the most common answer (ties: the higher best log-probability), or None."""
    return vote([run_answer(p) for p in programs], logprobs, plausible)


def most_common_answer(values: Iterable):
    """The constant-answer baseline: the most common value (ties: the smallest), to answer every question with."""
    counts = Counter(values)
    if not counts:
        raise ValueError("no values to count")
    return max(counts, key=lambda v: (counts[v], -v))
