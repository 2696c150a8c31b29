"""Anomaly localisation on small, offline texture images (lesson 04, second half).

Procedurally generated woven textures (:func:`weave_textures`) are the normal class; scratches, holes, stains and
smudges (:func:`add_defects`, :func:`defect_test_set`) are test defects with pixel-exact ground-truth masks. A small
fully convolutional network (:class:`LocalisationNet`) is trained by :func:`train_localiser` on *synthetic*
anomalies only: rectangles cut from another normal image, jittered in contrast and brightness, and pasted at a
random place (:func:`paste_patch`). The defect types used at test time are never made during training.

What this is of the papers the lesson cites: the cut-and-paste rectangle with a jitter of its pixel values is
CutPaste's augmentation (Li et al. 2021), but CutPaste trains a *classifier* (normal vs pasted) and scores images
with a Gaussian density of its features; taking the patch from another image and training a network to *segment*
the paste pixel by pixel is NSA's set-up (Schlueter et al. 2022), but NSA blends the patch in with Poisson image
editing, rescales it, may paste several, and labels only the pixels the blend changed. None of those NSA parts is
built here: our pastes have hard edges and the label is the whole rectangle.

The trusted implementations of the lesson's exercises 3 and 4 are :func:`paste_patch` and :func:`smooth_maps` (the
latter is :func:`utils.images.gaussian_blur` with reflect padding). The baselines of every localisation number are
:func:`random_maps`, :func:`intensity_maps` and :func:`local_statistics_maps` (no learning at all).

Every random choice comes from a local :class:`torch.Generator`, so results are functions of the seeds given and
the global random state is never touched.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from utils.images import gaussian_blur, validate_images

__all__ = [
    "DEFECT_TYPES",
    "PASTE_SIZE",
    "CONTRAST_RANGE",
    "BRIGHTNESS_RANGE",
    "weave_textures",
    "add_defects",
    "DefectSet",
    "defect_test_set",
    "sample_paste_params",
    "paste_patch",
    "smooth_maps",
    "random_maps",
    "intensity_maps",
    "local_statistics_maps",
    "per_type_pixel_auroc",
    "synthetic_anomalies",
    "synthetic_anomaly_set",
    "LocalisationNet",
    "cell_loss",
    "train_localiser",
    "anomaly_maps",
    "receptive_field",
    "image_scores",
    "image_auroc",
    "pixel_auroc",
    "per_type_image_auroc",
    "detection_stats",
    "detection_figure",
    "localisation_figure",
    "validate_maps",
]

DEFECT_TYPES: tuple[str, ...] = ("scratch", "hole", "stain", "smudge")
PASTE_SIZE: tuple[int, int] = (4, 12)            # side lengths of pasted rectangles, in pixels (inclusive)
CONTRAST_RANGE: tuple[float, float] = (0.1, 1.5)  # contrast factor of a pasted patch, log-uniform
BRIGHTNESS_RANGE: tuple[float, float] = (-0.3, 0.3)  # brightness offset of a pasted patch, uniform


# ---------------------------------------------------------------------------------------------
# Validation helpers
# ---------------------------------------------------------------------------------------------

def _generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    if seed is None:
        seed = 0
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return torch.Generator().manual_seed(int(seed))


def _positive_int(value: object, what: str, minimum: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _validate_images(x: object, what: str = "x") -> None:
    """Grey images (N, 1, H, W) of at least 16x16 pixels in [0, 1]."""
    validate_images(x, what, dims=(4,), channels=1, min_size=16)


def validate_maps(maps: object, what: str = "maps") -> None:
    """Raise a clear error unless ``maps`` is a finite float tensor of shape (N, H, W)."""
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (N, H, W), got {type(maps).__name__}")
    if not torch.is_floating_point(maps):
        raise TypeError(f"{what} must be a float tensor, got dtype {maps.dtype}")
    if maps.dim() != 3:
        raise ValueError(f"{what} must have shape (N, H, W) (one map per image), got {tuple(maps.shape)}")
    if maps.numel() == 0:
        raise ValueError(f"{what} is empty")
    if not torch.isfinite(maps).all():
        raise ValueError(f"{what} contains NaN or infinite values")


def _kind(kind: object) -> str:
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, one of {', '.join(DEFECT_TYPES)}; got {type(kind).__name__}")
    if kind not in DEFECT_TYPES:
        close = difflib.get_close_matches(kind, DEFECT_TYPES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown defect type {kind!r}; choose one of {', '.join(DEFECT_TYPES)}.{hint}")
    return kind


# ---------------------------------------------------------------------------------------------
# Part 2: textures, defects and synthetic anomalies
# ---------------------------------------------------------------------------------------------

def weave_textures(n: int, size: int = 32, seed: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` images (n, 1, size, size) in [0, 1] of a woven texture: the normal class.

    Two crossed sinusoidal gratings (period about 8 pixels, orientation 20 degrees) with random phases, a small
    random jitter of orientation and period, a faint illumination gradient and pixel noise. Every image is
    different, but all share the same local statistics, which is what "normal" means here.
    """
    n = _positive_int(n, "n")
    size = _positive_int(size, "size", minimum=16)
    g = _generator(seed, generator)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    theta = (math.radians(20.0) + math.radians(3.0) * torch.randn(n, generator=g))[:, None, None]
    freq = ((1 / 8.0) * (1 + 0.04 * torch.randn(n, generator=g)))[:, None, None]
    p1 = 2 * math.pi * torch.rand(n, generator=g)[:, None, None]
    p2 = 2 * math.pi * torch.rand(n, generator=g)[:, None, None]
    u = xx * torch.cos(theta) + yy * torch.sin(theta)
    v = -xx * torch.sin(theta) + yy * torch.cos(theta)
    a, b = torch.sin(2 * math.pi * freq * u + p1), torch.sin(2 * math.pi * freq * v + p2)
    img = 0.5 + 0.15 * a + 0.15 * b + 0.08 * a * b
    grad = torch.rand(n, 2, generator=g) - 0.5
    img = img + 0.1 * (grad[:, 0, None, None] * (xx / size - 0.5) + grad[:, 1, None, None] * (yy / size - 0.5))
    img = img + 0.04 * torch.randn(n, size, size, generator=g)
    return img.clamp(0, 1).unsqueeze(1)


