"""Evaluating a classifier on the corruption suite, and the ImageNet-C corruption errors (the trusted versions).

The learner writes both in lesson 03 (exercises 2 and 3); the checks in :mod:`utils.shift.checks` compare
against these.

- :func:`evaluate_suite`: accuracy on every corruption of :mod:`utils.shift.corruptions` at every severity.
- :func:`corruption_errors`: CE, mCE, relative CE and relative mCE (Hendrycks and Dietterich, 2019,
  https://arxiv.org/abs/1903.12261), each corruption normalised by a fixed baseline model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from utils.shift.corruptions import CORRUPTIONS, SEVERITIES, corrupt

__all__ = ["evaluate_suite", "corruption_errors"]


@torch.no_grad()
def evaluate_suite(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> dict[str, list[float]]:
    """``{name: [accuracy at severity 1, ..., 5]}`` for every corruption, each on ``corrupt(x, name, s, seed)``."""
    from utils.training import check_xy

    check_xy(x, y, "evaluate_suite")
    was = model.training
    model.eval()
    out = {
        n: [(model(corrupt(x, n, s, seed=seed)).argmax(1) == y).float().mean().item() for s in SEVERITIES]
        for n in CORRUPTIONS
    }
    model.train(was)
    return out


def corruption_errors(acc: Mapping[str, Sequence[float]], clean_acc: float,
                      base_acc: Mapping[str, Sequence[float]], base_clean_acc: float) -> dict:
    """CE and relative CE per corruption, and their means (mCE, relative mCE), as fractions (1.0 = 100%).

    ``CE_c = sum_s E_{s,c} / sum_s E^base_{s,c}`` and
    ``relCE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^base_{s,c} - E^base_clean)``, with errors E = 1 - accuracy.
    """
    if not acc or set(acc) != set(base_acc):
        raise ValueError(f"acc and base_acc must name the same corruptions; got {sorted(acc)} and {sorted(base_acc)}")
    ce, rel = {}, {}
    e_clean, b_clean = 1.0 - clean_acc, 1.0 - base_clean_acc
    for c in acc:
        if len(acc[c]) != len(base_acc[c]):
            raise ValueError(f"{c!r}: {len(acc[c])} accuracies for the model but {len(base_acc[c])} for the baseline")
        e = [1.0 - a for a in acc[c]]
        b = [1.0 - a for a in base_acc[c]]
        if sum(b) <= 0:
            raise ValueError(f"the baseline makes no errors on {c!r}, so its CE is undefined: choose a weaker baseline")
        if sum(bi - b_clean for bi in b) <= 0:
            raise ValueError(f"the baseline's errors on {c!r} do not exceed its clean error, so its relative CE is "
                             f"undefined: choose a weaker baseline or stronger severities")
        ce[c] = sum(e) / sum(b)
        rel[c] = sum(ei - e_clean for ei in e) / sum(bi - b_clean for bi in b)
    return {"CE": ce, "mCE": sum(ce.values()) / len(ce), "rel_CE": rel, "rel_mCE": sum(rel.values()) / len(rel)}
