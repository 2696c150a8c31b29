"""Lesson 03: for every exercise, a table of typical wrong answers written against the real signature.

Each row is (exercise, mistake, wrong function, what the message must say). Every wrong function must be rejected
with :class:`CheckFailed` (not another error) whose message names that mistake first: the first reason after
"failed check case '...':" must match the row's pattern within its first characters. The reference (the course's
trusted implementation) passes, the stub reports "not implemented yet", and an endless loop fails fast.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from utils.checks import CheckFailed
from tests.mistakes import assert_endless_loop_fails_quickly, assert_stub_not_implemented
from utils.shift.augmix import (
    OPERATIONS,
    SAFE_OPERATIONS,
    augmix as ref_augmix,
    js_divergence as ref_js,
    sample_beta,
    sample_dirichlet,
)
from utils.shift.checks import (
    check_augmix,
    check_corruption_errors,
    check_evaluate_suite,
    check_gaussian_noise,
    check_js_divergence,
)
from utils.shift.corruptions import CORRUPTIONS, PARAMS, SEVERITIES, corrupt
from utils.shift.suite import corruption_errors as ref_ce
from utils.shift.suite import evaluate_suite as ref_suite

SIGMAS = PARAMS["gaussian_noise"]


def ref_ops():
    return list(SAFE_OPERATIONS)


def first_reason(message: str) -> str:
    """The reason a check gives, without the "`fn` failed check case '...': " prefix and the hint."""
    m = re.search(r"failed check case '.*?': (.*?)(\n\s*Hint:|$)", message, flags=re.S)
    return (m.group(1) if m else message).strip()


# --------------------------------------------------------------------------------------------
# Exercise 1: gaussian_noise(x, severity, seed=0)
# --------------------------------------------------------------------------------------------

def _sigma(severity):
    if severity not in SEVERITIES:
        raise ValueError("severity must be 1..5")
    return SIGMAS[severity - 1]


def noise_ok(x, severity, seed=0):
    s = _sigma(severity)
    g = torch.Generator().manual_seed(seed)
    return (x + s * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_no_clip(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return x + _sigma(severity) * torch.randn(x.shape, generator=g)


def noise_variance(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + _sigma(severity) ** 2 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_off_by_one(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + SIGMAS[severity] * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_reversed(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + SIGMAS[5 - severity] * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_global_rng(x, severity, seed=0):
    return (x + _sigma(severity) * torch.randn(x.shape)).clamp(0, 1)


def noise_ignores_seed(x, severity, seed=0):
    return noise_ok(x, severity, seed=0)


def noise_fresh_per_severity(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed + 100 * severity)
    return (x + _sigma(severity) * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_one_for_batch(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + _sigma(severity) * torch.randn((1, *x.shape[1:]), generator=g)).clamp(0, 1)


def noise_uniform(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + _sigma(severity) * torch.rand(x.shape, generator=g)).clamp(0, 1)


def noise_multiplicative(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x * (1 + _sigma(severity) * torch.randn(x.shape, generator=g))).clamp(0, 1)


def noise_in_place(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    x += _sigma(severity) * torch.randn(x.shape, generator=g)
    return x.clamp_(0, 1)


def noise_no_validation(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (x + SIGMAS[min(max(severity, 1), 5) - 1] * torch.randn(x.shape, generator=g)).clamp(0, 1)


def noise_other_draw_order(x, severity, seed=0):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(x.shape[::-1], generator=g).permute(3, 2, 1, 0)   # same law, other numbers
    return (x + _sigma(severity) * noise).clamp(0, 1)


def noise_global_reseed(x, severity, seed=0):
    """Deterministic, but it re-seeds the global generator: every later random number depends on this call."""
    torch.manual_seed(seed)
    return (x + _sigma(severity) * torch.randn(x.shape)).clamp(0, 1)


NOISE_MISTAKES = [
    ("no clipping", noise_no_clip, r"the noisy image has values outside \[0, 1\]"),
    ("variance instead of std", noise_variance, r"the noise has standard deviation .* = sigma\*\*2"),
    ("severity off by one", noise_off_by_one, r"the severity is off by one"),
    ("scale reversed", noise_reversed, r"the scale runs backwards"),
    ("global random state", noise_global_rng, r"two calls with the same seed gave different images"),
    ("re-seeds the global random state", noise_global_reseed, r"your function changed the global random state"),
    ("seed ignored", noise_ignores_seed, r"seed=0 and seed=1 gave the same image"),
    ("fresh draws per severity", noise_fresh_per_severity, r"for a fixed seed the noise at severity 1 and at severity 5"),
    ("one noise image for the batch", noise_one_for_batch, r"every image got the same noise"),
    ("uniform instead of Gaussian", noise_uniform, r"the noise is not centred on 0"),
    ("multiplicative noise", noise_multiplicative, r"the background pixels \(value 0\) got no noise"),
    ("modifies its input", noise_in_place, r"your function changed its input x in place"),
    ("accepts severity 0 and 6", noise_no_validation, r"severity 0 was accepted"),
    ("other random numbers", noise_other_draw_order, r"your noise at severity 3, seed 0 uses other random numbers"),
]


def _scale(values):
    return lambda: values


def noise_on_scale(scale):
    """A correct gaussian_noise that reads its sigma from the learner's scale function."""
    def f(x, severity, seed=0):
        if severity not in SEVERITIES:
            raise ValueError("severity must be 1..5")
        g = torch.Generator().manual_seed(seed)
        return (x + scale()[severity - 1] * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return f


SCALE_MISTAKES = [
    ("scale decreasing", _scale((0.42, 0.32, 0.24, 0.16, 0.08)), r"the scale must grow with the severity"),
    ("flat step", _scale((0.1, 0.1, 0.2, 0.3, 0.4)), r"the scale must grow with the severity"),
    ("four values", _scale((0.1, 0.2, 0.3, 0.4)), r"the scale needs 5 values"),
    ("percent", _scale((8, 16, 24, 32, 42)), r"the scale's values are standard deviations in pixel units"),
    ("zero at severity 1", _scale((0.0, 0.1, 0.2, 0.3, 0.4)), r"sigma at every severity must be > 0"),
    ("severity 1 too strong", _scale((0.3, 0.4, 0.5, 0.6, 0.7)), r"severity 1 should barely change a digit"),
    ("severity 5 too mild", _scale((0.01, 0.02, 0.03, 0.04, 0.05)), r"severity 5 should hide thin strokes"),
    ("severity 5 buries the digit", _scale((0.1, 0.3, 0.5, 0.7, 0.9)), r"sigma = 0.9 at severity 5 buries the digit"),
    ("a numpy array", lambda: __import__("numpy").array([0.08, 0.16, 0.24, 0.32, 0.42]),
     r"noise_scale\(\) should return a tuple of 5 numbers"),
]


# --------------------------------------------------------------------------------------------
# Exercise 2: evaluate_suite(model, x, y, seed=0)
# --------------------------------------------------------------------------------------------

def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


SUITE_MISTAKES = [
    ("error rates", lambda m, x, y, seed=0: {n: [1 - _acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES]
                                             for n in CORRUPTIONS}, r"these are error rates"),
    ("forgot to corrupt", lambda m, x, y, seed=0: {n: [_acc(m, x, y) for s in SEVERITIES] for n in CORRUPTIONS},
     r"every entry equals the clean accuracy"),
    ("seed not passed on", lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, s), y) for s in SEVERITIES]
                                                    for n in CORRUPTIONS}, r"your accuracies are those of seed=0"),
    ("one severity for all", lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, 1, seed), y)] * 5 for n in CORRUPTIONS},
     r"got\['\w+'\] is the same accuracy .* at every severity"),
    ("mean over severities", lambda m, x, y, seed=0: {n: sum(_acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES) / 5
                                                      for n in CORRUPTIONS},
     r"got\['gaussian_noise'\] is one float \(an average over the severities\?\)"),
    ("some corruptions missing", lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES]
                                                          for n in CORRUPTIONS[:4]}, r"the dict is missing the corruptions"),
    ("percentages", lambda m, x, y, seed=0: {n: [100 * _acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES]
                                             for n in CORRUPTIONS}, r"accuracies should be fractions in \[0, 1\]"),
    ("tensors, not floats", lambda m, x, y, seed=0: {n: [(m(corrupt(x, n, s, seed)).argmax(1) == y).float().mean()
                                                         for s in SEVERITIES] for n in CORRUPTIONS},
     r"got\['gaussian_noise'\]\[0\] should be a Python float accuracy, got Tensor"),
    ("no return", lambda m, x, y, seed=0: None, r"your function returned None"),
]