def add_defects(x: torch.Tensor, kind: str, seed: int | None = None, generator: torch.Generator | None = None,
                strength: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Put one defect of type ``kind`` in each image of ``x`` (N, 1, H, W); return (defective copy, masks).

    ``masks`` is a bool tensor (N, H, W), True on the defect's pixels. ``x`` is not modified.

    * ``scratch``: a thin straight line (8-17 px long, about 1.4 px wide) made brighter or darker by 0.35;
    * ``hole``: a disc (radius 1.5-3 px) darkened by 70%;
    * ``stain``: a soft Gaussian blob (sigma 3-5 px) of brightness +-0.25; the mask is where it exceeds 30%;
    * ``smudge``: the pattern is smeared into its local 7x7 mean inside a soft blob (sigma 3-5 px).

    ``strength`` (0 < strength <= 2) scales every defect's amplitude.
    """
    _validate_images(x)
    kind = _kind(kind)
    if not isinstance(strength, (int, float)) or isinstance(strength, bool) or not 0 < strength <= 2:
        raise ValueError(f"strength must be a number in (0, 2], got {strength!r}")
    g = _generator(seed, generator)
    n, _, h, w = x.shape
    out = x.clone()
    masks = torch.zeros(n, h, w, dtype=torch.bool)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    if kind == "smudge":
        local_mean = F.avg_pool2d(x, 7, stride=1, padding=3, count_include_pad=False)
    for i in range(n):
        cy = 6 + float(torch.rand(1, generator=g)) * (h - 12)
        cx = 6 + float(torch.rand(1, generator=g)) * (w - 12)
        sign = 1.0 if float(torch.rand(1, generator=g)) < 0.5 else -1.0
        r2 = (yy - cy) ** 2 + (xx - cx) ** 2
        if kind == "scratch":
            angle = float(torch.rand(1, generator=g)) * math.pi
            length = float(torch.randint(8, 18, (1,), generator=g))
            across = (-(xx - cx) * math.sin(angle) + (yy - cy) * math.cos(angle)).abs()
            along = ((xx - cx) * math.cos(angle) + (yy - cy) * math.sin(angle)).abs()
            m = (across < 0.7) & (along < length / 2)
            out[i, 0][m] += sign * 0.35 * strength
        elif kind == "hole":
            radius = 1.5 + 1.5 * float(torch.rand(1, generator=g))
            m = r2 < radius**2
            out[i, 0][m] *= 1 - 0.7 * min(strength, 1.0 / 0.7)
        else:
            s = 3.0 + 2.0 * float(torch.rand(1, generator=g))
            blob = torch.exp(-r2 / (2 * s * s))
            m = blob > 0.3
            if kind == "stain":
                out[i, 0] += sign * 0.25 * strength * blob
            else:  # smudge
                alpha = (0.8 * strength * blob).clamp(max=1.0)
                out[i, 0] = out[i, 0] * (1 - alpha) + local_mean[i, 0] * alpha
        masks[i] = m
    return out.clamp(0, 1), masks


@dataclass(frozen=True)
class DefectSet:
    """Test images (N, 1, H, W), their defect masks (N, H, W, bool) and kinds ("normal" or a defect type)."""

    images: torch.Tensor
    masks: torch.Tensor
    kinds: tuple[str, ...]

    @property
    def is_defective(self) -> np.ndarray:
        return np.array([k != "normal" for k in self.kinds])

    def __len__(self) -> int:
        return len(self.kinds)

    def __repr__(self) -> str:
        counts = {k: self.kinds.count(k) for k in dict.fromkeys(self.kinds)}
        return f"DefectSet({len(self)} images {tuple(self.images.shape[1:])}: {counts})"


def defect_test_set(n_normal: int = 100, n_per_type: int = 50, size: int = 32, seed: int = 1000,
                    kinds: Sequence[str] = DEFECT_TYPES, strength: float = 1.0) -> DefectSet:
    """Normal textures plus ``n_per_type`` defective textures of each kind, with masks, from one seed."""
    n_normal = _positive_int(n_normal, "n_normal")
    n_per_type = _positive_int(n_per_type, "n_per_type")
    kinds = tuple(_kind(k) for k in kinds)
    g = _generator(seed, None)
    images = [weave_textures(n_normal, size, generator=g)]
    masks = [torch.zeros(n_normal, size, size, dtype=torch.bool)]
    labels = ["normal"] * n_normal
    for k in kinds:
        xd, md = add_defects(weave_textures(n_per_type, size, generator=g), k, generator=g, strength=strength)
        images.append(xd)
        masks.append(md)
        labels += [k] * n_per_type
    return DefectSet(torch.cat(images), torch.cat(masks), tuple(labels))


PasteFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def sample_paste_params(n: int, size: int, generator: torch.Generator) -> list[dict]:
    """Random CutPaste parameters for ``n`` images of ``size`` x ``size`` pixels: one dict per image.

    Each dict has ``source`` (index of another image of the batch), ``src_yx`` and ``dst_yx`` (top-left corners),
    ``size_hw`` (sides in ``PASTE_SIZE``), ``contrast`` (log-uniform in ``CONTRAST_RANGE``: faded and
    strengthened patches alike, a factor being a scale) and ``brightness``
    (uniform in ``BRIGHTNESS_RANGE``).
    """
    n = _positive_int(n, "n", minimum=2)
    lo, hi = PASTE_SIZE
    hw = torch.randint(lo, hi + 1, (n, 2), generator=generator)
    u = torch.rand(n, 6, generator=generator)
    shift = torch.randint(1, n, (n,), generator=generator)
    log_c = (math.log(CONTRAST_RANGE[0]), math.log(CONTRAST_RANGE[1]))
    # positions in float32 tensor arithmetic, as element by element, then truncated: the same numbers, computed at once
    room = size - hw + 1                                                     # (n, 2): rows, columns
    yx = (u[:, :4] * torch.cat([room, room], dim=1)).long().tolist()        # src y, src x, dst y, dst x
    sizes, sources, uc, ub = hw.tolist(), ((torch.arange(n) + shift) % n).tolist(), u[:, 4].tolist(), u[:, 5].tolist()
    return [{
        "source": sources[i],
        "src_yx": (yx[i][0], yx[i][1]),
        "dst_yx": (yx[i][2], yx[i][3]),
        "size_hw": (sizes[i][0], sizes[i][1]),
        "contrast": math.exp(log_c[0] + (log_c[1] - log_c[0]) * uc[i]),
        "brightness": BRIGHTNESS_RANGE[0] + (BRIGHTNESS_RANGE[1] - BRIGHTNESS_RANGE[0]) * ub[i],
    } for i in range(n)]


def _yx(v: object, what: str) -> tuple[int, int]:
    if not (isinstance(v, (tuple, list)) and len(v) == 2
            and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in v)):
        raise TypeError(f"{what} must be a pair of ints (row, column), got {v!r}")
    return int(v[0]), int(v[1])


def paste_patch(target: torch.Tensor, source: torch.Tensor, src_yx: tuple[int, int], dst_yx: tuple[int, int],
                size_hw: tuple[int, int], contrast: float, brightness: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut ``source[:, sy:sy+h, sx:sx+w]``, jitter it about its own mean and paste it into a copy of ``target``.

    ``target`` and ``source`` are single images (C, H, W) in [0, 1]; positions are (row, column) of the top-left
    corner, ``size_hw`` is (height, width). The pasted values are ``clip((p - mean(p)) * contrast + mean(p) +
    brightness, 0, 1)``. Returns ``(image, mask)``: the new image (C, H, W) and a bool mask (H, W), True exactly on
    the pasted rectangle. Neither input is modified.
    """
    validate_images(target, "target", dims=(3,), min_size=1)
    validate_images(source, "source", dims=(3,), min_size=1)
    if target.shape != source.shape:
        raise ValueError(f"target and source must have the same shape, got {tuple(target.shape)} and "
                         f"{tuple(source.shape)}")
    (sy, sx), (dy, dx), (h, w) = _yx(src_yx, "src_yx"), _yx(dst_yx, "dst_yx"), _yx(size_hw, "size_hw")
    H, W = target.shape[1:]
    if h < 1 or w < 1:
        raise ValueError(f"size_hw must be positive, got {(h, w)}")
    for (y, x), what in (((sy, sx), "src_yx"), ((dy, dx), "dst_yx")):
        if not (0 <= y <= H - h and 0 <= x <= W - w):
            raise ValueError(f"a {h}x{w} patch at {what}={(y, x)} does not fit in a {H}x{W} image")
    for v, what in ((contrast, "contrast"), (brightness, "brightness")):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise TypeError(f"{what} must be a finite number, got {v!r}")
    patch = source[:, sy:sy + h, sx:sx + w]
    mean = patch.mean()
    out = target.clone()
    out[:, dy:dy + h, dx:dx + w] = ((patch - mean) * contrast + mean + brightness).clamp(0, 1)
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[dy:dy + h, dx:dx + w] = True
    return out, mask


def synthetic_anomalies(x: torch.Tensor, paste_fn: PasteFn, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``paste_fn`` once to every image of ``x`` (N, 1, H, W) with random parameters.

    ``paste_fn(target, source, src_yx, dst_yx, size_hw, contrast, brightness) -> (image, mask)`` works on one
    image (1, H, W); this function draws the parameters (:func:`sample_paste_params`) and checks what comes back.
    Returns the anomalous images (N, 1, H, W) and float masks (N, 1, H, W) in {0, 1}.
    """
    _validate_images(x)
    if not callable(paste_fn):
        raise TypeError(f"paste_fn must be a function, got {type(paste_fn).__name__}")
    n, _, h, w = x.shape
    if h != w:
        raise ValueError(f"synthetic_anomalies expects square images, got {h}x{w}")
    outs, masks = [], []
    for i, p in enumerate(sample_paste_params(n, h, generator)):
        try:
            res = paste_fn(x[i], x[p["source"]], p["src_yx"], p["dst_yx"], p["size_hw"], p["contrast"],
                           p["brightness"])
        except NotImplementedError:
            from utils.checks import not_implemented

            raise not_implemented(getattr(paste_fn, "__name__", "paste_fn")) from None
        if not (isinstance(res, tuple) and len(res) == 2):
            raise TypeError("paste_fn must return a tuple (image, mask)")
        img, m = res
        if not isinstance(img, torch.Tensor) or tuple(img.shape) != (1, h, w):
            raise ValueError(f"paste_fn must return an image of shape (1, {h}, {w}), got "
                             f"{tuple(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__}")
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != (h, w):
            raise ValueError(f"paste_fn must return a mask of shape ({h}, {w}), got "
                             f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
        outs.append(img)
        masks.append(m.float())
    return torch.stack(outs), torch.stack(masks).unsqueeze(1)


def synthetic_anomaly_set(paste_fn: PasteFn, n: int = 200, size: int = 32, seed: int = 500) -> DefectSet:
    """A validation set made *only* with synthetic anomalies: ``n`` normal and ``n`` pasted textures.

    It is what a practitioner has before seeing a real defect, so settings (such as the smoothing width)
    are chosen on it, never on the test defects.
    """
    n = _positive_int(n, "n", minimum=2)
    g = _generator(seed, None)
    normal = weave_textures(n, size, generator=g)
    xa, ma = synthetic_anomalies(weave_textures(n, size, generator=g), paste_fn, g)
    return DefectSet(torch.cat([normal, xa]),
                     torch.cat([torch.zeros(n, size, size, dtype=torch.bool), ma[:, 0] > 0.5]),
                     ("normal",) * n + ("pasted",) * n)


class LocalisationNet(nn.Module):
    """A small fully convolutional network: image (N, 1, H, W) -> anomaly logits (N, 1, H, W).

    One 3x3 convolution at full resolution, a stride-2 convolution, two 3x3 convolutions (the second dilated)
    at half resolution, and a 1x1 convolution that scores each 2x2 cell. :meth:`cell_logits` gives those cell
    scores; :meth:`forward` repeats each of them over its 2x2 pixels (nearest-neighbour upsampling), so the raw map
    is blocky. (CutPaste's patch model spreads its patch scores over the pixels with a Gaussian filter instead, and
    PatchCore upsamples bilinearly, then smooths.) Use :func:`receptive_field` and ``utils.models.count_parameters``
    for its size rather than quoting numbers.
    """

    def __init__(self, width: int = 16):
        super().__init__()
        width = _positive_int(width, "width")
        w2 = 2 * width
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, w2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w2, w2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w2, w2, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(w2, 1, 1),
        )

    def cell_logits(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per 2x2 cell: (N, 1, H/2, W/2)."""
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] % 2 or x.shape[3] % 2:
            raise ValueError(f"LocalisationNet expects (N, 1, H, W) with even H and W, got {tuple(x.shape)}")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.cell_logits(x), scale_factor=2, mode="nearest")


