"""Checks for ``05_interpretability``: feature visualisation, natural exemplars, 2AFC trials, the
automated observer, and saliency maps. References are private (``_reference_*``)."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from utils.interpret.experiment import centre_units, percentile_ranks, total_variation, unit_activations
from utils.checks import Case, expect, run_check

__all__ = ["check_visualise", "check_natural_exemplars", "check_build_trials", "check_choose", "check_saliency"]

WINDOW = 5.0  # half-width of a query's percentile window, in percentile points


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------

def _reference_visualise(features, units, direction=1, steps=150, lr=0.1, tv_weight=0.05, max_shift=1, seed=0,
                         shape=(1, 8, 8)):
    from utils.interpret.experiment import jitter

    units = torch.as_tensor(units).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    p = (0.1 * torch.randn(len(units), *shape, generator=g)).requires_grad_()
    opt = torch.optim.Adam([p], lr=lr)
    for step in range(steps):
        x = torch.sigmoid(p)
        seen = jitter(x, max_shift, g) if step < steps // 2 else x
        act = unit_activations(features, seen, units)
        loss = -(direction * act).sum() + tv_weight * total_variation(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.sigmoid(p).detach()


def _reference_natural_exemplars(acts, k):
    top = torch.argsort(acts, dim=0, descending=True, stable=True)[:k].T.contiguous()
    bottom = torch.argsort(acts, dim=0, stable=True)[:k].T.contiguous()
    return top, bottom


def _reference_build_trials(query_acts, gap, n_trials, generator=None, width=WINDOW):
    ranks = percentile_ranks(query_acts)
    hi_c, lo_c = 50 + gap / 2, 50 - gap / 2
    strong_pool = torch.nonzero((ranks - hi_c).abs() <= width).flatten()
    weak_pool = torch.nonzero((ranks - lo_c).abs() <= width).flatten()
    strong = strong_pool[torch.randint(len(strong_pool), (n_trials,), generator=generator)]
    weak = weak_pool[torch.randint(len(weak_pool), (n_trials,), generator=generator)]
    answer = torch.randint(0, 2, (n_trials,), generator=generator)
    queries = torch.where(answer[:, None] == 0, torch.stack([strong, weak], 1), torch.stack([weak, strong], 1))
    return queries, answer


def _reference_choose(ref_max, ref_min, queries):
    def mean_cos(q, refs):
        return nn.functional.cosine_similarity(q[:, None, :], refs[None, :, :], dim=-1).mean(1)
    score = mean_cos(queries, ref_max) - mean_cos(queries, ref_min)
    return int(score[1] > score[0])


def _reference_saliency(model, x, target):
    model.eval()
    x = x.clone().requires_grad_()
    logits = model(x)
    sel = logits.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(sel, x)
    return grad.abs().amax(dim=1)


# ---------------------------------------------------------------------------------------------
# Shared fixtures (small, built once, deterministic)
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _toy_features():
    """A small random-weight CNN (conv, ReLU, conv) and the bundled digits, for the visualisation check."""
    from utils.data import load_digits_split
    from utils.models import small_cnn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = small_cnn(width=8)
    feats = centre_units(model[:3]).eval()
    for p in feats.parameters():
        p.requires_grad_(False)
    d = load_digits_split()
    x = torch.cat([d.x_train, d.x_test])
    with torch.no_grad():
        acts = feats(x).mean((2, 3))
    return feats, acts


def _as_index(v, what: str) -> int:
    if isinstance(v, torch.Tensor):
        expect(v.numel() == 1, f"{what} should be a single number (0 or 1), got a tensor of shape {tuple(v.shape)}")
        expect(not v.is_floating_point(), f"{what} should be an integer (0 or 1), got a {v.dtype} tensor")
        v = v.item()
    expect(isinstance(v, (int, np.integer)), f"{what} should be an int (0 or 1), got {type(v).__name__} {v!r}")
    expect(int(v) in (0, 1), f"{what} should be 0 (the first query) or 1 (the second), got {v!r}")
    return int(v)


# ---------------------------------------------------------------------------------------------
# Exercise 1: feature visualisation
# ---------------------------------------------------------------------------------------------

def _validate_visualisation(units, direction, feats, nat_acts, ref_img, compare_tv=False):
    def validate(got):
        n = len(units)
        expect(isinstance(got, torch.Tensor), f"should return a tensor of images, got {type(got).__name__}")
        expect(tuple(got.shape) == (n, 1, 8, 8), f"should return shape ({n}, 1, 8, 8), one image per unit; "
                                                 f"got {tuple(got.shape)}")
        expect(got.is_floating_point() and torch.isfinite(got).all().item(), "the images must be finite floats")
        lo, hi = got.min().item(), got.max().item()
        expect(lo >= 0.0 and hi <= 1.0,
               f"the pixels range from {lo:.3g} to {hi:.3g}, outside [0, 1] where the digits live. Optimise an "
               f"unbounded parameter p and return sigmoid(p) (a bounded parameterisation), not p itself.")
        with torch.no_grad():
            act = unit_activations(feats, got.detach(), units) * direction
            ref = unit_activations(feats, ref_img, units) * direction
        best_nat = (nat_acts[:, units] * direction).max(0).values
        word = "activates" if direction > 0 else "suppresses (negative direction)"
        for i, u in enumerate(units.tolist()):
            if compare_tv:  # a strong penalty trades activation for smoothness: compare with the reference only
                spread = nat_acts[:, u].std().item()
                expect(act[i] >= ref[i] - 2 * spread,
                       f"image {i} reaches {direction * act[i]:.3f} on unit {u}; the reference reaches "
                       f"{direction * ref[i]:.3f} with the same settings. Check the sign of the objective.")
                continue
            expect(act[i] > best_nat[i],
                   f"image {i} {word} unit {u} at {direction * act[i]:.3f}, not beyond the most extreme digit "
                   f"({direction * best_nat[i]:.3f}). Minimise loss = -direction * activation (+ penalties): "
                   f"minimising +activation, or maximising -activation, goes the wrong way.")
            expect(act[i] - best_nat[i] >= 0.5 * (ref[i] - best_nat[i]),
                   f"image {i} reaches {direction * act[i]:.3f} on unit {u}; the reference reaches "
                   f"{direction * ref[i]:.3f} with the same settings (best digit: {direction * best_nat[i]:.3f}). "
                   f"Optimise for all `steps`, with Adam at learning rate `lr`, or check the objective.")
        if compare_tv:
            tv_got = total_variation(got.detach()).mean().item()
            tv_ref = total_variation(ref_img).mean().item()
            expect(tv_got <= 1.5 * tv_ref + 0.02,
                   f"with a large tv_weight the images should be smooth: mean total variation {tv_got:.3f}, "
                   f"the reference gets {tv_ref:.3f}. Add +tv_weight * total_variation(x) to the loss you minimise.")
    return validate


_VIS_CASES = [
    ("maximise units 0-3", [0, 1, 2, 3], 1, dict(steps=100, tv_weight=0.05), False),
    ("minimise units 4 and 5 (direction=-1)", [4, 5], -1, dict(steps=100, tv_weight=0.05), False),
    ("strong smoothness penalty (tv_weight=1)", [6, 7], 1, dict(steps=100, tv_weight=1.0), True),
]


@functools.lru_cache(maxsize=None)
def _visualise_reference_images(label: str) -> torch.Tensor:
    feats, _ = _toy_features()
    _, units, direction, kw, _ = next(c for c in _VIS_CASES if c[0] == label)
    return _reference_visualise(feats, torch.tensor(units), direction, **kw)


def check_visualise(visualise) -> None:
    """``visualise(features, units, direction=1, steps, lr, tv_weight, max_shift, seed) -> (n, 1, 8, 8)`` in [0, 1];
    image i must push ``units[i]`` beyond every digit in the given direction."""
    feats, nat = _toy_features()
    cases = []
    for label, units, direction, kw, tv in _VIS_CASES:
        u = torch.tensor(units)
        ref = _visualise_reference_images(label)
        cases.append(Case(label, args=(feats, u), kwargs=dict(direction=direction, **kw),
                          validate=_validate_visualisation(u, direction, feats, nat, ref, tv)))
    run_check("visualise", visualise, cases,
              hint="x = torch.sigmoid(p); loss = -(direction * unit_activations(features, jitter(x), units)).sum() "
                   "+ tv_weight * total_variation(x).sum(); step Adam on p; return sigmoid(p).")


# ---------------------------------------------------------------------------------------------
# Exercise 2: natural exemplars
# ---------------------------------------------------------------------------------------------

def check_natural_exemplars(natural_exemplars) -> None:
    """``natural_exemplars(acts (N, U), k) -> (top (U, k), bottom (U, k))`` image indices, most extreme first."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for label, n, u, k in [("20 images, 3 units, k=4", 20, 3, 4), ("50 images, 6 units, k=9", 50, 6, 9),
                           ("k=1", 10, 2, 1)]:
        acts = torch.randn(n, u, generator=g)
        cases.append(Case(label, args=(acts, k), expected=_reference_natural_exemplars(acts, k),
                          hint="Sort each unit's column (dim=0): top = the k largest, strongest first; "
                               "bottom = the k smallest, weakest first; return indices of shape (U, k)."))
    run_check("natural_exemplars", natural_exemplars, cases)