# --------------------------------------------------------------------------------------------
# Exercise 3: corruption_errors(acc, clean_acc, base_acc, base_clean_acc)
# --------------------------------------------------------------------------------------------

def _ce_with(ce_fn, rel_fn, mean=lambda d: sum(d.values()) / len(d)):
    def f(acc, clean, base, base_clean):
        ce = {c: ce_fn(acc[c], base[c], clean, base_clean) for c in acc}
        rel = {c: rel_fn(acc[c], base[c], clean, base_clean) for c in acc}
        return {"CE": ce, "mCE": mean(ce), "rel_CE": rel, "rel_mCE": mean(rel)}
    return f


def _ok_ce(a, b, c, bc):
    return sum(1 - v for v in a) / sum(1 - v for v in b)


def _ok_rel(a, b, c, bc):
    return sum((1 - v) - (1 - c) for v in a) / sum((1 - v) - (1 - bc) for v in b)


CE_MISTAKES = [
    ("normalised by its own errors", _ce_with(lambda a, b, c, bc: sum(1 - v for v in a) / sum(1 - v for v in a), _ok_rel),
     r"got\['CE'\]: the model's errors are divided by the model's own errors"),
    ("divided by the baseline's clean error", _ce_with(lambda a, b, c, bc: sum(1 - v for v in a) / (5 * (1 - bc)), _ok_rel),
     r"got\['CE'\]: divided by the baseline's clean error"),
    ("accuracies instead of errors", _ce_with(lambda a, b, c, bc: sum(a) / sum(b), _ok_rel),
     r"got\['CE'\]: accuracies instead of errors"),
    ("mean of per-severity ratios", _ce_with(lambda a, b, c, bc: sum((1 - x) / (1 - z) for x, z in zip(a, b)) / 5, _ok_rel),
     r"got\['CE'\]: a mean of per-severity ratios"),
    ("baseline over model", _ce_with(lambda a, b, c, bc: sum(1 - v for v in b) / sum(1 - v for v in a), _ok_rel),
     r"got\['CE'\]: the baseline is in the numerator"),
    ("relative CE without the clean errors", _ce_with(_ok_ce, _ok_ce),
     r"got\['rel_CE'\]: relative CE without subtracting the clean errors"),
    ("model's clean error subtracted from the baseline too",
     _ce_with(_ok_ce, lambda a, b, c, bc: sum((1 - v) - (1 - c) for v in a) / sum((1 - v) - (1 - c) for v in b)),
     r"got\['rel_CE'\]: relative CE subtracts the model's clean error from the baseline's errors too"),
    ("clean errors swapped",
     _ce_with(_ok_ce, lambda a, b, c, bc: sum((1 - v) - (1 - bc) for v in a) / sum((1 - v) - (1 - c) for v in b)),
     r"got\['rel_CE'\]: relative CE with the clean errors swapped"),
    ("mCE is a sum", _ce_with(_ok_ce, _ok_rel, mean=lambda d: sum(d.values())),
     r"got\['mCE'\] is the sum of the CE values"),
    ("percent", _ce_with(lambda a, b, c, bc: 100 * _ok_ce(a, b, c, bc), _ok_rel), r"got\['CE'\] is in percent"),
    ("missing keys", lambda a, c, b, bc: {"mCE": 1.0}, r"the dict needs the keys"),
]


