"""Forecasting benchmark progress (lesson 07, section 8): a straight line in log-odds, the trusted version of
Exercise 6."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_logit_trend"]


def fit_logit_trend(x, acc) -> tuple[float, float, float]:
    """``(slope, intercept, resid_sd)`` of the least-squares line logit(acc) = intercept + slope * x, with the
    residual standard deviation on n - 2 degrees of freedom. ``acc`` are fractions strictly between 0 and 1."""
    x = np.asarray(x, dtype=float)
    acc = np.asarray(acc, dtype=float)
    if x.shape != acc.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError("x and acc must be 1-D, of the same length, with at least 3 points")
    if not ((acc > 0) & (acc < 1)).all():
        raise ValueError("accuracies must be fractions strictly between 0 and 1")
    z = np.log(acc / (1 - acc))
    slope, intercept = np.polyfit(x, z, 1)
    resid = z - (intercept + slope * x)
    return float(slope), float(intercept), float(np.sqrt((resid ** 2).sum() / (len(x) - 2)))
