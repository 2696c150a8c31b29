"""Lesson 01: each check rejects the typical mistakes of its exercise with a CheckFailed whose message names the
mistake first; the correct solution passes; the stub is "not implemented yet"; an endless loop fails quickly.

Each row of MISTAKES is (exercise, mistake, wrong implementation written against the exercise's real signature, a
pattern that the first line of the check's diagnosis must match). The patterns describe the class of mistake.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.mistakes import (assert_endless_loop_fails_quickly, assert_five_per_exercise,
                                    assert_rejected_and_named, assert_stub_not_implemented, row_ids)
from utils.adversarial import attacks as adv
from utils.adversarial import checks as C
from utils.adversarial.attacks import compose_pyramid
from utils.checks import CheckFailed

torch.set_num_threads(1)

CHECKS = {
    "project_linf": C.check_project_linf,
    "fgsm": C.check_fgsm,
    "pgd": C.check_pgd,
    "madry_loss": C.check_madry_loss,
    "worst_case_accuracy": C.check_worst_case_accuracy,
    "pyramid_attack": C.check_pyramid_attack,
}


def _grad(model, x, y, loss=None):
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    value = F.cross_entropy(out, y) if loss is None else loss(out, y)
    return torch.autograd.grad(value, x)[0]


# ---------------------------------------------------------------------------------------------
# Correct solutions (the exercises' signatures, built on the trusted module)
# ---------------------------------------------------------------------------------------------

def project_ok(x_adv, x, eps):
    return adv.project_linf(x_adv, x, eps)


def fgsm_ok(model, x, y, eps):
    return adv.fgsm(model, x, y, eps)


def pgd_ok(model, x, y, eps, alpha, steps, random_start=True):
    return adv.pgd(model, x, y, eps, alpha=alpha, steps=steps, random_start=random_start, keep_best=False)


def madry_ok(model, x, y, eps, alpha, steps):
    return adv.madry_at_loss(model, x, y, eps, alpha=alpha, steps=steps)


def worst_ok(model, x, y, attacks):
    return adv.worst_case_accuracy(model, x, y, 1.0, attacks)


def pyramid_ok(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True):
    return adv.pyramid_attack(model, x, y, scales, eps, steps=steps, alpha_frac=alpha_frac, random_start=random_start)


CORRECT = {"project_linf": project_ok, "fgsm": fgsm_ok, "pgd": pgd_ok, "madry_loss": madry_ok,
           "worst_case_accuracy": worst_ok, "pyramid_attack": pyramid_ok}


# ---------------------------------------------------------------------------------------------
# Typical mistakes
# ---------------------------------------------------------------------------------------------

def _l2_projection(x_adv, x, eps):
    d = (x_adv - x).flatten(1)
    norm = d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (x + (d * torch.clamp(eps / norm, max=1.0)).reshape(x.shape)).clamp(0, 1)


def _pgd(project=True, clamp=True, sign=1.0, start="uniform", honour_flag=True, around_iterate=False,
         grad_at_x=False, steps_offset=0, detach=True):
    """A PGD with one typical bug switched on."""

    def pgd_fn(model, x, y, eps, alpha, steps, random_start=True):
        x = x.detach()
        use_noise = random_start if honour_flag else True
        if start == "never":
            use_noise = False
        if use_noise:
            if start == "twice":
                noise = torch.empty_like(x).uniform_(-2 * eps, 2 * eps)
            elif start == "gaussian":
                noise = torch.randn_like(x) * eps
            elif start == "one-sided":
                noise = torch.rand_like(x) * eps
            else:
                noise = torch.empty_like(x).uniform_(-eps, eps)
            x_adv = x + noise
        else:
            x_adv = x.clone()
        if clamp:
            x_adv = x_adv.clamp(0, 1)
        g0 = _grad(model, x, y)
        for _ in range(steps + steps_offset):
            prev = x_adv
            g = g0 if grad_at_x else _grad(model, x_adv, y)
            x_adv = x_adv + sign * alpha * g.sign()
            if project:
                centre = prev if around_iterate else x
                x_adv = torch.min(torch.max(x_adv, centre - eps), centre + eps)
            if clamp:
                x_adv = x_adv.clamp(0, 1)
            x_adv = x_adv.detach()
        return x_adv if detach else x_adv.requires_grad_(True) * 1.0

    return pgd_fn


def _madry(variant):
    def loss_fn(model, x, y, eps, alpha, steps):
        if variant != "train-mode attack":
            model.eval()
        x_adv = _pgd()(model, x, y, eps, alpha, steps)
        if variant != "stays in eval":
            model.train()
        if variant == "clean only":
            return F.cross_entropy(model(x), y)
        if variant == "no grad":
            with torch.no_grad():
                return F.cross_entropy(model(x_adv), y)
        if variant == "per example":
            return F.cross_entropy(model(x_adv), y, reduction="none")
        if variant == "item":
            return F.cross_entropy(model(x_adv), y).item()
        if variant == "adds clean loss":
            return F.cross_entropy(model(x), y) + F.cross_entropy(model(x_adv), y)
        if variant == "sum":
            return F.cross_entropy(model(x_adv), y, reduction="sum")
        if variant == "loss in eval mode":
            model.eval()
            loss = F.cross_entropy(model(x_adv), y)
            model.train()
            return loss
        return F.cross_entropy(model(x_adv), y)

    return loss_fn


def _correct_under(model, xs, y):
    with torch.no_grad():
        return model(xs).argmax(1) == y


def _worst(variant):
    def fn(model, x, y, attacks):
        clean = _correct_under(model, x, y)
        under = [_correct_under(model, a(model, x, y), y) for a in attacks]
        if variant == "mean":
            return float(np.mean([(clean & u).float().mean().item() for u in under]))
        if variant == "min":
            return float(min((clean & u).float().mean().item() for u in under))
        if variant == "forgets clean":
            return torch.stack(under).all(0).float().mean().item()
        if variant == "any":
            return (clean & torch.stack(under).any(0)).float().mean().item()
        if variant == "chained":
            xs = x
            for a in attacks:
                xs = a(model, xs, y)
            return (clean & _correct_under(model, xs, y)).float().mean().item()
        if variant == "count":
            return float((clean & torch.stack(under).all(0)).sum().item())
        if variant == "error rate":
            return 1.0 - (clean & torch.stack(under).all(0)).float().mean().item()
        if variant == "tensor":
            return (clean & torch.stack(under).all(0)).float().mean()
        raise AssertionError(variant)

    return fn


def _pyramid(shared_budget=False, clamp=True, project_sum=False, absolute_step=False, sign=1.0, mode="nearest",
             batch_delta=False, honour_flag=True):
    def attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True):
        n, c, h, w = x.shape
        budget = [max(eps)] * len(eps) if shared_budget else list(eps)
        rows = 1 if batch_delta else n
        noisy = random_start or not honour_flag
        deltas = [torch.empty(rows, c, s, s).uniform_(-e, e) if noisy else torch.zeros(rows, c, s, s)
                  for s, e in zip(scales, budget)]

        def up(ds):
            if mode == "nearest":
                return compose_pyramid([d.expand(n, -1, -1, -1) for d in ds], (h, w))
            return sum(F.interpolate(d.expand(n, -1, -1, -1), size=(h, w), mode="bilinear", align_corners=False)
                       for d in ds)

        for _ in range(steps):
            ds = [d.clone().requires_grad_(True) for d in deltas]
            xa = x + up(ds)
            xa = xa.clamp(0, 1) if clamp else xa
            grads = torch.autograd.grad(F.cross_entropy(model(xa), y), ds)
            step = [alpha_frac if absolute_step else alpha_frac * e for e in budget]
            deltas = [d + sign * a * g.sign() for d, g, a in zip(ds, grads, step)]
            if not project_sum:
                deltas = [d.clamp(-e, e) for d, e in zip(deltas, budget)]
            deltas = [d.detach() for d in deltas]
        total = up(deltas)
        if project_sum:
            total = total.clamp(-sum(eps), sum(eps))
        xa = x + total
        return (xa.clamp(0, 1) if clamp else xa).detach()

    return attack


def _pred(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def _pgd2(start="uniform", labels="y", update="sign", project="every step", stop=None, warm=False, reseed=False):
    """A second family of PGD mistakes (from the cold review): the noise, the labels, the update and the stopping."""

    def pgd_fn(model, x, y, eps, alpha, steps, random_start=True):
        if reseed:
            torch.manual_seed(0)
        x = x.detach()
        target = _pred(model, x) if labels == "prediction" else y
        x_adv = x.clone()
        if random_start:
            if start == "per image":
                noise = torch.empty((len(x),) + (1,) * (x.dim() - 1)).uniform_(-eps, eps)
            elif start == "shared by the batch":
                noise = torch.empty_like(x[:1]).uniform_(-eps, eps)
            else:
                noise = torch.empty_like(x).uniform_(-eps, eps)
            x_adv = x + noise
            if start != "not clamped":
                x_adv = x_adv.clamp(0, 1)
        if warm:
            x_adv = (x + eps * _grad(model, x, target).sign()).clamp(0, 1)
            steps -= 1
        total = torch.zeros_like(x)
        for _ in range(steps):
            if stop == "all fooled" and bool((_pred(model, x_adv) != y).all()):
                break
            g = _grad(model, x_adv, target)
            if update == "accumulated":
                total = total + g
                g = total
            if update == "L2":
                step = alpha * g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (g.dim() - 1))
            else:
                step = alpha * g.sign()
            nxt = x_adv + step
            nxt = nxt.clamp(0, 1) if project == "at the end" else adv.project_linf(nxt, x, eps)
            if stop == "per example":
                alive = (_pred(model, x_adv) == y).view(-1, *[1] * (x.dim() - 1))
                nxt = torch.where(alive, nxt, x_adv)
            x_adv = nxt.detach()
        return adv.project_linf(x_adv, x, eps).detach()

    return pgd_fn


def _stub_projection(x_adv, x, eps):
    raise NotImplementedError("Exercise: replace this line with your code")


def _pgd_calling_a_stub(model, x, y, eps, alpha, steps, random_start=True):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = _stub_projection(x_adv + alpha * _grad(model, x_adv, y).sign(), x, eps)
    return x_adv


def _madry2(variant):
    def loss_fn(model, x, y, eps, alpha, steps):
        model.eval()
        if variant == "no random start":
            x_adv = adv.pgd(model, x, y, eps, alpha=alpha, steps=steps, random_start=False, keep_best=False)
        elif variant == "one step":
            x_adv = adv.pgd(model, x, y, eps, alpha=alpha, steps=1, keep_best=False)
        elif variant == "half eps":
            x_adv = adv.pgd(model, x, y, eps / 2, alpha=alpha, steps=steps, keep_best=False)
        elif variant == "predictions":
            x_adv = adv.pgd(model, x, _pred(model, x), eps, alpha=alpha, steps=steps, keep_best=False)
        elif variant == "fgsm":
            x_adv = adv.fgsm(model, x, y, eps)
        elif variant == "no_grad attack":
            with torch.no_grad():
                x_adv = _pgd()(model, x, y, eps, alpha, steps)
        else:
            x_adv = adv.pgd(model, x, y, eps, alpha=alpha, steps=steps, keep_best=False)
        model.train()
        loss = F.cross_entropy(model(x_adv), y)
        if variant == "backward inside":
            loss.backward()
        return loss

    return loss_fn


def _worst2(variant):
    def fn(model, x, y, attacks):
        pred = _pred(model, x)
        ok = pred == y
        for a in attacks:
            if variant == "no_grad around the attacks":
                with torch.no_grad():
                    xa = a(model, x, y)
            else:
                xa = a(model, x, pred if variant == "attacks the predictions" else y)
            now = _correct_under(model, xa, y)
            ok = (pred == y) & now if variant == "keeps only the last attack" else ok & now
        value = ok.float().mean().item()
        return np.float64(value) if variant == "numpy float" else value

    return fn


def _pyramid2(start="uniform", blocks="grid", clamp_inside=True):
    def attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True):
        n, c, h, w = x.shape
        shapes = [h // s for s in scales] if blocks == "block size" else list(scales)
        rows = 1 if start == "shared by the batch" else n
        deltas = []
        for s, e in zip(shapes, eps):
            if not random_start:
                d = torch.zeros(rows, c, s, s)
            elif start == "one-sided":
                d = torch.rand(rows, c, s, s) * e
            elif start == "signs":
                d = e * (2 * (torch.rand(rows, c, s, s) > 0.5).float() - 1)
            elif start == "twice the budget":
                d = torch.empty(rows, c, s, s).uniform_(-2 * e, 2 * e)
            else:
                d = torch.empty(rows, c, s, s).uniform_(-e, e)
            deltas.append(d.expand(n, -1, -1, -1).clone())
        for _ in range(steps):
            ds = [d.clone().requires_grad_(True) for d in deltas]
            xa = x + compose_pyramid(ds, (h, w))
            xa = xa.clamp(0, 1) if clamp_inside else xa
            grads = torch.autograd.grad(F.cross_entropy(model(xa), y), ds)
            deltas = [(d + alpha_frac * e * g.sign()).clamp(-e, e).detach() for d, g, e in zip(ds, grads, eps)]
        return (x + compose_pyramid(deltas, (h, w))).clamp(0, 1).detach()

    return attack


def _project_in_place(x_adv, x, eps):
    return x_adv.sub_(x).clamp_(-eps, eps).add_(x).clamp_(0, 1)


def _fgsm_on_predictions(model, x, y, eps):
    return (x + eps * _grad(model, x, _pred(model, x)).sign()).clamp(0, 1).detach()


def _fgsm_clamps_the_step(model, x, y, eps):
    return (x + (eps * _grad(model, x, y).sign()).clamp(0, 1)).clamp(0, 1).detach()


def _fgsm_on_callers_x(model, x, y, eps):
    x.requires_grad_(True)
    g, = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return (x + eps * g.sign()).clamp(0, 1).detach()


MISTAKES = [
    # project_linf(x_adv, x, eps)
    ("project_linf", "no clamp to [0, 1]", lambda xa, x, eps: torch.min(torch.max(xa, x - eps), x + eps),
     r"pixel range"),
    ("project_linf", "one-sided ball [0, eps]", lambda xa, x, eps: (x + (xa - x).clamp(0, eps)).clamp(0, 1),
     r"never goes below x|two-sided"),
    ("project_linf", "clips x_adv itself, not the difference", lambda xa, x, eps: xa.clamp(-eps, eps).clamp(0, 1),
     r"further than eps.*DIFFERENCE"),
    ("project_linf", "returns the clipped perturbation", lambda xa, x, eps: (xa - x).clamp(-eps, eps),
     r"perturbation.*not the adversarial"),
    ("project_linf", "pushes every pixel to the boundary",
     lambda xa, x, eps: (x + eps * torch.sign(xa - x)).clamp(0, 1), r"inside the ball.*moved"),
    ("project_linf", "L2 projection", _l2_projection, r"boundary.*L2"),
    ("project_linf", "radius eps/2", lambda xa, x, eps: (x + (xa - x).clamp(-eps / 2, eps / 2)).clamp(0, 1),
     r"boundary"),
    ("project_linf", "forgets to return", lambda xa, x, eps: None, r"returned None"),
    # fgsm(model, x, y, eps)
    ("fgsm", "no clamp to [0, 1] (told about the range, not the sign)",
     lambda m, x, y, eps: (x + eps * _grad(m, x, y).sign()).detach(), r"pixel range"),
    ("fgsm", "descends the loss", lambda m, x, y, eps: (x - eps * _grad(m, x, y).sign()).clamp(0, 1),
     r"LOWERS the loss"),
    ("fgsm", "raw gradient instead of its sign", lambda m, x, y, eps: (x + eps * _grad(m, x, y)).clamp(0, 1),
     r"SIGN"),
    ("fgsm", "forgets eps", lambda m, x, y, eps: (x + _grad(m, x, y).sign()).clamp(0, 1), r"eps-ball"),
    ("fgsm", "attacks the label logit, not the cross-entropy",
     lambda m, x, y, eps: (x + eps * _grad(m, x, y, lambda o, t: -o.gather(1, t[:, None]).sum()).sign()).clamp(0, 1),
     r"cross-entropy"),
    ("fgsm", "not detached",
     lambda m, x, y, eps: (x.clone().requires_grad_(True) + eps * _grad(m, x, y).sign()).clamp(0, 1),
     r"requires a gradient.*detach"),
    ("fgsm", "returns the perturbation", lambda m, x, y, eps: (x + eps * _grad(m, x, y).sign()).clamp(0, 1) - x,
     r"perturbation"),
    ("fgsm", "random start before the step",
     lambda m, x, y, eps: (x + 0.5 * eps * torch.empty_like(x).uniform_(-1, 1) + eps * _grad(m, x, y).sign()).clamp(
         0, 1), r"eps-ball"),
    # pgd(model, x, y, eps, alpha, steps, random_start=True)
    ("pgd", "no projection", _pgd(project=False), r"eps-ball"),
    ("pgd", "projects around the previous iterate", _pgd(around_iterate=True), r"eps-ball.*ORIGINAL"),
    ("pgd", "no clamp to [0, 1]", _pgd(clamp=False), r"pixel range"),
    ("pgd", "descends the loss", _pgd(sign=-1.0), r"LOWERS the loss"),
    ("pgd", "always random (ignores random_start=False)", _pgd(honour_flag=False), r"random_start=False"),
    ("pgd", "never random (ignores random_start=True)", _pgd(start="never"), r"almost x"),
    ("pgd", "random start drawn from twice the ball", _pgd(start="twice"), r"not uniform"),
    ("pgd", "Gaussian random start", _pgd(start="gaussian"), r"not uniform"),
    ("pgd", "one-sided random start", _pgd(start="one-sided"), r"one-sided"),
    ("pgd", "gradient at the clean x every step", _pgd(grad_at_x=True), r"gradient at the clean x"),
    ("pgd", "one step too few", _pgd(steps_offset=-1), r"steps"),
    ("pgd", "not detached", _pgd(detach=False), r"detach"),
    # madry_loss(model, x, y, eps, alpha, steps)
    ("madry_loss", "trains on clean inputs", _madry("clean only"), r"clean loss"),
    ("madry_loss", "leaves the model in eval mode", _madry("stays in eval"), r"eval mode"),
    ("madry_loss", "attacks in train mode", _madry("train-mode attack"), r"attack ran with the model in train mode"),
    ("madry_loss", "final forward pass in eval mode", _madry("loss in eval mode"), r"final forward pass.*eval"),
    ("madry_loss", "final forward pass under no_grad", _madry("no grad"), r"no gradient"),
    ("madry_loss", "per-example losses", _madry("per example"), r"one loss per example"),
    ("madry_loss", "returns .item()", _madry("item"), r"Python number"),
    ("madry_loss", "adds the clean loss", _madry("adds clean loss"), r"clean loss.*plus the adversarial"),
    ("madry_loss", "sums over the batch", _madry("sum"), r"MEAN"),
    # worst_case_accuracy(model, x, y, attacks)
    ("worst_case_accuracy", "averages per-attack accuracies", _worst("mean"), r"averaged"),
    ("worst_case_accuracy", "minimum of per-attack accuracies", _worst("min"), r"minimum"),
    ("worst_case_accuracy", "forgets the clean predictions", _worst("forgets clean"), r"clean"),
    ("worst_case_accuracy", "survives ANY attack (OR)", _worst("any"), r"ANY"),
    ("worst_case_accuracy", "chains the attacks", _worst("chained"), r"previous attack"),
    ("worst_case_accuracy", "returns a count", _worst("count"), r"count"),
    ("worst_case_accuracy", "returns the error rate", _worst("error rate"), r"error rate"),
    ("worst_case_accuracy", "returns a tensor", _worst("tensor"), r"Python float"),
    # pyramid_attack(model, x, y, scales, eps, steps, alpha_frac=0.5, random_start=True)
    ("pyramid_attack", "one shared budget for every scale", _pyramid(shared_budget=True), r"OWN budget"),
    ("pyramid_attack", "no clamp to [0, 1]", _pyramid(clamp=False), r"pixel range"),
    ("pyramid_attack", "clips only the sum", _pyramid(project_sum=True), r"OWN budget.*not only their sum"),
    ("pyramid_attack", "absolute step, not a fraction of the budget", _pyramid(absolute_step=True),
     r"fraction of each scale's own budget"),
    ("pyramid_attack", "descends the loss", _pyramid(sign=-1.0), r"LOWERS the loss"),
    ("pyramid_attack", "bilinear upsampling", _pyramid(mode="bilinear"), r"nearest-neighbour"),
    ("pyramid_attack", "one delta for the whole batch", _pyramid(batch_delta=True), r"same perturbation"),
    ("pyramid_attack", "always random (ignores random_start=False)", _pyramid(honour_flag=False),
     r"random_start=False"),
    # from the cold review: float64, side effects, labels, noise, crashes and the wrong mistake named
    ("project_linf", "returns float64", lambda xa, x, eps: adv.project_linf(xa, x, eps).double(), r"dtype.*float64"),
    ("project_linf", "changes x_adv in place", _project_in_place, r"in place"),
    ("fgsm", "attacks the model's prediction, not y", _fgsm_on_predictions, r"own prediction, not the label y"),
    ("fgsm", "clamps the perturbation instead of the image", _fgsm_clamps_the_step, r"only ever move UP"),
    ("fgsm", "returns float64", lambda m, x, y, eps: adv.fgsm(m, x, y, eps).double(), r"dtype.*float64"),
    ("fgsm", "requires_grad_ on the caller's x", _fgsm_on_callers_x, r"requires_grad on the caller's tensor"),
    ("pgd", "attacks the model's prediction, not y", _pgd2(labels="prediction"), r"own prediction, not the label y"),
    ("pgd", "one noise value per image", _pgd2(start="per image"), r"pixels of one image alike"),
    ("pgd", "one noise tensor shared by the batch", _pgd2(start="shared by the batch"), r"same random start"),
    ("pgd", "random start not clamped to [0, 1]", _pgd2(start="not clamped"), r"outside \[0, 1\].*random start"),
    ("pgd", "reseeds the global generator", _pgd2(reseed=True), r"same result.*manual_seed"),
    ("pgd", "gradients accumulated over the steps", _pgd2(update="accumulated"), r"ADD UP"),
    ("pgd", "projects only at the end", _pgd2(project="at the end"), r"only once"),
    ("pgd", "L2-normalised step", _pgd2(update="L2"), r"not multiples of alpha"),
    ("pgd", "stops once every example is fooled", _pgd2(stop="all fooled"), r"steps of PGD, not"),
    ("pgd", "freezes each example once fooled", _pgd2(stop="per example"), r"stopped early"),
    ("pgd", "FGSM warm start", _pgd2(warm=True), r"FGSM step"),
    ("pgd", "correct, but calls the unfinished project_linf", _pgd_calling_a_stub, r"calls `_stub_projection`.*finish"),
    ("madry_loss", "PGD without a random start", _madry2("no random start"), r"no random start"),
    ("madry_loss", "a one-step attack", _madry2("one step"), r"ONE-step"),
    ("madry_loss", "half the budget", _madry2("half eps"), r"half the budget"),
    ("madry_loss", "attacks the model's predictions", _madry2("predictions"), r"own predictions"),
    ("madry_loss", "FGSM instead of PGD", _madry2("fgsm"), r"matches FGSM"),
    ("madry_loss", "calls loss.backward()", _madry2("backward inside"), r"backward"),
    ("madry_loss", "attack under torch.no_grad()", _madry2("no_grad attack"), r"no_grad"),
    ("worst_case_accuracy", "attacks under torch.no_grad()", _worst2("no_grad around the attacks"), r"no_grad"),
    ("worst_case_accuracy", "attacks the model's predictions", _worst2("attacks the predictions"), r"own predictions"),
    ("worst_case_accuracy", "keeps only the last attack", _worst2("keeps only the last attack"), r"LAST attack"),
    ("worst_case_accuracy", "returns numpy.float64", _worst2("numpy float"), r"numpy float64"),
    ("pyramid_attack", "reads the scale as the block size", _pyramid2(blocks="block size"), r"not the block size"),
    ("pyramid_attack", "one-sided random start", _pyramid2(start="one-sided"), r"one-sided"),
    ("pyramid_attack", "random start at +-eps", _pyramid2(start="signs"), r"not uniform"),
    ("pyramid_attack", "random start from twice the budget", _pyramid2(start="twice the budget"), r"not uniform|budget"),
    ("pyramid_attack", "one random start shared by the batch", _pyramid2(start="shared by the batch"),
     r"same random start"),
    ("pyramid_attack", "no clamp before the forward passes", _pyramid2(clamp_inside=False), r"outside \[0, 1\]"),
]


@pytest.mark.parametrize("exercise,mistake,wrong,pattern", MISTAKES, ids=row_ids(MISTAKES))
def test_each_typical_mistake_is_rejected_and_named(exercise, mistake, wrong, pattern):
    assert_rejected_and_named(CHECKS[exercise], wrong, pattern, mistake)


def test_every_exercise_has_at_least_five_mistakes():
    assert_five_per_exercise(MISTAKES, CHECKS)


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_the_correct_solution_passes(exercise):
    CHECKS[exercise](CORRECT[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_the_stub_is_not_implemented_yet(exercise):
    assert_stub_not_implemented(CHECKS[exercise])


@pytest.mark.parametrize("exercise", list(CHECKS))
def test_an_endless_loop_fails_quickly(exercise):
    assert_endless_loop_fails_quickly(CHECKS[exercise])


def test_checks_leave_the_random_state_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    for exercise, check in CHECKS.items():
        check(CORRECT[exercise])
    assert torch.equal(torch.rand(3), before)
