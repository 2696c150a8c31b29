"""The corruption suite: shapes, range, determinism, monotone severity, bad inputs, the spurious cue."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from utils.shift.corruptions import (
    CATEGORIES,
    CORRUPTIONS,
    PARAMS,
    SEVERITIES,
    add_spurious_cue,
    corrupt,
    corrupt_all,
    cue_positions,
)
from utils.data import load_digits_split


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_digits_split().x_test[:64]


def test_suite_shape():
    assert len(CORRUPTIONS) >= 8
    for n in ("gaussian_noise", "blur", "contrast", "fog", "rotate", "shift", "texture", "background"):
        assert n in CORRUPTIONS
    assert SEVERITIES == (1, 2, 3, 4, 5)
    assert set(CATEGORIES) == set(PARAMS) == set(CORRUPTIONS)
    assert all(len(PARAMS[n]) == 5 for n in CORRUPTIONS)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_range_dtype_and_input_untouched(digits, name):
    before = digits.clone()
    for s in SEVERITIES:
        out = corrupt(digits, name, s, seed=3)
        assert out.shape == digits.shape and out.dtype == digits.dtype
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert torch.isfinite(out).all()
    assert torch.equal(digits, before)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_single_image_and_float64(digits, name):
    one = corrupt(digits[0], name, 3, seed=1)
    assert one.shape == digits[0].shape
    x64 = digits[:5].double()
    out = corrupt(x64, name, 2)
    assert out.dtype == torch.float64 and out.shape == x64.shape


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_and_leaves_global_rng_alone(digits, name):
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    ref_t, ref_np, ref_py = torch.rand(1), np.random.rand(), random.random()
    torch.manual_seed(123)
    np.random.seed(123)
    random.seed(123)
    a = corrupt(digits, name, 4, seed=7)
    assert (torch.rand(1), np.random.rand(), random.random()) == (ref_t, ref_np, ref_py)
    b = corrupt(digits, name, 4, seed=7)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n not in ("blur", "contrast")])
def test_seed_changes_random_corruptions(digits, name):
    assert not torch.equal(corrupt(digits, name, 3, seed=0), corrupt(digits, name, 3, seed=1))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_is_monotone(digits, name):
    change = [float((corrupt(digits, name, s, seed=0) - digits).abs().mean()) for s in SEVERITIES]
    assert change[0] > 0.005, f"{name} at severity 1 barely changes the image: {change}"
    assert all(b > a for a, b in zip(change, change[1:])), f"{name}: change not increasing: {change}"


def test_corrupt_all(digits):
    d = corrupt_all(digits[:4], seed=0, names=("fog", "blur"))
    assert set(d) == {(n, s) for n in ("fog", "blur") for s in SEVERITIES}
    assert torch.equal(d[("fog", 2)], corrupt(digits[:4], "fog", 2, seed=0))


@pytest.mark.parametrize(
    "x, err, match",
    [
        ([[0.0]], TypeError, "torch.Tensor"),
        (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), TypeError, "floating-point"),
        (torch.zeros(2, 8, 8).unsqueeze(0).unsqueeze(0), ValueError, "shape"),
        (torch.zeros(64), ValueError, "shape"),
        (torch.zeros(2, 1, 2, 2), ValueError, "at least 4x4"),
        (torch.full((2, 1, 8, 8), 16.0), ValueError, r"\[0, 1\]"),
        (torch.full((2, 1, 8, 8), -0.5), ValueError, r"\[0, 1\]"),
        (torch.full((2, 1, 8, 8), float("nan")), ValueError, "NaN"),
        (torch.zeros(0, 1, 8, 8), ValueError, "empty"),
    ],
)
def test_bad_images(x, err, match):
    with pytest.raises(err, match=match):
        corrupt(x, "fog", 1)


def test_bad_name_severity_seed(digits):
    with pytest.raises(ValueError, match="Did you mean 'gaussian_noise'.*Valid names: gaussian_noise"):
        corrupt(digits, "gaussian_nosie", 1)
    with pytest.raises(ValueError, match="Valid names"):
        corrupt(digits, "snow", 1)
    with pytest.raises(TypeError, match="name must be a string"):
        corrupt(digits, 3, 1)
    for bad in (0, 6, -1):
        with pytest.raises(ValueError, match=r"severity must be one of \(1, 2, 3, 4, 5\)"):
            corrupt(digits, "blur", bad)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError, match="severity must be an int"):
            corrupt(digits, "blur", bad)
    with pytest.raises(TypeError, match="seed must be an int"):
        corrupt(digits, "blur", 1, seed=0.5)
    assert torch.equal(corrupt(digits, "shift", np.int64(2), seed=np.int64(1)), corrupt(digits, "shift", 2, seed=1))


def test_geometric_corruptions_move_ink(digits):
    # shift and rotate keep roughly the ink mass (nothing is added), but move it
    for name in ("shift", "rotate"):
        out = corrupt(digits, name, 2, seed=0)
        assert float(out.sum()) <= float(digits.sum()) * 1.01
        assert float((out - digits).abs().mean()) > 0.05


def test_contrast_keeps_mean(digits):
    out = corrupt(digits, "contrast", 5)
    assert torch.allclose(out.mean(dim=(1, 2, 3)), digits.mean(dim=(1, 2, 3)), atol=1e-5)
    assert float(out.std()) < float(digits.std()) * 0.2


# --------------------------------------------------------------------------------------------
# The spurious cue
# --------------------------------------------------------------------------------------------

def test_cue_positions_distinct_and_on_border():
    pos = cue_positions(10)
    assert len(set(pos)) == 10
    assert all(i in (0, 7) or j in (0, 7) for i, j in pos)
    with pytest.raises(ValueError, match="border pixels"):
        cue_positions(40)


def test_spurious_cue_alignment():
    s = load_digits_split()
    x, y = s.x_train, s.y_train
    xa, ca = add_spurious_cue(x, y, p_align=1.0, seed=0)
    assert torch.equal(ca, y)
    assert xa.shape == x.shape and float(xa.max()) <= 1.0
    # the cue pixel of the label's class is lit on every image
    for k, (i, j) in enumerate(cue_positions(10)):
        assert torch.all(xa[y == k, 0, i, j] == 1.0)
    xb, cb = add_spurious_cue(x, y, p_align=0.1, seed=0)
    agree = float((cb == y).float().mean())
    assert 0.05 < agree < 0.15, agree          # broken: agrees about 1 time in 10
    xc, cc = add_spurious_cue(x, y, p_align=0.0, seed=0)
    assert not torch.any(cc == y)
    assert torch.equal(add_spurious_cue(x, y, 0.9, seed=4)[0], add_spurious_cue(x, y, 0.9, seed=4)[0])
    # the digit itself is untouched away from the border
    assert torch.equal(xa[..., 2:6, 2:6], x[..., 2:6, 2:6])


def test_spurious_cue_bad_inputs():
    x = torch.rand(4, 1, 8, 8)
    y = torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match="p_align"):
        add_spurious_cue(x, y, p_align=1.5)
    with pytest.raises(ValueError, match="labels"):
        add_spurious_cue(x, y, p_align=1.0, n_classes=3)
    with pytest.raises(ValueError, match="1-D tensor of 4 labels"):
        add_spurious_cue(x, y[:3])
    with pytest.raises(TypeError, match="integer class labels"):
        add_spurious_cue(x, y.float())
    with pytest.raises(ValueError, match="batch"):
        add_spurious_cue(x[0], y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        add_spurious_cue(x * 5, y)


def test_noise_with_sigma_is_the_suites_gaussian_noise():
    from utils.data import load_digits_split
    from utils.shift.corruptions import PARAMS, corrupt, noise_with_sigma

    x = load_digits_split().x_test[:20]
    for s in SEVERITIES:
        assert torch.equal(noise_with_sigma(x, PARAMS["gaussian_noise"][s - 1], seed=3),
                           corrupt(x, "gaussian_noise", s, seed=3))
    assert torch.equal(noise_with_sigma(x[0], 0.2, seed=1), noise_with_sigma(x[:1], 0.2, seed=1)[0])
    with pytest.raises(ValueError, match="sigma"):
        noise_with_sigma(x, -0.1)