# --------------------------------------------------------------------------------------------
# Exercise 4: augmix(x, ops, g, width=3, max_depth=3, alpha=1.0) and aug_ops()
# --------------------------------------------------------------------------------------------

def _augmix_variant(weights="dirichlet", m_mode="beta", depth_mode="random", rng="local", choice="random"):
    def f(x, ops, g, width=3, max_depth=3, alpha=1.0):
        n = len(x)
        if weights == "dirichlet":
            w = sample_dirichlet(alpha, n, width, g)
        elif weights == "uniform_unnormalised":
            w = torch.rand(n, width, generator=g)
        elif weights == "uniform":
            w = torch.full((n, width), 1.0 / width)
        elif weights == "softmax_noise":
            w = torch.softmax(torch.randn(n, width, generator=g), dim=1)
        elif weights == "softmax_noise_scaled":
            w = torch.softmax(1.6 * torch.randn(n, width, generator=g), dim=1)
        elif weights == "normalised_uniform":
            u = torch.rand(n, width, generator=g)
            w = u / u.sum(1, keepdim=True)
        elif weights == "one_per_batch":
            w = sample_dirichlet(alpha, 1, width, g).expand(n, width)
        elif weights == "alpha_ignored":
            w = sample_dirichlet(1.0, n, width, g)
        if rng == "global":
            w = torch.distributions.Dirichlet(torch.full((width,), alpha)).sample((n,))
        w = w.to(x)
        if m_mode in ("beta", "no_original", "no_one_minus_m"):
            m = sample_beta(alpha, n, g).view(-1, 1, 1, 1)
        elif m_mode == "one_per_batch":
            m = sample_beta(alpha, 1, g).view(1, 1, 1, 1).expand(n, 1, 1, 1)
        elif m_mode == "alpha_ignored":
            m = sample_beta(1.0, n, g).view(-1, 1, 1, 1)
        elif m_mode == "uniform":
            m = torch.rand(n, generator=g).view(-1, 1, 1, 1) * 0.2 + 0.4
        m = m.to(x)
        mix = torch.zeros_like(x)
        for k in range(width):
            if depth_mode == "random":
                depth = int(torch.randint(1, max_depth + 1, (1,), generator=g))
            elif depth_mode == "max":
                depth = max_depth
            elif depth_mode == "off_by_one":
                depth = int(torch.randint(1, max_depth, (1,), generator=g)) if max_depth > 1 else 1
            xk = x
            for _ in range(depth):
                j = int(torch.randint(len(ops), (1,), generator=g)) if choice == "random" else 0
                xk = ops[j](xk, g)
            mix = mix + w[:, k].view(-1, 1, 1, 1) * xk
        if m_mode == "no_original":
            return mix
        if m_mode == "no_one_minus_m":
            return (m * x + mix).clamp(0, 1)
        return m * x + (1 - m) * mix
    return f


