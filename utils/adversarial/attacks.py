"""Trusted L-infinity attacks and robust-accuracy evaluation for lesson 01 (adversarial training).

The lesson asks learners to write their own FGSM and PGD; the functions here are the course's
*validated* versions, used to evaluate models (so that a bug in an exercise cannot inflate a
reported robust accuracy) and by other lessons. Every public function checks its inputs and
raises a clear error on the usual mistakes: images outside [0, 1], a negative or infinite
epsilon, labels that do not match the batch, or a model left in train mode.

Contents
--------
fgsm, pgd                    one-step and iterated L-inf attacks (random start, projection, clamping).
robust_accuracy              accuracy under an attack, batched; worst case over restarts.
worst_case_accuracy          per-example worst case over several attacks (evaluation hygiene).
effort_curve, effort_rises   the "more effort never helps the model" sanity check, on final iterates with fresh
                             random starts, so that a broken attack can fail it; buggy_pgd, two broken attacks.
compose_pyramid, pyramid_attack, pyramid_at_loss
                             multi-scale ("pyramid") perturbations of Herrmann et al. (CVPR 2022).
madry_at_loss                the PGD adversarial-training loss of Madry et al. (ICLR 2018).
explore_epsilon, render_explorer
                             the logic behind the lesson's epsilon explorer widget.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.training import check_xy

__all__ = [
    "ATTACKS",
    "eval_mode",
    "validate_attack_inputs",
    "project_linf",
    "fgsm",
    "pgd",
    "robust_accuracy",
    "correct_under_attack",
    "worst_case_accuracy",
    "last_iterate_pgd",
    "effort_curve",
    "effort_rises",
    "buggy_pgd",
    "compose_pyramid",
    "pyramid_attack",
    "pyramid_budget",
    "madry_at_loss",
    "pyramid_at_loss",
    "explore_epsilon",
    "explorer_pyramid",
    "render_explorer",
]

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def _check_number(value, name: str, *, positive: bool = False, allow_zero: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}. (For images in [0, 1], eps=1 already allows any "
                         f"image: it is the 'unbounded' attack.)")
    if value < 0 or (positive and value == 0) or (not allow_zero and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive or not allow_zero else '>= 0'}, got {value}")
    return value


def _check_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def validate_attack_inputs(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.0,
                           where: str = "attack") -> float:
    """Raise a clear error unless the inputs make sense for an L-inf attack; return ``eps`` as a float.

    * ``model`` is an ``nn.Module`` in **eval mode** (in train mode, dropout and batch-norm make the
      gradients noisy and batch-norm statistics would be updated by the attack);
    * ``x`` is a float tensor (N, ...) with at least 2 dimensions and values in [0, 1]; ``y`` is a 1-D
      integer tensor of length N;
    * ``eps`` is a finite number >= 0.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{where}: model must be a torch nn.Module, got {type(model).__name__}")
    if model.training:
        raise RuntimeError(
            f"{where}: the model is in train mode. Call model.eval() before attacking or evaluating it "
            f"(dropout and batch-norm behave differently in train mode, and the attack would update "
            f"batch-norm statistics). Inside a training loss, use `with eval_mode(model): ...`."
        )
    check_xy(x, y, where)
    if x.dim() < 2:
        raise ValueError(f"{where}: x must have a batch dimension, shape (N, ...) ; got shape {tuple(x.shape)}")
    if torch.isnan(x).any():
        raise ValueError(f"{where}: x contains NaN")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{where}: pixel values must lie in [0, 1] (the threat model clamps to that range); "
                         f"got min {lo:.3g}, max {hi:.3g}. Scale the images first (e.g. x / 255).")
    weight = next((p for p in model.parameters() if p.is_floating_point()), None)
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{where}: x is {x.dtype} but the model's weights are {weight.dtype}: convert the images "
                        f"with x.to({weight.dtype}) (x.float() for the course's models)")
    eps = _check_number(eps, "eps")
    if eps > 1.0:
        raise ValueError(f"{where}: eps = {eps:g} is more than the whole pixel range [0, 1] (eps = 1 already allows "
                         f"any image). A budget of 8 grey levels out of 255 is eps = 8/255.")
    return eps


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore its previous mode (train or eval)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Switch off parameter gradients for the block, so an attack never leaves .grad on the model."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


