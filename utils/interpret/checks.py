"""Checks for ``05_interpretability``: feature visualisation, natural exemplars, 2AFC trials, the similarity
observer, saliency maps, the rank correlation and the randomisation test.

Every check compares the learner's function with the course's trusted implementation
(:mod:`utils.interpret.experiment`, :mod:`utils.interpret.saliency`). When a result is wrong, the check first looks
for the typical mistake that reproduces it (each ``_MISTAKES`` list below), so that the message names that mistake;
otherwise it says which property of the case failed. Every case is tiny and bounded in time (:data:`TIMEOUT_S`).
The tables of typical mistakes that each check must reject are in ``tests/interpret/test_mistakes.py``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from utils.checks import Case, CheckFailed, assert_close, expect, plain, run_check
from utils.interpret import experiment as E
from utils.interpret import saliency as S

__all__ = ["check_visualise", "check_natural_exemplars", "check_build_trials", "check_choose", "check_saliency",
           "check_rank_correlation", "check_randomisation_test", "TIMEOUT_S"]

# Seconds one check case may take. The trusted implementations answer every case in well under a second (the
# visualisation cases, 100 Adam steps on a tiny network, in about half a second on an idle 2-core machine).
TIMEOUT_S = {"visualise": 30.0, "default": 10.0}


def _timeout(name: str) -> float:
    return TIMEOUT_S.get(name, TIMEOUT_S["default"])


# ---------------------------------------------------------------------------------------------
# Comparing with the trusted answer, and naming the mistake
# ---------------------------------------------------------------------------------------------

def _same(got, value, atol: float, rtol: float) -> bool:
    try:
        assert_close(got, value, "", atol, rtol)
    except Exception:  # noqa: BLE001 - any failure to compare means "not this mistake"
        return False
    return True


def _compare(got, expected, what: str, mistakes: Sequence[tuple[str, Callable]] = (), atol: float = 1e-5,
             rtol: float = 1e-4) -> None:
    """Pass if ``got`` equals ``expected``; else raise :class:`CheckFailed` with the message of the first typical
    mistake whose result equals ``got``, or with the plain difference if none does."""
    try:
        assert_close(got, expected, what, atol, rtol)
        return
    except CheckFailed as err:
        generic = err
    for message, wrong in mistakes:
        try:
            value = wrong()
        except Exception:  # noqa: BLE001 - a mistake that cannot be computed for this case does not match
            continue
        if _same(got, value, atol, rtol):
            raise CheckFailed(message) from None
    raise generic


def _numpy(got):
    """A learner's tensor answer as a float64 array (lists and arrays pass through unchanged)."""
    if isinstance(got, torch.Tensor):
        return got.detach().cpu().double().numpy()
    return got


# ---------------------------------------------------------------------------------------------
# Exercise 1: feature visualisation
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _toy_features():
    """A small random-weight CNN (conv, ReLU, conv, read at the centre) and its activations on the digits."""
    from utils.data import load_digits_split
    from utils.models import small_cnn

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = small_cnn(width=8)
    feats = E.centre_units(model[:3]).eval()
    for p in feats.parameters():
        p.requires_grad_(False)
    d = load_digits_split()
    x = torch.cat([d.x_train, d.x_test])
    with torch.no_grad():
        acts = feats(x).mean((2, 3))
    return feats, acts


_VIS_CASES = [
    ("maximise units 0-3", [0, 1, 2, 3], 1, dict(steps=100, tv_weight=0.05), False),
    ("minimise units 4 and 5 (direction=-1)", [4, 5], -1, dict(steps=100, tv_weight=0.05), False),
    ("strong smoothness penalty (tv_weight=1)", [6, 7], 1, dict(steps=100, tv_weight=1.0), True),
]


@functools.lru_cache(maxsize=None)
def _visualise_reference_images(label: str) -> torch.Tensor:
    feats, _ = _toy_features()
    _, units, direction, kw, _ = next(c for c in _VIS_CASES if c[0] == label)
    return E.visualise(feats, torch.tensor(units), direction, **kw)


