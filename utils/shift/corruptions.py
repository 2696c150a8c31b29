"""A corruption and shift suite for small images (the 8x8 digits), in pure torch.

In the style of ImageNet-C (Hendrycks and Dietterich, 2019, https://arxiv.org/abs/1903.12261): each
corruption has five severities, and one call gives a corrupted copy of a batch.

>>> x_c = corrupt(x, "fog", severity=3, seed=0)      # x: (N, C, H, W) or (C, H, W), floats in [0, 1]

=================  ==========  ===============================================================
name               category    what it does (the parameter grows with the severity)
=================  ==========  ===============================================================
gaussian_noise     noise       adds N(0, sigma^2) noise to every pixel, then clips to [0, 1]
impulse_noise      noise       sets a fraction p of pixels to 0 or 1 ("salt and pepper")
blur               blur        Gaussian blur with standard deviation sigma pixels
contrast           weather     pulls every pixel towards the image mean by a factor c < 1
fog                weather     adds a smooth random haze and rescales (less contrast, uneven)
rotate             pose        rotates by +-angle degrees about the centre (the sign is random)
shift              pose        translates by d pixels in a random direction
elastic            shape       a smooth random displacement field of about a pixels
texture            texture     fills the strokes with a random stripe pattern of depth a
background         background  paints a random sinusoidal grating of amplitude a behind the strokes
=================  ==========  ===============================================================

The spurious-cue construction (a background mark that predicts the label in training and not at
test) is a *dataset-level* shift, so it is a separate function: :func:`add_spurious_cue`.

Every random choice comes from a local :class:`torch.Generator` seeded with ``seed``: the result is
a function of ``(x, name, severity, seed)`` only, and the global random state is never touched.
The random draws do not depend on the severity (only their scale does), so for a fixed seed each
image's corruption grows monotonically with the severity.
"""

from __future__ import annotations

import difflib
import math

import torch
import torch.nn.functional as F

from utils.images import affine_warp, gaussian_blur, validate_images

__all__ = [
    "CORRUPTIONS",
    "SEVERITIES",
    "CATEGORIES",
    "PARAMS",
    "corrupt",
    "corrupt_all",
    "noise_with_sigma",
    "add_spurious_cue",
    "cue_positions",
    "cue_balancing_weights",
    "plot_suite",
    "image_mosaic",
    "plot_accuracy_grid",
    "prediction_panel",
]

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "impulse_noise",
    "blur",
    "contrast",
    "fog",
    "rotate",
    "shift",
    "elastic",
    "texture",
    "background",
)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

CATEGORIES: dict[str, str] = {
    "gaussian_noise": "noise",
    "impulse_noise": "noise",
    "blur": "blur",
    "contrast": "weather",
    "fog": "weather",
    "rotate": "pose",
    "shift": "pose",
    "elastic": "shape",
    "texture": "texture",
    "background": "background",
}

