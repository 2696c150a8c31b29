"""Checks for the warm-up exercises of ``00_welcome``: softmax and cross-entropy from scratch.

Each check runs the learner's function on a few tiny cases and compares it with torch's own ``softmax`` and
``cross_entropy`` (the trusted implementations). Before the value comparison, it looks for the typical mistakes
(no max subtraction, the wrong dimension, ``log(softmax(...))``, a sum instead of a mean, labels ignored, ...)
and names the one it finds first, so that the message says what to fix rather than only which entry differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from utils.checks import Case, assert_close, expect, run_check

__all__ = ["check_softmax", "check_cross_entropy", "CASE_SECONDS"]

CASE_SECONDS = 10.0  # each case is a handful of tiny tensor operations


def _cases() -> list[tuple[str, torch.Tensor]]:
    """Logits (N, C): square first (so a missing ``keepdim`` gives a wrong value, not a crash), then the rest."""
    g = torch.Generator().manual_seed(0)
    return [
        ("a 3 x 3 batch (rows and columns look alike)", torch.randn(3, 3, generator=g) * 2),
        ("a batch of 4 rows, 5 classes", torch.randn(4, 5, generator=g)),
        ("large logits (1000s): exp overflows without the max-subtraction trick",
         torch.tensor([[1000.0, 1001.0, 1002.0], [999.0, 1000.0, 998.0]])),
        ("rows on very different scales (-1000 and +1000): subtract each row's own max",
         torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -1001.0]])),
        ("a non-square batch, 2 rows x 7 classes", torch.randn(2, 7, generator=g) * 3),
        (_WIDE_LABEL, torch.tensor([[0.0, 0.0, 200.0], [1.0, 2.0, 3.0]])),
    ]


_WIDE_LABEL = "a wide row (0, 0, 200): only subtracting the row's MAXIMUM keeps exp in range"
_WIDE_MESSAGE = ("a row with one logit far above the others (0, 0, 200) gave nan or inf: you shifted each row by "
                 "something other than its maximum (its mean or its minimum?), so exp of the largest logit still "
                 "overflows float32. Subtract each row's own maximum (max over dim=1, keepdim=True).")


def _tensor_result(got, like: torch.Tensor, name: str) -> torch.Tensor:
    expect(got is not None, f"`{name}` returned None: did you forget the `return` statement?")
    expect(isinstance(got, torch.Tensor), f"`{name}` should return a torch tensor, got {type(got).__name__}")
    return got


# ---------------------------------------------------------------------------------------------
# softmax
# ---------------------------------------------------------------------------------------------

def _diagnose_softmax(got, z: torch.Tensor, label: str = "") -> None:
    p = _tensor_result(got, z, "softmax").detach().float()
    n, c = z.shape
    if p.shape == (n,):
        expect(False, f"returned shape {tuple(p.shape)}, one value per row: return the whole probability matrix "
                      f"of shape {tuple(z.shape)}, not the predicted class or a row sum")
    if p.shape != z.shape:
        expect(False, f"returned shape {tuple(p.shape)}, expected {tuple(z.shape)}: softmax returns one probability "
                      f"per logit, the same shape as its input")
    row_max = z.max(dim=1).values
    bad_rows = (~torch.isfinite(p)).any(dim=1)
    if bad_rows.any():
        if label == _WIDE_LABEL and not (bad_rows & (row_max < z.max() - 80)).any():
            expect(False, _WIDE_MESSAGE)
        overflow = bad_rows & (row_max > 80)
        underflow = bad_rows & (row_max < z.max() - 80)
        if underflow.any():
            expect(False, "a row whose logits are far below another row's became nan: you subtracted the maximum of "
                          "the whole batch, so exp() of that row underflows to 0 and you divide 0 by 0. Subtract each "
                          "row's own maximum (max over dim=1, keepdim=True).")
        if overflow.any():
            expect(False, "nan or inf for logits in the thousands: exp(1000) overflows float32. Subtract each row's "
                          "maximum before exp (softmax does not change when a row is shifted by a constant).")
        expect(False, "the result contains nan or inf: subtract each row's maximum before exp.")
    lo, hi = float(p.min()), float(p.max())
    if lo < -1e-6:
        expect(False, f"negative values (min {lo:.3g}) are not probabilities: this looks like log-probabilities or "
                      f"shifted logits. Return exp(z - max) divided by its row sum.")
    if hi > 1 + 1e-5:
        expect(False, f"values above 1 (max {hi:.4g}) are not probabilities: divide exp(z - max) by its row sum.")
    rows = p.sum(dim=1)
    cols = p.sum(dim=0)
    if not torch.allclose(rows, torch.ones(n), atol=1e-4):
        total = float(p.sum())
        if n > 1 and torch.allclose(cols, torch.ones(c), atol=1e-4):
            expect(False, "each column sums to 1 instead of each row: you normalised over dim=0 (the batch). "
                          "Normalise over the classes, dim=1.")
        if abs(total - 1) < 1e-4:
            expect(False, "the whole batch sums to 1, not each row: sum over dim=1 only (keepdim=True), not over "
                          "every entry.")
        expect(False, f"row 0 sums to {float(rows[0]):.4g}, not 1: divide each row by its own sum, "
                      f"e.sum(dim=1, keepdim=True) (without keepdim the division lines up with the wrong axis).")
    assert_close(p, torch.softmax(z, dim=1), "the probabilities", atol=1e-6)


def _softmax_case(label: str, z: torch.Tensor) -> Case:
    return Case(label, args=(z,), validate=lambda got: _diagnose_softmax(got, z, label))


def check_softmax(softmax, *, timeout_s: float = CASE_SECONDS) -> None:
    """``softmax(logits)`` with logits (N, C) must return probabilities (N, C), each row summing to 1."""
    run_check("softmax", softmax, [_softmax_case(label, z) for label, z in _cases()], timeout_s=timeout_s,
              hint="Softmax works row by row: exp of the row minus its maximum, divided by the row's sum.")


# ---------------------------------------------------------------------------------------------
# cross-entropy
# ---------------------------------------------------------------------------------------------

def _ce_cases() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(4, 5, generator=g)
    z2 = torch.randn(6, 3, generator=g) * 2
    return [
        ("a batch of 4 rows, 5 classes", z1, torch.tensor([0, 3, 1, 4])),
        ("6 rows, 3 classes, labels not the largest logit", z2, (z2.argmax(1) + 1) % 3),
        ("large logits (1000s), each label the largest logit: exp overflows without the max trick",
         torch.tensor([[1000.0, 1002.0, 1001.0], [999.0, 998.0, 1000.0]]), torch.tensor([1, 2])),
        (_SCALES_LABEL, torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -1001.0]]), torch.tensor([2, 1])),
        (_WIDE_LABEL, torch.tensor([[0.0, 0.0, 200.0], [1.0, 2.0, 3.0]]), torch.tensor([2, 0])),
        ("labels whose logit is 200 below the row's maximum: their probability underflows to 0 in float32",
         torch.tensor([[200.0, 0.0, 1.0], [0.0, 100.0, 300.0]]), torch.tensor([1, 0])),
    ]


_SCALES_LABEL = "rows on very different scales (-1000 and +1000): each row needs its own maximum"
_NONFINITE = {   # a case that exists for one mistake: what a nan or inf loss there means
    _SCALES_LABEL: "a row whose logits are far below another row's gave a nan or inf loss: you subtracted the maximum "
                   "of the whole batch, so exp() of that row underflows to 0 and log(0) = -inf. Subtract each row's "
                   "own maximum (max over dim=1, keepdim=True) inside the log-sum-exp.",
    _WIDE_LABEL: _WIDE_MESSAGE.replace("gave nan or inf", "gave a nan or inf loss"),
}


def _ce_reference(z: torch.Tensor, y: torch.Tensor) -> float:
    return F.cross_entropy(z.double(), y).item()


def _diagnose_cross_entropy(got, z: torch.Tensor, y: torch.Tensor, label: str = "") -> None:
    n = len(y)
    expect(got is not None, "`cross_entropy` returned None: did you forget the `return` statement?")
    if isinstance(got, (float, int)) and not isinstance(got, bool):
        expect(False, f"returned a Python number ({float(got):.4g}): return the loss as a tensor (no .item(), no "
                      f"float()), so that the training loop can back-propagate through it")
    expect(isinstance(got, torch.Tensor), f"`cross_entropy` should return a scalar tensor, got {type(got).__name__}")
    if got.shape == (n,):
        expect(False, f"returned shape {tuple(got.shape)}, one loss per example: return their mean over the batch "
                      f"(a scalar)")
    expect(got.dim() == 0, f"returned shape {tuple(got.shape)}: the loss is one number, the mean over the batch")
    v = float(got.detach())
    want = _ce_reference(z, y)
    gap = float((z.max(1).values - z[torch.arange(n), y]).max())
    if v != v or abs(v) == float("inf"):
        if label in _NONFINITE:
            expect(False, _NONFINITE[label])
        if gap > 80:
            expect(False, f"the loss is {v} when a label's logit is {gap:.0f} below its row's maximum: that "
                          f"probability underflows to 0 and log(0) = -inf, which is what log(softmax(...)) does. "
                          f"Compute log p = z_label - logsumexp(z) directly (log-sum-exp with the max trick).")
        expect(False, f"the loss is {v} for logits in the thousands: exp(1000) overflows float32. Subtract each "
                      f"row's maximum inside the log-sum-exp.")
    expect(got.requires_grad, "the loss does not carry a gradient back to the logits: build it from the logits with "
                              "torch operations (no .item(), numpy, torch.tensor(...) or torch.no_grad())")
    if abs(v - want) <= 1e-4 * max(1.0, abs(want)):
        return
    if abs(v + want) <= 1e-4 * max(1.0, abs(want)):
        expect(False, f"the loss is {v:.4g}, the negative of the right value {want:.4g}: cross-entropy is MINUS the "
                      f"log-probability of the label")
    if abs(v - n * want) <= 1e-4 * max(1.0, abs(n * want)) and n > 1:
        expect(False, f"the loss is {v:.4g}, {n} times the right value {want:.4g}: average over the batch (.mean()), "
                      f"do not sum")
    if gap > 80 and v < want - 1:
        expect(False, f"the loss is {v:.4g} where it should be {want:.4g}: a label whose probability underflows is "
                      f"capped; adding a small number inside log(softmax(...)) or clamping hides the underflow. "
                      f"Compute log p = z_label - logsumexp(z) instead.")
    logp = torch.log_softmax(z.double(), dim=1)
    alternatives = [
        (-logp.mean().item(), "averaged -log p over every class: pick only the label's entry of each row, "
                              "logits[torch.arange(N), y]"),
        (-logp[:, 0].mean().item(), "used class 0 for every row: pick each row's label, logits[torch.arange(N), y]"),
        (-logp.max(1).values.mean().item(), "used the largest logit of each row instead of the label's logit: pick "
                                            "logits[torch.arange(N), y]"),
        (-logp[torch.arange(n), y].mean().item() / 2.302585092994046,
         "used log base 10: cross-entropy uses the natural logarithm (torch.log)"),
    ]
    for alt, message in alternatives:
        if abs(v - alt) <= 1e-4 * max(1.0, abs(alt)) and abs(alt - want) > 1e-4:
            expect(False, f"the loss is {v:.4g}, expected {want:.4g}: you {message}")
    expect(False, f"the loss is {v:.4g}, expected {want:.4g} (the mean over the batch of logsumexp(row) - "
                  f"row[label])")


def check_cross_entropy(cross_entropy, *, timeout_s: float = CASE_SECONDS) -> None:
    """``cross_entropy(logits, y)`` must return the mean negative log-probability of the labels (a scalar)."""

    def with_grad(z, y):  # the logits require a gradient, as in training: the loss must keep the graph
        return cross_entropy(z.requires_grad_(True), y)

    def case(label, z, y):
        return Case(label, args=(z, y), validate=lambda got: _diagnose_cross_entropy(got, z, y, label))

    run_check("cross_entropy", with_grad, [case(*c) for c in _ce_cases()], timeout_s=timeout_s,
              hint="-log p of the label is logsumexp(row) - row[label]; compute logsumexp with the max trick, "
                   "then average over the batch.")
