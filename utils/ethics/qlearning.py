"""Tabular Q-learning for lesson 06, shared by the text game and the gridworld.

Any environment with this API works: ``n_states``, ``n_actions``, ``reset(seed=...)`` and ``step(action)``
returning ``info["state_id"]`` and ``info["action_mask"]`` (:class:`utils.ethics.textgame.TextGame` and
:class:`utils.ethics.gridworld.GrassWorld`). The learner writes the update rule (``q_update``) and the
conscience's shaping or screening; this module runs the epsilon-greedy loop around them.

What a learner reads here: :func:`train_q_agent` (where ``shape`` and ``screen`` enter), :func:`acting_values`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AgentRun", "greedy_choice", "acting_values", "train_q_agent", "evaluate_agent"]


# ---------------------------------------------------------------------------------------------
# Tabular Q-learning, shared by the text game and the gridworld (any env with this API:
# n_states, n_actions, reset() / step() returning info["state_id"] and info["action_mask"]).
# ---------------------------------------------------------------------------------------------

@dataclass
class AgentRun:
    """A trained agent: its Q-table and the per-episode training curve."""

    Q: np.ndarray
    returns: list[float] = field(default_factory=list)
    shape: Callable | None = None
    screen: Callable | None = None


def greedy_choice(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> int:
    """Argmax of ``values`` over the allowed actions, ties broken at random."""
    v = np.where(mask, values, -np.inf)
    a = int(v.argmax())
    if not mask[a]:
        raise ValueError("no action is allowed in this state")
    best = np.flatnonzero(v >= v[a] - 1e-9)
    return a if best.size == 1 else int(best[rng.integers(best.size)])


def acting_values(Q: np.ndarray, sid: int, mask: np.ndarray, shape, screen) -> tuple[np.ndarray, np.ndarray]:
    """The values the agent acts on in state ``sid`` and the actions it may take: ``Q[sid]`` after the
    conscience's ``shape(values, sid)``, and ``mask`` after ``screen(mask, sid)`` (each optional, validated)."""
    values = Q[sid].copy()
    if shape is not None:
        values = np.asarray(shape(values, sid), dtype=float)
        if values.shape != Q[sid].shape:
            raise ValueError(f"the shaping function returned shape {values.shape}, expected {Q[sid].shape}")
    if screen is not None:
        new = np.asarray(screen(mask.copy(), sid), dtype=bool)
        if new.shape != mask.shape:
            raise ValueError(f"the screening function returned shape {new.shape}, expected {mask.shape}")
        if not new.any():
            raise ValueError("the screening function removed every action; keep the original mask in that case")
        if (new & ~mask).any():
            raise ValueError("the screening function allowed an action that the game does not offer here")
        mask = new
    return values, mask


def train_q_agent(env, q_update: Callable, episodes: int = 400, seed: int = 0, alpha: float = 0.5,
                  gamma: float = 0.95, eps_start: float = 1.0, eps_end: float = 0.05,
                  shape: Callable | None = None, screen: Callable | None = None,
                  q_init: float = 0.0) -> AgentRun:
    """Epsilon-greedy tabular Q-learning with a learner-supplied ``q_update``.

    ``shape(values, state_id) -> values`` adjusts the full row of action values before the agent
    acts *and* inside the bootstrap target (as the Jiminy Cricket code does);
    ``screen(mask, state_id) -> mask`` removes actions before the agent picks. ``q_update(Q, s, a, r, q_next, terminated, alpha, gamma)``
    updates ``Q[s, a]`` in place; ``q_next`` holds the (shaped) values of the actions the agent may
    take in the next state.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not (0 < alpha <= 1 and 0 <= gamma <= 1):
        raise ValueError(f"need 0 < alpha <= 1 and 0 <= gamma <= 1, got alpha={alpha}, gamma={gamma}")
    rng = np.random.default_rng(seed)
    Q = np.full((env.n_states, env.n_actions), float(q_init))
    run = AgentRun(Q, shape=shape, screen=screen)
    for ep in range(episodes):
        eps = eps_end + (eps_start - eps_end) * max(0.0, 1 - ep / (0.7 * episodes))
        _, info = env.reset(seed=int(rng.integers(1 << 30)))
        s, mask = info["state_id"], info["action_mask"]
        values, mask = acting_values(Q, s, mask, shape, screen)
        total, done = 0.0, False
        coins = rng.random(getattr(env, "max_steps", 1000) + 1)
        t = 0
        while not done:
            if coins[t] < eps:
                allowed = np.flatnonzero(mask)
                a = int(allowed[rng.integers(allowed.size)])
            else:
                a = greedy_choice(values, mask, rng)
            t += 1
            _, r, terminated, truncated, info = env.step(a)
            total += r
            s2, mask2 = info["state_id"], info["action_mask"]
            if mask2.any():
                values2, mask2 = acting_values(Q, s2, mask2, shape, screen)
                q_next = values2[mask2]
            else:
                values2, q_next = None, np.zeros(0)
            q_update(Q, s, a, float(r), q_next, bool(terminated), alpha, gamma)
            if s2 == s and values2 is not None:   # a self-loop: act on the freshly updated row
                values2, mask2 = acting_values(Q, s2, info["action_mask"], shape, screen)
            done = terminated or truncated
            s, mask, values = s2, mask2, values2
        run.returns.append(total)
    return run


def evaluate_agent(env, run: AgentRun, episodes: int = 20, seed: int = 1000, eps: float = 0.05) -> dict:
    """Mean return, completion rate, immorality (harm to others) and harm to self over ``episodes``.

    The agent acts epsilon-greedily (``eps``) on its shaped/screened values; immorality sums the
    annotated degrees of the ``negative, others`` actions it took, from ``info["morality"]``.
    """
    rng = np.random.default_rng(seed)
    rets, comp, imm, self_harm, irrev = [], [], [], [], []
    for _ in range(episodes):
        _, info = env.reset(seed=int(rng.integers(1 << 30)))
        s, mask = info["state_id"], info["action_mask"]
        total = bad = harm_self = n_irrev = 0.0
        completed, done = False, False
        while not done:
            values, allowed = acting_values(run.Q, s, mask, run.shape, run.screen)
            if rng.random() < eps:
                a = int(rng.choice(np.flatnonzero(allowed)))
            else:
                a = greedy_choice(values, allowed, rng)
            _, r, terminated, truncated, info = env.step(a)
            total += r
            m = info.get("morality")
            if m is not None and m.valence == "negative":
                if m.target == "others":
                    bad += m.degree
                else:
                    harm_self += m.degree
            n_irrev += info.get("irreversible", 0)
            completed = completed or info.get("completed", False)
            s, mask = info["state_id"], info["action_mask"]
            done = terminated or truncated
        rets.append(total)
        comp.append(completed)
        imm.append(bad)
        self_harm.append(harm_self)
        irrev.append(n_irrev)
    return {"return": float(np.mean(rets)), "completion": float(np.mean(comp)),
            "immorality": float(np.mean(imm)), "self_harm": float(np.mean(self_harm)),
            "irreversible": float(np.mean(irrev))}
