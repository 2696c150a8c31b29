"""Context distillation, and three ways to learn from comparisons on top of a frozen language model.

Context distillation (:func:`distill_prompt`) trains a copy of a model, reading documents *without* the prompt, to
match the next-token distribution of the original reading them *after* the prompt (a KL loss, exercise 3).

Preference learning uses the language model as a frozen feature extractor (:func:`pair_features`): for a response
we keep the model's MLP features averaged over the response's tokens and at its last token. On the same labelled
pairs we then fit

* **imitation** (:func:`fit_imitation`): the model's read-out is fine-tuned, through a low-rank update, with the
  language-model loss on the preferred responses only; a response is scored by its log-likelihood;
* **binary discrimination** (:func:`fit_binary`): a linear head classifies each response alone as good or bad;
* **ranked preference modelling** (:func:`fit_ranked`): a linear head gives a scalar score, trained on pairs with
  the Bradley-Terry loss (exercise 4).

All three are fitted the same way (Adam on the full batch, ``STEPS`` steps, learning rate ``LR``), so only the
objective differs. They use :func:`fit_full_batch`, not :func:`utils.training.train`: for a linear head on a few
hundred examples the course loop's per-epoch shuffling and bookkeeping cost more than the fit itself. Full
fine-tuning of the language model, as in the paper, would cost far more than this lesson's time budget.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from utils.training import train

from . import data as D
from .lm import DecayLM, Vocab, encode_batch, exchange_prefix
from .scoring import bradley_terry_loss, check_pairs, comparison_accuracy, distill_kl

__all__ = ["distill_prompt", "distillation_kl", "pair_features", "PairFeatures", "fit_ranked", "fit_binary",
           "fit_imitation", "ImitationData", "imitation_data", "learning_curves", "subsets", "head_scores",
           "STEPS", "LR", "LowRankReadout", "fit_full_batch", "feature_stats", "response_features", "imitation_scores"]

STEPS, LR, WEIGHT_DECAY = 50, 0.02, 1e-4   # one optimisation budget for every preference model (fixed in advance)


# ----------------------------------------------------------------------------------------------
# context distillation
# ----------------------------------------------------------------------------------------------

def _distill_batch(vocab: Vocab, docs: Sequence[Sequence[D.Exchange]], prompt: str):
    texts = [D.format_document(d) for d in docs]
    ids_s, mask_s = encode_batch(vocab, [""] * len(texts), texts)                # <bos> doc
    ids_t, _ = encode_batch(vocab, [prompt] * len(texts), texts)                 # <bos> prompt doc
    offset = len(vocab.encode(prompt))
    return ids_s, mask_s, ids_t, offset


@torch.no_grad()
def _teacher_targets(teacher: nn.Module, ids_t: torch.Tensor, offset: int, T: int) -> torch.Tensor:
    # the teacher's logits at the positions that predict the document's tokens, aligned with the student's
    return teacher(ids_t)[:, offset: offset + T - 1]


def distill_prompt(model: DecayLM, vocab: Vocab, docs: Sequence[Sequence[D.Exchange]], prompt: str, *,
                   loss_fn: Callable = distill_kl, epochs: int = 4, lr: float = 3e-3, batch_size: int = 32,
                   seed: int = 0) -> tuple[DecayLM, list[float]]:
    """A copy of ``model`` trained so that, reading a document without ``prompt``, it predicts what ``model``
    predicts after the prompt. ``loss_fn(student_logits, teacher_logits, mask)`` is exercise 3's function; the
    mask keeps every position that predicts a document token. Returns the student and its loss per epoch."""
    if not prompt:
        raise ValueError("distill_prompt needs a non-empty prompt to distil")
    if not docs:
        raise ValueError("distill_prompt needs documents to distil on")
    model.eval()
    ids_s, mask_s, ids_t, offset = _distill_batch(vocab, docs, prompt)
    targets = _teacher_targets(model, ids_t, offset, ids_s.shape[1])
    keep = mask_s[:, 1:]
    student = copy.deepcopy(model)

    def batch_loss(m: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return loss_fn(m(xb.long())[:, :-1], targets[yb], keep[yb])

    history = train(student, ids_s.float(), torch.arange(len(ids_s)), epochs=epochs, batch_size=batch_size, lr=lr,
                    batch_loss=batch_loss, seed=seed, progress=False)
    return student, history


@torch.no_grad()
def distillation_kl(teacher: DecayLM, student: nn.Module, vocab: Vocab, docs: Sequence[Sequence[D.Exchange]],
                    prompt: str) -> float:
    """Mean KL(teacher after the prompt || student without it) over the documents' tokens (nats per token)."""
    ids_s, mask_s, ids_t, offset = _distill_batch(vocab, docs, prompt)
    targets = _teacher_targets(teacher, ids_t, offset, ids_s.shape[1])
    return float(distill_kl(student(ids_s)[:, :-1], targets, mask_s[:, 1:]))