def _vis_variant(feats, units, direction=1, steps=150, lr=0.1, tv_weight=0.05, max_shift=1, seed=0, *,
                 jitter_steps="half", jitter_gen="same", tv_on="x", tv_scale=1.0, new_adam=False, zero_grad=True,
                 reduce="sum"):
    """The recipe with one typical mistake injected: used only to NAME a wrong answer, never as the reference
    (that is :func:`utils.interpret.experiment.visualise`)."""
    units = torch.as_tensor(units).reshape(-1)
    g = torch.Generator().manual_seed(seed)
    p = (0.1 * torch.randn(len(units), 1, 8, 8, generator=g)).requires_grad_()
    jg = g if jitter_gen == "same" else torch.Generator().manual_seed(123 if jitter_gen == "own" else seed)
    opt = torch.optim.Adam([p], lr=lr)
    last = {"half": steps // 2, "all": steps, "none": 0}[jitter_steps]
    for step in range(steps):
        if new_adam:
            opt = torch.optim.Adam([p], lr=lr)
        x = torch.sigmoid(p)
        seen = E.jitter(x, max_shift, jg) if step < last else x
        act = E.unit_activations(feats, seen, units)
        tv = E.total_variation(seen if tv_on == "seen" else x).sum()
        loss = -(direction * act).sum() + tv_scale * tv_weight * tv
        if reduce == "mean":
            loss = loss / len(units)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.sigmoid(p).detach()


_VIS_MISTAKES = [
    ("the unit never saw a jittered image: feed jitter(x, max_shift, generator) to the unit during the first "
     "steps // 2 steps (transformation robustness), then x itself", dict(jitter_steps="none")),
    ("the unit saw a jittered image at every step: jitter only during the first steps // 2 steps, then polish on x "
     "itself", dict(jitter_steps="all")),
    ("the jitter drew its shifts from another generator: pass the SAME generator g that drew the starting p to "
     "jitter, so that one seed fixes the whole run", dict(jitter_gen="own")),
    ("the jitter drew its shifts from another generator: pass the SAME generator g that drew the starting p to "
     "jitter, so that one seed fixes the whole run", dict(jitter_gen="fresh")),
    ("the smoothness penalty was put on the jittered copy: apply total_variation to the bounded image x itself, "
     "the image you return", dict(tv_on="seen")),
    ("the smoothness penalty (total variation) is missing: add +tv_weight * total_variation(x) to the loss you "
     "minimise",
     dict(tv_scale=0.0)),
    ("the smoothness penalty (total variation) was subtracted, which rewards rough images: ADD +tv_weight * "
     "total_variation(x) to the loss you minimise", dict(tv_scale=-1.0)),
    ("the loss was averaged over the images (mean): sum it over the batch, so that each image gets its own full "
     "gradient whatever n is", dict(reduce="mean")),
    ("a new Adam was created at every step, so it forgets its running averages: create the optimiser once, before "
     "the loop", dict(new_adam=True)),
    ("the gradients were never zeroed, so they accumulate over the steps: zero the gradients at every step",
     dict(zero_grad=False)),
]


_NAMING_BUDGET_S = 8.0  # seconds spent looking for the mistake that explains a wrong visualisation


def _name_vis_mistake(got, feats, units, kwargs) -> str | None:
    """The message of the typical mistake that reproduces ``got`` exactly, or None."""
    if not (isinstance(got, torch.Tensor) and got.dtype == torch.float32):
        return None
    start = time.perf_counter()
    for message, knobs in _VIS_MISTAKES:
        if time.perf_counter() - start > _NAMING_BUDGET_S:  # stay well inside the case's time limit
            return None
        try:
            wrong = _vis_variant(feats, units, **kwargs, **knobs)
        except Exception:  # noqa: BLE001 - a variant that cannot run for this case does not match
            continue
        if wrong.shape == got.shape and (got.detach() - wrong).abs().max().item() <= 1e-4:
            return message
    return None


def _naming(validate, feats, units, kwargs):
    """Run ``validate``; on failure, lead with the typical mistake that reproduces the answer, if one does."""
    def wrapped(got):
        try:
            validate(got)
        except CheckFailed:
            named = _name_vis_mistake(got, feats, units, kwargs)
            if named:
                raise CheckFailed(named) from None
            raise
    return wrapped


def _validate_visualisation(units, direction, feats, nat_acts, ref_img, compare_tv=False):
    def validate(got):
        n = len(units)
        expect(isinstance(got, torch.Tensor), f"should return a tensor of images, got {type(got).__name__}")
        expect(got.dtype == torch.float32,
               f"return float32 images like the digits and the parameter p, got {got.dtype}")
        expect(tuple(got.shape) == (n, 1, 8, 8), f"should return shape ({n}, 1, 8, 8), one image per unit; "
                                                 f"got {tuple(got.shape)}")
        expect(got.is_floating_point() and bool(torch.isfinite(got).all()), "the images must be finite floats")
        lo, hi = got.min().item(), got.max().item()
        expect(lo >= 0.0 and hi <= 1.0,
               f"the pixels range from {lo:.3g} to {hi:.3g}, outside [0, 1] where the digits live: you returned the "
               f"unconstrained parameter. Use a bounded parameterisation: optimise p, feed x = sigmoid(p) to the "
               f"unit at every step, and return sigmoid(p).")
        at_bound = int(((got == 0) | (got == 1)).sum())
        expect(at_bound == 0,
               f"{at_bound} pixels sit exactly at 0 or 1: the image was clipped (or rescaled) into [0, 1] after "
               f"optimising pixels without a bound, so the unit was optimised on an image you do not return. "
               f"Bound the image inside the loop: optimise p, feed x = sigmoid(p) to the unit at every step "
               f"(sigmoid never reaches 0 or 1 exactly).")
        expect(not got.requires_grad, "return the images detached from the graph: torch.sigmoid(p).detach()")
        with torch.no_grad():
            act = E.unit_activations(feats, got.detach(), units) * direction
            ref = E.unit_activations(feats, ref_img, units) * direction
            g = torch.Generator().manual_seed(0)  # the starting image of every case (seed=0)
            start = E.unit_activations(feats, torch.sigmoid(0.1 * torch.randn(got.shape, generator=g)), units)
            start = start * direction
        best_nat = (nat_acts[:, units] * direction).max(0).values
        word = "activates" if direction > 0 else "suppresses (negative direction)"
        for i, u in enumerate(units.tolist()):
            if compare_tv:  # a strong penalty trades activation for smoothness: compare with the reference only
                spread = nat_acts[:, u].std().item()
                expect(act[i] >= ref[i] - 2 * spread,
                       f"image {i} reaches {direction * act[i]:.3f} on unit {u}; the reference reaches "
                       f"{direction * ref[i]:.3f} with the same settings. Check the sign of the objective.")
                continue
            expect(act[i] > start[i],
                   f"image {i} {word} unit {u} at {direction * act[i]:.3f}, less than the starting image did "
                   f"({direction * start[i]:.3f}): the optimisation goes the wrong way or ignores `direction`. "
                   f"Minimise loss = -direction * activation (+ penalties): minimising +activation, or maximising "
                   f"-activation, goes the wrong way.")
            expect(act[i] > best_nat[i] and act[i] - best_nat[i] >= 0.5 * (ref[i] - best_nat[i]),
                   f"image {i} reaches {direction * act[i]:.3f} on unit {u}; the reference reaches "
                   f"{direction * ref[i]:.3f} with the same settings (best digit: {direction * best_nat[i]:.3f}). "
                   f"The unit must see the bounded image sigmoid(p) at every step, for all `steps` steps of Adam "
                   f"at learning rate `lr` (and zero the gradients each step).")
        tv_got = E.total_variation(got.detach()).mean().item()
        tv_ref = E.total_variation(ref_img).mean().item()
        expect(tv_got <= 1.5 * tv_ref + 0.02,
               f"the images are rougher than the settings allow: mean total variation {tv_got:.3f}, the reference "
               f"gets {tv_ref:.3f}. Add +tv_weight * total_variation(x) to the loss you minimise (plus: it is a "
               f"penalty), on the bounded image x.")
    return validate


_EXACT = dict(direction=1, lr=0.1, tv_weight=0.0, max_shift=0, seed=2)  # no jitter, no penalty: one exact answer


def _validate_exact(units, steps, feats, kw=_EXACT):
    want = E.visualise(feats, units, steps=steps, **kw)

    def validate(got):
        expect(isinstance(got, torch.Tensor) and got.shape == want.shape,
               f"should return a tensor of shape {tuple(want.shape)}, got {getattr(got, 'shape', type(got).__name__)}")
        expect(got.dtype == torch.float32,
               f"return float32 images like the digits and the parameter p, got {got.dtype}")
        diff = (got.detach() - want).abs().max().item()
        if kw.get("max_shift", 0) > 0:
            expect(diff <= 1e-4,
                   f"with jitter and the penalty, after {steps} steps your images differ from the course's by up to "
                   f"{diff:.3g}, although the recipe has one exact answer here: the unit sees jitter(x, max_shift, "
                   f"g) in the first steps // 2 steps, the penalty is on x, and every random number comes from g.")
        elif steps == 1:
            expect(diff <= 1e-4,
                   f"after a single step your images differ from the course's by up to {diff:.3g}: check the start "
                   f"(0.1 * randn of shape (n, 1, 8, 8) from a generator seeded with `seed`), the optimiser (Adam at "
                   f"`lr`, on p) and the loss (summed over the images).")
        else:
            expect(diff <= 1e-4,
                   f"after one step your images match the course's, after {steps} steps they differ by up to "
                   f"{diff:.3g}: zero the gradients at every step (opt.zero_grad(), or they accumulate) and create "
                   f"the optimiser once, before the loop (a new Adam every step forgets its running averages).")
    return validate


def check_visualise(visualise) -> None:
    """``visualise(features, units, direction=1, steps, lr, tv_weight, max_shift, seed) -> (n, 1, 8, 8)`` in (0, 1);
    image i must push ``units[i]`` beyond every digit in the given direction."""
    feats, nat = _toy_features()
    cases = []
    for label, units, direction, kw, tv in _VIS_CASES:
        u = torch.tensor(units)
        ref = _visualise_reference_images(label)
        cases.append(Case(label, args=(feats, u), kwargs=dict(direction=direction, **kw),
                          validate=_naming(_validate_visualisation(u, direction, feats, nat, ref, tv), feats, u,
                                           dict(direction=direction, **kw))))
    u = torch.tensor([1, 2])
    exact = [Case(f"the recipe exactly: {steps} step(s), no jitter, no penalty", args=(feats, u),
                  kwargs=dict(steps=steps, **_EXACT),
                  validate=_naming(_validate_exact(u, steps, feats), feats, u, dict(steps=steps, **_EXACT)))
             for steps in (1, 4)]
    jit = dict(_EXACT, tv_weight=0.05, max_shift=1, seed=4)
    exact.append(Case("the recipe exactly: 8 steps with jitter (first 4) and the penalty", args=(feats, u),
                      kwargs=dict(steps=8, **jit),
                      validate=_naming(_validate_exact(u, 8, feats, jit), feats, u, dict(steps=8, **jit))))
    cases = cases[:2] + exact + cases[2:]
    run_check("visualise", visualise, cases, timeout_s=_timeout("visualise"),
              hint="See the exercise's hints, in order.")


# ---------------------------------------------------------------------------------------------
# Exercise 2: natural exemplars
# ---------------------------------------------------------------------------------------------

def _exemplar_mistakes(acts: torch.Tensor, k: int, which: str) -> list[tuple[str, Callable]]:
    desc = torch.argsort(acts, dim=0, descending=True, stable=True)
    asc = torch.argsort(acts, dim=0, stable=True)
    by_unit_desc = torch.argsort(acts, dim=1, descending=True, stable=True)
    by_unit_asc = torch.argsort(acts, dim=1, stable=True)
    right, other = (desc, asc) if which == "top" else (asc, desc)
    by_unit_right, by_unit_other = (by_unit_desc, by_unit_asc) if which == "top" else (by_unit_asc, by_unit_desc)
    most, least = ("largest", "strongest") if which == "top" else ("smallest", "weakest")
    by_size = torch.argsort(acts.abs(), dim=0, descending=(which == "top"), stable=True)
    return [
        (f"top and bottom are swapped: `{which}` must hold the indices of the k {most} activations",
         lambda: other[:k].T),
        (f"`{which}` was sorted by the SIZE of the activation (abs): sort the signed activations, so that the "
         f"{least} image is the most {'positive' if which == 'top' else 'negative'} one",
         lambda: by_size[:k].T),
        (f"`{which}` holds the right k images but the {least} comes last: order them {least} first",
         lambda: right[:k].flip(0).T),
        (f"`{which}` holds the k {least} images in the wrong order, or the {least} ones taken from the wrong end: "
         f"sort so that the {least} image comes first and keep the first k", lambda: other[-k:].T),
        (f"`{which}` has the images along the rows: return shape (U, k), one row per unit (transpose)",
         lambda: right[:k]),
        (f"`{which}` holds activation values, not image indices: use torch.argsort (or .topk(...).indices)",
         lambda: acts.gather(0, right[:k]).T),
        (f"`{which}` was sorted along the units (dim=1): sort each unit's column over the images (dim=0)",
         lambda: by_unit_right[:k].T),
        (f"`{which}` was sorted along the units (dim=1): sort each unit's column over the images (dim=0)",
         lambda: by_unit_right[:, :k]),
        (f"`{which}` was sorted along the units (dim=1): sort each unit's column over the images (dim=0)",
         lambda: by_unit_other[:, :k].flip(1)),
    ]


def _validate_exemplars(acts: torch.Tensor, k: int):
    want = E.natural_exemplars(acts, k)

    def validate(got):
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"should return a pair (top, bottom), got {type(got).__name__}")
        for which, g, w in zip(("top", "bottom"), got, want):
            expect(isinstance(g, torch.Tensor), f"`{which}` should be a torch tensor of image indices, got "
                                                f"{type(g).__name__}")
            _compare(g, w, f"`{which}`", _exemplar_mistakes(acts, k, which))
    return validate


