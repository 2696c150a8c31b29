"""Lesson 04: for every exercise, a table of typical wrong answers written against the real signature.

Each row is (exercise, mistake, wrong function, what the message must say first). Every wrong function must be
rejected with :class:`CheckFailed` (not another error) whose reason (the text after "failed check case '...': ")
starts with the row's pattern. The trusted implementation passes, other correct code passes, the stub reports
"not implemented yet", and an endless loop fails fast.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.anomaly.checks import check_msp, check_ood_metrics, check_paste_patch, check_smooth_map
from utils.anomaly.localisation import paste_patch as ref_paste
from utils.anomaly.localisation import smooth_maps as ref_smooth
from utils.anomaly.ood import msp as ref_msp
from utils.anomaly.ood import ood_metrics as ref_metrics
from utils.checks import CheckFailed
from tests.mistakes import assert_endless_loop_fails_quickly, assert_stub_not_implemented


def first_reason(message: str) -> str:
    """The reason a check gives, without the "`fn` failed check case '...': " prefix and the hint."""
    m = re.search(r"failed check case '.*?': (.*?)(\n\s*Hint:|$)", message, flags=re.S)
    return (m.group(1) if m else message).strip()


# --------------------------------------------------------------------------------------------
# Exercise 1: msp(logits)
# --------------------------------------------------------------------------------------------

def msp_naive_exp(z):
    e = torch.exp(z)
    return (e / e.sum(1, keepdim=True)).max(1).values


MSP_MISTAKES = [
    ("largest logit", lambda z: z.max(1).values, r"you returned the largest \*logit\*"),
    ("1 - MSP", lambda z: 1 - torch.softmax(z, 1).max(1).values, r"you returned 1 - MSP"),
    ("softmax over the batch", lambda z: torch.softmax(z, 0).max(1).values, r"the softmax runs over the batch"),
    ("argmax: the class, not its probability", lambda z: torch.softmax(z, 1).argmax(1),
     r"you returned an integer tensor .*the index of the most likely class"),
    ("keepdim=True", lambda z: torch.softmax(z, 1).max(1, keepdim=True).values, r"the result has shape \(\d+, 1\)"),
    ("exp overflows on large logits", msp_naive_exp, r"the result contains NaN or inf: exp\(\) of a large logit"),
    ("log-softmax", lambda z: torch.log_softmax(z, 1).max(1).values, r"you returned the log of the MSP"),
    ("sigmoid instead of softmax", lambda z: torch.sigmoid(z).max(1).values, r"you applied a sigmoid"),
    ("smallest probability", lambda z: torch.softmax(z, 1).min(1).values, r"you returned the \*smallest\*"),
    ("the (values, indices) pair", lambda z: torch.softmax(z, 1).max(1), r"you returned the \(values, indices\) pair"),
    ("max over the batch", lambda z: torch.softmax(z, 1).max(0).values,
     r"the result (has one value per class|has shape)"),
    ("a NumPy array", lambda z: torch.softmax(z, 1).max(1).values.numpy(), r"return a torch tensor"),
    ("no return", lambda z: None, r"`msp` returned None"),
]


# --------------------------------------------------------------------------------------------
# Exercise 2: ood_metrics(score_in, score_out)
# --------------------------------------------------------------------------------------------

def _roc(score_in, score_out):
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    s = np.r_[score_in, score_out]
    fpr, tpr, _ = roc_curve(y, s)
    return roc_auc_score(y, s), fpr, tpr


def metrics_flipped(score_in, score_out):
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.zeros(len(score_in)), np.ones(len(score_out))]   # OOD as positives, scores not negated
    s = np.r_[score_in, score_out]
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": roc_auc_score(y, s), "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


def metrics_ties_lose(score_in, score_out):
    a = float(np.mean(score_in[:, None] > score_out[None, :]))   # a hand-written AUROC without the half for ties
    return {"auroc": a, "fpr95": ref_metrics(score_in, score_out)["fpr95"]}


def metrics_ties_win(score_in, score_out):
    a = float(np.mean(score_in[:, None] >= score_out[None, :]))  # ties counted as wins
    return {"auroc": a, "fpr95": ref_metrics(score_in, score_out)["fpr95"]}


def metrics_auroc_percent(score_in, score_out):
    m = ref_metrics(score_in, score_out)
    return {"auroc": 100 * m["auroc"], "fpr95": m["fpr95"]}


def metrics_percentile_95(score_in, score_out):
    t = np.percentile(score_in, 95)  # keeps only 5% of the in-distribution examples
    return {"auroc": _roc(score_in, score_out)[0], "fpr95": float(np.mean(score_out >= t))}


def metrics_threshold_on_ood(score_in, score_out):
    t = np.percentile(score_out, 5)
    return {"auroc": _roc(score_in, score_out)[0], "fpr95": float(np.mean(score_out >= t))}


def metrics_tpr_not_fpr(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(tpr[np.argmax(tpr >= 0.95)])}


def metrics_tnr(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": 1 - float(fpr[np.argmax(tpr >= 0.95)])}


def metrics_percent(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": 100 * float(fpr[np.argmax(tpr >= 0.95)])}


def metrics_strict(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(fpr[np.argmax(tpr > 0.95)])}


def metrics_fpr_ood_positive(score_in, score_out):
    """AUROC right, but the FPR at 95% TPR computed with the OOD examples as positives (scores negated)."""
    a = _roc(score_in, score_out)[0]
    _, fpr, tpr = _roc(-score_out, -score_in)
    return {"auroc": a, "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


def metrics_fpr_at_tpr_swapped(score_in, score_out):
    """Reads 'FPR at 95% TPR' as the TPR where FPR = 0.95."""
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(tpr[np.argmax(fpr >= 0.95)])}


def _at_threshold(score_in, score_out, t, strict=False):
    return {"auroc": _roc(score_in, score_out)[0],
            "fpr95": float(np.mean(score_out > t) if strict else np.mean(score_out >= t))}


def metrics_index_before(score_in, score_out):
    """The operating point just before the first with TPR >= 0.95 (an off-by-one in the index)."""
    from sklearn.metrics import roc_curve

    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    fpr, tpr, _ = roc_curve(y, np.r_[score_in, score_out], drop_intermediate=False)
    return {"auroc": _roc(score_in, score_out)[0], "fpr95": float(fpr[np.argmax(tpr >= 0.95) - 1])}


def metrics_percentile_strict(score_in, score_out):
    return _at_threshold(score_in, score_out, np.percentile(score_in, 5), strict=True)


def metrics_by_percentile(score_in, score_out):
    """np.percentile interpolates: with 30 in-distribution scores its threshold accepts only 28 of them."""
    return _at_threshold(score_in, score_out, np.percentile(score_in, 5))


def metrics_quantile_higher(score_in, score_out):
    return _at_threshold(score_in, score_out, np.quantile(score_in, 0.05, method="higher"))


def metrics_closest_tpr(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(fpr[np.argmin(np.abs(tpr - 0.95))])}


def metrics_interp(score_in, score_out):
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(np.interp(0.95, tpr, fpr))}


def metrics_drop_intermediate(score_in, score_out):
    """roc_curve's default drop_intermediate=True, which can leave out the first point with TPR >= 0.95."""
    a, fpr, tpr = _roc(score_in, score_out)
    return {"auroc": a, "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


BELOW_95 = r"fpr95 is [\d.]+, the FPR of a threshold that accepts fewer than 95% of the in-distribution scores"

METRICS_MISTAKES = [
    ("labels flipped (OOD as positives)", metrics_flipped, r"auroc is [\d.]+ = 1 - [\d.]+: the labels are flipped"),
    ("ties counted as losses", metrics_ties_lose, r"auroc counts ties as losses"),
    ("ties counted as wins", metrics_ties_win, r"auroc counts ties as wins"),
    ("AUROC in percent", metrics_auroc_percent, r"auroc is in percent"),
    ("threshold at the 95th percentile", metrics_percentile_95, r"the threshold keeps only 5%"),
    ("threshold chosen on the OOD scores", metrics_threshold_on_ood,
     r"the threshold was chosen on the out-of-distribution scores"),
    ("TPR instead of FPR", metrics_tpr_not_fpr, r"fpr95 is the TPR at the threshold"),
    ("1 - FPR", metrics_tnr, r"fpr95 is 1 - FPR"),
    ("FPR in percent", metrics_percent, r"fpr95 is in percent"),
    ("TPR > 0.95 instead of >=", metrics_strict, r"you took the first operating point with TPR > 0.95"),
    ("FPR95 with OOD as positives", metrics_fpr_ood_positive, r"fpr95 treats the out-of-distribution examples"),
    ("TPR at FPR 0.95", metrics_fpr_at_tpr_swapped, r"you read the TPR where the FPR reaches 0.95"),
    ("the point before the first TPR >= 0.95", metrics_index_before, BELOW_95 + r".*just before the first one"),
    ("percentile threshold, OOD ties not counted", metrics_percentile_strict, BELOW_95 + r".*strictly above"),
    ("np.percentile threshold (interpolated)", metrics_by_percentile, BELOW_95 + r".*np\.percentile\(score_in, 5\)"),
    ("5% quantile rounded up", metrics_quantile_higher, BELOW_95 + r".*rounded the 5% quantile"),
    ("the TPR closest to 0.95", metrics_closest_tpr, BELOW_95 + r".*closest to 0.95"),
    ("np.interp at TPR 0.95", metrics_interp, r"you interpolated the ROC curve"),
    ("roc_curve's default drop_intermediate", metrics_drop_intermediate, r"roc_curve leaves out operating points"),
    ("a tuple", lambda a, b: (0.9, 0.1), r"return a dict"),
    ("wrong keys", lambda a, b: {"AUROC": 0.9, "FPR95": 0.1}, r"the dict must have exactly the keys"),
]


# --------------------------------------------------------------------------------------------
# Exercise 3: paste_patch(target, source, src_yx, dst_yx, size_hw, contrast, brightness)
# --------------------------------------------------------------------------------------------

def _mask(target, yx, hw):
    m = torch.zeros(target.shape[1:], dtype=torch.bool)
    m[yx[0]:yx[0] + hw[0], yx[1]:yx[1] + hw[1]] = True
    return m


def paste_with(new_patch):
    """A paste that computes the pasted values with ``new_patch(patch, contrast, brightness, source, target_region)``."""
    def paste(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
        (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
        patch = source[:, sy:sy + h, sx:sx + w]
        out = target.clone()
        out[:, dy:dy + h, dx:dx + w] = new_patch(patch, contrast, brightness, source, target[:, dy:dy + h, dx:dx + w])
        return out, _mask(target, dst_yx, size_hw)
    return paste


def paste_in_place(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    patch = source[:, sy:sy + h, sx:sx + w]
    m = patch.mean()
    target[:, dy:dy + h, dx:dx + w] = ((patch - m) * contrast + m + brightness).clamp(0, 1)
    return target, _mask(target, dst_yx, size_hw)


def paste_mask_at_source(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    out, _ = ref_paste(target, source, src_yx, dst_yx, size_hw, contrast, brightness)
    return out, _mask(target, src_yx, size_hw)


def paste_swapped_xy(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    return ref_paste(target, source, src_yx[::-1], dst_yx[::-1], size_hw[::-1], contrast, brightness)


def paste_off_by_one(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    out, _ = ref_paste(target, source, src_yx, dst_yx, size_hw, contrast, brightness)
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[dy:dy + h + 1, dx:dx + w + 1] = True    # inclusive end
    return out, mask


def paste_cut_at_dst(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    return ref_paste(target, source, dst_yx, dst_yx, size_hw, contrast, brightness)


def paste_channel_mask(*args):
    out, mask = ref_paste(*args)
    return out, mask[None]


PASTE_MISTAKES = [
    ("writes into target in place", paste_in_place, r"it changed its input `target` in place"),
    ("mask where the patch was cut", paste_mask_at_source, r"the mask marks where the patch was \*cut\*"),
    ("contrast about zero, not the patch mean", paste_with(lambda p, c, b, s, t: (p * c + b).clamp(0, 1)),
     r"the contrast scales the raw pixel values"),
    ("no clamp", paste_with(lambda p, c, b, s, t: (p - p.mean()) * c + p.mean() + b),
     r"the image has values in \[.*\]: clamp the jittered patch"),
    ("rows and columns swapped", paste_swapped_xy, r"rows and columns are swapped"),
    ("float mask", lambda *a: (ref_paste(*a)[0], ref_paste(*a)[1].float()), r"the mask has dtype torch.float32"),
    ("patch cut from target", lambda t, s, *rest: ref_paste(t, t, *rest), r"the patch was cut from `target`"),
    ("only the image returned", lambda *a: ref_paste(*a)[0], r"return a tuple \(image, mask\)"),
    ("mean of the whole source image",
     paste_with(lambda p, c, b, s, t: ((p - s.mean()) * c + s.mean() + b).clamp(0, 1)),
     r"the jitter uses the mean of the whole source image"),
    ("mean of the target region",
     paste_with(lambda p, c, b, s, t: ((p - t.mean()) * c + t.mean() + b).clamp(0, 1)),
     r"the jitter uses the mean of the target's pixels"),
    ("brightness scaled by the contrast",
     paste_with(lambda p, c, b, s, t: ((p - p.mean() + b) * c + p.mean()).clamp(0, 1)),
     r"the brightness offset was scaled by the contrast"),
    ("mean not added back", paste_with(lambda p, c, b, s, t: ((p - p.mean()) * c + b).clamp(0, 1)),
     r"the patch mean was not added back"),
    ("no jitter at all", paste_with(lambda p, c, b, s, t: p), r"the patch was pasted without its contrast"),
    ("mask off by one (inclusive end)", paste_off_by_one, r"the mask marks \d+ pixels, but the pasted"),
    ("mask with a channel dimension", paste_channel_mask, r"the mask has a channel dimension"),
    ("clamped at 1 only", paste_with(lambda p, c, b, s, t: ((p - p.mean()) * c + p.mean() + b).clamp(max=1)),
     r"the image has values in \[-[\d.]+, [\d.]+\]: clamp the jittered patch to \[0, 1\] at both ends"),
    ("patch cut at dst_yx", paste_cut_at_dst, r"the patch was cut at dst_yx"),
    ("mean per pixel (over the channel)",
     paste_with(lambda p, c, b, s, t: ((p - p.mean(dim=0)) * c + p.mean(dim=0) + b).clamp(0, 1)),
     r"the contrast had no effect"),
]


# --------------------------------------------------------------------------------------------
# Exercise 4: smooth_map(maps, sigma)
# --------------------------------------------------------------------------------------------

def _kernel(sigma, radius=None, normalise=True, two=True):
    r = int(3 * sigma + 0.5) if radius is None else radius
    k = torch.arange(-r, r + 1, dtype=torch.float32)
    w = torch.exp(-k**2 / ((2 if two else 1) * sigma**2))
    return w / w.sum() if normalise else w


def smooth_with(pad="reflect", normalise=True, radius=None, valid=False, axes=2, two=True, sigma0=True):
    def smooth(maps, sigma):
        if sigma == 0 and sigma0:
            return maps.clone()
        k = _kernel(sigma, radius(sigma) if callable(radius) else radius, normalise, two)
        r = (len(k) - 1) // 2
        x = maps[:, None]
        if not valid:
            x = F.pad(x, (r, r, r, r), mode=pad) if pad != "zeros" else F.pad(x, (r, r, r, r))
        x = F.conv2d(x, k.view(1, 1, 1, -1))
        if axes == 2:
            x = F.conv2d(x, k.view(1, 1, -1, 1))
        elif not valid:
            x = x[:, :, r:-r] if r else x
        return x[:, 0]
    return smooth


def smooth_scipy_reflect(maps, sigma):
    """scipy's mode='reflect' repeats the edge pixel (torch's 'reflect' is scipy's 'mirror')."""
    from scipy.ndimage import gaussian_filter

    if sigma == 0:
        return maps.clone()
    return torch.from_numpy(gaussian_filter(maps.numpy(), sigma=(0, sigma, sigma), mode="reflect", truncate=3.0))


def smooth_over_batch(maps, sigma):
    out = ref_smooth(maps, sigma)
    return out * 0.5 + out.mean(0, keepdim=True) * 0.5


def smooth_in_place(maps, sigma):
    out = ref_smooth(maps, sigma)
    maps.copy_(out)
    return maps


def smooth_analytic_norm(maps, sigma):
    """The continuous Gaussian's factor 1 / (sqrt(2 pi) sigma) instead of the kernel's own sum."""
    import math

    if sigma == 0:
        return maps.clone()
    k = _kernel(sigma, normalise=False) / (math.sqrt(2 * math.pi) * sigma)
    r = (len(k) - 1) // 2
    x = F.pad(maps[:, None], (r, r, r, r), mode="reflect")
    return F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))[:, 0]


def smooth_arange_short(maps, sigma):
    """torch.arange(-r, r) stops at r - 1: 2r weights, padded unevenly to keep the shape."""
    if sigma == 0:
        return maps.clone()
    r = int(3 * sigma + 0.5)
    k = torch.arange(-r, r, dtype=torch.float32)
    w = torch.exp(-k**2 / (2 * sigma**2))
    w = w / w.sum()
    x = F.pad(maps[:, None], (r, r - 1, r, r - 1), mode="reflect")
    return F.conv2d(F.conv2d(x, w.view(1, 1, 1, -1)), w.view(1, 1, -1, 1))[:, 0]


def smooth_sigma0_same_tensor(maps, sigma):
    return maps if sigma == 0 else ref_smooth(maps, sigma)


def smooth_box(maps, sigma):
    if sigma == 0:
        return maps.clone()
    r = int(3 * sigma + 0.5)
    x = F.pad(maps[:, None], (r, r, r, r), mode="reflect")
    return F.avg_pool2d(x, 2 * r + 1, stride=1)[:, 0]


SMOOTH_MISTAKES = [
    ("no padding: the map shrinks", smooth_with(valid=True), r"the smoothed maps have shape .* without padding"),
    ("zero padding", smooth_with(pad="zeros"), r"the interior is right but the borders are wrong"),
    ("replicate padding", smooth_with(pad="replicate"), r"the interior is right but the borders are wrong"),
    ("circular padding", smooth_with(pad="circular"), r"the interior is right but the borders are wrong"),
    ("scipy mode='reflect' (edge repeated)", smooth_scipy_reflect, r"the interior is right but the borders are wrong"),
    ("kernel not normalised", smooth_with(normalise=False), r"the smoothed map sums to [\d.]+, but the input sums to 1"),
    ("sigma used as the radius", smooth_with(radius=lambda s: max(1, int(s))), r"your kernel reaches \d+ pixels? from the centre"),
    ("radius int(3 sigma) without rounding", smooth_with(radius=lambda s: int(3 * s)), r"your kernel reaches \d+ pixels? from the centre"),
    ("exp(-k^2 / sigma^2): the 2 is missing", smooth_with(two=False), r"the kernel weights differ from exp"),
    ("a box filter", smooth_box, r"the kernel weights differ from exp"),
    ("only along one axis", smooth_with(axes=1), r"the map was smoothed along one axis only"),
    ("maps of the batch mixed", smooth_over_batch, r"map 1 of the batch is all zeros"),
    ("sigma 0 not handled (NaN)", smooth_with(sigma0=False), r"for sigma = 0 the result is NaN"),
    ("no smoothing at all", lambda m, s: m.clone(), r"the maps came back unchanged"),
    ("channel dimension left in", lambda m, s: ref_smooth(m, s)[:, None], r"the result has shape .*: drop the channel"),
    ("writes into the input", smooth_in_place, r"it changed its input `maps` in place"),
    ("divided by sqrt(2 pi) sigma, not the sum", smooth_analytic_norm,
     r"the smoothed map sums to [\d.]+, not 1: the weights were divided by sqrt\(2 pi\) sigma"),
    ("torch.arange(-r, r): one weight short", smooth_arange_short, r"the response to one pixel is not symmetric"),
    ("radius ceil(3 sigma)", smooth_with(radius=lambda s: __import__("math").ceil(3 * s)),
     r"your kernel reaches \d+ pixels? from the centre"),
    ("sigma 0 returns the input itself", smooth_sigma0_same_tensor, r"for sigma = 0 you returned the input tensor itself"),
]


# --------------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------------

ROWS = (
    [("msp", name, fn, pat) for name, fn, pat in MSP_MISTAKES]
    + [("ood_metrics", name, fn, pat) for name, fn, pat in METRICS_MISTAKES]
    + [("paste_patch", name, fn, pat) for name, fn, pat in PASTE_MISTAKES]
    + [("smooth_map", name, fn, pat) for name, fn, pat in SMOOTH_MISTAKES]
)
CHECKS = {"msp": check_msp, "ood_metrics": check_ood_metrics, "paste_patch": check_paste_patch,
          "smooth_map": check_smooth_map}
REFERENCES = {"msp": ref_msp, "ood_metrics": ref_metrics, "paste_patch": ref_paste, "smooth_map": ref_smooth}


def test_every_exercise_has_at_least_five_mistakes():
    counts = {ex: sum(1 for r in ROWS if r[0] == ex) for ex in CHECKS}
    assert all(n >= 5 for n in counts.values()), counts


@pytest.mark.parametrize("exercise, mistake, wrong, pattern", ROWS, ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_mistake_is_rejected_and_named_first(exercise, mistake, wrong, pattern):
    with pytest.raises(CheckFailed) as info:
        CHECKS[exercise](wrong)
    message = str(info.value)
    assert re.match(pattern, first_reason(message), flags=re.S), \
        f"{mistake!r}: the message does not lead with it:\n{message}"
    assert "np.float" not in message and "tensor(" not in message, message


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_reference_passes(exercise, capsys):
    CHECKS[exercise](REFERENCES[exercise])
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_stub_is_not_implemented_yet(exercise):
    assert_stub_not_implemented(CHECKS[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_an_endless_loop_fails_fast(exercise):
    assert_endless_loop_fails_quickly(CHECKS[exercise], timeout_s=0.5, within_s=10, match="did not finish check case")


def test_the_checks_hold_no_private_reference_copies():
    """One reference per algorithm: the checks compare against utils.anomaly's trusted functions."""
    import utils.anomaly.checks as checks

    assert not [n for n in vars(checks) if n.startswith("_reference")]
    assert checks.trusted_smooth_maps is ref_smooth and checks.trusted_paste_patch is ref_paste
    assert checks.trusted_msp is ref_msp and checks.trusted_ood_metrics is ref_metrics


def test_other_correct_code_passes():
    """Correct variants that differ from the reference in form must pass too."""
    from scipy.ndimage import gaussian_filter
    from sklearn.metrics import roc_auc_score

    check_msp(lambda z: torch.exp(z - torch.logsumexp(z, 1, keepdim=True)).max(1).values)
    check_msp(lambda z: torch.softmax(z, -1).amax(-1))

    def metrics_roc_all_points(score_in, score_out):
        from sklearn.metrics import roc_curve

        y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
        s = np.r_[score_in, score_out]
        fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
        return {"auroc": roc_auc_score(y, s), "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}

    check_ood_metrics(metrics_roc_all_points)

    def metrics_by_hand(score_in, score_out):
        d = score_in[:, None] - score_out[None, :]
        t = np.sort(score_in)[int(np.floor(0.05 * len(score_in)))]
        return {"auroc": float((d > 0).mean() + 0.5 * (d == 0).mean()), "fpr95": float(np.mean(score_out >= t))}

    check_ood_metrics(metrics_by_hand)

    def paste_mask_first(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
        (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
        mask = torch.zeros(target.shape[-2:], dtype=torch.bool)
        mask[dy:dy + h, dx:dx + w] = True
        p = source[:, sy:sy + h, sx:sx + w]
        out = torch.where(mask, torch.zeros_like(target), target)
        out[:, mask] = torch.clamp(contrast * (p - p.mean()) + p.mean() + brightness, 0, 1).reshape(target.shape[0], -1)
        return out, mask

    check_paste_patch(paste_mask_first)

    def smooth_scipy_mirror(maps, sigma):
        if sigma == 0:
            return maps.clone()
        return torch.from_numpy(gaussian_filter(maps.numpy(), sigma=(0, sigma, sigma), mode="mirror", truncate=3.0))

    check_smooth_map(smooth_scipy_mirror)
    check_smooth_map(smooth_with())
