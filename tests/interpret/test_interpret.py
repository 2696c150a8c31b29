"""Lesson 05: the helpers in ``utils.interpret`` work and give clear errors on bad input; the 2AFC game's logic and
widget behave. The learner checks and their tables of typical mistakes are in ``test_mistakes.py``."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from torch import nn

from utils.interpret import experiment as I
from utils.interpret import saliency as S
from utils.models import small_cnn

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# utils.interpret.experiment: units, activations, bad inputs
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def features():
    torch.manual_seed(0)
    f = I.centre_units(small_cnn(width=6)[:3]).eval()
    for p in f.parameters():
        p.requires_grad_(False)
    return f


def test_n_units_and_channel_means(features):
    assert I.n_units(features) == 6
    x = torch.rand(5, 1, 8, 8)
    assert I.channel_means(features, x).shape == (5, 6)
    assert I.all_activations(features, x).shape == (5, 6)
    torch.testing.assert_close(I.all_activations(features, x, batch_size=2), I.channel_means(features, x))


def test_a_unit_that_does_not_exist_names_the_valid_range(features):
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(IndexError, match=r"unit 6 does not exist: this layer has 6 channels, so valid units are 0 to 5"):
        I.unit_activations(features, x, 6)
    with pytest.raises(IndexError, match="unit -1 does not exist"):
        I.unit_activations(features, x, [0, -1])
    with pytest.raises(TypeError, match="integers"):
        I.unit_activations(features, x, 1.5)
    with pytest.raises(TypeError, match="booleans"):
        I.unit_activations(features, x, True)
    with pytest.raises(ValueError, match="one per image"):
        I.unit_activations(features, x, [0, 1, 2])


def test_unit_activations_per_image_and_shared(features):
    x = torch.rand(3, 1, 8, 8)
    all_ = I.channel_means(features, x)
    torch.testing.assert_close(I.unit_activations(features, x, 2), all_[:, 2])
    torch.testing.assert_close(I.unit_activations(features, x, torch.tensor([0, 1, 5])), all_[[0, 1, 2], [0, 1, 5]])


def test_images_must_be_4d_float(features):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        I.channel_means(features, torch.rand(8, 8))
    with pytest.raises(TypeError, match="float"):
        I.channel_means(features, torch.zeros(1, 1, 8, 8, dtype=torch.long))
    with pytest.raises(TypeError, match="torch tensor"):
        I.total_variation(np.zeros((1, 1, 8, 8)))


def test_centre_crop():
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.float32).reshape(2, 3, 6, 6)
    out = I.CentreCrop(2)(x)
    assert out.shape == (2, 3, 2, 2)
    torch.testing.assert_close(out, x[..., 2:4, 2:4])
    with pytest.raises(ValueError, match="cannot crop"):
        I.CentreCrop(7)(x)
    with pytest.raises(ValueError, match="size"):
        I.CentreCrop(0)


def test_total_variation_and_jitter():
    flat = torch.full((2, 1, 8, 8), 0.3)
    torch.testing.assert_close(I.total_variation(flat), torch.zeros(2))
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::2] = 1.0
    assert I.total_variation(stripes).item() == pytest.approx(1.0)
    x = torch.rand(3, 1, 8, 8, requires_grad=True)
    j = I.jitter(x, 1, torch.Generator().manual_seed(0))
    assert j.shape == x.shape
    j.sum().backward()
    assert x.grad is not None
    assert I.jitter(x, 0) is x
    with pytest.raises(ValueError, match="max_shift"):
        I.jitter(x, -1)


def test_percentile_ranks():
    r = I.percentile_ranks(torch.tensor([3.0, 1.0, 2.0]))
    torch.testing.assert_close(r, torch.tensor([100.0, 0.0, 50.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        I.percentile_ranks(torch.tensor([1.0]))


def test_embedder_and_ink():
    x = torch.rand(4, 1, 8, 8)
    assert I.embedder(None)(x).shape == (4, 64)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 5))
    assert I.embedder(net)(x).shape == (4, 5)
    torch.testing.assert_close(I.ink_prior(x), x.flatten(1).mean(1))
    acts = torch.stack([I.ink_prior(x), -I.ink_prior(x)], 1)
    np.testing.assert_allclose(I.ink_correlation(acts, x), [1.0, -1.0], atol=1e-6)
    with pytest.raises(ValueError):
        I.ink_correlation(acts[:2], x)


# ---------------------------------------------------------------------------------------------
# Intervals, experiment, summaries
# ---------------------------------------------------------------------------------------------

def test_wilson_interval():
    lo, hi = I.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert I.wilson_interval(0, 5)[0] == 0.0
    assert I.wilson_interval(5, 5)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        I.wilson_interval(1, 0)
    with pytest.raises(ValueError):
        I.wilson_interval(6, 5)


def test_bootstrap_ci():
    correct = [True] * 80 + [False] * 20
    lo, hi = I.bootstrap_ci(correct, n_boot=500)
    assert lo < 0.8 < hi and hi - lo < 0.2
    # clustered: 10 clusters that are all right or all wrong -> a much wider interval
    clusters = np.repeat(np.arange(10), 10)
    correct_c = np.repeat([True] * 8 + [False] * 2, 10)
    lo_c, hi_c = I.bootstrap_ci(correct_c, clusters, n_boot=500)
    assert hi_c - lo_c > hi - lo
    with pytest.raises(ValueError):
        I.bootstrap_ci([])
    with pytest.raises(ValueError):
        I.bootstrap_ci([True, False], clusters=[0])


def test_run_experiment_and_summarise():
    g = torch.Generator().manual_seed(0)
    n, u, k = 120, 3, 4
    images = torch.rand(n, 1, 8, 8, generator=g)
    acts = torch.stack([images[:, 0, :4].mean((1, 2)), images[:, 0, 4:].mean((1, 2)), I.ink_prior(images)], 1)
    top, bottom = I.natural_exemplars(acts, k)
    refs = {"natural": {"max": images[top], "min": images[bottom]},
            "synthetic": {"max": images[top].flip(-1), "min": images[bottom].flip(-1)}}
    recs = I.run_experiment(I.build_trials, I.choose, acts, images, refs,
                            {"pixels": I.embedder(None)}, gaps=(90, 20), n_trials=5, seed=0, tag="t")
    assert len(recs) == u * 2 * 5 * 3
    rows = I.summarise(recs, n_boot=200)
    assert {(r["reference"], r["gap"]) for r in rows} == {(a, b) for a in I.REFERENCE_TYPES for b in (90.0, 20.0)}
    easy_nat = next(r for r in rows if r["reference"] == "natural" and r["gap"] == 90)
    assert easy_nat["acc"] > 0.7 and easy_nat["lo"] <= easy_nat["acc"] <= easy_nat["hi"]
    # the same query pairs are judged in every condition: identical "none" results for every reference type
    assert sum(r["reference"] == "none" for r in recs) == u * 2 * 5
    with pytest.raises(ValueError, match="references"):
        I.run_experiment(I.build_trials, I.choose, acts, images,
                         {"natural": {"max": images[top][:2], "min": images[bottom]}}, {"pixels": I.embedder(None)})
    with pytest.raises(ValueError, match="tuple|shapes"):
        I.run_experiment(lambda *a: (torch.zeros(1, 2), torch.zeros(1)), I.choose, acts, images, refs,
                         {"pixels": I.embedder(None)}, n_trials=5)
    with pytest.raises(ValueError):
        I.summarise([])


def test_verdict():
    assert "same ordering" in I.verdict((0.9, 0.85, 0.95), (0.7, 0.65, 0.75), (0.5, 0.45, 0.55))
    assert "not the ordering" in I.verdict((0.6, 0.55, 0.65), (0.8, 0.75, 0.85), (0.9, 0.85, 0.95))
    assert "overlap" in I.verdict((0.8, 0.7, 0.9), (0.78, 0.7, 0.88), (0.5, 0.45, 0.55))


def test_figures():
    rows = [{"observer": "o", "reference": r, "gap": g, "n": 10, "acc": 0.7, "lo": 0.6, "hi": 0.8}
            for r in I.REFERENCE_TYPES for g in (90.0, 20.0)]
    fig = I.accuracy_figure(rows, ["o"], {90.0: "easy", 20.0: "hard"})
    assert len(fig.axes) == 1
    x = torch.rand(3, 1, 8, 8)
    fig = I.exemplar_figure([0, 1], x[:2], x[:2], torch.rand(2, 4, 1, 8, 8), torch.rand(2, 4, 1, 8, 8))
    assert len(fig.axes) == 8
    matplotlib.pyplot.close("all")


# ---------------------------------------------------------------------------------------------
# The 2AFC game
# ---------------------------------------------------------------------------------------------

def _game_trials(n_per=2):
    g = torch.Generator().manual_seed(1)
    trials = []
    for cond in ("natural", "synthetic", "none"):
        for i in range(n_per):
            refs = None if cond == "none" else torch.rand(9, 1, 8, 8, generator=g)
            trials.append(I.GameTrial(cond, i, torch.rand(2, 1, 8, 8, generator=g), answer=i % 2,
                                      activations=(1.0, 0.0) if i % 2 == 0 else (0.0, 1.0),
                                      refs_max=refs, refs_min=refs))
    return trials


def test_game_logic_scores_and_reveals():
    game = I.TwoAFCGame(_game_trials())
    assert game.current is not None and not game.finished and game.score == (0, 0)
    results = []
    while not game.finished:
        results.append(game.choose(game.current.answer if game.position % 3 else 1 - game.current.answer))
    assert game.current is None and game.score == (sum(results), 6)
    summary = {row[0]: row for row in game.summary()}
    assert set(summary) == {"natural", "synthetic", "none"}
    assert sum(row[1] for row in summary.values()) == sum(results)
    for cond, k, n, acc, lo, hi in summary.values():
        assert n == 2 and acc == k / n and lo <= acc <= hi
    rev = game.reveal()
    assert len(rev) == 6 and all(r[3] in "AB" and r[4] in "AB" for r in rev)
    with pytest.raises(RuntimeError, match="reset"):
        game.choose(0)
    order_before = list(game._order)
    game.reset()
    assert game.round == 2 and game.position == 0 and game.score == (0, 0)
    assert sorted(game._order) == sorted(order_before)


def test_game_bad_inputs():
    with pytest.raises(ValueError, match="at least one trial"):
        I.TwoAFCGame([])
    game = I.TwoAFCGame(_game_trials(1))
    for bad in (2, -1, "A", True):
        with pytest.raises(ValueError, match="0 .query A. or 1"):
            game.choose(bad)


def test_make_game_trials_and_render():
    g = torch.Generator().manual_seed(2)
    images = torch.rand(100, 1, 8, 8, generator=g)
    acts = torch.randn(100, 5, generator=g)
    refs = {"natural": {"max": torch.rand(5, 9, 1, 8, 8), "min": torch.rand(5, 9, 1, 8, 8)}}
    trials = I.make_game_trials([0, 1, 2], images, acts, refs, I.build_trials, per_condition=3)
    assert len(trials) == 6 and {t.condition for t in trials} == {"natural", "none"}
    for t in trials:
        a, b = t.activations
        assert (a > b) == (t.answer == 0)
        assert (t.refs_max is None) == (t.condition == "none")
    with pytest.raises(IndexError, match="valid units are 0 to 4"):
        I.make_game_trials([7], images, acts, refs, I.build_trials)
    with pytest.raises(ValueError):
        I.make_game_trials([0], images, acts, refs, I.build_trials, per_condition=0)
    fig = I.render_trial(trials[0], 1, 6)
    assert "which query" in fig._suptitle.get_text()
    matplotlib.pyplot.close("all")


def _state(box):
    status, buttons, out = box.children
    return status.value, repr(out.outputs)


def test_game_widget_clicks_change_the_display():
    game = I.TwoAFCGame(_game_trials(1))
    box = I.game_widget(game)
    status, buttons, out = box.children
    btn_a, btn_b, restart = buttons.children
    seen = [_state(box)]
    btn_a.click()
    seen.append(_state(box))
    assert seen[-1] != seen[-2] and game.position == 1
    btn_b.click()
    seen.append(_state(box))
    assert seen[-1] != seen[-2]
    btn_a.click()
    assert game.finished and btn_a.disabled and btn_b.disabled
    assert "finished" in status.value
    before = _state(box)
    restart.click()
    assert _state(box) != before and game.position == 0 and not btn_a.disabled
    # at the very start, "start over" still visibly changes the display (a new round)
    before = _state(box)
    restart.click()
    assert _state(box)[0] != before[0]


# ---------------------------------------------------------------------------------------------
# Attribution helpers
# ---------------------------------------------------------------------------------------------

def test_randomised_copy():
    torch.manual_seed(0)
    model = small_cnn(width=4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rnd = S.randomised_copy(model, seed=1)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k])  # the original is untouched
    assert not torch.equal(rnd[0].weight, model[0].weight)
    torch.testing.assert_close(S.randomised_copy(model, seed=1)[0].weight, rnd[0].weight)  # seeded


def test_rank_correlation():
    a = torch.rand(4, 8, 8)
    np.testing.assert_allclose(S.rank_correlation(a, a), 1.0)
    np.testing.assert_allclose(S.rank_correlation(a, -a), -1.0)
    np.testing.assert_allclose(S.rank_correlation(a, a ** 3 + 2), 1.0)
    assert S.rank_correlation(a, torch.zeros(4, 8, 8)).tolist() == [0.0] * 4   # a constant map has no ordering
    np.testing.assert_allclose(S.rank_correlation(a.numpy(), a.numpy()), 1.0)  # numpy works too
    # ties share their average rank: [0, 0, 1, 2] vs [0, 0, 2, 1] -> ranks [1.5, 1.5, 3, 4] vs [1.5, 1.5, 4, 3]
    r = S.rank_correlation(np.array([[0, 0, 1, 2.0]]), np.array([[0, 0, 2, 1.0]]))
    assert r[0] == pytest.approx(7 / 9)  # Pearson of those ranks: 3.5 / 4.5
    # the mask selects pixels: over the last two only, the maps disagree completely
    mask = np.array([[False, False, True, True]])
    assert S.rank_correlation(np.array([[0, 0, 1, 2.0]]), np.array([[0, 0, 2, 1.0]]), mask)[0] == pytest.approx(-1.0)
    assert S.rank_correlation(np.ones((1, 4)), np.ones((1, 4)), mask)[0] == 0.0
    assert S.rank_correlation(np.arange(4.0)[None], np.arange(4.0)[None], np.eye(4, dtype=bool)[:1])[0] == 0.0


def test_shared_zeros_alone_give_a_high_rank_correlation():
    # the artefact of the lesson: two maps that agree on nothing but a block of tied zeros (half the pixels)
    g = np.random.default_rng(0)
    zero = g.random((200, 64)) < 0.5
    a, b = np.where(zero, 0.0, g.random((200, 64))), np.where(zero, 0.0, g.random((200, 64)))
    assert S.rank_correlation(a, b).mean() == pytest.approx(6 / 7, abs=0.03)
    assert abs(S.rank_correlation(a, b, ~zero).mean()) < 0.05


def test_rank_correlation_bad_inputs():
    a = torch.rand(4, 8, 8)
    with pytest.raises(ValueError, match="same shape"):
        S.rank_correlation(a, a[:2])
    with pytest.raises(ValueError, match="same shape"):
        S.rank_correlation(a[0, 0], a[0, 0])
    with pytest.raises(TypeError, match="boolean"):
        S.rank_correlation(a, a, mask=torch.ones(4, 8, 8))
    with pytest.raises(ValueError, match="mask must have"):
        S.rank_correlation(a, a, mask=torch.ones(4, 8, 7, dtype=torch.bool))
    with pytest.raises(TypeError, match="tensor or a numpy array"):
        S.rank_correlation([[1, 2]], [[1, 2]])


def test_gradient_saliency_and_randomisation_test():
    torch.manual_seed(0)
    model = small_cnn(width=4).eval()
    x, t = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 2])
    before = x.clone()
    maps = S.gradient_saliency(model, x, t)
    assert maps.shape == (3, 8, 8) and (maps >= 0).all() and not maps.requires_grad
    torch.testing.assert_close(x, before)
    with pytest.raises(ValueError, match="one target class per image"):
        S.gradient_saliency(model, x, t[:2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        S.gradient_saliency(model, x[0], t)
    r = S.randomisation_test(S.gradient_saliency, model, x, t, seeds=(0, 1))
    assert r.shape == (2, 3) and np.all(np.abs(r) <= 1)
    r_self = S.randomisation_test(S.gradient_saliency, model, x, t, seeds=(0,), mask=x[:, 0] > 0.5)
    assert r_self.shape == (1, 3)
    with pytest.raises(ValueError, match="at least one"):
        S.randomisation_test(S.gradient_saliency, model, x, t, seeds=())


def test_paired_difference_keeps_the_pairing():
    recs = []
    for unit in range(20):
        for trial in range(10):
            good = (unit + trial) % 4 != 0                    # 75% right
            recs += [{"tag": 0, "unit": unit, "reference": "a", "correct": good},
                     {"tag": 0, "unit": unit, "reference": "b", "correct": good and trial != 1}]
    d, lo, hi = I.paired_difference(recs, "a", "b")
    assert abs(d - 0.075) < 1e-9 and 0 < lo <= d <= hi           # b loses trial 1 wherever a gets it right
    assert I.paired_difference(recs, "a", "a") == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same units"):
        I.paired_difference(recs + [{"tag": 1, "unit": 0, "reference": "a", "correct": True}], "a", "b")