def check_natural_exemplars(natural_exemplars) -> None:
    """``natural_exemplars(acts (N, U), k) -> (top (U, k), bottom (U, k))`` image indices, most extreme first."""
    g = torch.Generator().manual_seed(5)
    cases = []
    for label, n, u, k in [("20 images, 3 units, k=4", 20, 3, 4), ("50 images, 6 units, k=9", 50, 6, 9),
                           ("k=1", 10, 2, 1)]:
        acts = torch.randn(n, u, generator=g)
        cases.append(Case(label, args=(acts, k), validate=_validate_exemplars(acts, k)))
    run_check("natural_exemplars", natural_exemplars, cases, timeout_s=_timeout("natural_exemplars"),
              hint="Sort each unit's column (dim=0): top = the k largest, strongest first; bottom = the k smallest, "
                   "weakest first; return indices of shape (U, k).")


# ---------------------------------------------------------------------------------------------
# Exercise 3: 2AFC trials
# ---------------------------------------------------------------------------------------------

def _validate_trials(build_trials, acts, gap, n, seed, width=E.WINDOW):
    ranks = E.percentile_ranks(acts)

    def validate(got):
        expect(isinstance(got, tuple) and len(got) == 2, "should return a tuple (queries, answer)")
        q, a = got
        expect(isinstance(q, torch.Tensor) and isinstance(a, torch.Tensor), "queries and answer should be tensors")
        expect(tuple(q.shape) == (n, 2) and tuple(a.shape) == (n,),
               f"queries should be ({n}, 2) and answer ({n},); got {tuple(q.shape)} and {tuple(a.shape)}")
        expect(a.dtype != torch.bool, "answer is a bool tensor: return the position of the strong query as a long "
                                      "tensor of 0s and 1s (torch.int64)")
        expect(q.dtype == torch.long and a.dtype == torch.long,
               f"queries and answer should be long (torch.int64) tensors, as the exercise says; got {q.dtype} and "
               f"{a.dtype}")
        expect(bool(((a == 0) | (a == 1)).all()), "answer must be 0 or 1: the position of the strong query")
        expect(bool(((q >= 0) & (q < len(acts))).all()), f"query indices must lie in 0..{len(acts) - 1}")
        frac = a.float().mean().item()
        # A fair coin over n=400 trials has a standard deviation of 2.5 points: 40%..60% is 4 of them either side.
        expect(0.4 <= frac <= 0.6,
               f"the strong query sits in position B in {frac:.0%} of trials. The position leaks the answer: an "
               f"observer that always says '{'B' if frac > 0.5 else 'A'}' would score {max(frac, 1 - frac):.0%} "
               f"without looking. Put the strong query first or second at random (a fair coin per trial).")
        rows = torch.arange(n)
        strong, weak = q[rows, a], q[rows, 1 - a]
        expect(bool((acts[strong] > acts[weak]).all()),
               "in some trials the query marked by `answer` activates the unit less than the other one: "
               "answer must point at the strongly activating query")
        hi_c, lo_c = 50 + gap / 2, 50 - gap / 2
        rs, rw = ranks[strong], ranks[weak]
        expect(bool(((rs - hi_c).abs() <= width + 1e-6).all()),
               f"with gap={gap} the strong query must come from percentiles {hi_c - width:g}..{hi_c + width:g}; "
               f"yours range over {rs.min().item():.0f}..{rs.max().item():.0f}")
        expect(bool(((rw - lo_c).abs() <= width + 1e-6).all()),
               f"with gap={gap} the weak query must come from percentiles {lo_c - width:g}..{lo_c + width:g}; "
               f"yours range over {rw.min().item():.0f}..{rw.max().item():.0f}")
        expect(len(torch.unique(strong)) >= 5 and len(torch.unique(weak)) >= 5,
               "draw the queries at random from their windows: nearly every trial uses the same image")
        for name, centre, drawn in (("strong", hi_c, strong), ("weak", lo_c, weak)):
            pool = set(torch.nonzero((ranks - centre).abs() <= width + 1e-9).flatten().tolist())
            missed = sorted(pool - set(drawn.tolist()))
            # Each of the 41 images of a window is drawn ~10 times in 400 trials; missing one by chance: p ~ 2e-3.
            if missed:
                raise CheckFailed(
                    f"the {name} queries never use {len(missed)} of the {len(pool)} images whose percentile lies "
                    f"within 5 points of {centre:g} (e.g. percentile {ranks[missed[0]].item():.2f}): the window is "
                    f"too narrow. Both ends count: |rank - centre| <= 5, not < 5 and not a smaller width.")
        pairs = len(set(zip(strong.tolist(), weak.tolist())))
        expect(pairs > 2 * max(len(torch.unique(strong)), len(torch.unique(weak))),
               f"only {pairs} different (strong, weak) pairs in {n} trials: the strong and the weak query are tied "
               f"to each other (one random index used for both pools?). Draw them independently, one draw per pool.")
        q2, a2 = build_trials(acts.clone(), gap, n, torch.Generator().manual_seed(seed))
        expect(torch.equal(torch.as_tensor(q2), q) and torch.equal(torch.as_tensor(a2), a),
               "two calls with generators seeded alike gave different trials: draw every random number from "
               "`generator` (torch.randint(..., generator=generator)), not from the global random state")
        q3, a3 = build_trials(acts.clone(), gap, n, torch.Generator().manual_seed(seed + 1000))
        expect(not (torch.equal(torch.as_tensor(q3), q) and torch.equal(torch.as_tensor(a3), a)),
               "a generator with another seed gave exactly the same trials: draw the random numbers from the "
               "`generator` you are given, do not make (or re-seed) your own")
    return validate


