"""Lesson 02: a simulation of dynamic adversarial data collection (DADC).

The question (Wallace et al., Findings of ACL 2022): if we keep collecting examples that break the model and
retrain, how fast does the model get better, and is that better than collecting ordinary examples?

The world
---------
``PhenomenaTask``: a binary task made of many "phenomena" (think: negation, sarcasm, numbers, rare idioms ...).
Each phenomenon ``c`` has its own region of input space (a signature vector ``s_c``) and its own labelling rule
(a direction ``w_c`` for the two content features ``u``): ``x = [s_c + noise, u]``, ``y = 1[w_c . u > 0]``. Knowing
one phenomenon's rule says nothing about another's, so a model must see examples of each.
The natural stream is skewed: phenomenon ``c`` (1-based rank) turns up with probability proportional to
``1 / c**alpha``, so a few phenomena dominate and most are rare. Annotators who write examples "from their
heads" draw from this same skewed stream (``task.propose``). The expert-curated test set covers every
phenomenon equally (``task.expert_set``), which is what "works reliably" means here.

The loop
--------
Round 0 trains on ``n_initial`` natural examples. Each later round adds ``budget`` labelled examples and
retrains from scratch, under one of three strategies:

* ``non-adversarial``: the annotator's first ``budget`` proposals, no model in the loop;
* ``static adversarial``: examples that fool the round-0 model;
* ``dynamic adversarial``: examples that fool the latest model.

An adversarial annotator gets ``tries`` attempts per example; if none fools the model they submit the last
one, so every strategy adds exactly ``budget`` examples per round (equal annotation cost).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batch", "PhenomenaTask", "MLPModel", "fit_model", "run_collection",
           "compare_strategies", "STRATEGIES", "round_gains", "plot_collection", "summarise_curves"]

STRATEGIES = ("non-adversarial", "static adversarial", "dynamic adversarial")


@dataclass
class Batch:
    """Labelled examples: ``x`` (n, d) float32, ``y`` (n,) int64 true labels, ``phenomenon`` (n,) int64."""

    x: np.ndarray
    y: np.ndarray
    phenomenon: np.ndarray

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float32)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.phenomenon = np.asarray(self.phenomenon, dtype=np.int64)
        if self.x.ndim != 2 or self.y.ndim != 1 or self.phenomenon.ndim != 1:
            raise ValueError(f"Batch needs x of shape (n, d) and 1-D y and phenomenon; got shapes "
                             f"{self.x.shape}, {self.y.shape}, {self.phenomenon.shape}")
        if not len(self.x) == len(self.y) == len(self.phenomenon):
            raise ValueError(f"Batch parts differ in length: {len(self.x)}, {len(self.y)}, {len(self.phenomenon)}")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx) -> Batch:
        return Batch(self.x[idx], self.y[idx], self.phenomenon[idx])

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        return Batch(np.concatenate([b.x for b in batches]), np.concatenate([b.y for b in batches]),
                     np.concatenate([b.phenomenon for b in batches]))


def _gen(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


class PhenomenaTask:
    """The ground-truth task: ``n_phenomena`` phenomena, a skewed natural stream and an expert test set."""

    def __init__(self, n_phenomena: int = 40, alpha: float = 1.2, d_signature: int = 8,
                 signature_scale: float = 2.0, noise: float = 0.3, seed: int = 0):
        if n_phenomena < 2:
            raise ValueError("n_phenomena must be >= 2")
        if alpha < 0:
            raise ValueError("alpha must be >= 0 (0 = every phenomenon equally common)")
        rng = np.random.default_rng([seed, 7])
        self.n_phenomena, self.alpha, self.noise, self.seed = n_phenomena, alpha, noise, seed
        self.signatures = rng.normal(size=(n_phenomena, d_signature)) * signature_scale
        angles = rng.uniform(0, 2 * np.pi, n_phenomena)
        self.rules = np.stack([np.cos(angles), np.sin(angles)], 1)
        p = 1.0 / np.arange(1, n_phenomena + 1) ** alpha
        self.frequencies = p / p.sum()

    @property
    def dim(self) -> int:
        return self.signatures.shape[1] + 2

    def label(self, x: np.ndarray, phenomenon: np.ndarray) -> np.ndarray:
        """The true label of each example (the rule of its phenomenon applied to its content features)."""
        x = np.asarray(x)
        u = x[:, -2:]
        return (np.einsum("nd,nd->n", u, self.rules[np.asarray(phenomenon)]) > 0).astype(np.int64)

    def sample(self, n: int, rng, phenomena: np.ndarray | None = None) -> Batch:
        """``n`` examples from the natural stream, or of the given ``phenomena`` (one id per example)."""
        rng = _gen(rng)
        if n < 0:
            raise ValueError("n must be >= 0")
        c = rng.choice(self.n_phenomena, n, p=self.frequencies) if phenomena is None else np.asarray(phenomena)
        if len(c) != n:
            raise ValueError(f"{n} examples but {len(c)} phenomenon ids")
        u = rng.normal(size=(n, 2))
        x = np.concatenate([self.signatures[c] + self.noise * rng.normal(size=(n, self.signatures.shape[1])), u], 1)
        x = x.astype(np.float32)
        return Batch(x, self.label(x, c), c)

    def propose(self, n: int, rng) -> Batch:
        """What an annotator writes when asked for ``n`` examples: draws from the skewed natural stream."""
        return self.sample(n, rng)

    def expert_set(self, per_phenomenon: int = 25, seed: int = 12345) -> Batch:
        """The expert-curated test set: ``per_phenomenon`` examples of every phenomenon."""
        c = np.repeat(np.arange(self.n_phenomena), per_phenomenon)
        return self.sample(len(c), np.random.default_rng([self.seed, seed]), phenomena=c)

    def __repr__(self) -> str:
        top = self.frequencies[:3].sum()
        return (f"PhenomenaTask({self.n_phenomena} phenomena, alpha={self.alpha}: the 3 commonest make "
                f"{top:.0%} of the stream, the rarest {self.frequencies[-1]:.2%})")


class MLPModel:
    """A one-hidden-layer ReLU MLP in NumPy with a plain interface: ``predict(x) -> labels``.

    NumPy rather than torch because the simulation retrains it over a hundred times on a few hundred points,
    where torch's per-operation overhead would dominate; the maths is the same as ``nn.Sequential(Linear, ReLU,
    Linear)`` trained with Adam on cross-entropy.
    """

    def __init__(self, params: dict[str, np.ndarray]):
        self.params = params

    def logits(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        return np.maximum(x @ p["W1"] + p["b1"], 0.0) @ p["W2"] + p["b2"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"predict needs a non-empty (n, d) array, got shape {x.shape}")
        return self.logits(x).argmax(1)

    def error(self, data: Batch) -> float:
        return float((self.predict(data.x) != data.y).mean())


def fit_model(data: Batch, seed: int = 0, hidden: int = 64, steps: int = 150, lr: float = 0.02) -> MLPModel:
    """Train a fresh one-hidden-layer MLP on ``data`` with full-batch Adam (a few milliseconds)."""
    if len(data) == 0:
        raise ValueError("fit_model needs at least one example")
    rng = np.random.default_rng([seed, 3])
    x = data.x.astype(np.float64)
    n, d = x.shape
    onehot = np.eye(2)[data.y]
    lim1, lim2 = 1 / np.sqrt(d), 1 / np.sqrt(hidden)   # torch.nn.Linear's default initialisation
    p = {"W1": rng.uniform(-lim1, lim1, (d, hidden)), "b1": rng.uniform(-lim1, lim1, hidden),
         "W2": rng.uniform(-lim2, lim2, (hidden, 2)), "b2": rng.uniform(-lim2, lim2, 2)}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        h_pre = x @ p["W1"] + p["b1"]
        h = np.maximum(h_pre, 0.0)
        z = h @ p["W2"] + p["b2"]
        z = z - z.max(1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(1, keepdims=True)
        dz = (prob - onehot) / n                      # gradient of the mean cross-entropy
        dh = (dz @ p["W2"].T) * (h_pre > 0)
        grads = {"W2": h.T @ dz, "b2": dz.sum(0), "W1": x.T @ dh, "b1": dh.sum(0)}
        for k, g in grads.items():
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g * g
            p[k] -= lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    return MLPModel(p)


def non_adversarial(task: PhenomenaTask, model, budget: int, tries: int, rng) -> Batch:
    """The annotator's first ``budget`` proposals; ``model`` and ``tries`` are ignored (no model in the loop)."""
    return task.propose(budget, rng)


