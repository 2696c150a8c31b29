"""Lesson 02, data-collection side: the phenomena task, the model, the collection loop and its bad inputs, the
summaries and plot, and the check of exercise 3 (dynamic annotator)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from utils.text import collection as D
from utils.checks import CheckFailed
from utils.text.checks import _reference_dynamic_annotator, check_dynamic_annotator

torch.set_num_threads(1)

SMALL = dict(rounds=3, n_initial=60, budget=20, tries=4, fit_kwargs=dict(steps=40))


def test_task_is_skewed_and_labels_follow_the_rules():
    task = D.PhenomenaTask(seed=0)
    assert task.frequencies.sum() == pytest.approx(1.0)
    assert np.all(np.diff(task.frequencies) <= 0) and task.frequencies[0] > 20 * task.frequencies[-1]
    b = task.sample(500, 0)
    assert b.x.shape == (500, task.dim) and b.x.dtype == np.float32 and b.y.dtype == np.int64
    assert np.array_equal(b.y, task.label(b.x, b.phenomenon))
    assert 0.3 < b.y.mean() < 0.7
    counts = np.bincount(b.phenomenon, minlength=task.n_phenomena)
    assert counts[0] > counts[-10:].sum()
    e = task.expert_set(per_phenomenon=5)
    assert np.array_equal(np.bincount(e.phenomenon), np.full(task.n_phenomena, 5))
    assert np.array_equal(e.x, task.expert_set(per_phenomenon=5).x), "the expert set is fixed"
    assert "40 phenomena" in repr(task)


def test_task_and_batch_reject_bad_input():
    with pytest.raises(ValueError, match="n_phenomena"):
        D.PhenomenaTask(n_phenomena=1)
    with pytest.raises(ValueError, match="alpha"):
        D.PhenomenaTask(alpha=-1)
    task = D.PhenomenaTask()
    with pytest.raises(TypeError, match="rng"):
        task.sample(3, "x")
    with pytest.raises(ValueError, match="n must be"):
        task.sample(-1, 0)
    with pytest.raises(ValueError, match="length"):
        D.Batch(np.zeros((3, 2)), np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        D.Batch(np.zeros(3), np.zeros(3), np.zeros(3))
    assert len(task.sample(0, 0)) == 0


def test_model_learns_and_rejects_empty_input():
    task = D.PhenomenaTask(seed=1)
    model = D.fit_model(task.sample(400, 0), seed=0)
    test = task.sample(400, 1)
    assert model.error(test) < 0.35
    with pytest.raises(ValueError, match="non-empty"):
        model.predict(np.zeros((0, task.dim)))
    with pytest.raises(ValueError, match="at least one"):
        D.fit_model(task.sample(0, 0))


def test_collection_runs_and_is_reproducible():
    a = D.run_collection("dynamic adversarial", _reference_dynamic_annotator, seed=0, **SMALL)
    b = D.run_collection("dynamic adversarial", _reference_dynamic_annotator, seed=0, **SMALL)
    assert len(a.expert_error) == len(a.natural_error) == SMALL["rounds"] + 1
    assert len(a.fooled) == SMALL["rounds"] and len(a.collected) == SMALL["rounds"] * SMALL["budget"]
    assert a.expert_error == b.expert_error
    non = D.run_collection("non-adversarial", _reference_dynamic_annotator, seed=0, **SMALL)
    assert non.expert_error[0] == a.expert_error[0], "same seed, same round-0 model for every strategy"
    assert np.mean(a.fooled) > np.mean(non.fooled) + 0.2


def test_collection_rejects_bad_settings_and_bad_annotators():
    with pytest.raises(ValueError, match="strategy"):
        D.run_collection("random", _reference_dynamic_annotator)
    with pytest.raises(ValueError, match=">= 1"):
        D.run_collection("non-adversarial", _reference_dynamic_annotator, rounds=0)

    def short(task, model, budget, tries, rng):
        return task.propose(budget - 1, rng)

    with pytest.raises(ValueError, match="Batch of 20"):
        D.run_collection("dynamic adversarial", short, **SMALL)
    with pytest.raises(ValueError, match="Batch"):
        D.run_collection("static adversarial", lambda *a: None, **SMALL)


def test_summaries_gains_and_plot():
    res = D.compare_strategies(_reference_dynamic_annotator, seeds=(0, 1), **SMALL)
    assert list(res) == list(D.STRATEGIES) and all(len(v) == 2 for v in res.values())
    rows = D.summarise_curves(res)
    assert [r[0] for r in rows] == list(D.STRATEGIES) and all(len(r) == 6 for r in rows)
    assert D.round_gains([0.5, 0.4, 0.35]).tolist() == pytest.approx([0.1, 0.05])
    with pytest.raises(ValueError):
        D.round_gains([0.5])
    ax = D.plot_collection(res)
    assert len(ax.lines) == 3
    import matplotlib.pyplot as plt
    plt.close("all")


# ------------------------------------------------------------------------------------- check: ex. 3

def stub(*args):
    raise NotImplementedError


def test_annotator_check_accepts_reference_and_a_loop_version():
    check_dynamic_annotator(_reference_dynamic_annotator)

    def loop_version(task, model, budget, tries, rng):
        picked = []
        for _ in range(budget):
            cands = task.propose(tries, rng)
            wrong = model.predict(cands.x) != cands.y
            picked.append(cands[[int(np.argmax(wrong)) if wrong.any() else tries - 1]])
        return D.Batch.concat(picked)

    check_dynamic_annotator(loop_version)


def test_annotator_check_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_dynamic_annotator(stub)


def no_filter(task, model, budget, tries, rng):  # non-adversarial: ignores the model
    return task.propose(budget, rng)


def wrong_sign(task, model, budget, tries, rng):  # keeps the examples the model gets right
    c = task.propose(budget * tries, rng)
    right = (model.predict(c.x) == c.y).reshape(budget, tries)
    pick = np.where(right.any(1), right.argmax(1), tries - 1)
    return c[np.arange(budget) * tries + pick]


def model_labels(task, model, budget, tries, rng):  # labels from the model, not the truth
    b = _reference_dynamic_annotator(task, model, budget, tries, rng)
    return D.Batch(b.x, model.predict(b.x), b.phenomenon)


def only_fooling(task, model, budget, tries, rng):  # drops slots with no fooling example
    c = task.propose(budget * tries, rng)
    wrong = (model.predict(c.x) != c.y).reshape(budget, tries)
    idx = [b * tries + int(wrong[b].argmax()) for b in range(budget) if wrong[b].any()]
    return c[np.array(idx, dtype=int)]


def until_fooled(task, model, budget, tries, rng):  # ignores the tries limit
    picked = []
    while len(picked) < budget:
        c = task.propose(1, rng)
        if model.predict(c.x)[0] != c.y[0]:
            picked.append(c)
    return D.Batch.concat(picked)


def duplicates(task, model, budget, tries, rng):  # one fooling example repeated
    b = _reference_dynamic_annotator(task, model, budget, tries, rng)
    return b[np.zeros(budget, dtype=int)]


@pytest.mark.parametrize("wrong", [no_filter, wrong_sign, model_labels, only_fooling, until_fooled, duplicates])
def test_annotator_check_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_dynamic_annotator(wrong)
