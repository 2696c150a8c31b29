"""Out-of-distribution detection for a digit classifier (lesson 04, first half).

A classifier is trained on some digit classes of scikit-learn's bundled 8x8 digits; the held-out classes, noise
images and corrupted in-distribution digits (from :mod:`utils.shift.corruptions`) are the out-of-distribution sets
for the maximum-softmax-probability detector. Random draws come from a local generator seeded with ``seed``.

The trusted implementations of the lesson's first two exercises live here (:func:`msp`, :func:`ood_metrics`), with
the detectors that every MSP number is compared against: a constant score, random scores, and two detectors that
never look at the classifier (the distance of an image's mean intensity from the training mean, and the distance to
the nearest training image in pixel space).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from utils.data import load_digits_split
from utils.shift.corruptions import CORRUPTIONS, corrupt

__all__ = [
    "OODSets",
    "digit_ood_sets",
    "msp",
    "ood_metrics",
    "roc_points",
    "constant_scores",
    "random_scores",
    "intensity_scores",
    "nearest_neighbour_scores",
]


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


# ---------------------------------------------------------------------------------------------
# The detector and its metrics (trusted versions of exercises 1 and 2)
# ---------------------------------------------------------------------------------------------

def msp(logits: torch.Tensor) -> torch.Tensor:
    """Maximum softmax probability of each row of ``logits`` (N, C): a float tensor (N,). High = confident."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not torch.is_floating_point(logits):
        raise TypeError("logits must be a float tensor of shape (N, C), got "
                        f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    return torch.softmax(logits, dim=1).max(dim=1).values


def _scores(a: object, what: str) -> np.ndarray:
    s = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if s.ndim != 1 or len(s) == 0:
        raise ValueError(f"{what} must be a non-empty 1-D array of scores, got shape {s.shape}")
    s = s.astype(float)
    if not np.isfinite(s).all():
        raise ValueError(f"{what} contains NaN or infinite scores")
    return s


def roc_points(score_in: object, score_out: object, drop_intermediate: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates of every threshold, in-distribution examples as the positives.

    ``drop_intermediate=False`` keeps every threshold (scikit-learn's default, True, can drop the first point with
    TPR >= 0.95 when scores are tied; the lesson's checks use it to recognise that mistake)."""
    from sklearn.metrics import roc_curve

    s_in, s_out = _scores(score_in, "score_in"), _scores(score_out, "score_out")
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    fpr, tpr, _ = roc_curve(y, np.r_[s_in, s_out], drop_intermediate=drop_intermediate)
    return fpr, tpr


def ood_metrics(score_in: object, score_out: object) -> dict[str, float]:
    """AUROC and FPR at 95% TPR of a detector whose score is high for in-distribution inputs.

    In-distribution examples are the positives. ``fpr95`` is the fraction of out-of-distribution scores at or above
    the largest threshold that still accepts at least 95% of the in-distribution scores (the first point of the ROC
    curve with TPR >= 0.95). Returns ``{"auroc": float, "fpr95": float}``.
    """
    from sklearn.metrics import roc_auc_score

    s_in, s_out = _scores(score_in, "score_in"), _scores(score_out, "score_out")
    fpr, tpr = roc_points(s_in, s_out)
    auroc = roc_auc_score(np.r_[np.ones(len(s_in)), np.zeros(len(s_out))], np.r_[s_in, s_out])
    return {"auroc": float(auroc), "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


# ---------------------------------------------------------------------------------------------
# Trivial and classifier-free detectors (the baselines of every MSP number). Higher = more in-distribution.
# ---------------------------------------------------------------------------------------------

def _images(x: object, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or not torch.is_floating_point(x) or len(x) == 0:
        raise TypeError(f"{what} must be a non-empty float tensor of images (N, C, H, W), got "
                        f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    return x


def constant_scores(x: torch.Tensor) -> np.ndarray:
    """The same score for every input: AUROC 0.5 and FPR at 95% TPR 1.0 whatever the data (every input ties)."""
    return np.zeros(len(_images(x, "x")))


def random_scores(x: torch.Tensor, seed: int = 0) -> np.ndarray:
    """Independent uniform scores (chance): an AUROC near 0.5 whose spread shows what luck alone gives."""
    return np.random.default_rng(seed).random(len(_images(x, "x")))


def intensity_scores(x_train: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Minus the distance of each image's mean pixel value from the training images' mean: a detector that
    looks at one number per image and never at the classifier."""
    mu = float(_images(x_train, "x_train").mean())
    return -(_images(x, "x").flatten(1).mean(1) - mu).abs().double().numpy()


def nearest_neighbour_scores(x_train: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Minus the Euclidean distance (in pixel space) from each image to its nearest training image."""
    a, b = _images(x_train, "x_train").flatten(1).double(), _images(x, "x").flatten(1).double()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and x_train must have the same image shape, got {tuple(x.shape[1:])} and "
                         f"{tuple(x_train.shape[1:])}")
    return -torch.cdist(b, a).min(dim=1).values.numpy()
