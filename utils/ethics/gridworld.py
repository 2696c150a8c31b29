"""A gridworld with irreversible side effects, and a self-supervised reversibility estimate (lesson 06).

*Lawn*: the agent walks from S to G on a small grid; every step costs 1 and reaching G pays
``goal_reward``. A patch of grass lies across the short way. Stepping on intact grass tramples it,
and trampled grass never grows back within an episode: an **irreversible** event
(``info["irreversible"] == 1``). The shortest path tramples grass; a detour round the patch does not.

Following Grinsztajn et al. (2021), "There is no turning back", reversibility is learned without
labels from the temporal order of states in random trajectories: a model ``psi(x, y)`` estimates the
probability that state ``x`` came *before* state ``y``. If ``psi(s, s')`` is close to 1, the
transition ``s -> s'`` is rarely seen the other way round, so it is probably irreversible. We use
an antisymmetric model ``psi(x, y) = sigmoid(g(y) - g(x))`` with a learned "time potential" ``g``:
:func:`order_pairs` and :func:`fit_order_model` are the trusted versions of the lesson's two exercises. The
rejection threshold is chosen with :func:`choose_threshold` on ``VALIDATION_LAYOUT``, a second lawn, and only
then used on ``LAYOUT``.

API: the same as :class:`utils.ethics.textgame.TextGame` (``reset``/``step``, ``info["state_id"]``,
``info["action_mask"]``), so :func:`utils.ethics.qlearning.train_q_agent` trains agents on both.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["GrassWorld", "LAYOUT", "VALIDATION_LAYOUT", "random_trajectories", "OrderModel", "order_pairs",
           "fit_order_model", "pairs_from_walks", "choose_threshold", "transition_table", "moving_transitions",
           "path_lengths", "render_grid", "greedy_path"]

LAYOUT = (
    "S..gg..G",
    "...gg...",
    "...gg...",
    "........",
)
# A second lawn, used only to choose the rejection threshold (labels are read there, never on LAYOUT).
VALIDATION_LAYOUT = (
    "S..g...G",
    "...g....",
    "......g.",
    "..g...gg",
)
MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
MOVE_NAMES = ("up", "down", "left", "right")


class GrassWorld:
    """The lawn gridworld. Actions 0..3 = up, down, left, right; moving into the edge stays put."""

    def __init__(self, layout: Sequence[str] = LAYOUT, goal_reward: float = 20.0, step_cost: float = 1.0,
                 max_steps: int = 40):
        rows = [str(r) for r in layout]
        if not rows or len({len(r) for r in rows}) != 1:
            raise ValueError("layout must be a non-empty list of equally long strings")
        text = "".join(rows)
        if text.count("S") != 1 or text.count("G") != 1 or set(text) - set("SG.g"):
            raise ValueError("layout needs exactly one S and one G, and only the characters 'S', 'G', '.', 'g'")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.layout = tuple(rows)
        self.h, self.w = len(rows), len(rows[0])
        self.goal_reward, self.step_cost, self.max_steps = float(goal_reward), float(step_cost), int(max_steps)
        cells = [(r, c) for r in range(self.h) for c in range(self.w)]
        self.start_pos = next(p for p in cells if rows[p[0]][p[1]] == "S")
        self.goal_pos = next(p for p in cells if rows[p[0]][p[1]] == "G")
        self.grass = [p for p in cells if rows[p[0]][p[1]] == "g"]
        self._grass_index = {p: i for i, p in enumerate(self.grass)}
        self.n_actions = 4
        self.actions = MOVE_NAMES
        self.full = (1 << len(self.grass)) - 1          # bit i set = grass cell i still intact
        self._enumerate()
        self.n_states = len(self._states)
        self.feature_dim = self.h * self.w + len(self.grass)
        self._feats = np.stack([self._features(s) for s in self._state_list]).astype(np.float32)
        self._sid: int | None = None
        self._t = 0
        self._done = True

    # -- dynamics -------------------------------------------------------------------------------
    def _move(self, state: tuple, a: int) -> tuple[tuple, int]:
        (r, c), grass = state
        dr, dc = MOVES[a]
        nr, nc = min(max(r + dr, 0), self.h - 1), min(max(c + dc, 0), self.w - 1)
        trampled = 0
        i = self._grass_index.get((nr, nc))
        if i is not None and grass >> i & 1:
            grass &= ~(1 << i)
            trampled = 1
        return ((nr, nc), grass), trampled

    def _enumerate(self) -> None:
        starts = [((r, c), self.full) for r in range(self.h) for c in range(self.w)
                  if (r, c) != self.goal_pos and (r, c) not in self._grass_index]
        ids = {s: i for i, s in enumerate(starts)}
        order, queue, edges = list(starts), deque(starts), []
        while queue:
            s = queue.popleft()
            for a in range(4):   # goal states too: the data-collecting walker roams past G
                n, tr = self._move(s, a)
                if n not in ids:
                    ids[n] = len(order)
                    order.append(n)
                    queue.append(n)
                edges.append((ids[s], a, ids[n], tr))
        self._states, self._state_list = ids, order
        self._next = np.full((len(order), 4), -1, dtype=np.int64)
        self._trample = np.zeros((len(order), 4), dtype=np.int64)
        for s, a, n, tr in edges:
            self._next[s, a], self._trample[s, a] = n, tr
        self._masks = self._next >= 0
        self._masks.setflags(write=False)
        self._starts = np.array([ids[s] for s in starts])

    def _features(self, state: tuple) -> np.ndarray:
        (r, c), grass = state
        x = np.zeros(self.h * self.w + len(self.grass), dtype=np.float32)
        x[r * self.w + c] = 1.0
        for i in range(len(self.grass)):
            x[self.h * self.w + i] = grass >> i & 1
        return x

    # -- Gymnasium-style API --------------------------------------------------------------------
    def reset(self, seed: int | None = None, random_start: bool = False) -> tuple[np.ndarray, dict]:
        """Start at S with all grass intact (``random_start=True``: a random grass-free cell, for data)."""
        if random_start:
            rng = np.random.default_rng(seed)
            self._sid = int(self._starts[rng.integers(len(self._starts))])
        else:
            self._sid = self._states[(self.start_pos, self.full)]
        self._t, self._done = 0, False
        return self._feats[self._sid].copy(), self._info(0)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._sid is None:
            raise RuntimeError("call env.reset() before env.step()")
        if self._done:
            raise RuntimeError("the episode has ended; call env.reset() to start a new one")
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise TypeError(f"an action is an int 0..3 ({', '.join(MOVE_NAMES)}), got {action!r}")
        if not 0 <= int(action) < 4:
            raise ValueError(f"action must be 0..3 ({', '.join(MOVE_NAMES)}), got {action}")
        a = int(action)
        trampled = int(self._trample[self._sid, a])
        self._sid = int(self._next[self._sid, a])
        self._t += 1
        terminated = self._state_list[self._sid][0] == self.goal_pos
        reward = -self.step_cost + (self.goal_reward if terminated else 0.0)
        truncated = (not terminated) and self._t >= self.max_steps
        self._done = terminated or truncated
        info = self._info(trampled)
        info["completed"] = terminated
        return self._feats[self._sid].copy(), reward, terminated, truncated, info

    def _info(self, trampled: int) -> dict:
        return {"state_id": self._sid, "action_mask": self._masks[self._sid], "irreversible": trampled,
                "completed": False, "t": self._t}

    # -- helpers --------------------------------------------------------------------------------
    def features(self, state_ids) -> np.ndarray:
        """Feature vectors (one-hot position, then 1 per intact grass cell) of the given state ids."""
        ids = np.asarray(state_ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_states):
            raise ValueError(f"state ids must be in 0..{self.n_states - 1}")
        return self._feats[ids].copy()

    def peek(self, state_id: int, action: int) -> int:
        """The state id that ``action`` leads to from ``state_id`` (a one-step model of the world)."""
        return int(self._next[int(state_id), int(action)])

    def state(self, state_id: int) -> tuple:
        return self._state_list[int(state_id)]


def random_trajectories(env: GrassWorld, n: int, length: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random-action trajectories of ``length`` steps from random grass-free starts.

    The walker plays freely: it does not stop at G (reaching the goal ends an *episode*, but it is
    not a side effect we want the estimate to learn). Returns a list of arrays of shape
    (length + 1, env.feature_dim): the features of the visited states, in order.
    """
    if n < 1 or length < 1:
        raise ValueError(f"need n >= 1 and length >= 1, got n={n}, length={length}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sid = int(env._starts[rng.integers(len(env._starts))])
        ids = [sid]
        for a in rng.integers(0, 4, size=length):
            sid = int(env._next[sid, a])
            ids.append(sid)
        out.append(env._feats[ids].copy())
    return out


class OrderModel(nn.Module):
    """psi(x, y) = sigmoid(g(y) - g(x)): the probability that state x came before state y."""

    def __init__(self, dim: int, hidden: int = 0):
        super().__init__()
        self.g = nn.Linear(dim, 1) if hidden == 0 else nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def logit(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.g(y) - self.g(x)).squeeze(-1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit(x, y))

    @torch.no_grad()
    def psi(self, x, y) -> np.ndarray:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        y = torch.as_tensor(np.asarray(y, dtype=np.float32))
        return self(x, y).numpy()


def order_pairs(traj, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Temporal-order pairs of one trajectory ``traj`` (T, d): for every i < j <= i + window, the pair both
    ways, ``(traj[i], traj[j], 1.0)`` and ``(traj[j], traj[i], 0.0)``. Returns ``first``, ``second`` (N, d)
    and ``labels`` (N,) (the trusted version of the lesson's exercise)."""
    traj = np.asarray(traj)
    if traj.ndim != 2:
        raise ValueError(f"traj must have shape (T, d), got {traj.shape}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    T = len(traj)
    I = [i for i in range(T) for j in range(i + 1, min(T, i + window + 1))]
    J = [j for i in range(T) for j in range(i + 1, min(T, i + window + 1))]
    first = np.concatenate([traj[I], traj[J]]).reshape(-1, traj.shape[1])
    second = np.concatenate([traj[J], traj[I]]).reshape(-1, traj.shape[1])
    return first, second, np.concatenate([np.ones(len(I)), np.zeros(len(I))])


def fit_order_model(first, second, labels, steps: int = 150, lr: float = 0.05, seed: int = 0,
                    hidden: int = 0) -> tuple[OrderModel, list[float]]:
    """Fit :class:`OrderModel` on (first, second, label) pairs: ``torch.manual_seed(seed)``, then the model,
    then ``steps`` full-batch Adam steps (learning rate ``lr``) on the mean binary cross-entropy between
    ``model.logit(first, second)`` and the labels. Returns the model and the loss before each step
    (the trusted version of the lesson's exercise)."""
    first = torch.as_tensor(np.asarray(first, dtype=np.float32))
    second = torch.as_tensor(np.asarray(second, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(labels, dtype=np.float32))
    if first.ndim != 2 or first.shape != second.shape or labels.shape != (first.shape[0],):
        raise ValueError(f"need first, second of shape (N, d) and labels (N,); got {tuple(first.shape)}, "
                         f"{tuple(second.shape)}, {tuple(labels.shape)}")
    if first.shape[0] == 0:
        raise ValueError("no training pairs")
    torch.manual_seed(seed)
    model = OrderModel(first.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.binary_cross_entropy_with_logits(model.logit(first, second), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model, losses


def pairs_from_walks(env: GrassWorld, n: int = 150, length: int = 30, window: int = 8, seed: int = 0,
                     make_pairs=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random walks (:func:`random_trajectories`) turned into temporal-order pairs, all walks concatenated.
    ``make_pairs(traj, window)`` defaults to :func:`order_pairs`."""
    make_pairs = make_pairs or order_pairs
    parts = [make_pairs(t, window) for t in random_trajectories(env, n=n, length=length, seed=seed)]
    return tuple(np.concatenate([np.asarray(p[k]) for p in parts]) for k in range(3))


def choose_threshold(psi: np.ndarray, irreversible: np.ndarray) -> float:
    """The rejection threshold that best separates irreversible from other transitions on *labelled* data
    (maximum balanced accuracy of ``psi > threshold``; among equally good thresholds, the middle of the
    widest gap between neighbouring scores). Choose it on one world, use it on another."""
    psi, irreversible = np.asarray(psi, dtype=float).ravel(), np.asarray(irreversible, dtype=bool).ravel()
    if psi.shape != irreversible.shape or irreversible.all() or not irreversible.any():
        raise ValueError("need psi and labels of the same shape, with both classes present")
    s = np.unique(psi)
    cands = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    tpr = np.array([(psi[irreversible] > c).mean() for c in cands])
    tnr = np.array([(psi[~irreversible] <= c).mean() for c in cands])
    bal = (tpr + tnr) / 2
    best = np.flatnonzero(bal >= bal.max() - 1e-12)
    gaps = np.concatenate([[0.0], np.diff(s), [0.0]])[best]     # width of the gap each candidate sits in
    return float(cands[best[int(np.argmax(gaps))]])


def transition_table(env: GrassWorld, model: OrderModel) -> tuple[np.ndarray, np.ndarray]:
    """psi(s, s') for every state and action (n_states, 4), and whether each move tramples grass."""
    nxt = env._next
    psi = model.psi(np.repeat(env._feats, 4, axis=0), env._feats[nxt.reshape(-1)]).reshape(env.n_states, 4)
    return psi, env._trample.astype(bool)


def moving_transitions(env: GrassWorld) -> np.ndarray:
    """(n_states, 4) booleans: True where the action changes the state (False: walking into the edge)."""
    return env._next != np.arange(env.n_states)[:, None]


def path_lengths(env: GrassWorld) -> dict[str, int]:
    """Shortest number of steps from S to G on the intact lawn (``shortest``), the fewest grass cells any
    shortest path tramples (``trampled``), and the shortest path that tramples nothing (``detour``; -1 if none)."""
    def bfs(avoid_grass: bool) -> tuple[int, int]:
        best = {env.start_pos: (0, 0)}
        queue = deque([env.start_pos])
        while queue:
            r, c = queue.popleft()
            d, g = best[(r, c)]
            for dr, dc in MOVES:
                n = (min(max(r + dr, 0), env.h - 1), min(max(c + dc, 0), env.w - 1))
                grass = n in env._grass_index
                if avoid_grass and grass:
                    continue
                cand = (d + 1, g + grass)
                if n not in best or cand < best[n]:
                    best[n] = cand
                    queue.append(n)
        return best.get(env.goal_pos, (-1, -1))
    shortest, trampled = bfs(False)
    detour, _ = bfs(True)
    return {"shortest": shortest, "trampled": trampled, "detour": detour}


def render_grid(env: GrassWorld, state_id: int | None = None, ax=None, title: str = ""):
    """Draw the lawn: intact grass green, trampled grass brown, S, G and the agent."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    sid = env._states[(env.start_pos, env.full)] if state_id is None else int(state_id)
    (ar, ac), grass = env.state(sid)
    img = np.zeros((env.h, env.w))
    for i, (r, c) in enumerate(env.grass):
        img[r, c] = 1 if grass >> i & 1 else 2
    if ax is None:
        _, ax = plt.subplots(figsize=(0.5 * env.w + 0.4, 0.5 * env.h + 0.4))
    ax.imshow(img, cmap=ListedColormap(["#f4f1e8", "#4caf50", "#a1887f"]), vmin=0, vmax=2)
    ax.text(env.start_pos[1], env.start_pos[0], "S", ha="center", va="center", fontsize=11)
    ax.text(env.goal_pos[1], env.goal_pos[0], "G", ha="center", va="center", fontsize=11, fontweight="bold")
    ax.plot([ac], [ar], "o", color="#1f77b4", markersize=10)
    ax.set_xticks(np.arange(-0.5, env.w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, env.h, 1), minor=True)
    ax.grid(which="minor", color="#999", linewidth=0.5)
    ax.grid(which="major", visible=False)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def greedy_path(env: GrassWorld, run, max_steps: int | None = None) -> list[int]:
    """The state ids a trained agent visits when it acts greedily (its shaping/screening applied).
    ``env.state(i)[0]`` is the cell of state ``i``; the last id shows which grass was trampled."""
    from utils.ethics.qlearning import acting_values, greedy_choice

    rng = np.random.default_rng(0)
    _, info = env.reset()
    ids = [info["state_id"]]
    done, t = False, 0
    while not done and t < (max_steps or env.max_steps):
        s = info["state_id"]
        values, allowed = acting_values(run.Q, s, info["action_mask"], run.shape, run.screen)
        _, _, term, trunc, info = env.step(greedy_choice(values, allowed, rng))
        ids.append(info["state_id"])
        done, t = term or trunc, t + 1
    return ids
