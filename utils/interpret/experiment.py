"""Lesson 05 helpers: reading units, feature-visualisation plumbing, 2AFC trials and observers,
confidence intervals, and the 2AFC game for the learner. The attribution sanity check is in
:mod:`utils.interpret.saliency`.

A *unit* here is one channel of a convolutional layer, read as the spatial mean of its feature map
(the "channel objective" of Olah et al. 2017). ``features`` is the part of the network up to that
layer, e.g. ``model[:3]`` of :func:`utils.models.small_cnn` (conv, ReLU, conv: the second conv
block *before* its ReLU, so that weak activations are graded instead of tied at zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from utils.images import validate_images

__all__ = [
    "PUBLISHED",
    "REFERENCE_TYPES",
    "CentreCrop",
    "CentreUnits",
    "centre_units",
    "n_units",
    "channel_means",
    "unit_activations",
    "all_activations",
    "total_variation",
    "jitter",
    "percentile_ranks",
    "WINDOW",
    "visualise",
    "natural_exemplars",
    "build_trials",
    "similarity_scores",
    "choose",
    "embedder",
    "ink_prior",
    "ink_correlation",
    "Trial",
    "run_experiment",
    "summarise",
    "wilson_interval",
    "bootstrap_ci",
    "paired_difference",
    "verdict",
    "exemplar_figure",
    "accuracy_figure",
    "GameTrial",
    "TwoAFCGame",
    "make_game_trials",
    "render_trial",
    "game_widget",
]

# Published human results, quoted (not measured here): accuracy in %, +/- as reported in the abstracts
# (Borowski et al., ICLR 2021; Zimmermann et al., arXiv 2106.12447 v3 = the NeurIPS 2021 version). Chance is 50% in
# both tasks. Zimmermann et al. also report "other visualizations (such as e.g. dataset samples)" at 66 +/- 3% to
# 67 +/- 3%: a range over several alternative reference types, not a figure for dataset samples alone.
PUBLISHED = {
    "Borowski et al. 2021 (ICLR), which query activates more": {"natural": (92, 2), "synthetic": (82, 4)},
    "Zimmermann et al. 2021 (NeurIPS), which occlusion changes the unit more": {"synthetic": (68, 4), "none": (60, 3)},
}

REFERENCE_TYPES = ("natural", "synthetic", "none")


# ---------------------------------------------------------------------------------------------
# Units and activations
# ---------------------------------------------------------------------------------------------

class CentreCrop(nn.Module):
    """Keep the central ``size`` x ``size`` positions of feature maps (N, C, H, W)."""

    def __init__(self, size: int = 2):
        super().__init__()
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if self.size > min(h, w):
            raise ValueError(f"cannot crop {self.size}x{self.size} from feature maps of {h}x{w}")
        top, left = (h - self.size) // 2, (w - self.size) // 2
        return x[..., top:top + self.size, left:left + self.size]

    def extra_repr(self) -> str:
        return f"size={self.size}"


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity)


def _local_layers(features: nn.Module) -> list[nn.Module] | None:
    """The layers of ``features`` in order if every one is a same-padded, stride-1 convolution or an elementwise
    activation (then the centre of the output depends on a small central window of the input only), else None."""
    mods = list(features) if isinstance(features, nn.Sequential) else [features]
    flat: list[nn.Module] = []
    for m in mods:
        if isinstance(m, nn.Sequential):
            inner = _local_layers(m)
            if inner is None:
                return None
            flat += inner
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            if not (kh == kw and kh % 2 == 1 and m.stride == (1, 1) and m.dilation == (1, 1)
                    and m.padding == (kh // 2, kw // 2) and m.padding_mode == "zeros"):
                return None
            flat.append(m)
        elif isinstance(m, _ELEMENTWISE):
            flat.append(m)
        else:
            return None
    return flat


class CentreUnits(nn.Sequential):
    """``features`` followed by :class:`CentreCrop` (``self[0]``, ``self[1]``).

    When ``features`` is a stack of same-padded convolutions and elementwise activations (like ``small_cnn()[:3]``),
    the central outputs depend only on a central window of the input, the *receptive field*
    (:attr:`receptive_field` pixels wide): the forward pass then computes on that window alone, which gives the same
    numbers with a fraction of the work (the second conv of ``small_cnn`` would otherwise compute 64 positions to
    keep 4). Other ``features`` run whole and are cropped.
    """

    def __init__(self, features: nn.Module, size: int = 2):
        super().__init__(features, CentreCrop(size))
        self._local = _local_layers(features)

    @property
    def receptive_field(self) -> int | None:
        """Width in pixels of the input window that the central outputs depend on (None if not known)."""
        if self._local is None:
            return None
        return self[1].size + sum(m.kernel_size[0] - 1 for m in self._local if isinstance(m, nn.Conv2d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self[1].size
        if self._local is not None and x.dim() == 4:
            margin = (self.receptive_field - size) // 2
            h, w = x.shape[-2:]
            top, left = (h - size) // 2, (w - size) // 2
            if top >= margin and left >= margin and top + size + margin <= h and left + size + margin <= w:
                z = x[..., top - margin:top + size + margin, left - margin:left + size + margin]
                for m in self._local:
                    z = nn.functional.conv2d(z, m.weight, m.bias, groups=m.groups) if isinstance(m, nn.Conv2d) \
                        else m(z)
                return z
        return self[1](self[0](x))


def centre_units(features: nn.Module, size: int = 2) -> CentreUnits:
    """``features`` read at the image centre only: each channel's central ``size`` x ``size`` positions (a "neuron" in
    Olah et al.'s terms) instead of its average over the whole image. See :class:`CentreUnits`."""
    return CentreUnits(features, size)


