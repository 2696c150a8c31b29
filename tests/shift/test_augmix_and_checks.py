"""Lesson 03 (OOD robustness): the augmentation library, the samplers, the trusted AugMix and consistency loss, the
suite evaluation, the cue helpers and the figure functions work and validate inputs. (The checks' tables of typical
mistakes are in test_mistakes.py.)"""

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
    augmix,
    augmix_loss,
    js_divergence,
    sample_beta,
    sample_dirichlet,
    sample_gamma,
)
from utils.shift.corruptions import (  # noqa: E402
    CORRUPTIONS,
    SEVERITIES,
    add_spurious_cue,
    corrupt,
    cue_balancing_weights,
    plot_accuracy_grid,
    plot_suite,
    image_mosaic,
    prediction_panel,
)
from utils.data import load_digits_split  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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
    aug = lambda x, g: augmix(x, ops, g)  # noqa: E731
    plain = augmix_loss(aug, None, seed=0)(model, digits, y)
    full = augmix_loss(aug, js_divergence, lam=12.0, seed=0)(model, digits, y)
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
    (ax,) = fig.axes                                  # one mosaic: a row per corruption, clean + 5 severities
    assert ax.get_images()[0].get_array().shape == (len(CORRUPTIONS) * 9 - 1, (len(SEVERITIES) + 1) * 9 - 1)
    assert len(ax.get_yticklabels()) == len(CORRUPTIONS)
    fig = image_mosaic(list(digits[:7]), ncols=3, titles=[str(i) for i in range(7)], suptitle="seven digits")
    (ax,) = fig.axes
    assert ax.get_images()[0].get_array().shape == (3 * (8 + 1 + 3) - 1, 3 * 9 - 1)      # rows with room for titles
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(7)]
    with pytest.raises(ValueError, match="one size"):
        image_mosaic([digits[0], torch.zeros(1, 4, 4)], ncols=2)
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


# --------------------------------------------------------------------------------------------
# The trusted consistency loss, AugMix and suite evaluation
# --------------------------------------------------------------------------------------------

def _textbook_js(a, b, c):
    p = [F.softmax(z, dim=1) for z in (a, b, c)]
    log_m = ((p[0] + p[1] + p[2]) / 3).log()
    return sum(F.kl_div(log_m, pi, reduction="batchmean") for pi in p) / 3


def test_js_matches_the_textbook_form_in_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    args = [(torch.randn(7, 10, generator=g) * 3).requires_grad_(True) for _ in range(3)]
    ours = js_divergence(*args)
    ref = _textbook_js(*args)
    assert abs(float(ours.detach()) - float(ref.detach())) < 1e-6
    for go, gr in zip(torch.autograd.grad(ours, args), torch.autograd.grad(ref, args)):
        assert torch.allclose(go, gr, atol=1e-6)


def test_js_value_and_gradient_stay_finite_when_softmax_underflows():
    big = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 5.0]])
    args = [t.clone().requires_grad_(True) for t in (big, big.flip(1), big * 0)]
    loss = js_divergence(*args)
    assert torch.isfinite(loss)
    grads = torch.autograd.grad(loss, args)
    assert all(torch.isfinite(gr).all() for gr in grads)
    # the textbook form (this lesson's old reference) has a finite value here but a NaN gradient
    args2 = [t.clone().requires_grad_(True) for t in (big, big.flip(1), big * 0)]
    old = sum(F.kl_div(((sum(F.softmax(z, 1) for z in args2)) / 3).clamp(1e-7, 1).log(), F.softmax(z, 1),
                       reduction="batchmean") for z in args2) / 3
    assert torch.isfinite(old)
    assert not all(torch.isfinite(gr).all() for gr in torch.autograd.grad(old, args2))


def test_js_is_zero_for_agreement_and_log3_for_disjoint_certainties():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(5, 4, generator=g)
    assert abs(float(js_divergence(a, a, a))) < 1e-6
    far = torch.eye(3) * 200                                 # three confident, mutually exclusive predictions
    v = float(js_divergence(far[:1], far[1:2], far[2:3]))
    assert abs(v - torch.log(torch.tensor(3.0)).item()) < 1e-5


def test_trusted_augmix_is_deterministic_and_in_range(digits):
    ops = [OPERATIONS[n] for n in SAFE_OPERATIONS]
    a = augmix(digits, ops, torch.Generator().manual_seed(0))
    b = augmix(digits, ops, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == digits.shape
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_suite_evaluation_and_corruption_errors(digits):
    from utils.models import small_cnn
    from utils.shift.suite import corruption_errors, evaluate_suite

    torch.manual_seed(0)
    model = small_cnn(width=4).train()
    y = torch.arange(len(digits)) % 10
    acc = evaluate_suite(model, digits, y, seed=0)
    assert model.training, "evaluate_suite must leave the model's mode as it found it"
    assert set(acc) == set(CORRUPTIONS) and all(len(v) == 5 and all(0 <= a <= 1 for a in v) for v in acc.values())
    ce = corruption_errors(acc, 0.5, acc, 0.5)
    assert abs(ce["mCE"] - 1.0) < 1e-9 and abs(ce["rel_mCE"] - 1.0) < 1e-9


def test_trusted_functions_reject_bad_input_clearly(digits):
    from utils.shift.suite import corruption_errors, evaluate_suite
    from utils.models import small_cnn

    ops = [OPERATIONS[n] for n in SAFE_OPERATIONS]
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        augmix(digits * 5, ops, g)
    with pytest.raises(ValueError, match="non-empty list of operations"):
        augmix(digits, [], g)
    with pytest.raises(TypeError, match="torch.Generator"):
        augmix(digits, ops, 0)
    with pytest.raises(ValueError, match="width >= 1"):
        augmix(digits, ops, g, width=0)
    a = torch.randn(4, 10)
    with pytest.raises(ValueError, match="same shape"):
        js_divergence(a, a[:3], a)
    with pytest.raises(TypeError, match="float tensors of logits"):
        js_divergence(a.long(), a, a)
    with pytest.raises(TypeError, match="y must be a 1-D integer tensor"):
        evaluate_suite(small_cnn(width=4), digits, torch.zeros(len(digits)))
    with pytest.raises(ValueError, match="the same corruptions"):
        corruption_errors({"fog": [0.9] * 5}, 0.99, {"blur": [0.9] * 5}, 0.98)
    with pytest.raises(ValueError, match="makes no errors"):
        corruption_errors({"fog": [0.9] * 5}, 0.99, {"fog": [1.0] * 5}, 1.0)
    with pytest.raises(ValueError, match="relative CE is undefined"):
        corruption_errors({"fog": [0.9] * 5}, 0.99, {"fog": [0.95] * 5}, 0.95)
