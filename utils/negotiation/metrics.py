"""Metrics for a rare positive class (lies), and summaries over seeds (lesson 08).

``rare_class_metrics`` is the course's trusted implementation (the learner's exercise is checked against it;
tests check it against scikit-learn). Conventions: label 1 = lie; a message is *predicted* a lie when its score
is ``>= threshold``; a ratio with a zero denominator is 0.0 (scikit-learn's ``zero_division=0``); PR-AUC is
average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds from high to low
(scikit-learn's ``average_precision_score``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["rare_class_metrics", "as_binary_labels", "as_scores", "summarise", "seed_rows", "mean_metric",
           "METRIC_KEYS"]

METRIC_KEYS = ("precision", "recall", "f1_lie", "macro_f1", "pr_auc")


def as_binary_labels(y, name: str = "y_true") -> np.ndarray:
    """``y`` as a 1-D int array of 0/1, or a clear error."""
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per message), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty: there are no messages to score")
    if a.dtype == bool:
        return a.astype(int)
    if not np.issubdtype(a.dtype, np.number) or not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 (truthful) and 1 (lie), got values like {a[:5].tolist()}")
    return a.astype(int)


def as_scores(s, n: int, name: str = "y_score") -> np.ndarray:
    a = np.asarray(s, dtype=float) if not isinstance(s, str) else None
    if a is None or a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of {n} numbers (one score per message)")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def rare_class_metrics(y_true, y_score, threshold: float = 0.5) -> dict:
    """Precision, recall and F1 of the lie class, macro F1 (mean of the lie-class and truthful-class F1) and
    PR-AUC (average precision) from scores. Returns a dict of plain Python floats with keys
    :data:`METRIC_KEYS`."""
    y = as_binary_labels(y_true)
    s = as_scores(y_score, len(y))
    pred = s >= threshold
    pos = y == 1
    tp = int((pred & pos).sum())
    fp = int((pred & ~pos).sum())
    fn = int((~pred & pos).sum())
    tn = int((~pred & ~pos).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1_lie = _f1(precision, recall)
    p0 = tn / (tn + fn) if tn + fn else 0.0
    r0 = tn / (tn + fp) if tn + fp else 0.0
    macro = (f1_lie + _f1(p0, r0)) / 2
    # average precision: one step per distinct score, highest first
    n_pos = int(pos.sum())
    if n_pos == 0:
        ap = 0.0
    else:
        order = np.argsort(-s, kind="mergesort")
        s_sorted, y_sorted = s[order], y[order]
        last_of_run = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1]
        cum_tp = np.cumsum(y_sorted)[last_of_run]
        cum_all = last_of_run + 1
        prec = cum_tp / cum_all
        rec = cum_tp / n_pos
        ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    return {"precision": float(precision), "recall": float(recall), "f1_lie": float(f1_lie),
            "macro_f1": float(macro), "pr_auc": float(ap)}


def summarise(values: Sequence[float]) -> dict:
    """Mean, standard deviation (ddof=1), min and max of per-seed values, as plain floats."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError("summarise needs a non-empty 1-D list of per-seed values")
    sd = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "sd": sd, "min": float(v.min()), "max": float(v.max()), "n": int(v.size)}


def seed_rows(per_seed: dict, keys: Sequence[str] = ("f1_lie", "pr_auc")) -> list[tuple]:
    """Table rows: for each detector, ``mean ± sd [min, max]`` over seeds of each metric in ``keys``.
    ``per_seed`` maps a detector's name to a list of metric dicts (one per seed)."""
    rows = []
    for name, runs in per_seed.items():
        cells = []
        for k in keys:
            s = summarise([r[k] for r in runs])
            cells.append(f"{s['mean']:.3f} ± {s['sd']:.3f} [{s['min']:.3f}, {s['max']:.3f}]")
        rows.append((name, *cells))
    return rows


def mean_metric(per_seed: dict, name: str, key: str) -> float:
    """The mean over seeds of one metric of one detector."""
    return summarise([r[key] for r in per_seed[name]])["mean"]
