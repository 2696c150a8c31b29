"""The plain functions behind the lesson's comparison widget (the widget only wires text boxes to them)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from utils.plotting import format_table

from . import data as D
from .lm import Vocab, encode_batch, exchange_prefix
from .scoring import response_logprobs

__all__ = ["compare_responses", "render_comparison"]


@torch.no_grad()
def compare_responses(request: str, response_a: str, response_b: str, lms: Mapping[str, nn.Module], vocab: Vocab,
                      prompt: str, pm=None) -> dict:
    """Each language model's log-likelihood of response A and of response B (without and with ``prompt``) and,
    if ``pm`` (a function (requests, responses) -> scores) is given, the preference model's two scores.

    Returns {"rows": [(model, setting, logp A, logp B, prefers)], "pm": (score A, score B) or None,
    "truth": (A good?, B good?) when the request is one of the generator's, "unknown": words read as <unk>}.
    Empty or whitespace-only text raises ``ValueError``; so do characters outside the models' alphabet.
    """
    for name, text in (("request", request), ("response A", response_a), ("response B", response_b)):
        if not isinstance(text, str):
            raise TypeError(f"the {name} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"the {name} is empty: type a request and two responses to compare")
    if not lms:
        raise ValueError("pass at least one language model to compare with")
    unknown = sorted({w for t in (request, response_a, response_b) for w in vocab.unknown_words(t)})
    rows = []
    for name, model in lms.items():
        model.eval()
        for setting, pr in (("no prompt", ""), ("HHH prompt", prompt)):
            pre = [exchange_prefix(request, pr)] * 2
            ids, mask = encode_batch(vocab, pre, [response_a + "\n", response_b + "\n"])
            a, b = response_logprobs(model(ids), ids, mask).tolist()
            rows.append((name, setting, a, b, "A" if a > b else "B" if b > a else "tie"))
    pm_scores = None
    if pm is not None:
        s = pm([request, request], [response_a, response_b])
        pm_scores = (float(s[0]), float(s[1]))
    truth = None
    if request in D.all_requests():
        truth = (D.is_aligned(request, response_a), D.is_aligned(request, response_b))
    return {"rows": rows, "pm": pm_scores, "truth": truth, "unknown": unknown}


def render_comparison(request: str, response_a: str, response_b: str, lms, vocab: Vocab, prompt: str,
                      pm=None) -> str:
    """:func:`compare_responses` as a text table; bad input gives a one-line message instead of an exception."""
    try:
        res = compare_responses(request, response_a, response_b, lms, vocab, prompt, pm)
    except (ValueError, TypeError) as err:
        return f"Cannot compare: {err}"
    lines = [format_table([(m, s, f"{a:.2f}", f"{b:.2f}", p) for m, s, a, b, p in res["rows"]],
                          ["language model", "setting", "log p(A)", "log p(B)", "prefers"])]
    if res["pm"] is not None:
        a, b = res["pm"]
        lines.append(f"\npreference model (ranked): score A {a:.2f}, score B {b:.2f} -> prefers "
                     f"{'A' if a > b else 'B' if b > a else 'neither'}")
    if res["truth"] is not None:
        ga, gb = res["truth"]
        lines.append(f"generator's ground truth: A is {'a good' if ga else 'not a good'} answer, "
                     f"B is {'a good' if gb else 'not a good'} answer")
    if res["unknown"]:
        lines.append(f"words the models do not know (read as <unk>): {', '.join(res['unknown'])}")
    return "\n".join(lines)
