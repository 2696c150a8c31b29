"""Lesson 06: the checks reject the stub and typical mistakes and accept correct code; the conscience,
its data, the gridworld with its reversibility estimate, and the proxy-gaming helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.checks import CheckFailed
from utils.ethics.checks import (_reference_order_pairs, _reference_q_update, _reference_screen_actions,
                                    _reference_shape_q, check_order_pairs, check_q_update, check_screen_actions,
                                    check_shape_q)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


# ---------------------------------------------------------------------------------------------
# q_update
# ---------------------------------------------------------------------------------------------

def test_q_update_reference_and_stub():
    check_q_update(_reference_q_update)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_q_update(stub)


def _q_bootstraps_terminal(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r + (gamma * np.max(q_next) if len(q_next) else 0.0)
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def _q_no_alpha(Q, s, a, r, q_next, terminated, alpha, gamma):
    Q[s, a] = r if (terminated or len(q_next) == 0) else r + gamma * np.max(q_next)
    return Q[s, a]


def _q_wrong_sign(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + gamma * np.max(q_next)
    Q[s, a] -= alpha * (target - Q[s, a])
    return Q[s, a]


def _q_mean(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + gamma * np.mean(q_next)
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def _q_not_in_place(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + gamma * np.max(q_next)
    return Q[s, a] + alpha * (target - Q[s, a])


def _q_max_with_zero(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + gamma * max(0.0, np.max(q_next))
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


def _q_no_return(Q, s, a, r, q_next, terminated, alpha, gamma):
    _reference_q_update(Q, s, a, r, q_next, terminated, alpha, gamma)


@pytest.mark.parametrize("wrong", [_q_bootstraps_terminal, _q_no_alpha, _q_wrong_sign, _q_mean, _q_not_in_place,
                                   _q_max_with_zero, _q_no_return])
def test_q_update_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_q_update(wrong)


# ---------------------------------------------------------------------------------------------
# shape_q
# ---------------------------------------------------------------------------------------------

def test_shape_q_reference_and_stub():
    check_shape_q(_reference_shape_q)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_shape_q(stub)


def _shape_adds(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) + penalty * (np.asarray(p) if soft else (np.asarray(p) > threshold))


def _shape_only_chosen(q, p, penalty=10.0, threshold=0.39, soft=False):
    q = np.array(q, dtype=float)
    p = np.asarray(p)
    flat = q.reshape(-1, q.shape[-1])
    for row in flat:
        a = int(row.argmax())
        row[a] -= penalty * (p[a] if soft else float(p[a] > threshold))
    return flat.reshape(q.shape)


def _shape_soft_ignored(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) - penalty * (np.asarray(p) > threshold)


def _shape_in_place(q, p, penalty=10.0, threshold=0.39, soft=False):
    q -= penalty * (np.asarray(p) if soft else (np.asarray(p) > threshold))
    return q


def _shape_fixed_penalty(q, p, penalty=10.0, threshold=0.39, soft=False):
    return np.asarray(q, float) - 10.0 * (np.asarray(p) if soft else (np.asarray(p) > 0.39))


@pytest.mark.parametrize("wrong", [_shape_adds, _shape_only_chosen, _shape_soft_ignored, _shape_in_place,
                                   _shape_fixed_penalty, lambda q, p, **kw: None])
def test_shape_q_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_shape_q(wrong)


# ---------------------------------------------------------------------------------------------
# screen_actions
# ---------------------------------------------------------------------------------------------

def test_screen_actions_reference_and_stub():
    check_screen_actions(_reference_screen_actions)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_screen_actions(stub)


@pytest.mark.parametrize("wrong", [
    lambda m, p, threshold=0.39: np.asarray(m) & (np.asarray(p) > threshold),           # keeps the flagged ones
    lambda m, p, threshold=0.39: np.asarray(m) & (np.asarray(p) <= threshold),          # no fallback
    lambda m, p, threshold=0.39: np.asarray(p) <= threshold,                            # ignores availability
    lambda m, p, threshold=0.39: (np.asarray(m) & (np.asarray(p) <= 0.39)).astype(int),  # ints, fixed threshold
])
def test_screen_actions_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_screen_actions(wrong)


# ---------------------------------------------------------------------------------------------
# make_order_pairs
# ---------------------------------------------------------------------------------------------

def test_order_pairs_reference_and_stub():
    check_order_pairs(_reference_order_pairs)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_order_pairs(stub)


def _pairs(traj, window, both=True, flip=False, hi=1, lo=1):
    traj = np.asarray(traj)
    f, s, lab = [], [], []
    for i in range(len(traj)):
        for j in range(i + lo, min(len(traj), i + window + hi)):
            f.append(traj[i]); s.append(traj[j]); lab.append(0.0 if flip else 1.0)
            if both:
                f.append(traj[j]); s.append(traj[i]); lab.append(1.0 if flip else 0.0)
    d = traj.shape[1]
    return np.array(f).reshape(-1, d), np.array(s).reshape(-1, d), np.array(lab)


@pytest.mark.parametrize("wrong", [
    lambda t, w: _pairs(t, w, both=False),      # forgets the reversed pairs
    lambda t, w: _pairs(t, w, flip=True),       # labels the wrong way round
    lambda t, w: _pairs(t, w, hi=0),            # window off by one (j < i + window)
    lambda t, w: _pairs(t, w, lo=0),            # includes i == j
    lambda t, w: _pairs(t, w)[:2],              # forgets the labels
])
def test_order_pairs_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_order_pairs(wrong)


def test_checks_want_a_function():
    for check in (check_q_update, check_shape_q, check_screen_actions, check_order_pairs):
        with pytest.raises(TypeError):
            check(42)


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

    from utils.ethics.checks import _reference_order_pairs
    from utils.ethics.gridworld import GrassWorld, fit_order_model, greedy_path, random_trajectories, transition_table
    from utils.ethics.qlearning import evaluate_agent, train_q_agent

    torch.set_num_threads(1)
    env = GrassWorld()
    trajs = random_trajectories(env, n=60, length=30, seed=0)
    assert len(trajs) == 60 and trajs[0].shape == (31, env.feature_dim)
    parts = [_reference_order_pairs(t, 8) for t in trajs]
    f, s, lab = (np.concatenate([p[k] for p in parts]) for k in range(3))
    model = fit_order_model(f, s, lab, seed=0)
    psi, tramples = transition_table(env, model)
    assert psi.shape == (env.n_states, 4)
    moved = env._next != np.arange(env.n_states)[:, None]
    assert roc_auc_score(tramples[moved], psi[moved]) > 0.95
    x = torch.tensor(f[:5])
    assert torch.allclose(model(x, torch.tensor(s[:5])) + model(torch.tensor(s[:5]), x), torch.ones(5))

    allowed = psi <= 0.8
    rac = train_q_agent(env, _reference_q_update, episodes=300, seed=0,
                        screen=lambda m, st: (m & allowed[st]) if (m & allowed[st]).any() else m)
    base = train_q_agent(env, _reference_q_update, episodes=300, seed=0)
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