def _check_images(x: torch.Tensor, where: str) -> None:
    validate_images(x, f"{where}: images", dims=(4,), min_size=1, value_range=None)


def n_units(features: nn.Module, image_shape: Sequence[int] = (1, 8, 8)) -> int:
    """How many channels (units) ``features`` outputs for images of ``image_shape``."""
    p = next(features.parameters(), None)
    probe = torch.zeros(1, *image_shape, device=p.device if p is not None else "cpu")
    with torch.no_grad():
        out = features(probe)
    if out.dim() != 4:
        raise ValueError(f"features must return feature maps (N, C, H, W), got shape {tuple(out.shape)}")
    return int(out.shape[1])


def check_units(units, n: int) -> torch.Tensor:
    """``units`` (an int, a sequence or a tensor of ints) as a 1-D long tensor; a unit outside
    ``0 .. n-1`` raises an ``IndexError`` that names the valid range."""
    if isinstance(units, bool) or (isinstance(units, torch.Tensor) and units.dtype == torch.bool):
        raise TypeError("units must be integers (channel numbers), not booleans")
    t = torch.as_tensor(units)
    if t.is_floating_point() or t.is_complex():
        raise TypeError(f"units must be integers (channel numbers), got {t.dtype}")
    t = t.reshape(-1).long()
    bad = t[(t < 0) | (t >= n)]
    if len(bad):
        raise IndexError(f"unit {int(bad[0])} does not exist: this layer has {n} channels, "
                         f"so valid units are 0 to {n - 1}")
    return t