# The parameter of each corruption at severities 1..5 (units in the table of the module docstring).
PARAMS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.08, 0.16, 0.24, 0.32, 0.42),   # sigma
    "impulse_noise": (0.04, 0.08, 0.13, 0.19, 0.27),    # fraction of pixels
    "blur": (0.4, 0.55, 0.7, 0.85, 1.05),               # sigma in pixels
    "contrast": (0.55, 0.4, 0.28, 0.18, 0.1),           # factor c (smaller is stronger)
    "fog": (0.4, 0.8, 1.3, 2.0, 3.0),                   # haze strength
    "rotate": (10.0, 20.0, 30.0, 40.0, 55.0),           # degrees
    "shift": (0.3, 0.6, 0.9, 1.25, 1.6),                # pixels
    "elastic": (0.2, 0.3, 0.42, 0.56, 0.75),            # pixels (std of the displacement)
    "texture": (0.2, 0.35, 0.5, 0.65, 0.8),             # stripe depth
    "background": (0.15, 0.3, 0.45, 0.6, 0.75),         # grating amplitude
}


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {', '.join(CORRUPTIONS)}; got {type(name).__name__}")
    if name not in CORRUPTIONS:
        close = difflib.get_close_matches(name, CORRUPTIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown corruption {name!r}.{hint} Valid names: {', '.join(CORRUPTIONS)}")
    return name


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                return int(value)
        except ImportError:  # pragma: no cover
            pass
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    return int(value)


def _check_severity(severity: object) -> int:
    s = _check_int(severity, "severity")
    if s not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {s}")
    return s


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------

def _rand(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=g, dtype=torch.float32)


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with replicate padding, the kernel cut at ceil(2.5 sigma) (at most the image size - 1)."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    return gaussian_blur(x, sigma, radius, padding="replicate")


def _smooth_field(g: torch.Tensor | torch.Generator, n: int, ch: int, h: int, w: int, coarse: int = 3) -> torch.Tensor:
    """A smooth random field (n, ch, h, w): Gaussian noise on a coarse grid, upsampled bilinearly."""
    z = _randn(g, n, ch, coarse, coarse)
    return F.interpolate(z, size=(h, w), mode="bicubic", align_corners=True)


def _grating(g: torch.Generator, n: int, h: int, w: int, period_lo: float, period_hi: float) -> torch.Tensor:
    """Random sinusoidal gratings in [0, 1], shape (n, 1, h, w): random orientation, period and phase."""
    ang = _rand(g, n) * math.pi
    period = period_lo + (period_hi - period_lo) * _rand(g, n)
    phase = _rand(g, n) * 2 * math.pi
    ii = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    jj = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    arg = (torch.cos(ang).view(n, 1, 1) * jj + torch.sin(ang).view(n, 1, 1) * ii) * (2 * math.pi / period.view(n, 1, 1))
    return (0.5 + 0.5 * torch.sin(arg + phase.view(n, 1, 1))).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# The corruptions: each takes (x of shape (N, C, H, W), parameter, generator), returns the same shape.
# ---------------------------------------------------------------------------------------------

def _gaussian_noise(x, p, g):
    return x + p * _randn(g, *x.shape).to(x)


def _impulse_noise(x, p, g):
    u = _rand(g, *x.shape).to(x)           # which pixels are hit: u < p (nested across severities)
    salt = _rand(g, *x.shape).to(x) < 0.5  # salt (1) or pepper (0)
    hit = u < p
    return torch.where(hit, salt.to(x.dtype), x)


def _blur(x, p, g):
    return _gaussian_blur(x, p)


def _contrast(x, p, g):
    m = x.mean(dim=(-1, -2, -3), keepdim=True)
    return (x - m) * p + m


def _fog(x, p, g):
    n, c, h, w = x.shape
    fog = _smooth_field(g, n, 1, h, w, coarse=3).to(x)
    lo = fog.amin(dim=(-1, -2), keepdim=True)
    hi = fog.amax(dim=(-1, -2), keepdim=True)
    fog = 0.3 + 0.7 * (fog - lo) / (hi - lo + 1e-8)       # a haze in [0.3, 1]
    return (x + p * fog) / (1.0 + p)


def _rotate(x, p, g):
    n = x.shape[0]
    sign = torch.where(_rand(g, n) < 0.5, -1.0, 1.0)
    a = sign * math.radians(p)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return affine_warp(x, theta.to(x.device))


def _shift(x, p, g):
    n, _, h, w = x.shape
    ang = _rand(g, n) * 2 * math.pi
    dx, dy = p * torch.cos(ang), p * torch.sin(ang)          # pixels
    one, zero = torch.ones(n), torch.zeros(n)
    # grid_sample reads the input at theta @ output-coords; shifting the content by +d means reading at -d.
    theta = torch.stack(
        [torch.stack([one, zero, -2 * dx / w], 1), torch.stack([zero, one, -2 * dy / h], 1)], 1
    )
    return affine_warp(x, theta.to(x.device))


def _elastic(x, p, g):
    n, _, h, w = x.shape
    disp = _smooth_field(g, n, 2, h, w, coarse=3)           # (n, 2, h, w), roughly unit std
    disp = disp / (disp.std(dim=(-1, -2), keepdim=True) + 1e-8)
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1).expand(n, h, w, 2).clone()
    grid[..., 0] += disp[:, 0] * p * 2 / w
    grid[..., 1] += disp[:, 1] * p * 2 / h
    return F.grid_sample(x, grid.to(x), mode="bilinear", padding_mode="zeros", align_corners=False)


def _texture(x, p, g):
    n, _, h, w = x.shape
    stripes = (_grating(g, n, h, w, 2.0, 3.0) > 0.5).to(x)   # binary stripes, period 2-3 px
    return x * (1.0 - p * stripes)


def _background(x, p, g):
    n, _, h, w = x.shape
    pattern = _grating(g, n, h, w, 3.0, 6.0).to(x)
    return x + (1.0 - x) * p * pattern