def _augmix_structure(mode):
    """AugMix with the right weights but a wrong chain structure (the five mistakes that count only op calls miss)."""
    def f(x, ops, g, width=3, max_depth=3, alpha=1.0):
        n = len(x)
        w = sample_dirichlet(alpha, n, width, g).to(x)
        m = sample_beta(alpha, n, g).to(x).view(-1, 1, 1, 1)
        mix = torch.zeros_like(x)
        depth_once = int(torch.randint(1, max_depth + 1, (1,), generator=g))
        seq = [ops[int(torch.randint(len(ops), (1,), generator=g))] for _ in range(max_depth)]
        xk = x
        for k in range(width):
            depth = depth_once if mode == "depth_once" else int(torch.randint(1, max_depth + 1, (1,), generator=g))
            if mode != "chains_compose":
                xk = x
            op_once = ops[int(torch.randint(len(ops), (1,), generator=g))]
            for d in range(depth):
                op = (op_once if mode == "one_op_per_chain" else seq[d] if mode == "same_sequence"
                      else ops[int(torch.randint(len(ops), (1,), generator=g))])
                xk = op(x, g) if mode == "ops_on_original" else op(xk, g)
            mix = mix + w[:, k].view(-1, 1, 1, 1) * xk
        return m * x + (1 - m) * mix
    return f


