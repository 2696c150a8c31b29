"""Checks for ``03_ood_robustness``: evaluating a corruption suite, mCE, AugMix and its consistency loss."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from utils.shift.augmix import OPERATIONS, OVERLAPS, SAFE_OPERATIONS, sample_beta, sample_dirichlet
from utils.shift.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from utils.checks import Case, CheckFailed, expect, run_check

__all__ = ["check_evaluate_suite", "check_corruption_errors", "check_augmix", "check_js_divergence"]


# ---------------------------------------------------------------------------------------------
# Private references
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def _reference_evaluate_suite(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> dict[str, list[float]]:
    model.eval()
    return {
        n: [(model(corrupt(x, n, s, seed=seed)).argmax(1) == y).float().mean().item() for s in SEVERITIES]
        for n in CORRUPTIONS
    }


def _reference_corruption_errors(acc, clean_acc, base_acc, base_clean_acc) -> dict:
    ce, rel = {}, {}
    e_clean, b_clean = 1.0 - clean_acc, 1.0 - base_clean_acc
    for c in acc:
        e = [1.0 - a for a in acc[c]]
        b = [1.0 - a for a in base_acc[c]]
        ce[c] = sum(e) / sum(b)
        rel[c] = sum(ei - e_clean for ei in e) / sum(bi - b_clean for bi in b)
    return {"CE": ce, "mCE": sum(ce.values()) / len(ce), "rel_CE": rel, "rel_mCE": sum(rel.values()) / len(rel)}


def _reference_augmix(x, ops, g, width=3, max_depth=3, alpha=1.0):
    n = len(x)
    w = sample_dirichlet(alpha, n, width, g).to(x)                 # (n, width), rows sum to 1
    m = sample_beta(alpha, n, g).to(x).view(-1, 1, 1, 1)           # (n, 1, 1, 1)
    mix = torch.zeros_like(x)
    for k in range(width):
        depth = int(torch.randint(1, max_depth + 1, (1,), generator=g))
        xk = x
        for _ in range(depth):
            xk = ops[int(torch.randint(len(ops), (1,), generator=g))](xk, g)
        mix = mix + w[:, k].view(-1, 1, 1, 1) * xk
    return m * x + (1 - m) * mix


def _reference_aug_ops() -> list[str]:
    return list(SAFE_OPERATIONS)


def _reference_js_divergence(logits_clean, logits_aug1, logits_aug2):
    p = [F.softmax(z, dim=1) for z in (logits_clean, logits_aug1, logits_aug2)]
    log_m = ((p[0] + p[1] + p[2]) / 3).clamp(1e-7, 1.0).log()
    return sum(F.kl_div(log_m, pi, reduction="batchmean") for pi in p) / 3


# ---------------------------------------------------------------------------------------------
# Exercise 1: evaluate a model on the suite
# ---------------------------------------------------------------------------------------------

def _centroid_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A fixed nearest-centroid classifier on the digits (no training, about 90% clean accuracy)."""
    from utils.data import load_digits_split

    d = load_digits_split()
    mu = torch.stack([d.x_train[d.y_train == k].reshape(-1, 64).mean(0) for k in range(10)])
    lin = nn.Linear(64, 10)
    with torch.no_grad():
        lin.weight.copy_(mu)
        lin.bias.copy_(-0.5 * (mu ** 2).sum(1))
    return nn.Sequential(nn.Flatten(), lin).eval(), d.x_test[:90], d.y_test[:90]


def _validate_suite(expected: dict[str, list[float]]):
    def validate(got) -> None:
        expect(isinstance(got, dict), f"return a dict {{corruption name: [accuracy at severity 1..5]}}, got {type(got).__name__}")
        missing = [n for n in CORRUPTIONS if n not in got]
        expect(not missing, f"the dict is missing the corruptions {missing} (loop over utils.shift.corruptions.CORRUPTIONS)")
        for n in CORRUPTIONS:
            v = got[n]
            if isinstance(v, torch.Tensor):
                v = v.tolist()
            expect(isinstance(v, (list, tuple)) and len(v) == len(SEVERITIES),
                   f"got[{n!r}] should be a list of {len(SEVERITIES)} accuracies (one per severity), got {v!r:.80}")
            for s, (gv, ev) in enumerate(zip(v, expected[n]), start=1):
                expect(isinstance(gv, (int, float)) and not isinstance(gv, bool),
                       f"got[{n!r}][{s - 1}] should be a float accuracy, got {type(gv).__name__}")
                expect(abs(float(gv) - ev) < 1e-6,
                       f"accuracy on {n!r} at severity {s} is {float(gv):.4f}, expected {ev:.4f}")
    return validate