# ---------------------------------------------------------------------------------------------
# Attacks
# ---------------------------------------------------------------------------------------------

def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Project ``x_adv`` onto {x' : ||x' - x||_inf <= eps} intersected with the pixel box [0, 1]."""
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv has shape {tuple(x_adv.shape)} but x has {tuple(x.shape)}")
    eps = _check_number(eps, "eps")
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def _input_grad(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x_adv = x_adv.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x_adv), y, reduction="sum")
    return torch.autograd.grad(loss, x_adv)[0]


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``clamp(x + eps * sign(grad_x loss), 0, 1)``."""
    eps = validate_attack_inputs(model, x, y, eps, "fgsm")
    with _frozen(model):
        g = _input_grad(model, x, y)
    return (x + eps * g.sign()).clamp(0.0, 1.0).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
        steps: int = 20, restarts: int = 1, random_start: bool = True,
        generator: torch.Generator | None = None, keep_best: bool = True) -> torch.Tensor:
    """Projected gradient descent on the loss (Madry et al. 2018), L-inf ball of radius ``eps``.

    Each step: ``x' <- project(x' + alpha * sign(grad))``, where ``project`` clips to the ball around
    ``x`` and to [0, 1]. ``alpha`` defaults to ``2.5 * eps / steps``. With ``random_start`` each
    restart begins at a uniform point of the ball. Over restarts (and over the iterates of each
    run), an example keeps the first adversarial input that fools the model, else the final
    iterate of the run with the highest loss, so more restarts can never help the model.
    ``keep_best=False`` returns the last iterate of the last restart (what training uses: the
    strongest point along the path, not the first that happens to fool the model).
    """
    eps = validate_attack_inputs(model, x, y, eps, "pgd")
    steps = _check_int(steps, "steps")
    restarts = _check_int(restarts, "restarts")
    alpha = 2.5 * eps / steps if alpha is None else _check_number(alpha, "alpha")
    x = x.detach()
    best = x.clone()
    best_loss = torch.full((len(x),), -math.inf, device=x.device)
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    if eps == 0:
        return best
    def start() -> torch.Tensor:
        # The full batch is drawn every restart, so the random stream does not depend on which
        # examples are already fooled (restart 1 of k is exactly the single-restart run).
        if not random_start:
            return x.clone()
        noise = torch.rand(x.shape, generator=generator, device="cpu" if generator is not None else x.device)
        return (x + (2 * noise.to(x.device) - 1) * eps).clamp(0.0, 1.0)

    with _frozen(model):
        if not keep_best:
            for _ in range(restarts):
                x_adv = start()
                for _ in range(steps):
                    g = _input_grad(model, x_adv, y)
                    x_adv = project_linf(x_adv + alpha * g.sign(), x, eps).detach()
            return x_adv.detach()
        for _ in range(restarts):
            x0 = start()
            act = (~fooled).nonzero().flatten()          # only examples not fooled yet are attacked
            xa, xs, ys = x0[act], x[act], y[act]
            for _ in range(steps):
                if len(act) == 0:
                    break
                g = _input_grad(model, xa, ys)
                xa = project_linf(xa + alpha * g.sign(), xs, eps).detach()
                with torch.no_grad():
                    now = model(xa).argmax(1) != ys
                if now.any():
                    best[act[now]] = xa[now]
                    fooled[act[now]] = True
                    keep = ~now
                    act, xa, xs, ys = act[keep], xa[keep], xs[keep], ys[keep]
            if len(act):
                with torch.no_grad():
                    loss = F.cross_entropy(model(xa), ys, reduction="none")
                better = loss > best_loss[act]
                best[act[better]] = xa[better]
                best_loss[act[better]] = loss[better]
    return best.detach()


