"""Checks for lesson 01 (adversarial training): projection, FGSM, PGD, the Madry training loss,
worst-case robust accuracy, and the pyramid attack.

Every check runs the learner's function on a small, fixed model and a batch of real digits (many
pixels are exactly 0 or 1, so forgetting to clamp to [0, 1] shows), and compares it with the
private reference implementations below.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.adversarial.attacks import compose_pyramid
from utils.checks import Case, CheckFailed, _friendly, expect, run_check

__all__ = [
    "require",
    "check_project_linf",
    "check_fgsm",
    "check_pgd",
    "check_madry_loss",
    "check_worst_case_accuracy",
    "check_pyramid_attack",
]


# ---------------------------------------------------------------------------------------------
# Which exercises have passed their check in this session
# ---------------------------------------------------------------------------------------------

_PASSED: set[str] = set()


def _run_tracked(name: str, fn: Callable, cases, **kwargs) -> None:
    """``run_check`` that records a pass for :func:`require`; a failing re-run withdraws an earlier pass."""
    _PASSED.discard(name)
    run_check(name, fn, cases, **kwargs)
    _PASSED.add(name)


def require(*names: str) -> None:
    """Raise a friendly ``NotImplementedError`` unless the checks of the exercises ``names`` have passed.

    Stricter than ``need`` (which only rejects missing names and unchanged stubs): a function that was
    edited but still fails its check does not count, so later results are never built on a wrong attack.
    """
    missing = [n for n in names if n not in _PASSED]
    if missing:
        msg = (f"This cell uses {', '.join(f'`{n}`' for n in missing)}, whose exercise check has not passed yet in "
               f"this session. Finish that exercise, run its cell until it prints ✓, then run this cell again.")
        raise _friendly(NotImplementedError(msg), "⏳ " + msg)


# ---------------------------------------------------------------------------------------------
# Fixtures: a fixed toy model and a batch of digits
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _all_digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data[:64] / 16.0).astype(np.float32)


def _digits(n: int = 24) -> torch.Tensor:
    """The first ``n`` (<= 64) scikit-learn digits as a fresh (n, 1, 8, 8) tensor in [0, 1]."""
    return torch.from_numpy(_all_digits()[:n].copy()).reshape(-1, 1, 8, 8)


def _toy_model(seed: int = 0) -> nn.Module:
    """A 64-32-10 ReLU MLP with fixed random weights, in eval mode (a fresh copy on every call)."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # nn.Linear's own initialisation draws from the global generator
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() > 1 else 0.1))
    return model.eval()


def _batch(n: int = 24, seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The toy model, digits, and labels = the model's own clean predictions (so every example starts correct)."""
    model = _toy_model(seed)
    x = _digits(n)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _grad_sign(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        loss = F.cross_entropy(model(x), y)
        return torch.autograd.grad(loss, x)[0].sign()


# ---------------------------------------------------------------------------------------------
# References (private)
# ---------------------------------------------------------------------------------------------

def _reference_project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)


def _reference_fgsm(model, x, y, eps):
    return (x + eps * _grad_sign(model, x, y)).clamp(0.0, 1.0).detach()


def _reference_pgd(model, x, y, eps, alpha, steps, random_start=True):
    x = x.detach()
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1) if random_start else x.clone()
    for _ in range(steps):
        x_adv = _reference_project_linf(x_adv + alpha * _grad_sign(model, x_adv, y), x, eps).detach()
    return x_adv


def _reference_madry_loss(model, x, y, eps, alpha, steps):
    was = model.training
    model.eval()
    x_adv = _reference_pgd(model, x, y, eps, alpha, steps)
    model.train(was)
    return F.cross_entropy(model(x_adv), y)


def _reference_worst_case_accuracy(model, x, y, attacks) -> float:
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    for attack in attacks:
        x_adv = attack(model, x, y)
        with torch.no_grad():
            ok &= model(x_adv).argmax(1) == y
    return ok.float().mean().item()


def _reference_pyramid_attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True):
    n, c, h, w = x.shape
    x = x.detach()
    if random_start:
        deltas = [torch.empty(n, c, s, s).uniform_(-e, e) for s, e in zip(scales, eps)]
    else:
        deltas = [torch.zeros(n, c, s, s) for s in scales]
    for _ in range(steps):
        ds = [d.clone().requires_grad_(True) for d in deltas]
        x_adv = (x + compose_pyramid(ds, (h, w))).clamp(0, 1)
        grads = torch.autograd.grad(F.cross_entropy(model(x_adv), y), ds)
        deltas = [(d + alpha_frac * e * g.sign()).clamp(-e, e).detach() for d, g, e in zip(ds, grads, eps)]
    return (x + compose_pyramid(deltas, (h, w))).clamp(0, 1).detach()


