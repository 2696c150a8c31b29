"""The attribution sanity check of lesson 05 (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

A saliency method that explains the *model* must change when the model's weights are replaced by random ones:
:func:`randomised_copy` re-initialises every layer, and :func:`spearman_rows` compares two batches of maps by
rank correlation, one value per image.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = ["randomised_copy", "spearman_rows"]


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (the model-randomisation test)."""
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in clone.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    clone.eval()
    return clone


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation between ``a[i]`` and ``b[i]`` (each flattened), one value per row."""
    from scipy.stats import rankdata

    a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=float)
    b = np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=float)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(f"need two arrays of the same shape (N, ...), got {a.shape} and {b.shape}")
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ra * rb).sum(1) / den
    return np.where(den > 0, r, 0.0)