def _attack_fn(attack: str | Attack, eps: float, **kwargs) -> Attack:
    if callable(attack):
        return lambda m, xb, yb: attack(m, xb, yb, eps, **kwargs)
    if attack == "fgsm":
        if kwargs:
            raise TypeError(f"fgsm takes no extra options, got {sorted(kwargs)}")
        return lambda m, xb, yb: fgsm(m, xb, yb, eps)
    if attack == "pgd":
        return lambda m, xb, yb: pgd(m, xb, yb, eps, **kwargs)
    if attack == "pyramid":
        mult = kwargs.pop("multipliers", None)
        scales = kwargs.pop("scales", (8, 4, 2, 1))
        mult = [1.0] * len(scales) if mult is None else mult
        budgets = pyramid_budget(eps, scales, mult)
        return lambda m, xb, yb: pyramid_attack(m, xb, yb, scales, budgets, **kwargs)
    raise ValueError(f"unknown attack {attack!r}; use 'fgsm', 'pgd', 'pyramid' or a function")


def correct_under_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                         attack: str | Attack = "pgd", batch_size: int = 512, **kwargs) -> torch.Tensor:
    """A boolean tensor (N,): is each example still classified correctly after the attack?

    ``attack`` is ``"fgsm"``, ``"pgd"`` (keyword options go to :func:`pgd`), ``"pyramid"`` (options
    ``scales``, ``multipliers``: budget ``eps * multiplier`` per scale, and those of
    :func:`pyramid_attack`) or a function
    ``attack(model, x, y, eps, **kwargs) -> x_adv``. Clean mistakes count as not robust.
    Adversarial inputs are checked: they must stay within ``eps`` of ``x`` and in [0, 1].
    """
    eps = validate_attack_inputs(model, x, y, eps, "robust_accuracy")
    _check_int(batch_size, "batch_size")
    fn = _attack_fn(attack, eps, **kwargs)
    out = []
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size], y[i:i + batch_size]
        xa = fn(model, xb, yb)
        if not isinstance(xa, torch.Tensor) or xa.shape != xb.shape:
            raise ValueError(f"the attack must return a tensor of shape {tuple(xb.shape)}, "
                             f"got {getattr(xa, 'shape', type(xa).__name__)}")
        if attack != "pyramid":
            dist = (xa - xb).abs().max().item() if len(xb) else 0.0
            if dist > eps + 1e-5:
                raise ValueError(f"the attack left the eps-ball: max |x_adv - x| = {dist:.4g} > eps = {eps:.4g}")
        if xa.min() < -1e-6 or xa.max() > 1 + 1e-6:
            raise ValueError("the attack left the pixel range [0, 1]")
        with torch.no_grad():
            ok = (model(xb).argmax(1) == yb) & (model(xa.detach()).argmax(1) == yb)
        out.append(ok)
    return torch.cat(out)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                    attack: str | Attack = "pgd", batch_size: int = 512, **kwargs) -> float:
    """Fraction of examples classified correctly both clean and under the attack (see
    :func:`correct_under_attack`). With ``eps=0`` this is the clean accuracy."""
    return correct_under_attack(model, x, y, eps, attack, batch_size, **kwargs).float().mean().item()


def worst_case_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                        attacks: Sequence[Mapping | Callable], batch_size: int = 512) -> float:
    """Accuracy where an example counts only if it is correct on the clean input and survives **every** attack.

    Each entry is either a dict of keyword arguments for :func:`correct_under_attack`, e.g.
    ``[{"attack": "fgsm"}, {"attack": "pgd", "steps": 50, "restarts": 5}]``, or a function
    ``attack(model, x, y) -> x_adv`` (the form of the lesson's exercise); every attack starts from the clean ``x``,
    and its output must stay within ``eps`` of it.
    """
    if not attacks:
        raise ValueError("worst_case_accuracy needs at least one attack")
    ok = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for spec in attacks:
        if callable(spec):
            ok &= correct_under_attack(model, x, y, eps, lambda m, xb, yb, _eps, fn=spec: fn(m, xb, yb), batch_size)
            continue
        spec = dict(spec)
        ok &= correct_under_attack(model, x, y, eps, spec.pop("attack", "pgd"), batch_size, **spec)
    return ok.float().mean().item()