# ---------------------------------------------------------------------------------------------
# Validators shared by the attack checks
# ---------------------------------------------------------------------------------------------

def _as_images(got, like: torch.Tensor, name: str) -> torch.Tensor:
    expect(got is not None, f"`{name}` returned None: did you forget `return x_adv`?")
    expect(isinstance(got, torch.Tensor), f"`{name}` should return a tensor, got {type(got).__name__}")
    expect(got.shape == like.shape, f"`{name}` returned shape {tuple(got.shape)}, expected {tuple(like.shape)} "
                                    f"(the same shape as x)")
    return got.detach()


def _in_box(x_adv: torch.Tensor) -> None:
    lo, hi = float(x_adv.min()), float(x_adv.max())
    expect(lo >= -1e-6 and hi <= 1 + 1e-6,
           f"the adversarial images leave the valid pixel range: min {lo:.3f}, max {hi:.3f}. "
           f"Clamp to [0, 1] after every step.")


def _in_ball(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> None:
    dist = float((x_adv - x).abs().max())
    expect(dist <= eps + 1e-5, f"the perturbation is larger than eps: max |x_adv - x| = {dist:.4f} > eps = {eps}. "
                               f"Project back onto the eps-ball after every step.")


def _fooled(model, x_adv, y) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(1) != y).float().mean().item()


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------

def check_project_linf(project_linf: Callable) -> None:
    """``project_linf(x_adv, x, eps)``: the nearest point to ``x_adv`` within eps of ``x`` (L-inf) and in [0, 1]."""
    x = _digits(6)
    g = torch.Generator().manual_seed(3)
    far = x + torch.randn(x.shape, generator=g) * 0.5
    near = x + (torch.rand(x.shape, generator=g) - 0.5) * 0.1
    cases = [
        Case("points far outside the ball, eps=0.1", args=(far, x, 0.1),
             expected=_reference_project_linf(far, x, 0.1)),
        Case("points already inside the ball (only [0, 1] clamping matters), eps=0.2", args=(near, x, 0.2),
             expected=_reference_project_linf(near, x, 0.2)),
        Case("eps=0 projects onto x itself", args=(far, x, 0.0), expected=x.clone()),
        Case("a flat batch (N, 64), eps=0.3", args=(far.reshape(6, 64), x.reshape(6, 64), 0.3),
             expected=_reference_project_linf(far, x, 0.3).reshape(6, 64)),
    ]
    _run_tracked("project_linf", project_linf, cases,
              hint="Clip the perturbation x_adv - x to [-eps, eps] (torch.clamp or torch.min/max with x - eps "
                   "and x + eps), add it back to x, then clamp the result to [0, 1].")


def check_fgsm(fgsm: Callable) -> None:
    """``fgsm(model, x, y, eps)`` must return ``clamp(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``."""
    model, x, y = _batch(24)
    cases = [
        Case("24 digits, eps=0.1", args=(model, x, y, 0.1), expected=_reference_fgsm(model, x, y, 0.1), atol=1e-6),
        Case("24 digits, eps=0.3 (many pixels hit 0 or 1)", args=(model, x, y, 0.3),
             expected=_reference_fgsm(model, x, y, 0.3), atol=1e-6),
        Case("eps=0 changes nothing", args=(model, x, y, 0.0), expected=x.clone(), atol=1e-6),
        Case("a flat batch (N, 64)", args=(model, x.reshape(24, 64), y, 0.1),
             expected=_reference_fgsm(model, x.reshape(24, 64), y, 0.1), atol=1e-6),
    ]
    _run_tracked("fgsm", fgsm, cases,
              hint="Go *up* the loss: x + eps * grad.sign() (not minus), with the gradient of the cross-entropy "
                   "with respect to the input x (x.requires_grad_(True), then torch.autograd.grad or .backward()), "
                   "and clamp the result to [0, 1].")


