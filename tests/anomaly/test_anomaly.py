"""Lesson 04: the checks reject the stub and typical mistakes; the anomaly utilities validate their inputs."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.anomaly import localisation as A  # noqa: E402
from utils.anomaly.ood import digit_ood_sets  # noqa: E402
from utils.checks import CheckFailed  # noqa: E402
from utils.anomaly.checks import (  # noqa: E402
    _reference_msp,
    _reference_ood_metrics,
    _reference_paste_patch,
    _reference_smooth_map,
    check_msp,
    check_ood_metrics,
    check_paste_patch,
    check_smooth_map,
)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


# ---------------------------------------------------------------------------------------------
# check_msp
# ---------------------------------------------------------------------------------------------

def test_msp_reference_passes(capsys):
    check_msp(_reference_msp)
    assert "all 4 check cases passed" in capsys.readouterr().out


def test_msp_alternative_correct_forms_pass():
    check_msp(lambda z: torch.exp(z - torch.logsumexp(z, 1, keepdim=True)).max(1).values)
    check_msp(lambda z: torch.softmax(z, -1).amax(-1))


def test_msp_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_msp(stub)


@pytest.mark.parametrize("wrong, message", [
    (lambda z: z.max(1).values, "logit"),                                     # MSP on logits
    (lambda z: 1 - torch.softmax(z, 1).max(1).values, "1 - MSP"),             # an anomaly score, not the MSP
    (lambda z: torch.softmax(z, 0).max(1).values, "case"),                    # softmax over the batch
    (lambda z: torch.softmax(z, 1).argmax(1), "case"),                        # the class, not the probability
    (lambda z: torch.softmax(z, 1).max(1, keepdim=True).values, "shape"),     # (N, 1)
    (lambda z: (torch.exp(z) / torch.exp(z).sum(1, keepdim=True)).max(1).values, "case"),  # overflows -> nan
    (lambda z: None, "return"),
])
def test_msp_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_msp(wrong)


# ---------------------------------------------------------------------------------------------
# check_ood_metrics
# ---------------------------------------------------------------------------------------------

def _metrics_ok(score_in, score_out):
    return _reference_ood_metrics(score_in, score_out)


def _metrics_by_threshold(score_in, score_out):
    """A correct alternative: threshold at the 5th percentile of the in-distribution scores."""
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    t = np.percentile(score_in, 5)
    return {"auroc": roc_auc_score(y, np.r_[score_in, score_out]), "fpr95": float(np.mean(score_out >= t))}


def test_ood_metrics_reference_and_alternative_pass():
    check_ood_metrics(_metrics_ok)
    check_ood_metrics(_metrics_by_threshold)


def test_ood_metrics_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_ood_metrics(stub)


def _flipped(score_in, score_out):
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.zeros(len(score_in)), np.ones(len(score_out))]   # OOD as positives, scores not negated
    s = np.r_[score_in, score_out]
    fpr, tpr, _ = roc_curve(y, s)
    return {"auroc": roc_auc_score(y, s), "fpr95": float(fpr[np.argmax(tpr >= 0.95)])}


def _wrong_threshold_95th(score_in, score_out):
    out = _reference_ood_metrics(score_in, score_out)
    t = np.percentile(score_in, 95)  # keeps only 5% of the in-distribution examples
    return {"auroc": out["auroc"], "fpr95": float(np.mean(score_out >= t))}


def _wrong_threshold_on_ood(score_in, score_out):
    out = _reference_ood_metrics(score_in, score_out)
    t = np.percentile(score_out, 5)  # threshold picked on the OOD scores
    return {"auroc": out["auroc"], "fpr95": float(np.mean(score_out >= t))}


def _tpr_instead_of_fpr(score_in, score_out):
    out = _reference_ood_metrics(score_in, score_out)
    t = np.percentile(score_in, 5)
    return {"auroc": out["auroc"], "fpr95": float(np.mean(score_in >= t))}


def _fpr_at_tpr_95_percent_points(score_in, score_out):
    """Reads 'FPR at 95% TPR' as the TPR where FPR = 0.95."""
    from sklearn.metrics import roc_curve

    out = _reference_ood_metrics(score_in, score_out)
    y = np.r_[np.ones(len(score_in)), np.zeros(len(score_out))]
    fpr, tpr, _ = roc_curve(y, np.r_[score_in, score_out])
    return {"auroc": out["auroc"], "fpr95": float(tpr[np.argmax(fpr >= 0.95)])}


@pytest.mark.parametrize("wrong, message", [
    (_flipped, "flipped"),
    (_wrong_threshold_95th, "threshold"),
    (_wrong_threshold_on_ood, "threshold"),
    (_tpr_instead_of_fpr, "threshold"),
    (_fpr_at_tpr_95_percent_points, "threshold"),
    (lambda a, b: (0.9, 0.1), "dict"),
    (lambda a, b: {"AUROC": 0.9, "FPR95": 0.1}, "keys"),
])
def test_ood_metrics_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_ood_metrics(wrong)


def test_reference_fpr95_definition_by_hand():
    s_in = np.arange(1, 101) / 100.0            # 100 in-distribution scores 0.01 .. 1.00
    s_out = np.array([0.03, 0.05, 0.06, 0.5, 0.99])
    # at least 95 of 100 in-scores >= t: the largest such t is 0.06, and 3 of 5 OOD scores are >= 0.06
    assert _reference_ood_metrics(s_in, s_out)["fpr95"] == pytest.approx(0.6)


# ---------------------------------------------------------------------------------------------
# check_paste_patch
# ---------------------------------------------------------------------------------------------

def test_paste_reference_passes(capsys):
    check_paste_patch(_reference_paste_patch)
    assert "all 4 check cases passed" in capsys.readouterr().out


def test_paste_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_paste_patch(stub)


def _paste_in_place(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    patch = source[:, sy:sy + h, sx:sx + w]
    m = patch.mean()
    target[:, dy:dy + h, dx:dx + w] = ((patch - m) * contrast + m + brightness).clamp(0, 1)
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[dy:dy + h, dx:dx + w] = True
    return target, mask


def _paste_mask_at_source(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    out, _ = _reference_paste_patch(target, source, src_yx, dst_yx, size_hw, contrast, brightness)
    (sy, sx), (h, w) = src_yx, size_hw
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[sy:sy + h, sx:sx + w] = True
    return out, mask


def _paste_contrast_about_zero(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    out = target.clone()
    out[:, dy:dy + h, dx:dx + w] = (source[:, sy:sy + h, sx:sx + w] * contrast + brightness).clamp(0, 1)
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[dy:dy + h, dx:dx + w] = True
    return out, mask


def _paste_no_clamp(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    (sy, sx), (dy, dx), (h, w) = src_yx, dst_yx, size_hw
    patch = source[:, sy:sy + h, sx:sx + w]
    m = patch.mean()
    out = target.clone()
    out[:, dy:dy + h, dx:dx + w] = (patch - m) * contrast + m + brightness
    mask = torch.zeros(target.shape[1:], dtype=torch.bool)
    mask[dy:dy + h, dx:dx + w] = True
    return out, mask


def _paste_swapped_xy(target, source, src_yx, dst_yx, size_hw, contrast, brightness):
    return _reference_paste_patch(target, source, src_yx[::-1], dst_yx[::-1], size_hw[::-1], contrast, brightness)


def _paste_float_mask(*args):
    out, mask = _reference_paste_patch(*args)
    return out, mask.float()


def _paste_from_target(target, source, *rest):
    return _reference_paste_patch(target, target, *rest)


@pytest.mark.parametrize("wrong, message", [
    (_paste_in_place, "in place"),
    (_paste_mask_at_source, "mask is wrong"),
    (_paste_contrast_about_zero, "case"),
    (_paste_no_clamp, "clamp"),
    (_paste_swapped_xy, "case"),
    (_paste_float_mask, "bool"),
    (_paste_from_target, "case"),
    (lambda *a: _reference_paste_patch(*a)[0], "case"),
])
def test_paste_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_paste_patch(wrong)


# ---------------------------------------------------------------------------------------------
# check_smooth_map
# ---------------------------------------------------------------------------------------------

def test_smooth_reference_passes(capsys):
    check_smooth_map(_reference_smooth_map)
    assert "all 5 check cases passed" in capsys.readouterr().out


def test_smooth_scipy_equivalent_passes():
    from scipy.ndimage import gaussian_filter

    def smooth_scipy(maps, sigma):
        if sigma == 0:
            return maps.clone()
        out = gaussian_filter(maps.numpy(), sigma=(0, sigma, sigma), mode="mirror", truncate=3.0)
        return torch.from_numpy(out)

    check_smooth_map(smooth_scipy)


def test_smooth_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_smooth_map(stub)


def _kernel(sigma, radius=None, normalise=True):
    r = int(3 * sigma + 0.5) if radius is None else radius
    k = torch.arange(-r, r + 1, dtype=torch.float32)
    w = torch.exp(-k**2 / (2 * sigma**2))
    return w / w.sum() if normalise else w


def _smooth_with(maps, sigma, pad="reflect", normalise=True, radius=None, valid=False, axes=2):
    if sigma == 0:
        return maps.clone()
    k = _kernel(sigma, radius, normalise)
    r = (len(k) - 1) // 2
    x = maps[:, None]
    if not valid:
        x = F.pad(x, (r, r, r, r), mode=pad) if pad != "zeros" else F.pad(x, (r, r, r, r))
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    if axes == 2:
        x = F.conv2d(x, k.view(1, 1, -1, 1))
    else:
        x = x[:, :, r:-r] if not valid else x
    return x[:, 0]


def _smooth_over_batch(maps, sigma):
    if sigma == 0:
        return maps.clone()
    out = _reference_smooth_map(maps, sigma)
    return out * 0.5 + out.mean(0, keepdim=True) * 0.5


@pytest.mark.parametrize("wrong, message", [
    (lambda m, s: _smooth_with(m, s, valid=True), "shape"),          # no padding: the map shrinks
    (lambda m, s: _smooth_with(m, s, pad="zeros"), "case"),          # zero padding darkens borders
    (lambda m, s: _smooth_with(m, s, normalise=False), "normalised"),  # kernel does not sum to 1
    (lambda m, s: _smooth_with(m, s, radius=max(1, int(s))), "case"),  # sigma used as the radius
    (lambda m, s: _smooth_with(m, s, pad="replicate"), "case"),      # edge replicated, not reflected
    (lambda m, s: _smooth_with(m, s, axes=1), "case"),               # only along one axis
    (_smooth_over_batch, "case"),                                    # mixes maps of the batch
    (lambda m, s: m, "case"),                                        # no smoothing
])
def test_smooth_rejects_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        check_smooth_map(wrong)


def test_smooth_reference_keeps_mass_and_shape():
    maps = torch.rand(4, 32, 32)
    out = _reference_smooth_map(maps, 2.0)
    assert out.shape == maps.shape
    assert torch.allclose(_reference_smooth_map(torch.full((1, 16, 16), 0.3), 1.5), torch.full((1, 16, 16), 0.3))


# ---------------------------------------------------------------------------------------------
# utils.anomaly.localisation: data, defects, synthetic anomalies
# ---------------------------------------------------------------------------------------------

def test_weave_textures_shape_range_and_determinism():
    x = A.weave_textures(5, 32, seed=1)
    assert x.shape == (5, 1, 32, 32) and x.dtype == torch.float32
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, A.weave_textures(5, 32, seed=1))
    assert not torch.equal(x, A.weave_textures(5, 32, seed=2))
    assert not torch.equal(x[0], x[1])  # every image differs (random phase)


def test_textures_do_not_touch_global_rng():
    torch.manual_seed(0)
    a = torch.rand(1)
    torch.manual_seed(0)
    A.weave_textures(3, seed=5)
    assert torch.equal(torch.rand(1), a)


@pytest.mark.parametrize("kwargs, err", [
    ({"n": 0}, ValueError), ({"n": 2.5}, TypeError), ({"n": 2, "size": 8}, ValueError),
    ({"n": 2, "seed": "x"}, TypeError), ({"n": 2, "generator": 3}, TypeError),
])
def test_weave_textures_bad_inputs(kwargs, err):
    with pytest.raises(err):
        A.weave_textures(**kwargs)


@pytest.mark.parametrize("kind", A.DEFECT_TYPES)
def test_add_defects_masks_and_changes(kind):
    x = A.weave_textures(6, seed=0)
    before = x.clone()
    xd, m = A.add_defects(x, kind, seed=1)
    assert torch.equal(x, before), "input must not be modified"
    assert xd.shape == x.shape and m.shape == (6, 32, 32) and m.dtype == torch.bool
    assert bool((m.flatten(1).sum(1) > 0).all()), "every image gets a non-empty defect"
    assert 0 <= float(xd.min()) and float(xd.max()) <= 1
    change = (xd - x).abs()[:, 0]
    # the defect changes pixels inside its mask much more than outside it (stains and smudges have soft edges)
    assert float((change[m] > 1e-4).float().mean()) > 0.5
    if kind in ("scratch", "hole"):
        assert float(change[~m].max()) == 0.0
    else:
        assert float(change[m].mean()) > 3 * float(change[~m].mean())


def test_add_defects_bad_inputs():
    x = A.weave_textures(2, seed=0)
    with pytest.raises(ValueError, match="Did you mean 'scratch'"):
        A.add_defects(x, "scrach")
    with pytest.raises(TypeError):
        A.add_defects(x, 3)
    with pytest.raises(ValueError, match="strength"):
        A.add_defects(x, "hole", strength=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        A.add_defects(x * 3, "hole")
    with pytest.raises(ValueError, match="shape"):
        A.add_defects(x[:, 0], "hole")
    with pytest.raises(TypeError, match="float"):
        A.add_defects((x * 255).to(torch.uint8), "hole")


def test_defect_test_set_layout():
    ds = A.defect_test_set(n_normal=4, n_per_type=3, seed=7)
    assert len(ds) == 4 + 3 * len(A.DEFECT_TYPES)
    assert ds.kinds[:4] == ("normal",) * 4
    assert ds.is_defective.sum() == 12
    assert not ds.masks[:4].any() and all(ds.masks[i].any() for i in range(4, len(ds)))
    assert "DefectSet" in repr(ds)
    with pytest.raises(ValueError):
        A.defect_test_set(kinds=("dent",))


def test_synthetic_anomalies_with_reference_paste():
    g = torch.Generator().manual_seed(0)
    x = A.weave_textures(8, seed=0)
    xa, ma = A.synthetic_anomalies(x, _reference_paste_patch, g)
    assert xa.shape == x.shape and ma.shape == (8, 1, 32, 32)
    area = ma.flatten(1).sum(1)
    lo, hi = A.PASTE_SIZE
    assert bool(((area >= lo * lo) & (area <= hi * hi)).all())
    assert torch.equal(xa * (1 - ma), x * (1 - ma)), "outside the mask nothing changes"


def test_sample_paste_params_ranges():
    g = torch.Generator().manual_seed(1)
    for p in A.sample_paste_params(50, 32, g):
        h, w = p["size_hw"]
        assert A.PASTE_SIZE[0] <= h <= A.PASTE_SIZE[1] and A.PASTE_SIZE[0] <= w <= A.PASTE_SIZE[1]
        for y, x in (p["src_yx"], p["dst_yx"]):
            assert 0 <= y <= 32 - h and 0 <= x <= 32 - w
        assert A.CONTRAST_RANGE[0] <= p["contrast"] <= A.CONTRAST_RANGE[1]
        assert A.BRIGHTNESS_RANGE[0] <= p["brightness"] <= A.BRIGHTNESS_RANGE[1]
    sources = [p["source"] for p in A.sample_paste_params(20, 32, g)]
    assert all(s != i for i, s in enumerate(sources)), "the patch comes from another image"


def test_synthetic_anomalies_reports_bad_paste_fn():
    g = torch.Generator().manual_seed(0)
    x = A.weave_textures(4, seed=0)
    with pytest.raises(TypeError, match="tuple"):
        A.synthetic_anomalies(x, lambda *a: a[0], g)
    with pytest.raises(ValueError, match="mask of shape"):
        A.synthetic_anomalies(x, lambda t, *a: (t, torch.zeros(3, 3)), g)
    with pytest.raises(TypeError, match="function"):
        A.synthetic_anomalies(x, "paste", g)


def test_synthetic_anomalies_with_the_stub_says_not_implemented():
    def paste_patch(*args):
        raise NotImplementedError("Exercise: replace this line with your code")

    with pytest.raises(NotImplementedError, match="`paste_patch` is not implemented yet"):
        A.synthetic_anomalies(A.weave_textures(4, seed=0), paste_patch, torch.Generator().manual_seed(0))


def test_train_localiser_smoke_and_maps():
    model, losses = A.train_localiser(_reference_paste_patch, seed=0, steps=3, batch_size=8, progress=False)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    ds = A.defect_test_set(n_normal=4, n_per_type=2, seed=3)
    maps = A.anomaly_maps(model, ds.images)
    assert maps.shape == (len(ds), 32, 32) and 0 <= float(maps.min()) and float(maps.max()) <= 1
    assert 0 <= A.image_auroc(maps, ds.is_defective) <= 1
    assert 0 <= A.pixel_auroc(maps, ds.masks) <= 1
    per = A.per_type_image_auroc(maps, ds.kinds)
    assert set(per) == set(A.DEFECT_TYPES)
    with pytest.raises(ValueError, match="steps"):
        A.train_localiser(_reference_paste_patch, steps=0)


def test_localisation_net_rejects_odd_input():
    with pytest.raises(ValueError, match="even"):
        A.LocalisationNet()(torch.zeros(1, 1, 31, 31))


def test_evaluation_helpers():
    maps = torch.zeros(4, 8, 8)
    maps[2:, 2:4, 2:4] = 1.0
    masks = torch.zeros(4, 8, 8, dtype=torch.bool)
    masks[2:, 2:4, 2:4] = True
    assert A.image_auroc(maps, [0, 0, 1, 1]) == 1.0
    assert A.pixel_auroc(maps, masks) == 1.0
    assert A.pixel_auroc(maps, ~masks) == 0.0  # flipped masks give the complement
    np.testing.assert_allclose(A.image_scores(maps), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="both"):
        A.image_auroc(maps, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="one entry per image"):
        A.image_auroc(maps, [0, 1])
    with pytest.raises(ValueError, match="shape"):
        A.pixel_auroc(maps, masks[:, :4])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        A.image_scores(maps[0])
    with pytest.raises(ValueError, match="NaN"):
        A.image_scores(maps * float("nan"))
    with pytest.raises(TypeError):
        A.validate_maps(maps.numpy())


def test_detection_stats_counts():
    amap = torch.tensor([[0.9, 0.2], [0.8, 0.1]])
    mask = torch.tensor([[True, True], [False, False]])
    st = A.detection_stats(amap, mask, 0.5)
    assert (st["tp"], st["fp"], st["fn"], st["flagged"]) == (1, 1, 1, 2)
    assert st["precision"] == 0.5 and st["recall"] == 0.5 and st["iou"] == pytest.approx(1 / 3)
    none = A.detection_stats(amap, mask, 0.95)
    assert none["flagged"] == 0 and math.isnan(none["precision"])
    with pytest.raises(ValueError, match="threshold"):
        A.detection_stats(amap, mask, float("nan"))
    with pytest.raises(ValueError, match="shape"):
        A.detection_stats(amap, mask[:1], 0.5)


def _figure_pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return out


def test_detection_figure_changes_with_every_knob():
    ds = A.defect_test_set(n_normal=1, n_per_type=1, seed=2, kinds=("hole",))
    raw = torch.zeros(32, 32)
    raw[ds.masks[1]] = 0.8
    raw = raw + 0.3 * torch.rand(32, 32, generator=torch.Generator().manual_seed(0))
    base = dict(image=ds.images[1], mask=ds.masks[1], raw_map=raw, smooth=_reference_smooth_map)
    a = _figure_pixels(A.detection_figure(sigma=0.0, threshold=0.5, **base))
    b = _figure_pixels(A.detection_figure(sigma=1.5, threshold=0.5, **base))
    c = _figure_pixels(A.detection_figure(sigma=0.0, threshold=0.2, **base))
    assert a.shape == b.shape == c.shape
    assert not np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="sigma"):
        A.detection_figure(sigma=-1, threshold=0.5, **base)
    with pytest.raises(ValueError, match="smooth must return"):
        A.detection_figure(sigma=1.0, threshold=0.5, **{**base, "smooth": lambda m, s: m[0]})


def test_localisation_figure():
    ds = A.defect_test_set(n_normal=1, n_per_type=1, seed=2)
    maps = torch.rand(len(ds), 32, 32)
    fig = A.localisation_figure(ds.images, ds.masks, maps, maps, list(ds.kinds), 1.0)
    assert len(fig.axes) == 4 * len(ds)
    plt.close(fig)
    with pytest.raises(ValueError):
        A.localisation_figure(ds.images, ds.masks, maps, maps, ["a"], 1.0)


def test_digit_ood_sets():
    sets = digit_ood_sets()
    assert set(sets.ood) == {"held-out digits", "uniform noise", "Gaussian noise", "corrupted digits"}
    assert sets.y_train.min() == 0 and sets.y_train.max() == 4
    assert len(sets.ood["uniform noise"]) == len(sets.x_test) == len(sets.ood["corrupted digits"])
    for x in sets.ood.values():
        assert x.shape[1:] == (1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert not torch.equal(sets.ood["corrupted digits"], sets.x_test)
    assert "OODSets" in repr(sets)
    with pytest.raises(ValueError, match="distinct"):
        digit_ood_sets(in_classes=(1, 1, 2))
    with pytest.raises(ValueError, match="leave at least one"):
        digit_ood_sets(in_classes=tuple(range(10)))
    with pytest.raises(ValueError, match="severity"):
        digit_ood_sets(severity=6)