def check_build_trials(build_trials) -> None:
    """``build_trials(query_acts (N,), gap, n_trials, generator) -> (queries (n, 2) long, answer (n,) long)``."""
    g = torch.Generator().manual_seed(11)
    acts = torch.randn(401, generator=g)  # 401 images: percentile ranks are multiples of 0.25, window ends exact
    cases = []
    for gap in (90, 50, 20):
        cases.append(Case(f"401 query images, gap={gap}, 400 trials",
                          args=(acts, gap, 400, torch.Generator().manual_seed(gap)),
                          validate=_validate_trials(build_trials, acts, gap, 400, gap)))
    run_check("build_trials", build_trials, cases, timeout_s=_timeout("build_trials"),
              hint="Re-read the exercise's windows and the hints in order: two pools, independent draws, a fair "
                   "coin per trial, and every random number from `generator`.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: the similarity observer
# ---------------------------------------------------------------------------------------------

def _as_index(v, what: str) -> int:
    if isinstance(v, torch.Tensor):
        expect(v.numel() == 1, f"{what} should be a single number (0 or 1), got a tensor of shape {tuple(v.shape)}")
        expect(not v.is_floating_point(), f"{what} should be an integer (0 or 1), got a {v.dtype} tensor")
        v = v.item()
    expect(not isinstance(v, (bool, np.bool_)),
           f"{what} is a bool ({plain(v)!r}): return the position as an int, 0 for A or 1 for B (int(...) of the "
           f"comparison)")
    expect(isinstance(v, (int, np.integer)), f"{what} should be an int (0 or 1), got {type(v).__name__} {plain(v)!r}")
    expect(int(v) in (0, 1), f"{what} should be 0 (the first query) or 1 (the second), got {plain(v)!r}")
    return int(v)


def _choice_case(label, ref_max, ref_min, queries, why):
    want = E.choose(ref_max, ref_min, queries)
    scores = [round(float(s), 3) for s in E.similarity_scores(ref_max, ref_min, queries)]

    def validate(got):
        c = _as_index(got, "the choice")
        expect(c == want, f"{why} (mean cosine to the max references minus mean cosine to the min references: "
                          f"A {scores[0]}, B {scores[1]}; the right choice is {'AB'[want]}, you chose {'AB'[c]}).")
    return Case(label, args=(ref_max, ref_min, queries), validate=validate)


def _cos_rows(q: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    return nn.functional.cosine_similarity(q[:, None, :], refs[None, :, :], dim=-1)


def _centred(v: torch.Tensor) -> torch.Tensor:
    return v - v.mean(1, keepdim=True)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=1, keepdim=True)


# Other similarity rules a learner may write instead of the mean cosine. Used only to build trials that separate each
# of them from the course's rule (E.similarity_scores) and to name it; each gives one score per query, (2,).
_OTHER_RULES = [
    ("cosine to the centroid",
     "you took the cosine to the MEAN reference (the centroid); the rule is the mean of the cosines to each "
     "reference, which weighs every reference equally however long it is",
     lambda a, b, q: _cos_rows(q, a.mean(0, keepdim=True))[:, 0] - _cos_rows(q, b.mean(0, keepdim=True))[:, 0]),
    ("only the queries normalised",
     "only the queries were normalised, so long references count more: the cosine divides by the length of BOTH "
     "vectors",
     lambda a, b, q: (_unit(q) @ a.T).mean(1) - (_unit(q) @ b.T).mean(1)),
    ("Pearson",
     "you centred the vectors first (Pearson's correlation, or a centred cosine): the rule is the plain cosine of "
     "the embeddings as they are",
     lambda a, b, q: _cos_rows(_centred(q), _centred(a)).mean(1) - _cos_rows(_centred(q), _centred(b)).mean(1)),
    ("median",
     "you took the median (or another summary) of the cosines over the references: average them, the mean over "
     "all k references",
     lambda a, b, q: _cos_rows(q, a).median(1).values - _cos_rows(q, b).median(1).values),
    ("dot product",
     "the similarity must be the cosine, which compares directions only: a dot product also depends on how long "
     "the vectors are",
     lambda a, b, q: (q @ a.T).mean(1) - (q @ b.T).mean(1)),
    ("Euclidean distance",
     "the similarity must be the cosine, which compares directions only: a Euclidean distance also depends on how "
     "long the vectors are",
     lambda a, b, q: torch.cdist(q, b).mean(1) - torch.cdist(q, a).mean(1)),
]


def _random_trial(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small random trial (ref_max, ref_min, queries) whose vectors have very different lengths and a common
    offset, the conditions under which the rules of ``_OTHER_RULES`` part ways with the mean cosine."""
    g = torch.Generator().manual_seed(seed)
    k = int(torch.randint(4, 8, (1,), generator=g))
    lengths = torch.exp(1.2 * torch.randn(2 * k + 2, 1, generator=g))
    v = (torch.randn(2 * k + 2, 6, generator=g) + 0.6) * lengths
    return v[:k], v[k:2 * k], v[2 * k:]


def _separates(seed: int, name: str) -> bool:
    """Whether trial ``seed`` is chosen wrongly by rule ``name`` and rightly by the mean cosine and every other rule
    of ``_OTHER_RULES``, each by a clear margin (so that float rounding cannot flip it)."""
    a, b, q = _random_trial(seed)
    truth = E.similarity_scores(a, b, q)
    if abs(float(truth[1] - truth[0])) < 0.02:
        return False
    want = int(truth[1] > truth[0])
    for n, _, rule in _OTHER_RULES:
        sc = rule(a, b, q)
        if abs(float(sc[1] - sc[0])) <= 1e-3 or (int(sc[1] > sc[0]) != want) != (n == name):
            return False
    return True


# One separating trial per rule (found once by scanning seeds with _separates; tests/interpret verify them).
_SEPARATING_SEEDS = {"cosine to the centroid": 70, "only the queries normalised": 354, "Pearson": 10, "median": 25,
                     "dot product": 108, "Euclidean distance": 41}


def check_choose(choose) -> None:
    """``choose(ref_max (k, D), ref_min (k, D), queries (2, D)) -> 0 or 1``: the query whose mean cosine
    similarity to ``ref_max`` minus that to ``ref_min`` is larger; a tie goes to A (0)."""
    e = torch.eye(4)
    g = torch.Generator().manual_seed(3)
    noisy = lambda v, s=0.05: v + s * torch.randn(v.shape, generator=g)  # noqa: E731
    ref_max = noisy(e[0].repeat(3, 1))
    ref_min = noisy(e[1].repeat(3, 1))
    odd_max = torch.stack([e[2], e[0], e[0]]) + 0.02 * torch.randn(3, 4, generator=g)
    cases = [
        _choice_case("query A looks like the max references", ref_max, ref_min, torch.stack([e[0], e[2]]),
                     "query A is the one like the strongly activating references: pick the query with the LARGER "
                     "score (similar to max, unlike min), and look at the queries rather than always answering B"),
        _choice_case("the same trial with A and B swapped", ref_max, ref_min, torch.stack([e[2], e[0]]),
                     "with the queries swapped the answer must swap too: the choice has to come from the scores, "
                     "not from the position (or: the larger score wins, not the smaller)"),
        _choice_case("a tie: A and B are the same image", ref_max, ref_min, torch.stack([e[2] + e[3], e[2] + e[3]]),
                     "the two queries are identical, so their scores tie exactly, and a tie goes to A (0): return 1 "
                     "only when B scores strictly higher (`>`, not `>=`)"),
        _choice_case("B is a bit more like the max references but far more like the min ones", ref_max, ref_min,
                     torch.stack([e[2] + e[3], 0.3 * e[0] + e[1]]),
                     "the min references count too: subtract the mean similarity to ref_min from the mean "
                     "similarity to ref_max"),
        _choice_case("length must not matter: B is long but points elsewhere", ref_max, ref_min,
                     torch.stack([e[0] + 0.2 * e[2], 10 * (0.5 * e[0] + e[2])]),
                     "the similarity must be the cosine, which compares directions only: a dot product (or a "
                     "distance) also depends on how long the vectors are"),
        _choice_case("length must not matter: B is long and partly like the min references", ref_max, ref_min,
                     torch.stack([0.5 * e[0] + 0.5 * e[2], 5 * e[0] + 2 * e[1]]),
                     "the similarity must be the cosine, which compares directions only: Euclidean (or L1) "
                     "distances, and dot products, also depend on how long the vectors are"),
        _choice_case("one odd max reference: average over all references", odd_max, ref_min,
                     torch.stack([e[0] + 0.3 * e[2], e[2]]),
                     "B matches one of the max references exactly but not the other two: average the similarity "
                     "over ALL k references (the mean), not the nearest one (max) or the first one"),
        _choice_case("random 16-d embeddings", torch.randn(9, 16, generator=g), torch.randn(9, 16, generator=g),
                     torch.randn(2, 16, generator=g),
                     "on random embeddings your choice differs from the mean-cosine rule"),
    ]
    cases += [_choice_case(f"references of very different lengths, a trial that only the {name} rule gets wrong",
                           *_random_trial(_SEPARATING_SEEDS[name]), message) for name, message, _ in _OTHER_RULES]
    run_check("choose", choose, cases, timeout_s=_timeout("choose"),
              hint="score(q) = mean_j cos(q, ref_max[j]) - mean_j cos(q, ref_min[j]); return 0 if score(A) >= "
                   "score(B) else 1, as an int.")


# ---------------------------------------------------------------------------------------------
# Exercise 5: saliency
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _toy_classifiers():
    """Two small random CNNs (1 and 3 input channels), images, and target classes that are never the predicted
    ones (so that "the predicted class" is caught)."""
    from utils.models import small_cnn

    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        for channels, n in ((1, 6), (3, 4)):
            model = small_cnn(in_channels=channels, width=8).eval()
            x = torch.rand(n, channels, 8, 8)
            with torch.no_grad():
                target = (model(x).argmax(1) + 1) % 10
            out.append((model, x, target))
    return out


def _grad_of(model, x, select):
    x = x.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(select(model(x)), x)
    return g


def _saliency_mistakes(model, x, target) -> list[tuple[str, Callable]]:
    own = lambda z: z.gather(1, target[:, None]).sum()  # noqa: E731
    trusted = lambda: S.gradient_saliency(model, x, target)  # noqa: E731
    return [
        ("the signs are kept: a saliency map is the SIZE of the gradient, so take .abs() before the max over "
         "channels", lambda: _grad_of(model, x, own).amax(1)),
        ("this is the gradient of the predicted class (the argmax), but the map must explain the given `target` "
         "class: select logits.gather(1, target[:, None])",
         lambda: _grad_of(model, x, lambda z: z.max(1).values.sum()).abs().amax(1)),
        ("this is the gradient of the sum of ALL logits: select only each image's target logit "
         "(logits.gather(1, target[:, None]).sum())", lambda: _grad_of(model, x, lambda z: z.sum()).abs().amax(1)),
        ("this is the gradient of the softmax probability: take the gradient of the target's LOGIT (the model's "
         "output before any softmax)",
         lambda: _grad_of(model, x, lambda z: z.softmax(1).gather(1, target[:, None]).sum()).abs().amax(1)),
        ("this is the gradient of the cross-entropy loss: take the gradient of the target's logit itself",
         lambda: _grad_of(model, x, lambda z: nn.functional.cross_entropy(z, target, reduction="sum")).abs().amax(1)),
        ("this is the gradient of the cross-entropy loss: take the gradient of the target's logit itself",
         lambda: _grad_of(model, x, lambda z: nn.functional.cross_entropy(z, target)).abs().amax(1)),
        ("this is gradient x input: the exercise asks for the gradient alone (its size, max over channels)",
         lambda: (_grad_of(model, x, own) * x).abs().amax(1)),
        ("the channels are summed (or averaged): reduce the channel dimension with the maximum, .amax(dim=1)",
         lambda: _grad_of(model, x, own).abs().sum(1)),
        ("the channels are summed (or averaged): reduce the channel dimension with the maximum, .amax(dim=1)",
         lambda: _grad_of(model, x, own).abs().mean(1)),
        ("the channel dimension is still there: reduce it with .amax(dim=1) to get maps of shape (N, H, W)",
         lambda: trusted()[:, None]),
        ("each map was rescaled (e.g. divided by its maximum): return the raw absolute gradients",
         lambda: trusted() / trusted().flatten(1).amax(1)[:, None, None]),
    ]


def check_saliency(saliency) -> None:
    """``saliency(model, x (N, C, H, W), target (N,)) -> (N, H, W)``: |d logit_target / d x|, max over channels."""
    (m1, x1, t1), (m3, x3, t3) = _toy_classifiers()
    cases = []
    for label, model, x, t in [("6 images, targets that are not the predicted classes", m1, x1, t1),
                               ("one image", m1, x1[:1], t1[:1]),
                               ("4 images with 3 channels each", m3, x3, t3)]:
        want = S.gradient_saliency(model, x, t)

        def validate(got, model=model, x=x, t=t, want=want):
            for p in model.parameters():
                p.grad = None  # a .backward() leaves gradients in the model: clear them for the next case
            expect(not seen.pop("moved"),
                   "you changed the caller's x (it now requires grad, carries a .grad, or holds other "
                   "values): the exercise says not to change x in place. Work on a copy: "
                   "x.clone().requires_grad_() (or x.detach().clone()), and take the gradient of that.")
            expect(not (isinstance(got, torch.Tensor) and got.requires_grad),
                   "your maps are still attached to the autograd graph (requires_grad=True; create_graph=True?): "
                   "return plain tensors, the gradient itself with no graph behind it")
            _compare(got, want, "the saliency maps", _saliency_mistakes(model, x, t), atol=1e-6, rtol=1e-4)
        cases.append(Case(label, args=(model, x, t), validate=validate))
    seen = {}

    def spy(model, x, target):  # the learner's function, then a look at the x it was given
        before = x.detach().clone()
        out = saliency(model, x, target)
        seen["moved"] = x.requires_grad or x.grad is not None or not torch.equal(x.detach(), before)
        return out
    run_check("saliency", spy, cases, timeout_s=_timeout("saliency"),
              hint="Take the gradient of each image's target logit with respect to x (one backward pass for the "
                   "whole batch), then its absolute value, then the maximum over the channel dimension.")


# ---------------------------------------------------------------------------------------------
# Exercise 6: rank correlation
# ---------------------------------------------------------------------------------------------

def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def _ordinal_ranks(v: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(v, axis=-1, kind="stable"), axis=-1, kind="stable").astype(float)


def _rank_mistakes(a, b, mask) -> list[tuple[str, Callable]]:
    a2, b2 = np.asarray(a, float).reshape(len(a), -1), np.asarray(b, float).reshape(len(b), -1)
    m2 = None if mask is None else np.asarray(mask).reshape(a2.shape)
    keep = lambda v: v if m2 is None else np.where(m2, v, 0.0)  # noqa: E731

    def per_row(fn):
        out = np.zeros(len(a2))
        for i in range(len(a2)):
            sel = np.ones(a2.shape[1], bool) if m2 is None else m2[i]
            out[i] = fn(a2[i, sel], b2[i, sel])
        return out
    mistakes = [
        ("you correlated the values themselves (Pearson): Spearman's correlation is Pearson's correlation of the "
         "RANKS, so that any monotone relation scores 1",
         lambda: per_row(lambda u, v: _pearson_rows(u[None], v[None])[0])),
        ("tied values got different ranks (ranks from argsort break ties by position and invent an order): tied "
         "values must share their average rank, as scipy.stats.rankdata gives",
         lambda: per_row(lambda u, v: _pearson_rows(_ordinal_ranks(u)[None], _ordinal_ranks(v)[None])[0])),
        ("argsort gives the ORDER of the pixels (which pixel is smallest, next, ...), not each pixel's rank: "
         "rank with scipy.stats.rankdata (or argsort twice, which still mishandles ties)",
         lambda: per_row(lambda u, v: _pearson_rows(np.argsort(u, kind="stable")[None].astype(float),
                                                    np.argsort(v, kind="stable")[None].astype(float))[0])),
        ("the pixels were ranked across the whole batch: rank each image's pixels on their own (one ranking per "
         "row), then correlate per image",
         lambda: _pearson_rows(S._average_ranks(a2.reshape(-1)).reshape(a2.shape),
                               S._average_ranks(b2.reshape(-1)).reshape(b2.shape))),
    ]
    if mask is not None:
        mistakes += [
            ("the mask was ignored: only the pixels where mask is True take part in the correlation",
             lambda: S.rank_correlation(a, b)),
            ("the masked-out pixels were set to 0 and kept: that adds a block of tied zeros to both maps, the very "
             "artefact the mask is for. Select the masked pixels (a[i][mask[i]]) and rank only those",
             lambda: S.rank_correlation(keep(a2), keep(b2))),
        ]
    return mistakes


def _validate_rank(a, b, mask, why):
    want = S.rank_correlation(a, b, mask)

    def validate(got):
        expect(not isinstance(got, (list, tuple)),
               f"returned a {type(got).__name__}: return a numpy array of shape ({len(a)},) (np.array(...) of your "
               f"correlations)")
        got = _numpy(got)
        if isinstance(got, np.ndarray) and got.shape == want.shape and np.isnan(got).any():
            i = int(np.flatnonzero(np.isnan(got))[0])
            raise CheckFailed(f"image {i} gave NaN: its map is constant (over the selected pixels), so it has no "
                              f"ordering; return 0 for it (guard the division by a zero spread) [this case: {why}]")
        if isinstance(got, (float, np.floating)) or (isinstance(got, np.ndarray) and got.ndim == 0):
            raise CheckFailed(f"returned one number for the whole batch: return one correlation per image, an "
                              f"array of shape ({len(a)},)")
        if isinstance(got, np.ndarray) and got.shape != want.shape and got.shape == (np.asarray(a)[0].size,):
            raise CheckFailed(f"returned shape {got.shape}, one value per pixel: you correlated across the images. "
                              f"Correlate each image's two maps, giving shape ({len(a)},)")
        try:
            _compare(got, want, "the correlations", _rank_mistakes(a, b, mask), atol=1e-6, rtol=1e-5)
        except CheckFailed as err:
            raise CheckFailed(f"{err} [this case: {why}]") from None
    return validate


def check_rank_correlation(rank_correlation) -> None:
    """``rank_correlation(a (N, ...), b (N, ...), mask=None) -> (N,)`` numpy array: Spearman's correlation of
    ``a[i]`` and ``b[i]`` per image, ties sharing their average rank, only the pixels where ``mask`` is True."""
    g = np.random.default_rng(4)
    a1 = g.random((1, 5, 5))
    interleaved_a, interleaved_b = g.random((3, 4, 4)), g.random((3, 4, 4))
    interleaved_b[1] *= 5
    digit = g.random((3, 6, 6)) * (g.random((3, 6, 6)) < 0.5)     # about half the pixels exactly 0
    other = g.random((3, 6, 6)) * (digit > 0)                        # zero exactly where `digit` is
    ink = digit > 0
    dense_a, dense_b = g.random((3, 6, 6)), g.random((3, 6, 6))
    dense_b[:, :3] += 2 * dense_a[:, :3]                               # agree on the top half only
    half = g.random((3, 6, 6)) < 0.5
    const = g.random((2, 3, 3))
    const_b = const.copy()
    const_b[1] = 0.7
    cases = [
        Case("same ordering, different values: b = a**3 + 1", args=(a1, a1 ** 3 + 1),
             validate=_validate_rank(a1, a1 ** 3 + 1, None, "b ranks the pixels exactly like a, so the answer is 1")),
        Case("3 images, each on its own scale", args=(interleaved_a, interleaved_b),
             validate=_validate_rank(interleaved_a, interleaved_b, None, "each image is ranked on its own")),
        Case("ties: half of every map is exactly 0, like a digit's background", args=(digit, other),
             validate=_validate_rank(digit, other, None, "tied values share their average rank")),
        Case("a mask that leaves out half of the pixels", args=(dense_a, dense_b), kwargs={"mask": half},
             validate=_validate_rank(dense_a, dense_b, half, "only the pixels where mask is True count")),
        Case("the digit maps again, over the ink pixels only", args=(digit, other), kwargs={"mask": ink},
             validate=_validate_rank(digit, other, ink, "only the ink pixels count")),
        Case("a constant map gives 0", args=(const, const_b),
             validate=_validate_rank(const, const_b, None, "image 1 of b is constant: no ordering, correlation 0")),
        Case("torch tensors work too", args=(torch.from_numpy(digit), torch.from_numpy(other)),
             kwargs={"mask": torch.from_numpy(ink)},
             validate=_validate_rank(digit, other, ink, "torch tensors in, the same answer out")),
    ]
    run_check("rank_correlation", rank_correlation, cases, timeout_s=_timeout("rank_correlation"),
              hint="For each image i: take the selected pixels of a[i] and b[i] (all, or those where mask[i] is "
                   "True), rank each with scipy.stats.rankdata, and correlate the two rank vectors (Pearson); a "
                   "constant map gives 0.")


# ---------------------------------------------------------------------------------------------
# Exercise 7: the randomisation test
# ---------------------------------------------------------------------------------------------

def _gradient_x_input(model, x, target):
    return S.gradient_saliency(model, x, target) * x[:, 0]


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _randomisation_mistakes(explain, model, x, target, seeds, mask) -> list[tuple[str, Callable]]:
    def with_maps(trained_fn, random_fn, m=mask):
        trained = trained_fn()
        return np.stack([S.rank_correlation(trained, random_fn(s), m) for s in seeds])
    trained = lambda: explain(model, x, target)  # noqa: E731
    rnd = lambda s: explain(S.randomised_copy(model, seed=s), x, target)  # noqa: E731
    return [
        ("the trained model was compared with itself (every correlation is 1): compare its maps with those of "
         "randomised_copy(model, seed=s)", lambda: with_maps(trained, lambda s: trained())),
        ("the randomised copies ignore `seeds` (every row used the same network): pass each seed on, "
         "randomised_copy(model, seed=s)", lambda: with_maps(trained, lambda s: rnd(seeds[0]))),
        ("the randomised copies ignore `seeds` (every row used the same network): pass each seed on, "
         "randomised_copy(model, seed=s)", lambda: with_maps(trained, lambda s: rnd(0))),
        ("the mask was ignored: pass it on to rank_correlation(trained_maps, random_maps, mask)",
         lambda: with_maps(trained, rnd, None)),
        ("the randomised model explained other classes: use the same `target` for both models (not the "
         "randomised model's own predictions)",
         lambda: with_maps(trained, lambda s: explain(S.randomised_copy(model, seed=s), x,
                                                     S.randomised_copy(model, seed=s)(x).argmax(1)))),
        ("the maps were compared with the input images, not with the randomised model's maps",
         lambda: np.stack([S.rank_correlation(trained(), x[:, 0], mask) for _ in seeds])),
        ("the rows and columns are swapped: return shape (len(seeds), N), one row per seed",
         lambda: with_maps(trained, rnd).T),
        ("you averaged over the images: return every image's correlation, shape (len(seeds), N)",
         lambda: with_maps(trained, rnd).mean(1)),
        ("you averaged over the seeds: return one row per seed, shape (len(seeds), N)",
         lambda: with_maps(trained, rnd).mean(0)),
    ]


def _validate_randomisation(explain, model, x, target, seeds, mask, before):
    want = S.randomisation_test(explain, model, x, target, seeds, mask)

    def validate(got):
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        if changed:
            model.load_state_dict(before)  # put the check's model back for the next case
            raise CheckFailed(f"your function changed the trained model's weights ({changed[0]}, ...): randomise a "
                              f"COPY (randomised_copy(model, seed=s)), never the model under test")
        _compare(_numpy(got), want, "the correlations",
                 _randomisation_mistakes(explain, model, x, target, seeds, mask), atol=1e-6, rtol=1e-5)
    return validate


def check_randomisation_test(randomisation_test) -> None:
    """``randomisation_test(explain, model, x, target, seeds=(0, 1, 2), mask=None) -> (len(seeds), N)``: row s holds
    each image's rank correlation between the trained model's map and that of ``randomised_copy(model, seed=s)``."""
    (model, x, target), _ = _toy_classifiers()
    ink = x[:, 0] > 0.5
    cases = []
    for label, explain, seeds, mask in [
        ("gradient maps, seeds (0, 1)", S.gradient_saliency, (0, 1), None),
        ("gradient x input over a mask, one seed (3,)", _gradient_x_input, (3,), ink),
        ("gradient maps, seeds (5, 6, 7)", S.gradient_saliency, (5, 6, 7), None),
    ]:
        before = _state(model)
        cases.append(Case(label, args=(explain, model, x, target), kwargs={"seeds": seeds, "mask": mask},
                          validate=_validate_randomisation(explain, model, x, target, seeds, mask, before)))
    try:
        run_check("randomisation_test", randomisation_test, cases, timeout_s=_timeout("randomisation_test"),
                  hint="trained = explain(model, x, target); for each seed s: maps of randomised_copy(model, seed=s) "
                       "for the same x and target, then rank_correlation(trained, those maps, mask); stack the rows.")
    finally:
        model.load_state_dict(before)