def receptive_field(model: nn.Module) -> int:
    """Side in pixels of the input window that one output cell of a plain conv stack (``model.body``) sees."""
    body = getattr(model, "body", model)
    rf, jump = 1, 1
    for layer in body:
        if isinstance(layer, nn.Conv2d):
            k = (layer.kernel_size[0] - 1) * layer.dilation[0] + 1
            rf += (k - 1) * jump
            jump *= layer.stride[0]
    return rf


def cell_loss(cell_logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The per-pixel binary cross-entropy of a map whose 2x2 cells repeat one logit, computed once per cell.

    ``cell_logits`` (N, 1, H/2, W/2), ``masks`` (N, 1, H, W) in {0, 1}. Equal to
    ``binary_cross_entropy_with_logits(nearest_upsample(cell_logits), masks)``: the loss is linear in the target, so
    the four pixels of a cell sum to four times the loss against the cell's mean mask.
    """
    return F.binary_cross_entropy_with_logits(cell_logits, F.avg_pool2d(masks, 2))


def train_localiser(paste_fn: PasteFn, seed: int = 0, steps: int = 400, batch_size: int = 16, lr: float = 4e-3,
                    size: int = 32, width: int = 16, progress: bool = True) -> tuple[LocalisationNet, list[float]]:
    """Train a :class:`LocalisationNet` to segment synthetic anomalies made by ``paste_fn``.

    Each step draws ``batch_size`` fresh normal textures; the second half get one pasted patch each
    (:func:`synthetic_anomalies`). The loss is the per-pixel binary cross-entropy between the network's logits
    and the paste masks (zero for the untouched half). Adam, ``steps`` steps. Returns (model in eval mode,
    loss per step). The model never sees a test defect type.

    Two details make it about a third cheaper on a CPU without changing what is computed: the network runs in the
    channels-last memory layout, and since every pixel of a 2x2 cell carries the same logit, the per-pixel loss is
    computed once per cell against the cell's share of pasted pixels (the same number: the cross-entropy is linear
    in the target; ``tests/anomaly`` checks it).
    """
    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size", minimum=4)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    g = _generator(seed, None)
    with torch.random.fork_rng(devices=[]):   # the initial weights come from the seed; the global state is restored
        torch.manual_seed(int(seed))
        model = LocalisationNet(width).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)   # the same numbers as the default loop
    half = batch_size // 2
    losses: list[float] = []
    model.train()
    bar = tqdm(range(steps), desc=f"train localiser (seed {seed})", disable=not progress, leave=False)
    for _ in bar:
        x = weave_textures(batch_size, size, generator=g)
        xa, ma = synthetic_anomalies(x[half:], paste_fn, g)
        xb = torch.cat([x[:half], xa]).contiguous(memory_format=torch.channels_last)
        mb = torch.cat([torch.zeros(half, 1, size, size), ma])
        loss = cell_loss(model.cell_logits(xb), mb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    model.to(memory_format=torch.contiguous_format).eval()
    return model, losses


@torch.no_grad()
def anomaly_maps(model: nn.Module, x: torch.Tensor, batch_size: int = 256, upsample: str = "nearest") -> torch.Tensor:
    """Per-pixel anomaly probabilities (N, H, W) of ``model`` on images ``x`` (N, 1, H, W).

    ``upsample="nearest"`` is the network's own output (each cell score repeated over its 2x2 pixels);
    ``"bilinear"`` interpolates the cell logits instead (a control: how much of what smoothing gains is only
    undoing the blocky upsampling?).
    """
    _validate_images(x)
    if upsample not in ("nearest", "bilinear"):
        raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}")
    was = model.training
    model.eval()
    outs = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if upsample == "nearest":
            z = model(xb)
        else:
            z = F.interpolate(model.cell_logits(xb), size=tuple(xb.shape[-2:]), mode="bilinear", align_corners=False)
        outs.append(torch.sigmoid(z)[:, 0])
    model.train(was)
    return torch.cat(outs)


def smooth_maps(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of anomaly maps (N, H, W) that keeps their shape (trusted version of exercise 4).

    The separable kernel ``exp(-k^2 / (2 sigma^2))``, ``k = -r..r`` with ``r = int(3 sigma + 0.5)``, normalised to
    sum 1 (:func:`utils.images.gaussian_blur`); each map is padded by ``r`` with reflection, so borders are neither
    darkened nor lost. ``sigma == 0`` returns a copy.
    """
    validate_maps(maps)
    if not isinstance(sigma, (int, float, np.floating)) or isinstance(sigma, bool) or not math.isfinite(sigma) \
            or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if sigma == 0:
        return maps.clone()
    r = int(3 * sigma + 0.5)
    if r >= min(maps.shape[-2:]):
        raise ValueError(f"sigma {sigma:g} needs a radius of {r} pixels, too large for maps of size "
                         f"{tuple(maps.shape[-2:])} (reflect padding needs radius < size)")
    return gaussian_blur(maps[:, None], float(sigma), radius=r, padding="reflect")[:, 0]