AUGMIX_MISTAKES = [
    ("chain weights not normalised", _augmix_variant(weights="uniform_unnormalised"), r"the weights do not add up to 1"),
    ("m * x + mix", _augmix_variant(m_mode="no_one_minus_m"), r"the weights do not add up to 1"),
    ("no original image", _augmix_variant(m_mode="no_original"), r"the original image is not mixed in"),
    ("one Beta weight for the batch", _augmix_variant(m_mode="one_per_batch"), r"the mixing weight m is the same .* for every image"),
    ("Beta alpha ignored", _augmix_variant(m_mode="alpha_ignored"), r"the mixing weight m is not Beta\(20.0, 20.0\)"),
    ("m uniform in a band", _augmix_variant(m_mode="uniform"), r"the mixing weight m is not Beta\(1.0, 1.0\)"),
    ("depth always max_depth", _augmix_variant(depth_mode="max"), r"the chain depth is not uniform on 1..max_depth"),
    ("depth 1..max_depth-1", _augmix_variant(depth_mode="off_by_one"), r"the chain depth is not uniform on 1..max_depth"),
    ("always the first operation", _augmix_variant(choice="first"), r"the operations are not picked at random from ops"),
    ("global random state", _augmix_variant(rng="global"), r"two calls with identically seeded generators gave different"),
    ("returns the input", lambda x, ops, g, width=3, max_depth=3, alpha=1.0: x.clone(), r"the output equals the input"),
    # the chain structure (each op gets the previous op's output, each chain restarts from x, own depth and ops)
    ("every op applied to the original x", _augmix_structure("ops_on_original"),
     r"every operation was applied to the original image x"),
    ("chains build on the previous chain", _augmix_structure("chains_compose"), r"the chains build on each other"),
    ("one depth for all chains", _augmix_structure("depth_once"), r"in every call all 3 chains had the same depth"),
    ("one op per chain, repeated", _augmix_structure("one_op_per_chain"),
     r"each chain applies one operation over and over"),
    ("one op sequence shared by all chains", _augmix_structure("same_sequence"),
     r"all chains of a call apply the same sequence of operations"),
    # the examples: chain weights that are not Dirichlet, caught as a class
    ("uniform chain weights", _augmix_variant(weights="uniform"), r"every chain weight is 1/3: uniform weights"),
    ("softmax of noise", _augmix_variant(weights="softmax_noise"), r"the chain weights are not Dirichlet"),
    ("softmax of scaled noise", _augmix_variant(weights="softmax_noise_scaled"), r"the chain weights are not Dirichlet"),
    ("normalised uniform numbers", _augmix_variant(weights="normalised_uniform"), r"the chain weights are not Dirichlet"),
    ("one weight vector for the whole batch", _augmix_variant(weights="one_per_batch"), r"every image got the same chain weights"),
    ("Dirichlet alpha ignored", _augmix_variant(weights="alpha_ignored"), r"the chain weights are not Dirichlet\(20.0\)"),
]

AUG_OPS_MISTAKES = [
    ("leaks rotate", lambda: list(SAFE_OPERATIONS) + ["rotate"], r"these operations are test corruptions.*'rotate'"),
    ("translate is the test shift", lambda: ["shear_x", "translate", "zoom"], r"these operations are test corruptions.*'shift'"),
    ("noise and blur", lambda: ["shear_x", "gaussian_noise", "blur", "zoom"], r"these operations are test corruptions"),
    ("too few", lambda: ["shear_x", "zoom"], r"choose at least 3 operations"),
    ("unknown name", lambda: ["shear_x", "zoom", "snow"], r"unknown operations \['snow'\]"),
    ("not a list", lambda: "shear_x", r"aug_ops\(\) should return a list of operation names"),
    ("functions, not names", lambda: [OPERATIONS[n] for n in SAFE_OPERATIONS], r"aug_ops\(\) should return a list of operation names"),
    ("duplicates", lambda: ["shear_x", "shear_x", "zoom"], r"each operation once"),
]


# --------------------------------------------------------------------------------------------
# Exercise 5: js_divergence(logits_clean, logits_aug1, logits_aug2)
# --------------------------------------------------------------------------------------------

def _kl_rows(p, m):
    return (p * (p.clamp_min(1e-12).log() - m.clamp_min(1e-12).log())).sum(1)


def _probs(*zs):
    return [torch.softmax(z, 1) for z in zs]


def js_nan_gradient(a, b, c):
    """The textbook form (and this lesson's old reference): a finite value, a NaN gradient once p underflows."""
    p = _probs(a, b, c)
    log_m = ((p[0] + p[1] + p[2]) / 3).clamp(1e-7, 1.0).log()
    return sum(F.kl_div(log_m, pi, reduction="batchmean") for pi in p) / 3


