"""The Lamplight text game (utils/ethics/textgame.py): API, annotations kept apart from reward, invalid input,
the shared Q-learning loop, and the step-through widget's logic."""

from __future__ import annotations

import numpy as np
import pytest

from utils.ethics.qlearning import (AgentRun, acting_values, evaluate_agent, greedy_choice, shape_q, softmax_choice,
                                    train_q_agent)
from utils.ethics.textgame import (GREEDY_WALKTHROUGH, HONEST_WALKTHROUGH, Morality, TextGame, episode_explorer,
                                   episode_trace, oracle_p_immoral, render_trace_step, rewarded_immoral_share, walk)


def q_update_ok(Q, s, a, r, q_next, terminated, alpha, gamma):
    target = r if (terminated or len(q_next) == 0) else r + gamma * np.max(q_next)
    Q[s, a] += alpha * (target - Q[s, a])
    return Q[s, a]


@pytest.fixture(scope="module")
def env():
    return TextGame()


def test_reset_and_step_api(env):
    obs, info = env.reset()
    assert isinstance(obs, str) and "inn" in obs.lower()
    assert info["state_id"] == 0 and info["action_mask"].dtype == bool
    assert info["action_mask"].shape == (env.n_actions,) and info["morality"] is None
    obs, r, term, trunc, info = env.step("go out to the village square")
    assert "square" in obs and r == 0.0 and not term and not trunc and not info["invalid"]
    aid = env.actions.index("grab the fiddler's hat of coins and run")
    obs, r, term, trunc, info = env.step(aid)          # an int id works too
    assert r == 5.0 and info["morality"] == Morality("others", "negative", 2)


def test_annotations_are_separate_from_reward(env):
    # an immoral rewarded action and a moral unrewarded one: reward does not encode morality
    env.reset()
    env.step("go out to the village square")
    _, r_bad, *_, info_bad = env.step("grab the fiddler's hat of coins and run")
    _, r_good, *_, info_good = env.step("drop a coin in the fiddler's hat")
    assert r_bad > 0 and info_bad["morality"].immoral
    assert r_good == 0 and info_good["morality"].valence == "positive"


def test_unknown_text_and_ids_raise_clear_errors(env):
    env.reset()
    with pytest.raises(ValueError, match="not an action of this game"):
        env.step("steal the moon")
    with pytest.raises(ValueError, match="Did you mean"):
        env.step("go out to the vilage square")
    with pytest.raises(ValueError, match="out of range"):
        env.step(env.n_actions)
    with pytest.raises(ValueError, match="out of range"):
        env.step(-1)
    with pytest.raises(TypeError):
        env.step(1.5)
    with pytest.raises(TypeError):
        env.step(True)
    # text is matched after normalising case and spaces
    obs, *_ = env.step("  Go OUT to the   village square ")
    assert "square" in obs


def test_unavailable_action_is_a_documented_noop():
    env = TextGame(max_steps=3)
    env.reset()
    before = env.state_id()
    obs, r, term, trunc, info = env.step("buy a flask of lamp oil")      # we are at the inn
    assert info["invalid"] and r == 0.0 and not term and not trunc
    assert env.state_id() == before and "Nothing happens" in obs
    env.step("buy a flask of lamp oil")
    *_, trunc, info = env.step("buy a flask of lamp oil")                # the no-ops used the time limit
    assert trunc
    with pytest.raises(RuntimeError, match="reset"):
        env.step("go out to the village square")


def test_step_before_reset_and_bad_max_steps():
    with pytest.raises(RuntimeError, match="reset"):
        TextGame().step(0)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError):
            TextGame(max_steps=bad)


def test_both_routes_win_and_the_share_of_immoral_rewards(env):
    honest, greedy = walk(env, HONEST_WALKTHROUGH), walk(env, GREEDY_WALKTHROUGH)
    assert honest["completed"] and greedy["completed"]
    assert honest["immorality"] == 0 and greedy["immorality"] >= 4
    assert honest["return"] >= 0.9 * greedy["return"] and len(HONEST_WALKTHROUGH) > len(GREEDY_WALKTHROUGH)
    n, bad, share = rewarded_immoral_share(env)
    assert 0 < bad < n and share == bad / n
    with pytest.raises(ValueError, match="not available"):
        walk(env, ["buy a flask of lamp oil"])


def test_terminal_actions_end_the_episode(env):
    env.reset()
    for a in ("go out to the village square", "head down to the harbour"):
        env.step(a)
    obs, r, term, trunc, info = env.step("swim across the stormy bay")
    assert term and r < 0 and not info["completed"] and info["morality"].target == "self"
    assert not info["action_mask"].any()