# ---------------------------------------------------------------------------------------------
# Baselines: maps that need no learning
# ---------------------------------------------------------------------------------------------

def random_maps(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` maps of independent uniform noise: the chance level of every image and pixel AUROC."""
    g = _generator(seed, None)
    return torch.rand(_positive_int(n, "n"), _positive_int(size, "size"), _positive_int(size, "size"), generator=g)


def intensity_maps(x: torch.Tensor, normal: torch.Tensor) -> torch.Tensor:
    """How far each pixel's value is from the mean pixel value of normal images: ``|x - mean(normal)|`` (N, H, W).

    The simplest detector of a bright or dark defect; it knows nothing about the weave.
    """
    _validate_images(x)
    _validate_images(normal, "normal")
    return (x[:, 0] - float(normal.mean())).abs()


def local_statistics_maps(x: torch.Tensor, normal: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Distance of each pixel's local statistics from those of normal textures (N, H, W); no learning.

    In a ``window`` x ``window`` neighbourhood (about one period of the weave) the local mean and local standard
    deviation are computed; each is turned into a z-score with the mean and spread it has over all pixels of the
    ``normal`` images, and the map is the sum of the two absolute z-scores. Stains and holes shift the local mean;
    smudges and scratches change the local contrast.
    """
    _validate_images(x)
    _validate_images(normal, "normal")
    window = _positive_int(window, "window", minimum=3)
    if window % 2 == 0:
        raise ValueError(f"window must be odd (centred on the pixel), got {window}")

    def stats(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = window // 2
        m = F.avg_pool2d(img, window, stride=1, padding=p, count_include_pad=False)
        m2 = F.avg_pool2d(img * img, window, stride=1, padding=p, count_include_pad=False)
        return m[:, 0], (m2 - m * m).clamp(min=0).sqrt()[:, 0]

    nm, ns = stats(normal)
    m, s = stats(x)
    return ((m - nm.mean()) / nm.std()).abs() + ((s - ns.mean()) / ns.std()).abs()


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

def image_scores(maps: torch.Tensor) -> np.ndarray:
    """One anomaly score per image: the maximum of its map (as in CutPaste and NSA)."""
    validate_maps(maps)
    return maps.amax(dim=(1, 2)).double().numpy()


def _labels(labels: object, n: int, what: str) -> np.ndarray:
    lab = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if lab.dtype.kind in "USO":
        got = "objects" if lab.dtype.kind == "O" else "strings"
        raise TypeError(f"{what} must be booleans (True for a defective image), got {got} such as "
                        f"{str(lab.flat[0])!r}. Pass DefectSet.is_defective, or np.array(kinds) != 'normal'; "
                        "per_type_image_auroc takes the kinds themselves.")
    if lab.shape != (n,):
        raise ValueError(f"{what} must have one entry per image ({n}), got shape {lab.shape}")
    lab = lab.astype(bool)
    if lab.all() or not lab.any():
        raise ValueError(f"{what} must contain both normal and defective images to compute an AUROC")
    return lab


def image_auroc(maps: torch.Tensor, is_defective: object) -> float:
    """AUROC of the image scores (:func:`image_scores`) for telling defective (positive) from normal images."""
    from sklearn.metrics import roc_auc_score

    validate_maps(maps)
    lab = _labels(is_defective, len(maps), "is_defective")
    return float(roc_auc_score(lab, image_scores(maps)))


def _pooled_auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """AUROC of ``scores`` for the ``positive`` entries against the rest: P(s_pos > s_neg) + P(s_pos = s_neg) / 2.

    The same number as ``sklearn.metrics.roc_auc_score`` (ties count one half; a test checks the two agree), computed
    from one sort of the negatives and two binary searches, about four times faster on the 300k-400k pixels of a
    map set. Every number of the lesson pools that many pixels dozens of times.
    """
    s = scores.reshape(-1)
    y = positive.reshape(-1).bool()
    neg = torch.sort(s[~y]).values
    pos = s[y]
    below = torch.searchsorted(neg, pos, right=False)           # negatives strictly below each positive
    tied = torch.searchsorted(neg, pos, right=True) - below      # negatives equal to it
    return float((below.double().sum() + 0.5 * tied.double().sum()) / (pos.numel() * neg.numel()))


def pixel_auroc(maps: torch.Tensor, masks: torch.Tensor) -> float:
    """AUROC over every pixel of every image: defect pixels (mask True) are the positives (ties count one half)."""
    validate_maps(maps)
    if not isinstance(masks, torch.Tensor) or masks.shape != maps.shape:
        raise ValueError(f"masks must be a tensor of the maps' shape {tuple(maps.shape)}, got "
                         f"{tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__}")
    m = masks.reshape(-1).bool()
    if bool(m.all()) or not bool(m.any()):
        raise ValueError("masks must contain both defect and normal pixels to compute a pixel AUROC")
    return _pooled_auroc(maps, m)


def per_type_image_auroc(maps: torch.Tensor, kinds: Sequence[str]) -> dict[str, float]:
    """Image AUROC of each defect type against the normal images: {kind: auroc}."""
    from sklearn.metrics import roc_auc_score

    validate_maps(maps)
    kinds = np.asarray(list(kinds))
    if kinds.shape != (len(maps),):
        raise ValueError(f"kinds must have one entry per map ({len(maps)}), got {kinds.shape}")
    normal = kinds == "normal"
    if not normal.any():
        raise ValueError("kinds must include 'normal' images")
    s = image_scores(maps)
    out = {}
    for k in dict.fromkeys(kinds.tolist()):
        if k == "normal":
            continue
        sel = kinds == k
        y = np.r_[np.zeros(normal.sum()), np.ones(sel.sum())]
        out[k] = float(roc_auc_score(y, np.r_[s[normal], s[sel]]))
    return out


def per_type_pixel_auroc(maps: torch.Tensor, masks: torch.Tensor, kinds: Sequence[str]) -> dict[str, float]:
    """Pixel AUROC of each defect type: the pixels of that type's images plus every pixel of the normal images."""
    validate_maps(maps)
    if not isinstance(masks, torch.Tensor) or masks.shape != maps.shape:
        raise ValueError(f"masks must be a tensor of the maps' shape {tuple(maps.shape)}")
    kinds = np.asarray(list(kinds))
    if kinds.shape != (len(maps),):
        raise ValueError(f"kinds must have one entry per map ({len(maps)}), got {kinds.shape}")
    normal = kinds == "normal"
    out = {}
    for k in dict.fromkeys(kinds.tolist()):
        if k == "normal":
            continue
        sel = torch.from_numpy(normal | (kinds == k))
        out[k] = _pooled_auroc(maps[sel], masks[sel])
    return out


def detection_stats(amap: torch.Tensor, mask: torch.Tensor, threshold: float) -> dict[str, float]:
    """Pixels flagged by ``amap > threshold`` on one image against its ``mask``: counts, precision, recall, IoU."""
    if not isinstance(amap, torch.Tensor) or amap.dim() != 2:
        raise ValueError(f"amap must be one map of shape (H, W), got "
                         f"{tuple(amap.shape) if isinstance(amap, torch.Tensor) else type(amap).__name__}")
    if not isinstance(mask, torch.Tensor) or mask.shape != amap.shape:
        raise ValueError(f"mask must be a tensor of the map's shape {tuple(amap.shape)}")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    det, gt = amap > threshold, mask.bool()
    tp, fp, fn = int((det & gt).sum()), int((det & ~gt).sum()), int((~det & gt).sum())
    return {
        "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "iou": tp / (tp + fp + fn) if tp + fp + fn else float("nan"),
    }


def _overlay(image: torch.Tensor, det: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    grey = image.numpy()
    rgb = np.stack([grey, grey, grey], -1) * 0.6
    d, m = det.numpy(), gt.numpy()
    rgb[d & m] = (0.1, 0.85, 0.1)     # hit: green
    rgb[d & ~m] = (0.95, 0.15, 0.1)   # false alarm: red
    rgb[~d & m] = (0.2, 0.4, 1.0)     # missed: blue
    return rgb


def detection_figure(image: torch.Tensor, mask: torch.Tensor, raw_map: torch.Tensor, sigma: float,
                     threshold: float, smooth: Callable[[torch.Tensor, float], torch.Tensor], title: str = ""):
    """Image, ground truth, anomaly map smoothed with ``smooth(maps, sigma)``, and the pixels above ``threshold``.

    ``image`` (1, H, W) or (H, W); ``mask`` and ``raw_map`` (H, W). Detections are drawn green (hit),
    red (false alarm) and blue (missed defect pixel). Returns the figure (the widget shows it).
    """
    img = image[0] if image.dim() == 3 else image
    if raw_map.dim() != 2 or mask.shape != raw_map.shape or img.shape != raw_map.shape:
        raise ValueError(f"image, mask and raw_map must all be one (H, W) image; got {tuple(image.shape)}, "
                         f"{tuple(mask.shape)}, {tuple(raw_map.shape)}")
    if not isinstance(sigma, (int, float)) or isinstance(sigma, bool) or sigma < 0:
        raise ValueError(f"sigma must be a number >= 0, got {sigma!r}")
    sm = smooth(raw_map[None], float(sigma))
    if not isinstance(sm, torch.Tensor) or sm.shape != (1, *raw_map.shape):
        raise ValueError(f"smooth must return a map of shape (1, {raw_map.shape[0]}, {raw_map.shape[1]}), got "
                         f"{tuple(sm.shape) if isinstance(sm, torch.Tensor) else type(sm).__name__}")
    sm = sm[0]
    st = detection_stats(sm, mask, float(threshold))
    fig, axes = plt.subplots(1, 4, figsize=(9.2, 2.7))
    axes[0].imshow(img.numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("image")
    axes[1].imshow(mask.numpy(), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title("ground truth")
    im = axes[2].imshow(sm.numpy(), cmap="inferno", vmin=0, vmax=1)
    if float(sm.min()) < threshold < float(sm.max()):
        axes[2].contour(sm.numpy(), levels=[float(threshold)], colors="cyan", linewidths=0.8)
    axes[2].set_title(f"map, sigma = {float(sigma):g}")
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    axes[3].imshow(_overlay(img, sm > threshold, mask.bool()))
    p = "-" if math.isnan(st["precision"]) else f"{st['precision']:.2f}"
    r = "-" if math.isnan(st["recall"]) else f"{st['recall']:.2f}"
    axes[3].set_title(f"> {float(threshold):.2f}: {st['flagged']} px\nprecision {p}, recall {r}", fontsize=9)
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.text(0.99, 0.01, "green: hit   red: false alarm   blue: missed", ha="right", va="bottom", fontsize=8)
    return fig


def localisation_figure(images: torch.Tensor, masks: torch.Tensor, raw: torch.Tensor, smoothed: torch.Tensor,
                        titles: Sequence[str], sigma: float):
    """A grid: one column per example; rows image, ground-truth mask, raw map, smoothed map."""
    n = len(images)
    if not (len(masks) == len(raw) == len(smoothed) == len(titles) == n) or n == 0:
        raise ValueError("images, masks, raw, smoothed and titles must have the same non-zero length")
    fig, axes = plt.subplots(4, n, figsize=(1.45 * n + 0.6, 6.0), squeeze=False)
    rows = [("image", images[:, 0], "gray"), ("ground truth", masks.float(), "gray"),
            ("raw map", raw, "inferno"), (f"smoothed (sigma {sigma:g})", smoothed, "inferno")]
    for r, (name, data, cmap) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(data[c].numpy(), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
    fig.tight_layout()
    return fig
