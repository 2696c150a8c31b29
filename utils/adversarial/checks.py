"""Checks for lesson 01 (adversarial training): projection, FGSM, PGD, the Madry training loss, worst-case robust
accuracy, and the pyramid attack.

Every check runs the learner's function on a small fixed model and a batch of real digits (many pixels are exactly
0 or 1, so forgetting to clamp to [0, 1] shows) and compares it with the course's one trusted implementation in
:mod:`utils.adversarial.attacks`. Before comparing values, a check looks for the typical mistakes in a fixed order
(the pixel range, the eps-ball, the direction of the step, the random start, ...) and names the first it finds, so
the message says what to fix. Each case is bounded in time (``timeout_s``).
"""

from __future__ import annotations

import copy
import functools
import math
import traceback
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utils.adversarial import attacks as trusted
from utils.checks import Case, CheckFailed, assert_close, expect, run_check

__all__ = [
    "CASE_SECONDS",
    "check_project_linf",
    "check_fgsm",
    "check_pgd",
    "check_madry_loss",
    "check_worst_case_accuracy",
    "check_pyramid_attack",
]

CASE_SECONDS = 10.0  # the trusted attacks answer every case in milliseconds


# ---------------------------------------------------------------------------------------------
# Fixtures: fixed toy models and a batch of digits
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _all_digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return (load_digits().data[:64] / 16.0).astype(np.float32)


def _digits(n: int = 24) -> torch.Tensor:
    """The first ``n`` (<= 64) scikit-learn digits as a fresh (n, 1, 8, 8) tensor in [0, 1]."""
    return torch.from_numpy(_all_digits()[:n].copy()).reshape(-1, 1, 8, 8)


def _toy_model(seed: int = 0, batch_norm: bool = False) -> nn.Module:
    """A 64-32-10 ReLU MLP with fixed random weights (optionally with batch-norm), in eval mode; a fresh copy."""
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # nn.Linear's own initialisation draws from the global generator
        hidden = [nn.Linear(64, 32)] + ([nn.BatchNorm1d(32)] if batch_norm else [])
        model = nn.Sequential(nn.Flatten(), *hidden, nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() > 1 else 0.1))
        if batch_norm:
            bn = model[2]
            bn.weight.fill_(1.0)
            bn.bias.zero_()
            h = model[1](_digits(64).flatten(1))  # running statistics that match the data
            bn.running_mean.copy_(h.mean(0))
            bn.running_var.copy_(h.var(0))
            bn.num_batches_tracked.zero_()
    return model.eval()


def _predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1)


def _relabel(pred: torch.Tensor, every: int = 3) -> torch.Tensor:
    """Labels equal to the predictions except on every ``every``-th example (1, 1 + every, ...), where they differ:
    an attack that uses the model's own prediction instead of the label ``y`` then gives a different answer."""
    y = pred.clone()
    idx = torch.arange(1, len(y), every)
    y[idx] = (y[idx] + 1 + idx % 9) % 10
    return y


def _batch(n: int = 24, seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The toy model, digits, and labels: the model's own clean predictions, except on every third example, where
    the label differs from the prediction (a clean mistake)."""
    model = _toy_model(seed)
    x = _digits(n)
    return model, x, _relabel(_predictions(model, x))


class _Recorder(nn.Module):
    """Wraps a model and records the smallest and largest pixel it was ever evaluated on."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.inner = model
        self.lo, self.hi = math.inf, -math.inf

    def forward(self, x):
        self.lo = min(self.lo, float(x.detach().min()))
        self.hi = max(self.hi, float(x.detach().max()))
        return self.inner(x)


def _saw_valid_images(model: _Recorder, name: str, where: str) -> None:
    expect(model.lo >= -1e-6 and model.hi <= 1 + 1e-6,
           f"your `{name}` evaluated the model on pixels outside [0, 1] (min {model.lo:.3f}, max {model.hi:.3f}): "
           f"{where}")


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def _fooled(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(1) != y).float().mean().item()


def _grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


def _same(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a, b, atol=atol, rtol=0))


# ---------------------------------------------------------------------------------------------
# Diagnoses shared by the attack checks (each raises CheckFailed naming the mistake)
# ---------------------------------------------------------------------------------------------

def _as_images(got, x: torch.Tensor, name: str) -> torch.Tensor:
    expect(got is not None, f"`{name}` returned None: did you forget `return x_adv`?")
    expect(isinstance(got, torch.Tensor), f"`{name}` should return a tensor of images, got {type(got).__name__}")
    expect(got.shape == x.shape, f"`{name}` returned shape {tuple(got.shape)}, expected {tuple(x.shape)} "
                                 f"(the same shape as x)")
    expect(got.is_floating_point(), f"`{name}` returned dtype {got.dtype}; return float images like x")
    expect(got.dtype == x.dtype, f"`{name}` returned dtype {got.dtype}, but x is {x.dtype}: keep the dtype of x "
                                 f"(no .double(), no round trip through numpy's float64)")
    expect(not got.requires_grad, f"`{name}` returned a tensor that still requires a gradient (it is attached to "
                                  f"the attack's graph): return x_adv.detach()")
    expect(bool(torch.isfinite(got).all()), f"`{name}` returned nan or inf values")
    return got


_CRASHES = (
    ("does not require grad", "a gradient could not be computed (\"element 0 of tensors does not require grad\"): "
                              "an attack ran under torch.no_grad(), or on a detached tensor. Attacks need input "
                              "gradients: call them with gradients on, and keep torch.no_grad() for predictions only."),
    ("backward through the graph a second time",
     "a graph was back-propagated twice (\"backward through the graph a second time\"): do not call .backward() "
     "on the loss you return; the training loop calls it. Inside an attack, take the input gradient with "
     "torch.autograd.grad(loss, x_adv)."),
    ("Double", "float64 and float32 tensors were mixed: keep the dtype of x (no .double(), no numpy float64)"),
)