def js_log_of_softmax(a, b, c):
    p = _probs(a, b, c)
    m = sum(p) / 3
    return sum((pi * (torch.log(pi) - torch.log(m))).sum(1).mean() for pi in p) / 3


JS_MISTAKES = [
    ("KL the wrong way", lambda a, b, c: sum(F.kl_div(torch.softmax(z, 1).clamp_min(1e-7).log(), sum(_probs(a, b, c)) / 3,
                                                    reduction="batchmean") for z in (a, b, c)) / 3,
     r"the KL divergences point the wrong way"),
    ("logits as probabilities", lambda a, b, c: sum(_kl_rows(z.clamp_min(1e-6), (a + b + c).clamp_min(1e-6) / 3).mean()
                                                    for z in (a, b, c)) / 3, r"adding 5 to every logit changed the loss"),
    ("summed over the batch", lambda a, b, c: sum(_kl_rows(p, sum(_probs(a, b, c)) / 3).sum() for p in _probs(a, b, c)) / 3,
     r"the KL terms are summed over the batch"),
    ("not divided by 3", lambda a, b, c: sum(_kl_rows(p, sum(_probs(a, b, c)) / 3).mean() for p in _probs(a, b, c)),
     r"the sum of the three KL terms is not divided by 3"),
    ("only the clean view", lambda a, b, c: _kl_rows(_probs(a)[0], sum(_probs(a, b, c)) / 3).mean(),
     r"only the clean view's KL"),
    ("mean over classes too", lambda a, b, c: sum((p * (p.log() - (sum(_probs(a, b, c)) / 3).log())).mean()
                                                  for p in _probs(a, b, c)) / 3,
     r"the KL terms are averaged over the classes too"),
    ("M without the clean view", lambda a, b, c: sum(_kl_rows(p, (_probs(b)[0] + _probs(c)[0]) / 2).mean()
                                                     for p in _probs(a, b, c)) / 3, r"M mixes only the two augmented views"),
    ("softmax over the batch", lambda a, b, c: sum(_kl_rows(torch.softmax(z, 0), sum(torch.softmax(t, 0) for t in (a, b, c)) / 3).mean()
                                                   for z in (a, b, c)) / 3, r"the softmax runs over the batch"),
    ("log of the softmax", js_log_of_softmax, r"the loss is nan for these logits: a softmax entry underflows"),
    ("NaN gradient when p underflows (the old reference)", js_nan_gradient,
     r"the gradient of the loss is NaN or inf for logits 1000 apart"),
    ("clean prediction detached", lambda a, b, c: ref_js(a.detach(), b, c),
     r"the loss's gradient does not reach all three logits"),
    ("returns a Python float", lambda a, b, c: float(ref_js(a, b, c)), r"return (a torch tensor|the loss as a scalar torch tensor)"),
]


ROWS = (
    [("gaussian_noise", name, fn, pat) for name, fn, pat in NOISE_MISTAKES]
    + [("noise_scale", name, fn, pat) for name, fn, pat in SCALE_MISTAKES]
    + [("evaluate_suite", name, fn, pat) for name, fn, pat in SUITE_MISTAKES]
    + [("corruption_errors", name, fn, pat) for name, fn, pat in CE_MISTAKES]
    + [("augmix", name, fn, pat) for name, fn, pat in AUGMIX_MISTAKES]
    + [("aug_ops", name, fn, pat) for name, fn, pat in AUG_OPS_MISTAKES]
    + [("js_divergence", name, fn, pat) for name, fn, pat in JS_MISTAKES]
)

CHECKS = {
    "gaussian_noise": lambda fn, **kw: check_gaussian_noise(fn, **kw),
    "noise_scale": lambda fn, **kw: check_gaussian_noise(noise_on_scale(fn), fn, **kw),
    "evaluate_suite": lambda fn, **kw: check_evaluate_suite(fn, **kw),
    "corruption_errors": lambda fn, **kw: check_corruption_errors(fn, **kw),
    "augmix": lambda fn, **kw: check_augmix(fn, ref_ops, **kw),
    "aug_ops": lambda fn, **kw: check_augmix(ref_augmix, fn, **kw),
    "js_divergence": lambda fn, **kw: check_js_divergence(fn, **kw),
}
REFERENCES = {
    "gaussian_noise": noise_ok,
    "noise_scale": _scale((0.05, 0.1, 0.2, 0.3, 0.5)),
    "evaluate_suite": ref_suite,
    "corruption_errors": ref_ce,
    "augmix": ref_augmix,
    "aug_ops": ref_ops,
    "js_divergence": ref_js,
}