def check_pgd(pgd: Callable) -> None:
    """``pgd(model, x, y, eps, alpha, steps, random_start=True)``: L-inf PGD returning the last iterate."""
    model, x, y = _batch(24)

    def random_start_used(got):
        xa = _as_images(got, x, "pgd")
        _in_box(xa)
        _in_ball(xa, x, 0.1)
        interior = (x > 0.1) & (x < 0.9)
        moved = (xa - x).abs()[interior].mean().item()
        expect(moved > 0.025, f"with random_start=True, alpha=1e-4 and 1 step the result should start from a "
                              f"uniform random point of the ball (mean |x_adv - x| about eps/2 = 0.05 for "
                              f"pixels away from 0 and 1); got {moved:.4f}. Add uniform noise in [-eps, eps] "
                              f"before the first step, then clamp to [0, 1].")

    def as_strong_as_reference(got):
        xa = _as_images(got, x, "pgd")
        _in_box(xa)
        _in_ball(xa, x, 0.15)
        with torch.random.fork_rng():
            torch.manual_seed(1)
            ref = _fooled(model, _reference_pgd(model, x, y, 0.15, 0.03, 10), y)
        got_rate = _fooled(model, xa, y)
        expect(got_rate >= ref - 0.15,
               f"your PGD fools the model on {got_rate:.0%} of the batch; the reference fools it on {ref:.0%} "
               f"(eps=0.15, alpha=0.03, 10 steps). The attack should increase the loss: step along +sign(grad).")

    cases = [
        Case("no random start, eps=0.1, alpha=0.02, 10 steps (the steps add up to more than eps)",
             args=(model, x, y, 0.1, 0.02, 10), kwargs={"random_start": False},
             expected=_reference_pgd(model, x, y, 0.1, 0.02, 10, random_start=False), atol=1e-6),
        Case("no random start, eps=0.3, alpha=0.1, 5 steps (pixels hit 0 and 1)",
             args=(model, x, y, 0.3, 0.1, 5), kwargs={"random_start": False},
             expected=_reference_pgd(model, x, y, 0.3, 0.1, 5, random_start=False), atol=1e-6),
        Case("random start, eps=0.1, alpha=1e-4, 1 step", args=(model, x, y, 0.1, 1e-4, 1),
             kwargs={"random_start": True}, validate=random_start_used),
        Case("random start, eps=0.15, alpha=0.03, 10 steps: in the ball, in [0, 1], as strong as the reference",
             args=(model, x, y, 0.15, 0.03, 10), validate=as_strong_as_reference),
    ]
    _run_tracked("pgd", pgd, cases,
              hint="Each step: x_adv = x_adv + alpha * sign(grad of the loss at x_adv), then project onto the "
                   "eps-ball around the *original* x and clamp to [0, 1] (your project_linf does both). "
                   "Return the last iterate, detached.")


def check_madry_loss(madry_loss: Callable) -> None:
    """``madry_loss(model, x, y, eps, alpha, steps)``: cross-entropy on PGD examples, a scalar with gradients."""
    model, x, y = _batch(32, seed=1)
    model.train()
    with torch.no_grad():
        clean = F.cross_entropy(model(x), y).item()
    with torch.random.fork_rng():
        torch.manual_seed(1)
        ref = _reference_madry_loss(model, x, y, 0.2, 0.05, 5).item()
    model.train()

    def validate(got):
        expect(isinstance(got, torch.Tensor), f"`madry_loss` should return a tensor, got {type(got).__name__}")
        expect(got.dim() == 0, f"`madry_loss` should return a scalar (the mean over the batch), "
                               f"got shape {tuple(got.shape)}")
        expect(got.requires_grad, "the loss has no gradient with respect to the model's parameters: compute the "
                                  "final forward pass model(x_adv) outside torch.no_grad(), and do not .detach() "
                                  "or .item() the loss.")
        expect(model.training, "after madry_loss the model is in eval mode: attack in eval mode, then put the "
                               "model back in train mode (model.train()) before the training forward pass.")
        grads = torch.autograd.grad(got, [p for p in model.parameters()], allow_unused=True)
        expect(all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0,
               "the loss does not depend on the model's parameters.")
        v = got.item()
        expect(v > clean + 0.5 * (ref - clean),
               f"the loss is {v:.3f}, close to the clean loss {clean:.3f}; on PGD examples (eps=0.2, alpha=0.05, "
               f"5 steps) the reference loss is {ref:.3f}. Train on pgd(model, x, y, ...), not on x.")
        expect(v < ref * 1.5 + 1.0, f"the loss is {v:.3f}, far above the reference {ref:.3f}: "
                                    f"use the mean cross-entropy over the batch.")

    cases = [Case("the toy model in train mode, eps=0.2, alpha=0.05, 5 steps",
                  args=(model, x, y, 0.2, 0.05, 5), validate=validate)]
    _run_tracked("madry_loss", madry_loss, cases,
              hint="with the model in eval mode, x_adv = pgd(model, x, y, eps, alpha, steps); then model.train() "
                   "and return F.cross_entropy(model(x_adv), y).")