def _watched(fn: Callable, name: str) -> Callable:
    """Call the learner's ``fn`` and turn plausible mistakes into CheckFailed messages that say what to do: a
    NotImplementedError raised by ANOTHER unfinished exercise that ``fn`` calls, a no_grad / double-backward / dtype
    crash, and side effects on the arguments (in-place changes, ``requires_grad_`` on the caller's tensor)."""
    code = getattr(fn, "__code__", None)

    def call(*args, **kwargs):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        before = [(t.detach().clone(), t.requires_grad) for t in tensors]
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError as e:
            frames = traceback.extract_tb(e.__traceback__)
            last = e.__traceback__
            while last.tb_next is not None:
                last = last.tb_next
            if code is None or last.tb_frame.f_code is code:
                raise
            where = frames[-1].name if frames else "?"
            raise CheckFailed(f"your `{name}` calls `{where}`, which raised NotImplementedError (not implemented "
                              f"yet): finish that exercise first, then rerun this check") from None
        except RuntimeError as e:
            for pattern, message in _CRASHES:
                if pattern in str(e):
                    raise CheckFailed(f"`{name}` crashed: {message}") from None
            raise
        for t, (old, grad_flag) in zip(tensors, before):
            expect(t.requires_grad == grad_flag, f"your `{name}` switched requires_grad on the caller's tensor (x."
                                                 f"requires_grad_(True) on an argument): work on a copy, "
                                                 f"x.clone().detach().requires_grad_(True)")
            expect(torch.equal(t.detach(), old), f"your `{name}` changed one of its arguments in place (an in-place "
                                                  f"operation such as clamp_ or add_ on an input): return a new "
                                                  f"tensor and leave the caller's tensors as they were")
        return got

    return call


def _not_a_delta(got: torch.Tensor, x: torch.Tensor, expected: torch.Tensor | None, name: str,
                 *deltas: torch.Tensor) -> None:
    candidates = ([expected - x] if expected is not None else []) + list(deltas)
    if any(not _same(d, torch.zeros_like(d)) and _same(got, d) for d in candidates):
        expect(False, f"`{name}` returned the perturbation x_adv - x, not the adversarial images: add it to x")


def _in_box(got: torch.Tensor) -> None:
    lo, hi = float(got.min()), float(got.max())
    expect(lo >= -1e-6 and hi <= 1 + 1e-6,
           f"the images leave the pixel range [0, 1] (min {lo:.3f}, max {hi:.3f}): pixels are intensities in "
           f"[0, 1], and the threat model only allows valid images. Clamp the result to [0, 1].")


def _in_ball(got: torch.Tensor, x: torch.Tensor, eps: float, advice: str) -> None:
    dist = float((got - x).abs().max())
    expect(dist <= eps + 1e-5, f"the perturbation leaves the eps-ball: max |x_adv - x| = {dist:.4f} > eps = "
                               f"{eps:g}. {advice}")


def _loss_went_down(model, got, x, y, name: str) -> None:
    before, after = _loss(model, x, y), _loss(model, got, y)
    expect(after >= before, f"your `{name}` LOWERS the loss (cross-entropy {before:.3f} on x, {after:.3f} on "
                            f"x_adv): an attacker steps UP the loss, along +sign(grad), not against it")


# ---------------------------------------------------------------------------------------------
# Exercise 1: projection
# ---------------------------------------------------------------------------------------------

