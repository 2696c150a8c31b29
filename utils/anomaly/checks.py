"""Checks for lesson 04 (anomaly detection and localisation).

* :func:`check_msp`: the maximum softmax probability of each row of logits;
* :func:`check_ood_metrics`: AUROC and FPR at 95% TPR, in-distribution examples as the positives;
* :func:`check_paste_patch`: the CutPaste operation on one image, with its mask;
* :func:`check_smooth_map`: separable Gaussian smoothing of anomaly maps that keeps their shape.

Each check compares the learner's function with the course's one trusted implementation
(:func:`utils.anomaly.ood.msp`, :func:`utils.anomaly.ood.ood_metrics`, :func:`utils.anomaly.localisation.paste_patch`,
:func:`utils.anomaly.localisation.smooth_maps`). Before the generic comparison, each check looks for the typical
mistakes of its exercise (listed, with a test each, in ``tests/anomaly/test_mistakes.py``) so that the message names
the mistake first. Every case is tiny and bounded in time (``timeout_s``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from utils.anomaly.localisation import paste_patch as trusted_paste_patch
from utils.anomaly.localisation import smooth_maps as trusted_smooth_maps
from utils.anomaly.ood import msp as trusted_msp
from utils.anomaly.ood import ood_metrics as trusted_ood_metrics
from utils.anomaly.ood import roc_points
from utils.checks import CASE_SECONDS, Case, CheckFailed, assert_close, run_check

__all__ = ["check_msp", "check_ood_metrics", "check_paste_patch", "check_smooth_map"]


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4))


def _shape(v: object) -> str:
    return str(tuple(v.shape)) if isinstance(v, (torch.Tensor, np.ndarray)) else type(v).__name__


# ---------------------------------------------------------------------------------------------
# Exercise 1: maximum softmax probability
# ---------------------------------------------------------------------------------------------

def _msp_validator(z: torch.Tensor):
    want = trusted_msp(z)
    n, c = z.shape
    probs = torch.softmax(z, dim=1)
    wrong = [  # (what the learner computed, what to tell them)
        (z.max(dim=1).values, "you returned the largest *logit* of each row. The MSP is a probability: apply a "
                              "softmax over the classes first, then take the maximum."),
        (1 - want, "you returned 1 - MSP (an anomaly score). Return the maximum probability itself: high means "
                   "confident, read as in-distribution."),
        (torch.log_softmax(z, dim=1).max(dim=1).values,
         "you returned the log of the MSP (a log-softmax). Return the probability itself."),
        (torch.sigmoid(z).max(dim=1).values,
         "you applied a sigmoid to each logit on its own. The MSP normalises over the classes with a softmax, so the "
         "probabilities of a row sum to 1."),
        (torch.softmax(z, dim=0).max(dim=1).values,
         "the softmax runs over the batch (dim 0). Normalise each row over its classes (dim=1)."),
        (probs.min(dim=1).values, "you returned the *smallest* probability of each row; the MSP is the largest."),
    ]

    def validate(got) -> None:
        if got is None:
            raise CheckFailed("`msp` returned None: did you forget the `return` statement?")
        if isinstance(got, tuple):
            raise CheckFailed("you returned the (values, indices) pair that `.max(dim=1)` gives; return only "
                              "`.values`, a tensor of shape (N,).")
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"return a torch tensor of shape ({n},), got a {type(got).__name__}.")
        if not torch.is_floating_point(got):
            raise CheckFailed(f"you returned an integer tensor ({got.dtype}): the index of the most likely class "
                              "(an argmax), not its probability.")
        if tuple(got.shape) == (n, 1):
            raise CheckFailed(f"the result has shape {(n, 1)} (keepdim=True); return one number per row, shape {(n,)}.")
        if tuple(got.shape) == (c,) and c != n:
            raise CheckFailed(f"the result has one value per class, shape {(c,)}: you reduced over the batch (dim 0). "
                              f"Take the maximum over the classes (dim=1), shape {(n,)}.")
        if tuple(got.shape) != (n,):
            raise CheckFailed(f"the result has shape {tuple(got.shape)}, expected {(n,)}: one MSP per row of logits.")
        if not bool(torch.isfinite(got).all()):
            raise CheckFailed("the result contains NaN or inf: exp() of a large logit overflows. torch.softmax "
                              "subtracts each row's maximum first, which changes nothing mathematically.")
        for candidate, message in wrong:
            if _close(got, candidate) and not _close(candidate, want):
                raise CheckFailed(message)
        assert_close(got, want, "the output of `msp`", atol=1e-6)
    return validate


def check_msp(msp, *, timeout_s: float | None = CASE_SECONDS) -> None:
    """``msp(logits)``, logits (N, C) -> (N,) float tensor: max over classes of softmax(logits)."""
    g = torch.Generator().manual_seed(0)
    cases = [
        ("a batch of 6 rows, 5 classes", torch.randn(6, 5, generator=g) * 2),
        ("equal logits in a row: MSP = 1/C", torch.tensor([[0.0, 0.0, 0.0, 0.0], [3.0, 1.0, 0.0, -1.0]])),
        ("large logits (the softmax must not overflow)", torch.tensor([[1000.0, 1001.0, 1002.0], [-50.0, 0.0, 50.0]])),
        ("one row, 10 classes", torch.randn(1, 10, generator=g)),
    ]
    run_check("msp", msp, [Case(label, args=(z,), validate=_msp_validator(z)) for label, z in cases],
              hint="normalise each row over its classes with a softmax, then take the row's largest probability.",
              timeout_s=timeout_s)


# ---------------------------------------------------------------------------------------------
# Exercise 2: AUROC and FPR at 95% TPR
# ---------------------------------------------------------------------------------------------

def _number(v: object, what: str) -> float:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise CheckFailed(f"{what} must be a number, got a {type(v).__name__}.")
    return float(v)


def _fpr_at(s_in: np.ndarray, s_out: np.ndarray, strict: bool = False) -> tuple[float, float]:
    fpr, tpr = roc_points(s_in, s_out)
    i = int(np.argmax(tpr > 0.95)) if strict else int(np.argmax(tpr >= 0.95))
    return float(fpr[i]), float(tpr[i])


def _tpr_at_fpr95(s_in: np.ndarray, s_out: np.ndarray) -> float:
    fpr, tpr = roc_points(s_in, s_out)
    return float(tpr[int(np.argmax(fpr >= 0.95))])


# Ways of reading "FPR at 95% TPR" whose operating point accepts fewer than 95% of the in-distribution scores; one
# message names them together, since on a given case several of them often give the same number.
_BELOW_95 = {
    "before": "read the operating point just before the first one with TPR >= 0.95 (an index - 1)",
    "strict_out": "counted only out-of-distribution scores strictly above the threshold (a score equal to the "
                  "threshold is accepted too: use >=)",
    "percentile": "used np.percentile(score_in, 5), which interpolates between two in-distribution scores",
    "round_up": "rounded the 5% quantile of score_in up (np.quantile(..., method='higher') or similar)",
    "closest": "took the operating point whose TPR is closest to 0.95 (it may lie below 0.95)",
}


def _below_95_candidates(s_in: np.ndarray, s_out: np.ndarray) -> list[tuple[str, float]]:
    fpr, tpr = roc_points(s_in, s_out)
    fpr_d, tpr_d = roc_points(s_in, s_out, drop_intermediate=True)
    first = int(np.argmax(tpr >= 0.95))
    return [
        ("before", float(fpr[first - 1]) if first > 0 else float("nan")),
        ("strict_out", float(np.mean(s_out > np.percentile(s_in, 5)))),
        ("percentile", float(np.mean(s_out >= np.percentile(s_in, 5)))),
        ("round_up", float(np.mean(s_out >= np.quantile(s_in, 0.05, method="higher")))),
        ("closest", float(fpr_d[int(np.argmin(np.abs(tpr_d - 0.95)))])),
    ]


def _metrics_validator(s_in: np.ndarray, s_out: np.ndarray, state: dict):
    """``state["ruled_out"]`` collects the wrong readings that an earlier case already excluded: a function that
    gave the right answer where a wrong reading would not have cannot be that wrong reading, so the message of a
    later case does not name it."""
    want = trusted_ood_metrics(s_in, s_out)
    a_want, f_want = want["auroc"], want["fpr95"]
    diff = s_in[:, None] - s_out[None, :]
    auroc_wrong = [
        (1 - a_want, f"auroc is {1 - a_want:.4f} = 1 - {a_want:.4f}: the labels are flipped. In-distribution "
                     "examples are the positives (label 1), and a high score means 'in-distribution'."),
        (float((diff > 0).mean()), "auroc counts ties as losses. AUROC is P(s_in > s_out) with ties counted one "
                                   "half; roc_auc_score does that for you."),
        (float((diff >= 0).mean()), "auroc counts ties as wins. AUROC is P(s_in > s_out) with ties counted one "
                                    "half; roc_auc_score does that for you."),
        (100 * a_want, "auroc is in percent; return a fraction between 0 and 1."),
    ]
    f_tpr = _fpr_at(s_in, s_out)[1]
    f_ood_pos = _fpr_at(-s_out, -s_in)[0]
    fpr_d, tpr_d = roc_points(s_in, s_out, drop_intermediate=True)
    fpr_wrong = [  # (key, value, message); the key lets a later case skip what an earlier one ruled out
        ("percent", 100 * f_want, "fpr95 is in percent; return a fraction between 0 and 1."),
        ("one_minus", 1 - f_want, "fpr95 is 1 - FPR (the share of out-of-distribution inputs *rejected*). Report "
                                  "the share that is accepted: the false positive rate."),
        ("tpr", f_tpr, f"fpr95 is the TPR at the threshold ({f_tpr:.4f}), not the FPR: report the share of "
                       "*out-of-distribution* scores at or above the threshold."),
        ("p95", float(np.mean(s_out >= np.percentile(s_in, 95))),
         "the threshold keeps only 5% of the in-distribution scores (their 95th percentile). It must keep 95% of "
         "them: the largest t with at least 95% of score_in >= t."),
        ("on_ood", float(np.mean(s_out >= np.percentile(s_out, 5))),
         "the threshold was chosen on the out-of-distribution scores. Choose it on the in-distribution scores (keep "
         "95% of them), then measure the out-of-distribution scores against it."),
        ("interp", float(np.interp(0.95, tpr_d, fpr_d)),
         "you interpolated the ROC curve at TPR = 0.95 (np.interp between two operating points). The FPR at 95% TPR "
         "belongs to a real threshold: the first operating point with TPR >= 0.95."),
        ("strict", _fpr_at(s_in, s_out, strict=True)[0],
         "you took the first operating point with TPR > 0.95; the definition is TPR >= 0.95 (the exact 95% point "
         "counts)."),
        ("drop", float(fpr_d[int(np.argmax(tpr_d >= 0.95))]),
         "roc_curve leaves out operating points by default (drop_intermediate=True), and here it left out the first "
         "one with TPR >= 0.95. Call roc_curve(labels, scores, drop_intermediate=False)."),
        ("ood_pos", f_ood_pos, "fpr95 treats the out-of-distribution examples as the positives. Here the "
                               "in-distribution examples are the positives for both numbers."),
        ("swapped", _tpr_at_fpr95(s_in, s_out), "you read the TPR where the FPR reaches 0.95: the axes are swapped. "
                                                "Fix the TPR at 0.95 and read the FPR there."),
    ]
    below = _below_95_candidates(s_in, s_out)
    ruled_out = state.setdefault("ruled_out", set())

    def differs(value: float, target: float) -> bool:
        return not math.isnan(value) and not math.isclose(value, target, abs_tol=1e-6)

    def validate(got) -> None:
        if got is None:
            raise CheckFailed("`ood_metrics` returned None: did you forget the `return` statement?")
        if not isinstance(got, dict):
            raise CheckFailed(f"return a dict {{'auroc': ..., 'fpr95': ...}}, got a {type(got).__name__}.")
        if set(got) != {"auroc", "fpr95"}:
            raise CheckFailed(f"the dict must have exactly the keys 'auroc' and 'fpr95', got {sorted(map(str, got))}.")
        a, f = _number(got["auroc"], "auroc"), _number(got["fpr95"], "fpr95")
        if not math.isclose(a, a_want, abs_tol=1e-6):
            for value, message in auroc_wrong:
                if math.isclose(a, value, abs_tol=1e-6) and not math.isclose(value, a_want, abs_tol=1e-6):
                    raise CheckFailed(message)
            raise CheckFailed(f"auroc is {a:.4f}, expected {a_want:.4f}. Use roc_auc_score(labels, scores) with label "
                              "1 for score_in and 0 for score_out, on the raw scores (not on thresholded decisions).")
        if not math.isclose(f, f_want, abs_tol=1e-6):
            for pass_ in ("skip ruled out", "all"):
                for key, value, message in fpr_wrong:
                    if (pass_ == "all" or key not in ruled_out) and differs(value, f_want) \
                            and math.isclose(f, value, abs_tol=1e-6):
                        raise CheckFailed(message)
                causes = [_BELOW_95[key] for key, value in below
                          if (pass_ == "all" or key not in ruled_out) and differs(value, f_want)
                          and math.isclose(f, value, abs_tol=1e-6)]
                if causes:
                    raise CheckFailed(
                        f"fpr95 is {f:.4f}, the FPR of a threshold that accepts fewer than 95% of the in-distribution "
                        f"scores (expected {f_want:.4f}). You probably " + "; or ".join(causes) + ". The threshold is "
                        "the largest t with at least 95% of score_in >= t: the first operating point with TPR >= 0.95.")
            raise CheckFailed(
                f"fpr95 is {f:.4f}, expected {f_want:.4f}. Choose the threshold t from the *in-distribution* scores so "
                "that at least 95% of them are >= t (the largest such t), then report the fraction of "
                "*out-of-distribution* scores >= t.")
        # a right answer rules out every wrong reading that would have given another number here
        ruled_out.update(key for key, value, _ in fpr_wrong if differs(value, f_want))
        ruled_out.update(key for key, value in below if differs(value, f_want))
    return validate


def _metric_cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    # in-distribution scores spread over [0.55, 1]; the 5% quantile sits in a gap with no OOD score in it, so here a
    # percentile and the first ROC point with TPR >= 0.95 agree (the first two cases tell them apart).
    s_in = np.r_[np.linspace(0.55, 0.60, 5), np.linspace(0.70, 1.0, 95)]
    s_out = np.r_[rng.uniform(0.2, 0.65, 54), rng.uniform(0.72, 0.98, 36)]
    perfect_in, perfect_out = rng.uniform(0.8, 1.0, 50), rng.uniform(0.1, 0.5, 30)
    # MSP fails: OOD more confident than in-distribution
    worse_in, worse_out = np.r_[np.linspace(0.3, 0.35, 2), np.linspace(0.4, 0.8, 38)], rng.uniform(0.85, 1.0, 25)
    # ties, as real float32 MSPs give: many exactly 1.0
    tie_in = np.r_[np.full(70, 1.0), np.linspace(0.5, 0.99, 30)]
    tie_out = np.r_[np.full(20, 1.0), np.linspace(0.3, 0.9, 40)]
    # a tie at the threshold: 4 in-distribution scores and 6 out-of-distribution scores exactly at 0.5, where the
    # 95% point lies (40 in-distribution scores: 38 must be accepted)
    at_in = np.r_[0.1, np.full(4, 0.5), np.linspace(0.6, 1.0, 35)]
    at_out = np.r_[np.full(6, 0.5), 0.7, 0.8, np.linspace(0.0, 0.45, 20)]
    # 30 in-distribution scores: 95% of them is 28.5, so 29 must be accepted (a percentile interpolates past it)
    odd_in = np.r_[0.30, 0.40, 0.50, np.linspace(0.6, 1.0, 27)]
    odd_out = np.r_[0.35, 0.42, 0.45, 0.55, np.linspace(0.0, 0.25, 18)]
    # scores on 6 levels with many ties: roc_curve's default (drop_intermediate=True) leaves out the 95% point
    levels = np.arange(6) / 5
    drop_in, drop_out = np.repeat(levels, [1, 1, 7, 3, 6, 13]), np.repeat(levels, [8, 8, 11, 8, 8, 9])
    return [
        ("a tie at the threshold (scores equal to it are accepted)", at_in, at_out),
        ("30 in-distribution scores (95% of them is 28.5)", odd_in, odd_out),
        ("overlapping scores (100 in, 90 out)", s_in, s_out),
        ("perfectly separated", perfect_in, perfect_out),
        ("out-of-distribution scores higher (a failing detector)", worse_in, worse_out),
        ("many ties at 1.0, as float32 softmax gives", tie_in, tie_out),
        ("scores on six levels (roc_curve's default drops the 95% point)", drop_in, drop_out),
    ]


def check_ood_metrics(ood_metrics, *, timeout_s: float | None = CASE_SECONDS) -> None:
    """``ood_metrics(score_in, score_out) -> {"auroc": float, "fpr95": float}`` (higher score = in-distribution)."""
    state: dict = {}
    cases = [Case(label, args=(a, b), validate=_metrics_validator(a, b, state)) for label, a, b in _metric_cases()]
    run_check("ood_metrics", ood_metrics, cases,
              hint="labels 1 for score_in and 0 for score_out; sklearn's roc_auc_score and roc_curve do the counting "
                   "(see the exercise's hints for where to read the FPR).", timeout_s=timeout_s)


# ---------------------------------------------------------------------------------------------
# Exercise 3: CutPaste on one image
# ---------------------------------------------------------------------------------------------

def _rect(shape: tuple[int, int], yx: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    m = torch.zeros(shape, dtype=torch.bool)
    (y, x), (h, w) = yx, hw
    m[max(y, 0):y + h, max(x, 0):x + w] = True
    return m


def _paste_validator(args: tuple, seen: dict):
    target, source, (sy, sx), (dy, dx), (h, w), c, b = args
    want_img, want_mask = trusted_paste_patch(*args)
    H, W = target.shape[1:]
    patch = source[:, sy:sy + h, sx:sx + w]
    m = patch.mean()
    region = (slice(None), slice(dy, dy + h), slice(dx, dx + w))

    def jitter(new_patch: torch.Tensor) -> torch.Tensor:
        out = target.clone()
        out[region] = new_patch
        return out

    wrong_image = [
        (jitter(patch), "the patch was pasted without its contrast and brightness jitter."),
        (jitter((patch * c + b).clamp(0, 1)),
         "the contrast scales the raw pixel values (about 0), not the patch's deviations from its own mean: use "
         "(p - p.mean()) * contrast + p.mean() + brightness."),
        (jitter(((patch - source.mean()) * c + source.mean() + b).clamp(0, 1)),
         "the jitter uses the mean of the whole source image; use the mean of the patch itself."),
        (jitter(((patch - target[region].mean()) * c + target[region].mean() + b).clamp(0, 1)),
         "the jitter uses the mean of the target's pixels under the patch; use the mean of the cut patch itself."),
        (jitter(((patch - m + b) * c + m).clamp(0, 1)),
         "the brightness offset was scaled by the contrast; add it after scaling."),
        (jitter(((patch - m) * c + b).clamp(0, 1)),
         "the patch mean was not added back after scaling, so the pasted patch sits around 0 + brightness."),
        (trusted_paste_patch(target, target, *args[2:])[0],
         "the patch was cut from `target`; cut it from `source` (another normal image)."),
        (trusted_paste_patch(target, source, (dy, dx), *args[3:])[0],
         "the patch was cut at dst_yx; cut it at src_yx, source[:, sy:sy+h, sx:sx+w], and paste it at dst_yx."),
        (jitter((patch + b).clamp(0, 1)),
         "the contrast had no effect: either it was left out, or the mean was taken per pixel (p.mean(dim=0) "
         "averages over the single channel, so p - mean is 0). Use the mean of the whole patch, p.mean()."),
    ]

    def validate(got) -> None:
        if seen.get("changed"):
            raise CheckFailed(f"it changed its input `{seen['changed']}` in place. Work on a copy: "
                              "out = target.clone().")
        if got is None:
            raise CheckFailed("`paste_patch` returned None: did you forget the `return` statement?")
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed(f"return a tuple (image, mask), got {_shape(got) if not isinstance(got, tuple) else 'a tuple of length ' + str(len(got))}.")
        img, mask = got
        if not isinstance(img, torch.Tensor) or tuple(img.shape) != tuple(target.shape):
            raise CheckFailed(f"the image must be a tensor of the target's shape {tuple(target.shape)}, got "
                              f"{_shape(img)}.")
        if not isinstance(mask, torch.Tensor):
            raise CheckFailed(f"the mask must be a torch tensor of shape {(H, W)}, got a {type(mask).__name__}.")
        if tuple(mask.shape) == (1, H, W):
            raise CheckFailed(f"the mask has a channel dimension, shape {(1, H, W)}; return shape {(H, W)}.")
        if tuple(mask.shape) != (H, W):
            raise CheckFailed(f"the mask has shape {tuple(mask.shape)}, expected {(H, W)}.")
        if mask.dtype != torch.bool:
            raise CheckFailed(f"the mask has dtype {mask.dtype}; return a bool mask (True on pasted pixels).")
        if not torch.equal(mask, want_mask):
            if torch.equal(mask, _rect((H, W), (sy, sx), (h, w))):
                raise CheckFailed("the mask marks where the patch was *cut* (src_yx); it must mark where it was "
                                  "*pasted* (dst_yx): that is the anomaly the network learns to find.")
            if torch.equal(mask, _rect((H, W), (dx, dy), (w, h))):
                raise CheckFailed("rows and columns are swapped: positions are (row, column) = (y, x) and sizes "
                                  "(height, width); slice [:, y:y+h, x:x+w].")
            if int(mask.sum()) != h * w:
                raise CheckFailed(f"the mask marks {int(mask.sum())} pixels, but the pasted {h}x{w} rectangle has "
                                  f"{h * w}: slices [y:y+h] stop before row y+h.")
            raise CheckFailed(f"the mask is wrong: it must be True exactly on the pasted rectangle "
                              f"[{dy}:{dy + h}, {dx}:{dx + w}]; yours marks {int(mask.sum())} pixels, "
                              f"{int((mask & want_mask).sum())} of them right.")
        outside = ~want_mask
        if not _close(img[:, outside], target[:, outside]):
            raise CheckFailed("pixels outside the pasted rectangle changed: only [:, dy:dy+h, dx:dx+w] of the copy "
                              "may differ from target.")
        if float(img.max()) > 1 + 1e-6 or float(img.min()) < -1e-6:
            low_only = float(img.max()) <= 1 + 1e-6
            raise CheckFailed(f"the image has values in [{float(img.min()):.3f}, {float(img.max()):.3f}]: clamp the "
                              "jittered patch to [0, 1]" + (" at both ends: a negative brightness or a strong "
                                                            "contrast pushes pixels below 0, so .clamp(max=1) alone "
                                                            "is not enough." if low_only else "."))
        for candidate, message in wrong_image:
            if _close(img, candidate, atol=1e-6) and not _close(candidate, want_img, atol=1e-6):
                raise CheckFailed(message)
        assert_close(img, want_img, "the pasted image", atol=1e-6)
    return validate


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
         "the jitter works on the patch's deviations from its own mean"),
        ("brightness +0.6: values must be clamped to [0, 1]",
         (a, b, (0, 0), (3, 3), (5, 5), 1.2, 0.6), "keep every pixel in [0, 1]"),
        ("a non-square image (12x9) and a tall patch (7x2)",
         (c, d, (4, 6), (0, 7), (7, 2), 0.3, -0.1), "positions are (row, column) = (y, x); sizes (height, width)"),
        ("contrast 1.5 and brightness -0.6: values must be clamped at 0 too",
         (a, b, (1, 1), (4, 2), (5, 4), 1.5, -0.6), "keep every pixel in [0, 1], at both ends"),
    ]


def check_paste_patch(paste_patch, *, timeout_s: float | None = CASE_SECONDS) -> None:
    """``paste_patch(target, source, src_yx, dst_yx, size_hw, contrast, brightness) -> (image, mask)``."""
    seen: dict = {}

    def guarded(target, source, *rest):
        before_t, before_s = target.clone(), source.clone()
        seen.clear()
        out = paste_patch(target, source, *rest)
        if not torch.equal(target, before_t):
            seen["changed"] = "target"
        elif not torch.equal(source, before_s):
            seen["changed"] = "source"
        return out

    guarded.__name__ = getattr(paste_patch, "__name__", "paste_patch")
    cases = [Case(label, args=args, validate=_paste_validator(args, seen), hint=hint)
             for label, args, hint in _paste_cases()]
    run_check("paste_patch", guarded, cases, timeout_s=timeout_s)


# ---------------------------------------------------------------------------------------------
# Exercise 4: Gaussian smoothing of anomaly maps
# ---------------------------------------------------------------------------------------------

def _radius(sigma: float) -> int:
    return int(3 * sigma + 0.5)


def _kernel_problem(got: torch.Tensor, sigma: float) -> str:
    """What is wrong with the kernel, read off the response to a single bright pixel far from the borders."""
    r = _radius(sigma)
    resp = got[0].double()
    total = float(resp.sum())
    k = torch.arange(-r, r + 1, dtype=torch.float64)
    analytic = float(torch.exp(-k**2 / (2 * sigma**2)).sum()) / (math.sqrt(2 * math.pi) * sigma)
    if abs(total - 1) > 1e-4 and abs(total - analytic**2) < 1e-4:
        return (f"the smoothed map sums to {total:.4f}, not 1: the weights were divided by sqrt(2 pi) sigma, the "
                "factor of the continuous Gaussian. A kernel cut off at radius r does not sum to 1 with it; divide the "
                "weights by their own sum (w / w.sum()).")
    if abs(total - 1) > 1e-4:
        return (f"the smoothed map sums to {total:.4g}, but the input sums to 1: the kernel must be normalised so its "
                "weights sum to 1 (a flat map must stay flat).")
    rows, cols = resp.sum(dim=1), resp.sum(dim=0)   # the vertical and the horizontal profile
    if float(rows.max()) > 0.999 * total or float(cols.max()) > 0.999 * total:
        return "the map was smoothed along one axis only: convolve the rows, then the columns."
    centre = resp.shape[-1] // 2
    if not torch.allclose(resp, resp.flip(0).flip(1), atol=1e-6):
        return ("the response to one pixel is not symmetric about it: the kernel must run from k = -r to k = r "
                "inclusive (torch.arange(-r, r + 1)), 2r + 1 weights centred on the pixel.")
    support = (cols.abs() > 1e-7).nonzero().flatten()
    reach = int((support - centre).abs().max()) if len(support) else 0
    if reach != r:
        return (f"your kernel reaches {reach} pixel{'s' if reach != 1 else ''} from the centre; the radius is "
                f"r = int(3 * sigma + 0.5) = {r} "
                f"for sigma = {sigma:g}.")
    return (f"the kernel weights differ from exp(-k^2 / (2 sigma^2)) for k = -{r}..{r}, divided by their sum: "
            "check the formula (the factor 2 and the square of sigma).")


def _smooth_validator(maps: torch.Tensor, sigma: float, seen: dict, kernel_case: bool):
    want = trusted_smooth_maps(maps, sigma)
    n, H, W = maps.shape
    r = _radius(sigma)

    def validate(got) -> None:
        if seen.get("changed"):
            raise CheckFailed("it changed its input `maps` in place; return a new tensor.")
        if got is None:
            raise CheckFailed("`smooth_map` returned None: did you forget the `return` statement?")
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"return a torch tensor of shape {(n, H, W)}, got a {type(got).__name__}.")
        if got.shape != want.shape:
            if got.dim() == 4 and got.shape[1] == 1 and tuple(got.shape[2:]) == (H, W):
                raise CheckFailed(f"the result has shape {tuple(got.shape)}: drop the channel dimension you added "
                                  f"for conv2d (shape {(n, H, W)}).")
            if got.dim() >= 2 and (got.shape[-2] < H or got.shape[-1] < W):
                raise CheckFailed(
                    f"the smoothed maps have shape {tuple(got.shape)} but the input had {(n, H, W)}: without padding "
                    f"a convolution loses {r} pixels at each border. Pad each map by r = {r} on every side (reflect) "
                    "before convolving, so the maps keep their shape and line up with the masks.")
            raise CheckFailed(f"the smoothed maps have shape {tuple(got.shape)}, expected {(n, H, W)}: smoothing must "
                              "keep the maps' shape.")
        if not torch.is_floating_point(got):
            raise CheckFailed(f"the result has dtype {got.dtype}; return float maps.")
        if not bool(torch.isfinite(got).all()):
            if sigma == 0:
                raise CheckFailed("for sigma = 0 the result is NaN or inf (the kernel divides by sigma^2): when "
                                  "sigma == 0, return a copy of the maps unchanged.")
            raise CheckFailed("the result contains NaN or inf.")
        if sigma == 0:
            if not _close(got, maps):
                raise CheckFailed("for sigma = 0 the maps must come back unchanged (a copy).")
            if seen.get("same"):
                raise CheckFailed("for sigma = 0 you returned the input tensor itself; return a copy (maps.clone()), "
                                  "so that changing the result later cannot change the maps you were given.")
            return
        if _close(got, maps) and not _close(want, maps):
            raise CheckFailed("the maps came back unchanged: no smoothing was applied.")
        for i in range(n):
            if not bool(maps[i].any()) and bool(got[i].abs().gt(1e-6).any()):
                raise CheckFailed(f"map {i} of the batch is all zeros, yet its smoothed version is not: the maps of the "
                                  "batch were mixed. Smooth each map on its own.")
        if kernel_case and not _close(got, want):
            raise CheckFailed(_kernel_problem(got, sigma))
        inner = (slice(None), slice(r, H - r), slice(r, W - r))
        if H > 2 * r and W > 2 * r and _close(got[inner], want[inner]) and not _close(got, want):
            raise CheckFailed(
                f"the interior is right but the borders are wrong (the first {r} pixels at each edge): pad each map by "
                f"r = {r} by reflection, F.pad(x, (r, r, r, r), mode='reflect'). Zero padding darkens the borders; "
                "'replicate' (and scipy's mode='reflect') repeat the edge pixel, which torch's 'reflect' does not.")
        assert_close(got, want, "the smoothed maps", atol=1e-5)
    return validate


def _smooth_cases() -> list[tuple[str, torch.Tensor, float, bool, str]]:
    g = torch.Generator().manual_seed(5)
    delta = torch.zeros(1, 15, 15)
    delta[0, 7, 7] = 1.0
    corner = torch.zeros(1, 10, 10)
    corner[0, 0, 1] = 1.0
    two = torch.stack([torch.rand(12, 12, generator=g), torch.zeros(12, 12)])
    return [
        ("a single bright pixel in the middle, sigma 1.5", delta, 1.5, True,
         "the response to one bright pixel is the 2-D kernel itself"),
        ("a single bright pixel, sigma 1.1 (3 sigma = 3.3 rounds down to r = 3)", delta, 1.1, True,
         "the radius is int(3 * sigma + 0.5): 3.3 rounds to 3, not up to 4"),
        ("a random 12x12 map and an all-zero map, sigma 1", two, 1.0, False,
         "smooth each map on its own; what happens at the borders?"),
        ("a bright pixel at the border, sigma 1 (the padding matters)", corner, 1.0, False,
         "the padding decides what the kernel sees beyond the edge"),
        ("a non-square 9x16 map, sigma 0.7", torch.rand(1, 9, 16, generator=g), 0.7, False,
         "the radius is int(3 * 0.7 + 0.5) = 2"),
        ("sigma 0 leaves the maps unchanged", torch.rand(3, 8, 8, generator=g), 0.0, False,
         "sigma 0 means no smoothing"),
    ]


def check_smooth_map(smooth_map, *, timeout_s: float | None = CASE_SECONDS) -> None:
    """``smooth_map(maps, sigma)``: maps (N, H, W) -> smoothed maps of the same shape (reflect padding)."""
    seen: dict = {}

    def guarded(maps, sigma):
        before = maps.clone()
        seen.clear()
        out = smooth_map(maps, sigma)
        if not torch.equal(maps, before):
            seen["changed"] = True
        seen["same"] = out is maps
        return out

    guarded.__name__ = getattr(smooth_map, "__name__", "smooth_map")
    cases = [Case(label, args=(maps, sigma), validate=_smooth_validator(maps, sigma, seen, kernel), hint=hint)
             for label, maps, sigma, kernel, hint in _smooth_cases()]
    run_check("smooth_map", guarded, cases, timeout_s=timeout_s,
              hint="a 1-D Gaussian kernel, reflect padding by its radius, then a row and a column convolution")