def check_worst_case_accuracy(worst_case_accuracy: Callable) -> None:
    """``worst_case_accuracy(model, x, y, attacks)``: fraction of examples correct clean and under every attack."""
    model, x, y = _batch(40, seed=2)
    # Half the labels are the model's predictions, half are shifted: those examples are clean mistakes.
    y = y.clone()
    y[::2] = (y[::2] + 1) % 10
    g = torch.Generator().manual_seed(5)
    noise = (torch.rand(x.shape, generator=g) - 0.5) * 0.6

    def fgsm_03(m, xb, yb):
        return _reference_fgsm(m, xb, yb, 0.3)

    def noise_attack(m, xb, yb):
        return (xb + noise[: len(xb)]).clamp(0, 1)

    def helpful(m, xb, yb):  # gradient *descent* with a big step: turns clean mistakes into correct answers
        return (xb - 0.6 * _grad_sign(m, xb, yb)).clamp(0, 1)

    def identity(m, xb, yb):
        return xb.clone()

    sets = [
        ("FGSM (eps=0.3) and a random-noise 'attack'", [fgsm_03, noise_attack]),
        ("a weak 'attack' that helps the model: clean mistakes must still count as mistakes", [helpful]),
        ("no real attack (identity): the result is the clean accuracy", [identity]),
        ("noise, FGSM and the helpful step: an example counts only if it survives all", [noise_attack, fgsm_03, helpful]),
    ]
    cases = [Case(label, args=(model, x, y, attacks), expected=_reference_worst_case_accuracy(model, x, y, attacks),
                  atol=1e-6) for label, attacks in sets]
    _run_tracked("worst_case_accuracy", worst_case_accuracy, cases,
              hint="Keep one boolean per example, start with 'correct on the clean input', and AND it with "
                   "'correct under attack k' for every attack; return the mean of the final booleans as a float. "
                   "Averaging or taking the min of per-attack accuracies over-reports robustness.")


def check_pyramid_attack(pyramid_attack: Callable) -> None:
    """``pyramid_attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True)``."""
    model, x, y = _batch(24, seed=3)
    scales, eps = (8, 4, 2, 1), (0.02, 0.05, 0.1, 0.2)

    def whole_image_shift(got):
        xa = _as_images(got, x, "pyramid_attack")
        _in_box(xa)
        d = xa - x
        interior = (xa > 1e-6) & (xa < 1 - 1e-6)
        spread = []
        for i in range(len(x)):
            v = d[i][interior[i]]
            if v.numel() > 1:
                spread.append(float(v.max() - v.min()))
        expect(max(spread) < 1e-5, "with the single scale 1 (a 1x1 perturbation) every pixel of an image must move "
                                   "by the same amount (except where clamped to 0 or 1); got a spread of "
                                   f"{max(spread):.3g}. Upsample each delta with compose_pyramid.")
        expect(float(d.abs().max()) <= 0.1 + 1e-5, f"the 1x1 delta exceeds its budget 0.1: max |delta| = "
                                                     f"{float(d.abs().max()):.3f}")

    def strong_enough(got):
        xa = _as_images(got, x, "pyramid_attack")
        _in_box(xa)
        _in_ball(xa, x, sum(eps))
        with torch.random.fork_rng():
            torch.manual_seed(1)
            ref = _fooled(model, _reference_pyramid_attack(model, x, y, scales, eps, 5), y)
        rate = _fooled(model, xa, y)
        expect(rate >= ref - 0.15, f"your attack fools the model on {rate:.0%} of the batch, the reference on "
                                   f"{ref:.0%}: step every delta along +sign(its gradient).")

    cases = [
        Case("scales (8, 4, 2, 1) with budgets (0.02, 0.05, 0.1, 0.2), 5 steps, no random start",
             args=(model, x, y, scales, eps, 5), kwargs={"alpha_frac": 0.5, "random_start": False},
             expected=_reference_pyramid_attack(model, x, y, scales, eps, 5, 0.5, False), atol=1e-6),
        Case("scales (4, 1) with budgets (0.1, 0.0): a zero budget keeps that scale at zero",
             args=(model, x, y, (4, 1), (0.1, 0.0), 4), kwargs={"alpha_frac": 0.3, "random_start": False},
             expected=_reference_pyramid_attack(model, x, y, (4, 1), (0.1, 0.0), 4, 0.3, False), atol=1e-6),
        Case("one 1x1 scale with budget 0.1 and a random start: a uniform brightness shift per image",
             args=(model, x, y, (1,), (0.1,), 3), kwargs={"random_start": True}, validate=whole_image_shift),
        Case("scales (8, 4, 2, 1), random start, 5 steps: in [0, 1] and as strong as the reference",
             args=(model, x, y, scales, eps, 5), validate=strong_enough),
    ]
    _run_tracked("pyramid_attack", pyramid_attack, cases,
              hint="Keep one delta per scale, shape (N, C, s, s). Each step: x_adv = clamp(x + compose_pyramid("
                   "deltas, (H, W)), 0, 1); take the gradient of the loss with respect to every delta; move delta_k "
                   "by alpha_frac * eps[k] * sign(grad_k) and clip it to [-eps[k], eps[k]] (its own budget).")