def last_iterate_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                     generator: torch.Generator | None = None, alpha: float | None = None) -> torch.Tensor:
    """The final iterate of one PGD run from a random start (what :func:`effort_curve` measures by default)."""
    return pgd(model, x, y, eps, alpha=alpha, steps=steps, generator=generator, keep_best=False)


BUGS = ("sign flipped", "sign forgotten")


def buggy_pgd(bug: str, alpha: float) -> Callable:
    """A PGD with one deliberate one-character bug, for the lesson's evaluation-hygiene check (never for reporting).

    ``"sign flipped"`` steps DOWN the loss (``- alpha * sign(grad)``); ``"sign forgotten"`` steps along the raw
    gradient (``+ alpha * grad``, whose entries are tiny). Returns ``attack(model, x, y, eps, steps, generator)`` in
    the form :func:`effort_curve` takes: a random start in the ball, ``steps`` steps, the final iterate.
    """
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; choose one of {BUGS}")
    alpha = _check_number(alpha, "alpha", positive=True)

    def attack(model, x, y, eps, steps, generator=None):
        eps = validate_attack_inputs(model, x, y, eps, "buggy_pgd")
        noise = torch.rand(x.shape, generator=generator, device="cpu" if generator is not None else x.device)
        x_adv = (x + (2 * noise.to(x.device) - 1) * eps).clamp(0.0, 1.0)
        with _frozen(model):
            for _ in range(steps):
                g = _input_grad(model, x_adv, y)
                step = -g.sign() if bug == "sign flipped" else g / len(x)  # the mean loss's gradient
                x_adv = project_linf(x_adv + alpha * step, x, eps).detach()
        return x_adv

    return attack


def effort_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                 budgets: Sequence[tuple[int, int]], attack: Callable | None = None, alpha: float | None = None,
                 seed: int = 0, return_runs: bool = False) -> list[float] | tuple[list[float], list[list[float]]]:
    """Accuracy under an attack's FINAL iterate for each ``(steps, restarts)`` budget: the data for the sanity check
    "more attack effort never helps the model" that an attack can actually fail.

    ``attack(model, x, y, eps, steps, generator) -> x_adv`` (default: :func:`last_iterate_pgd` with step ``alpha``)
    is run ``restarts`` times per budget, each run with its own random start: budget ``b`` uses the generators
    seeded ``seed + 1000 * b + r``, so no budget reuses another's start and a longer run does not contain a
    shorter one. An example counts as broken if any restart's output fools the model; clean mistakes count as
    broken. Unlike :func:`pgd` (which keeps any fooling iterate and reuses its start, so its accuracy cannot rise
    with effort by construction), these numbers can rise. With ``return_runs`` it also returns, per budget, the
    accuracy of each restart alone: their spread is the noise of the random start.
    """
    validate_attack_inputs(model, x, y, eps, "effort_curve")
    if attack is None:
        def attack(m, xb, yb, e, steps, generator):
            return last_iterate_pgd(m, xb, yb, e, steps, generator, alpha)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
    accs, runs = [], []
    for b, budget in enumerate(budgets):
        if not isinstance(budget, (tuple, list)) or len(budget) != 2:
            raise TypeError(f"effort_curve: each budget is a pair (steps, restarts), e.g. [(1, 1), (20, 5)]; got "
                            f"{budget!r}")
        steps, restarts = budget
        _check_int(steps, "steps")
        ok, single = clean.clone(), []
        for r in range(_check_int(restarts, "restarts")):
            g = torch.Generator().manual_seed(seed + 1000 * b + r)
            xa = attack(model, x, y, eps, steps, g)
            if (xa - x).abs().max() > eps + 1e-5 or xa.min() < -1e-6 or xa.max() > 1 + 1e-6:
                raise ValueError("effort_curve: the attack left the eps-ball or the pixel range [0, 1]")
            with torch.no_grad():
                now = clean & (model(xa.detach()).argmax(1) == y)
            ok &= now
            single.append(now.float().mean().item())
        accs.append(ok.float().mean().item())
        runs.append(single)
    return (accs, runs) if return_runs else accs


