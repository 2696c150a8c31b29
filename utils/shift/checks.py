"""Checks for ``03_ood_robustness``: a corruption with its severity scale, evaluating a corruption suite, mCE,
AugMix and its consistency loss.

Each check runs the learner's function on a few tiny cases and compares it with the course's one trusted
implementation (:func:`utils.shift.corruptions.corrupt`, :mod:`utils.shift.suite`, :func:`utils.shift.augmix.augmix`,
:func:`utils.shift.augmix.js_divergence`). When a result is wrong, the message first names the mistake it looks like
(a typical one when it is recognised, otherwise what differs), then a hint. Every case is bounded in time.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import Case, CheckFailed, expect, run_check
from utils.shift.augmix import (
    OPERATIONS,
    OVERLAPS,
    SAFE_OPERATIONS,
    augmix as trusted_augmix,
    js_divergence as trusted_js,
    sample_dirichlet,
)
from utils.shift.corruptions import CORRUPTIONS, PARAMS, SEVERITIES, noise_with_sigma
from utils.shift.suite import corruption_errors as trusted_corruption_errors
from utils.shift.suite import evaluate_suite as trusted_evaluate_suite

__all__ = [
    "check_gaussian_noise",
    "check_evaluate_suite",
    "check_corruption_errors",
    "check_augmix",
    "check_js_divergence",
]


# Seconds of wall time per check case: the reference answers each in well under a second on an idle machine (the
# 6000-image Dirichlet cases take about one); the margin is for a loaded machine.
TIMEOUT_S = 15.0


def _digits(n: int = 24) -> torch.Tensor:
    from utils.data import load_digits_split

    return load_digits_split().x_test[:n].clone()


def _f(v) -> float:
    """A plain Python float rounded for messages (never np.float64 / tensor reprs)."""
    return round(float(v), 4)


# ---------------------------------------------------------------------------------------------
# Exercise 1: a corruption and its severity scale (Gaussian noise)
# ---------------------------------------------------------------------------------------------

SIGMAS = PARAMS["gaussian_noise"]


def _call(fn: Callable, *args, **kwargs):
    """Call the learner's function on fresh copies of tensor arguments."""
    args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
    return fn(*args, **kwargs)


def _is_image_like(got, x: torch.Tensor) -> None:
    expect(got is not None, "your function returned None: did you forget a `return`?")
    expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
    expect(tuple(got.shape) == tuple(x.shape),
           f"return a tensor of the input's shape {tuple(x.shape)}, got {tuple(got.shape)}")
    expect(got.dtype == x.dtype, f"return the input's dtype {x.dtype}, got {got.dtype}")


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else 0.0


def _diagnose_noise(fn: Callable, x: torch.Tensor, severity: int, seed: int, got: torch.Tensor,
                    sigmas: tuple[float, ...]) -> None:
    """``got`` = fn(x, severity, seed) differs from the trusted corruption: say which mistake it looks like."""
    sigma = sigmas[severity - 1]
    exp = noise_with_sigma(x, sigma, seed)
    lo, hi = float(got.min()), float(got.max())
    expect(lo >= -1e-6 and hi <= 1 + 1e-6,
           f"the noisy image has values outside [0, 1] (from {_f(lo)} to {_f(hi)}): clip the result to [0, 1] "
           f"(torch.clamp(..., 0, 1)), since images live in [0, 1]")
    d_got = got - x
    expect(float(d_got.abs().max()) > 1e-6, "the output equals the input: add the noise")
    inside = (exp > 0) & (exp < 1) & (got > 0) & (got < 1)        # pixels that neither version clipped
    noise = (exp - x)[inside] / sigma                            # the course's standard normal draws there
    d = d_got[inside]
    c = _corr(d, noise)
    if c > 0.999:                                                # the same random numbers, another scale
        a = float((d * noise).sum() / (noise * noise).sum())
        if abs(a - sigma ** 2) < 1e-4:
            raise CheckFailed(f"the noise has standard deviation {_f(a)} = sigma**2 at severity {severity}: the scale "
                              f"gives the standard deviation sigma = {sigma}, not the variance; multiply the draws by "
                              f"sigma")
        for j, sj in enumerate(sigmas, start=1):
            if j != severity and abs(a - sj) < 1e-4:
                what = ("the scale runs backwards" if j == len(sigmas) + 1 - severity else
                        "the severity is off by one" if abs(j - severity) == 1 else "the wrong entry of the scale")
                raise CheckFailed(f"{what}: at severity {severity} your noise has sigma = {sj}, the scale's value at "
                                  f"severity {j}; severity s uses sigma = {list(sigmas)}[s - 1] (severities count "
                                  f"from 1, and sigma grows with the severity)")
        raise CheckFailed(f"the noise has standard deviation {_f(a)} at severity {severity}, but the scale says "
                          f"sigma = {sigma}")
    if seed != 0:
        other = noise_with_sigma(x, sigma, 0)
        expect(not torch.allclose(got, other, atol=1e-6),
               f"your output for seed={seed} is the course's output for seed=0: seed the generator with `seed`")
    bg = (x == 0) & (exp > 0)
    if bool(bg.any()):
        expect(float(got[bg].abs().max()) > 1e-6,
               "the background pixels (value 0) got no noise: add sigma * noise to every pixel (noise that is "
               "multiplied by the pixel value leaves the black background untouched)")
    free = (got > 0) & (got < 1)
    if int(free.sum()) > 20:
        pos = float((d_got[free] > 0).float().mean())
        expect(pos < 0.9, f"the noise is not centred on 0: {pos:.0%} of the unclipped pixels got brighter, but Gaussian "
                          f"noise has mean 0 (torch.randn, not torch.rand, which draws uniform numbers in [0, 1))")
    dd, fr = d_got.flatten(1), free.flatten(1)
    shared = fr & fr[:1]                                          # pixels unclipped in this image and in image 0
    same = ((dd - dd[:1]).abs() < 1e-6) | ~shared
    if len(x) > 1 and int(shared[1:].sum()) > 20 and bool(same[1:].all()):
        raise CheckFailed("every image got the same noise: draw noise of the batch's full shape x.shape, "
                          "not one image's worth broadcast over the batch")
    # Different random numbers. Common random numbers across severities?
    d1 = _call(fn, x, 1, seed=seed) - x
    d5 = _call(fn, x, 5, seed=seed) - x
    both = (d1.abs() > 0) & (d5.abs() > 0) & (x + d1 > 0) & (x + d1 < 1) & (x + d5 > 0) & (x + d5 < 1)
    if int(both.sum()) > 20 and _corr(d1[both], d5[both]) < 0.99:
        raise CheckFailed("for a fixed seed the noise at severity 1 and at severity 5 are different draws: a severity "
                          "scale should change only sigma, with the same random numbers (seed the generator with "
                          "`seed` alone, draw once), so that each image's damage grows with the severity")
    raise CheckFailed(f"your noise at severity {severity}, seed {seed} uses other random numbers than the course's "
                      f"(correlation {_f(c)}): draw `torch.randn(x.shape, generator=g)` once, from "
                      f"`g = torch.Generator().manual_seed(seed)`, before anything else")