def test_every_exercise_has_at_least_five_mistakes():
    counts = {ex: sum(1 for r in ROWS if r[0] == ex) for ex in CHECKS}
    assert all(n >= 5 for n in counts.values()), counts


@pytest.mark.parametrize("exercise, mistake, wrong, pattern", ROWS, ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_mistake_is_rejected_and_named_first(exercise, mistake, wrong, pattern):
    with pytest.raises(CheckFailed) as info:
        CHECKS[exercise](wrong)
    message = str(info.value)
    reason = first_reason(message)
    assert re.match(pattern, reason, flags=re.S), f"{mistake!r}: the message does not lead with it:\n{message}"
    assert "np.float" not in message and "tensor(" not in message, message


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_reference_passes(exercise, capsys):
    CHECKS[exercise](REFERENCES[exercise])
    assert "✓" in capsys.readouterr().out or exercise == "aug_ops"


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_stub_is_not_implemented_yet(exercise):
    assert_stub_not_implemented(CHECKS[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_an_endless_loop_fails_fast(exercise):
    assert_endless_loop_fails_quickly(CHECKS[exercise], timeout_s=0.5, within_s=10, match="did not finish check case")


def test_the_lesson_uses_the_trusted_functions_in_its_checks():
    """One reference per algorithm: the checks hold no private reference copies."""
    import utils.shift.checks as checks

    assert not [n for n in vars(checks) if n.startswith("_reference")]


def test_other_correct_code_passes():
    """Correct variants that differ from the reference in form must pass too."""
    from utils.training import evaluate

    def suite(model, x, y, seed=0):
        return {n: [evaluate(model, corrupt(x, n, s, seed=seed), y) for s in SEVERITIES] for n in CORRUPTIONS}

    check_evaluate_suite(suite)

    def per_image(x, ops, g, width=3, max_depth=3, alpha=1.0):
        n = len(x)
        w = sample_dirichlet(alpha, n, width, g).to(x)
        m = sample_beta(alpha, n, g).to(x).view(-1, 1, 1, 1)
        mix = torch.zeros_like(x)
        for k in range(width):
            depth = torch.randint(1, max_depth + 1, (n,), generator=g)
            xk = x.clone()
            for step in range(max_depth):
                which = torch.randint(len(ops), (n,), generator=g)
                for j, op in enumerate(ops):
                    idx = ((which == j) & (depth > step)).nonzero().flatten()
                    if len(idx):
                        xk[idx] = op(xk[idx], g)
            mix = mix + w[:, k].view(-1, 1, 1, 1) * xk
        return m * x + (1 - m) * mix

    check_augmix(per_image, ref_ops)

    def manual(a, b, c):
        ps = [torch.softmax(z, 1) for z in (a, b, c)]
        m = sum(ps) / 3
        kl = [(p * (torch.log(p.clamp_min(1e-12)) - torch.log(m.clamp_min(1e-12)))).sum(1).mean() for p in ps]
        return sum(kl) / 3

    check_js_divergence(manual)

    def stacked(a, b, c):
        lp = torch.stack([F.log_softmax(z, -1) for z in (a, b, c)])
        lm = lp.logsumexp(0) - torch.log(torch.tensor(3.0))
        return F.kl_div(lm.expand_as(lp), lp, log_target=True, reduction="sum") / (3 * a.shape[0])

    check_js_divergence(stacked)

    def noise(x, severity, seed=0):
        if not 1 <= severity <= 5:
            raise ValueError(f"severity must be in 1..5, got {severity}")
        g = torch.Generator().manual_seed(seed)
        eps = torch.randn(x.shape, generator=g)
        return torch.clamp(x + PARAMS["gaussian_noise"][severity - 1] * eps, 0.0, 1.0)

    check_gaussian_noise(noise)
