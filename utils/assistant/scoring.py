"""The lesson's trusted implementations (the checks compare learners' code with these) and pair scoring.

* :func:`response_logprobs` - exercise 1: the log-likelihood of each response under a language model;
* :func:`comparison_accuracy` - exercise 2: how often the better response scores higher (ties count half);
* :func:`distill_kl` - exercise 3: the context-distillation loss, KL(teacher || student) per position;
* :func:`bradley_terry_loss` - exercise 4: the ranked preference-modelling loss on pairs.

:func:`score_pairs` runs a language model on evaluation pairs (optionally after a prompt) with any
``response_logprobs``-like function, which is how the notebook runs the learner's own code at scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import data as D
from .lm import Vocab, encode_batch, exchange_prefix

__all__ = ["response_logprobs", "comparison_accuracy", "distill_kl", "bradley_terry_loss", "score_pairs",
           "accuracy_by", "check_pairs"]


def _check_scores(a, b, names=("good_scores", "bad_scores")) -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.as_tensor(a, dtype=torch.float32) if not isinstance(a, torch.Tensor) else a
    b = torch.as_tensor(b, dtype=torch.float32) if not isinstance(b, torch.Tensor) else b
    if a.dim() != 1 or b.dim() != 1:
        raise ValueError(f"{names[0]} and {names[1]} must be 1-D (one score per pair); got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if len(a) != len(b):
        raise ValueError(f"mismatched pairs: {len(a)} {names[0]} but {len(b)} {names[1]}")
    if len(a) == 0:
        raise ValueError("no pairs: pass at least one score on each side")
    return a, b


def response_logprobs(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of log-probabilities of the masked tokens: ``out[b] = sum_{t >= 1, mask[b, t]} log softmax(logits[b, t-1])
    [tokens[b, t]]``. ``logits`` (B, T, V) predicts at position t the token at t + 1; returns (B,)."""
    if logits.dim() != 3 or tokens.shape != logits.shape[:2] or mask.shape != tokens.shape:
        raise ValueError(f"need logits (B, T, V), tokens (B, T) and mask (B, T); got {tuple(logits.shape)}, "
                         f"{tuple(tokens.shape)}, {tuple(mask.shape)}")
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(2, tokens[:, 1:, None].long())[..., 0]
    return (logp * mask[:, 1:].to(logp.dtype)).sum(1)


def comparison_accuracy(good_scores, bad_scores) -> float:
    """Share of pairs whose better response has the higher score; a tie counts half (a coin flip)."""
    g, b = _check_scores(good_scores, bad_scores)
    return float(((g > b).float() + 0.5 * (g == b).float()).mean())


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the masked positions of KL(p_teacher || p_student) = sum_v p_t(v) (log p_t(v) - log p_s(v)).
    The teacher is a fixed target: no gradient flows into ``teacher_logits``."""
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 3:
        raise ValueError(f"student and teacher logits must both be (B, T, V); got {tuple(student_logits.shape)} "
                         f"and {tuple(teacher_logits.shape)}")
    if mask.shape != student_logits.shape[:2]:
        raise ValueError(f"mask must be (B, T) = {tuple(student_logits.shape[:2])}, got {tuple(mask.shape)}")
    if not mask.any():
        raise ValueError("the mask selects no position: nothing to distil")
    log_t = torch.log_softmax(teacher_logits.detach(), -1)
    log_s = torch.log_softmax(student_logits, -1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum()


def bradley_terry_loss(r_good: torch.Tensor, r_bad: torch.Tensor) -> torch.Tensor:
    """Mean of -log sigmoid(r_good - r_bad) over pairs, computed stably as softplus(r_bad - r_good)."""
    g, b = _check_scores(r_good, r_bad, ("r_good", "r_bad"))
    return nn.functional.softplus(b - g).mean()


def check_pairs(pairs: Sequence[D.Pair]) -> None:
    """Bad input: an empty list, a non-pair, an empty request or response -> a clear error."""
    if not pairs:
        raise ValueError("no pairs to score")
    for i, p in enumerate(pairs):
        if not isinstance(p, D.Pair):
            raise TypeError(f"pair {i} is a {type(p).__name__}, not a data.Pair(request, good, bad, ...)")
        for name in ("request", "good", "bad"):
            v = getattr(p, name)
            if not isinstance(v, str) or not v.strip():
                raise ValueError(f"pair {i} has an empty {name}: every pair needs a request and two responses")


@torch.no_grad()
def score_pairs(model: nn.Module, vocab: Vocab, pairs: Sequence[D.Pair], prompt: str = "",
                logprob_fn: Callable = response_logprobs) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-likelihood of the better and of the worse response of each pair (each followed by its line break),
    after ``prompt`` and the request. Returns two tensors (N,). ``logprob_fn`` is exercise 1's function."""
    check_pairs(pairs)
    model.eval()
    prefixes = [exchange_prefix(p.request, prompt) for p in pairs for _ in (0, 1)]
    responses = [r + "\n" for p in pairs for r in (p.good, p.bad)]
    ids, mask = encode_batch(vocab, prefixes, responses)
    s = logprob_fn(model(ids), ids, mask).reshape(-1, 2)
    return s[:, 0].clone(), s[:, 1].clone()


def accuracy_by(pairs: Sequence[D.Pair], good: torch.Tensor, bad: torch.Tensor, key: str = "category",
                accuracy_fn: Callable = comparison_accuracy) -> dict[str, float]:
    """Comparison accuracy per value of ``key`` ("category" or "kind"), plus "all"."""
    if len(pairs) != len(good) or len(good) != len(bad):
        raise ValueError(f"mismatched pairs: {len(pairs)} pairs, {len(good)} good and {len(bad)} bad scores")
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(getattr(p, key), []).append(i)
    out = {k: accuracy_fn(good[idx], bad[idx]) for k, idx in groups.items()}
    out["all"] = accuracy_fn(good, bad)
    return out


def mean_sd(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std())