def _validate_noise(fn: Callable, x: torch.Tensor, severity: int, seed: int, sigmas: tuple[float, ...]):
    def validate(got) -> None:
        _is_image_like(got, x)
        exp = noise_with_sigma(x, sigmas[severity - 1], seed)
        if not torch.allclose(got, exp, atol=1e-6, rtol=0):
            _diagnose_noise(fn, x, severity, seed, got, sigmas)
    return validate


# What a severity scale for Gaussian noise on digits in [0, 1] must satisfy (stated in the exercise): severity 1 barely
# changes a digit, severity 5 hides its thin strokes without burying the digit.
SCALE_FIRST_MAX, SCALE_LAST_RANGE = 0.15, (0.25, 0.8)


def _validate_scale(scale) -> None:
    expect(scale is not None, "noise_scale() returned None: did you forget a `return`?")
    expect(isinstance(scale, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    for v in scale),
           f"noise_scale() should return a tuple of 5 numbers (sigma at severity 1..5), got {str(scale)[:80]}")
    v = [float(a) for a in scale]
    expect(len(v) == len(SEVERITIES), f"the scale needs {len(SEVERITIES)} values, one per severity 1..5; got {len(v)}")
    expect(all(math.isfinite(a) for a in v), f"the scale has a value that is not finite: {v}")
    expect(max(v) <= 1.0, f"the scale's values are standard deviations in pixel units (pixels are in [0, 1]), but it "
                          f"goes up to {_f(max(v))}: percent, or pixels in [0, 255]?")
    expect(min(v) > 0, f"sigma at every severity must be > 0 (severity 1 still adds some noise); got {v}")
    expect(all(b > a for a, b in zip(v, v[1:])),
           f"the scale must grow with the severity (each sigma larger than the one before), got {v}")
    expect(v[0] <= SCALE_FIRST_MAX, f"severity 1 should barely change a digit, but sigma = {_f(v[0])} there; keep "
                                    f"it at most {SCALE_FIRST_MAX}")
    lo, hi = SCALE_LAST_RANGE
    expect(lo <= v[-1], f"severity 5 should hide thin strokes, but sigma = {_f(v[-1])} there is mild; make it at "
                        f"least {lo}")
    expect(v[-1] <= hi, f"sigma = {_f(v[-1])} at severity 5 buries the digit; keep it at most {hi}")