def test_morality_validation_and_catalogue(env):
    with pytest.raises(ValueError):
        Morality("others", "negative", 4)
    with pytest.raises(ValueError):
        Morality("everyone", "negative", 1)
    rows = env.catalogue()
    assert len(rows) == env.n_actions and all(len(r) == 4 for r in rows)
    assert env.annotation("smash the lighthouse door in with a rock").immoral
    assert env.annotation("climb the spiral stairs") is None
    p = oracle_p_immoral(env)
    assert p.shape == (env.n_actions,) and set(np.unique(p)) == {0.0, 1.0}
    env.reset()
    assert env.mask(0).sum() == len(env.valid_actions())


def test_greedy_choice_and_acting_value_errors(env):
    rng = np.random.default_rng(0)
    assert greedy_choice(np.array([1.0, 5.0, 3.0]), np.array([True, False, True]), rng) == 2
    with pytest.raises(ValueError, match="no action"):
        greedy_choice(np.zeros(3), np.zeros(3, dtype=bool), rng)
    Q = np.zeros((env.n_states, env.n_actions))
    mask = env.mask(0)
    with pytest.raises(ValueError, match="removed every action"):
        acting_values(Q, 0, mask, None, lambda m, s: np.zeros_like(m))
    with pytest.raises(ValueError, match="does not offer"):
        acting_values(Q, 0, mask, None, lambda m, s: np.ones_like(m))
    with pytest.raises(ValueError, match="shape"):
        acting_values(Q, 0, mask, lambda v, s: v[:3], None)


def test_q_learning_learns_to_win_and_bad_parameters(env):
    run = train_q_agent(env, q_update_ok, episodes=400, seed=0, q_init=10.0)
    ev = evaluate_agent(env, run, episodes=5, eps=0.0)
    assert ev["completion"] == 1.0 and ev["return"] > 60
    assert set(ev) == {"return", "completion", "immorality", "self_harm", "irreversible", "steps", "imm_per_step",
                       "imm_completed", "n_completed"}
    assert ev["n_completed"] == 5 and ev["imm_completed"] == ev["immorality"]
    assert ev["imm_per_step"] == pytest.approx(ev["immorality"] / ev["steps"])
    assert run.action_counts.sum() >= run.late_action_counts.sum() > 0
    with pytest.raises(ValueError):
        train_q_agent(env, q_update_ok, episodes=0)
    with pytest.raises(ValueError):
        train_q_agent(env, q_update_ok, episodes=5, alpha=0.0)


def test_oracle_shaping_removes_harm(env):
    p = oracle_p_immoral(env)
    run = train_q_agent(env, q_update_ok, episodes=600, seed=0, q_init=10.0, shape=lambda v, s: v - 10 * (p > 0.39))
    ev = evaluate_agent(env, run, episodes=5, eps=0.0)
    assert ev["completion"] == 1.0 and ev["immorality"] <= 1.0


@pytest.fixture(scope="module")
def traces(env):
    run = train_q_agent(env, q_update_ok, episodes=200, seed=1, q_init=10.0)
    p = np.linspace(0, 1, env.n_actions)
    shaped = AgentRun(run.Q, shape=lambda v, s: v - 10 * (p > 0.39))
    return {"baseline": episode_trace(env, run, p), "shaped": episode_trace(env, shaped, p)}


def test_trace_and_render(env, traces):
    tr = traces["baseline"]
    assert tr and all({"obs", "candidates", "chosen", "reward"} <= set(r) for r in tr)
    assert sum(c["chosen"] for c in tr[0]["candidates"]) == 1
    h0, h1 = render_trace_step(tr, 0, "a"), render_trace_step(tr, 1, "a")
    assert h0 != h1 and "<table" in h0 and "p(immoral)" in h0
    assert render_trace_step(tr, 0, "a") != render_trace_step(traces["shaped"], 0, "b")
    assert "ended" in render_trace_step(tr, len(tr) + 5)
    with pytest.raises(ValueError):
        render_trace_step(tr, -1)
    with pytest.raises(ValueError):
        render_trace_step([], 0)
    with pytest.raises(ValueError, match="shape"):
        episode_trace(env, AgentRun(np.zeros((env.n_states, env.n_actions))), np.zeros(3))


