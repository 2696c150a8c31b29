"""Lesson 04: the trusted implementations and the anomaly utilities (their results and their bad-input errors).

The learner checks and their tables of typical mistakes are in ``test_mistakes.py``.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from utils.anomaly import localisation as A  # noqa: E402
from utils.anomaly.ood import digit_ood_sets  # noqa: E402
from utils.anomaly.localisation import paste_patch, smooth_maps  # noqa: E402
from utils.anomaly.ood import (  # noqa: E402
    constant_scores,
    intensity_scores,
    msp,
    nearest_neighbour_scores,
    ood_metrics,
    random_scores,
)


# ---------------------------------------------------------------------------------------------
# The trusted implementations of the exercises (their checks are tested in test_mistakes.py)
# ---------------------------------------------------------------------------------------------

def test_msp_values_and_bad_input():
    z = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1000.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(msp(z), torch.tensor([0.25, 1.0]))
    with pytest.raises(TypeError, match=r"\(N, C\)"):
        msp(torch.zeros(3))
    with pytest.raises(TypeError):
        msp([[0.0, 1.0]])


def test_reference_fpr95_definition_by_hand():
    s_in = np.arange(1, 101) / 100.0            # 100 in-distribution scores 0.01 .. 1.00
    s_out = np.array([0.03, 0.05, 0.06, 0.5, 0.99])
    # at least 95 of 100 in-scores >= t: the largest such t is 0.06, and 3 of 5 OOD scores are >= 0.06
    assert ood_metrics(s_in, s_out)["fpr95"] == pytest.approx(0.6)
    d = s_in[:, None] - s_out[None, :]            # every OOD score ties with one in-score: ties count one half
    assert ood_metrics(s_in, s_out)["auroc"] == pytest.approx(np.mean(d > 0) + 0.5 * np.mean(d == 0))


def test_ood_metrics_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        ood_metrics(np.array([]), np.array([0.5]))
    with pytest.raises(ValueError, match="NaN"):
        ood_metrics(np.array([0.5, np.nan]), np.array([0.5]))
    with pytest.raises(ValueError, match="1-D"):
        ood_metrics(np.zeros((2, 2)), np.array([0.5]))


def test_trivial_detectors():
    x_train, x = torch.rand(20, 1, 8, 8), torch.rand(10, 1, 8, 8)
    s_in = constant_scores(x)
    assert ood_metrics(s_in, constant_scores(x)) == {"auroc": 0.5, "fpr95": 1.0}
    r = random_scores(x, seed=1)
    assert r.shape == (10,) and np.array_equal(r, random_scores(x, seed=1))
    assert not np.array_equal(r, random_scores(x, seed=2))
    assert intensity_scores(x_train, x).shape == (10,) and (intensity_scores(x_train, x) <= 0).all()
    nn_in = nearest_neighbour_scores(x_train, x_train)
    assert np.allclose(nn_in, 0)    # every training image is its own nearest neighbour
    assert (nearest_neighbour_scores(x_train, x) < 0).all()
    with pytest.raises(TypeError):
        intensity_scores(x_train, x.numpy())
    with pytest.raises(ValueError, match="same image shape"):
        nearest_neighbour_scores(x_train, torch.rand(3, 1, 4, 4))


def test_paste_patch_reference():
    target, source = torch.zeros(1, 6, 6), torch.linspace(0, 1, 36).reshape(1, 6, 6)
    before = target.clone()
    out, mask = paste_patch(target, source, (0, 0), (2, 3), (2, 3), 1.0, 0.0)
    assert torch.equal(target, before)
    assert mask.dtype == torch.bool and int(mask.sum()) == 6 and bool(mask[2:4, 3:6].all())
    assert torch.allclose(out[0, 2:4, 3:6], source[0, 0:2, 0:3])
    out, _ = paste_patch(target, source, (0, 0), (2, 3), (2, 3), 0.0, 0.0)   # contrast 0: the patch mean
    assert torch.allclose(out[0, 2:4, 3:6], source[0, 0:2, 0:3].mean().expand(2, 3))


@pytest.mark.parametrize("args, err, match", [
    (((0, 0), (5, 5), (2, 2), 1.0, 0.0), ValueError, "does not fit"),
    (((0, 0), (0, 0), (0, 2), 1.0, 0.0), ValueError, "positive"),
    (((0.5, 0), (0, 0), (2, 2), 1.0, 0.0), TypeError, "pair of ints"),
    (((0, 0), (0, 0), (2, 2), "1", 0.0), TypeError, "contrast"),
    (((0, 0), (0, 0), (2, 2), 1.0, float("nan")), TypeError, "brightness"),
])
def test_paste_patch_bad_input(args, err, match):
    with pytest.raises(err, match=match):
        paste_patch(torch.zeros(1, 6, 6), torch.zeros(1, 6, 6), *args)
    with pytest.raises(ValueError, match="same shape"):
        paste_patch(torch.zeros(1, 6, 6), torch.zeros(1, 6, 5), (0, 0), (0, 0), (2, 2), 1.0, 0.0)


def test_smooth_maps_keeps_mass_shape_and_borders():
    maps = torch.rand(4, 32, 32)
    out = smooth_maps(maps, 2.0)
    assert out.shape == maps.shape
    flat = torch.full((1, 16, 16), 0.3)
    assert torch.allclose(smooth_maps(flat, 1.5), flat)   # reflect padding: borders are not darkened
    assert torch.equal(smooth_maps(maps, 0), maps) and smooth_maps(maps, 0) is not maps
    # the same numbers as scipy's gaussian_filter with mode="mirror" (torch's "reflect") and truncate=3
    from scipy.ndimage import gaussian_filter

    ref = gaussian_filter(maps.double().numpy(), sigma=(0, 1.5, 1.5), mode="mirror", truncate=3.0)
    assert np.allclose(smooth_maps(maps.double(), 1.5).numpy(), ref, atol=1e-10)


def test_smooth_maps_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        smooth_maps(torch.rand(1, 8, 8), -1.0)
    with pytest.raises(ValueError, match="too large"):
        smooth_maps(torch.rand(1, 8, 8), 4.0)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        smooth_maps(torch.rand(8, 8), 1.0)


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
    xa, ma = A.synthetic_anomalies(x, paste_patch, g)
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
    model, losses = A.train_localiser(paste_patch, seed=0, steps=3, batch_size=8, progress=False)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    ds = A.defect_test_set(n_normal=4, n_per_type=2, seed=3)
    maps = A.anomaly_maps(model, ds.images)
    assert maps.shape == (len(ds), 32, 32) and 0 <= float(maps.min()) and float(maps.max()) <= 1
    assert 0 <= A.image_auroc(maps, ds.is_defective) <= 1
    assert 0 <= A.pixel_auroc(maps, ds.masks) <= 1
    per = A.per_type_image_auroc(maps, ds.kinds)
    assert set(per) == set(A.DEFECT_TYPES)
    with pytest.raises(ValueError, match="steps"):
        A.train_localiser(paste_patch, steps=0)


def test_train_localiser_leaves_the_global_rng_alone_and_is_seeded():
    torch.manual_seed(0)
    a = torch.rand(1)
    torch.manual_seed(0)
    m1, l1 = A.train_localiser(paste_patch, seed=4, steps=2, batch_size=4, progress=False)
    assert torch.equal(torch.rand(1), a)          # the global state is where it was
    torch.manual_seed(123)                        # and a different global state changes nothing
    m2, l2 = A.train_localiser(paste_patch, seed=4, steps=2, batch_size=4, progress=False)
    assert l1 == l2 and all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


def test_sample_paste_params_match_element_by_element_arithmetic():
    """The vectorised draw gives what float32 element-by-element arithmetic gives (no off-by-one at the edges)."""
    for seed in range(200):
        g1, g2 = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        params = A.sample_paste_params(9, 32, g1)
        lo, hi = A.PASTE_SIZE
        hw = torch.randint(lo, hi + 1, (9, 2), generator=g2)
        u = torch.rand(9, 6, generator=g2)
        for i, p in enumerate(params):
            h, w = int(hw[i, 0]), int(hw[i, 1])
            assert p["size_hw"] == (h, w)
            assert p["src_yx"] == (int(u[i, 0] * (32 - h + 1)), int(u[i, 1] * (32 - w + 1)))
            assert p["dst_yx"] == (int(u[i, 2] * (32 - h + 1)), int(u[i, 3] * (32 - w + 1)))


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
    with pytest.raises(TypeError, match="booleans .*is_defective"):
        A.image_auroc(maps, ["normal", "normal", "hole", "stain"])   # the kinds, not the labels
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
    base = dict(image=ds.images[1], mask=ds.masks[1], raw_map=raw, smooth=smooth_maps)
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


def test_receptive_field_and_cell_logits():
    from utils.models import count_parameters

    net = A.LocalisationNet()
    # 3x3 (+2), stride-2 3x3 (+2), 3x3 at stride 2 (+4), dilated 3x3 at stride 2 (+8), 1x1: 17 pixels
    assert A.receptive_field(net) == 17
    assert count_parameters(net) > 0
    x = A.weave_textures(2, seed=0)
    assert net.cell_logits(x).shape == (2, 1, 16, 16)
    assert A.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 5), nn.ReLU(), nn.Conv2d(1, 1, 3, stride=2))) == 7


def test_anomaly_maps_upsampling_modes():
    net = A.LocalisationNet()
    x = A.weave_textures(3, seed=0)
    near, bil = A.anomaly_maps(net, x), A.anomaly_maps(net, x, upsample="bilinear")
    assert near.shape == bil.shape == (3, 32, 32)
    assert torch.equal(near[:, 0::2, 0::2], near[:, 1::2, 1::2])   # nearest: each cell repeated over 2x2 pixels
    assert not torch.equal(near, bil)
    with pytest.raises(ValueError, match="upsample"):
        A.anomaly_maps(net, x, upsample="cubic")


def test_baseline_maps():
    normal = A.weave_textures(20, seed=3)
    ds = A.defect_test_set(n_normal=10, n_per_type=5, seed=4)
    r = A.random_maps(len(ds), seed=0)
    assert r.shape == (len(ds), 32, 32) and torch.equal(r, A.random_maps(len(ds), seed=0))
    for maps in (A.intensity_maps(ds.images, normal), A.local_statistics_maps(ds.images, normal)):
        assert maps.shape == (len(ds), 32, 32) and bool(torch.isfinite(maps).all()) and float(maps.min()) >= 0
        assert 0 <= A.pixel_auroc(maps, ds.masks) <= 1
    with pytest.raises(ValueError, match="odd"):
        A.local_statistics_maps(ds.images, normal, window=8)
    with pytest.raises(ValueError, match="shape"):
        A.intensity_maps(ds.images[:, 0], normal)


def test_per_type_pixel_auroc():
    ds = A.defect_test_set(n_normal=4, n_per_type=3, seed=7)
    perfect = ds.masks.float()
    per = A.per_type_pixel_auroc(perfect, ds.masks, ds.kinds)
    assert set(per) == set(A.DEFECT_TYPES) and all(v == 1.0 for v in per.values())
    with pytest.raises(ValueError, match="one entry per map"):
        A.per_type_pixel_auroc(perfect, ds.masks, ds.kinds[:-1])


def test_pixel_auroc_agrees_with_sklearn_including_ties():
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(11)
    coarse = (torch.rand(30, 8, 8, generator=g) * 20).round() / 20          # many exact ties, as blocky maps have
    maps = torch.repeat_interleave(torch.repeat_interleave(coarse, 2, 1), 2, 2)
    masks = torch.rand(30, 16, 16, generator=g) < 0.1 + 0.5 * maps           # informative, not perfect
    want = roc_auc_score(masks.reshape(-1).numpy(), maps.reshape(-1).double().numpy())
    assert A.pixel_auroc(maps, masks) == pytest.approx(want, abs=1e-12)
    kinds = ["normal"] * 10 + ["scratch"] * 10 + ["hole"] * 10
    per = A.per_type_pixel_auroc(maps, masks, kinds)
    for k in ("scratch", "hole"):
        sel = torch.tensor([c in ("normal", k) for c in kinds])
        assert per[k] == pytest.approx(roc_auc_score(masks[sel].reshape(-1).numpy(),
                                                     maps[sel].reshape(-1).double().numpy()), abs=1e-12)


def test_cell_loss_equals_the_per_pixel_loss_of_the_upsampled_map():
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(3)
    z = torch.randn(5, 1, 8, 8, generator=g, requires_grad=True)
    masks = (torch.rand(5, 1, 16, 16, generator=g) > 0.7).float()
    per_pixel = F.binary_cross_entropy_with_logits(F.interpolate(z, scale_factor=2, mode="nearest"), masks)
    per_cell = A.cell_loss(z, masks)
    assert float(per_cell) == pytest.approx(float(per_pixel), rel=1e-6)
    g1, = torch.autograd.grad(per_pixel, z)
    g2, = torch.autograd.grad(per_cell, z)
    assert torch.allclose(g1, g2, atol=1e-7)
