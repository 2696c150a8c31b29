"""utils.images: the one image validator, Gaussian blur and affine warp that the image lessons share."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from utils.images import affine_warp, gaussian_blur, gaussian_kernel1d, separable_blur, validate_images


def test_validator_accepts_images_and_names_each_problem():
    validate_images(torch.rand(2, 1, 8, 8))
    validate_images(torch.rand(1, 8, 8))
    with pytest.raises(TypeError, match="torch tensor"):
        validate_images([[0.0]])
    with pytest.raises(TypeError, match="x.float\\(\\) / 255"):
        validate_images(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        validate_images(torch.rand(8, 8))
    with pytest.raises(ValueError, match="1 channel"):
        validate_images(torch.rand(2, 3, 16, 16), dims=(4,), channels=1)
    with pytest.raises(ValueError, match="empty"):
        validate_images(torch.rand(0, 1, 8, 8))
    with pytest.raises(ValueError, match="at least 16x16"):
        validate_images(torch.rand(1, 1, 8, 8), min_size=16)
    with pytest.raises(ValueError, match="NaN"):
        validate_images(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\]"):
        validate_images(torch.rand(1, 1, 8, 8) * 3)
    validate_images(torch.randn(1, 1, 8, 8) * 3, value_range=None)  # standardised inputs may skip the range


def test_kernel_is_the_normalised_gaussian():
    k = gaussian_kernel1d(1.5, 4)
    t = torch.arange(-4, 5, dtype=torch.float32)
    want = torch.exp(-t ** 2 / (2 * 1.5 ** 2))
    torch.testing.assert_close(k, want / want.sum())
    assert math.isclose(float(k.sum()), 1.0, rel_tol=1e-6)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel1d(0.0, 2)


@pytest.mark.parametrize("padding", ["replicate", "reflect"])
def test_blur_matches_a_direct_2d_convolution_and_keeps_the_shape(padding):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 9, 11, generator=g)
    k = gaussian_kernel1d(0.9, 2)
    k2 = (k[:, None] * k[None, :]).expand(3, 1, 5, 5)
    want = F.conv2d(F.pad(x, (2, 2, 2, 2), mode=padding), k2, groups=3)
    got = gaussian_blur(x, 0.9, 2, padding=padding)
    assert got.shape == x.shape
    torch.testing.assert_close(got, want)
    const = torch.full((1, 1, 6, 6), 0.3)
    torch.testing.assert_close(separable_blur(const, torch.tensor([0.25, 0.5, 0.25])), const)


def test_affine_identity_and_shift():
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    eye = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(affine_warp(x, eye), x)
    shift = eye.clone()
    shift[:, 0, 2] = 2 / 8  # one pixel to the left: output column j samples input column j + 1
    out = affine_warp(x, shift)
    torch.testing.assert_close(out[..., :-1], x[..., 1:])
    assert torch.all(out[..., -1] == 0)