def check_evaluate_suite(evaluate_suite) -> None:
    """``evaluate_suite(model, x, y, seed)`` -> ``{name: [accuracy at severity 1, ..., 5]}`` for every corruption."""
    model, x, y = _centroid_model()
    cases = []
    for seed in (0, 5):
        expected = _reference_evaluate_suite(model, x, y, seed)
        cases.append(Case(f"a fixed linear classifier on 90 test digits, seed={seed}", args=(model, x, y),
                          kwargs={"seed": seed}, validate=_validate_suite(expected)))
    run_check("evaluate_suite", evaluate_suite, cases,
              hint="For each name in CORRUPTIONS and each severity in SEVERITIES, corrupt x with "
                   "corrupt(x, name, severity, seed=seed), predict, and store the accuracy (a float in [0, 1]).")


# ---------------------------------------------------------------------------------------------
# Exercise 2: corruption errors (mCE and relative mCE)
# ---------------------------------------------------------------------------------------------

def _ce_cases() -> list[Case]:
    # Hand-made accuracies chosen so that the typical mistakes all give different numbers:
    # per-severity ratios differ from the ratio of sums, and the clean errors are not zero.
    acc = {"noise": [0.9, 0.8, 0.7, 0.5, 0.3], "blur": [0.95, 0.9, 0.9, 0.85, 0.6], "fog": [0.85, 0.7, 0.4, 0.3, 0.2]}
    base = {"noise": [0.8, 0.6, 0.5, 0.4, 0.2], "blur": [0.9, 0.85, 0.7, 0.6, 0.5], "fog": [0.9, 0.8, 0.6, 0.4, 0.3]}
    acc2 = {"a": [0.97, 0.96, 0.9, 0.8, 0.7], "b": [0.5, 0.45, 0.4, 0.35, 0.3]}
    base2 = {"a": [0.95, 0.9, 0.8, 0.7, 0.55], "b": [0.8, 0.6, 0.5, 0.4, 0.35]}
    out = []
    for label, args in [
        ("three corruptions, model clean 98%, baseline clean 92%", (acc, 0.98, base, 0.92)),
        ("two corruptions, model clean 99%, baseline clean 96%", (acc2, 0.99, base2, 0.96)),
    ]:
        exp = _reference_corruption_errors(*args)
        out.append(Case(label, args=args, validate=_validate_ce(exp)))
    return out


def _validate_ce(exp: dict):
    def validate(got) -> None:
        expect(isinstance(got, dict), f"return a dict with keys 'CE', 'mCE', 'rel_CE', 'rel_mCE'; got {type(got).__name__}")
        expect(set(got) >= {"CE", "mCE", "rel_CE", "rel_mCE"},
               f"the dict needs the keys 'CE', 'mCE', 'rel_CE', 'rel_mCE'; got {sorted(got)}")
        for key in ("CE", "rel_CE"):
            expect(isinstance(got[key], dict) and set(got[key]) == set(exp[key]),
                   f"got[{key!r}] should be a dict with one entry per corruption {sorted(exp[key])}")
            for c, ev in exp[key].items():
                gv = float(got[key][c])
                expect(math.isfinite(gv) and abs(gv - ev) < 1e-6,
                       f"got[{key!r}][{c!r}] = {gv:.4f}, expected {ev:.4f}")
        for key in ("mCE", "rel_mCE"):
            gv = float(got[key])
            expect(abs(gv - exp[key]) < 1e-6, f"got[{key!r}] = {gv:.4f}, expected {exp[key]:.4f}")
    return validate


def check_corruption_errors(corruption_errors) -> None:
    """``corruption_errors(acc, clean_acc, base_acc, base_clean_acc)`` -> dict of CE, mCE, rel_CE, rel_mCE."""
    run_check("corruption_errors", corruption_errors, _ce_cases(),
              hint="Work with errors (1 - accuracy). CE_c sums the model's errors over the severities and divides by "
                   "the *baseline's* sum; relative CE first subtracts each model's own clean error. "
                   "Divide sums, do not average per-severity ratios.")


# ---------------------------------------------------------------------------------------------
# Exercise 3: AugMix
# ---------------------------------------------------------------------------------------------

def _validate_aug_ops(names) -> None:
    expect(isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names),
           f"aug_ops() should return a list of operation names (strings), got {names!r:.100}")
    expect(len(names) >= 3, f"choose at least 3 operations (AugMix needs variety), got {list(names)}")
    unknown = [n for n in names if n not in OPERATIONS]
    expect(not unknown, f"unknown operations {unknown}; choose from {', '.join(OPERATIONS)}")
    leaks = [f"{n!r} (= the test corruption {OVERLAPS[n]!r})" for n in names if n in OVERLAPS]
    expect(not leaks, "these operations are test corruptions, so training on them leaks the test shift: "
                      + ", ".join(leaks) + ". Keep the test corruptions held out.")
    expect(len(set(names)) == len(names), f"each operation once, please: {list(names)}")


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