# ---------------------------------------------------------------------------------------------
# Exercise 3: 2AFC trials
# ---------------------------------------------------------------------------------------------

def _validate_trials(acts, gap, n, width=WINDOW):
    ranks = percentile_ranks(acts)

    def validate(got):
        expect(isinstance(got, tuple) and len(got) == 2, "should return a tuple (queries, answer)")
        q, a = got
        expect(isinstance(q, torch.Tensor) and isinstance(a, torch.Tensor), "queries and answer should be tensors")
        expect(tuple(q.shape) == (n, 2) and tuple(a.shape) == (n,),
               f"queries should be ({n}, 2) and answer ({n},); got {tuple(q.shape)} and {tuple(a.shape)}")
        expect(not q.is_floating_point() and not a.is_floating_point(), "queries and answer should be integer tensors")
        expect(bool(((a == 0) | (a == 1)).all()), "answer must be 0 or 1: the position of the strong query")
        expect(bool(((q >= 0) & (q < len(acts))).all()), f"query indices must lie in 0..{len(acts) - 1}")
        rows = torch.arange(n)
        strong, weak = q[rows, a], q[rows, 1 - a]
        expect(bool((acts[strong] > acts[weak]).all()),
               "in some trials the query marked by `answer` activates the unit less than the other one: "
               "answer must point at the strongly activating query")
        hi_c, lo_c = 50 + gap / 2, 50 - gap / 2
        rs, rw = ranks[strong], ranks[weak]
        expect(bool(((rs - hi_c).abs() <= width + 1e-6).all()),
               f"with gap={gap} the strong query must come from percentiles {hi_c - width:g}..{hi_c + width:g}; "
               f"yours range over {rs.min():.0f}..{rs.max():.0f}")
        expect(bool(((rw - lo_c).abs() <= width + 1e-6).all()),
               f"with gap={gap} the weak query must come from percentiles {lo_c - width:g}..{lo_c + width:g}; "
               f"yours range over {rw.min():.0f}..{rw.max():.0f}")
        expect(len(torch.unique(strong)) >= 5 and len(torch.unique(weak)) >= 5,
               "draw the queries at random from their windows: nearly every trial uses the same image")
        frac = a.float().mean().item()
        expect(0.3 <= frac <= 0.7,
               f"the strong query sits in position B in {frac:.0%} of trials. The position leaks the answer: an "
               f"observer that always says '{'B' if frac > 0.5 else 'A'}' would score {max(frac, 1 - frac):.0%} "
               f"without looking. Put the strong query first or second at random (a fair coin per trial).")
    return validate


