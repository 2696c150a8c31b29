"""Lesson 03 (OOD robustness): the checks reject stubs and typical mistakes and accept the references;
the augmentation library, the samplers, the cue helpers and the figure functions work and validate inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from utils.shift.augmix import (  # noqa: E402
    OPERATIONS,
    OVERLAPS,
    SAFE_OPERATIONS,
    apply_ops,
    augmix_loss,
    sample_beta,
    sample_dirichlet,
    sample_gamma,
)
from utils.checks import CheckFailed  # noqa: E402
from utils.shift import checks as ood  # noqa: E402
from utils.shift.checks import (  # noqa: E402
    check_augmix,
    check_corruption_errors,
    check_evaluate_suite,
    check_js_divergence,
)
from utils.shift.corruptions import (  # noqa: E402
    CORRUPTIONS,
    SEVERITIES,
    add_spurious_cue,
    corrupt,
    cue_balancing_weights,
    plot_accuracy_grid,
    plot_suite,
    prediction_panel,
)
from utils.data import load_digits_split  # noqa: E402


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------------------------
# Exercise 1: evaluate_suite
# --------------------------------------------------------------------------------------------

ref_suite = ood._reference_evaluate_suite


def _acc(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_evaluate_suite_accepts_reference():
    check_evaluate_suite(ref_suite)


def test_evaluate_suite_accepts_other_correct_code():
    from utils.training import evaluate

    def mine(model, x, y, seed=0):
        out = {}
        for n in CORRUPTIONS:
            out[n] = [evaluate(model, corrupt(x, n, s, seed=seed), y) for s in SEVERITIES]
        return out

    check_evaluate_suite(mine)


@pytest.mark.parametrize("wrong", [
    # error rates instead of accuracies
    lambda m, x, y, seed=0: {n: [1 - _acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES] for n in CORRUPTIONS},
    # forgot to corrupt: clean accuracy everywhere
    lambda m, x, y, seed=0: {n: [_acc(m, x, y) for s in SEVERITIES] for n in CORRUPTIONS},
    # ignores the seed argument
    lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, s), y) for s in SEVERITIES] for n in CORRUPTIONS},
    # severity off by one (0..4 would raise; 2..6 too), here: every entry uses severity 1
    lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, 1, seed), y)] * 5 for n in CORRUPTIONS},
    # mean over severities instead of a list
    lambda m, x, y, seed=0: {n: sum(_acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES) / 5 for n in CORRUPTIONS},
    # only some corruptions
    lambda m, x, y, seed=0: {n: [_acc(m, corrupt(x, n, s, seed), y) for s in SEVERITIES] for n in CORRUPTIONS[:4]},
])
def test_evaluate_suite_rejects_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_evaluate_suite(wrong)


def test_evaluate_suite_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_evaluate_suite(stub)


# --------------------------------------------------------------------------------------------
# Exercise 2: corruption errors
# --------------------------------------------------------------------------------------------

ref_ce = ood._reference_corruption_errors


def test_corruption_errors_accepts_reference():
    check_corruption_errors(ref_ce)


def _ce_with(ce_fn, rel_fn):
    def f(acc, clean, base, base_clean):
        ce = {c: ce_fn(acc[c], base[c], clean, base_clean) for c in acc}
        rel = {c: rel_fn(acc[c], base[c], clean, base_clean) for c in acc}
        return {"CE": ce, "mCE": sum(ce.values()) / len(ce), "rel_CE": rel, "rel_mCE": sum(rel.values()) / len(rel)}
    return f


def _ok_ce(a, b, c, bc):
    return sum(1 - v for v in a) / sum(1 - v for v in b)


def _ok_rel(a, b, c, bc):
    return sum((1 - v) - (1 - c) for v in a) / sum((1 - v) - (1 - bc) for v in b)


@pytest.mark.parametrize("wrong", [
    # wrong baseline: normalised by the model's own errors (every CE = 1)
    _ce_with(lambda a, b, c, bc: sum(1 - v for v in a) / sum(1 - v for v in a), _ok_rel),
    # wrong baseline: divided by the baseline's clean error instead of its corruption errors
    _ce_with(lambda a, b, c, bc: sum(1 - v for v in a) / (5 * (1 - bc)), _ok_rel),
    # accuracies instead of errors
    _ce_with(lambda a, b, c, bc: sum(a) / sum(b), _ok_rel),
    # mean of per-severity ratios instead of the ratio of sums
    _ce_with(lambda a, b, c, bc: sum((1 - x) / (1 - z) for x, z in zip(a, b)) / 5, _ok_rel),
    # relative CE without subtracting the clean errors
    _ce_with(_ok_ce, _ok_ce),
    # relative CE subtracting the *model's* clean error from the baseline too
    _ce_with(_ok_ce, lambda a, b, c, bc: sum((1 - v) - (1 - c) for v in a) / sum((1 - v) - (1 - c) for v in b)),
])
def test_corruption_errors_rejects_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_corruption_errors(wrong)


def test_corruption_errors_rejects_stub_and_missing_keys():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_corruption_errors(stub)
    with pytest.raises(CheckFailed, match="keys"):
        check_corruption_errors(lambda a, c, b, bc: {"mCE": 1.0})


# --------------------------------------------------------------------------------------------
# Exercise 3: AugMix
# --------------------------------------------------------------------------------------------

ref_augmix = ood._reference_augmix
ref_ops = ood._reference_aug_ops


def test_augmix_accepts_reference():
    check_augmix(ref_augmix, ref_ops)


def test_augmix_accepts_per_image_op_choice():
    """A different, valid design: each image gets its own depth and operations."""
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


def _augmix_variant(weights="dirichlet", m_mode="beta", depth_mode="random", rng="local", choice="random"):
    def f(x, ops, g, width=3, max_depth=3, alpha=1.0):
        n = len(x)
        if weights == "dirichlet":
            w = sample_dirichlet(alpha, n, width, g)
        elif weights == "uniform_unnormalised":
            w = torch.rand(n, width, generator=g)
        if rng == "global":
            w = torch.distributions.Dirichlet(torch.full((width,), alpha)).sample((n,))
        w = w.to(x)
        if m_mode in ("beta", "no_original", "no_one_minus_m"):
            m = sample_beta(alpha, n, g).view(-1, 1, 1, 1)
        elif m_mode == "one_per_batch":
            m = sample_beta(alpha, 1, g).view(1, 1, 1, 1).expand(n, 1, 1, 1)
        elif m_mode == "alpha_ignored":
            m = sample_beta(1.0, n, g).view(-1, 1, 1, 1)
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


@pytest.mark.parametrize("wrong", [
    _augmix_variant(weights="uniform_unnormalised"),   # mixing weights that do not sum to 1
    _augmix_variant(m_mode="no_one_minus_m"),           # m * x + mix: the total weight is not 1
    _augmix_variant(m_mode="no_original"),              # forgets to mix with the original image
    _augmix_variant(m_mode="one_per_batch"),            # one Beta weight for the whole batch
    _augmix_variant(m_mode="alpha_ignored"),            # alpha hard-coded to 1
    _augmix_variant(depth_mode="max"),                  # every chain has max_depth operations
    _augmix_variant(depth_mode="off_by_one"),           # depths 1..max_depth-1
    _augmix_variant(choice="first"),                    # always the first operation
    _augmix_variant(rng="global"),                      # torch.distributions: the global RNG
    lambda x, ops, g, width=3, max_depth=3, alpha=1.0: x.clone(),   # returns the input
])
def test_augmix_rejects_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_augmix(wrong, ref_ops)


@pytest.mark.parametrize("ops, match", [
    (lambda: list(SAFE_OPERATIONS) + ["rotate"], "leaks the test shift"),          # leaks a test corruption
    (lambda: ["shear_x", "translate", "zoom"], "'shift'"),                       # translate = the test 'shift'
    (lambda: ["shear_x", "gaussian_noise", "blur", "zoom"], "leaks"),
    (lambda: ["shear_x", "zoom"], "at least 3"),
    (lambda: ["shear_x", "zoom", "snow"], "unknown operations"),
    (lambda: "shear_x", "list of operation names"),
])
def test_augmix_rejects_leaky_or_bad_ops(ops, match):
    with pytest.raises(CheckFailed, match=match):
        check_augmix(ref_augmix, ops)


def test_augmix_rejects_stubs():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_augmix(stub, ref_ops)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_augmix(ref_augmix, stub)


# --------------------------------------------------------------------------------------------
# Exercise 4: JS divergence
# --------------------------------------------------------------------------------------------

ref_js = ood._reference_js_divergence


def test_js_accepts_reference_and_a_hand_written_version():
    check_js_divergence(ref_js)

    def manual(a, b, c):
        ps = [torch.softmax(z, 1) for z in (a, b, c)]
        m = sum(ps) / 3
        kl = [(p * (torch.log(p.clamp_min(1e-12)) - torch.log(m.clamp_min(1e-12)))).sum(1).mean() for p in ps]
        return sum(kl) / 3

    check_js_divergence(manual)


def _kl_rows(p, m):
    return (p * (p.clamp_min(1e-12).log() - m.clamp_min(1e-12).log())).sum(1)


@pytest.mark.parametrize("wrong", [
    # KL in the wrong direction: KL(M || p)
    lambda a, b, c: sum(F.kl_div(torch.softmax(z, 1).clamp_min(1e-7).log(),
                                 (torch.softmax(a, 1) + torch.softmax(b, 1) + torch.softmax(c, 1)) / 3,
                                 reduction="batchmean") for z in (a, b, c)) / 3,
    # logits used as if they were probabilities
    lambda a, b, c: sum(_kl_rows(z.clamp_min(1e-6), (a + b + c).clamp_min(1e-6) / 3).mean() for z in (a, b, c)) / 3,
    # summed over the batch instead of averaged
    lambda a, b, c: sum(_kl_rows(torch.softmax(z, 1), sum(torch.softmax(t, 1) for t in (a, b, c)) / 3).sum()
                        for z in (a, b, c)) / 3,
    # forgot to divide by 3
    lambda a, b, c: sum(_kl_rows(torch.softmax(z, 1), sum(torch.softmax(t, 1) for t in (a, b, c)) / 3).mean()
                        for z in (a, b, c)),
    # only the clean view against the mixture
    lambda a, b, c: _kl_rows(torch.softmax(a, 1), sum(torch.softmax(t, 1) for t in (a, b, c)) / 3).mean(),
])
def test_js_rejects_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_js_divergence(wrong)


def test_js_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_js_divergence(stub)


# --------------------------------------------------------------------------------------------
# The augmentation library and the samplers
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return load_digits_split().x_test[:32]


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operations_shape_range_determinism(digits, name):
    op = OPERATIONS[name]
    a = op(digits, torch.Generator().manual_seed(0))
    b = op(digits, torch.Generator().manual_seed(0))
    assert a.shape == digits.shape and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    assert float((a - digits).abs().mean()) > 1e-3, f"{name} changes nothing"
    assert float((a - digits).abs().mean()) < 0.2, f"{name} is not mild"


def test_overlaps_and_safe_ops_are_disjoint():
    assert set(SAFE_OPERATIONS).isdisjoint(OVERLAPS)
    assert set(OVERLAPS.values()) <= set(CORRUPTIONS)
    assert not set(SAFE_OPERATIONS) & set(CORRUPTIONS)
    assert len(SAFE_OPERATIONS) >= 6


def test_safe_ops_are_not_test_corruptions_numerically(digits):
    """No safe operation reproduces a test corruption: each stays far from every corruption at every severity."""
    for name in SAFE_OPERATIONS:
        out = OPERATIONS[name](digits, torch.Generator().manual_seed(0))
        for c in CORRUPTIONS:
            for s in SEVERITIES:
                d = float((out - corrupt(digits, c, s, seed=0)).abs().mean())
                change = float((out - digits).abs().mean())
                assert d > 0.25 * change, (name, c, s, d, change)


def test_apply_ops(digits):
    out = apply_ops(digits, ["shear_x", "thin"], seed=1)
    assert out.shape == digits.shape
    assert apply_ops(digits[0], ["zoom"]).shape == digits[0].shape
    with pytest.raises(ValueError, match="unknown operation 'spin'"):
        apply_ops(digits, ["spin"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        apply_ops(digits * 3, ["zoom"])


def test_samplers_moments_and_errors():
    g = torch.Generator().manual_seed(0)
    for a in (0.3, 1.0, 4.0):
        s = sample_gamma(a, (20000,), g)
        assert abs(float(s.mean()) - a) < 0.05 * max(a, 1)
        assert float(s.min()) >= 0
    w = sample_dirichlet(0.5, 1000, 4, g)
    assert w.shape == (1000, 4) and torch.allclose(w.sum(1), torch.ones(1000))
    b = sample_beta(2.0, 20000, g)
    assert abs(float(b.mean()) - 0.5) < 0.01 and abs(float(b.var()) - 1 / 20) < 0.005
    with pytest.raises(ValueError, match="> 0"):
        sample_gamma(0.0, (3,), g)


def test_augmix_loss_trains_and_uses_js(digits):
    from utils.models import small_cnn

    model = small_cnn(width=4)
    y = torch.arange(len(digits)) % 10
    ops = [OPERATIONS[n] for n in SAFE_OPERATIONS]
    aug = lambda x, g: ref_augmix(x, ops, g)  # noqa: E731
    plain = augmix_loss(aug, None, seed=0)(model, digits, y)
    full = augmix_loss(aug, ref_js, lam=12.0, seed=0)(model, digits, y)
    assert plain.dim() == 0 and full.dim() == 0
    assert float(full.detach()) >= float(F.cross_entropy(model(digits), y).detach()) - 1e-6


# --------------------------------------------------------------------------------------------
# Cue helpers and figures
# --------------------------------------------------------------------------------------------

def test_cue_balancing_weights():
    s = load_digits_split()
    _, cue = add_spurious_cue(s.x_train, s.y_train, p_align=0.9, seed=0)
    w = cue_balancing_weights(s.y_train, cue)
    aligned = cue == s.y_train
    assert abs(float(w.mean()) - 1.0) < 1e-5
    # weighted fraction of aligned examples = 1 / 10: the cue carries no information about the label
    assert abs(float(w[aligned].sum() / w.sum()) - 0.1) < 1e-5
    with pytest.raises(ValueError, match="conflicting examples"):
        cue_balancing_weights(s.y_train, s.y_train)
    with pytest.raises(ValueError, match="same length"):
        cue_balancing_weights(s.y_train, cue[:5])


def test_figures(digits):
    fig = plot_suite(digits[0], seed=0)
    assert len(fig.axes) == len(CORRUPTIONS) * (len(SEVERITIES) + 1)
    with pytest.raises(ValueError, match="one image"):
        plot_suite(digits)
    curves = {"a": {n: [[0.9, 0.8, 0.7, 0.6, 0.5]] * 2 for n in CORRUPTIONS}, "b": {n: [0.9] * 5 for n in CORRUPTIONS}}
    fig = plot_accuracy_grid(curves, clean={"a": [0.95, 0.97], "b": 0.99})
    assert len(fig.axes) == 10


def test_prediction_panel_changes_with_knobs(digits):
    from utils.models import small_cnn

    torch.manual_seed(0)
    models = {"standard": small_cnn(width=4), "augmix": small_cnn(width=4)}
    y = torch.arange(len(digits)) % 10
    f1 = prediction_panel(models, digits, y, "fog", 1)
    f2 = prediction_panel(models, digits, y, "fog", 5)
    f0 = prediction_panel(models, digits, y, "rotate", 0)
    assert "severity 1" in f1.get_suptitle() and "severity 5" in f2.get_suptitle()
    assert f0.get_suptitle().startswith("clean")
    with pytest.raises(ValueError, match="severity must be one of"):
        prediction_panel(models, digits, y, "fog", 7)
    with pytest.raises(ValueError, match="Valid names"):
        prediction_panel(models, digits, y, "smog", 2)
    with pytest.raises(ValueError, match="non-empty"):
        prediction_panel({}, digits, y, "fog", 2)
