"""The warm-up checks reject each typical mistake with a CheckFailed whose message names that mistake first.

Each row is (exercise, mistake, wrong implementation written against the real signature, a pattern the first line
of the check's diagnosis must match). The patterns describe the class of mistake, not the example.
"""

from __future__ import annotations

import pytest
import torch

from tests.mistakes import assert_five_per_exercise, assert_rejected_and_named, row_ids
from utils.welcome.checks import check_cross_entropy, check_softmax

CHECKS = {"softmax": check_softmax, "cross_entropy": check_cross_entropy}


def _rowmax(z):
    return z.max(dim=1, keepdim=True).values


def _softmax_ok(z):
    e = torch.exp(z - _rowmax(z))
    return e / e.sum(dim=1, keepdim=True)


def _lse(z):
    m = _rowmax(z)
    return m.squeeze(1) + torch.log(torch.exp(z - m).sum(1))


def _pick(z, y):
    return z[torch.arange(len(y)), y]


MISTAKES = [
    # softmax(logits)
    ("softmax", "no max subtraction (exp overflows)",
     lambda z: torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True), r"overflow"),
    ("softmax", "subtracts the batch's max, not each row's",
     lambda z: torch.exp(z - z.max()) / torch.exp(z - z.max()).sum(dim=1, keepdim=True), r"each row's own maximum"),
    ("softmax", "normalises over dim=0",
     lambda z: torch.exp(z - z.max(0, keepdim=True).values) / torch.exp(z - z.max(0, keepdim=True).values).sum(
         dim=0, keepdim=True), r"column.*dim=0"),
    ("softmax", "sum without keepdim (divides along the wrong axis)",
     lambda z: torch.exp(z - _rowmax(z)) / torch.exp(z - _rowmax(z)).sum(dim=1), r"keepdim"),
    ("softmax", "not normalised", lambda z: torch.exp(z - _rowmax(z)), r"sums to .*not 1"),
    ("softmax", "normalises the whole batch", lambda z: torch.exp(z - z.max()) / torch.exp(z - z.max()).sum(),
     r"whole batch sums to 1"),
    ("softmax", "returns log-probabilities", lambda z: z - _lse(z)[:, None], r"negative values.*log-prob"),
    ("softmax", "returns the predicted classes", lambda z: _softmax_ok(z).argmax(1), r"one value per row"),
    ("softmax", "forgets to return", lambda z: None, r"returned None"),
    ("softmax", "subtracts each row's mean, not its max",
     lambda z: torch.exp(z - z.mean(1, keepdim=True)) / torch.exp(z - z.mean(1, keepdim=True)).sum(1, keepdim=True),
     r"other than its maximum"),
    ("softmax", "subtracts each row's min, not its max",
     lambda z: torch.exp(z - z.min(1, keepdim=True).values) / torch.exp(z - z.min(1, keepdim=True).values).sum(
         1, keepdim=True), r"other than its maximum"),
    # cross_entropy(logits, y)
    ("cross_entropy", "-log(torch.softmax(...)) underflows",
     lambda z, y: -torch.log(_pick(torch.softmax(z, 1), y)).mean(), r"underflow.*log\(softmax"),
    ("cross_entropy", "-log(softmax + 1e-12) caps the loss",
     lambda z, y: -torch.log(_pick(torch.softmax(z, 1), y) + 1e-12).mean(), r"capped"),
    ("cross_entropy", "naive exp overflows",
     lambda z, y: (torch.log(torch.exp(z).sum(1)) - _pick(z, y)).mean(), r"overflow"),
    ("cross_entropy", "sum over the batch", lambda z, y: (_lse(z) - _pick(z, y)).sum(), r"times the right value.*average"),
    ("cross_entropy", "sign flipped", lambda z, y: (_pick(z, y) - _lse(z)).mean(), r"negative of the right value"),
    ("cross_entropy", "ignores the labels (class 0)", lambda z, y: (_lse(z) - z[:, 0]).mean(), r"class 0"),
    ("cross_entropy", "uses the largest logit", lambda z, y: (_lse(z) - z.max(1).values).mean(), r"largest logit"),
    ("cross_entropy", "averages over every class", lambda z, y: (_lse(z)[:, None] - z).mean(), r"every class"),
    ("cross_entropy", "per-example losses", lambda z, y: _lse(z) - _pick(z, y), r"one loss per example"),
    ("cross_entropy", "returns a Python float", lambda z, y: (_lse(z) - _pick(z, y)).mean().item(),
     r"Python number"),
    ("cross_entropy", "detached from the logits",
     lambda z, y: torch.tensor((_lse(z) - _pick(z, y)).mean().item()), r"gradient"),
    ("cross_entropy", "log-sum-exp shifted by the batch's max",
     lambda z, y: (z.max() + torch.log(torch.exp(z - z.max()).sum(1)) - _pick(z, y)).mean(),
     r"maximum of the whole batch"),
    ("cross_entropy", "log-sum-exp shifted by each row's mean",
     lambda z, y: (z.mean(1) + torch.log(torch.exp(z - z.mean(1, keepdim=True)).sum(1)) - _pick(z, y)).mean(),
     r"other than its maximum"),
    ("cross_entropy", "log-sum-exp shifted by each row's min",
     lambda z, y: (z.min(1).values + torch.log(torch.exp(z - z.min(1, keepdim=True).values).sum(1))
                   - _pick(z, y)).mean(), r"other than its maximum"),
    ("cross_entropy", "log base 10", lambda z, y: ((_lse(z) - _pick(z, y)) / 2.302585092994046).mean(), r"base 10"),
]


@pytest.mark.parametrize("exercise,mistake,wrong,pattern", MISTAKES, ids=row_ids(MISTAKES))
def test_each_typical_mistake_is_rejected_and_named(exercise, mistake, wrong, pattern):
    assert_rejected_and_named(CHECKS[exercise], wrong, pattern, mistake)


def test_every_exercise_has_at_least_five_mistakes():
    assert_five_per_exercise(MISTAKES, CHECKS)