# ----------------------------------------------------------------------------------------------
# frozen features
# ----------------------------------------------------------------------------------------------

@dataclass
class PairFeatures:
    """Features of the better and the worse response of each pair: two tensors (N, 2 * width)."""
    good: torch.Tensor
    bad: torch.Tensor

    def __len__(self) -> int:
        return len(self.good)

    def subset(self, idx) -> PairFeatures:
        return PairFeatures(self.good[idx], self.bad[idx])


@torch.no_grad()
def response_features(model: DecayLM, vocab: Vocab, requests: Sequence[str], responses: Sequence[str],
                      batch: int = 512) -> torch.Tensor:
    """(N, 2 * width): the model's features averaged over the response's tokens, and at its last token."""
    if len(requests) != len(responses):
        raise ValueError(f"mismatched inputs: {len(requests)} requests but {len(responses)} responses")
    model.eval()
    out = []
    for i in range(0, len(requests), batch):
        ids, mask = encode_batch(vocab, [exchange_prefix(r) for r in requests[i: i + batch]],
                                 [s + "\n" for s in responses[i: i + batch]])
        f = model.features(ids)
        m = mask.float()[..., None]
        mean = (f * m).sum(1) / m.sum(1)
        last = f[torch.arange(len(ids)), mask.long().cumsum(1).argmax(1)]
        out.append(torch.cat([mean, last], 1))
    return torch.cat(out)


def pair_features(model: DecayLM, vocab: Vocab, pairs: Sequence[D.Pair]) -> PairFeatures:
    check_pairs(pairs)
    req = [p.request for p in pairs]
    f = response_features(model, vocab, req + req, [p.good for p in pairs] + [p.bad for p in pairs])
    return PairFeatures(f[: len(pairs)], f[len(pairs):])


# ----------------------------------------------------------------------------------------------
# three objectives
# ----------------------------------------------------------------------------------------------