def _validate_same_as_input(x):
    def validate(got) -> None:
        expect(isinstance(got, torch.Tensor) and got.shape == x.shape,
               f"return a tensor of the input's shape {tuple(x.shape)}, got {getattr(got, 'shape', type(got))}")
        err = float((got - x).abs().max())
        expect(err < 1e-5, "with operations that change nothing, AugMix must return the input unchanged, but it "
                           f"differs by up to {err:.3g}: the chain weights must sum to 1 (Dirichlet) and the "
                           "result must be m * x + (1 - m) * mix")
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
        expect(0.4 < mean < 0.6, f"with x = 0 and operations returning 1 the mean output is E[1 - m] = 0.5 for "
                                 f"m ~ Beta(alpha, alpha); got {mean:.3f}")
        expect(lo < std < hi, f"the spread of m over images is {std:.3f}; for m ~ Beta({alpha}, {alpha}) it should be "
                              f"in ({lo}, {hi}): draw m per image from Beta(alpha, alpha) with this alpha")
    return validate


def check_augmix(augmix, aug_ops) -> None:
    """``aug_ops()`` names safe operations; ``augmix(x, ops, g, width, max_depth, alpha)`` mixes augmentation chains."""
    if not callable(aug_ops):
        raise TypeError("check_augmix(augmix, aug_ops) expects your function `aug_ops` itself")
    run_check("aug_ops", aug_ops, [Case("the chosen operations", validate=_validate_aug_ops,
                                        hint="Pick operations from utils.shift.augmix.OPERATIONS that are not test "
                                             "corruptions (see utils.shift.augmix.OVERLAPS).")], quiet=True)

    from utils.data import load_digits_split

    x = load_digits_split().x_test[:24]
    z = torch.zeros(1500, 1, 4, 4)

    def gen(seed=0):
        return torch.Generator().manual_seed(seed)

    ops = [OPERATIONS[n] for n in SAFE_OPERATIONS]

    def shape_range(got):
        expect(isinstance(got, torch.Tensor), f"return a tensor, got {type(got).__name__}")
        expect(got.shape == x.shape and got.dtype == x.dtype,
               f"return the input's shape {tuple(x.shape)} and dtype {x.dtype}, got {tuple(got.shape)} {got.dtype}")
        expect(float(got.min()) >= -1e-6 and float(got.max()) <= 1 + 1e-6, "the output must stay in [0, 1]")
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
               f"each chain should apply a random number of operations, uniform on 1..max_depth (on average 2 for "
               f"max_depth=3); yours applied {per_chain:.2f} on average")
        frac = rec.counts[0] / max(1, sum(rec.counts))
        expect(0.25 < frac < 0.75, f"pick each operation of the chain at random from ops; the first of two ops "
                                   f"was used for {frac:.0%} of the applications")
        rec1 = _Recorder(1)
        augmix(xs.clone(), rec1.ops, gen(0), width=4, max_depth=1)
        expect(rec1.counts[0] == 4 * len(xs), f"with width=4 and max_depth=1 every image should go through 4 chains "
                                              f"of one operation; yours applied {rec1.counts[0] / len(xs):.2f} per image")

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
    ]
    run_check("augmix", augmix, cases,
              hint="w = sample_dirichlet(alpha, N, width, g); m = sample_beta(alpha, N, g); for each chain pick a depth "
                   "in 1..max_depth and that many random ops; return m * x + (1 - m) * sum_k w[:, k] * chain_k.")


# ---------------------------------------------------------------------------------------------
# Exercise 4: the Jensen-Shannon consistency loss
# ---------------------------------------------------------------------------------------------

def check_js_divergence(js_divergence) -> None:
    """``js_divergence(logits_clean, logits_aug1, logits_aug2)`` -> scalar JS divergence of the three softmaxes."""
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(6, 10, generator=g) * 2 for _ in range(3))
    big = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 5.0]])
    cases = [
        Case("6 rows, 10 classes", args=(a, b, c), expected=_reference_js_divergence(a, b, c), atol=1e-5),
        Case("the same logits three times -> 0", args=(a, a.clone(), a.clone()), expected=torch.tensor(0.0), atol=1e-6),
        Case("one row, two views agree", args=(a[:1], b[:1], b[:1].clone()),
             expected=_reference_js_divergence(a[:1], b[:1], b[:1]), atol=1e-5),
        Case("large logits (1000s) stay finite", args=(big, big.flip(1), big * 0),
             expected=_reference_js_divergence(big, big.flip(1), big * 0), atol=1e-4),
    ]
    run_check("js_divergence", js_divergence, cases,
              hint="Softmax each set of logits to p_c, p_1, p_2; M = (p_c + p_1 + p_2) / 3; return "
                   "(KL(p_c||M) + KL(p_1||M) + KL(p_2||M)) / 3, each KL summed over classes and averaged over rows.")
