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
retrains from scratch on everything collected so far (:func:`collection_rounds`), under one of three strategies:

* ``non-adversarial``: the annotator's first ``budget`` proposals, no model in the loop;
* ``static adversarial``: examples that fool the round-0 model;
* ``dynamic adversarial``: examples that fool the latest model.

An adversarial annotator (:func:`dynamic_annotator`) gets ``tries`` attempts per example; if none fools the model
they submit the last one, so every strategy adds exactly ``budget`` labelled examples per round (equal numbers of
labelled examples; the adversarial annotator writes up to ``tries`` times more candidates).

The control
-----------
``ORACLE``, the data-matched oracle: non-adversarial collection by an annotator who knows every phenomenon and
covers them evenly (:class:`EvenCoverage`), the same number of examples per round. It separates what adversarial
collection buys by steering examples towards the model's errors from what covering every phenomenon buys.

Where the simulation departs from the paper
-------------------------------------------
An adversarial example here is a natural example that the target model happens to get wrong: same distribution,
correct label, nothing harder about it. Real adversarial examples are written to be hard and differ from ordinary
ones (Wallace et al. find them more difficult and more diverse). The simulation therefore favours adversarial
collection from the first round, where the paper finds non-adversarial collection more effective in the short term.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batch", "PhenomenaTask", "MLPModel", "fit_model", "dynamic_annotator", "collection_rounds",
           "EvenCoverage", "ORACLE", "run_collection", "compare_strategies", "plenty_error", "phenomenon_errors",
           "phenomenon_table", "STRATEGIES", "round_gains", "plot_collection", "summarise_curves"]

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

    NumPy rather than torch because the simulation retrains it well over a hundred times on a few hundred points,
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
    """Train a fresh one-hidden-layer MLP on ``data`` with full-batch Adam (a few milliseconds).

    The four parameter arrays are views into one flat vector, so that each Adam update is a handful of NumPy calls
    rather than one set per array (the same arithmetic, element by element)."""
    if len(data) == 0:
        raise ValueError("fit_model needs at least one example")
    rng = np.random.default_rng([seed, 3])
    x = data.x.astype(np.float64)
    n, d = x.shape
    onehot = np.eye(2)[data.y]
    lim1, lim2 = 1 / np.sqrt(d), 1 / np.sqrt(hidden)   # torch.nn.Linear's default initialisation
    init = {"W1": rng.uniform(-lim1, lim1, (d, hidden)), "b1": rng.uniform(-lim1, lim1, hidden),
            "W2": rng.uniform(-lim2, lim2, (hidden, 2)), "b2": rng.uniform(-lim2, lim2, 2)}
    sizes = np.cumsum([0] + [a.size for a in init.values()])
    flat, gflat = np.empty(sizes[-1]), np.empty(sizes[-1])

    def views(buf):
        return {k: buf[a:b].reshape(v.shape) for (k, v), a, b in zip(init.items(), sizes[:-1], sizes[1:])}

    p, g = views(flat), views(gflat)
    for k, v in init.items():
        p[k][...] = v
    m, v = np.zeros_like(flat), np.zeros_like(flat)
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
        np.matmul(h.T, dz, out=g["W2"])
        np.sum(dz, axis=0, out=g["b2"])
        np.matmul(x.T, dh, out=g["W1"])
        np.sum(dh, axis=0, out=g["b1"])
        m = b1 * m + (1 - b1) * gflat
        v = b2 * v + (1 - b2) * gflat * gflat
        flat -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return MLPModel({k: a.copy() for k, a in p.items()})


def dynamic_annotator(task, model, budget: int, tries: int, rng) -> Batch:
    """An adversarial annotator: for each of ``budget`` slots, up to ``tries`` proposals from ``task.propose``; it
    submits the first one that ``model`` gets wrong, or the last one if none does. Labels are the proposals' true
    labels. Draws exactly ``budget * tries`` proposals. (Exercise 3 of the lesson; the course's trusted version.)"""
    if budget < 1 or tries < 1:
        raise ValueError(f"budget and tries must be >= 1, got budget={budget}, tries={tries}")
    cands = task.propose(budget * tries, rng)
    wrong = (np.asarray(model.predict(cands.x)) != cands.y).reshape(budget, tries)
    pick = np.where(wrong.any(1), wrong.argmax(1), tries - 1)   # first fooling try, else the last try
    return cands[np.arange(budget) * tries + pick]


Annotator = Callable[[PhenomenaTask, object, int, int, np.random.Generator], Batch]


def _checked_round(new, budget: int) -> Batch:
    if not isinstance(new, Batch) or len(new) != budget:
        raise ValueError(f"the annotator must return a Batch of {budget} examples, got "
                         f"{type(new).__name__} of length {len(new) if hasattr(new, '__len__') else '?'}")
    return new