def effort_rises(accs: Sequence[float], tolerance: float) -> list[int]:
    """Indices ``i`` where ``accs[i]`` exceeds the lowest accuracy at any smaller budget by more than ``tolerance``:
    the places where more effort helped the model, which a working attack does not allow beyond noise."""
    rises, best = [], math.inf
    for i, a in enumerate(accs):
        if a > best + tolerance:
            rises.append(i)
        best = min(best, a)
    return rises


# ---------------------------------------------------------------------------------------------
# Pyramid perturbations (Herrmann et al. 2022)
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _upsampling_matrix(shapes: tuple[tuple[int, int], ...], size: tuple[int, int]) -> torch.Tensor:
    """A 0/1 matrix (sum of s_h * s_w, H * W): row j of block k copies value j of a (s_h, s_w) delta onto its
    nearest-neighbour block of the (H, W) image (the same indices as ``F.interpolate(mode="nearest")``)."""
    h, w = size
    blocks = []
    for sh, sw in shapes:
        rows = (torch.arange(h) * sh // h)[:, None] * sw + (torch.arange(w) * sw // w)[None, :]  # (H, W) -> source
        m = torch.zeros(sh * sw, h * w)
        m[rows.reshape(-1), torch.arange(h * w)] = 1.0
        blocks.append(m)
    return torch.cat(blocks, 0)


def compose_pyramid(deltas: Sequence[torch.Tensor], size: int | tuple[int, int]) -> torch.Tensor:
    """Sum of per-scale perturbations, each upsampled (nearest neighbour) to ``size``.

    ``deltas[k]`` has shape (N, C, s_k, s_k): one value per block of the image at scale k, so a
    1x1 delta shifts the whole image, a 2x2 delta shifts each quadrant, and an 8x8 delta on an 8x8
    image is an ordinary per-pixel perturbation. (The coarse scales are upsampled together by one
    matrix product, which is several times faster than one interpolation per scale.)
    """
    if not deltas:
        raise ValueError("compose_pyramid needs at least one scale")
    size = (size, size) if isinstance(size, int) else tuple(size)
    first = deltas[0]
    for k, d in enumerate(deltas):
        if not isinstance(d, torch.Tensor) or d.dim() != 4:
            raise ValueError(f"deltas[{k}] must be a 4-D tensor (N, C, s, s), got "
                             f"{getattr(d, 'shape', type(d).__name__)}")
        if d.shape[:2] != first.shape[:2]:
            raise ValueError(f"deltas[{k}] has batch/channels {tuple(d.shape[:2])}, "
                             f"deltas[0] has {tuple(first.shape[:2])}")
        if d.shape[-2] > size[0] or d.shape[-1] > size[1]:
            raise ValueError(f"deltas[{k}] is {tuple(d.shape[-2:])}, larger than the image {size}")
    n, c = first.shape[:2]
    total = None
    for d in deltas:  # full-resolution deltas need no upsampling
        if tuple(d.shape[-2:]) == size:
            total = d if total is None else total + d
    coarse = [d for d in deltas if tuple(d.shape[-2:]) != size]
    if coarse:
        u = _upsampling_matrix(tuple(tuple(d.shape[-2:]) for d in coarse), size).to(first.device, first.dtype)
        flat = torch.cat([d.reshape(n, c, -1) for d in coarse], 2)
        up = (flat @ u).reshape(n, c, *size)
        total = up if total is None else total + up
    return total


def pyramid_budget(eps: float, scales: Sequence[int], multipliers: Sequence[float]) -> list[float]:
    """Per-scale L-inf budgets ``eps * multiplier`` (the paper's scale multipliers)."""
    eps = _check_number(eps, "eps")
    if len(scales) != len(multipliers):
        raise ValueError(f"{len(scales)} scales but {len(multipliers)} multipliers")
    return [eps * _check_number(m, "multiplier") for m in multipliers]


def pyramid_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scales: Sequence[int] = (8, 4, 2, 1),
                   eps: Sequence[float] = (0.05, 0.05, 0.05, 0.05), steps: int = 5,
                   alpha_frac: float = 0.5, random_start: bool = True,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """A PGD attack on a multi-scale perturbation; returns the adversarial images.

    One perturbation per scale ``s`` (shape (N, C, s, s)) with its own budget ``eps[k]``; the
    image is ``clamp(x + sum_k upsample(delta_k), 0, 1)``. Each step moves every delta by
    ``alpha_frac * eps[k]`` times the sign of its gradient and clips it to ``[-eps[k], eps[k]]``.
    ``steps=0`` with ``random_start`` gives random multi-scale noise (a no-adversary control).
    """
    validate_attack_inputs(model, x, y, 0.0, "pyramid_attack")
    if x.dim() != 4:
        raise ValueError(f"pyramid_attack needs images (N, C, H, W), got shape {tuple(x.shape)}")
    if len(scales) != len(eps) or not scales:
        raise ValueError(f"need one budget per scale: {len(scales)} scales, {len(eps)} budgets")
    eps = [_check_number(e, f"eps[{k}]") for k, e in enumerate(eps)]
    scales = [_check_int(s, "scale") for s in scales]
    steps = _check_int(steps, "steps", minimum=0)
    alpha_frac = _check_number(alpha_frac, "alpha_frac", positive=True)
    n, c, h, w = x.shape
    x = x.detach()
    deltas = []
    for s, e in zip(scales, eps):
        if s > min(h, w):
            raise ValueError(f"scale {s} is larger than the image ({h}x{w})")
        if h % s or w % s:
            raise ValueError(f"scale {s} does not divide the image size {h}x{w}: its blocks would be unequal. Use "
                             f"divisors of the image size, e.g. (8, 4, 2, 1) for 8x8 digits")
        if random_start:
            u = torch.rand((n, c, s, s), generator=generator, device="cpu" if generator is not None else x.device)
            deltas.append(((2 * u.to(x.device) - 1) * e))
        else:
            deltas.append(torch.zeros((n, c, s, s), device=x.device))
    with _frozen(model):
        for _ in range(steps):
            ds = [d.detach().requires_grad_(True) for d in deltas]
            x_adv = (x + compose_pyramid(ds, (h, w))).clamp(0.0, 1.0)
            loss = F.cross_entropy(model(x_adv), y, reduction="sum")
            grads = torch.autograd.grad(loss, ds)
            deltas = [(d + alpha_frac * e * g.sign()).clamp(-e, e).detach() for d, g, e in zip(ds, grads, eps)]
    return (x + compose_pyramid(deltas, (h, w))).clamp(0.0, 1.0).detach()


def random_pyramid(x: torch.Tensor, scales: Sequence[int], eps: Sequence[float], kind: str = "sign",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Random multi-scale noise with the pyramid's per-scale budgets, no model and no attack steps: the control for
    pyramid adversarial training. ``kind="sign"`` sets every entry of every delta to +-eps[k] with a fair coin (the
    corners of each budget, where a few signed-gradient steps also push the deltas: a magnitude-matched control);
    ``kind="uniform"`` draws each entry from U[-eps[k], eps[k]] (what :func:`pyramid_attack` with ``steps=0`` gives,
    about half the size). Returns ``clamp(x + compose_pyramid(deltas), 0, 1)``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"random_pyramid needs images (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    if kind not in ("sign", "uniform"):
        raise ValueError(f"kind must be 'sign' or 'uniform', got {kind!r}")
    if len(scales) != len(eps) or not scales:
        raise ValueError(f"need one budget per scale: {len(scales)} scales, {len(eps)} budgets")
    n, c, h, w = x.shape
    deltas = []
    for k, (s, e) in enumerate(zip(scales, eps)):
        s, e = _check_int(s, "scale"), _check_number(e, f"eps[{k}]")
        if s > min(h, w):
            raise ValueError(f"scale {s} is larger than the image ({h}x{w})")
        if h % s or w % s:
            raise ValueError(f"scale {s} does not divide the image size {h}x{w}: its blocks would be unequal")
        u = torch.rand((n, c, s, s), generator=generator, device="cpu" if generator is not None else x.device)
        u = u.to(x.device, x.dtype)
        deltas.append(e * (torch.where(u < 0.5, -1.0, 1.0).to(x.dtype) if kind == "sign" else 2 * u - 1))
    return (x.detach() + compose_pyramid(deltas, (h, w))).clamp(0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Training losses (plug into utils.training.train as batch_loss)
# ---------------------------------------------------------------------------------------------

def madry_at_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float | None = None,
                  steps: int = 5) -> torch.Tensor:
    """Cross-entropy on PGD examples made against the current model (Madry et al. 2018).

    The attack runs in eval mode; the model's mode is restored before the training forward pass.
    """
    with eval_mode(model):
        x_adv = pgd(model, x, y, eps, alpha=alpha, steps=steps, keep_best=False)
    return F.cross_entropy(model(x_adv), y)


def pyramid_at_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, scales: Sequence[int],
                    eps: Sequence[float], steps: int = 3, alpha_frac: float = 0.5,
                    adv_weight: float = 1.0) -> torch.Tensor:
    """Pyramid adversarial training as in the paper: clean loss + ``adv_weight`` x pyramid-adversarial loss."""
    with eval_mode(model):
        x_adv = pyramid_attack(model, x, y, scales, eps, steps=steps, alpha_frac=alpha_frac)
    return F.cross_entropy(model(x), y) + adv_weight * F.cross_entropy(model(x_adv), y)


# ---------------------------------------------------------------------------------------------
# The epsilon explorer (widget logic)
# ---------------------------------------------------------------------------------------------

ATTACKS = ("fgsm", "pgd", "pyramid")


def explorer_pyramid(size: int, eps: float) -> tuple[list[int], list[float]]:
    """Scales (size, size/2, ..., 1) and their budgets for the explorer's pyramid attack: ``eps`` on the
    whole image, ``eps/2`` on the next finer scale, and so on, with ``eps/10`` per pixel (for 8x8 digits
    at eps=0.2 these are the budgets the lesson trains with: 0.02, 0.05, 0.1, 0.2)."""
    size = _check_int(size, "size")
    eps = _check_number(eps, "eps")
    scales = []
    s = size
    while s > 1:
        if size % s == 0:  # only scales that tile the image with equal blocks (28 -> 28, 14, 7, 1)
            scales.append(s)
        s //= 2
    scales.append(1)
    n = len(scales)
    mult = [0.5 ** (n - 1 - k) for k in range(n)]
    if n > 1:
        mult[0] = 0.1
    return scales, [eps * m for m in mult]


def explore_epsilon(models: Mapping[str, nn.Module], x: torch.Tensor, y: int | torch.Tensor, eps: float,
                    attack: str = "pgd", against: str | None = None, steps: int = 20,
                    seed: int = 0) -> dict:
    """Attack one image and report what each model sees. The explorer widget draws this.

    ``x`` is one image (C, H, W) or (1, C, H, W) in [0, 1]; ``y`` its label. The attack (``"fgsm"``,
    ``"pgd"`` or ``"pyramid"``, the last with the scales and budgets of :func:`explorer_pyramid`)
    is made against the model named ``against`` (default: the first one). Returns a dict with
    ``clean``, ``delta`` and ``adversarial`` images (H, W) as numpy arrays, ``linf`` (the
    perturbation size), and ``probs``: for every model, its class probabilities (numpy,
    shape (classes,)) on the clean and on the adversarial image.
    """
    if not models:
        raise ValueError("explore_epsilon needs at least one model")
    if attack not in ATTACKS:
        raise ValueError(f"unknown attack {attack!r}; choose one of {ATTACKS}")
    if against is None:
        against = next(iter(models))
    if against not in models:
        raise KeyError(f"against={against!r} is not one of the models {list(models)}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be one image (C, H, W) or (1, C, H, W), got shape {tuple(x.shape)}")
    yt = torch.as_tensor([int(y)], device=x.device)
    with torch.no_grad():
        n_classes = next(iter(models.values()))(x).shape[-1]
    if not 0 <= int(y) < n_classes:
        raise ValueError(f"label y={int(y)} is not a class of these models (0 to {n_classes - 1})")
    eps = _check_number(eps, "eps")
    for name, m in models.items():
        if m.training:
            raise RuntimeError(f"model {name!r} is in train mode; call .eval() on it first")
    target = models[against]
    g = torch.Generator().manual_seed(seed)
    if eps == 0:
        x_adv = x.clone()
    elif attack == "fgsm":
        x_adv = fgsm(target, x, yt, eps)
    elif attack == "pgd":
        x_adv = pgd(target, x, yt, eps, steps=steps, generator=g)
    else:
        scales, budgets = explorer_pyramid(x.shape[-1], eps)
        x_adv = pyramid_attack(target, x, yt, scales, budgets, steps=steps, generator=g)
    probs = {}
    with torch.no_grad():
        for name, m in models.items():
            probs[name] = {
                "clean": torch.softmax(m(x), 1)[0].cpu().numpy(),
                "adversarial": torch.softmax(m(x_adv), 1)[0].cpu().numpy(),
            }
    delta = (x_adv - x)[0, 0].cpu().numpy()
    return {
        "clean": x[0, 0].cpu().numpy(), "delta": delta, "adversarial": x_adv[0, 0].cpu().numpy(),
        "linf": float(np.abs(delta).max()), "label": int(y), "eps": eps, "attack": attack,
        "against": against, "probs": probs,
    }


def render_explorer(result: Mapping, classes: Sequence[str] | None = None):
    """Draw an :func:`explore_epsilon` result: clean, perturbation, adversarial image, then a bar chart
    of class probabilities (clean vs adversarial) for each model. Returns the figure."""
    import matplotlib.pyplot as plt

    names = list(result["probs"])
    n_cls = len(next(iter(result["probs"].values()))["clean"])
    classes = list(classes) if classes is not None else [str(c) for c in range(n_cls)]
    fig, axes = plt.subplots(1, 3 + len(names), figsize=(3.0 * (3 + len(names)) * 0.8, 2.8),
                             gridspec_kw={"width_ratios": [1, 1, 1] + [1.6] * len(names)})
    lim = max(result["eps"], result["linf"], 1e-3)
    panels = [("clean (label " + classes[result["label"]] + ")", result["clean"], "gray", 0, 1),
              (f"perturbation (max {result['linf']:.2f})", result["delta"], "RdBu_r", -lim, lim),
              (f"{result['attack'].upper()} eps={result['eps']:.2f}", result["adversarial"], "gray", 0, 1)]
    for ax, (title, img, cmap, lo, hi) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    idx = np.arange(n_cls)
    for ax, name in zip(axes[3:], names):
        p = result["probs"][name]
        ax.bar(idx - 0.2, p["clean"], 0.4, label="clean", color="#7f7f7f")
        ax.bar(idx + 0.2, p["adversarial"], 0.4, label="adversarial", color="#d62728")
        pred = int(np.argmax(p["adversarial"]))
        ax.set_title(f"{name}: predicts {classes[pred]} ({p['adversarial'][pred]:.0%})"
                     + (" [attacked]" if name == result["against"] else ""), fontsize=9)
        ax.set_xticks(idx, classes, fontsize=8)
        ax.set_ylim(0, 1)
    axes[3].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    return fig
