"""Small image operations that several lessons share: one validator, one Gaussian blur, one affine warp.

Images are float tensors with pixels in [0, 1], shaped ``(N, C, H, W)`` (a batch) or ``(C, H, W)`` (one image).
The corruption suite (lessons 01, 03, 04), the AugMix operations (lesson 03), the anomaly maps (lesson 04) and
the feature-visualisation code (lesson 05) all validate their inputs and blur or warp images with these functions,
so each rule (what counts as a valid image, how a Gaussian kernel is cut off, how borders are padded) is written once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["validate_images", "gaussian_kernel1d", "separable_blur", "gaussian_blur", "affine_warp"]


def validate_images(x: object, what: str = "x", *, dims: tuple[int, ...] = (3, 4), channels: int | None = None,
                    min_size: int = 4, value_range: tuple[float, float] | None = (0.0, 1.0), tol: float = 1e-6) -> None:
    """Raise a clear error unless ``x`` is a non-empty float tensor of images.

    ``dims``: the allowed numbers of dimensions (4 is ``(N, C, H, W)``, 3 is one image ``(C, H, W)``);
    ``channels``: the required number of channels, if any; ``min_size``: the smallest allowed height and width;
    ``value_range``: the allowed pixel range (``None`` for no range check, e.g. for standardised inputs).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch tensor (torch.Tensor) of images, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(
            f"{what} must be a floating-point tensor with pixels in [0, 1], got dtype {x.dtype} "
            f"(for uint8 images in [0, 255] use x.float() / 255)"
        )
    shapes = " or ".join({4: "(N, C, H, W)", 3: "(C, H, W) (one image)"}[d] for d in dims)
    if x.dim() not in dims:
        raise ValueError(f"{what} must have shape {shapes}, got shape {tuple(x.shape)}")
    if channels is not None and x.shape[-3] != channels:
        raise ValueError(f"{what} must have {channels} channel(s) in shape {shapes}, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{what} is empty (shape {tuple(x.shape)})")
    if x.shape[-1] < min_size or x.shape[-2] < min_size:
        raise ValueError(f"{what} images must be at least {min_size}x{min_size} pixels, got size {tuple(x.shape[-2:])}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if value_range is not None:
        lo, hi = float(x.min()), float(x.max())
        if lo < value_range[0] - tol or hi > value_range[1] + tol:
            raise ValueError(
                f"{what} must have pixels in [{value_range[0]:g}, {value_range[1]:g}], got values in "
                f"[{lo:.3g}, {hi:.3g}] (rescale first, e.g. x / x.max())"
            )


def gaussian_kernel1d(sigma: float, radius: int, dtype: torch.dtype = torch.float32,
                      device: torch.device | str | None = None) -> torch.Tensor:
    """The normalised 1-D Gaussian kernel ``exp(-k^2 / (2 sigma^2))`` for ``k = -radius .. radius``."""
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def separable_blur(x: torch.Tensor, kernel: torch.Tensor, padding: str = "replicate") -> torch.Tensor:
    """Convolve every channel of ``x`` (N, C, H, W) with ``kernel`` along rows, then columns.

    The image is padded by the kernel's radius with ``padding`` (``"replicate"``, ``"reflect"``, ...), so the
    output has the input's shape.
    """
    r = (kernel.numel() - 1) // 2
    c = x.shape[1]
    k = kernel.to(dtype=x.dtype, device=x.device)
    kh = k.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    kv = k.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode=padding), kh, groups=c)
    return F.conv2d(F.pad(y, (0, 0, r, r), mode=padding), kv, groups=c)


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int, padding: str = "replicate") -> torch.Tensor:
    """Separable Gaussian blur of ``x`` (N, C, H, W) with the kernel of :func:`gaussian_kernel1d`."""
    return separable_blur(x, gaussian_kernel1d(sigma, radius, x.dtype, x.device), padding)


def affine_warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` (N, C, H, W) with (N, 2, 3) affine matrices in normalised coordinates; zeros outside."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
