"""Out-of-distribution test sets for a digit classifier (lesson 04, first half).

A classifier is trained on some digit classes of scikit-learn's bundled 8x8 digits; the held-out classes, noise
images and corrupted in-distribution digits (from :mod:`utils.shift.corruptions`) are the out-of-distribution sets
for the maximum-softmax-probability detector. Random draws come from a local generator seeded with ``seed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from utils.data import load_digits_split
from utils.shift.corruptions import CORRUPTIONS, corrupt

__all__ = ["OODSets", "digit_ood_sets"]



@dataclass(frozen=True)
class OODSets:
    """In-distribution train/test digits (labels remapped to 0..k-1) and named out-of-distribution sets."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    ood: dict[str, torch.Tensor]
    in_classes: tuple[int, ...]

    def __repr__(self) -> str:
        sets = ", ".join(f"{k}: {len(v)}" for k, v in self.ood.items())
        return (f"OODSets(in-distribution classes {self.in_classes}: train {len(self.x_train)}, "
                f"test {len(self.x_test)}; out-of-distribution sets: {sets})")


def digit_ood_sets(in_classes: Sequence[int] = (0, 1, 2, 3, 4), seed: int = 0, severity: int = 3) -> OODSets:
    """The 8x8 digits split into an in-distribution part (``in_classes``) and out-of-distribution test sets.

    * ``"held-out digits"``: test images of the other classes (a *semantic* shift: new classes);
    * ``"uniform noise"``: pixels drawn uniformly from [0, 1];
    * ``"Gaussian noise"``: pixels from a normal with the training pixels' mean and std, clipped to [0, 1];
    * ``"corrupted digits"``: in-distribution test digits, each under one corruption of
      :mod:`utils.shift.corruptions` at ``severity`` (the ten corruptions in turn; a *covariate* shift:
      same classes, different look).

    The noise sets have as many images as the in-distribution test set.
    """
    classes = tuple(int(c) for c in in_classes)
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c <= 9 for c in classes):
        raise ValueError(f"in_classes must be at least 2 distinct digits in 0..9, got {tuple(in_classes)}")
    if len(classes) == 10:
        raise ValueError("in_classes must leave at least one digit class out (the held-out classes are an OOD set)")
    if isinstance(severity, bool) or not isinstance(severity, int):
        raise TypeError(f"severity must be an int, got {type(severity).__name__}")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be in 1..5, got {severity}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    d = load_digits_split(seed=0)
    keep = torch.tensor(classes)
    remap = torch.full((10,), -1, dtype=torch.int64)
    remap[keep] = torch.arange(len(classes))
    tr, te = torch.isin(d.y_train, keep), torch.isin(d.y_test, keep)
    x_test = d.x_test[te]
    g = torch.Generator().manual_seed(seed)
    mu, sd = float(d.x_train[tr].mean()), float(d.x_train[tr].std())
    n = len(x_test)
    ood = {
        "held-out digits": d.x_test[~te],
        "uniform noise": torch.rand(n, 1, 8, 8, generator=g),
        "Gaussian noise": (mu + sd * torch.randn(n, 1, 8, 8, generator=g)).clamp(0, 1),
        "corrupted digits": _corrupted(x_test, severity, seed),
    }
    return OODSets(d.x_train[tr], remap[d.y_train[tr]], x_test, remap[d.y_test[te]], ood, classes)


def _corrupted(x: torch.Tensor, severity: int, seed: int) -> torch.Tensor:
    out = torch.empty_like(x)
    for k, name in enumerate(CORRUPTIONS):
        idx = torch.arange(k, len(x), len(CORRUPTIONS))
        if len(idx):
            out[idx] = corrupt(x[idx], name, severity, seed=seed + k)
    return out