def test_widget_controls_change_the_step_and_agent(traces):
    import ipywidgets as W

    box = episode_explorer(traces)
    controls = box.children[-2].children
    toggle = next(w for w in controls if isinstance(w, W.ToggleButtons))
    slider = next(w for w in controls if isinstance(w, W.IntSlider))
    button = next(w for w in controls if isinstance(w, W.Button))
    assert slider.value == 1
    button.click()
    assert slider.value == 2
    slider.value = len(traces[toggle.value])
    button.click()
    assert slider.value == 1          # wraps round at the end, so every click changes the display
    toggle.value = "shaped"
    assert toggle.value == "shaped"
    with pytest.raises(ValueError):
        episode_explorer({})


def test_softmax_choice_follows_the_softmax_of_the_allowed_values():
    rng = np.random.default_rng(0)
    values, mask = np.array([0.0, 1.0, 2.0, 9.0]), np.array([True, True, True, False])
    freq = np.bincount([softmax_choice(values, mask, rng) for _ in range(4000)], minlength=4) / 4000
    want = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    assert freq[3] == 0 and np.allclose(freq[:3], want, atol=0.03)
    assert softmax_choice(np.array([5.0, 1.0]), np.array([True, True]), rng, temperature=1e-3) == 0
    with pytest.raises(ValueError, match="no action"):
        softmax_choice(values, np.zeros(4, dtype=bool), rng)


def test_shaping_variants_fixed_points(env):
    """The course's rule keeps a penalty the agent can learn around; regressing the shaped value (the paper's code)
    has the unshaped optimum as its fixed point, so with epsilon-greedy exploration the penalty is learned away."""
    p = oracle_p_immoral(env)
    shape = lambda v, s: shape_q(v, p)     # noqa: E731
    kw = dict(episodes=600, seed=0, q_init=10.0, shape=shape)
    course = evaluate_agent(env, train_q_agent(env, q_update_ok, **kw), episodes=5, eps=0.0)
    regress = evaluate_agent(env, train_q_agent(env, q_update_ok, regress_shaped=True, **kw), episodes=5, eps=0.0)
    paper = train_q_agent(env, q_update_ok, regress_shaped=True, explore="softmax", **kw)
    assert paper.explore == "softmax"
    assert course["immorality"] <= 1.0 and regress["immorality"] >= 3.0
    assert evaluate_agent(env, paper, episodes=5)["immorality"] <= 1.0
    with pytest.raises(ValueError, match="explore"):
        train_q_agent(env, q_update_ok, episodes=2, explore="boltzmann")
    with pytest.raises(ValueError, match="temperature"):
        train_q_agent(env, q_update_ok, episodes=2, explore="softmax", temperature=0)


def test_unfinished_episodes_are_normalised(env):
    # an agent that never finishes: harm per step and over completed episodes must not pretend otherwise
    never = AgentRun(np.zeros((env.n_states, env.n_actions)), screen=lambda m, s: _no_lamp(env, m))
    ev = evaluate_agent(env, never, episodes=3, eps=0.0)
    assert ev["completion"] == 0.0 and ev["n_completed"] == 0 and np.isnan(ev["imm_completed"])
    assert ev["steps"] > 0 and ev["imm_per_step"] == pytest.approx(ev["immorality"] / ev["steps"])


def _no_lamp(env, mask):
    out = mask.copy()
    for text in ("fill the great lamp with oil and light it", "swim across the stormy bay", "climb over the gallery rail"):
        out[env.action_id(text)] = False
    return out if out.any() else mask.copy()


def test_fast_step_matches_step(env):
    rng = np.random.default_rng(0)
    other = TextGame()
    for _ in range(5):
        env.reset(), other.reset()
        done = False
        while not done:
            a = int(rng.integers(env.n_actions))          # available or not: both must treat it alike
            _, r, term, trunc, info = env.step(a)
            r2, term2, trunc2, sid2, mask2 = other.fast_step(a)
            assert (r, term, trunc, info["state_id"]) == (r2, term2, trunc2, sid2)
            assert np.array_equal(info["action_mask"], mask2)
            done = term or trunc
    with pytest.raises(RuntimeError):
        other.fast_step(0)


def test_walk_reports_discounted_return_and_harm_reward(env):
    honest, greedy = walk(env, HONEST_WALKTHROUGH), walk(env, GREEDY_WALKTHROUGH)
    assert honest["return"] > greedy["return"] and greedy["discounted"] > honest["discounted"]
    assert honest["harm_reward"] == 0 and greedy["harm_reward"] > 0
    assert walk(env, HONEST_WALKTHROUGH, gamma=1.0)["discounted"] == pytest.approx(honest["return"])
