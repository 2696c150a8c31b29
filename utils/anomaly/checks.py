"""Checks for lesson 04 (anomaly detection and localisation).

* :func:`check_msp`: the maximum softmax probability of each row of logits;
* :func:`check_ood_metrics`: AUROC and FPR at 95% TPR, in-distribution examples as the positives;
* :func:`check_paste_patch`: the CutPaste operation on one image, with its mask;
* :func:`check_smooth_map`: separable Gaussian smoothing of anomaly maps that keeps their shape.

The reference implementations are private (``_reference_*``); tests import them, notebooks never do.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from utils.images import gaussian_blur
from utils.checks import Case, CheckFailed, assert_close, expect, run_check

__all__ = ["check_msp", "check_ood_metrics", "check_paste_patch", "check_smooth_map"]


# ---------------------------------------------------------------------------------------------
# Exercise 1: maximum softmax probability
# ---------------------------------------------------------------------------------------------

def _reference_msp(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1).max(dim=1).values


def _msp_validator(logits: torch.Tensor):
    want = _reference_msp(logits)

    def validate(got) -> None:
        if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.is_floating_point(got):
            if torch.allclose(got, logits.max(dim=1).values, atol=1e-5):
                raise CheckFailed("you returned the largest *logit* of each row. The MSP is a probability: "
                                  "apply softmax over the classes first, then take the maximum.")
            if torch.allclose(got, 1 - want, atol=1e-5):
                raise CheckFailed("you returned 1 - MSP. Return the maximum probability itself: high means "
                                  "confident (in-distribution).")
        if isinstance(got, torch.Tensor) and got.dim() == 2 and got.shape[1] == 1:
            raise CheckFailed(f"the result has shape {tuple(got.shape)}; return one number per row, shape "
                              f"{tuple(want.shape)} (use .values of max(dim=1) without keepdim)")
        assert_close(got, want, "the output of `msp`", atol=1e-6)
    return validate


def check_msp(msp) -> None:
    """``msp(logits)``, logits (N, C) -> (N,) float tensor: max over classes of softmax(logits)."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("a batch of 6 rows, 5 classes", torch.randn(6, 5, generator=g) * 2),
        ("equal logits in a row: MSP = 1/C", torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 0.0, -1.0]])),
        ("large logits (the softmax must not overflow)", torch.tensor([[1000.0, 1001.0, 1002.0], [-50.0, 0.0, 50.0]])),
        ("one row, 10 classes", torch.randn(1, 10, generator=g)),
    ]
    run_check("msp", msp, [Case(label, args=(z,), validate=_msp_validator(z)) for label, z in cases],
              hint="softmax over dim=1 (the classes), then .max(dim=1).values; torch.softmax is stable.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: AUROC and FPR at 95% TPR
# ---------------------------------------------------------------------------------------------

def _reference_ood_metrics(score_in, score_out) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    s_in, s_out = np.asarray(score_in, dtype=float), np.asarray(score_out, dtype=float)
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    s = np.r_[s_in, s_out]
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return {"auroc": float(roc_auc_score(y, s)), "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


def _metrics_validator(s_in: np.ndarray, s_out: np.ndarray):
    want = _reference_ood_metrics(s_in, s_out)

    def validate(got) -> None:
        if not isinstance(got, dict):
            raise CheckFailed(f"return a dict {{'auroc': ..., 'fpr95': ...}}, got {type(got).__name__}")
        if set(got) != {"auroc", "fpr95"}:
            raise CheckFailed(f"the dict must have exactly the keys 'auroc' and 'fpr95', got {sorted(map(str, got))}")
        a = got["auroc"]
        if isinstance(a, (int, float, np.floating)) and abs(want["auroc"] - 0.5) > 0.05 and \
                math.isclose(float(a), 1 - want["auroc"], abs_tol=1e-6):
            raise CheckFailed(f"auroc is {float(a):.4f} = 1 - {want['auroc']:.4f}: the labels are flipped. "
                              "In-distribution examples are the positives (label 1), and a high score means "
                              "'in-distribution'.")
        assert_close(got["auroc"], want["auroc"], "auroc", atol=1e-6)
        f = got["fpr95"]
        if isinstance(f, (int, float, np.floating)) and not math.isclose(float(f), want["fpr95"], abs_tol=1e-6):
            raise CheckFailed(
                f"fpr95 is {float(f):.4f}, expected {want['fpr95']:.4f}. Choose the threshold t from the "
                "*in-distribution* scores so that at least 95% of them are >= t (the largest such t), then "
                "report the fraction of *out-of-distribution* scores >= t.")
        assert_close(got["fpr95"], want["fpr95"], "fpr95", atol=1e-6)
    return validate


def _metric_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    # in-distribution scores spread over [0.55, 1]; the 5% quantile sits in a gap with no OOD score in it,
    # so every reasonable reading of "95% TPR" (>=, percentile interpolation) gives the same threshold.
    s_in = np.r_[np.linspace(0.55, 0.60, 5), np.linspace(0.70, 1.0, 95)]
    s_out = np.r_[rng.uniform(0.2, 0.65, 60), rng.uniform(0.72, 0.98, 40)]
    perfect_in, perfect_out = rng.uniform(0.8, 1.0, 50), rng.uniform(0.1, 0.5, 30)
    # MSP fails: OOD more confident than in-distribution
    worse_in, worse_out = np.r_[np.linspace(0.3, 0.35, 2), np.linspace(0.4, 0.8, 38)], rng.uniform(0.85, 1.0, 25)
    # ties, as real float32 MSPs give: many exactly 1.0
    tie_in = np.r_[np.full(70, 1.0), np.linspace(0.5, 0.99, 30)]
    tie_out = np.r_[np.full(20, 1.0), np.linspace(0.3, 0.9, 40)]
    return [
        ("overlapping scores (100 in, 100 out)", s_in, s_out),
        ("perfectly separated", perfect_in, perfect_out),
        ("out-of-distribution scores higher (a failing detector)", worse_in, worse_out),
        ("many ties at 1.0, as float32 softmax gives", tie_in, tie_out),
    ]


def check_ood_metrics(ood_metrics) -> None:
    """``ood_metrics(score_in, score_out) -> {"auroc": float, "fpr95": float}`` (higher score = in-distribution)."""
    cases = [Case(label, args=(a, b), validate=_metrics_validator(a, b)) for label, a, b in _metric_cases()]
    run_check("ood_metrics", ood_metrics, cases,
              hint="labels: 1 for score_in, 0 for score_out; roc_auc_score(labels, scores); "
                   "fpr, tpr, _ = roc_curve(labels, scores) and take fpr at the first index where tpr >= 0.95.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: CutPaste on one image
# ---------------------------------------------------------------------------------------------

def _reference_paste_patch(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    patch = source[:, sy:sy + h, sx:sx + w]
    mean = patch.mean()
    out = target.clone()
    out[:, dy:dy + h, dx:dx + w] = ((patch - mean) * contrast + mean + brightness).clamp(0, 1)
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[dy:dy + h, dx:dx + w] = True
    return out, mask


def _paste_cases() -> list[tuple[str, tuple, str]]:
    g = torch.Generator().manual_seed(3)
    ramp = torch.linspace(0, 1, 64).reshape(1, 8, 8)
    a, b = torch.rand(1, 10, 10, generator=g), torch.rand(1, 10, 10, generator=g)
    c, d = torch.rand(1, 12, 9, generator=g) * 0.5 + 0.25, torch.rand(1, 12, 9, generator=g) * 0.5 + 0.25
    return [
        ("a plain copy (contrast 1, brightness 0) on 8x8 images",
         (torch.zeros(1, 8, 8), ramp, (1, 2), (4, 3), (3, 4), 1.0, 0.0),
         "cut source[:, sy:sy+h, sx:sx+w] and write it into a copy of target at [:, dy:dy+h, dx:dx+w]"),
        ("contrast 0.5 and brightness +0.2 (jitter about the patch mean)",
         (a, b, (2, 5), (6, 1), (4, 3), 0.5, 0.2),
         "new = (patch - patch.mean()) * contrast + patch.mean() + brightness, with the mean of the patch only"),
        ("brightness +0.6: values must be clamped to [0, 1]",
         (a, b, (0, 0), (3, 3), (5, 5), 1.2, 0.6), "clamp the jittered patch to [0, 1]"),
        ("a non-square image (12x9) and a tall patch (7x2)",
         (c, d, (4, 6), (0, 7), (7, 2), 0.3, -0.1), "positions are (row, column) = (y, x); sizes (height, width)"),
    ]


def check_paste_patch(paste_patch) -> None:
    """``paste_patch(target, source, src_yx, dst_yx, size_hw, contrast, brightness) -> (image, mask)``."""
    state = {}

    def guarded(target, source, *rest):
        before_t, before_s = target.clone(), source.clone()
        out = paste_patch(target, source, *rest)
        if not torch.equal(target, before_t) or not torch.equal(source, before_s):
            raise CheckFailed(f"`paste_patch` failed check case '{state['label']}': it changed its input "
                              "image in place. Work on a copy: out = target.clone().")
        return out

    cases = []
    for label, args, hint in _paste_cases():
        want = _reference_paste_patch(*args)

        def validate(got, want=want, label=label):
            if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], torch.Tensor) \
                    and got[1].dtype != torch.bool:
                raise CheckFailed(f"the mask has dtype {got[1].dtype}; return a bool mask (True on pasted pixels)")
            if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], torch.Tensor) \
                    and got[1].shape == want[1].shape and not torch.equal(got[1], want[1]):
                raise CheckFailed("the mask is wrong: it must be True exactly on the rectangle where the patch was "
                                  f"*pasted* (dst_yx), {int(want[1].sum())} pixels; yours marks "
                                  f"{int(got[1].sum())} pixels, {int((got[1] & want[1]).sum())} of them right.")
            assert_close(got, want, "(image, mask)", atol=1e-6)
        cases.append(Case(label, args=args, validate=validate, hint=hint))

    # run the cases one by one so the in-place guard knows the label
    for case in cases:
        state["label"] = case.label
        run_check("paste_patch", guarded, [case], quiet=True)
    print(f"✓ paste_patch: all {len(cases)} check cases passed.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: Gaussian smoothing of anomaly maps
# ---------------------------------------------------------------------------------------------

def _reference_smooth_map(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return maps.clone()
    return gaussian_blur(maps[:, None], sigma, radius=int(3 * sigma + 0.5), padding="reflect")[:, 0]


def _smooth_cases() -> list[tuple[str, torch.Tensor, float, str]]:
    g = torch.Generator().manual_seed(5)
    delta = torch.zeros(1, 15, 15)
    delta[0, 7, 7] = 1.0
    corner = torch.zeros(1, 10, 10)
    corner[0, 0, 1] = 1.0
    return [
        ("a single bright pixel in the middle, sigma 1.5", delta, 1.5,
         "weights exp(-k^2 / (2 sigma^2)) for k = -r..r, r = int(3 sigma + 0.5), divided by their sum"),
        ("two random 12x12 maps, sigma 1", torch.rand(2, 12, 12, generator=g), 1.0,
         "smooth each map on its own (rows, then columns); do not mix maps of the batch"),
        ("a bright pixel at the border, sigma 1 (the padding matters)", corner, 1.0,
         "pad by r with F.pad(..., mode='reflect') so borders are not darkened and the shape is kept"),
        ("a non-square 9x16 map, sigma 0.7", torch.rand(1, 9, 16, generator=g), 0.7,
         "the radius is int(3 * 0.7 + 0.5) = 2"),
        ("sigma 0 leaves the maps unchanged", torch.rand(3, 8, 8, generator=g), 0.0,
         "for sigma == 0 return a copy of the maps"),
    ]


def check_smooth_map(smooth_map) -> None:
    """``smooth_map(maps, sigma)``: maps (N, H, W) -> smoothed maps of the same shape (reflect padding)."""
    cases = []
    for label, maps, sigma, hint in _smooth_cases():
        want = _reference_smooth_map(maps, sigma)

        def validate(got, want=want):
            if isinstance(got, torch.Tensor) and got.shape != want.shape:
                raise CheckFailed(f"the smoothed maps have shape {tuple(got.shape)} but the input had "
                                  f"{tuple(want.shape)}: smoothing must keep the map's shape (pad before "
                                  "convolving), or the maps no longer line up with the masks.")
            if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.is_floating_point(got) \
                    and float(want.sum()) > 0:
                expect(abs(float(got.sum()) / float(want.sum()) - 1) < 0.5 or not math.isfinite(float(got.sum())),
                       f"the total of the smoothed map is {float(got.sum()):.3g}, expected about "
                       f"{float(want.sum()):.3g}: is the kernel normalised to sum 1?")
            assert_close(got, want, "the smoothed maps", atol=1e-5)
        cases.append(Case(label, args=(maps, sigma), validate=validate, hint=hint))
    run_check("smooth_map", smooth_map, cases,
              hint="build the 1-D kernel, pad with mode='reflect', then conv2d with a (1,1,1,K) and a (1,1,K,1) kernel")
