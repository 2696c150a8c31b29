"""Checks for the warm-up exercises of ``00_welcome``: softmax and cross-entropy from scratch."""

from __future__ import annotations

import torch

from utils.checks import Case, CheckFailed, run_check

__all__ = ["check_softmax", "check_cross_entropy"]


def _logits() -> list[tuple[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [
        ("a batch of 4 rows, 5 classes", torch.randn(4, 5, generator=g)),
        ("one row", torch.tensor([[1.0, 2.0, 3.0]])),
        ("large logits (1000s): needs the max-subtraction trick", torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, 0.0, 1000.0]])),
        ("a non-square batch, 2 rows x 7 classes", torch.randn(2, 7, generator=g) * 3),
    ]


def check_softmax(softmax) -> None:
    """``softmax(logits)`` with logits (N, C) must return probabilities (N, C), each row summing to 1."""
    cases = [
        Case(label, args=(x,), expected=torch.softmax(x, dim=1), atol=1e-6,
             hint="Normalise over the class dimension (dim=1), and subtract each row's max before exp.")
        for label, x in _logits()
    ]
    run_check("softmax", softmax, cases)


def check_cross_entropy(cross_entropy) -> None:
    """``cross_entropy(logits, y)`` must return the mean negative log-probability of the labels (a scalar)."""
    g = torch.Generator().manual_seed(1)
    cases = []
    for label, x in _logits():
        y = torch.randint(0, x.shape[1], (x.shape[0],), generator=g)
        cases.append(Case(label, args=(x, y), expected=torch.nn.functional.cross_entropy(x, y), atol=1e-5,
                          hint="Average over the batch of -log p[label]; use log-softmax (log-sum-exp), "
                               "not log(softmax), so large logits do not give inf."))
    run_check("cross_entropy", cross_entropy, cases)