def channel_means(features: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Spatial mean of every channel: ``features(x)`` (N, C, H', W') -> (N, C). Keeps the graph."""
    _check_images(x, "channel_means")
    out = features(x)
    if out.dim() != 4:
        raise ValueError(f"features must return feature maps (N, C, H, W), got shape {tuple(out.shape)}")
    return out.mean(dim=(2, 3))


def unit_activations(features: nn.Module, x: torch.Tensor, units) -> torch.Tensor:
    """Activation of ``units[i]`` on image ``x[i]``, shape (N,); an int unit is used for every image.

    Keeps the autograd graph, so it can be maximised. A unit that does not exist raises an
    ``IndexError`` naming the valid range.
    """
    acts = channel_means(features, x)
    u = check_units(units, acts.shape[1]).to(acts.device)
    if len(u) == 1:
        u = u.expand(len(x))
    if len(u) != len(x):
        raise ValueError(f"got {len(u)} units for {len(x)} images: pass one unit, or one per image")
    return acts[torch.arange(len(x), device=acts.device), u]


@torch.no_grad()
def all_activations(features: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Every unit on every image, (N, C), without gradients (features put in eval mode)."""
    _check_images(x, "all_activations")
    was = features.training
    features.eval()
    out = torch.cat([channel_means(features, x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    features.train(was)
    return out


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Per-image total variation, (N,): mean absolute difference between neighbouring pixels."""
    _check_images(x, "total_variation")
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def jitter(x: torch.Tensor, max_shift: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift the batch by a random offset of up to ``max_shift`` pixels in each direction
    (edge pixels repeated). Differentiable; one offset per call."""
    _check_images(x, "jitter")
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0:
        return x
    s = int(max_shift)
    dy, dx = (int(v) for v in torch.randint(0, 2 * s + 1, (2,), generator=generator))
    padded = nn.functional.pad(x, (s, s, s, s), mode="replicate")
    return padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


def percentile_ranks(values: torch.Tensor) -> torch.Tensor:
    """Percentile rank of each entry of a 1-D tensor: 0 for the smallest, 100 for the largest."""
    if values.dim() != 1 or len(values) < 2:
        raise ValueError(f"need a 1-D tensor with at least 2 values, got shape {tuple(values.shape)}")
    order = torch.argsort(values, stable=True)
    ranks = torch.empty(len(values), dtype=torch.float64)
    ranks[order] = torch.arange(len(values), dtype=torch.float64)
    return 100.0 * ranks / (len(values) - 1)


# ---------------------------------------------------------------------------------------------
# The course's trusted implementations of Exercises 1-4 (the checks compare the learner's code with these)
# ---------------------------------------------------------------------------------------------

WINDOW = 5.0  # half-width of a query's percentile window in the 2AFC trials, in percentile points


def visualise(features: nn.Module, units, direction: int = 1, steps: int = 150, lr: float = 0.1,
              tv_weight: float = 0.05, max_shift: int = 1, seed: int = 0,
              shape: Sequence[int] = (1, 8, 8)) -> torch.Tensor:
    """Activation maximisation (Exercise 1): image ``i`` pushes unit ``units[i]`` in ``direction``.

    A bounded parameterisation (the unit always sees ``sigmoid(p)``), jitter during the first half of the steps,
    and a total-variation penalty; Adam on ``p``. Returns (n, *shape) images in (0, 1), detached.
    """
    units = check_units(units, n_units(features, shape))
    g = torch.Generator().manual_seed(seed)
    p = (0.1 * torch.randn(len(units), *shape, generator=g)).requires_grad_()
    opt = torch.optim.Adam([p], lr=lr)
    for step in range(steps):
        x = torch.sigmoid(p)
        seen = jitter(x, max_shift, g) if step < steps // 2 else x
        act = unit_activations(features, seen, units)
        loss = -(direction * act).sum() + tv_weight * total_variation(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.sigmoid(p).detach()


def natural_exemplars(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 2: for activations (N, U), the indices of each unit's k most activating images, strongest first,
    and of its k least activating, weakest first: two long tensors (U, k)."""
    if acts.dim() != 2 or not 1 <= k <= len(acts):
        raise ValueError(f"need acts (N, U) and 1 <= k <= N, got shape {tuple(acts.shape)} and k={k}")
    top = torch.argsort(acts, dim=0, descending=True, stable=True)[:k].T.contiguous()
    bottom = torch.argsort(acts, dim=0, stable=True)[:k].T.contiguous()
    return top, bottom


def build_trials(query_acts: torch.Tensor, gap: float, n_trials: int, generator: torch.Generator | None = None,
                 width: float = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 3: ``n_trials`` 2AFC query pairs for one unit. The strong query is drawn from the images whose
    percentile rank lies within ``width`` of 50 + gap/2, the weak one within ``width`` of 50 - gap/2, and a fair
    coin per trial puts the strong one first or second. Returns (queries (n, 2) long, answer (n,) long), where
    ``answer`` is the position of the strong query. Every random number comes from ``generator``."""
    ranks = percentile_ranks(query_acts)

    def draw(centre: float) -> torch.Tensor:
        pool = torch.nonzero((ranks - centre).abs() <= width).flatten()
        if len(pool) == 0:
            raise ValueError(f"no query image within {width} percentile points of {centre}")
        return pool[torch.randint(len(pool), (n_trials,), generator=generator)]

    strong, weak = draw(50 + gap / 2), draw(50 - gap / 2)
    answer = torch.randint(0, 2, (n_trials,), generator=generator)
    queries = torch.where(answer[:, None] == 0, torch.stack([strong, weak], 1), torch.stack([weak, strong], 1))
    return queries, answer


def similarity_scores(ref_max: torch.Tensor, ref_min: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Each query's mean cosine similarity to ``ref_max`` minus its mean cosine similarity to ``ref_min``, (2,)."""
    for name, v in (("ref_max", ref_max), ("ref_min", ref_min), ("queries", queries)):
        if not isinstance(v, torch.Tensor) or v.dim() != 2:
            raise ValueError(f"{name} must be a 2-D tensor of embeddings, got {getattr(v, 'shape', type(v).__name__)}")
    if len(queries) != 2:
        raise ValueError(f"a 2AFC trial has exactly 2 queries (A and B), got {len(queries)}")
    if len(ref_max) == 0 or len(ref_min) == 0:
        raise ValueError("need at least one max and one min reference")
    if not ref_max.shape[1] == ref_min.shape[1] == queries.shape[1]:
        raise ValueError(f"references and queries must share the embedding size D: ref_max {tuple(ref_max.shape)}, "
                         f"ref_min {tuple(ref_min.shape)}, queries {tuple(queries.shape)}")
    def mean_cos(refs: torch.Tensor) -> torch.Tensor:
        return nn.functional.cosine_similarity(queries[:, None, :], refs[None, :, :], dim=-1).mean(1)
    return mean_cos(ref_max) - mean_cos(ref_min)


def choose(ref_max: torch.Tensor, ref_min: torch.Tensor, queries: torch.Tensor) -> int:
    """Exercise 4, the similarity observer: 0 if query A scores at least as high as query B
    (:func:`similarity_scores`), else 1. Ties go to A."""
    score = similarity_scores(ref_max, ref_min, queries)
    return int(score[1] > score[0])


# ---------------------------------------------------------------------------------------------
# Observers' inputs
# ---------------------------------------------------------------------------------------------

def embedder(model: nn.Module | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function images -> (N, D) feature vectors for an automated observer.

    ``None`` gives pixel space; a model gives its output (pass the layers you want, e.g. an MLP's
    hidden part ``mlp_model[:-1]``). The model must not be the network under study.
    """
    @torch.no_grad()
    def embed(x: torch.Tensor) -> torch.Tensor:
        _check_images(x, "embed")
        if model is None:
            return x.flatten(1).float()
        was = model.training
        model.eval()
        out = model(x).flatten(1)
        model.train(was)
        return out
    return embed


def ink_correlation(acts: torch.Tensor, images: torch.Tensor) -> np.ndarray:
    """Pearson correlation of each unit's activation (N, U) with the images' mean intensity, (U,)."""
    a = np.asarray(acts.detach().cpu(), dtype=float)
    ink = np.asarray(ink_prior(images).cpu(), dtype=float)
    if a.ndim != 2 or len(a) != len(ink):
        raise ValueError(f"acts must be (N, U) for the N images, got {a.shape} for {len(ink)} images")
    a = a - a.mean(0)
    ink = ink - ink.mean()
    den = np.sqrt((a ** 2).sum(0) * (ink ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * ink[:, None]).sum(0) / den, 0.0)


def ink_prior(x: torch.Tensor) -> torch.Tensor:
    """The no-reference observer's prior: mean pixel intensity ("more ink, more activation"), (N,)."""
    _check_images(x, "ink_prior")
    return x.flatten(1).mean(1)


# ---------------------------------------------------------------------------------------------
# The 2AFC experiment
# ---------------------------------------------------------------------------------------------

@dataclass
class Trial:
    """One 2AFC trial. ``queries`` index the query pool; ``answer`` (0 or 1) is the experimenter's key:
    the position of the strongly activating query. Observers never see ``answer``."""

    unit: int
    gap: float
    queries: tuple[int, int]
    answer: int


def _as_long_pair_tensors(out, n_trials: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("build_trials must return a tuple (queries, answer)")
    q, a = (torch.as_tensor(v) for v in out)
    if q.shape != (n_trials, 2) or a.shape != (n_trials,):
        raise ValueError(f"build_trials returned shapes {tuple(q.shape)} and {tuple(a.shape)}, "
                         f"expected ({n_trials}, 2) and ({n_trials},)")
    return q.long(), a.long()


def run_experiment(
    build_trials: Callable,
    choose: Callable,
    query_acts: torch.Tensor,
    query_images: torch.Tensor,
    references: dict[str, dict[str, torch.Tensor]],
    embedders: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    gaps: Sequence[float] = (90, 50, 20),
    n_trials: int = 10,
    seed: int = 0,
    prior: Callable[[torch.Tensor], torch.Tensor] = ink_prior,
    tag=None,
) -> list[dict]:
    """Run the whole 2AFC experiment and return one record per (observer, reference type, trial).

    ``query_acts`` (N, U): every unit on every query image (the answer key; only ``build_trials``
    sees it). ``references[kind] = {"max": (U, k, C, H, W), "min": (U, k, C, H, W)}`` for kind in
    ("natural", "synthetic"). For each unit and gap, ``build_trials(query_acts[:, u], gap, n_trials,
    generator)`` draws the query pairs once; the *same* pairs are then judged with every kind of
    reference and by every observer, so differences between conditions come from the references.
    ``choose(ref_max, ref_min, queries) -> 0 or 1`` judges embeddings; with no references the
    observer picks the query with the larger ``prior``.
    """
    if query_acts.dim() != 2 or len(query_acts) != len(query_images):
        raise ValueError("query_acts must be (N, U) with one row per query image")
    n_units_ = query_acts.shape[1]
    for kind, refs in references.items():
        for key in ("max", "min"):
            if key not in refs or refs[key].shape[0] != n_units_:
                raise ValueError(f"references[{kind!r}][{key!r}] must be (U={n_units_}, k, C, H, W)")
    gen = torch.Generator().manual_seed(seed)
    trials: list[Trial] = []
    for u in range(n_units_):
        for gap in gaps:
            q, a = _as_long_pair_tensors(build_trials(query_acts[:, u].clone(), gap, n_trials, gen), n_trials)
            trials += [Trial(u, float(gap), (int(q[i, 0]), int(q[i, 1])), int(a[i])) for i in range(n_trials)]
    prior_scores = prior(query_images)
    records = []
    for obs_name, embed in embedders.items():
        q_emb = embed(query_images)
        ref_emb = {kind: {key: embed(r[key].flatten(0, 1)).reshape(*r[key].shape[:2], -1) for key in ("max", "min")}
                   for kind, r in references.items()}
        for t in trials:
            i, j = t.queries
            for kind in (*references, "none"):
                if kind == "none":
                    choice = int(prior_scores[j] > prior_scores[i])
                else:
                    choice = int(choose(ref_emb[kind]["max"][t.unit], ref_emb[kind]["min"][t.unit],
                                        q_emb[[i, j]]))
                records.append({"observer": obs_name, "reference": kind, "gap": t.gap, "unit": t.unit,
                                "tag": tag, "answer": t.answer, "correct": choice == t.answer})
    return records


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (95% for z=1.96)."""
    if n <= 0:
        raise ValueError("wilson_interval needs n >= 1 trials")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n={n}, got {k}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_ci(correct, clusters=None, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval for an accuracy. With ``clusters`` (one label per trial) whole
    clusters are resampled: trials of the same unit share references, so they are not independent."""
    c = np.asarray(correct, dtype=float)
    if c.ndim != 1 or len(c) == 0:
        raise ValueError("correct must be a non-empty 1-D sequence of booleans")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    labels = np.arange(len(c)) if clusters is None else np.asarray(clusters)
    if labels.ndim != 1 or len(labels) != len(c):
        raise ValueError(f"clusters must hold one label per trial: got shape {labels.shape} for {len(c)} trials")
    _, inv = np.unique(labels, return_inverse=True)
    inv = inv.reshape(-1)
    sums = np.bincount(inv, weights=c)
    counts = np.bincount(inv).astype(float)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    accs = sums[pick].sum(1) / counts[pick].sum(1)
    a = (1 - level) / 2
    return float(np.quantile(accs, a)), float(np.quantile(accs, 1 - a))


def summarise(records: list[dict], by: Sequence[str] = ("observer", "reference", "gap"),
              cluster: Sequence[str] = ("tag", "unit"), n_boot: int = 2000) -> list[dict]:
    """Accuracy per group of ``records`` with a 95% cluster-bootstrap interval (clusters = ``cluster``)."""
    if not records:
        raise ValueError("no records to summarise")
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    rows = []
    for key, rs in groups.items():
        correct = [r["correct"] for r in rs]
        ids: dict[tuple, int] = {}
        labels = [ids.setdefault(tuple(r[c] for c in cluster), len(ids)) for r in rs]
        lo, hi = bootstrap_ci(correct, labels, n_boot=n_boot)
        rows.append({**dict(zip(by, key)), "n": len(rs), "acc": float(np.mean(correct)), "lo": lo, "hi": hi})
    return rows


def paired_difference(records: list[dict], better: str, worse: str, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0, unit_key: Sequence[str] = ("tag", "unit")) -> tuple[float, float, float]:
    """Accuracy of reference condition ``better`` minus that of ``worse`` on the same trials, with a paired
    percentile-bootstrap interval that resamples whole units: ``(difference, lo, hi)``.

    ``records`` are the records of one observer and one difficulty. Both conditions judged the same query pairs, so
    each unit contributes its two accuracies together; resampling units keeps that pairing (comparing the two
    conditions' separate intervals would ignore it and overstate the uncertainty of the difference)."""
    per: dict[str, dict[tuple, list[bool]]] = {better: {}, worse: {}}
    for r in records:
        if r["reference"] in per:
            per[r["reference"]].setdefault(tuple(r[k] for k in unit_key), []).append(bool(r["correct"]))
    units = sorted(per[better])
    if not units or sorted(per[worse]) != units:
        raise ValueError(f"conditions {better!r} and {worse!r} must be measured on the same units")
    sums = np.array([[sum(per[c][u]) for u in units] for c in (better, worse)], dtype=float)
    counts = np.array([len(per[better][u]) for u in units], dtype=float)
    if any(len(per[worse][u]) != len(per[better][u]) for u in units):
        raise ValueError("the two conditions must judge the same trials of every unit")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(units), size=(n_boot, len(units)))
    diffs = (sums[0][pick].sum(1) - sums[1][pick].sum(1)) / counts[pick].sum(1)
    a = (1 - level) / 2
    return (float((sums[0].sum() - sums[1].sum()) / counts.sum()), float(np.quantile(diffs, a)),
            float(np.quantile(diffs, 1 - a)))


def verdict(natural: tuple[float, float, float], synthetic: tuple[float, float, float],
            none: tuple[float, float, float]) -> str:
    """One sentence comparing measured (acc, lo, hi) triples with the human ordering natural > synthetic > none."""
    def order(a, b, name_a, name_b):
        if a[1] > b[2]:
            return f"{name_a} > {name_b}"
        if b[1] > a[2]:
            return f"{name_b} > {name_a}"
        return f"{name_a} ~ {name_b} (intervals overlap)"
    ns, sn = order(natural, synthetic, "natural", "synthetic"), order(synthetic, none, "synthetic", "none")
    human_ns, human_sn = "natural > synthetic", "synthetic > none"
    match = [ns == human_ns, sn == human_sn]
    if all(match):
        tail = "the same ordering as the human studies"
    elif any(match):
        tail = "only partly the ordering of the human studies (" + (human_ns if match[0] else human_sn) + " holds)"
    else:
        tail = "not the ordering of the human studies (natural > synthetic > none)"
    return f"{ns}; {sn}: {tail}."


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

def _mosaic(images: torch.Tensor, ncols: int = 3, pad: int = 1) -> np.ndarray:
    """Tile (k, 1, H, W) images into one array with a white gap between tiles."""
    imgs = images.detach().cpu()[:, 0].numpy()
    k, h, w = imgs.shape
    nrows = (k + ncols - 1) // ncols
    out = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad))
    for i in range(k):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = imgs[i]
    return out


def exemplar_figure(units: Sequence[int], synthetic_max: torch.Tensor, synthetic_min: torch.Tensor,
                    natural_max: torch.Tensor, natural_min: torch.Tensor, n_show: int = 4):
    """One row per unit: its synthetic max / min images, then top and bottom natural exemplars.

    ``synthetic_*`` are (U, 1, H, W) (one image per unit); ``natural_*`` are (U, k, 1, H, W).
    """
    import matplotlib.pyplot as plt

    units = list(units)
    fig, axes = plt.subplots(len(units), 4, figsize=(7.2, 1.25 * len(units) + 0.5), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, n_show, n_show]})
    titles = ["synthetic\nmax", "synthetic\nmin", f"top {n_show} natural", f"bottom {n_show} natural"]
    for r, u in enumerate(units):
        panels = [synthetic_max[r][0].cpu().numpy(), synthetic_min[r][0].cpu().numpy(),
                  _mosaic(natural_max[r][:n_show], ncols=n_show), _mosaic(natural_min[r][:n_show], ncols=n_show)]
        for c, img in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        axes[r, 0].set_ylabel(f"unit {u}", fontsize=9)
    fig.tight_layout()
    return fig


def accuracy_figure(rows: list[dict], observers: Sequence[str], gap_names: dict[float, str] | None = None):
    """Accuracy vs difficulty per reference type, one panel per observer, with interval bars, chance,
    and the published human accuracies (Borowski et al. 2021, extreme queries) as stars on the left."""
    import matplotlib.pyplot as plt

    from utils.plotting import PALETTE

    observers = list(observers)
    gaps = sorted({r["gap"] for r in rows}, reverse=True)
    names = gap_names or {}
    human = PUBLISHED["Borowski et al. 2021 (ICLR), which query activates more"]
    fig, axes = plt.subplots(1, len(observers), figsize=(4.4 * len(observers), 3.5), sharey=True, squeeze=False)
    for ax, obs in zip(axes[0], observers):
        mine = [r for r in rows if r["observer"] == obs]
        for ci, kind in enumerate(REFERENCE_TYPES):
            pts = {r["gap"]: r for r in mine if r["reference"] == kind}
            gs = [g for g in gaps if g in pts]
            xs = [gaps.index(g) + (ci - 1) * 0.1 for g in gs]
            acc = np.array([pts[g]["acc"] for g in gs]) * 100
            lo = np.array([pts[g]["lo"] for g in gs]) * 100
            hi = np.array([pts[g]["hi"] for g in gs]) * 100
            ax.errorbar(xs, acc, yerr=[acc - lo, hi - acc], marker="o", capsize=3, color=PALETTE[ci],
                        label=f"{kind} references" if kind != "none" else "no references (ink prior)")
            if kind in human:
                m, e = human[kind]
                ax.errorbar([-0.45 + (ci - 0.5) * 0.1], [m], yerr=[[e], [e]], marker="*", markersize=9,
                            capsize=3, color=PALETTE[ci], linestyle="none")
        ax.text(-0.45, 100, "humans\n(Borowski)", ha="center", fontsize=7, va="bottom")
        ax.axhline(50, color="gray", linestyle=":", linewidth=1)
        ax.set_xticks(range(len(gaps)), [names.get(g, f"gap {g:g}").replace(": ", "\n") for g in gaps], fontsize=8)
        ax.set_xlim(-0.7, len(gaps) - 0.6)
        ax.set_ylim(35, 106)
        ax.set_title(f"observer: {obs}", fontsize=10)
    axes[0, 0].set_ylabel("2AFC accuracy (%)")
    axes[0, 0].legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The 2AFC game: the learner as participant
# ---------------------------------------------------------------------------------------------

@dataclass
class GameTrial:
    """What the participant sees (``refs_*`` are None for the no-reference condition) and the key."""

    condition: str
    unit: int
    queries: torch.Tensor                    # (2, 1, H, W)
    answer: int                              # 0 (A) or 1 (B): which query activates the unit more
    activations: tuple[float, float]
    refs_max: torch.Tensor | None = None     # (k, 1, H, W)
    refs_min: torch.Tensor | None = None


@dataclass
class TwoAFCGame:
    """The logic of the 2AFC game, without any widget: show :attr:`current`, call :meth:`choose`
    with 0 (A) or 1 (B), read :meth:`summary` and :meth:`reveal` once :attr:`finished`."""

    trials: list[GameTrial]
    seed: int = 0
    choices: list[int] = field(default_factory=list)
    round: int = 1

    def __post_init__(self) -> None:
        if not self.trials:
            raise ValueError("a game needs at least one trial")
        self._order = list(range(len(self.trials)))

    @property
    def finished(self) -> bool:
        return len(self.choices) >= len(self.trials)

    @property
    def position(self) -> int:
        """How many trials have been answered."""
        return len(self.choices)

    @property
    def current(self) -> GameTrial | None:
        return None if self.finished else self.trials[self._order[self.position]]

    def choose(self, choice: int) -> bool:
        """Record the participant's answer (0 = A, 1 = B) for the current trial; return whether it was right."""
        if self.finished:
            raise RuntimeError("the game is over: call reset() to play again")
        if choice not in (0, 1) or isinstance(choice, bool):
            raise ValueError(f"choice must be 0 (query A) or 1 (query B), got {choice!r}")
        right = int(choice) == self.current.answer
        self.choices.append(int(choice))
        return right

    def _answered(self) -> list[tuple[GameTrial, int]]:
        return [(self.trials[self._order[i]], c) for i, c in enumerate(self.choices)]

    @property
    def score(self) -> tuple[int, int]:
        """(correct, answered) so far."""
        done = self._answered()
        return sum(c == t.answer for t, c in done), len(done)

    def summary(self) -> list[tuple[str, int, int, float, float, float]]:
        """Per condition: (condition, correct, answered, accuracy, Wilson 95% low, high)."""
        out = []
        conds = sorted({t.condition for t in self.trials}, key=lambda c: (REFERENCE_TYPES + (c,)).index(c))
        for cond in conds:
            done = [(t, c) for t, c in self._answered() if t.condition == cond]
            if not done:
                continue
            k = sum(c == t.answer for t, c in done)
            lo, hi = wilson_interval(k, len(done))
            out.append((cond, k, len(done), k / len(done), lo, hi))
        return out

    def reveal(self) -> list[tuple[int, str, int, str, str, str]]:
        """Per answered trial: (number, condition, unit, your answer, right answer, activations of A / B)."""
        return [(i + 1, t.condition, t.unit, "AB"[c], "AB"[t.answer],
                 f"{t.activations[0]:.2f} / {t.activations[1]:.2f}")
                for i, (t, c) in enumerate(self._answered())]

    def reset(self) -> None:
        """Start a new round: forget the answers and shuffle the trial order."""
        self.round += 1
        self.choices = []
        rng = np.random.default_rng(self.seed + self.round)
        self._order = list(rng.permutation(len(self.trials)))


def make_game_trials(units: Sequence[int], query_images: torch.Tensor, query_acts: torch.Tensor,
                     references: dict[str, dict[str, torch.Tensor]], build_trials: Callable,
                     gap: float = 90, per_condition: int = 4, n_refs: int = 9, seed: int = 0) -> list[GameTrial]:
    """Trials for the game: ``per_condition`` trials for each reference type (plus "none"), taking
    ``units`` in turn (so conditions get different units when there are enough), query pairs from
    ``build_trials``; the order is shuffled with ``seed``."""
    if per_condition < 1:
        raise ValueError("per_condition must be >= 1")
    units = list(units)
    if not units:
        raise ValueError("give at least one unit")
    check_units(units, query_acts.shape[1])
    gen = torch.Generator().manual_seed(seed)
    trials = []
    for j, kind in enumerate((*references, "none")):
        for i in range(per_condition):
            u = units[(j * per_condition + i) % len(units)]  # different units per condition where possible
            q, a = _as_long_pair_tensors(build_trials(query_acts[:, u].clone(), gap, 1, gen), 1)
            idx = q[0]
            refs = references.get(kind)
            trials.append(GameTrial(
                condition=kind, unit=u, queries=query_images[idx].detach().cpu(), answer=int(a[0]),
                activations=(float(query_acts[idx[0], u]), float(query_acts[idx[1], u])),
                refs_max=None if refs is None else refs["max"][u][:n_refs].detach().cpu(),
                refs_min=None if refs is None else refs["min"][u][:n_refs].detach().cpu(),
            ))
    order = np.random.default_rng(seed).permutation(len(trials))
    return [trials[i] for i in order]


def render_trial(trial: GameTrial, number: int | None = None, total: int | None = None):
    """The participant's view: weakly activating references | queries A and B | strongly activating references."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(7.6, 2.4), gridspec_kw={"width_ratios": [3, 1.6, 1.6, 3]})
    panels = [
        (trial.refs_min, "weakly activating\nreferences (min)"),
        (trial.queries[0:1], "query A"),
        (trial.queries[1:2], "query B"),
        (trial.refs_max, "strongly activating\nreferences (max)"),
    ]
    for ax, (imgs, title) in zip(axes, panels):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if imgs is None:
            ax.imshow(np.ones((8, 8)), cmap="gray", vmin=0, vmax=1)
            ax.text(3.5, 3.5, "no\nreferences", ha="center", va="center", fontsize=9)
            for s in ax.spines.values():
                s.set_visible(False)
        else:
            ax.imshow(_mosaic(imgs) if len(imgs) > 1 else imgs[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
    head = f"Trial {number} of {total} · " if number is not None else ""
    cond = "no references" if trial.condition == "none" else f"{trial.condition} references"
    fig.suptitle(f"{head}{cond} · which query activates the unit more?",
                 fontsize=10)
    fig.tight_layout()
    return fig


def game_widget(game: TwoAFCGame):
    """A thin ipywidgets layer over :class:`TwoAFCGame`: two answer buttons, a restart button, the
    current trial as a figure, and the per-condition score with the answers revealed at the end."""
    import ipywidgets as W

    from utils.plotting import format_table
    from utils.widgets import show_result

    status = W.HTML()
    out = W.Output()
    wide = W.Layout(width="auto")
    btn_a = W.Button(description="A activates more", button_style="info", layout=wide)
    btn_b = W.Button(description="B activates more", button_style="info", layout=wide)
    restart = W.Button(description="Start over (new order)", layout=wide)

    def redraw(feedback: str = "") -> None:
        k, n = game.score
        btn_a.disabled = btn_b.disabled = game.finished
        with out:
            out.clear_output(wait=True)
            if not game.finished:
                status.value = (f"<b>Round {game.round}</b> · trial {game.position + 1} of {len(game.trials)} · "
                                f"score {k}/{n} {feedback}")
                show_result(render_trial(game.current, game.position + 1, len(game.trials)))
            else:
                status.value = f"<b>Round {game.round} finished</b> · score {k}/{n} {feedback}"
                rows = [(c, f"{kk}/{nn}", f"{acc:.0%}", f"[{lo:.0%}, {hi:.0%}]")
                        for c, kk, nn, acc, lo, hi in game.summary()]
                print("Your accuracy per condition (95% Wilson interval):")
                print(format_table(rows, ["references", "correct", "accuracy", "95% CI"]))
                print("\nThe answers:")
                print(format_table(game.reveal(), ["#", "references", "unit", "you", "answer", "act. A / B"]))

    def on_choice(choice: int):
        def handler(_button) -> None:
            if game.finished:
                return
            right = game.choose(choice)
            redraw("(last answer: right)" if right else "(last answer: wrong)")
        return handler

    def on_restart(_button) -> None:
        game.reset()
        redraw()

    btn_a.on_click(on_choice(0))
    btn_b.on_click(on_choice(1))
    restart.on_click(on_restart)
    redraw()
    box = W.VBox([status, W.HBox([btn_a, btn_b, restart]), out])
    return box
