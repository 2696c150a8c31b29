"""Lesson 01 (adversarial training): the trusted attack helpers in utils.adversarial.attacks are correct and reject
bad inputs. The learner checks and their tables of typical mistakes are tested in test_mistakes.py."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.adversarial.attacks import (
    compose_pyramid,
    correct_under_attack,
    effort_curve,
    effort_rises,
    eval_mode,
    explore_epsilon,
    fgsm,
    madry_at_loss,
    pgd,
    project_linf,
    pyramid_at_loss,
    pyramid_attack,
    pyramid_budget,
    render_explorer,
    robust_accuracy,
    validate_attack_inputs,
    worst_case_accuracy,
)
from utils.data import load_digits_split
from utils.models import mlp
from utils.repro import set_seed
from utils.training import evaluate, train

matplotlib.use("Agg")
torch.set_num_threads(1)  # as set_seed does: on a loaded 2-core machine, 2 threads can be 5x slower


def _grad(model, x, y):
    x = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(F.cross_entropy(model(x), y), x)[0]


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.fixture(scope="module")
def trained(digits):
    """A standard MLP trained briefly on digits (about 95% clean accuracy)."""
    set_seed(0)
    model = mlp(64, (64,))
    train(model, digits.x_train, digits.y_train, epochs=8, lr=3e-3, progress=False)
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture()
def batch(digits):
    return digits.x_test[:64], digits.y_test[:64]


# ---------------------------------------------------------------------------------------------
# The trusted helpers: correctness
# ---------------------------------------------------------------------------------------------

def test_fgsm_matches_the_formula(trained, batch):
    x, y = batch
    got = fgsm(trained, x, y, 0.1)
    want = (x + 0.1 * _grad(trained, x, y).sign()).clamp(0, 1)
    assert torch.allclose(got, want)
    assert not got.requires_grad
    assert all(p.grad is None for p in trained.parameters()), "an attack must not leave gradients on the model"


def test_project_linf_is_the_intersection_of_ball_and_box():
    x = torch.rand(5, 1, 8, 8)
    xa = x + torch.randn(5, 1, 8, 8)
    p = project_linf(xa, x, 0.1)
    assert (p - x).abs().max() <= 0.1 + 1e-6 and p.min() >= 0 and p.max() <= 1
    inside = x + (torch.rand_like(x) - 0.5) * 0.1
    assert torch.allclose(project_linf(inside.clamp(0, 1), x, 0.1), inside.clamp(0, 1))


@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_pgd_stays_in_the_ball_and_the_box(trained, batch, eps):
    x, y = batch
    xa = pgd(trained, x, y, eps, steps=10, generator=torch.Generator().manual_seed(0))
    assert (xa - x).abs().max() <= eps + 1e-6
    assert xa.min() >= 0 and xa.max() <= 1


def test_pgd_is_stronger_than_fgsm_and_reduces_accuracy(trained, digits):
    x, y = digits.x_test, digits.y_test
    clean = evaluate(trained, x, y)
    acc_fgsm = robust_accuracy(trained, x, y, 0.1, "fgsm")
    acc_pgd = robust_accuracy(trained, x, y, 0.1, "pgd", steps=20, generator=torch.Generator().manual_seed(0))
    assert clean > 0.9
    assert acc_pgd <= acc_fgsm + 0.01 and acc_pgd < clean - 0.2


def test_more_restarts_never_raise_robust_accuracy(trained, digits):
    x, y = digits.x_test, digits.y_test
    accs = [robust_accuracy(trained, x, y, 0.1, "pgd", steps=5, restarts=r,
                            generator=torch.Generator().manual_seed(0)) for r in (1, 3)]
    assert accs[1] <= accs[0]


def test_unbounded_eps_drives_accuracy_to_zero(trained, digits):
    acc = robust_accuracy(trained, digits.x_test, digits.y_test, 1.0, "pgd", steps=20,
                          generator=torch.Generator().manual_seed(0))
    assert acc <= 0.01


def test_eps_zero_is_clean_accuracy(trained, digits):
    x, y = digits.x_test, digits.y_test
    assert robust_accuracy(trained, x, y, 0.0, "pgd") == pytest.approx(evaluate(trained, x, y))


def test_worst_case_is_at_most_each_attack(trained, digits):
    x, y = digits.x_test[:120], digits.y_test[:120]
    specs = [{"attack": "fgsm"}, {"attack": "pgd", "steps": 5, "generator": torch.Generator().manual_seed(0)}]
    wc = worst_case_accuracy(trained, x, y, 0.1, specs)
    assert wc <= robust_accuracy(trained, x, y, 0.1, "fgsm") + 1e-9
    with pytest.raises(ValueError, match="at least one attack"):
        worst_case_accuracy(trained, x, y, 0.1, [])


def test_correct_under_attack_rejects_an_attack_that_leaves_the_ball(trained, batch):
    x, y = batch
    with pytest.raises(ValueError, match="eps-ball"):
        correct_under_attack(trained, x, y, 0.1, lambda m, xb, yb, eps: (xb + 0.5).clamp(0, 1))
    with pytest.raises(ValueError, match="unknown attack"):
        robust_accuracy(trained, x, y, 0.1, "cw")


def test_compose_pyramid_upsamples_and_sums():
    d1 = torch.full((2, 1, 1, 1), 0.1)
    d2 = torch.arange(4.0).reshape(1, 1, 2, 2).repeat(2, 1, 1, 1)
    out = compose_pyramid([d1, d2], 8)
    assert out.shape == (2, 1, 8, 8)
    assert torch.allclose(out[0, 0, :4, :4], torch.full((4, 4), 0.1))
    assert torch.allclose(out[0, 0, 4:, 4:], torch.full((4, 4), 3.1))


def test_pyramid_attack_respects_the_budgets(trained, batch):
    x, y = batch
    eps = (0.02, 0.04, 0.06, 0.08)
    xa = pyramid_attack(trained, x, y, (8, 4, 2, 1), eps, steps=5, generator=torch.Generator().manual_seed(0))
    assert xa.shape == x.shape and xa.min() >= 0 and xa.max() <= 1
    assert (xa - x).abs().max() <= sum(eps) + 1e-6
    only_coarse = pyramid_attack(trained, x, y, (1,), (0.1,), steps=3, random_start=False)
    d = (only_coarse - x)[(only_coarse > 0) & (only_coarse < 1)]
    assert d.abs().max() <= 0.1 + 1e-6
    assert pyramid_budget(0.1, (8, 1), (1, 2)) == pytest.approx([0.1, 0.2])


def test_training_losses_restore_train_mode_and_have_gradients(trained, batch):
    x, y = batch
    model = mlp(64, (32,))
    model.train()
    loss = madry_at_loss(model, x, y, 0.1, steps=2)
    assert model.training and loss.dim() == 0 and loss.requires_grad
    loss = pyramid_at_loss(model, x, y, (8, 1), (0.05, 0.1), steps=2)
    assert model.training and loss.dim() == 0 and loss.requires_grad
    model.eval()
    with eval_mode(model):
        assert not model.training
    assert not model.training


# ---------------------------------------------------------------------------------------------
# Bad inputs get clear errors
# ---------------------------------------------------------------------------------------------

def test_model_in_train_mode_is_rejected(batch):
    x, y = batch
    model = mlp(64, (16,))
    model.train()
    for fn in (lambda: fgsm(model, x, y, 0.1), lambda: pgd(model, x, y, 0.1),
               lambda: robust_accuracy(model, x, y, 0.1)):
        with pytest.raises(RuntimeError, match="train mode"):
            fn()


@pytest.mark.parametrize("eps,err,match", [(-0.1, ValueError, ">= 0"), (math.inf, ValueError, "finite"),
                                           (math.nan, ValueError, "finite"), ("0.1", TypeError, "number")])
def test_bad_eps_is_rejected(trained, batch, eps, err, match):
    x, y = batch
    with pytest.raises(err, match=match):
        fgsm(trained, x, y, eps)
    with pytest.raises(err, match=match):
        pgd(trained, x, y, eps)


def test_wrong_shapes_and_ranges_are_rejected(trained, batch):
    x, y = batch
    with pytest.raises(ValueError, match="examples but y has"):
        pgd(trained, x, y[:10], 0.1)
    with pytest.raises(TypeError, match="1-D integer"):
        fgsm(trained, x, y.float(), 0.1)
    with pytest.raises(TypeError, match="1-D integer"):
        fgsm(trained, x, y[:, None], 0.1)
    with pytest.raises(ValueError, match="batch dimension"):
        validate_attack_inputs(trained, x[0, 0, 0], y[:8], 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pgd(trained, x * 16, y, 0.1)
    with pytest.raises(TypeError, match="float"):
        fgsm(trained, (x * 16).long(), y, 0.1)
    with pytest.raises(TypeError, match="nn.Module"):
        fgsm(lambda t: t, x, y, 0.1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        pgd(trained, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="restarts"):
        pgd(trained, x, y, 0.1, restarts=0)
    with pytest.raises(ValueError, match="shape"):
        project_linf(x[:3], x, 0.1)


def test_pyramid_helpers_reject_bad_inputs(trained, batch):
    x, y = batch
    with pytest.raises(ValueError, match="one budget per scale"):
        pyramid_attack(trained, x, y, (8, 4), (0.1,))
    with pytest.raises(ValueError, match="larger than the image"):
        pyramid_attack(trained, x, y, (16,), (0.1,))
    with pytest.raises(ValueError, match=">= 0"):
        pyramid_attack(trained, x, y, (8,), (-0.1,))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        pyramid_attack(trained, x.reshape(64, 64), y, (8,), (0.1,))
    with pytest.raises(ValueError, match="4-D"):
        compose_pyramid([torch.zeros(2, 8)], 8)
    with pytest.raises(ValueError, match="at least one scale"):
        compose_pyramid([], 8)
    with pytest.raises(ValueError, match="multipliers"):
        pyramid_budget(0.1, (8, 4), (1,))


# ---------------------------------------------------------------------------------------------
# The explorer widget's logic
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_models(trained, digits):
    set_seed(1)
    robust = mlp(64, (64,))
    train(robust, digits.x_train, digits.y_train, epochs=4, lr=3e-3, progress=False,
          batch_loss=lambda m, xb, yb: madry_at_loss(m, xb, yb, 0.2, steps=2))
    return {"standard": trained, "robust": robust.eval()}


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "pyramid"])
def test_explore_epsilon_returns_images_and_probabilities(two_models, digits, attack):
    x, y = digits.x_test[3], int(digits.y_test[3])
    r = explore_epsilon(two_models, x, y, 0.2, attack)
    for key in ("clean", "delta", "adversarial"):
        assert r[key].shape == (8, 8)
    assert np.allclose(r["adversarial"] - r["clean"], r["delta"], atol=1e-6)
    assert r["adversarial"].min() >= 0 and r["adversarial"].max() <= 1
    assert r["linf"] <= (0.2 if attack != "pyramid" else 0.2 * 1.85) + 1e-6
    assert set(r["probs"]) == {"standard", "robust"}
    for p in r["probs"].values():
        assert p["clean"].shape == (10,) and abs(p["clean"].sum() - 1) < 1e-5 and abs(p["adversarial"].sum() - 1) < 1e-5


def test_explore_epsilon_responds_to_the_knobs(two_models, digits):
    x, y = digits.x_test[3], int(digits.y_test[3])
    r0 = explore_epsilon(two_models, x, y, 0.0, "pgd")
    assert r0["linf"] == 0 and np.allclose(r0["clean"], r0["adversarial"])
    r1 = explore_epsilon(two_models, x, y, 0.3, "pgd")
    assert r1["linf"] > 0.1
    p_std0 = r0["probs"]["standard"]["adversarial"][y]
    p_std1 = r1["probs"]["standard"]["adversarial"][y]
    assert p_std1 < p_std0, "a bigger eps should lower the attacked model's confidence in the label"
    r2 = explore_epsilon(two_models, x, y, 0.3, "fgsm")
    assert not np.allclose(r1["adversarial"], r2["adversarial"])
    r3 = explore_epsilon(two_models, x, y, 0.3, "pgd", against="robust")
    assert r3["against"] == "robust"
    fig = render_explorer(r1)
    assert len(fig.axes) == 5
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_explorer_pyramid_budgets():
    from utils.adversarial.attacks import explorer_pyramid

    scales, budgets = explorer_pyramid(8, 0.2)
    assert scales == [8, 4, 2, 1] and budgets == pytest.approx([0.02, 0.05, 0.1, 0.2])
    scales, budgets = explorer_pyramid(28, 0.1)
    assert scales[0] == 28 and scales[-1] == 1 and budgets[-1] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        explorer_pyramid(8, -1.0)


def test_explore_epsilon_rejects_bad_inputs(two_models, digits):
    x, y = digits.x_test[3], int(digits.y_test[3])
    with pytest.raises(ValueError, match="unknown attack"):
        explore_epsilon(two_models, x, y, 0.1, "cw")
    with pytest.raises(ValueError, match=">= 0"):
        explore_epsilon(two_models, x, y, -0.1)
    with pytest.raises(ValueError, match="one image"):
        explore_epsilon(two_models, digits.x_test[:2], y, 0.1)
    with pytest.raises(KeyError, match="not one of the models"):
        explore_epsilon(two_models, x, y, 0.1, against="other")
    with pytest.raises(ValueError, match="at least one model"):
        explore_epsilon({}, x, y, 0.1)
    m = mlp(64, (8,))
    m.train()
    with pytest.raises(RuntimeError, match="train mode"):
        explore_epsilon({"m": m}, x, y, 0.1)


# ---------------------------------------------------------------------------------------------
# The effort sanity check, callable attacks in the worst case, the fast pyramid upsampling
# ---------------------------------------------------------------------------------------------

def test_effort_curve_can_fail_a_broken_attack(trained, digits):
    """On final iterates with fresh starts the check is not monotone by construction: an attack that steps DOWN the
    loss more with every step leaves the model more accurate with more effort, and the check says so."""
    x, y = digits.x_test[:120], digits.y_test[:120]
    budgets = [(1, 1), (5, 1), (20, 1)]
    good = effort_curve(trained, x, y, 0.1, budgets, alpha=0.02)
    assert effort_rises(good, 1 / len(y)) == [] and good[-1] < good[0]

    def descent(model, xb, yb, eps, steps, generator):  # starts at a corner of the ball that hurts, then descends
        xa = (xb + eps * _grad(model, xb, yb).sign()).clamp(0, 1)
        for _ in range(steps):
            xa = project_linf(xa - 0.02 * _grad(model, xa, yb).sign(), xb, eps)
        return xa

    bad = effort_curve(trained, x, y, 0.1, budgets, attack=descent)
    assert effort_rises(bad, 1 / len(y)) != [], bad


def test_effort_curve_runs_and_restarts(trained, digits):
    x, y = digits.x_test[:60], digits.y_test[:60]
    accs, runs = effort_curve(trained, x, y, 0.1, [(3, 1), (3, 3)], alpha=0.03, return_runs=True)
    assert len(runs[0]) == 1 and len(runs[1]) == 3
    assert accs[1] <= min(runs[1]) + 1e-9, "an example counts as broken if any restart fools the model"
    assert effort_rises([0.5, 0.4, 0.45, 0.3], 0.01) == [2]
    with pytest.raises(ValueError, match="left the eps-ball"):
        effort_curve(trained, x, y, 0.1, [(1, 1)], attack=lambda m, xb, yb, e, s, g: (xb + 0.5).clamp(0, 1))


def test_worst_case_accepts_attack_functions(trained, digits):
    x, y = digits.x_test[:80], digits.y_test[:80]
    x_f = fgsm(trained, x, y, 0.1)
    by_spec = worst_case_accuracy(trained, x, y, 0.1, [{"attack": "fgsm"}])
    by_function = worst_case_accuracy(trained, x, y, 0.1, [lambda m, xb, yb: fgsm(m, xb, yb, 0.1)])
    stored = worst_case_accuracy(trained, x, y, 0.1, [lambda m, xb, yb: x_f])
    assert by_spec == by_function == stored
    with pytest.raises(ValueError, match="eps-ball"):
        worst_case_accuracy(trained, x, y, 0.05, [lambda m, xb, yb: x_f])


@pytest.mark.parametrize("size,scales", [(8, (8, 4, 2, 1)), (28, (28, 14, 7, 1)), ((6, 8), ((3, 4), (1, 1)))])
def test_compose_pyramid_equals_nearest_interpolation(size, scales):
    h, w = (size, size) if isinstance(size, int) else size
    g = torch.Generator().manual_seed(0)
    deltas = [torch.randn(3, 2, *((s, s) if isinstance(s, int) else s), generator=g) for s in scales]
    want = sum(F.interpolate(d, size=(h, w), mode="nearest") for d in deltas)
    assert torch.allclose(compose_pyramid(deltas, size), want, atol=1e-6)


def test_buggy_pgd_fails_the_effort_check_against_fgsm(trained, digits):
    from utils.adversarial.attacks import buggy_pgd

    x, y = digits.x_test[:120], digits.y_test[:120]
    fgsm_acc = robust_accuracy(trained, x, y, 0.1, "fgsm")
    for bug in ("sign flipped", "sign forgotten"):
        acc = effort_curve(trained, x, y, 0.1, [(10, 1)], attack=buggy_pgd(bug, 0.02))[0]
        assert acc > fgsm_acc + 0.1, (bug, acc, fgsm_acc)
    with pytest.raises(ValueError, match="unknown bug"):
        buggy_pgd("typo", 0.02)


def test_random_pyramid_sits_on_the_budgets():
    from utils.adversarial.attacks import random_pyramid

    x = torch.full((64, 1, 8, 8), 0.5)
    eps = (0.02, 0.05, 0.1)
    g = torch.Generator().manual_seed(0)
    signs = random_pyramid(x, (8, 2, 1), eps, "sign", generator=g) - x
    whole = signs.mean((1, 2, 3))  # each image: +-0.1 for the 1x1 scale, the finer scales average near 0
    assert signs.abs().max() <= sum(eps) + 1e-6
    # every pixel is a sum of +-eps[k]: one of the 8 sign combinations
    combos = torch.tensor([a * 0.02 + b * 0.05 + c * 0.1 for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
    assert bool(((signs.reshape(-1, 1) - combos).abs().min(1).values < 1e-6).all())
    assert 0.2 < float((whole > 0).float().mean()) < 0.8
    uniform = random_pyramid(x, (8, 2, 1), eps, "uniform", generator=torch.Generator().manual_seed(0)) - x
    assert uniform.abs().mean() < 0.7 * signs.abs().mean()
    assert torch.equal(random_pyramid(x, (8,), (0.1,), generator=torch.Generator().manual_seed(3)),
                       random_pyramid(x, (8,), (0.1,), generator=torch.Generator().manual_seed(3)))
    digits = torch.rand(4, 1, 8, 8)
    out = random_pyramid(digits, (8, 4, 2, 1), (0.02, 0.05, 0.1, 0.2))
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="sign"):
        random_pyramid(x, (8,), (0.1,), kind="gauss")
    with pytest.raises(ValueError, match="larger than the image"):
        random_pyramid(x, (16,), (0.1,))


def test_more_bad_inputs_get_clear_errors(trained, batch):
    from utils.adversarial.attacks import effort_curve, explore_epsilon, explorer_pyramid

    x, y = batch
    with pytest.raises(TypeError, match="float64.*x.to"):
        pgd(trained, x.double(), y, 0.1)
    with pytest.raises(ValueError, match="8/255"):
        fgsm(trained, x, y, 8)
    with pytest.raises(ValueError, match="does not divide"):
        pyramid_attack(trained, x, y, (3,), (0.1,))
    with pytest.raises(TypeError, match="pair"):
        effort_curve(trained, x, y, 0.1, [5])
    with pytest.raises(ValueError, match="not a class"):
        explore_epsilon({"m": trained}, x[0], 12, 0.1)
    assert explorer_pyramid(28, 0.2)[0] == [28, 14, 7, 1]
    scales, budgets = explorer_pyramid(8, 0.2)
    assert scales == [8, 4, 2, 1] and np.allclose(budgets, [0.02, 0.05, 0.1, 0.2])