def check_build_trials(build_trials) -> None:
    """``build_trials(query_acts (N,), gap, n_trials, generator) -> (queries (n, 2) long, answer (n,) long)``."""
    g = torch.Generator().manual_seed(11)
    acts = torch.randn(400, generator=g)
    cases = []
    for gap in (90, 50, 20):
        cases.append(Case(f"400 query images, gap={gap}, 400 trials",
                          args=(acts, gap, 400, torch.Generator().manual_seed(gap)),
                          validate=_validate_trials(acts, gap, 400)))
    run_check("build_trials", build_trials, cases,
              hint="ranks = percentile_ranks(query_acts); strong from |rank - (50 + gap/2)| <= 5, weak from "
                   "|rank - (50 - gap/2)| <= 5; a coin per trial decides which goes first.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: the automated observer
# ---------------------------------------------------------------------------------------------

def _choice_case(label, ref_max, ref_min, queries):
    want = _reference_choose(ref_max, ref_min, queries)

    def validate(got):
        c = _as_index(got, "the choice")
        expect(c == want, f"chose query {'AB'[c]}, but query {'AB'[want]} is more like the strongly activating "
                          f"references (and less like the weak ones) by mean cosine similarity")
    return Case(label, args=(ref_max, ref_min, queries), validate=validate)


def check_choose(choose) -> None:
    """``choose(ref_max (k, D), ref_min (k, D), queries (2, D)) -> 0 or 1``: the query whose mean cosine
    similarity to ``ref_max`` minus that to ``ref_min`` is larger."""
    e = torch.eye(4)
    g = torch.Generator().manual_seed(3)
    noisy = lambda v, s=0.05: v + s * torch.randn(v.shape, generator=g)  # noqa: E731
    ref_max = noisy(e[0].repeat(3, 1))
    ref_min = noisy(e[1].repeat(3, 1))
    cases = [
        _choice_case("query A looks like the max references", ref_max, ref_min, torch.stack([e[0], e[2]])),
        _choice_case("the same trial with A and B swapped", ref_max, ref_min, torch.stack([e[2], e[0]])),
        _choice_case("B is a bit more like the max references but far more like the min ones", ref_max, ref_min,
                     torch.stack([e[2] + e[3], 0.3 * e[0] + e[1]])),
        _choice_case("cosine, not dot product: B is long but points elsewhere", ref_max, ref_min,
                     torch.stack([e[0] + 0.2 * e[2], 10 * (0.5 * e[0] + e[2])])),
        _choice_case("random 16-d embeddings", torch.randn(9, 16, generator=g), torch.randn(9, 16, generator=g),
                     torch.randn(2, 16, generator=g)),
    ]
    run_check("choose", choose, cases,
              hint="score(q) = mean_j cos(q, ref_max[j]) - mean_j cos(q, ref_min[j]); return 0 if score(A) >= "
                   "score(B) else 1. torch.nn.functional.cosine_similarity broadcasts (2, 1, D) against (1, k, D).")


# ---------------------------------------------------------------------------------------------
# Exercise 5: saliency
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _toy_classifier():
    from utils.models import small_cnn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = small_cnn(width=8).eval()
        x = torch.rand(6, 1, 8, 8)
    with torch.no_grad():
        pred = model(x).argmax(1)
    target = (pred + 1) % 10  # never the predicted class, so "the argmax" is caught
    return model, x, target


def check_saliency(saliency) -> None:
    """``saliency(model, x (N, C, H, W), target (N,)) -> (N, H, W)``: |d logit_target / d x|, max over channels."""
    model, x, target = _toy_classifier()
    cases = [
        Case("6 images, targets that are not the predicted classes", args=(model, x, target),
             expected=_reference_saliency(model, x, target), atol=1e-6, rtol=1e-4),
        Case("one image", args=(model, x[:1], target[:1]), expected=_reference_saliency(model, x[:1], target[:1]),
             atol=1e-6, rtol=1e-4),
    ]
    run_check("saliency", saliency, cases,
              hint="Take the gradient of the *target* class's logit (logits.gather(1, target[:, None]).sum()) with "
                   "respect to x, then its absolute value, then the max over the channel dimension.")