def _diagnose_projection(got, x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> None:
    expected = trusted.project_linf(x_adv, x, eps)
    got = _as_images(got, x, "project_linf")
    _not_a_delta(got, x, expected, "project_linf", (x_adv - x).clamp(-eps, eps))
    _in_box(got)
    d, want = got - x, x_adv - x
    if float(d.abs().max()) > eps + 1e-5:
        expect(False, f"some pixels end further than eps from x (max |result - x| = {float(d.abs().max()):.3f}, "
                      f"eps = {eps:g}): clip the DIFFERENCE x_adv - x to [-eps, eps] and add it back to x (clipping "
                      f"x_adv itself to [-eps, eps] is not the ball around x)")
    room_below = (want < -eps - 1e-3) & (x - eps > 1e-3)
    if eps > 0 and room_below.any() and bool((d[room_below] > -1e-6).all()):
        expect(False, "the result never goes below x, although x_adv does: the ball is two-sided, clip the "
                      "difference to [-eps, eps], not to [0, eps]")
    outside = (want.abs() > eps + 1e-3) & (x - eps > 1e-3) & (x + eps < 1 - 1e-3)
    if outside.any() and eps > 0:
        short = float(d[outside].abs().min())
        if short < eps - 1e-4:
            expect(False, f"pixels of x_adv that lie outside the ball should land on its boundary, |result - x| = "
                          f"eps = {eps:g}, coordinate by coordinate; some stop at {short:.3f}. The L-inf projection "
                          f"clips each pixel to [x - eps, x + eps]; rescaling the whole perturbation (the L2 "
                          f"projection) or clipping to a smaller radius stops short.")
    inside = (want.abs() < eps - 1e-4) & (x_adv > 1e-4) & (x_adv < 1 - 1e-4)
    if inside.any() and not _same(got[inside], x_adv[inside]):
        expect(False, "points already inside the ball (and inside [0, 1]) moved: the projection is the NEAREST point "
                      "of the ball, so it leaves them where they are. Pushing every pixel to x + eps * sign(x_adv - "
                      "x) is an FGSM-style step, not a projection.")
    assert_close(got, expected, "the projection", atol=1e-6)


def check_project_linf(project_linf: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``project_linf(x_adv, x, eps)``: the nearest point to ``x_adv`` within eps of ``x`` (L-inf) and in [0, 1]."""
    x = _digits(6)
    g = torch.Generator().manual_seed(3)
    far = x + torch.randn(x.shape, generator=g) * 0.5
    near = x + (torch.rand(x.shape, generator=g) - 0.5) * 0.1

    def case(label, xa, xx, eps):
        return Case(label, args=(xa, xx, eps), validate=lambda got: _diagnose_projection(got, xa, xx, eps))

    cases = [
        case("points far outside the ball, eps=0.1", far, x, 0.1),
        case("points already inside the ball (only the [0, 1] clamp may change them), eps=0.2", near, x, 0.2),
        case("eps=0 projects onto x itself", far, x, 0.0),
        case("a flat batch (N, 64), eps=0.3", far.reshape(6, 64), x.reshape(6, 64), 0.3),
    ]
    run_check("project_linf", _watched(project_linf, "project_linf"), cases, timeout_s=timeout_s,
              hint="Two clips in a row: the perturbation to the ball, then the image to the pixel range.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: FGSM
# ---------------------------------------------------------------------------------------------

def _diagnose_fgsm(got, model, x, y, eps: float) -> None:
    expected = trusted.fgsm(model, x, y, eps)
    got = _as_images(got, x, "fgsm")
    _not_a_delta(got, x, expected, "fgsm")
    _in_box(got)
    _in_ball(got, x, eps, "FGSM moves every pixel by exactly eps: eps * sign(grad).")
    free = (expected > 1e-6) & (expected < 1 - 1e-6)  # pixels the clamp does not touch
    if eps > 0 and free.any():
        moved = (got - x).abs()[free]
        if float(moved.median()) < 0.5 * eps:
            expect(False, f"the pixels move by much less than eps (median {float(moved.median()):.4f}, eps = "
                          f"{eps:g}): step by eps times the SIGN of the gradient, not by the raw gradient (whose "
                          f"entries are tiny)")
        step, want = torch.sign(got - x)[free], torch.sign(expected - x)[free]
        if bool((step >= 0).all()) and bool((want < 0).any()):
            expect(False, "the pixels only ever move UP: the perturbation eps * sign(grad) was clamped to [0, 1] "
                          "(which zeroes its negative entries). Clamp the IMAGE x + eps * sign(grad) to [0, 1], not "
                          "the perturbation.")
        if _same(got, trusted.fgsm(model, x, _predictions(model, x), eps), 1e-6):
            expect(False, "you attacked the model's own prediction, not the label y: take the gradient of "
                          "F.cross_entropy(model(x), y) with the labels you are given (on some of these examples the "
                          "label and the prediction differ)")
        agree = float((step == want).float().mean())
        if agree < 0.2:
            _loss_went_down(model, got, x, y, "fgsm")
            expect(False, "the step points against the gradient sign: use x + eps * grad.sign()")
        if agree < 0.999:
            expect(False, f"the step agrees with the sign of the cross-entropy's input gradient on only "
                          f"{agree:.0%} of the pixels: take the gradient of F.cross_entropy(model(x), y) with "
                          f"respect to x, at x itself (not of another loss, and without a random start)")
    assert_close(got, expected, "the FGSM result", atol=1e-6)


def check_fgsm(fgsm: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``fgsm(model, x, y, eps)`` must return ``clamp(x + eps * sign(grad_x CE(model(x), y)), 0, 1)``, detached."""
    model, x, y = _batch(24)

    def case(label, xx, eps):
        return Case(label, args=(model, xx, y, eps), validate=lambda got: _diagnose_fgsm(got, model, xx, y, eps))

    cases = [
        case("24 digits, eps=0.1", x, 0.1),
        case("24 digits, eps=0.3 (many pixels hit 0 or 1)", x, 0.3),
        case("eps=0 changes nothing", x, 0.0),
        case("a flat batch (N, 64), eps=0.1", x.reshape(24, 64), 0.1),
    ]
    run_check("fgsm", _watched(fgsm, "fgsm"), cases, timeout_s=timeout_s,
              hint="The gradient of the loss with respect to the INPUT tells each pixel which way raises the loss; "
                   "FGSM moves every pixel by eps that way.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: PGD
# ---------------------------------------------------------------------------------------------

_BALL_ADVICE = ("Project onto the eps-ball around the ORIGINAL x after every step (projecting around the previous "
                "iterate, or not at all, lets the steps add up).")


def _trusted_pgd_last(model, x, y, eps, alpha, steps, random_start=False, generator=None):
    return trusted.pgd(model, x, y, eps, alpha=alpha, steps=steps, random_start=random_start,
                       generator=generator, keep_best=False)


def _pgd_variant(model, x, y, eps, alpha, steps, variant: str) -> torch.Tensor:
    """Deterministic PGD (no random start) with one typical mistake, to name it when the learner's result matches."""
    xa, acc = x.clone(), torch.zeros_like(x)
    if variant == "fgsm warm start":
        xa, steps = trusted.fgsm(model, x, y, eps), steps - 1
    for _ in range(steps):
        g = _grad(model, xa, y)
        if variant == "accumulated":
            acc = acc + g
            g = acc
        xa = xa + alpha * g.sign()
        xa = xa.clamp(0, 1) if variant == "project at the end" else trusted.project_linf(xa, x, eps)
    return trusted.project_linf(xa, x, eps)


_PGD_VARIANTS = (
    ("accumulated", "the result matches PGD whose gradients ADD UP over the steps (a running sum, like momentum): "
                    "each step uses the sign of the gradient at the current iterate only"),
    ("project at the end", "the result matches PGD that projects onto the eps-ball only once, after the last step: "
                           "project after EVERY step, so that each gradient is taken at a point of the ball"),
    ("fgsm warm start", "the result matches one FGSM step of size eps followed by steps - 1 PGD steps: start at x "
                        "(random_start=False) and take `steps` steps of size alpha"),
)


def _diagnose_pgd_deterministic(pgd: Callable, got, model, x, y, eps, alpha, steps) -> None:
    expected = _trusted_pgd_last(model, x, y, eps, alpha, steps)
    got = _as_images(got, x, "pgd")
    _not_a_delta(got, x, expected, "pgd")
    _in_box(got)
    _in_ball(got, x, eps, _BALL_ADVICE)
    if _same(got, expected, 1e-6):
        return
    again = pgd(model, x.clone(), y.clone(), eps, alpha, steps, random_start=False)
    if isinstance(again, torch.Tensor) and not _same(again.detach(), got, 1e-6):
        expect(False, "with random_start=False two calls gave different results: start exactly at x when "
                      "random_start is False (add noise only when it is True)")
    _loss_went_down(model, got, x, y, "pgd")
    if _same(got, _trusted_pgd_last(model, x, _predictions(model, x), eps, alpha, steps), 1e-6):
        expect(False, "you attacked the model's own prediction, not the label y: take every gradient of "
                      "F.cross_entropy(model(x_adv), y) with the labels you are given (on some of these examples the "
                      "label and the prediction differ)")
    if _same(got, trusted.fgsm(model, x, y, eps), 1e-6):
        expect(False, "the result equals FGSM with step eps: every step used the gradient at the clean x. Recompute "
                      "the gradient at the current iterate x_adv in each step.")
    for k in [steps - 1, steps + 1] + list(range(1, steps - 1)):
        if k >= 1 and _same(got, _trusted_pgd_last(model, x, y, eps, alpha, k), 1e-6):
            expect(False, f"the result matches {k} steps of PGD, not {steps}: take exactly `steps` steps "
                          f"(for _ in range(steps)), and do not stop early when the examples are fooled (the "
                          f"exercise returns the last iterate)")
    if _same(got, _trusted_pgd_last(model, x, y, eps, eps, steps), 1e-6):
        expect(False, "each step moved by eps instead of alpha: the step size is alpha")
    iterates = [x] + [_trusted_pgd_last(model, x, y, eps, alpha, k) for k in range(1, steps + 1)]
    stopped = [next((k for k, it in enumerate(iterates) if _same(got[i], it[i], 1e-6)), None) for i in range(len(x))]
    if all(k is not None for k in stopped) and min(stopped) < steps:
        expect(False, f"{sum(k < steps for k in stopped)} examples stopped early (their result is an earlier "
                      f"iterate, as if you froze each example once it was fooled): keep stepping every example for "
                      f"all `steps` steps and return the last iterate")
    for variant, message in _PGD_VARIANTS:
        if _same(got, _pgd_variant(model, x, y, eps, alpha, steps, variant), 1e-6):
            expect(False, message)
    moved = (got - x).abs()
    # pixels whose whole ball lies inside (0, 1), so no clamp ever touched them, and not on the ball's boundary
    inner = (moved > 1e-6) & (moved < eps - 1e-4) & (x > eps + 1e-3) & (x < 1 - eps - 1e-3)
    if inner.any():  # from x, without a random start, each such pixel sits on a multiple of alpha
        off = (moved[inner] / alpha - (moved[inner] / alpha).round()).abs().max()
        if float(off) > 1e-3:
            expect(False, f"some pixels moved by amounts that are not multiples of alpha = {alpha:g} (from x, without "
                          f"a random start, each step moves a pixel by exactly +-alpha): step by alpha * "
                          f"grad.sign(), not by a normalised gradient")
    assert_close(got, expected, "the PGD result", atol=1e-6)


def _start_statistics(d: torch.Tensor, free: torch.Tensor, eps: float, name: str, draw: str) -> None:
    """Diagnose a random start from ``d = x_adv - x`` (N, ...) after one tiny step, on the ``free`` pixels (those the
    [0, 1] clamp cannot touch). ``draw`` says how the start should be drawn."""
    v = d[free]
    mean_abs, mean = float(v.abs().mean()), float(v.mean())
    expect(mean_abs > 0.1 * eps, f"with random_start=True the result is almost x (mean |x_adv - x| = "
                                 f"{mean_abs:.4f} after one tiny step): start from x plus uniform noise, {draw}")
    at_edge = float((v.abs() > eps - 1e-3).float().mean())
    expect(at_edge < 0.1, f"the random start is not uniform inside the ball: after one tiny step {at_edge:.0%} of "
                          f"the pixels sit on its boundary, where uniform noise puts almost none. Draw {draw}; "
                          f"random signs (+-eps), noise from a wider range, or Gaussian noise put many pixels on the "
                          f"boundary (the projection cuts them off there).")
    expect(abs(mean) < 0.2 * eps, f"the random start is one-sided (mean x_adv - x = {mean:.4f}): the noise must be "
                                  f"symmetric, {draw}, not in [0, eps]")
    per_image = [float(d[i][free[i]].std()) for i in range(len(d)) if int(free[i].sum()) > 3]
    expect(float(np.median(per_image)) > 0.3 * eps,
           f"the random start moves the pixels of one image alike (spread within an image "
           f"{float(np.median(per_image)):.4f}): one noise value per image is not a start inside the ball; draw "
           f"independent noise for every {'pixel' if name == 'pgd' else 'entry of every delta'}, {draw}")
    same = [float(((d[i] - d[0]).abs() < 1e-3)[free[i] & free[0]].float().mean())
            for i in range(1, len(d)) if bool((free[i] & free[0]).any())]
    expect(min(same) < 0.5, "every image got the same random start (one noise tensor shared by the batch): draw "
                            f"the noise for the whole batch, {draw}")
    expect(abs(mean_abs - eps / 2) < 0.15 * eps, f"mean |x_adv - x| is {mean_abs:.4f} after one tiny step; uniform "
                                                 f"noise in [-eps, eps] gives about eps/2 = {eps / 2:.3f}")


def _diagnose_random_start(pgd: Callable, got, model: _Recorder, x: torch.Tensor, y: torch.Tensor,
                           eps: float) -> None:
    got = _as_images(got, x, "pgd")
    _in_box(got)
    _in_ball(got, x, eps, _BALL_ADVICE)
    interior = (x > eps + 0.01) & (x < 1 - eps - 0.01)  # pixels the [0, 1] clamp cannot touch
    _start_statistics(got - x, interior, eps, "pgd", "uniform in [-eps, eps] with the shape of x "
                                                     "(torch.empty_like(x).uniform_(-eps, eps))")
    _saw_valid_images(model, "pgd", "clamp the random start x + noise to [0, 1] before the first step (the model "
                                    "should only ever see images)")
    again = pgd(model, x.clone(), y.clone(), eps, 1e-4, 1, random_start=True)
    if isinstance(again, torch.Tensor):
        expect(not _same(again.detach(), got, 1e-7), "two calls with random_start=True gave the same result: draw "
                                                     "fresh noise on every call (do not call torch.manual_seed "
                                                     "inside pgd)")


def check_pgd(pgd: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``pgd(model, x, y, eps, alpha, steps, random_start=True)``: L-inf PGD returning the last iterate, detached."""
    model, x, y = _batch(24)
    recorder = _Recorder(model).eval()
    pgd = _watched(pgd, "pgd")

    def deterministic(label, eps, alpha, steps):
        return Case(label, args=(model, x, y, eps, alpha, steps), kwargs={"random_start": False},
                    validate=lambda got: _diagnose_pgd_deterministic(pgd, got, model, x, y, eps, alpha, steps))

    def as_strong_as_trusted(got):
        xa = _as_images(got, x, "pgd")
        _in_box(xa)
        _in_ball(xa, x, 0.15, _BALL_ADVICE)
        _loss_went_down(model, xa, x, y, "pgd")
        ref = _fooled(model, _trusted_pgd_last(model, x, y, 0.15, 0.03, 10, True, torch.Generator().manual_seed(1)), y)
        rate = _fooled(model, xa, y)
        expect(rate >= ref - 0.15, f"your PGD fools the model on {rate:.0%} of the batch, the trusted PGD on {ref:.0%} "
                                   f"(eps=0.15, alpha=0.03, 10 steps): check the step direction and the projection")

    cases = [
        deterministic("no random start, eps=0.1, alpha=0.02, 10 steps (the steps add up to more than eps)",
                      0.1, 0.02, 10),
        deterministic("no random start, eps=0.3, alpha=0.1, 5 steps (pixels hit 0 and 1)", 0.3, 0.1, 5),
        Case("random start, eps=0.1, alpha=1e-4, 1 step: the start must be uniform in the ball",
             args=(recorder, x, y, 0.1, 1e-4, 1), kwargs={"random_start": True},
             validate=lambda got: _diagnose_random_start(pgd, got, recorder, x, y, 0.1)),
        Case("random start, eps=0.15, alpha=0.03, 10 steps: as strong as the trusted PGD",
             args=(model, x, y, 0.15, 0.03, 10), validate=as_strong_as_trusted),
    ]
    run_check("pgd", pgd, cases, timeout_s=timeout_s,
              hint="PGD is FGSM with a small step alpha, repeated, with a projection after every step; the start is "
                   "random only when random_start is True.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: the Madry adversarial-training loss
# ---------------------------------------------------------------------------------------------

def check_madry_loss(madry_loss: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``madry_loss(model, x, y, eps, alpha, steps)``: mean cross-entropy on PGD examples, a scalar with gradients.

    The toy model has batch-norm, whose counter ``num_batches_tracked`` grows by one per forward pass in train mode:
    the check reads it to see that the attack ran in eval mode and the final forward pass in train mode. Half of
    the labels differ from the model's predictions, and the trusted loss is computed for several typical mistakes
    (no random start, one step, half the budget, ...) so that a loss matching one of them is named.
    """
    model = _toy_model(1, batch_norm=True)
    x = _digits(32)
    pred = _predictions(model, x)
    y = _relabel(pred, every=2)  # half: the loss of an attack on the predictions is then far from every other one
    eps, alpha, steps = 0.2, 0.05, 5
    clean = _loss(model, x, y)

    def spread(seeds, **kw):  # the trusted loss over several random starts (or once, without one)
        out = []
        for seed in seeds:
            m = copy.deepcopy(model).eval()
            with torch.random.fork_rng():
                torch.manual_seed(100 + seed)
                xa = trusted.pgd(m, x, kw.get("labels", y), kw.get("eps", eps), alpha=kw.get("alpha", alpha),
                                 steps=kw.get("steps", steps), random_start=kw.get("random_start", True),
                                 keep_best=False)
            m.train()
            with torch.no_grad():
                out.append(F.cross_entropy(m(xa), y).item())
        return min(out), max(out)

    lo, hi = spread(range(5))
    ref = (lo + hi) / 2
    margin = 0.25 * (hi - lo) + 0.05
    wrong = [
        (spread([0], random_start=False), "your attack has no random start (the loss matches PGD started at x): "
                                          "call your pgd with random_start=True, its default, as Madry et al. do"),
        (spread(range(5), steps=1), f"the loss matches a ONE-step attack: pass `steps` ({steps}) on to your pgd"),
        (spread(range(5), eps=eps / 2), f"the loss matches an attack with half the budget (eps/2 = {eps / 2:g}): "
                                        f"pass eps on to your pgd unchanged"),
        (spread(range(5), labels=pred), "the loss matches an attack on the model's own predictions, not on the "
                                        "labels y: call your pgd with y"),
        (spread([0], eps=eps, alpha=eps, steps=1, random_start=False),
         "the loss matches FGSM (one step of size eps from x): train on PGD examples, made by your pgd with alpha "
         "and steps"),
    ]
    bn = model[2]
    model.train()
    state = copy.deepcopy(model.state_dict())  # every call starts from the same weights and batch-norm statistics

    def validate(got):
        expect(got is not None, "`madry_loss` returned None: did you forget the `return` statement?")
        if isinstance(got, (float, int)) and not isinstance(got, bool):
            expect(False, f"returned a Python number ({float(got):.4g}): return the loss tensor (no .item()), the "
                          f"training loop back-propagates through it")
        expect(isinstance(got, torch.Tensor), f"`madry_loss` should return a tensor, got {type(got).__name__}")
        if got.dim() == 1 and len(got) == len(x):
            expect(False, f"returned shape {tuple(got.shape)}, one loss per example: return the mean over the batch")
        expect(got.dim() == 0, f"`madry_loss` should return a scalar, got shape {tuple(got.shape)}")
        expect(got.requires_grad, "the loss has no gradient with respect to the model's parameters: compute the final "
                                  "forward pass model(x_adv) outside torch.no_grad(), and do not .detach() it")
        expect(model.training, "after madry_loss the model is left in eval mode: attack in eval mode, then put it "
                               "back in train mode (model.train()) before the forward pass that is trained")
        passes = int(bn.num_batches_tracked)
        expect(passes <= 2, f"the model ran {passes} forward passes in train mode (its batch-norm statistics moved "
                            f"{passes} times): the attack ran with the model in train mode. Call model.eval() before "
                            f"the attack.")
        expect(passes >= 1, "the final forward pass ran in eval mode: switch back to train mode (model.train()) "
                            "BEFORE computing model(x_adv) for the loss")
        try:
            grads = torch.autograd.grad(got, list(model.parameters()), allow_unused=True)
        except RuntimeError as e:
            if "second time" in str(e):
                expect(False, "the loss you returned was already back-propagated (loss.backward() inside "
                              "madry_loss): return the loss without calling backward; the training loop calls it, "
                              "and a second backward through the same graph fails")
            raise
        expect(all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0,
               "the loss does not depend on all the model's parameters")
        v = got.item()
        if passes == 1 and lo - margin <= v <= hi + margin:
            again = fresh_run(model, x.clone(), y.clone(), eps, alpha, steps)
            if isinstance(again, torch.Tensor) and again.dim() == 0 and abs(again.item() - v) < 1e-7:
                expect(False, "two calls gave exactly the same loss: your attack has no random start (or reseeds "
                              "the random generator). Call your pgd with random_start=True, its default.")
            return
        named = [message for (a, b), message in wrong
                 if a - (0.25 * (b - a) + (0.02 if b > a else 1e-4)) <= v <= b + 0.25 * (b - a) + (0.02 if b > a else 1e-4)]
        if named:
            expect(False, f"the loss is {v:.3f}; the trusted loss is {lo:.3f} to {hi:.3f}: " + "; or ".join(named))
        if abs(v - clean) < 0.1 * abs(ref - clean) + 0.02:
            expect(False, f"the loss is {v:.3f}, about the clean loss {clean:.3f}; on PGD examples (eps={eps}, "
                          f"alpha={alpha}, {steps} steps) the trusted loss is {lo:.3f} to {hi:.3f}: train on "
                          f"adversarial examples made by your pgd, not on x")
        if abs(v - (clean + ref)) <= margin + (hi - lo):
            expect(False, f"the loss is {v:.3f}, about the clean loss {clean:.3f} plus the adversarial loss "
                          f"{ref:.3f}: Madry's loss is the adversarial cross-entropy alone (adding the clean loss "
                          f"is a different method)")
        n = len(x)
        if n * (lo - margin) <= v <= n * (hi + margin):
            expect(False, f"the loss is {v:.3f}, about {n} times the trusted {ref:.3f}: use the MEAN cross-entropy "
                          f"over the batch, not the sum")
        expect(passes == 1, "the model ran two forward passes in train mode: the loss is ONE forward pass, on the "
                            "adversarial batch")
        if v < clean + 0.5 * (ref - clean):
            expect(False, f"the loss is {v:.3f}, far below the trusted {lo:.3f} to {hi:.3f} on PGD examples (clean "
                          f"loss {clean:.3f}): the examples you train on are much weaker than PGD's. Check that you "
                          f"pass eps, alpha and steps on to your pgd, and that it climbs the loss.")
        expect(False, f"the loss is {v:.3f}; the trusted madry_at_loss gives {lo:.3f} to {hi:.3f} on this batch")

    watched = _watched(madry_loss, "madry_loss")

    def fresh_run(m, xx, yy, *args):
        m.load_state_dict(state)
        bn.num_batches_tracked.zero_()
        m.train()
        return watched(m, xx, yy, *args)

    cases = [Case(f"a toy model with batch-norm, in train mode; eps={eps}, alpha={alpha}, {steps} steps",
                  args=(model, x, y, eps, alpha, steps), validate=validate)]
    run_check("madry_loss", fresh_run, cases, timeout_s=timeout_s,
              hint="Three moves: make the attack with the model in eval mode, switch back to train mode, and return "
                   "the usual training loss on the attacked batch.")


# ---------------------------------------------------------------------------------------------
# Exercise 5: worst case over several attacks
# ---------------------------------------------------------------------------------------------

def check_worst_case_accuracy(worst_case_accuracy: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``worst_case_accuracy(model, x, y, attacks)``: fraction of examples correct clean AND under every attack."""
    model, x, y = _batch(40, seed=2)
    y = y.clone()
    y[::4] = (y[::4] + 1) % 10  # a quarter of the examples are clean mistakes
    g = torch.Generator().manual_seed(5)
    noise = (torch.rand(x.shape, generator=g) - 0.5) * 0.6

    def fgsm_03(m, xb, yb):
        return trusted.fgsm(m, xb, yb, 0.3)

    def noise_attack(m, xb, yb):
        return (xb + noise[: len(xb)]).clamp(0, 1)

    def helpful(m, xb, yb):  # gradient DEScent with a big step: turns clean mistakes into correct answers
        return (xb - 0.6 * _grad(m, xb, yb).sign()).clamp(0, 1)

    def identity(m, xb, yb):
        return xb.clone()

    def on(lo: int, hi: int, attack):  # an attack that only touches examples lo..hi-1
        def partial(m, xb, yb):
            out = xb.clone()
            out[lo:hi] = attack(m, xb[lo:hi], yb[lo:hi])
            return out
        return partial

    def correct(xs):
        with torch.no_grad():
            return model(xs).argmax(1) == y

    pred = _predictions(model, x)

    def guarded(attack):  # what a learner's call of an attack must look like
        def call(m, xb, yb):
            if not torch.is_grad_enabled():
                raise CheckFailed("`worst_case_accuracy` called an attack under torch.no_grad(): attacks need input "
                                  "gradients. Call each attack with gradients on, and use torch.no_grad() only for "
                                  "the predictions model(x).argmax(1).")
            if isinstance(yb, torch.Tensor) and yb.shape == y.shape and torch.equal(yb, pred) \
                    and not torch.equal(yb, y):
                raise CheckFailed("`worst_case_accuracy` called an attack with the model's own predictions as labels: "
                                  "pass the true labels y, attack(model, x, y); an attack on the prediction of a "
                                  "clean mistake measures something else")
            return attack(m, xb, yb)
        return call

    def diagnose(got, attacks):
        want = trusted.worst_case_accuracy(model, x, y, 1.0, attacks)  # eps=1: these toy attacks may go anywhere
        expect(got is not None, "`worst_case_accuracy` returned None: did you forget the `return` statement?")
        if isinstance(got, torch.Tensor):
            expect(got.numel() == 1, f"returned a tensor of shape {tuple(got.shape)}: return one number, the fraction "
                                     f"of examples that survive every attack")
            expect(False, "returned a tensor: return a Python float (.item())")
        if isinstance(got, np.generic):
            expect(False, f"returned a numpy {type(got).__name__}: return a plain Python float, float(...) or "
                          f"tensor.item()")
        expect(isinstance(got, (float, int)) and not isinstance(got, bool),
               f"`worst_case_accuracy` should return a float, got {type(got).__name__}")
        v = float(got)
        if abs(v - want) < 1e-6:
            return
        clean = correct(x)
        under = [correct(a(model, x, y)) for a in attacks]
        per_attack = [float((clean & u).float().mean()) for u in under]
        per_attack_raw = [float(u.float().mean()) for u in under]
        chained, xs = clean.clone(), x
        for a in attacks:
            xs = a(model, xs, y)
        chained &= correct(xs)
        all_ok = torch.stack(under).all(0)
        alternatives = [
            (float(all_ok.float().mean()), "ignored the clean predictions: an example the model gets wrong on the "
                                           "clean input is not robust, start from 'correct on x'"),
            (float(np.mean(per_attack)), "averaged the per-attack accuracies: an example counts only if it survives "
                                         "EVERY attack; combine per example with AND"),
            (float(np.mean(per_attack_raw)), "averaged the per-attack accuracies: combine per example with AND"),
            (float(min(per_attack)), "took the minimum of the per-attack accuracies: different attacks break "
                                     "different examples, so combine per example with AND"),
            (float(min(per_attack_raw)), "took the minimum of the per-attack accuracies: combine per example with AND"),
            (float((clean & under[-1]).float().mean()), "counted only the LAST attack: the result of each attack must "
                                                        "be combined with the ones before (ok &= ..., not ok = ...)"),
            (float((clean & torch.stack(under).any(0)).float().mean()),
             "counted an example if it survives ANY attack: it must survive all of them (AND, not OR)"),
            (float(chained.float().mean()), "applied each attack to the previous attack's output: every attack "
                                            "starts from the clean x"),
            (1.0 - want, "returned the error rate: return the fraction of examples that stay correct"),
            (want * len(x), "returned a count: divide by the number of examples (the mean of the booleans)"),
        ]
        named = [message for alt, message in alternatives if abs(v - alt) < 1e-6 and abs(alt - want) > 1e-6]
        if named:
            expect(False, f"returned {v:.4g}, expected {want:.4g}: you " + "; or you ".join(named))
        expect(False, f"returned {v:.4g}, expected {want:.4g}")

    sets = [
        ("random noise, FGSM (eps=0.3), and FGSM (eps=0.1) on examples 0-13; a quarter of the labels are clean "
         "mistakes", [noise_attack, fgsm_03, on(0, 14, lambda m, xb, yb: trusted.fgsm(m, xb, yb, 0.1))]),
        ("an 'attack' that helps the model: clean mistakes must still count as mistakes", [helpful]),
        ("no real attack (identity): the result is the clean accuracy", [identity]),
        ("FGSM on examples 0-13 and on examples 14-39: each attack breaks different examples",
         [on(0, 14, fgsm_03), on(14, 40, lambda m, xb, yb: trusted.fgsm(m, xb, yb, 0.1))]),
        ("FGSM on every example, then the helpful step on examples 0-11: every attack starts from the clean x",
         [fgsm_03, on(0, 12, helpful)]),
        ("noise, FGSM and the helpful step: an example counts only if it survives all",
         [noise_attack, fgsm_03, helpful]),
    ]
    sets = [(label, [guarded(a) for a in attacks]) for label, attacks in sets]
    cases = [Case(label, args=(model, x, y, attacks), validate=lambda got, a=attacks: diagnose(got, a))
             for label, attacks in sets]
    run_check("worst_case_accuracy", _watched(worst_case_accuracy, "worst_case_accuracy"), cases, timeout_s=timeout_s,
              hint="Track one boolean per example through all the attacks; a single mistake anywhere, clean or "
                   "attacked, rules the example out.")


# ---------------------------------------------------------------------------------------------
# Exercise 6: the pyramid attack
# ---------------------------------------------------------------------------------------------

def _block_spread(d: torch.Tensor, free: torch.Tensor, block: int) -> float:
    """Largest spread of ``d`` inside one ``block`` x ``block`` block of one image, over unclamped pixels."""
    n, c, h, w = d.shape
    worst = 0.0
    for i in range(n):
        for r in range(0, h, block):
            for s in range(0, w, block):
                v = d[i, :, r:r + block, s:s + block][free[i, :, r:r + block, s:s + block]]
                if v.numel() > 1:
                    worst = max(worst, float(v.max() - v.min()))
    return worst


def _pyramid_common(got, x, y, model: _Recorder, name="pyramid_attack") -> torch.Tensor:
    got = _as_images(got, x, name)
    _in_box(got)
    _saw_valid_images(model, name, "clamp x + compose_pyramid(deltas, (H, W)) to [0, 1] before every forward pass, "
                                   "not only at the end")
    model.lo, model.hi = math.inf, -math.inf
    return got


def check_pyramid_attack(pyramid_attack: Callable, *, timeout_s: float = CASE_SECONDS) -> None:
    """``pyramid_attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True)``."""
    model, x, y = _batch(24, seed=3)
    recorder = _Recorder(model).eval()
    scales, eps = (8, 4, 2, 1), (0.02, 0.05, 0.1, 0.2)

    def one_step(got):  # one 2x2 scale (4x4-pixel blocks), budget 0.2, alpha_frac 0.1, one step from zero
        xa = _pyramid_common(got, x, y, recorder)
        expected = trusted.pyramid_attack(model, x, y, (2,), (0.2,), steps=1, alpha_frac=0.1, random_start=False)
        _not_a_delta(xa, x, expected, "pyramid_attack")
        if _same(xa, expected, 1e-6):
            return
        again = pyramid_attack(model, x.clone(), y.clone(), (2,), (0.2,), 1, alpha_frac=0.1, random_start=False)
        if isinstance(again, torch.Tensor) and not _same(again.detach(), xa, 1e-6):
            expect(False, "with random_start=False two calls gave different results: start every delta at zero "
                          "when random_start is False")
        d = xa - x
        free = (xa > 1e-6) & (xa < 1 - 1e-6)
        both = free & free[:1]
        if len(x) > 1 and float(d.abs().max()) > 0 and all(
                _same(d[i][both[i]], d[0][both[i]], 1e-6) for i in range(1, len(x))):
            expect(False, "every image got the same perturbation: keep one delta per image, of shape (N, C, s, s), "
                          "so that each image is attacked along its own gradient")
        spread = _block_spread(d, free, 4)
        if spread > 1e-5 and _block_spread(d, free, 2) < 1e-5:
            expect(False, "the perturbation is constant over 2x2-pixel blocks, not over 4x4 ones: a scale s means an "
                          "s x s grid of blocks (a delta of shape (N, C, s, s)), each H/s pixels wide; the scale is "
                          "not the block size")
        expect(spread < 1e-5, f"inside one 4x4 block of the image the perturbation varies by {spread:.3g}: a 2x2 "
                              f"delta must be copied over whole blocks (nearest-neighbour upsampling, as "
                              f"compose_pyramid does), not interpolated")
        moved = d[free].abs()
        if moved.numel():
            size = float(moved.max())
            if size > 0.02 + 1e-5:
                expect(False, f"one step moved a block by {size:.3f}; with budget 0.2 and alpha_frac 0.1 the step is "
                              f"alpha_frac * eps[k] = 0.02: the step size is a fraction of each scale's own budget")
        _loss_went_down(model, xa, x, y, "pyramid_attack")
        assert_close(xa, expected, "the pyramid attack's result", atol=1e-6)

    def own_budgets(got, sc, bud):  # two scales; the finer one must stay within its own budget
        xa = _pyramid_common(got, x, y, recorder)
        d = xa - x
        free = (xa > 1e-6) & (xa < 1 - 1e-6)
        if bud[-1] == 0.0:  # the 1x1 scale has no budget: only the 4x4 delta (2x2-pixel blocks) may move
            biggest = float(d[free].abs().max()) if free.any() else 0.0
            expect(biggest <= bud[0] + 1e-5, f"with budgets {bud} the 1x1 scale may not move at all, yet the "
                                             f"perturbation reaches {biggest:.3f} > {bud[0]}: each scale is clipped "
                                             f"to its OWN budget, not to one shared budget")
        else:  # the 4x4 delta's values may differ by at most 2 * bud[0] between blocks of one image
            worst = 0.0
            for i in range(len(x)):
                v = d[i][free[i]]
                if v.numel() > 1:
                    worst = max(worst, float(v.max() - v.min()))
            expect(worst <= 2 * bud[0] + 1e-5, f"within one image the perturbation varies by {worst:.3f}, more than "
                                               f"the 4x4 scale's budget allows (2 x {bud[0]}): clip each delta to its "
                                               f"OWN budget after every step (not one shared budget, and not only "
                                               f"their sum)")
        _in_ball(xa, x, sum(bud), "Clip every delta to its own budget eps[k] after every step.")
        expected = trusted.pyramid_attack(model, x, y, sc, bud, steps=4, alpha_frac=0.5, random_start=False)
        if not _same(xa, expected, 1e-6):
            _loss_went_down(model, xa, x, y, "pyramid_attack")
        assert_close(xa, expected, "the pyramid attack's result", atol=1e-6)

    def random_start(got):  # one 4x4 scale (2x2-pixel blocks), budget 0.1, one tiny step: the start itself
        xa = _pyramid_common(got, x, y, recorder)
        budget = 0.1
        interior = (x > budget + 0.01) & (x < 1 - budget - 0.01)
        d = xa - x
        worst = float(d[interior].abs().max())
        expect(worst <= budget + 1e-3, f"the random start leaves the delta's budget: |delta| reaches {worst:.3f} > "
                                       f"{budget}: draw each delta uniformly in [-eps[k], eps[k]]")
        _start_statistics(d, interior, budget, "pyramid_attack",
                          "uniform in [-eps[k], eps[k]] with shape (N, C, s, s) for each scale")

    def whole_image_shift(got):  # one 1x1 scale, random start: a uniform brightness shift per image
        xa = _pyramid_common(got, x, y, recorder)
        d = xa - x
        free = (xa > 1e-6) & (xa < 1 - 1e-6)
        spread = _block_spread(d, free, 8)
        expect(spread < 1e-5, f"with the single scale 1 (a 1x1 delta) every pixel of an image must move by the same "
                              f"amount (except where clamped); got a spread of {spread:.3g}. Upsample each delta "
                              f"with compose_pyramid.")
        expect(float(d.abs().max()) <= 0.1 + 1e-5, f"the 1x1 delta exceeds its budget 0.1: max |delta| = "
                                                     f"{float(d.abs().max()):.3f}")
        shifts = torch.stack([d[i][free[i]].mean() for i in range(len(x)) if free[i].any()])
        expect(float(shifts.std()) > 1e-4, "every image got the same perturbation: keep one delta per image, of "
                                           "shape (N, C, s, s), and draw the random start for each")

    def strong_enough(got):
        xa = _pyramid_common(got, x, y, recorder)
        _in_ball(xa, x, sum(eps), "Clip every delta to its own budget eps[k] after every step.")
        _loss_went_down(model, xa, x, y, "pyramid_attack")
        ref = _fooled(model, trusted.pyramid_attack(model, x, y, scales, eps, steps=5,
                                                    generator=torch.Generator().manual_seed(1)), y)
        rate = _fooled(model, xa, y)
        expect(rate >= ref - 0.15, f"your attack fools the model on {rate:.0%} of the batch, the trusted one on "
                                   f"{ref:.0%}: step every delta along +sign(its gradient)")

    def full(got):
        xa = _pyramid_common(got, x, y, recorder)
        expected = trusted.pyramid_attack(model, x, y, scales, eps, steps=5, alpha_frac=0.5, random_start=False)
        _not_a_delta(xa, x, expected, "pyramid_attack")
        _in_ball(xa, x, sum(eps), "Clip every delta to its own budget eps[k] after every step.")
        assert_close(xa, expected, "the pyramid attack's result", atol=1e-6)

    cases = [
        Case("one 2x2 scale (4x4-pixel blocks), budget 0.2, alpha_frac=0.1, 1 step, no random start",
             args=(recorder, x, y, (2,), (0.2,), 1), kwargs={"alpha_frac": 0.1, "random_start": False},
             validate=one_step),
        Case("scales (4, 1) with budgets (0.05, 0.2), 4 steps: the 4x4 delta stays within 0.05",
             args=(recorder, x, y, (4, 1), (0.05, 0.2), 4), kwargs={"alpha_frac": 0.5, "random_start": False},
             validate=lambda got: own_budgets(got, (4, 1), (0.05, 0.2))),
        Case("scales (4, 1) with budgets (0.1, 0.0): a zero budget keeps that scale at zero",
             args=(recorder, x, y, (4, 1), (0.1, 0.0), 4), kwargs={"alpha_frac": 0.5, "random_start": False},
             validate=lambda got: own_budgets(got, (4, 1), (0.1, 0.0))),
        Case("one 4x4 scale with budget 0.1, a random start and one tiny step: the start must be uniform in the "
             "budget", args=(recorder, x, y, (4,), (0.1,), 1), kwargs={"alpha_frac": 1e-3, "random_start": True},
             validate=random_start),
        Case("one 1x1 scale with budget 0.1 and a random start: a uniform brightness shift per image",
             args=(recorder, x, y, (1,), (0.1,), 3), kwargs={"random_start": True}, validate=whole_image_shift),
        Case("scales (8, 4, 2, 1), budgets (0.02, 0.05, 0.1, 0.2), 5 steps, no random start",
             args=(recorder, x, y, scales, eps, 5), kwargs={"alpha_frac": 0.5, "random_start": False}, validate=full),
        Case("scales (8, 4, 2, 1), random start, 5 steps: as strong as the trusted attack",
             args=(recorder, x, y, scales, eps, 5), validate=strong_enough),
    ]
    run_check("pyramid_attack", _watched(pyramid_attack, "pyramid_attack"), cases, timeout_s=timeout_s,
              hint="One delta per scale, each with its own budget and its own step; the image is x plus the sum of "
                   "the upsampled deltas, clamped to [0, 1].")
