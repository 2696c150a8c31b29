"""The lesson's PGD against an independent implementation: captum.robust.PGD on the same models.

Lesson 01 reports robust accuracies computed with its own attacks. A bug that weakens an attack
(a wrong sign, a missing step, gradients through the wrong loss) would inflate every robust number
without any error, so here the lesson's PGD (the trusted ``utils.adversarial.attacks.pgd`` used for the
evaluations, and its last iterate, ``keep_best=False``, which is what the PGD exercise returns and what its check
compares against) is compared with captum's PGD on a
standard and an adversarially trained model: robust accuracies must agree within 2 points, and the
lesson's attack must never be weaker than captum's by more than that.

captum's default loss assumes the model outputs probabilities; our models output logits, so we pass
``loss_func=nn.CrossEntropyLoss(reduction="none")`` (without it captum under-attacks).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

captum_robust = pytest.importorskip("captum.robust", reason="captum is a test-only dependency")

from utils.adversarial.attacks import madry_at_loss, pgd  # noqa: E402
from utils.data import load_digits_split  # noqa: E402
from utils.models import mlp  # noqa: E402
from utils.repro import set_seed  # noqa: E402
from utils.training import train  # noqa: E402

torch.set_num_threads(1)
STEPS = 20


@pytest.fixture(scope="module")
def data():
    return load_digits_split()


@pytest.fixture(scope="module")
def models(data):
    set_seed(0)
    standard = mlp(64, (128, 128))
    train(standard, data.x_train, data.y_train, epochs=15, lr=2e-3, progress=False)
    set_seed(0)
    robust = mlp(64, (128, 128))
    train(robust, data.x_train, data.y_train, epochs=15, lr=2e-3, progress=False,
          batch_loss=lambda m, xb, yb: madry_at_loss(m, xb, yb, 0.2, steps=3))
    return {"standard": standard.eval(), "robust": robust.eval()}


def _acc(model, x_adv, y) -> float:
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


def _captum_pgd(model, x, y, eps):
    attack = captum_robust.PGD(model, loss_func=nn.CrossEntropyLoss(reduction="none"), lower_bound=0.0, upper_bound=1.0)
    return attack.perturb(x, radius=eps, step_size=2.5 * eps / STEPS, step_num=STEPS, target=y, random_start=True)


@pytest.mark.parametrize("name", ["standard", "robust"])
@pytest.mark.parametrize("eps", [0.1, 0.2])
def test_lesson_pgd_agrees_with_captum(models, data, name, eps):
    model, x, y = models[name], data.x_test, data.y_test
    torch.manual_seed(0)
    acc_captum = _acc(model, _captum_pgd(model, x, y, eps), y)
    acc_trusted = _acc(model, pgd(model, x, y, eps, steps=STEPS, generator=torch.Generator().manual_seed(0)), y)
    torch.manual_seed(0)
    acc_exercise = _acc(model, pgd(model, x, y, eps, alpha=2.5 * eps / STEPS, steps=STEPS, keep_best=False), y)
    msg = f"{name}, eps={eps}: captum {acc_captum:.3f}, utils.adversarial.attacks.pgd {acc_trusted:.3f}, " \
          f"its last iterate (what the exercise returns) {acc_exercise:.3f}"
    assert abs(acc_exercise - acc_captum) <= 0.02, msg
    assert abs(acc_trusted - acc_captum) <= 0.02, msg
    assert acc_trusted <= acc_captum + 0.005, "the trusted PGD must be at least as strong as captum's: " + msg


def test_the_models_make_the_comparison_meaningful(models, data):
    """Robust accuracy of the adversarially trained model is far from 0 and 1, so agreement is informative."""
    x, y = data.x_test, data.y_test
    acc = _acc(models["robust"], pgd(models["robust"], x, y, 0.2, steps=STEPS,
                                     generator=torch.Generator().manual_seed(0)), y)
    assert 0.2 < acc < 0.9, acc


def test_captum_default_loss_under_attacks_logit_models(models, data):
    """Why the loss_func matters: captum's default loss (NLL on the raw outputs) treats logits as
    probabilities, and its attack is then weaker than the cross-entropy attack."""
    model, x, y = models["robust"], data.x_test, data.y_test
    torch.manual_seed(0)
    default = captum_robust.PGD(model, lower_bound=0.0, upper_bound=1.0).perturb(
        x, radius=0.2, step_size=0.025, step_num=STEPS, target=y, random_start=True)
    torch.manual_seed(0)
    assert _acc(model, default, y) >= _acc(model, _captum_pgd(model, x, y, 0.2), y)
