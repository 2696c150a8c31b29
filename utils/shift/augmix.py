"""Mild image operations for AugMix-style augmentation of the 8x8 digits, and the training loss around it.

AugMix (Hendrycks et al., 2020, https://arxiv.org/abs/1912.02781) mixes a few random chains of mild
operations with Dirichlet weights, then mixes the result with the original image with a Beta weight.
Its operations must *not* be the corruptions it is tested on, or a robustness gain only shows that
we trained on the test distribution. So this module keeps a library of operations in two groups:

* :data:`OPERATIONS` - every operation, each ``op(x, g) -> x'`` on a batch (N, C, H, W) in [0, 1], with
  a random magnitude per image drawn from the :class:`torch.Generator` ``g``;
* :data:`OVERLAPS` - the operations that *are* a test corruption of :mod:`utils.shift.corruptions`
  (``"rotate"`` is the test corruption ``"rotate"``, ``"translate"`` is ``"shift"``, ...). Training on them
  leaks the test shift.

The safe operations are shear (x and y), zoom, stroke thickening and thinning, posterize, equalize and
gamma. Shear and zoom are geometric, like the held-out ``rotate``, ``shift`` and ``elastic``, and
thickening changes the stroke shape: related, not identical, which is the same compromise AugMix made
(it kept rotate / shear / translate because ImageNet-C has no geometric corruption).

It also holds the course's trusted :func:`augmix` (one augmented view) and :func:`js_divergence` (the
consistency loss, written so that its gradient stays finite when a softmax entry underflows); the learner
writes both in the notebook and the checks compare against these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from utils.images import affine_warp, separable_blur, validate_images
from utils.shift.corruptions import CORRUPTIONS

__all__ = [
    "OPERATIONS",
    "OVERLAPS",
    "SAFE_OPERATIONS",
    "augmix",
    "js_divergence",
    "augmix_loss",
    "apply_ops",
    "sample_gamma",
    "sample_dirichlet",
    "sample_beta",
]

Op = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _u(g: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _sign(g: torch.Generator, n: int) -> torch.Tensor:
    return torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)


def _affine(x: torch.Tensor, a11, a12, a21, a22, tx=None, ty=None) -> torch.Tensor:
    n = x.shape[0]
    zero = torch.zeros(n)
    tx = zero if tx is None else tx
    ty = zero if ty is None else ty
    theta = torch.stack([torch.stack([a11, a12, tx], 1), torch.stack([a21, a22, ty], 1)], 1).to(x)
    return affine_warp(x, theta)


# ----- safe operations (not in the test suite) ------------------------------------------------

def shear_x(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    s = _sign(g, n) * _u(g, n, 0.1, 0.45)
    one, zero = torch.ones(n), torch.zeros(n)
    return _affine(x, one, s, zero, one)


def shear_y(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    s = _sign(g, n) * _u(g, n, 0.1, 0.45)
    one, zero = torch.ones(n), torch.zeros(n)
    return _affine(x, one, zero, s, one)


def zoom(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    k = torch.exp(_u(g, n, -0.3, 0.3))        # scale factor in about [0.74, 1.35]
    zero = torch.zeros(n)
    return _affine(x, k, zero, zero, k)


def _pool3(x: torch.Tensor, kind: str) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.max_pool2d(p, 3, 1) if kind == "max" else -F.max_pool2d(-p, 3, 1)


def thicken(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    a = _u(g, x.shape[0], 0.2, 0.7).view(-1, 1, 1, 1).to(x)
    return x + a * (_pool3(x, "max") - x)


def thin(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    a = _u(g, x.shape[0], 0.2, 0.7).view(-1, 1, 1, 1).to(x)
    return x - a * (x - _pool3(x, "min"))


def posterize(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    levels = torch.randint(2, 5, (x.shape[0],), generator=g).view(-1, 1, 1, 1).to(x)
    return torch.round(x * levels) / levels


def equalize(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Histogram equalisation per image: each pixel -> (rank among its image's pixels), darkest stays 0."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    # cdf(v) = number of pixels <= v (a binary search in the sorted pixels); map v -> (cdf(v) - cdf(min)) / (numel - cdf(min))
    cdf = torch.searchsorted(flat.sort(dim=1).values, flat.contiguous(), right=True).to(x)
    cmin = cdf.min(dim=1, keepdim=True).values
    den = (flat.shape[1] - cmin).clamp_min(1)
    out = ((cdf - cmin) / den).reshape(x.shape)
    _ = torch.rand(n, generator=g)            # keep one draw per call, like the other operations
    return out


def gamma(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    gm = torch.exp(_u(g, x.shape[0], -0.8, 0.8)).view(-1, 1, 1, 1).to(x)
    return x.clamp_min(0) ** gm


# ----- operations that duplicate a test corruption (do not train on them) ----------------------

def rotate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    a = _sign(g, n) * torch.deg2rad(_u(g, n, 5.0, 25.0))
    return _affine(x, torch.cos(a), -torch.sin(a), torch.sin(a), torch.cos(a))


def translate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    ang = _u(g, n, 0.0, 2 * math.pi)
    d = _u(g, n, 0.2, 1.0)
    one, zero = torch.ones(n), torch.zeros(n)
    return _affine(x, one, zero, zero, one, -2 * d * torch.cos(ang) / w, -2 * d * torch.sin(ang) / h)


def gaussian_noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    s = _u(g, x.shape[0], 0.02, 0.15).view(-1, 1, 1, 1).to(x)
    return x + s * torch.randn(x.shape, generator=g).to(x)


def blur(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    a = _u(g, x.shape[0], 0.1, 0.5).view(-1, 1, 1, 1).to(x)
    y = separable_blur(x, torch.tensor([0.25, 0.5, 0.25]), padding="replicate")
    return x + a * (y - x)


def contrast(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    c = _u(g, x.shape[0], 0.5, 1.0).view(-1, 1, 1, 1).to(x)
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * c + m


def _clamped(op: Op) -> Op:
    def wrapped(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return op(x, g).clamp(0.0, 1.0)
    wrapped.__name__ = op.__name__
    wrapped.__doc__ = op.__doc__
    return wrapped


OPERATIONS: dict[str, Op] = {
    f.__name__: _clamped(f)
    for f in (shear_x, shear_y, zoom, thicken, thin, posterize, equalize, gamma,
              rotate, translate, gaussian_noise, blur, contrast)
}
# library operation -> the test corruption it duplicates
OVERLAPS: dict[str, str] = {
    "rotate": "rotate",
    "translate": "shift",
    "gaussian_noise": "gaussian_noise",
    "blur": "blur",
    "contrast": "contrast",
}
SAFE_OPERATIONS: tuple[str, ...] = tuple(n for n in OPERATIONS if n not in OVERLAPS)
assert set(OVERLAPS.values()) <= set(CORRUPTIONS)


def apply_ops(x: torch.Tensor, names: Sequence[str], seed: int = 0) -> torch.Tensor:
    """Apply the named operations in order (for figures and tests); validates the input and the names."""
    validate_images(x)
    g = torch.Generator().manual_seed(int(seed))
    out = x if x.dim() == 4 else x.unsqueeze(0)
    for n in names:
        if n not in OPERATIONS:
            raise ValueError(f"unknown operation {n!r}; valid: {', '.join(OPERATIONS)}")
        out = OPERATIONS[n](out, g)
    return out if x.dim() == 4 else out[0]


def augmix(x: torch.Tensor, ops: Sequence[Op], g: torch.Generator, width: int = 3, max_depth: int = 3,
           alpha: float = 1.0) -> torch.Tensor:
    """One AugMix view of the batch ``x`` (N, C, H, W) in [0, 1] (the course's trusted version).

    ``width`` chains; chain k applies a random number (uniform on 1..``max_depth``) of operations, each picked
    at random from ``ops`` (one choice per chain for the whole batch: every operation draws its own strength per
    image). The chains are mixed with one Dirichlet(alpha, ..., alpha) weight vector per image, and the mixture
    with the original with one Beta(alpha, alpha) weight m per image: ``m * x + (1 - m) * sum_k w_k chain_k(x)``.
    Every random number comes from ``g``, in this order: the Dirichlet weights, the Beta weights, then per chain
    its depth and its operations.
    """
    validate_images(x)
    if x.dim() != 4:
        raise ValueError(f"x must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if not ops or not all(callable(op) for op in ops):
        raise ValueError("ops must be a non-empty list of operations op(x, g) -> x', e.g. "
                         "[OPERATIONS[n] for n in SAFE_OPERATIONS]")
    if not isinstance(g, torch.Generator):
        raise TypeError(f"g must be a torch.Generator (torch.Generator().manual_seed(0)), got {type(g).__name__}")
    if int(width) < 1 or int(max_depth) < 1 or not float(alpha) > 0:
        raise ValueError(f"need width >= 1, max_depth >= 1 and alpha > 0; got {width}, {max_depth}, {alpha}")
    n = len(x)
    w = sample_dirichlet(alpha, n, width, g).to(x)                 # (N, width), each row sums to 1
    m = sample_beta(alpha, n, g).to(x).view(-1, 1, 1, 1)           # (N, 1, 1, 1)
    mix = torch.zeros_like(x)
    for k in range(width):
        depth = int(torch.randint(1, max_depth + 1, (1,), generator=g))
        xk = x
        for _ in range(depth):
            xk = ops[int(torch.randint(len(ops), (1,), generator=g))](xk, g)
        mix = mix + w[:, k].view(-1, 1, 1, 1) * xk
    return m * x + (1 - m) * mix


def js_divergence(logits_clean: torch.Tensor, logits_aug1: torch.Tensor, logits_aug2: torch.Tensor) -> torch.Tensor:
    """The Jensen-Shannon consistency term of AugMix: the mean over the batch of
    ``(KL(p_c || M) + KL(p_1 || M) + KL(p_2 || M)) / 3`` with ``p = softmax(logits)`` and ``M`` their mean.

    Computed in log space (``log_softmax``, and ``log M`` by ``logsumexp``), so that the value *and its
    gradient* stay finite when a softmax entry underflows to 0 (logits that differ by more than about 100).
    The form in the AugMix authors' code, ``kl_div(log(M.clamp(eps)), p)``, has a finite value there but a NaN
    gradient: the derivative of ``p log p`` at ``p = 0`` is ``-inf``, and ``-inf x 0`` (the softmax's own
    derivative) is NaN.
    """
    views = (logits_clean, logits_aug1, logits_aug2)
    if not all(isinstance(z, torch.Tensor) and z.is_floating_point() for z in views):
        raise TypeError("js_divergence expects three float tensors of logits (N, classes), e.g. model outputs")
    if not (logits_clean.dim() == 2 and logits_clean.shape == logits_aug1.shape == logits_aug2.shape):
        raise ValueError(f"the three logits must have the same shape (N, classes); got "
                         f"{[tuple(z.shape) for z in views]}")
    logp = torch.stack([F.log_softmax(z, dim=1) for z in views])                                     # (3, N, C)
    log_m = torch.logsumexp(logp, dim=0) - math.log(3.0)                                             # (N, C)
    kl = (logp.exp() * (logp - log_m)).sum(dim=-1)                                                   # (3, N)
    return kl.mean()


def augmix_loss(augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
                js: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                lam: float = 12.0, seed: int = 0):
    """A ``batch_loss`` for :func:`utils.training.train`: cross-entropy plus ``lam`` x Jensen-Shannon consistency.

    ``augment(x, g)`` returns one AugMix view of the batch. With ``js`` the loss is
    ``CE(model(x), y) + lam * js(model(x), model(aug1), model(aug2))`` on two independent views (as in
    the AugMix paper); without it, it is plain cross-entropy on one augmented view.
    """
    g = torch.Generator().manual_seed(int(seed))

    def batch_loss(model, xb, yb):
        if js is None:
            return F.cross_entropy(model(augment(xb, g)), yb)
        n = len(xb)
        logits = model(torch.cat([xb, augment(xb, g), augment(xb, g)]))
        lc, l1, l2 = logits[:n], logits[n:2 * n], logits[2 * n:]
        return F.cross_entropy(lc, yb) + lam * js(lc, l1, l2)

    return batch_loss


# ----- random draws from a local generator (torch.distributions would use the global RNG) ------

def sample_gamma(shape: float, size: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Gamma(shape, 1) samples drawn with ``g`` (Marsaglia and Tsang's method; shape < 1 via boosting)."""
    if not shape > 0:
        raise ValueError(f"the Gamma shape must be > 0, got {shape}")
    if shape == 1.0:                      # Gamma(1) is the exponential distribution
        return -torch.log(torch.rand(size, generator=g).clamp_min(1e-12))
    boost = shape < 1.0
    a = shape + 1.0 if boost else shape
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    out = torch.empty(size)
    todo = torch.ones(size, dtype=torch.bool)
    while bool(todo.any()):
        z = torch.randn(size, generator=g)
        u = torch.rand(size, generator=g)
        v = (1 + c * z) ** 3
        ok = (v > 0) & (torch.log(u.clamp_min(1e-12)) < 0.5 * z * z + d - d * v + d * torch.log(v.clamp_min(1e-12)))
        take = todo & ok
        out[take] = (d * v)[take]
        todo &= ~ok
    if boost:
        out = out * torch.rand(size, generator=g).clamp_min(1e-12) ** (1.0 / shape)
    return out


def sample_dirichlet(alpha: float, n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """``n`` draws from a symmetric Dirichlet(alpha, ..., alpha) over ``k`` weights: shape (n, k), rows sum to 1."""
    gam = sample_gamma(alpha, (n, k), g)
    return gam / gam.sum(dim=1, keepdim=True)


def sample_beta(alpha: float, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` draws from Beta(alpha, alpha): shape (n,), values in [0, 1]."""
    return sample_dirichlet(alpha, n, 2, g)[:, 0]