_FUNCS = {
    "gaussian_noise": _gaussian_noise,
    "impulse_noise": _impulse_noise,
    "blur": _blur,
    "contrast": _contrast,
    "fog": _fog,
    "rotate": _rotate,
    "shift": _shift,
    "elastic": _elastic,
    "texture": _texture,
    "background": _background,
}
assert set(_FUNCS) == set(CORRUPTIONS) == set(PARAMS) == set(CATEGORIES)


def corrupt(x: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """A corrupted copy of ``x``: corruption ``name`` at ``severity`` (1 = mild ... 5 = strong).

    ``x`` is a float tensor of images in [0, 1], shape (N, C, H, W) or a single image (C, H, W);
    the result has the same shape, dtype and device, with values in [0, 1]. ``x`` is not modified.
    The result is a deterministic function of ``(x, name, severity, seed)`` (a local generator is
    used; the global random state is untouched). Valid names: :data:`CORRUPTIONS`.
    """
    validate_images(x)
    name = _check_name(name)
    s = _check_severity(severity)
    seed = _check_int(seed, "seed")
    single = x.dim() == 3
    xb = x.unsqueeze(0) if single else x
    xb = xb.clamp(0.0, 1.0)
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = _FUNCS[name](xb, PARAMS[name][s - 1], g).clamp(0.0, 1.0).to(x.dtype)
    return out[0] if single else out


def noise_with_sigma(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Gaussian noise of standard deviation ``sigma`` on the batch ``x``, clipped to [0, 1], drawn as :func:`corrupt`
    draws it: ``corrupt(x, "gaussian_noise", s, seed)`` is ``noise_with_sigma(x, PARAMS["gaussian_noise"][s - 1],
    seed)``. Lesson 03's check uses it to test a learner's corruption on the learner's own severity scale."""
    validate_images(x)
    seed = _check_int(seed, "seed")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    single = x.dim() == 3
    xb = (x.unsqueeze(0) if single else x).clamp(0.0, 1.0)
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = _gaussian_noise(xb, float(sigma), g).clamp(0.0, 1.0).to(x.dtype)
    return out[0] if single else out


def corrupt_all(x: torch.Tensor, seed: int = 0, names: tuple[str, ...] | None = None) -> dict[tuple[str, int], torch.Tensor]:
    """``{(name, severity): corrupt(x, name, severity, seed)}`` for every corruption and severity."""
    names = CORRUPTIONS if names is None else tuple(_check_name(n) for n in names)
    return {(n, s): corrupt(x, n, s, seed) for n in names for s in SEVERITIES}


# ---------------------------------------------------------------------------------------------
# The spurious background cue (a dataset-level shift)
# ---------------------------------------------------------------------------------------------

def cue_positions(n_classes: int, h: int = 8, w: int = 8) -> list[tuple[int, int]]:
    """Where the cue mark goes for each class: distinct pixels on the image border, spread around it.

    The border of the 8x8 digits is (almost) always background, so a mark there never hides the digit.
    """
    border = (
        [(0, j) for j in range(w)] + [(i, w - 1) for i in range(1, h)]
        + [(h - 1, j) for j in range(w - 2, -1, -1)] + [(i, 0) for i in range(h - 2, 0, -1)]
    )
    if n_classes > len(border):
        raise ValueError(f"{n_classes} classes need {n_classes} border pixels; a {h}x{w} image has {len(border)}")
    step = len(border) / n_classes
    return [border[int(round(k * step)) % len(border)] for k in range(n_classes)]


def add_spurious_cue(
    x: torch.Tensor,
    y: torch.Tensor,
    p_align: float = 1.0,
    n_classes: int = 10,
    seed: int = 0,
    intensity: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stamp a background mark whose position encodes a class: a shortcut feature.

    Each image gets a bright mark of two pixels (value ``intensity``) on the border, starting at the
    position of class ``c`` (:func:`cue_positions`). With probability ``p_align`` the cue
    agrees with the label (``c = y``); otherwise ``c`` is drawn uniformly among the *other* classes.
    ``p_align=1.0`` makes the cue a perfect predictor (training); ``p_align=0.1`` (= 1 / n_classes)
    makes it independent of the label (a test set where the shortcut is broken).

    Returns ``(x_cued, cue_class)``; ``x`` (shape (N, C, H, W), floats in [0, 1]) is not modified.
    """
    validate_images(x)
    if x.dim() != 4:
        raise ValueError(f"x must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must be a 1-D tensor of {x.shape[0]} labels, got {getattr(y, 'shape', type(y))}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    n_classes = _check_int(n_classes, "n_classes")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes - 1}], got [{int(y.min())}, {int(y.max())}]")
    if not 0.0 <= float(p_align) <= 1.0:
        raise ValueError(f"p_align must be a probability in [0, 1], got {p_align}")
    if not 0.0 <= float(intensity) <= 1.0:
        raise ValueError(f"intensity must be in [0, 1], got {intensity}")
    seed = _check_int(seed, "seed")
    g = torch.Generator(device="cpu").manual_seed(seed)
    n, _, h, w = x.shape
    yc = y.detach().cpu().long()
    aligned = _rand(g, n) < float(p_align)
    other = (yc + 1 + torch.randint(0, n_classes - 1, (n,), generator=g)) % n_classes
    cue = torch.where(aligned, yc, other)
    pos = cue_positions(n_classes, h, w)
    out = x.clone()
    for k, (i, j) in enumerate(pos):
        idx = (cue == k).nonzero().flatten().to(x.device)
        if len(idx) == 0:
            continue
        # a 2-pixel mark along the border (a single pixel is easy to miss on 8x8)
        i2, j2 = (i, min(j + 1, w - 1)) if i in (0, h - 1) else (min(i + 1, h - 1), j)
        out[idx, :, i, j] = intensity
        out[idx, :, i2, j2] = intensity
    return out, cue.to(y.device)


def cue_balancing_weights(y: torch.Tensor, cue: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Importance weights that make the cue independent of the label in the weighted training set.

    Two groups: *aligned* (cue = label) and *conflicting*. If the cue were independent of the label, a
    fraction 1 / n_classes of the examples would be aligned; each example gets the weight
    (target fraction of its group) / (observed fraction of its group). The weights average to 1.
    """
    if not isinstance(y, torch.Tensor) or not isinstance(cue, torch.Tensor) or y.shape != cue.shape or y.dim() != 1:
        raise ValueError("y and cue must be 1-D tensors of the same length")
    n_classes = _check_int(n_classes, "n_classes")
    aligned = cue == y
    frac = float(aligned.float().mean())
    if frac in (0.0, 1.0):
        raise ValueError(
            "every example is in one group (cue always " + ("agrees" if frac == 1.0 else "disagrees")
            + " with the label): reweighting cannot break the shortcut; it needs some conflicting examples"
        )
    target = 1.0 / n_classes
    return torch.where(aligned, target / frac, (1 - target) / (1 - frac)).float()


# ---------------------------------------------------------------------------------------------
# Figures (plain functions that return a matplotlib figure; the notebook's widget calls them)
# ---------------------------------------------------------------------------------------------

def plot_suite(image: torch.Tensor, seed: int = 0, names: tuple[str, ...] | None = None):
    """Every corruption (rows) at every severity (columns, after the clean image) for one image (C, H, W)."""
    import matplotlib.pyplot as plt

    validate_images(image, "image")
    if image.dim() != 3:
        raise ValueError(f"image must be one image (C, H, W), got shape {tuple(image.shape)}")
    names = CORRUPTIONS if names is None else tuple(_check_name(n) for n in names)
    rows = [[image] + [corrupt(image, n, s, seed) for s in SEVERITIES] for n in names]
    fig = image_mosaic([img for row in rows for img in row], ncols=len(SEVERITIES) + 1,
                       col_labels=["clean"] + [f"severity {s}" for s in SEVERITIES],
                       row_labels=[f"{n}\n({CATEGORIES[n]})" for n in names])
    return fig


def image_mosaic(images, ncols: int, titles=None, col_labels=None, row_labels=None, suptitle: str | None = None,
                 size: float = 1.0):
    """Images (C, H, W) or (H, W) of one size, tiled row by row into ONE axes (the first channel is shown).

    Much cheaper to draw than one axes per image (what makes a figure of dozens of digits slow). ``titles`` label
    each tile, ``col_labels`` / ``row_labels`` the columns and rows; returns the figure.
    """
    import matplotlib.pyplot as plt

    tiles = [torch.as_tensor(im).detach().cpu().float() for im in images]
    if not tiles:
        raise ValueError("image_mosaic needs at least one image")
    tiles = [t[0] if t.dim() == 3 else t for t in tiles]
    h, w = tiles[0].shape
    if any(t.shape != (h, w) for t in tiles):
        raise ValueError("image_mosaic needs images of one size")
    ncols = max(1, min(int(ncols), len(tiles)))
    nrows = (len(tiles) + ncols - 1) // ncols
    gap = max(1, h // 8)
    pad = 3 * gap if titles is not None else 0              # room above each row for the tiles' titles
    th = h + gap + pad
    mosaic = torch.ones(nrows * th - gap, ncols * (w + gap) - gap)
    for k, t in enumerate(tiles):
        r, c = divmod(k, ncols)
        mosaic[r * th + pad:r * th + pad + h, c * (w + gap):c * (w + gap) + w] = t
    fig, ax = plt.subplots(figsize=(size * ncols + (1.2 if row_labels else 0),
                                    size * nrows * th / (h + gap) + (0.4 if suptitle else 0)))
    ax.imshow(mosaic.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([c * (w + gap) + (w - 1) / 2 for c in range(ncols)] if col_labels else [],
                  list(col_labels) if col_labels else [], fontsize=8)
    ax.xaxis.tick_top()
    ax.set_yticks([r * th + pad + (h - 1) / 2 for r in range(nrows)] if row_labels else [],
                  list(row_labels) if row_labels else [], fontsize=8)
    for k, title in enumerate(titles or []):
        if title:
            r, c = divmod(k, ncols)
            ax.text(c * (w + gap) + (w - 1) / 2, r * th + pad - 0.8, title, ha="center", va="bottom", fontsize=7)
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def plot_accuracy_grid(curves: dict, clean: dict | None = None, names: tuple[str, ...] | None = None):
    """Accuracy against severity, one small panel per corruption.

    ``curves[label][name]`` is an array (seeds, 5) or a list of 5 accuracies; with several seeds the
    panel shows the mean and a band of +- one standard deviation. ``clean[label]`` (optional) is the
    clean accuracy, drawn at severity 0.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    names = CORRUPTIONS if names is None else names
    ncols = 5
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 1.9 * nrows), sharex=True, sharey=True, squeeze=False)
    xs = np.arange(0, len(SEVERITIES) + 1)
    for i, n in enumerate(names):
        ax = axes.flat[i]
        for label, per_name in curves.items():
            a = np.atleast_2d(np.asarray(per_name[n], dtype=float))
            c0 = np.atleast_1d(np.asarray(clean[label], dtype=float)) if clean is not None else None
            if c0 is not None:
                a = np.concatenate([np.broadcast_to(c0.reshape(-1, 1), (a.shape[0], 1)), a], axis=1)
                x = xs
            else:
                x = xs[1:]
            mean, sd = a.mean(0), a.std(0)
            line, = ax.plot(x, mean, marker="o", ms=3, label=label)
            if a.shape[0] > 1:
                ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
        ax.set_title(n, fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.set_xticks(xs if clean is not None else xs[1:])
    for j in range(len(names), nrows * ncols):
        axes.flat[j].axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("severity")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def prediction_panel(models: dict, x: torch.Tensor, y: torch.Tensor, name: str, severity: int, seed: int = 0,
                     n_show: int = 8):
    """Corrupt ``x`` with ``name`` at ``severity`` (0 = clean) and show ``n_show`` images with each model's
    predictions (green right, red wrong) and each model's accuracy on the whole of ``x``. Returns the figure."""
    import matplotlib.pyplot as plt

    name = _check_name(name)
    severity = _check_int(severity, "severity")
    if severity != 0:
        _check_severity(severity)
    if not models:
        raise ValueError("models must be a non-empty dict {label: model}")
    xc = x if severity == 0 else corrupt(x, name, severity, seed)
    preds, accs = {}, {}
    with torch.no_grad():
        for label, m in models.items():
            was = m.training
            m.eval()
            p = m(xc).argmax(1)
            m.train(was)
            preds[label], accs[label] = p, float((p == y).float().mean())
    n_show = min(n_show, len(x))
    fig, axes = plt.subplots(1, n_show, figsize=(1.25 * n_show, 2.0 + 0.25 * len(models)), squeeze=False)
    for i in range(n_show):
        ax = axes[0, i]
        ax.imshow(xc[i, 0].detach().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        ax.set_title(f"label {int(y[i])}", fontsize=8)
        lines = []
        for label in models:
            ok = int(preds[label][i]) == int(y[i])
            lines.append((f"{label[:8]}: {int(preds[label][i])}", "green" if ok else "red"))
        for k, (txt, col) in enumerate(lines):
            ax.text(0.5, -0.12 - 0.16 * k, txt, transform=ax.transAxes, ha="center", va="top", fontsize=7, color=col)
    what = "clean" if severity == 0 else f"{name}, severity {severity}"
    summary = ", ".join(f"{k} {v:.1%}" for k, v in accs.items())
    fig.suptitle(f"{what}: accuracy on all {len(x)} test images: {summary}", fontsize=9)
    fig.tight_layout()
    return fig