def collection_rounds(task, strategy: str, annotator: Annotator, data: Batch, fit: Callable[[Batch], object],
                      rounds: int, budget: int, tries: int, rng) -> tuple[list, list[Batch]]:
    """The round loop of data collection (Exercise 4 of the lesson; the course's trusted version).

    Round 0 fits a model on ``data``. Each of ``rounds`` rounds collects ``budget`` new labelled examples, adds them
    to everything collected so far and fits a fresh model on the whole set with ``fit(data) -> model``. Which model
    the annotator attacks is the whole difference between the strategies:

    * ``non-adversarial``: no model in the loop: ``task.propose(budget, rng)``;
    * ``static adversarial``: ``annotator(task, models[0], budget, tries, rng)``, the round-0 model every round;
    * ``dynamic adversarial``: ``annotator(task, models[-1], budget, tries, rng)``, the latest model.

    Returns ``(models, added)``: ``models[r]`` is the model after round ``r`` (``models[0]`` the round-0 model, so
    ``rounds + 1`` models) and ``added[r - 1]`` the batch collected in round ``r``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if rounds < 0 or budget < 1 or tries < 1:
        raise ValueError("rounds must be >= 0, budget and tries >= 1")
    models, added = [fit(data)], []
    for _ in range(rounds):
        if strategy == "non-adversarial":
            new = task.propose(budget, rng)
        else:
            target = models[0] if strategy == "static adversarial" else models[-1]
            new = annotator(task, target, budget, tries, rng)
        added.append(_checked_round(new, budget))
        data = Batch.concat([data, new])
        models.append(fit(data))
    return models, added


class EvenCoverage:
    """An annotator who knows every phenomenon and writes examples of each in turn, with no model in the loop.

    Used as the proposer of ``non-adversarial`` collection it gives the **data-matched oracle**: the same number of
    examples per round as every strategy, spread evenly over all phenomena. No real annotator can do this (nobody
    has the list of phenomena); it measures what coverage alone buys."""

    def __init__(self, task: PhenomenaTask):
        self.task, self._next = task, 0

    def propose(self, n: int, rng) -> Batch:
        c = (self._next + np.arange(n)) % self.task.n_phenomena
        self._next += n
        return self.task.sample(n, rng, phenomena=c)

    def __getattr__(self, name):
        return getattr(self.task, name)


ORACLE = "data-matched oracle"


@dataclass
class CollectionRun:
    """One strategy on one seed: expert-set and natural-stream error after each round (round 0 first)."""

    strategy: str
    seed: int
    expert_error: list[float] = field(default_factory=list)
    natural_error: list[float] = field(default_factory=list)
    fooled: list[float] = field(default_factory=list)          # share of each round's examples that fooled the model it targeted
    collected: Batch | None = None                            # everything added after round 0
    phenomenon_error: np.ndarray | None = None                # final model's expert-set error per phenomenon
    train_counts: np.ndarray | None = None                    # final training set: examples per phenomenon


def phenomenon_errors(model, data: Batch, n_phenomena: int) -> np.ndarray:
    """Error of ``model`` on the examples of each phenomenon in ``data`` (NaN where a phenomenon has none)."""
    wrong = (np.asarray(model.predict(data.x)) != data.y).astype(float)
    n = np.bincount(data.phenomenon, minlength=n_phenomena)
    s = np.bincount(data.phenomenon, weights=wrong, minlength=n_phenomena)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def run_collection(strategy: str, annotator: Annotator = dynamic_annotator, seed: int = 0, rounds: int = 12,
                   n_initial: int = 200, budget: int = 60, tries: int = 10, task_kwargs: dict | None = None,
                   fit_kwargs: dict | None = None, loop: Callable = collection_rounds) -> CollectionRun:
    """Simulate ``rounds`` rounds of data collection with one strategy (see the module docstring), or the
    data-matched oracle (``strategy=ORACLE``).

    ``annotator(task, model, budget, tries, rng) -> Batch`` collects the examples of one round for the two
    adversarial strategies; ``loop`` is the round loop (:func:`collection_rounds`). Same ``seed`` = same task,
    same initial data and same test sets for every strategy.
    """
    if strategy not in (*STRATEGIES, ORACLE):
        raise ValueError(f"strategy must be one of {(*STRATEGIES, ORACLE)}, got {strategy!r}")
    if rounds < 1 or budget < 1 or tries < 1 or n_initial < 1:
        raise ValueError("rounds, budget, tries and n_initial must be >= 1")
    task = PhenomenaTask(seed=seed, **(task_kwargs or {}))
    fit_kwargs = fit_kwargs or {}
    expert = task.expert_set()
    natural = task.sample(1000, np.random.default_rng([seed, 99]))
    data = task.sample(n_initial, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])
    proposer = EvenCoverage(task) if strategy == ORACLE else task
    loop_strategy = "non-adversarial" if strategy == ORACLE else strategy
    models, added = loop(proposer, loop_strategy, annotator, data, lambda d: fit_model(d, seed=seed, **fit_kwargs),
                         rounds, budget, tries, rng)
    if len(models) != rounds + 1 or len(added) != rounds:
        raise ValueError(f"the loop must return {rounds + 1} models and {rounds} batches, got {len(models)} and "
                         f"{len(added)}")
    run = CollectionRun(strategy, seed, [m.error(expert) for m in models], [m.error(natural) for m in models])
    for r, new in enumerate(added, start=1):
        target = models[0] if strategy == "static adversarial" else models[r - 1]
        run.fooled.append(float((target.predict(new.x) != new.y).mean()))
    run.collected = Batch.concat(added)
    run.phenomenon_error = phenomenon_errors(models[-1], expert, task.n_phenomena)
    run.train_counts = np.bincount(np.concatenate([data.phenomenon, run.collected.phenomenon]),
                                   minlength=task.n_phenomena)
    return run


def compare_strategies(annotator: Annotator = dynamic_annotator, seeds: Sequence[int] = (0, 1, 2),
                       oracle: bool = False, **kwargs) -> dict[str, list[CollectionRun]]:
    """``run_collection`` for every strategy (and the data-matched oracle if ``oracle``) and seed:
    {strategy: [run per seed]}."""
    names = (*STRATEGIES, ORACLE) if oracle else STRATEGIES
    return {s: [run_collection(s, annotator, seed=seed, **kwargs) for seed in seeds] for s in names}


def plenty_error(seeds: Sequence[int] = (0, 1, 2), per_phenomenon: int = 100, task_kwargs: dict | None = None,
                 fit_kwargs: dict | None = None) -> np.ndarray:
    """Expert-set error per seed of the same model trained on plenty of data: ``per_phenomenon`` examples of every
    phenomenon (4000 by default, over four times what any strategy collects). It tells how low this model, trained
    this way, can go on the task at all."""
    out = []
    for seed in seeds:
        task = PhenomenaTask(seed=seed, **(task_kwargs or {}))
        c = np.repeat(np.arange(task.n_phenomena), per_phenomenon)
        data = task.sample(len(c), np.random.default_rng([seed, 5]), phenomena=c)
        out.append(fit_model(data, seed=seed, **(fit_kwargs or {})).error(task.expert_set()))
    return np.array(out)


def _curves(runs: Sequence[CollectionRun], what: str) -> np.ndarray:
    return np.array([getattr(r, what) for r in runs])


def round_gains(errors: Sequence[float]) -> np.ndarray:
    """Error reduction of each round: ``errors[r-1] - errors[r]`` for r = 1..R."""
    e = np.asarray(errors, dtype=float)
    if e.ndim != 1 or len(e) < 2:
        raise ValueError("round_gains needs a 1-D sequence of at least two errors")
    return e[:-1] - e[1:]


def summarise_curves(results: dict[str, list[CollectionRun]], what: str = "expert_error", early: int = 3,
                     late: int = 5) -> list[tuple]:
    """Rows (strategy, error at round 0, final mean, final sd, mean gain per round over rounds 1..``early``, its sd,
    mean gain per round over the last ``late`` rounds, its sd); sds are over seeds."""
    rows = []
    for name, runs in results.items():
        e = _curves(runs, what)
        g = np.array([round_gains(row) for row in e])
        g_early, g_late = g[:, :early].mean(1), g[:, -late:].mean(1)
        rows.append((name, float(e[:, 0].mean()), float(e[:, -1].mean()), float(e[:, -1].std()),
                     float(g_early.mean()), float(g_early.std()), float(g_late.mean()), float(g_late.std())))
    return rows


def phenomenon_table(results: dict[str, list[CollectionRun]], frequencies: np.ndarray,
                     bins: Sequence[tuple[int, int]] = ((1, 3), (4, 10), (11, 20), (21, 40))):
    """Per bin of phenomena (by frequency rank, 1 = commonest): its share of the natural stream, and for each
    strategy the mean number of training examples per phenomenon in the final training set and the final model's
    mean expert-set error on those phenomena (both averaged over seeds).

    Returns ``(labels, shares, {strategy: (examples per bin, error per bin)})``."""
    frequencies = np.asarray(frequencies, dtype=float)
    n = len(frequencies)
    if any(not 1 <= a <= b <= n for a, b in bins):
        raise ValueError(f"bins must be rank ranges within 1..{n}, got {list(bins)}")
    labels = [f"{a}-{b}" if a != b else f"{a}" for a, b in bins]
    shares = [float(frequencies[a - 1:b].sum()) for a, b in bins]
    table = {}
    for name, runs in results.items():
        counts = np.mean([r.train_counts for r in runs], axis=0)
        errs = np.mean([r.phenomenon_error for r in runs], axis=0)
        table[name] = ([float(counts[a - 1:b].mean()) for a, b in bins], [float(errs[a - 1:b].mean()) for a, b in bins])
    return labels, shares, table


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