def fit_full_batch(module: nn.Module, loss: Callable[[], torch.Tensor], steps: int = STEPS, lr: float = LR,
                   weight_decay: float = WEIGHT_DECAY) -> nn.Module:
    """Minimise ``loss()`` (a closure over the module and its full batch) with Adam for ``steps`` steps."""
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    module.train()
    for _ in range(steps):
        value = loss()
        if not torch.is_tensor(value) or value.dim() != 0:
            raise TypeError("the loss must be a scalar tensor")
        opt.zero_grad()
        value.backward()
        opt.step()
    module.eval()
    return module


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor, dim: int, out: int = 1):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.lin = nn.Linear(dim, out)
        nn.init.zeros_(self.lin.weight)
        nn.init.zeros_(self.lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin((x - self.mean) / self.std)


def _new_head(stats: tuple[torch.Tensor, torch.Tensor], out: int = 1) -> _Standardise:
    mean, std = stats
    return _Standardise(mean, std, mean.shape[0], out)


def feature_stats(*feats: PairFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of the features (no labels used), to standardise the heads' inputs."""
    x = torch.cat([t for f in feats for t in (f.good, f.bad)])
    return x.mean(0), x.std(0).clamp(min=1e-4)


def fit_ranked(feats: PairFeatures, stats, *, loss_fn: Callable = bradley_terry_loss, init: nn.Module | None = None,
               steps: int = STEPS, seed: int = 0) -> nn.Module:
    """A scalar head trained on pairs: ``loss_fn(head(good), head(bad))`` (exercise 4's Bradley-Terry loss).
    ``init`` starts from a given head (preference-model pre-training) instead of zeros."""
    head = copy.deepcopy(init) if init is not None else _new_head(stats)
    torch.manual_seed(seed)
    return fit_full_batch(head, lambda: loss_fn(head(feats.good)[:, 0], head(feats.bad)[:, 0]), steps)


def fit_binary(feats: PairFeatures, stats, *, steps: int = STEPS, seed: int = 0) -> nn.Module:
    """A head that classifies each response alone as good (1) or bad (0), with the logistic loss; its logit is
    the score."""
    head = _new_head(stats)
    x = torch.cat([feats.good, feats.bad])
    y = torch.cat([torch.ones(len(feats)), torch.zeros(len(feats))])
    torch.manual_seed(seed)
    return fit_full_batch(head, lambda: nn.functional.binary_cross_entropy_with_logits(head(x)[:, 0], y), steps)


@torch.no_grad()
def head_scores(head: nn.Module, feats: PairFeatures) -> tuple[torch.Tensor, torch.Tensor]:
    head.eval()
    return head(feats.good)[:, 0], head(feats.bad)[:, 0]


@dataclass
class ImitationData:
    """Every token of the better and of the worse responses, flattened: the frozen features at the position that
    predicts it (N_tok, width), the model's own logits there (N_tok, V), the token id, and which pair it belongs to."""
    good_x: torch.Tensor
    good_logits: torch.Tensor
    good_y: torch.Tensor
    good_pair: torch.Tensor
    bad_x: torch.Tensor
    bad_logits: torch.Tensor
    bad_y: torch.Tensor
    bad_pair: torch.Tensor
    n_pairs: int


@torch.no_grad()
def _token_rows(model: DecayLM, vocab: Vocab, requests, responses):
    ids, mask = encode_batch(vocab, [exchange_prefix(r) for r in requests], [s + "\n" for s in responses])
    f = model.features(ids)
    b, t = mask.nonzero(as_tuple=True)                      # (pair, position) of every response token
    x = f[b, t - 1]
    return x, model.head(x), ids[b, t], b


def imitation_data(model: DecayLM, vocab: Vocab, pairs: Sequence[D.Pair]) -> ImitationData:
    check_pairs(pairs)
    req = [p.request for p in pairs]
    good = _token_rows(model, vocab, req, [p.good for p in pairs])
    bad = _token_rows(model, vocab, req, [p.bad for p in pairs])
    return ImitationData(*good, *bad, len(pairs))


class LowRankReadout(nn.Module):
    """The language model's read-out plus a trainable update: logits = base_logits + bias + (x A) B, with rank
    ``rank`` (a LoRA-style adapter). B starts at zero, so an untrained adapter is the original model."""

    def __init__(self, width: int, vocab_size: int, rank: int = 8, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = nn.Parameter(torch.randn(width, rank, generator=g) / width ** 0.5)
        self.B = nn.Parameter(torch.zeros(rank, vocab_size))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, x: torch.Tensor, base_logits: torch.Tensor) -> torch.Tensor:
        return base_logits + self.bias + (x @ self.A) @ self.B


def fit_imitation(data: ImitationData, idx: Sequence[int], *, steps: int = STEPS, seed: int = 0) -> LowRankReadout:
    """Imitation learning: the language-model loss on the preferred responses of the pairs ``idx`` only, trained
    through a low-rank update of the frozen model's read-out. With no pairs it leaves the model unchanged."""
    adapter = LowRankReadout(data.good_x.shape[1], data.good_logits.shape[1], seed=seed)
    if len(idx) == 0:
        return adapter
    rows = torch.isin(data.good_pair, torch.as_tensor(list(idx)))
    x, base, y = data.good_x[rows], data.good_logits[rows], data.good_y[rows]
    return fit_full_batch(adapter, lambda: nn.functional.cross_entropy(adapter(x, base), y), steps)


@torch.no_grad()
def imitation_scores(adapter: LowRankReadout, data: ImitationData) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-likelihood of each pair's better and worse response under the adapted model."""
    def total(x, base, y, pair):
        lp = torch.log_softmax(adapter(x, base), -1).gather(1, y[:, None])[:, 0]
        return torch.zeros(data.n_pairs).index_add_(0, pair, lp)
    return (total(data.good_x, data.good_logits, data.good_y, data.good_pair),
            total(data.bad_x, data.bad_logits, data.bad_y, data.bad_pair))


# ----------------------------------------------------------------------------------------------
# learning curves
# ----------------------------------------------------------------------------------------------

def subsets(n_pool: int, sizes: Sequence[int], seeds: Sequence[int]) -> dict[tuple[int, int], list[int]]:
    """Random training subsets: for each seed a shuffled order of the pool; size n takes its first n (so the
    subsets of one seed are nested)."""
    out = {}
    for s in seeds:
        order = list(range(n_pool))
        random.Random(s).shuffle(order)
        for n in sizes:
            if n > n_pool:
                raise ValueError(f"a training set of {n} pairs is larger than the pool of {n_pool}")
            out[(n, s)] = order[:n]
    return out


def learning_curves(model: DecayLM, vocab: Vocab, train_pairs: Sequence[D.Pair], eval_pairs: Sequence[D.Pair],
                    sizes: Sequence[int], seeds: Sequence[int], *, loss_fn: Callable = bradley_terry_loss,
                    accuracy_fn: Callable = comparison_accuracy, pmp_head: nn.Module | None = None,
                    stats=None) -> dict[str, np.ndarray]:
    """Evaluation accuracy of each method for each training-set size and seed: a dict method -> array
    (len(sizes), len(seeds)). Methods: imitation, binary, ranked, and (with ``pmp_head``) ranked after PMP."""
    ftr, fev = pair_features(model, vocab, train_pairs), pair_features(model, vocab, eval_pairs)
    stats = stats if stats is not None else feature_stats(ftr)
    itr, iev = imitation_data(model, vocab, train_pairs), imitation_data(model, vocab, eval_pairs)
    methods = ["imitation", "binary", "ranked"] + (["ranked + PMP"] if pmp_head is not None else [])
    res = {m: np.zeros((len(sizes), len(seeds))) for m in methods}
    sub = subsets(len(train_pairs), sizes, seeds)
    for i, n in enumerate(sizes):
        for j, s in enumerate(seeds):
            idx = sub[(n, s)]
            res["imitation"][i, j] = accuracy_fn(*imitation_scores(fit_imitation(itr, idx, seed=s), iev))
            if n == 0:
                res["binary"][i, j] = res["ranked"][i, j] = 0.5
                if pmp_head is not None:
                    res["ranked + PMP"][i, j] = accuracy_fn(*head_scores(pmp_head, fev))
                continue
            part = ftr.subset(idx)
            res["binary"][i, j] = accuracy_fn(*head_scores(fit_binary(part, stats, seed=s), fev))
            res["ranked"][i, j] = accuracy_fn(*head_scores(fit_ranked(part, stats, loss_fn=loss_fn, seed=s), fev))
            if pmp_head is not None:
                head = fit_ranked(part, stats, loss_fn=loss_fn, init=pmp_head, seed=s)
                res["ranked + PMP"][i, j] = accuracy_fn(*head_scores(head, fev))
    return res