def check_gaussian_noise(gaussian_noise, noise_scale=None, timeout_s: float | None = TIMEOUT_S) -> None:
    """``noise_scale()`` -> sigma at severity 1..5 (default: the course's scale); ``gaussian_noise(x, severity,
    seed=0)``: x (N, C, H, W) in [0, 1] plus N(0, sigma^2) noise, sigma from that scale, drawn from a generator seeded
    with ``seed``, clipped to [0, 1]; severities outside 1..5 raise."""
    if noise_scale is None:
        sigmas = tuple(SIGMAS)
    else:
        found = []
        run_check("noise_scale", noise_scale, [Case("your severity scale", validate=lambda got: (
            _validate_scale(got), found.append(tuple(float(a) for a in got))))], quiet=True, timeout_s=timeout_s,
            hint="Five standard deviations in pixel units, growing with the severity, from barely visible noise "
                 "to noise that hides thin strokes.")
        sigmas = found[0]
    x = _digits(24)

    def deterministic(_got) -> None:
        torch.manual_seed(1)
        a = _call(gaussian_noise, x, 3, seed=2)
        torch.manual_seed(2)
        b = _call(gaussian_noise, x, 3, seed=2)
        expect(isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b),
               "two calls with the same seed gave different images: draw the noise from a torch.Generator seeded "
               "with `seed` (torch.randn(x.shape, generator=g)), not from the global random state")

    def global_state_untouched(_got) -> None:
        import random

        import numpy as np

        torch.manual_seed(1234)
        before = (torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
        _call(gaussian_noise, x, 3, seed=2)
        after = (torch.get_rng_state(), np.random.get_state()[1], random.getstate())
        expect(torch.equal(before[0], after[0]) and (before[1] == after[1]).all() and before[2] == after[2],
               "your function changed the global random state (torch.manual_seed, np.random.seed or random.seed "
               "inside it, or a draw without generator=g): every later random number in the notebook would then "
               "depend on it; draw the noise from a local g = torch.Generator().manual_seed(seed)")

    def seed_matters(_got) -> None:
        a = _call(gaussian_noise, x, 3, seed=0)
        b = _call(gaussian_noise, x, 3, seed=1)
        expect(not torch.equal(a, b), "seed=0 and seed=1 gave the same image: the noise must depend on `seed` "
                                      "(seed the generator with it)")

    def input_untouched(_got) -> None:
        xin = x.clone()
        gaussian_noise(xin, 4, seed=0)
        expect(torch.equal(xin, x), "your function changed its input x in place: return a new tensor "
                                    "(x + noise, not x += noise or x.add_)")

    def bad_severity(_got) -> None:
        for s in (0, 6):
            try:
                _call(gaussian_noise, x, s, seed=0)
            except ValueError:
                continue
            except Exception as err:  # noqa: BLE001 - we report what was raised instead
                raise CheckFailed(f"severity {s} raised {type(err).__name__} ({err}); raise a ValueError that says "
                                  f"severities run from 1 to 5") from None
            raise CheckFailed(f"severity {s} was accepted: the scale has 5 severities, so raise a ValueError for "
                              f"anything outside 1..5")

    cases = [
        Case("the same seed twice, with the global random state changed in between", args=(x, 3), kwargs={"seed": 2},
             validate=deterministic),
        Case("the global random state is left alone", args=(x, 3), kwargs={"seed": 2}, validate=global_state_untouched),
        Case("seed=0 and seed=1", args=(x, 3), kwargs={"seed": 0}, validate=seed_matters),
        Case("24 digits, severity 3, seed 0", args=(x, 3), kwargs={"seed": 0},
             validate=_validate_noise(gaussian_noise, x, 3, 0, sigmas)),
        Case("24 digits, severity 1, seed 5", args=(x, 1), kwargs={"seed": 5},
             validate=_validate_noise(gaussian_noise, x, 1, 5, sigmas)),
        Case("24 digits, severity 5, seed 5", args=(x, 5), kwargs={"seed": 5},
             validate=_validate_noise(gaussian_noise, x, 5, 5, sigmas)),
        Case("the input is left unchanged", args=(x, 4), validate=input_untouched),
        Case("severities 0 and 6 are rejected", args=(x, 1), validate=bad_severity),
    ]
    run_check("gaussian_noise", gaussian_noise, cases, timeout_s=timeout_s,
              hint="Check the severity, look sigma up in the scale (severity 1 is its first entry), draw the noise once "
                   "from a generator seeded with `seed`, add sigma times the noise and clip to [0, 1].")


# ---------------------------------------------------------------------------------------------
# Exercise 2: evaluate a model on the suite
# ---------------------------------------------------------------------------------------------

def _centroid_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A fixed nearest-centroid classifier on the digits (no training, about 90% clean accuracy)."""
    from utils.data import load_digits_split

    d = load_digits_split()
    mu = torch.stack([d.x_train[d.y_train == k].reshape(-1, 64).mean(0) for k in range(10)])
    with torch.random.fork_rng():  # nn.Linear initialises from the global generator
        lin = nn.Linear(64, 10)
    with torch.no_grad():
        lin.weight.copy_(mu)
        lin.bias.copy_(-0.5 * (mu ** 2).sum(1))
    return nn.Sequential(nn.Flatten(), lin).eval(), d.x_test[:90], d.y_test[:90]


def _validate_suite(expected: dict[str, list[float]], clean: float, seed0: dict[str, list[float]] | None):
    def validate(got) -> None:
        expect(got is not None, "your function returned None: did you forget a `return`?")
        expect(isinstance(got, dict), f"return a dict {{corruption name: [accuracy at severity 1..5]}}, "
                                      f"got {type(got).__name__}")
        missing = [n for n in CORRUPTIONS if n not in got]
        expect(not missing, f"the dict is missing the corruptions {missing}: loop over every name in "
                            f"utils.shift.corruptions.CORRUPTIONS")
        vals = {}
        for n in CORRUPTIONS:
            v = got[n]
            if isinstance(v, torch.Tensor):
                v = v.tolist()
            expect(isinstance(v, (list, tuple)),
                   f"got[{n!r}] is one {type(v).__name__} (an average over the severities?), but it should be a list "
                   f"of {len(SEVERITIES)} accuracies, one per severity")
            expect(len(v) == len(SEVERITIES), f"got[{n!r}] has {len(v)} entries; it needs one per severity "
                                              f"{list(SEVERITIES)}")
            for s, gv in enumerate(v, start=1):
                expect(isinstance(gv, (int, float)) and not isinstance(gv, bool),
                       f"got[{n!r}][{s - 1}] should be a Python float accuracy, got {type(gv).__name__} "
                       f"(use .item() or float())")
            vals[n] = [float(a) for a in v]
        flat = [a for n in CORRUPTIONS for a in vals[n]]
        ref = [a for n in CORRUPTIONS for a in expected[n]]
        if all(abs(g - e) < 1e-6 for g, e in zip(flat, ref)):
            return
        expect(max(flat) <= 1.0 + 1e-9, f"accuracies should be fractions in [0, 1]; got values up to {_f(max(flat))} "
                                        f"(percentages?)")
        if all(abs(g - (1 - e)) < 1e-6 for g, e in zip(flat, ref)):
            raise CheckFailed("these are error rates (1 - accuracy): return the accuracy, the fraction of correct "
                              "predictions")
        if all(abs(g - clean) < 1e-6 for g in flat):
            raise CheckFailed(f"every entry equals the clean accuracy {_f(clean)}: corrupt x with "
                              f"corrupt(x, name, severity, seed=seed) before predicting")
        if seed0 is not None and all(abs(g - e) < 1e-6 for g, e in
                                     zip(flat, [a for n in CORRUPTIONS for a in seed0[n]])):
            raise CheckFailed("your accuracies are those of seed=0, whatever `seed` is: pass the seed on, "
                              "corrupt(x, name, severity, seed=seed)")
        for n in CORRUPTIONS:
            if len(set(round(a, 9) for a in vals[n])) == 1 and len(set(round(a, 9) for a in expected[n])) > 1:
                raise CheckFailed(f"got[{n!r}] is the same accuracy {_f(vals[n][0])} at every severity: evaluate "
                                  f"each severity in SEVERITIES separately")
        for n in CORRUPTIONS:
            for s, (gv, ev) in enumerate(zip(vals[n], expected[n]), start=1):
                expect(abs(gv - ev) < 1e-6, f"the accuracy on {n!r} at severity {s} is {_f(gv)}, expected {_f(ev)}")
    return validate


def check_evaluate_suite(evaluate_suite, timeout_s: float | None = TIMEOUT_S) -> None:
    """``evaluate_suite(model, x, y, seed)`` -> ``{name: [accuracy at severity 1, ..., 5]}`` for every corruption."""
    model, x, y = _centroid_model()
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    seed0 = trusted_evaluate_suite(model, x, y, 0)
    cases = []
    for seed in (0, 5):
        expected = seed0 if seed == 0 else trusted_evaluate_suite(model, x, y, seed)
        cases.append(Case(f"a fixed linear classifier on 90 test digits, seed={seed}", args=(model, x, y),
                          kwargs={"seed": seed}, validate=_validate_suite(expected, clean, seed0 if seed else None)))
    run_check("evaluate_suite", evaluate_suite, cases, timeout_s=timeout_s,
              hint="For each name in CORRUPTIONS and each severity in SEVERITIES, corrupt x with "
                   "corrupt(x, name, severity, seed=seed), predict, and store the accuracy (a float in [0, 1]).")


# ---------------------------------------------------------------------------------------------
# Exercise 3: corruption errors (mCE and relative mCE)
# ---------------------------------------------------------------------------------------------

# Hand-made accuracies chosen so that the typical mistakes all give different numbers: per-severity ratios differ
# from the ratio of sums, and the clean errors are neither zero nor equal.
_ACC = {"noise": [0.9, 0.8, 0.7, 0.5, 0.3], "blur": [0.95, 0.9, 0.9, 0.85, 0.6], "fog": [0.85, 0.7, 0.4, 0.3, 0.2]}
_BASE = {"noise": [0.8, 0.6, 0.5, 0.4, 0.2], "blur": [0.9, 0.85, 0.7, 0.6, 0.5], "fog": [0.9, 0.8, 0.6, 0.4, 0.3]}
_ACC2 = {"a": [0.97, 0.96, 0.9, 0.8, 0.7], "b": [0.5, 0.45, 0.4, 0.35, 0.3]}
_BASE2 = {"a": [0.95, 0.9, 0.8, 0.7, 0.55], "b": [0.8, 0.6, 0.5, 0.4, 0.35]}


def _ce_mistakes(acc, clean, base, base_clean) -> dict[str, tuple[str, dict[str, float]]]:
    """Per-corruption values of the typical wrong formulas, for naming a mistake: name -> (key, {c: value})."""
    def err(v):
        return [1 - a for a in v]
    out = {
        "accuracies instead of errors: CE divides the sums of errors (1 - accuracy), not of accuracies":
            ("CE", {c: sum(acc[c]) / sum(base[c]) for c in acc}),
        "the model's errors are divided by the model's own errors (every CE is 1): divide by the baseline's errors":
            ("CE", {c: 1.0 for c in acc}),
        "the baseline is in the numerator: CE = (model's summed errors) / (baseline's summed errors)":
            ("CE", {c: sum(err(base[c])) / sum(err(acc[c])) for c in acc}),
        "divided by the baseline's clean error, not by its errors under the corruption":
            ("CE", {c: sum(err(acc[c])) / (len(acc[c]) * (1 - base_clean)) for c in acc}),
        "a mean of per-severity ratios: divide the sums over severities instead (a ratio of sums)":
            ("CE", {c: sum(e / b for e, b in zip(err(acc[c]), err(base[c]))) / len(acc[c]) for c in acc}),
        "relative CE without subtracting the clean errors (it equals CE): subtract each model's own clean error":
            ("rel_CE", {c: sum(err(acc[c])) / sum(err(base[c])) for c in acc}),
        "relative CE subtracts the model's clean error from the baseline's errors too: the baseline's errors lose "
        "the baseline's clean error":
            ("rel_CE", {c: sum(e - (1 - clean) for e in err(acc[c])) / sum(b - (1 - clean) for b in err(base[c]))
                        for c in acc}),
        "relative CE with the clean errors swapped: the model's errors lose the model's clean error, the "
        "baseline's the baseline's":
            ("rel_CE", {c: sum(e - (1 - base_clean) for e in err(acc[c])) / sum(b - (1 - clean) for b in err(base[c]))
                        for c in acc}),
        "a mean of per-severity ratios for the relative CE: divide the sums instead":
            ("rel_CE", {c: sum((e - (1 - clean)) / (b - (1 - base_clean)) for e, b in zip(err(acc[c]), err(base[c])))
                        / len(acc[c]) for c in acc}),
    }
    return out


def _validate_ce(args: tuple):
    exp = trusted_corruption_errors(*args)
    mistakes = _ce_mistakes(*args)

    def validate(got) -> None:
        expect(got is not None, "your function returned None: did you forget a `return`?")
        expect(isinstance(got, dict), f"return a dict with keys 'CE', 'mCE', 'rel_CE', 'rel_mCE'; "
                                      f"got {type(got).__name__}")
        expect(set(got) >= {"CE", "mCE", "rel_CE", "rel_mCE"},
               f"the dict needs the keys 'CE', 'mCE', 'rel_CE', 'rel_mCE'; got {sorted(map(str, got))}")
        for key in ("CE", "rel_CE"):
            expect(isinstance(got[key], dict) and set(got[key]) == set(exp[key]),
                   f"got[{key!r}] should be a dict with one entry per corruption {sorted(exp[key])}")
            g = {c: float(v) for c, v in got[key].items()}
            if all(math.isfinite(g[c]) and abs(g[c] - exp[key][c]) < 1e-6 for c in exp[key]):
                continue
            if all(abs(g[c] - 100 * exp[key][c]) < 1e-4 for c in exp[key]):
                raise CheckFailed(f"got[{key!r}] is in percent: return fractions (1.0 = 100%)")
            for what, (k, wrong) in mistakes.items():
                if k == key and all(abs(g[c] - wrong[c]) < 1e-6 for c in exp[key]):
                    raise CheckFailed(f"got[{key!r}]: {what}")
            c = next(c for c in exp[key] if not (math.isfinite(g[c]) and abs(g[c] - exp[key][c]) < 1e-6))
            raise CheckFailed(f"got[{key!r}][{c!r}] = {_f(g[c])}, expected {_f(exp[key][c])}")
        for key, per in (("mCE", "CE"), ("rel_mCE", "rel_CE")):
            gv = float(got[key])
            if abs(gv - exp[key]) < 1e-6:
                continue
            n = len(exp[per])
            if abs(gv - exp[key] * n) < 1e-6:
                raise CheckFailed(f"got[{key!r}] is the sum of the {per} values: the mean over corruptions divides by "
                                  f"their number ({n})")
            if abs(gv - 100 * exp[key]) < 1e-4:
                raise CheckFailed(f"got[{key!r}] is in percent: return fractions (1.0 = 100%)")
            raise CheckFailed(f"got[{key!r}] = {_f(gv)}, expected {_f(exp[key])} (the mean of got[{per!r}] over "
                              f"corruptions)")
    return validate


def check_corruption_errors(corruption_errors, timeout_s: float | None = TIMEOUT_S) -> None:
    """``corruption_errors(acc, clean_acc, base_acc, base_clean_acc)`` -> dict of CE, mCE, rel_CE, rel_mCE."""
    cases = [
        Case("three corruptions, model clean 98%, baseline clean 92%", args=(_ACC, 0.98, _BASE, 0.92),
             validate=_validate_ce((_ACC, 0.98, _BASE, 0.92))),
        Case("two corruptions, model clean 99%, baseline clean 96%", args=(_ACC2, 0.99, _BASE2, 0.96),
             validate=_validate_ce((_ACC2, 0.99, _BASE2, 0.96))),
    ]
    run_check("corruption_errors", corruption_errors, cases, timeout_s=timeout_s,
              hint="Work with errors (1 - accuracy). CE_c sums the model's errors over the severities and divides by "
                   "the *baseline's* sum; relative CE first subtracts each model's own clean error. "
                   "Divide sums, do not average per-severity ratios.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: AugMix
# ---------------------------------------------------------------------------------------------

def _validate_aug_ops(names) -> None:
    expect(isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names),
           f"aug_ops() should return a list of operation names (strings), got {str(names)[:100]}")
    leaks = [f"{n!r} (= the test corruption {OVERLAPS[n]!r})" for n in names if n in OVERLAPS]
    expect(not leaks, "these operations are test corruptions, so training on them leaks the test shift: "
                      + ", ".join(leaks) + ". Keep the test corruptions held out.")
    unknown = [n for n in names if n not in OPERATIONS]
    expect(not unknown, f"unknown operations {unknown}; choose from {', '.join(OPERATIONS)}")
    expect(len(set(names)) == len(names), f"each operation once, please: {list(names)}")
    expect(len(names) >= 3, f"choose at least 3 operations (AugMix needs variety), got {list(names)}")


def _identity(x, g):
    return x.clone()


def _ones(x, g):
    return torch.ones_like(x)


def _halve(x, g):
    return x * 0.5


class _Recorder:
    """Operations that count how many images they were applied to."""

    def __init__(self, k: int = 2):
        self.counts = [0] * k
        self.ops = [self._make(i) for i in range(k)]

    def _make(self, i):
        def op(x, g):
            self.counts[i] += int(x.shape[0])
            return x * 0.9
        return op


class _ChainMarker:
    """An operation that ignores its input and lights one pixel, a different one on each call.

    With ``x = 0`` and ``max_depth=1`` every chain is one call, so AugMix returns, per image, ``(1 - m) * w_k`` at
    the pixel of chain k: the image reveals its chain weights ``w`` and its mixing weight ``m``.
    """

    def __init__(self):
        self.calls = 0

    def __call__(self, x, g):
        out = torch.zeros_like(x)
        out.view(len(x), -1)[:, self.calls % out[0].numel()] = 1.0
        self.calls += 1
        return out


class _Tracer:
    """Operations that write down, in the image itself, what they were applied to.

    Each of ``k`` operations adds to an image without looking at anything else: pixel 1 counts the operations applied
    so far (a chain's depth), and the first operation of a chain writes a tag (its call number) into pixel 2 that the
    later operations keep. Pixel 0 holds the image's id. An operation that receives an image reads off which chain it
    belongs to and how many operations came before it, so the check can tell, per image and per ``augmix`` call,
    which chains there were, how long each was, and which operations each applied, in order.
    """

    STEP = 1.0 / 64

    def __init__(self, k: int = 3):
        self.calls = 0                # operation calls so far (the next chain tag)
        self.round = 0                # which augmix call the check is in
        self.events = []              # (round, image id, chain tag, depth before this op, op index)
        self.ops = [self._make(j) for j in range(k)]

    def _make(self, j: int):
        def op(x, g):
            self.calls += 1
            out = x.clone()
            flat = out.reshape(len(x), -1)
            ids = torch.round(flat[:, 0] * 256).long().tolist()
            depth = torch.round(flat[:, 1] / self.STEP).long()
            tag = torch.round(flat[:, 2] * 4096).long()
            fresh = depth == 0
            tag = torch.where(fresh, torch.full_like(tag, self.calls), tag)
            for i, t, d in zip(ids, tag.tolist(), depth.tolist()):
                self.events.append((self.round, i, t, d, j))
            flat[:, 1] = flat[:, 1] + self.STEP
            flat[:, 2] = tag.to(flat.dtype) / 4096
            return out
        return op

    def chains(self) -> dict[tuple[int, int], list[list[tuple[int, int]]]]:
        """``{(round, image): [chain, ...]}``, each chain the list of (depth before, op index) in call order."""
        out: dict[tuple[int, int], dict[int, list[tuple[int, int]]]] = {}
        for r, i, t, d, j in self.events:
            out.setdefault((r, i), {}).setdefault(t, []).append((d, j))
        return {key: list(v.values()) for key, v in out.items()}


def _validate_chain_structure(augmix, rounds: int = 40, n: int = 6, width: int = 3, max_depth: int = 3):
    """Run ``augmix`` with :class:`_Tracer` operations and read each chain's structure off the traced images."""

    def validate(_got) -> None:
        tr = _Tracer(3)
        x = torch.zeros(n, 1, 8, 8)
        x.view(n, -1)[:, 0] = torch.arange(1, n + 1, dtype=x.dtype) / 256
        for r in range(rounds):
            tr.round = r
            augmix(x.clone(), tr.ops, torch.Generator().manual_seed(500 + r), width=width, max_depth=max_depth)
        chains = tr.chains()
        expect(len(chains) == rounds * n, f"the operations saw {len(chains)} (call, image) pairs, expected "
                                          f"{rounds * n}: apply every chain to every image of the batch")
        counts = [len(v) for v in chains.values()]
        lengths = [len(c) for v in chains.values() for c in v]
        saw_later = any(d > 0 for v in chains.values() for c in v for d, _ in c)
        ordered = all([d for d, _ in c] == list(range(len(c))) for v in chains.values() for c in v)
        if not saw_later:
            raise CheckFailed(
                "every operation was applied to the original image x, not to the previous operation's output "
                "(each chain has depth 1 in effect): inside a chain, compose the operations, xk = op(xk, g), starting "
                "from xk = x")
        if max(counts) < width:
            raise CheckFailed(
                f"the chains build on each other: each chain continued from the previous chain's output (chains up "
                f"to {max(lengths)} operations long with max_depth={max_depth}); every chain must start again from "
                f"the original image, xk = x at the start of each chain")
        expect(max(lengths) <= max_depth, f"a chain applied {max(lengths)} operations, more than max_depth="
                                          f"{max_depth}: draw the depth uniformly in 1..max_depth")
        expect(ordered, "an operation received an image that was not the previous operation's output in its chain: "
                        "apply each chain's operations one after another, xk = op(xk, g)")
        expect(set(counts) == {width}, f"with width={width} every image should go through {width} chains, but images "
                                       f"went through {sorted(set(counts))} chains")
        same_depth = [len({len(c) for c in v}) == 1 for v in chains.values()]
        expect(not all(same_depth), f"in every call all {width} chains had the same depth: draw a depth in "
                                    f"1..max_depth for each chain (inside the loop over chains), not once per call")
        multi = [[j for _, j in c] for v in chains.values() for c in v if len(c) > 1]
        expect(len(multi) < 10 or not all(len(set(s)) == 1 for s in multi),
               "each chain applies one operation over and over (every chain of depth 2 or more repeats a single "
               "operation): pick a new random operation at every step of the chain, not once per chain")

        def shared(v):
            seqs = [[j for _, j in c] for c in v]
            k = min(len(s) for s in seqs)
            return all(s[:k] == seqs[0][:k] for s in seqs)
        expect(not all(shared(v) for v in chains.values()),
               "all chains of a call apply the same sequence of operations (one sequence drawn once and reused by "
               "every chain): draw each chain's operations separately, inside the loop over chains")
    return validate


def _validate_same_as_input(x):
    def validate(got) -> None:
        expect(isinstance(got, torch.Tensor) and got.shape == x.shape,
               f"return a tensor of the input's shape {tuple(x.shape)}, got {getattr(got, 'shape', type(got))}")
        err = float((got - x).abs().max())
        expect(err < 1e-5, f"the weights do not add up to 1: with operations that change nothing the output should "
                           f"be the input, but it differs by up to {_f(err)} (the chain weights must sum to 1 per "
                           f"image, as Dirichlet weights do, and the result is m * x + (1 - m) * mix)")
    return validate


def _validate_beta_mix(alpha: float):
    lo, hi = (0.2, 0.38) if alpha == 1.0 else (0.0, 0.15)

    def validate(got) -> None:
        expect(isinstance(got, torch.Tensor) and got.dim() == 4, f"return a tensor (N, C, H, W), got {type(got).__name__}")
        expect(float(got.min()) >= -1e-6 and float(got.max()) <= 1 + 1e-6, "the output must stay in [0, 1]")
        per_image = got.flatten(1)
        spread_in = float((per_image.max(1).values - per_image.min(1).values).max())
        expect(spread_in < 1e-5, "with x = 0 and every operation returning 1, each image should be one constant "
                                 "1 - m: use one mixing weight m per image, the same for all of its pixels")
        v = per_image[:, 0]
        mean, std = float(v.mean()), float(v.std())
        expect(not (abs(mean - 1) < 1e-6 and std < 1e-6),
               "the original image is not mixed in (with x = 0 and operations returning 1 every output is 1, so "
               "m = 0): return m * x + (1 - m) * mix")
        expect(std > 1e-4, f"the mixing weight m is the same ({_f(1 - mean)}) for every image: draw one "
                           f"m ~ Beta(alpha, alpha) per image, sample_beta(alpha, N, g)")
        expect(0.4 < mean < 0.6, f"the mean of 1 - m over images is {_f(mean)}, but for m ~ Beta(alpha, alpha) it is "
                                 f"0.5: draw m with sample_beta(alpha, N, g)")
        expect(lo < std < hi, f"the mixing weight m is not Beta({alpha}, {alpha}): its spread over images is "
                              f"{_f(std)}, expected between {lo} and {hi}; draw m with sample_beta(alpha, N, g), "
                              f"passing this alpha on")
    return validate


@functools.lru_cache(maxsize=4)
def _dirichlet_reference(alpha: float, n: int, width: int) -> torch.Tensor:
    """A large sample of the trusted Dirichlet sampler, to compare a learner's weights with (two-sample KS)."""
    return sample_dirichlet(alpha, n, width, torch.Generator().manual_seed(12345))


def _ks_two_sample(a: torch.Tensor, b: torch.Tensor) -> float:
    """The two-sample Kolmogorov-Smirnov distance between the samples ``a`` and ``b`` (1-D)."""
    a, b = a.double().sort().values, b.double().sort().values
    grid = torch.cat([a, b])
    fa = torch.searchsorted(a, grid, right=True).double() / len(a)
    fb = torch.searchsorted(b, grid, right=True).double() / len(b)
    return float((fa - fb).abs().max())


def _neutrality(w: torch.Tensor) -> float:
    """Mean over pairs (i, j) of corr(|w_i / (w_i + w_j) - 1/2|, w_i + w_j): 0 for Dirichlet weights, whose split of
    a sum never depends on the sum ("neutrality"); softmax-of-noise or normalised-uniform weights are correlated."""
    cs = []
    k = w.shape[1]
    for i in range(k):
        for j in range(i + 1, k):
            s = w[:, i] + w[:, j]
            a = (w[:, i] / s - 0.5).abs()
            a, s = a - a.mean(), s - s.mean()
            cs.append(float((a * s).mean() / (a.std() * s.std() + 1e-12)))
    return sum(cs) / len(cs)


def _validate_chain_weights(augmix, alpha: float, n: int = 6000, width: int = 3):
    """Recover each image's chain weights with :class:`_ChainMarker` and compare their law with Dirichlet(alpha)."""

    def validate(_got) -> None:
        marker = _ChainMarker()
        x = torch.zeros(n, 1, 8, 8)
        out = augmix(x, [marker], torch.Generator().manual_seed(7), width=width, max_depth=1, alpha=alpha)
        expect(isinstance(out, torch.Tensor) and out.shape == x.shape, "return a tensor of the input's shape")
        flat = out.reshape(n, -1).double()
        one_minus_m = flat.sum(1)
        keep = one_minus_m > 1e-3                                  # images with m close to 1 carry no information
        w = flat[keep] / one_minus_m[keep].unsqueeze(1)
        lit = (w > 1e-12).sum(1)
        expect(bool((lit == width).all()),
               f"with width={width} and max_depth=1 every image should mix {width} chains of one operation each, "
               f"but images show {sorted(set(lit.tolist()))[:5]} chains: apply each chain to the whole batch and "
               f"give every chain its own weight")
        w = w[w > 1e-12].view(-1, width)                           # each image's weights, in the order of the calls
        if float((w - 1.0 / width).abs().max()) < 1e-4:
            raise CheckFailed(f"every chain weight is 1/{width}: uniform weights are not AugMix; draw one weight "
                              f"vector per image from Dirichlet(alpha), sample_dirichlet(alpha, N, width, g)")
        if float(w.std(0).max()) < 1e-4:
            raise CheckFailed("every image got the same chain weights (one weight vector for the whole batch): draw "
                              "one Dirichlet vector per image, shape (N, width): sample_dirichlet(alpha, N, width, g)")
        ref = _dirichlet_reference(alpha, 60000, width).double()
        d = max(_ks_two_sample(w[:, k], ref[:, k]) for k in range(width))
        sd, sd_ref = float(w.std(0).mean()), float(ref.std(0).mean())
        # Two-sample KS with about 6000 and 60000 draws: a distance above 0.035 has probability below 1e-4 when the
        # weights really are Dirichlet(alpha).
        expect(d < 0.035, f"the chain weights are not Dirichlet({alpha}): their distribution differs from the course's "
                          f"sampler (Kolmogorov-Smirnov distance {_f(d)}; spread of one weight {_f(sd)}, expected "
                          f"{_f(sd_ref)}). Softmax of noise, normalised uniform numbers or another alpha look similar "
                          f"but are not; use sample_dirichlet(alpha, N, width, g) with this alpha")
        c = _neutrality(w)
        # For Dirichlet weights c is 0 with a standard error of about 0.01 here.
        expect(abs(c) < 0.05, f"the chain weights are not Dirichlet({alpha}): how two weights split their sum depends "
                              f"on the sum (correlation {_f(c)}; Dirichlet weights give 0). Softmax of noise and "
                              f"normalised uniform numbers do this; use sample_dirichlet(alpha, N, width, g)")
    return validate


def check_augmix(augmix, aug_ops, timeout_s: float | None = TIMEOUT_S) -> None:
    """``aug_ops()`` names safe operations; ``augmix(x, ops, g, width, max_depth, alpha)`` mixes augmentation chains."""
    if not callable(aug_ops):
        raise TypeError("check_augmix(augmix, aug_ops) expects your function `aug_ops` itself")
    run_check("aug_ops", aug_ops, [Case("the chosen operations", validate=_validate_aug_ops,
                                        hint="Pick operations from utils.shift.augmix.OPERATIONS that are not test "
                                             "corruptions (see utils.shift.augmix.OVERLAPS).")],
              quiet=True, timeout_s=timeout_s)

    x = _digits(24)
    z = torch.zeros(1500, 1, 4, 4)

    def gen(seed=0):
        return torch.Generator().manual_seed(seed)

    ops = [OPERATIONS[n] for n in SAFE_OPERATIONS]

    def shape_range(got):
        expect(got is not None, "your function returned None: did you forget a `return`?")
        expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
        expect(got.shape == x.shape and got.dtype == x.dtype,
               f"return the input's shape {tuple(x.shape)} and dtype {x.dtype}, got {tuple(got.shape)} {got.dtype}")
        lo, hi = float(got.min()), float(got.max())
        expect(lo >= -1e-6 and hi <= 1 + 1e-6,
               f"the weights do not add up to 1: the output leaves [0, 1] (from {_f(lo)} to {_f(hi)}) although every "
               f"operation stays in [0, 1]; the chain weights must sum to 1 per image (Dirichlet) and the result is "
               f"m * x + (1 - m) * mix")
        expect(float((got - x).abs().mean()) > 1e-3, "the output equals the input: apply the operation chains")

    def determinism(_got):
        torch.manual_seed(1)
        a = augmix(x.clone(), ops, gen(3))
        torch.manual_seed(2)
        b = augmix(x.clone(), ops, gen(3))
        expect(torch.equal(a, b), "two calls with identically seeded generators gave different results: draw every "
                                  "random number (Dirichlet, Beta, depths, op choices) from the generator g, not "
                                  "the global RNG (torch.distributions uses the global RNG; use "
                                  "utils.shift.augmix.sample_dirichlet / sample_beta)")

    def depth_and_choice(_got):
        rec = _Recorder(2)
        xs = x[:8]
        calls, width = 40, 3
        for i in range(calls):
            augmix(xs.clone(), rec.ops, gen(100 + i), width=width, max_depth=3)
        per_chain = sum(rec.counts) / (calls * width * len(xs))
        expect(1.7 < per_chain < 2.3,
               f"the chain depth is not uniform on 1..max_depth: each chain should apply a random number of "
               f"operations (on average 2 for max_depth=3); yours applied {_f(per_chain)} on average")
        frac = rec.counts[0] / max(1, sum(rec.counts))
        expect(0.25 < frac < 0.75, f"the operations are not picked at random from ops: the first of two ops "
                                   f"was used for {frac:.0%} of the applications")
        rec1 = _Recorder(1)
        augmix(xs.clone(), rec1.ops, gen(0), width=4, max_depth=1)
        expect(rec1.counts[0] == 4 * len(xs), f"with width=4 and max_depth=1 every image should go through 4 chains "
                                              f"of one operation; yours applied {_f(rec1.counts[0] / len(xs))} per image")

    cases = [
        Case("digits, the safe operations: shape, dtype, range", args=(x, ops, gen(0)), validate=shape_range),
        Case("operations that change nothing -> the output is the input", args=(x, [_identity], gen(1)),
             validate=_validate_same_as_input(x)),
        Case("x = 0, operations return 1: one Beta(1, 1) weight per image", args=(z, [_ones], gen(2)),
             validate=_validate_beta_mix(1.0)),
        Case("x = 0, operations return 1, alpha=20: Beta(20, 20) weights", args=(z, [_ones], gen(3)),
             kwargs={"alpha": 20.0}, validate=_validate_beta_mix(20.0)),
        Case("the same seeded generator gives the same output", args=(x, ops, gen(3)), validate=determinism),
        Case("chain depths and operation choices are random", args=(x[:2], [_halve], gen(4)), validate=depth_and_choice),
        Case("traced operations: each chain restarts from x, composes its operations, and draws its own depth and "
             "operations", args=(x[:2], [_halve], gen(4)), validate=_validate_chain_structure(augmix)),
        Case("6000 blank images, one marker operation per chain: the chain weights are Dirichlet(1)",
             args=(x[:2], [_halve], gen(5)), validate=_validate_chain_weights(augmix, 1.0)),
        Case("the same with alpha=20: the chain weights are Dirichlet(20)",
             args=(x[:2], [_halve], gen(6)), validate=_validate_chain_weights(augmix, 20.0)),
    ]
    run_check("augmix", augmix, cases, timeout_s=timeout_s,
              hint="One Dirichlet weight vector and one Beta weight per image (sample_dirichlet, sample_beta); each "
                   "chain a random depth in 1..max_depth of randomly picked ops; every random number from g.")


# ---------------------------------------------------------------------------------------------
# Exercise 5: the Jensen-Shannon consistency loss
# ---------------------------------------------------------------------------------------------

def _js_mistakes(a, b, c) -> dict[str, torch.Tensor]:
    """Values of typical wrong formulas, for naming a mistake (never used as the reference)."""
    ps = [F.softmax(t, dim=1) for t in (a, b, c)]
    m = sum(ps) / 3

    def kl(p, q):  # rows of KL(p || q), safe at p = 0
        return (p * (p.clamp_min(1e-30).log() - q.clamp_min(1e-30).log())).sum(1)

    n, k = a.shape
    js = sum(kl(p, m) for p in ps).mean() / 3
    return {
        "the KL divergences point the wrong way: JS averages KL(p_i || M), not KL(M || p_i)":
            sum(kl(m, p) for p in ps).mean() / 3,
        "the KL terms are summed over the batch: average them over the rows (reduction='batchmean')": js * n,
        "the sum of the three KL terms is not divided by 3": js * 3,
        "the KL terms are averaged over the classes too (reduction='mean'): sum over classes, average over rows":
            js / k,
        "only the clean view's KL(p_c || M) is there: average the three terms KL(p_c||M), KL(p_1||M), KL(p_2||M)":
            kl(ps[0], m).mean(),
        "M mixes only the two augmented views: M = (p_c + p_1 + p_2) / 3":
            sum(kl(p, (ps[1] + ps[2]) / 2) for p in ps).mean() / 3,
        "the softmax runs over the batch (dim=0): each row's probabilities are over the classes, dim=1":
            _js_dim0(a, b, c),
    }


def _js_dim0(a, b, c) -> torch.Tensor:
    ps = [F.softmax(t, dim=0) for t in (a, b, c)]
    m = sum(ps) / 3
    return sum((p * (p.clamp_min(1e-30).log() - m.clamp_min(1e-30).log())).sum(1) for p in ps).mean() / 3


def _validate_js_value(args: tuple, atol: float):
    exp = trusted_js(*args)
    mistakes = _js_mistakes(*args)

    def validate(got) -> None:
        expect(got is not None, "your function returned None: did you forget a `return`?")
        expect(isinstance(got, torch.Tensor), f"return a torch tensor (so that it can be backpropagated), "
                                              f"got {type(got).__name__}")
        expect(got.numel() == 1, f"return one number for the batch (a scalar tensor), got shape {tuple(got.shape)}")
        gv = float(got)
        expect(math.isfinite(gv), f"the loss is {gv} for these logits: a softmax entry underflows to 0 and log(0) = "
                                  f"-inf (and 0 * -inf = nan); take logs with log_softmax, and log M with logsumexp")
        if abs(gv - float(exp)) <= atol + 1e-4 * abs(float(exp)):
            return
        expect(math.isfinite(gv) and gv >= -1e-6, f"the loss is {_f(gv)}, but a divergence is never negative: "
                                                  f"softmax the logits before using them as probabilities")
        for what, val in mistakes.items():
            if abs(gv - float(val)) <= atol + 1e-4 * abs(float(val)):
                raise CheckFailed(what)
        raise CheckFailed(f"the loss is {_f(gv)}, expected {_f(exp)}")
    return validate


def _validate_js_grad(js_divergence, args: tuple, what: str):
    def validate(_got) -> None:
        leaves = [t.clone().requires_grad_(True) for t in args]
        loss = js_divergence(*leaves)
        expect(isinstance(loss, torch.Tensor) and loss.requires_grad,
               "the loss does not depend on the logits in the autograd graph (detached, or built with .item() or "
               "numpy): keep every step in torch so that the loss can be backpropagated")
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        expect(all(g is not None for g in grads), "the loss's gradient does not reach all three logits: each view "
                                                  "must enter the loss through autograd")
        bad = [i for i, g in enumerate(grads) if not bool(torch.isfinite(g).all())]
        expect(not bad, f"the gradient of the loss is NaN or inf for {what}: a softmax entry underflows to 0, and "
                        f"the derivative of p * log(p) at p = 0 is -inf (times the softmax's derivative 0 gives NaN). "
                        f"Compute in log space: log_softmax for log p, logsumexp for log M, p = log_p.exp()")
        ref_leaves = [t.clone().requires_grad_(True) for t in args]
        ref = torch.autograd.grad(trusted_js(*ref_leaves), ref_leaves)
        err = max(float((g - r).abs().max()) for g, r in zip(grads, ref))
        scale = max(float(r.abs().max()) for r in ref)
        expect(err <= 1e-5 + 1e-3 * scale,
               f"the gradient differs from the loss's true gradient by up to {_f(err)} (largest entry {_f(scale)}) "
               f"for {what}: no .detach() on M or on any probability, and no clamping that cuts the gradient off "
               f"where it matters")
    return validate


def check_js_divergence(js_divergence, timeout_s: float | None = TIMEOUT_S) -> None:
    """``js_divergence(logits_clean, logits_aug1, logits_aug2)`` -> scalar JS divergence of the three softmaxes, with a
    finite gradient even when a softmax entry underflows to 0."""
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(6, 10, generator=g) * 2 for _ in range(3))
    big = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 5.0]])
    big_args = (big, big.flip(1), big * 0)
    def shift_invariant(got) -> None:
        moved = js_divergence(a + 5.0, b + 5.0, c + 5.0)
        expect(isinstance(got, torch.Tensor) and isinstance(moved, torch.Tensor) and got.numel() == 1
               and moved.numel() == 1, "return the loss as a scalar torch tensor")
        expect(abs(float(moved) - float(got)) <= 1e-5 + 1e-4 * abs(float(got)),
               f"adding 5 to every logit changed the loss from {_f(got)} to {_f(moved)}, but it leaves the softmax "
               f"probabilities unchanged: the inputs are logits, so turn them into probabilities with a softmax "
               f"(over the class dimension, dim=1) before comparing them")

    cases = [
        Case("adding a constant to every logit changes nothing", args=(a, b, c), validate=shift_invariant),
        Case("6 rows, 10 classes", args=(a, b, c), validate=_validate_js_value((a, b, c), 1e-5)),
        Case("the same logits three times -> 0", args=(a, a.clone(), a.clone()),
             validate=_validate_js_value((a, a, a), 1e-6)),
        Case("one row, two views agree", args=(a[:1], b[:1], b[:1].clone()),
             validate=_validate_js_value((a[:1], b[:1], b[:1]), 1e-5)),
        Case("the gradient with respect to all three logits, 6 rows", args=(a, b, c),
             validate=_validate_js_grad(js_divergence, (a, b, c), "ordinary logits")),
        Case("large logits (1000s): the value stays finite", args=big_args, validate=_validate_js_value(big_args, 1e-4)),
        Case("large logits (1000s): the gradient stays finite", args=big_args,
             validate=_validate_js_grad(js_divergence, big_args, "logits 1000 apart")),
    ]
    run_check("js_divergence", js_divergence, cases, timeout_s=timeout_s,
              hint="Work with log-probabilities (log_softmax; log M by logsumexp) so that nothing takes log(0); sum "
                   "each KL over the classes, then average over the three views and the rows.")
