"""Lesson 02, data-collection side: the phenomena task, the model, the annotator, the collection loop, the
data-matched oracle, their bad inputs, the summaries and plot. (The checks' mistake tables: test_mistakes.py.)"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from utils.text import collection as D

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
    a = D.run_collection("dynamic adversarial", D.dynamic_annotator, seed=0, **SMALL)
    b = D.run_collection("dynamic adversarial", D.dynamic_annotator, seed=0, **SMALL)
    assert len(a.expert_error) == len(a.natural_error) == SMALL["rounds"] + 1
    assert len(a.fooled) == SMALL["rounds"] and len(a.collected) == SMALL["rounds"] * SMALL["budget"]
    assert a.expert_error == b.expert_error
    non = D.run_collection("non-adversarial", D.dynamic_annotator, seed=0, **SMALL)
    assert non.expert_error[0] == a.expert_error[0], "same seed, same round-0 model for every strategy"
    assert np.mean(a.fooled) > np.mean(non.fooled) + 0.2


def test_collection_rejects_bad_settings_and_bad_annotators():
    with pytest.raises(ValueError, match="strategy"):
        D.run_collection("random", D.dynamic_annotator)
    with pytest.raises(ValueError, match=">= 1"):
        D.run_collection("non-adversarial", D.dynamic_annotator, rounds=0)

    def short(task, model, budget, tries, rng):
        return task.propose(budget - 1, rng)

    with pytest.raises(ValueError, match="Batch of 20"):
        D.run_collection("dynamic adversarial", short, **SMALL)
    with pytest.raises(ValueError, match="Batch"):
        D.run_collection("static adversarial", lambda *a: None, **SMALL)


def test_summaries_gains_and_plot():
    res = D.compare_strategies(D.dynamic_annotator, seeds=(0, 1), oracle=True, **SMALL)
    assert list(res) == [*D.STRATEGIES, D.ORACLE] and all(len(v) == 2 for v in res.values())
    rows = D.summarise_curves(res)
    assert [r[0] for r in rows] == [*D.STRATEGIES, D.ORACLE] and all(len(r) == 8 for r in rows)
    e = np.array([r.expert_error for r in res["dynamic adversarial"]])
    assert rows[2][2] == pytest.approx(e[:, -1].mean()) and rows[2][3] == pytest.approx(e[:, -1].std())
    assert rows[2][4] == pytest.approx((e[:, 0] - e[:, 3]).mean() / 3)
    assert D.round_gains([0.5, 0.4, 0.35]).tolist() == pytest.approx([0.1, 0.05])
    with pytest.raises(ValueError):
        D.round_gains([0.5])
    ax = D.plot_collection(res)
    assert len(ax.lines) == 4
    import matplotlib.pyplot as plt
    plt.close("all")


def test_annotator_submits_first_fooling_try_else_last():
    task = D.PhenomenaTask(seed=2)
    model = D.fit_model(task.sample(80, 0), seed=0, steps=40)
    b = D.dynamic_annotator(task, model, 50, 6, np.random.default_rng(0))
    cands = task.propose(300, np.random.default_rng(0))      # the same draws
    wrong = (model.predict(cands.x) != cands.y).reshape(50, 6)
    for slot in range(50):
        j = int(np.argmax(wrong[slot])) if wrong[slot].any() else 5
        assert np.array_equal(b.x[slot], cands.x[slot * 6 + j])
    assert np.array_equal(b.y, task.label(b.x, b.phenomenon))
    with pytest.raises(ValueError, match="budget and tries"):
        D.dynamic_annotator(task, model, 0, 3, 0)


def test_loop_targets_and_accumulates():
    task = D.PhenomenaTask(seed=0)
    seen = []

    def annotator(t, model, budget, tries, rng):
        seen.append(model)
        return t.propose(budget, rng)

    fits = []

    def fit(data):
        fits.append(len(data))
        return D.fit_model(data, seed=0, steps=5)

    data = task.sample(30, 0)
    models, added = D.collection_rounds(task, "dynamic adversarial", annotator, data, fit, 3, 10, 2,
                                        np.random.default_rng(0))
    assert fits == [30, 40, 50, 60] and len(models) == 4 and [len(a) for a in added] == [10, 10, 10]
    assert seen == models[:3]
    seen.clear()
    D.collection_rounds(task, "static adversarial", annotator, data, fit, 3, 10, 2, np.random.default_rng(0))
    assert len(seen) == 3 and seen[0] is seen[1] is seen[2]
    seen.clear()
    models, _ = D.collection_rounds(task, "non-adversarial", annotator, data, fit, 2, 10, 2, np.random.default_rng(0))
    assert seen == [] and len(models) == 3
    assert D.collection_rounds(task, "non-adversarial", annotator, data, fit, 0, 10, 2, 0)[1] == []
    with pytest.raises(ValueError, match="strategy"):
        D.collection_rounds(task, "oracle", annotator, data, fit, 1, 10, 2, 0)
    with pytest.raises(ValueError, match="Batch of 10"):
        D.collection_rounds(task, "dynamic adversarial", lambda *a: task.propose(3, 0), data, fit, 1, 10, 2, 0)


def test_oracle_covers_every_phenomenon_evenly():
    task = D.PhenomenaTask(seed=0)
    even = D.EvenCoverage(task)
    a, b = even.propose(60, 0), even.propose(60, 1)
    counts = np.bincount(np.concatenate([a.phenomenon, b.phenomenon]), minlength=task.n_phenomena)
    assert counts.min() == counts.max() == 3
    assert np.array_equal(a.y, task.label(a.x, a.phenomenon)) and even.n_phenomena == task.n_phenomena
    run = D.run_collection(D.ORACLE, seed=0, **SMALL)
    assert run.strategy == D.ORACLE and len(run.expert_error) == SMALL["rounds"] + 1
    added = np.bincount(run.collected.phenomenon, minlength=task.n_phenomena)
    assert added.max() - added.min() <= 1
    assert run.train_counts.sum() == SMALL["n_initial"] + SMALL["rounds"] * SMALL["budget"]
    assert run.phenomenon_error.shape == (task.n_phenomena,) and np.all((0 <= run.phenomenon_error) & (run.phenomenon_error <= 1))
    expert = task.expert_set()
    assert np.nanmean(run.phenomenon_error) == pytest.approx(run.expert_error[-1])
    assert expert is not None


def test_phenomenon_table_and_plenty_error():
    res = D.compare_strategies(D.dynamic_annotator, seeds=(0,), oracle=True, **SMALL)
    task = D.PhenomenaTask(seed=0)
    labels, shares, table = D.phenomenon_table(res, task.frequencies)
    assert labels == ["1-3", "4-10", "11-20", "21-40"] and sum(shares) == pytest.approx(1.0)
    assert set(table) == set(res) and all(len(v[0]) == len(v[1]) == 4 for v in table.values())
    with pytest.raises(ValueError, match="rank ranges"):
        D.phenomenon_table(res, task.frequencies, bins=((0, 3),))
    errs = D.plenty_error(seeds=(0,), per_phenomenon=20, fit_kwargs=dict(steps=40))
    assert errs.shape == (1,) and 0 <= errs[0] < 0.5
    e = D.phenomenon_errors(D.fit_model(task.sample(50, 0), steps=5), task.sample(20, 1, phenomena=np.zeros(20, int)), 3)
    assert np.isnan(e[1]) and np.isnan(e[2]) and 0 <= e[0] <= 1
