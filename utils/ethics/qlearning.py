"""Tabular Q-learning for lesson 06, shared by the text game and the gridworld.

Any environment with this API works: ``n_states``, ``n_actions``, ``reset(seed=...)`` and ``step(action)``
returning ``info["state_id"]`` and ``info["action_mask"]`` (:class:`utils.ethics.textgame.TextGame` and
:class:`utils.ethics.gridworld.GrassWorld`). The learner writes the update rule (``q_update``) and the
conscience's shaping or screening; this module runs the loop around them, epsilon-greedy or softmax, with the
course's shaping rule or the Jiminy Cricket code's (``regress_shaped=True``). The trusted versions of the learner's
three functions are at the end of the module; the checks compare against them.

What a learner reads here: :func:`train_q_agent` (where ``shape`` and ``screen`` enter), :func:`acting_values`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AgentRun", "greedy_choice", "softmax_choice", "acting_values", "train_q_agent", "evaluate_agent",
           "q_update", "shape_q", "screen_actions"]


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
    explore: str = "epsilon"
    temperature: float = 1.0
    action_counts: np.ndarray | None = None       # how often each action was taken during training
    late_action_counts: np.ndarray | None = None  # the same, over the last 30% of episodes (exploration at its end)


def greedy_choice(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> int:
    """Argmax of ``values`` over the allowed actions, ties broken at random."""
    allowed = mask.nonzero()[0]
    if allowed.size == 0:
        raise ValueError("no action is allowed in this state")
    v = values[allowed].tolist()            # a handful of actions: plain Python is faster than NumPy here
    top = max(v) - 1e-9
    best = [int(a) for a, x in zip(allowed, v) if x >= top]
    return best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]


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


def softmax_choice(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                   temperature: float = 1.0) -> int:
    """Sample an allowed action with probability proportional to ``exp(values / temperature)`` (the
    Jiminy Cricket code acts this way: ``torch.multinomial(softmax(q_values))``, temperature 1)."""
    allowed = mask.nonzero()[0].tolist()
    if not allowed:
        raise ValueError("no action is allowed in this state")
    v = values[allowed].tolist()
    top = max(v)
    w = [math.exp((x - top) / temperature) for x in v]
    u, acc = rng.random() * sum(w), 0.0
    for a, x in zip(allowed, w):
        acc += x
        if u < acc:
            return a
    return allowed[-1]


def _choose(values, mask, rng, explore: str, eps: float, temperature: float, coin: float) -> int:
    if explore == "softmax":
        return softmax_choice(values, mask, rng, temperature)
    if coin < eps:
        allowed = np.flatnonzero(mask)
        return int(allowed[rng.integers(allowed.size)])
    return greedy_choice(values, mask, rng)


EXPLORE = ("epsilon", "softmax")


def train_q_agent(env, q_update: Callable, episodes: int = 400, seed: int = 0, alpha: float = 0.5,
                  gamma: float = 0.95, eps_start: float = 1.0, eps_end: float = 0.05,
                  shape: Callable | None = None, screen: Callable | None = None,
                  q_init: float = 0.0, regress_shaped: bool = False, explore: str = "epsilon",
                  temperature: float = 1.0) -> AgentRun:
    """Tabular Q-learning with a learner-supplied ``q_update``.

    ``shape(values, state_id) -> values`` adjusts the full row of action values before the agent
    acts *and* inside the bootstrap target: ``q_next`` holds the shaped values of the actions the
    agent may take in the next state. ``screen(mask, state_id) -> mask`` removes actions before the
    agent picks. ``q_update(Q, s, a, r, q_next, terminated, alpha, gamma)`` updates ``Q[s, a]`` in place.

    Two ways to learn with a shaped value, both used in lesson 06:

    - ``regress_shaped=False`` (the course's rule): the table keeps the raw value and moves it towards
      ``r + gamma * max(shaped next values)``. For an additive penalty ``w * c(a)`` this converges to the
      optimal values for the reward ``r - w * c(a)``, so the agent acts as if each flagged action cost ``w``.
    - ``regress_shaped=True`` (what the Jiminy Cricket code does): the *shaped* value of the action taken,
      ``Q[s, a] - w * c(a)``, is what moves towards the target. For a table this is the same update with the
      penalty added back to the reward, ``r + (Q[s, a] - shaped[a])``, which is how ``q_update`` is called.
      Its fixed point is the unshaped optimum: the penalty lasts only while flagged actions are rarely tried.

    ``explore="epsilon"``: epsilon-greedy, epsilon from ``eps_start`` to ``eps_end`` over the first 70% of
    episodes. ``explore="softmax"``: sample from ``softmax(values / temperature)`` (the paper's code, T = 1).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if not (0 < alpha <= 1 and 0 <= gamma <= 1):
        raise ValueError(f"need 0 < alpha <= 1 and 0 <= gamma <= 1, got alpha={alpha}, gamma={gamma}")
    if explore not in EXPLORE:
        raise ValueError(f"explore must be one of {EXPLORE}, got {explore!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    rng = np.random.default_rng(seed)
    Q = np.full((env.n_states, env.n_actions), float(q_init))
    run = AgentRun(Q, shape=shape, screen=screen, explore=explore, temperature=temperature,
                   action_counts=np.zeros(env.n_actions, dtype=int), late_action_counts=np.zeros(env.n_actions, dtype=int))
    late_from = int(math.ceil(0.7 * episodes))
    fast = getattr(env, "fast_step", None)     # the text game's step without text (same transitions)
    for ep in range(episodes):
        counts = run.late_action_counts if ep >= late_from else run.action_counts
        eps = eps_end + (eps_start - eps_end) * max(0.0, 1 - ep / (0.7 * episodes))
        _, info = env.reset(seed=int(rng.integers(1 << 30)))
        s, mask = info["state_id"], info["action_mask"]
        values, mask = acting_values(Q, s, mask, shape, screen)
        total, done = 0.0, False
        coins = rng.random(getattr(env, "max_steps", 1000) + 1)
        t = 0
        while not done:
            a = _choose(values, mask, rng, explore, eps, temperature, coins[t])
            counts[a] += 1
            t += 1
            if fast is not None:
                r, terminated, truncated, s2, raw_mask2 = fast(a)
            else:
                _, r, terminated, truncated, info = env.step(a)
                s2, raw_mask2 = info["state_id"], info["action_mask"]
            total += r
            mask2 = raw_mask2
            if mask2.any():
                values2, mask2 = acting_values(Q, s2, mask2, shape, screen)
                q_next = values2[mask2]
            else:
                values2, q_next = None, np.zeros(0)
            r_learn = float(r) + (float(Q[s, a] - values[a]) if regress_shaped else 0.0)
            q_update(Q, s, a, r_learn, q_next, bool(terminated), alpha, gamma)
            if s2 == s and values2 is not None:   # a self-loop: act on the freshly updated row
                values2, mask2 = acting_values(Q, s2, raw_mask2, shape, screen)
            done = terminated or truncated
            s, mask, values = s2, mask2, values2
        run.returns.append(total)
    run.action_counts += run.late_action_counts
    return run


def evaluate_agent(env, run: AgentRun, episodes: int = 20, seed: int = 1000, eps: float = 0.05) -> dict:
    """Mean return, completion rate, immorality (harm to others) and harm to self over ``episodes``.

    Immorality per episode grows with the episode's length, so an agent that never finishes (and wanders until the
    time limit) can pile it up; two normalised versions come with it: ``imm_per_step`` (total harm over total
    steps) and ``imm_completed`` (mean harm over the completed episodes only; NaN when none completed), with
    ``steps`` (mean episode length) and ``n_completed``.

    The agent acts on its shaped/screened values with the rule it was trained with: epsilon-greedy
    (``eps``) or, for ``run.explore == "softmax"``, softmax sampling at ``run.temperature``. Immorality
    sums the annotated degrees of the ``negative, others`` actions it took, from ``info["morality"]``.
    """
    rng = np.random.default_rng(seed)
    rets, comp, imm, self_harm, irrev, lengths = [], [], [], [], [], []
    for _ in range(episodes):
        _, info = env.reset(seed=int(rng.integers(1 << 30)))
        s, mask = info["state_id"], info["action_mask"]
        total = bad = harm_self = n_irrev = 0.0
        completed, done, n = False, False, 0
        while not done:
            n += 1
            values, allowed = acting_values(run.Q, s, mask, run.shape, run.screen)
            if run.explore == "softmax":
                a = softmax_choice(values, allowed, rng, run.temperature)
            elif rng.random() < eps:
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
        lengths.append(n)
    comp_arr, imm_arr = np.array(comp, dtype=bool), np.array(imm)
    return {"return": float(np.mean(rets)), "completion": float(np.mean(comp)),
            "immorality": float(np.mean(imm)), "self_harm": float(np.mean(self_harm)),
            "irreversible": float(np.mean(irrev)), "steps": float(np.mean(lengths)),
            "imm_per_step": float(imm_arr.sum() / np.sum(lengths)),
            "imm_completed": float(imm_arr[comp_arr].mean()) if comp_arr.any() else float("nan"),
            "n_completed": int(comp_arr.sum())}


# ---------------------------------------------------------------------------------------------
# The trusted versions of the lesson's first three exercises (the checks compare against these).
# ---------------------------------------------------------------------------------------------

def q_update(Q: np.ndarray, s: int, a: int, r: float, q_next, terminated: bool, alpha: float, gamma: float) -> float:
    """One Q-learning step, in place: move ``Q[s, a]`` a fraction ``alpha`` towards ``r`` (terminal, or no
    action next) or ``r + gamma * max(q_next)``; return the new ``Q[s, a]``."""
    q_next = np.asarray(q_next, dtype=float)
    target = r if (terminated or q_next.size == 0) else r + gamma * q_next.max()
    Q[s, a] += alpha * (target - Q[s, a])
    return float(Q[s, a])


def shape_q(q, p_immoral, penalty: float = 10.0, threshold: float = 0.39, soft: bool = False) -> np.ndarray:
    """Policy shaping: ``q - penalty * 1[p > threshold]`` (hard, the Jiminy Cricket rule) or ``q - penalty * p``
    (soft), for every action (the last axis of ``q``); a new array."""
    q = np.asarray(q, dtype=float)
    p = np.asarray(p_immoral, dtype=float)
    return q - penalty * (p if soft else (p > threshold).astype(float))


def screen_actions(mask, p_immoral, threshold: float = 0.39) -> np.ndarray:
    """Action screening: the available actions with ``p <= threshold``; the original mask if none is left."""
    mask = np.asarray(mask, dtype=bool)
    keep = mask & (np.asarray(p_immoral) <= threshold)
    return keep if keep.any() else mask.copy()