Annotator = Callable[[PhenomenaTask, object, int, int, np.random.Generator], Batch]


@dataclass
class CollectionRun:
    """One strategy on one seed: expert-set and natural-stream error after each round (round 0 first)."""

    strategy: str
    seed: int
    expert_error: list[float] = field(default_factory=list)
    natural_error: list[float] = field(default_factory=list)
    fooled: list[float] = field(default_factory=list)          # share of each round's examples that fooled the model it targeted
    collected: Batch | None = None                            # everything added after round 0


def run_collection(strategy: str, annotator: Annotator, seed: int = 0, rounds: int = 12, n_initial: int = 200,
                   budget: int = 60, tries: int = 10, task_kwargs: dict | None = None,
                   fit_kwargs: dict | None = None) -> CollectionRun:
    """Simulate ``rounds`` rounds of data collection with one strategy (see the module docstring).

    ``annotator(task, model, budget, tries, rng) -> Batch`` collects the examples of one round for the two
    adversarial strategies; ``non-adversarial`` always uses :func:`non_adversarial`. Same ``seed`` = same task,
    same initial data and same test sets for every strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if rounds < 1 or budget < 1 or tries < 1 or n_initial < 1:
        raise ValueError("rounds, budget, tries and n_initial must be >= 1")
    task = PhenomenaTask(seed=seed, **(task_kwargs or {}))
    fit_kwargs = fit_kwargs or {}
    expert = task.expert_set()
    natural = task.sample(1000, np.random.default_rng([seed, 99]))
    data = task.sample(n_initial, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])
    model = fit_model(data, seed=seed, **fit_kwargs)
    model0 = model
    run = CollectionRun(strategy, seed, [model.error(expert)], [model.error(natural)])
    added = []
    for _ in range(rounds):
        if strategy == "non-adversarial":
            target, new = model, non_adversarial(task, model, budget, tries, rng)
        else:
            target = model0 if strategy == "static adversarial" else model
            new = annotator(task, target, budget, tries, rng)
        if not isinstance(new, Batch) or len(new) != budget:
            raise ValueError(f"the annotator must return a Batch of {budget} examples, got "
                             f"{type(new).__name__} of length {len(new) if hasattr(new, '__len__') else '?'}")
        run.fooled.append(float((target.predict(new.x) != new.y).mean()))
        added.append(new)
        data = Batch.concat([data, new])
        model = fit_model(data, seed=seed, **fit_kwargs)
        run.expert_error.append(model.error(expert))
        run.natural_error.append(model.error(natural))
    run.collected = Batch.concat(added)
    return run


def compare_strategies(annotator: Annotator, seeds: Sequence[int] = (0, 1, 2), **kwargs) -> dict[str, list[CollectionRun]]:
    """``run_collection`` for every strategy and seed: {strategy: [run per seed]}."""
    return {s: [run_collection(s, annotator, seed=seed, **kwargs) for seed in seeds] for s in STRATEGIES}


def _curves(runs: Sequence[CollectionRun], what: str) -> np.ndarray:
    return np.array([getattr(r, what) for r in runs])


def round_gains(errors: Sequence[float]) -> np.ndarray:
    """Error reduction of each round: ``errors[r-1] - errors[r]`` for r = 1..R."""
    e = np.asarray(errors, dtype=float)
    if e.ndim != 1 or len(e) < 2:
        raise ValueError("round_gains needs a 1-D sequence of at least two errors")
    return e[:-1] - e[1:]


def summarise_curves(results: dict[str, list[CollectionRun]], what: str = "expert_error") -> list[tuple]:
    """Rows (strategy, error at round 0, final mean, final std over seeds, mean gain of rounds 1-3,
    mean gain of the last 5 rounds)."""
    rows = []
    for name, runs in results.items():
        e = _curves(runs, what)
        m = e.mean(0)
        g = round_gains(m)
        rows.append((name, float(m[0]), float(m[-1]), float(e[:, -1].std()), float(g[:3].mean()), float(g[-5:].mean())))
    return rows


def plot_collection(results: dict[str, list[CollectionRun]], what: str = "expert_error", ax=None, title: str = ""):
    """Mean error per round with a band of +/- one standard deviation over seeds; returns the axes."""
    from utils.plotting import plot_curves

    first = next(iter(results.values()))
    rounds = list(range(len(getattr(first[0], what))))
    means = {k: _curves(v, what).mean(0) for k, v in results.items()}
    spread = {k: _curves(v, what).std(0) for k, v in results.items()}
    ax = plot_curves(rounds, means, xlabel="round", ylabel="error", spread=spread, ax=ax,
                     title=title or f"{what.replace('_', ' ')} (mean +/- sd over {len(first)} seeds)")
    return ax
