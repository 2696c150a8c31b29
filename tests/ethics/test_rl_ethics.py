"""Lesson 06: the conscience and its data, the gridworld with its reversibility estimate, and the proxy-gaming
helpers. (The checks and their tables of typical mistakes are in test_mistakes.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.ethics.gridworld import order_pairs
from utils.ethics.qlearning import q_update


# ---------------------------------------------------------------------------------------------
# the conscience and its data
# ---------------------------------------------------------------------------------------------

def test_morality_data_split_and_no_copies_of_game_actions():
    from utils.ethics.conscience import load_morality, nearest_overlap
    from utils.ethics.textgame import TextGame

    d = load_morality()
    n = len(d.train_text) + len(d.test_text)
    assert n >= 500 and 0.2 <= len(d.test_text) / n <= 0.3
    assert abs(d.train_labels.mean() - d.test_labels.mean()) < 0.02
    allt = d.train_text + d.test_text
    assert len(set(allt)) == n, "duplicate sentences"
    env = TextGame()
    norm = {" ".join(t.lower().rstrip(".").split()) for t in allt}
    assert not any(a in norm for a in env.actions), "a game action was copied into the data"
    assert max(o[2] for o in nearest_overlap(env.actions, allt)) <= 0.6


def test_load_morality_bad_files(tmp_path):
    from utils.ethics.conscience import load_morality

    with pytest.raises(FileNotFoundError):
        load_morality(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("y\ttext\n1\tx\n")
    with pytest.raises(ValueError, match="columns"):
        load_morality(bad)
    bad.write_text("label\tsentence\n2\tsomething\n")
    with pytest.raises(ValueError, match="line 2"):
        load_morality(bad)


def test_tokens_and_conscience():
    from sklearn.metrics import roc_auc_score

    from utils.ethics.conscience import Conscience, load_morality, tokens

    assert tokens("He stole the bikes") == ["he", "steal", "the", "bike", "he steal", "steal the", "the bike"]
    assert "rob" in tokens("robbed")
    with pytest.raises(TypeError):
        tokens(3)
    d = load_morality()
    c = Conscience().fit(d.train_text, d.train_labels)
    p = c.p_immoral(d.test_text)
    assert p.shape == (len(d.test_text),) and ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(d.test_labels, p) > 0.75
    assert c.p_immoral("I punched a stranger and stole his wallet")[0] > c.p_immoral("I read a book")[0]
    assert c.p_immoral([]).shape == (0,)
    wrong, right = c.top_features(3)
    assert len(wrong) == len(right) == 3
    parts = dict(c.contributions("walk into the bakery"))
    assert "into" in parts and "zzzunseen" not in dict(c.contributions("zzzunseen bakery"))
    logit = np.log(c.p_immoral("walk into the bakery")[0] / (1 - c.p_immoral("walk into the bakery")[0]))
    assert sum(parts.values()) + float(c._model.steps[1][1].intercept_[0]) == pytest.approx(logit, abs=1e-6)
    with pytest.raises(TypeError):
        c.contributions(["a list"])
    with pytest.raises(RuntimeError, match="fit"):
        Conscience().p_immoral(["x"])
    with pytest.raises(ValueError):
        Conscience().fit(["a", "b"], [1, 1])
    with pytest.raises(ValueError):
        Conscience().fit(["a"], [0, 1])
    with pytest.raises(ValueError):
        Conscience(C=0)


# ---------------------------------------------------------------------------------------------
# the gridworld and the reversibility estimate
# ---------------------------------------------------------------------------------------------

def test_gridworld_dynamics_and_bad_input():
    from utils.ethics.gridworld import GrassWorld

    env = GrassWorld()
    x, info = env.reset()
    assert x.shape == (env.feature_dim,) and info["action_mask"].all()
    assert env.state(info["state_id"]) == (env.start_pos, env.full)
    trampled = 0
    for _ in range(3):
        _, r, term, trunc, info = env.step(3)        # right, into the grass
        trampled += info["irreversible"]
    assert trampled == 1 and r == -1.0
    env.step(2)                                       # step back left: the grass stays trampled
    *_, info = env.step(3)
    assert info["irreversible"] == 0
    for bad, err in ((4, ValueError), (-1, ValueError), (1.0, TypeError), (True, TypeError)):
        with pytest.raises(err):
            env.step(bad)
    with pytest.raises(RuntimeError):
        GrassWorld().step(0)
    with pytest.raises(ValueError):
        GrassWorld(layout=["S..", ".."])
    with pytest.raises(ValueError):
        GrassWorld(layout=["S.x", "..G"])
    with pytest.raises(ValueError):
        env.features([env.n_states])


def test_gridworld_goal_ends_the_episode():
    from utils.ethics.gridworld import GrassWorld

    env = GrassWorld(layout=["S.G"])
    env.reset()
    env.step(3)
    _, r, term, trunc, info = env.step(3)
    assert term and info["completed"] and r == env.goal_reward - env.step_cost
    with pytest.raises(RuntimeError):
        env.step(3)


def test_reversibility_estimate_and_agents():
    from sklearn.metrics import roc_auc_score

    from utils.ethics.gridworld import GrassWorld, fit_order_model, greedy_path, random_trajectories, transition_table
    from utils.ethics.qlearning import evaluate_agent, train_q_agent

    torch.set_num_threads(1)
    env = GrassWorld()
    trajs = random_trajectories(env, n=60, length=30, seed=0)
    assert len(trajs) == 60 and trajs[0].shape == (31, env.feature_dim)
    parts = [order_pairs(t, 8) for t in trajs]
    f, s, lab = (np.concatenate([p[k] for p in parts]) for k in range(3))
    model, losses = fit_order_model(f, s, lab, seed=0)
    assert len(losses) == 150 and losses[-1] < losses[0]
    psi, tramples = transition_table(env, model)
    assert psi.shape == (env.n_states, 4)
    moved = env._next != np.arange(env.n_states)[:, None]
    assert roc_auc_score(tramples[moved], psi[moved]) > 0.95
    x = torch.tensor(f[:5])
    assert torch.allclose(model(x, torch.tensor(s[:5])) + model(torch.tensor(s[:5]), x), torch.ones(5))

    allowed = psi <= 0.8
    rac = train_q_agent(env, q_update, episodes=300, seed=0,
                        screen=lambda m, st: (m & allowed[st]) if (m & allowed[st]).any() else m)
    base = train_q_agent(env, q_update, episodes=300, seed=0)
    e_rac, e_base = evaluate_agent(env, rac, episodes=3, eps=0.0), evaluate_agent(env, base, episodes=3, eps=0.0)
    assert e_base["irreversible"] > 0 and e_rac["irreversible"] == 0 and e_rac["completion"] == 1.0
    path = [env.state(i)[0] for i in greedy_path(env, rac)]
    assert path[0] == env.start_pos and path[-1] == env.goal_pos
    assert env.state(greedy_path(env, base)[-1])[1] != env.full      # the baseline trampled some grass

    with pytest.raises(ValueError):
        random_trajectories(env, 0, 5)
    with pytest.raises(ValueError):
        fit_order_model(f[:3], s[:2], lab[:3])
    with pytest.raises(ValueError):
        fit_order_model(f[:0], s[:0], lab[:0])


def test_render_grid_runs():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from utils.ethics.gridworld import GrassWorld, render_grid

    ax = render_grid(GrassWorld(), title="t")
    assert ax.get_title() == "t"
    plt.close("all")


# ---------------------------------------------------------------------------------------------
# proxy gaming
# ---------------------------------------------------------------------------------------------

def test_proxy_helpers_and_bad_input():
    from utils.ethics.proxy import (ensemble_score, fit_ensemble, fit_proxy, optimise, pressure_curves, sample_data,
                             true_objective)

    torch.set_num_threads(1)
    assert true_objective(torch.tensor([[1.0, 1.0]])).item() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        true_objective(torch.zeros(3))
    with pytest.raises(ValueError):
        sample_data(1)
    x, y = sample_data(50, seed=0)
    with pytest.raises(ValueError):
        fit_proxy(x, y[:10])
    with pytest.raises(ValueError):
        fit_ensemble(x, y, k=1)
    m = fit_proxy(x, y, steps=20)
    with pytest.raises(ValueError):
        ensemble_score([m])
    with pytest.raises(ValueError):
        ensemble_score([m, m], k_std=-1)
    with pytest.raises(ValueError):
        optimise(lambda z: z.sum(1), x[:2], steps=-1)
    xs = optimise(lambda z: -(z ** 2).sum(1), torch.ones(4, 2), steps=50, lr=0.1, record=[0, 50])
    assert set(xs) == {0, 50} and xs[50].abs().max() < xs[0].abs().max()
    out = pressure_curves(0, [0, 5, 300], n_data=100, n_start=16)
    assert out["proxy_true"].shape == (3,) and "ensemble_k4_true" in out
    assert out["proxy_true"][-1] < out["proxy_true"].max()


def test_order_pairs_fit_and_threshold_helpers():
    from utils.ethics.gridworld import (VALIDATION_LAYOUT, GrassWorld, choose_threshold, fit_order_model,
                                        pairs_from_walks, path_lengths)

    f, s, lab = order_pairs(np.eye(3), 1)
    assert f.shape == s.shape == (4, 3) and sorted(lab.tolist()) == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        order_pairs(np.zeros(3), 1)
    with pytest.raises(ValueError):
        order_pairs(np.eye(3), 0)
    env = GrassWorld(layout=VALIDATION_LAYOUT)
    f, s, lab = pairs_from_walks(env, n=5, length=6, window=2, seed=0)
    assert f.shape == (len(lab), env.feature_dim) and lab.mean() == 0.5
    a, la = fit_order_model(f, s, lab, steps=3, seed=4)
    b, lb = fit_order_model(f, s, lab, steps=3, seed=4)
    assert la == lb, "a fit is deterministic for a seed"
    # the threshold sits in the gap between the classes, and ties prefer the widest gap
    assert choose_threshold(np.array([0.1, 0.2, 0.9, 0.95]), np.array([0, 0, 1, 1])) == pytest.approx(0.55)
    assert 0.2 < choose_threshold(np.array([0.1, 0.2, 0.6, 0.9]), np.array([0, 0, 1, 1])) < 0.6
    with pytest.raises(ValueError):
        choose_threshold(np.array([0.1, 0.2]), np.array([1, 1]))
    assert path_lengths(GrassWorld()) == {"shortest": 7, "trampled": 2, "detour": 13}
    assert path_lengths(GrassWorld(layout=["SgG"]))["detour"] == -1


def test_batched_ensemble_matches_separately_trained_proxies():
    from utils.ethics.proxy import MLPEnsemble, ensemble_score, fit_ensemble, fit_proxy, sample_data

    torch.set_num_threads(1)
    x, y = sample_data(60, seed=1)
    ens = fit_ensemble(x, y, k=3, seed=2, steps=30)
    solo = [fit_proxy(x, y, seed=2000 + i, bootstrap=True, steps=30) for i in range(3)]
    z = torch.randn(9, 2)
    with torch.no_grad():
        assert isinstance(ens, MLPEnsemble) and len(ens) == 3
        assert torch.allclose(ens(z), torch.stack([m(z).squeeze(-1) for m in solo]), atol=1e-4)
        assert torch.allclose(ensemble_score(ens, 2.0)(z), ensemble_score(solo, 2.0)(z), atol=1e-4)


def test_joint_ascent_matches_one_score_at_a_time():
    from utils.ethics.proxy import ensemble_score, fit_ensemble, fit_proxy, optimise, pressure_curves, sample_data

    torch.set_num_threads(1)
    out = pressure_curves(3, [0, 7], n_data=60, n_start=8)
    x, y = sample_data(60, seed=3)
    x0 = torch.randn(8, 2, generator=torch.Generator().manual_seed(10_003)) * 0.35
    proxy, ens = fit_proxy(x, y, seed=3), fit_ensemble(x, y, k=5, seed=3)
    for name, score in (("proxy", lambda z: proxy(z).squeeze(-1)), ("ensemble_k4", ensemble_score(ens, 4.0))):
        alone = optimise(score, x0, 7, record=[7])[7]
        assert np.allclose(out[f"{name}_final_x"], alone.numpy(), atol=1e-5), name
