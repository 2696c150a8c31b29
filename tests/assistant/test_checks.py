"""Lesson 09 checks: each accepts the trusted implementation, says "not implemented yet" for the stub and rejects
the typical mistakes listed here (one table per exercise), with a message that names what went wrong."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from utils.assistant import scoring as S
from utils.assistant.checks import (check_bradley_terry_loss, check_comparison_accuracy, check_distill_kl,
                                    check_response_logprobs)
from utils.checks import CheckFailed


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: replace this line with your code")


@pytest.mark.parametrize("check, reference", [
    (check_response_logprobs, S.response_logprobs), (check_comparison_accuracy, S.comparison_accuracy),
    (check_distill_kl, S.distill_kl), (check_bradley_terry_loss, S.bradley_terry_loss)])
def test_reference_passes_and_stub_is_not_implemented(check, reference, capsys):
    check(reference)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check(stub)


@pytest.mark.parametrize("check", [check_response_logprobs, check_comparison_accuracy, check_distill_kl,
                                   check_bradley_terry_loss])
def test_check_wants_the_function_itself(check):
    with pytest.raises(TypeError, match="expects your function"):
        check("response_logprobs")


# ---------------------------------------------------------------------------------------------
# Exercise 1: response_logprobs
# ---------------------------------------------------------------------------------------------

def _lp_no_shift(logits, tokens, mask):            # position t scores token t (it should score t + 1)
    lp = torch.log_softmax(logits, -1).gather(2, tokens[..., None])[..., 0]
    return (lp * mask).sum(1)


def _lp_mask_not_shifted(logits, tokens, mask):    # shifts the tokens but not the mask
    lp = torch.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, :-1]).sum(1)


def _lp_raw_logits(logits, tokens, mask):          # forgets to normalise
    lp = logits[:, :-1].gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, 1:]).sum(1)


def _lp_probabilities(logits, tokens, mask):       # sums probabilities instead of log-probabilities
    p = torch.softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None])[..., 0]
    return (p * mask[:, 1:]).sum(1)


def _lp_mean(logits, tokens, mask):                # averages over the response instead of summing
    lp = torch.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, 1:]).sum(1) / mask[:, 1:].sum(1)


def _lp_no_mask(logits, tokens, mask):             # scores the prompt, request and padding too
    return torch.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None])[..., 0].sum(1)


def _lp_wrong_dim(logits, tokens, mask):           # normalises over time instead of the vocabulary
    lp = torch.log_softmax(logits[:, :-1], 1).gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, 1:]).sum(1)


def _lp_per_token(logits, tokens, mask):           # returns the (B, T-1) matrix, not one number per row
    return torch.log_softmax(logits[:, :-1], -1).gather(2, tokens[:, 1:, None])[..., 0] * mask[:, 1:]


def _lp_list(logits, tokens, mask):                # a Python list
    return S.response_logprobs(logits, tokens, mask).tolist()


def _lp_sign(logits, tokens, mask):                # cross-entropy not negated (a loss, not a log-likelihood)
    ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), tokens[:, 1:], reduction="none")
    return (ce * mask[:, 1:]).sum(1)


def _lp_reverse_shift(logits, tokens, mask):       # logits[:, 1:] "predict" tokens[:, :-1]
    lp = torch.log_softmax(logits[:, 1:], -1).gather(2, tokens[:, :-1, None])[..., 0]
    return (lp * mask[:, :-1]).sum(1)


def _lp_logits_shifted_only(logits, tokens, mask):  # logits[:, 1:] against tokens[:, 1:]
    lp = torch.log_softmax(logits[:, 1:], -1).gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, 1:]).sum(1)


def _lp_batch_dim(logits, tokens, mask):           # normalises over the batch
    lp = torch.log_softmax(logits[:, :-1], 0).gather(2, tokens[:, 1:, None])[..., 0]
    return (lp * mask[:, 1:]).sum(1)


def _lp_masked_ids(logits, tokens, mask):          # gathers tokens * mask, forgets to mask the sum
    return torch.log_softmax(logits[:, :-1], -1).gather(2, (tokens * mask)[:, 1:, None])[..., 0].sum(1)


LOGPROB_MISTAKES = {
    "cross-entropy, not negated": (_lp_sign, "sign is flipped"),
    "reverse shift": (_lp_reverse_shift, "shift goes the wrong way"),
    "logits shifted, tokens not": (_lp_logits_shifted_only, "position t scored token t"),
    "softmax over the batch": (_lp_batch_dim, "wrong dimension"),
    "masked ids, unmasked sum": (_lp_masked_ids, "log-likelihood per row"),
    "keepdim": (lambda l, t, m: S.response_logprobs(l, t, m)[:, None], "has shape"),
    "numpy array": (lambda l, t, m: S.response_logprobs(l, t, m).numpy(), "should be a torch tensor"),
    "no shift": (_lp_no_shift, "position t scored token t"),
    "mask not shifted": (_lp_mask_not_shifted, "the mask is not"),
    "raw logits": (_lp_raw_logits, "not normalised"),
    "probabilities": (_lp_probabilities, "probabilities were added"),
    "mean": (_lp_mean, "mean log-probability"),
    "no mask": (_lp_no_mask, "every position was counted"),
    "softmax over time": (_lp_wrong_dim, "log-likelihood per row"),
    "per-token matrix": (_lp_per_token, "has shape"),
    "list": (_lp_list, "should be a torch tensor"),
}


@pytest.mark.parametrize("name", LOGPROB_MISTAKES)
def test_response_logprobs_rejects_typical_mistakes(name):
    fn, msg = LOGPROB_MISTAKES[name]
    with pytest.raises(CheckFailed, match=msg):
        check_response_logprobs(fn)


def test_response_logprobs_off_by_one_is_caught_by_its_case():
    with pytest.raises(CheckFailed, match="failed check case 'two rows"):
        check_response_logprobs(_lp_no_shift)


# ---------------------------------------------------------------------------------------------
# Exercise 2: comparison_accuracy
# ---------------------------------------------------------------------------------------------

COMPARISON_MISTAKES = {
    "ties count as right": (lambda g, b: float((g >= b).float().mean()), "ties counted as right"),
    "ties count as wrong": (lambda g, b: float((g > b).float().mean()), "ties counted as wrong"),
    "a count, not a share": (lambda g, b: float((g > b).sum() + 0.5 * (g == b).sum()), "count of pairs"),
    "a tensor": (lambda g, b: ((g > b).float() + 0.5 * (g == b).float()).mean(), "returned a tensor"),
    "reversed": (lambda g, b: float(((g < b).float() + 0.5 * (g == b).float()).mean()), "reversed"),
    "soft accuracy": (lambda g, b: float(torch.sigmoid(g - b).mean()), "the accuracy is"),
    "compares the sums": (lambda g, b: float(g.sum() > b.sum()), "the accuracy is"),
    "no return": (lambda g, b: None, "float"),
    "int": (lambda g, b: int(S.comparison_accuracy(g, b)), "float"),
    "percent": (lambda g, b: 100 * S.comparison_accuracy(g, b), "percent"),
    "rounded": (lambda g, b: round(S.comparison_accuracy(g, b), 2), "rounded"),
    "divides by both lengths": (lambda g, b: float(((g > b).float() + 0.5 * (g == b).float()).sum()
                                                   / (len(g) + len(b))), "the accuracy is"),
    "all pairs (an AUC)": (lambda g, b: float(((g[:, None] > b[None]).float()
                                               + 0.5 * (g[:, None] == b[None]).float()).mean()), "the accuracy is"),
    "above the median": (lambda g, b: float((g > b.median()).float().mean()), "the accuracy|ties counted"),
}


@pytest.mark.parametrize("name", COMPARISON_MISTAKES)
def test_comparison_accuracy_rejects_typical_mistakes(name):
    fn, msg = COMPARISON_MISTAKES[name]
    with pytest.raises(CheckFailed, match=msg):
        check_comparison_accuracy(fn)


# ---------------------------------------------------------------------------------------------
# Exercise 3: distill_kl
# ---------------------------------------------------------------------------------------------

def _masked_mean(x, mask):
    m = mask.float()
    return (x * m).sum() / m.sum()


def _kl_reversed(s, t, mask):                       # KL(student || teacher)
    ls, lt = torch.log_softmax(s, -1), torch.log_softmax(t.detach(), -1)
    return _masked_mean((ls.exp() * (ls - lt)).sum(-1), mask)


def _kl_div_mean(s, t, mask):                       # F.kl_div with reduction='mean' also divides by V
    kl = F.kl_div(torch.log_softmax(s, -1), torch.softmax(t.detach(), -1), reduction="none").mean(-1)
    return _masked_mean(kl, mask)


def _kl_hard_labels(s, t, mask):                    # cross-entropy with the teacher's argmax
    ce = F.cross_entropy(s.reshape(-1, s.shape[-1]), t.detach().argmax(-1).reshape(-1), reduction="none")
    return _masked_mean(ce.view(mask.shape), mask)


def _kl_logits_as_probs(s, t, mask):                # uses the teacher's logits as if they were probabilities
    lt = t.detach()
    return _masked_mean((lt * (lt - torch.log_softmax(s, -1))).sum(-1), mask)


def _kl_no_mask(s, t, mask):                        # averages over padding too
    lt, ls = torch.log_softmax(t.detach(), -1), torch.log_softmax(s, -1)
    return (lt.exp() * (lt - ls)).sum(-1).mean()


def _kl_sum(s, t, mask):                            # a sum over positions, not a mean
    lt, ls = torch.log_softmax(t.detach(), -1), torch.log_softmax(s, -1)
    return ((lt.exp() * (lt - ls)).sum(-1) * mask.float()).sum()


def _kl_not_detached(s, t, mask):                   # lets the gradient flow into the teacher
    lt, ls = torch.log_softmax(t, -1), torch.log_softmax(s, -1)
    return _masked_mean((lt.exp() * (lt - ls)).sum(-1), mask)


def _kl_item(s, t, mask):                           # a float: no gradient
    return float(S.distill_kl(s, t, mask).detach())


def _kl_mse_logits(s, t, mask):                     # matches logits, not distributions
    return _masked_mean(((s - t.detach()) ** 2).mean(-1), mask)


def _kl_pos(s, t):
    lt, ls = torch.log_softmax(t.detach(), -1), torch.log_softmax(s, -1)
    return (lt.exp() * (lt - ls)).sum(-1)


def _kl_row_means(s, t, mask):                      # mean of per-row means: rows with few positions weigh more
    m = mask.float()
    return ((_kl_pos(s, t) * m).sum(1) / m.sum(1)).mean()


def _kl_numel(s, t, mask):                          # divides by every position
    return (_kl_pos(s, t) * mask.float()).sum() / mask.numel()


def _kl_soft_ce(s, t, mask):                        # cross-entropy: the teacher's entropy is missing
    return _masked_mean(-(torch.softmax(t.detach(), -1) * torch.log_softmax(s, -1)).sum(-1), mask)


def _kl_batchmean(s, t, mask):                      # F.kl_div(batchmean), no mask
    return F.kl_div(torch.log_softmax(s, -1), torch.log_softmax(t.detach(), -1), log_target=True,
                    reduction="batchmean")


def _kl_div_swapped(s, t, mask):                    # F.kl_div with the arguments swapped
    return _masked_mean(F.kl_div(torch.log_softmax(t.detach(), -1), torch.softmax(s, -1), reduction="none").sum(-1),
                        mask)


def _kl_student_detached(s, t, mask):               # no gradient reaches the student
    return _masked_mean(_kl_pos(s.detach(), t), mask)


DISTILL_MISTAKES = {
    "mean of per-row means": (_kl_row_means, "mean of per-row means"),
    "divides by numel": (_kl_numel, "divides by every position"),
    "soft cross-entropy": (_kl_soft_ce, "entropy term"),
    "kl_div batchmean, no mask": (_kl_batchmean, "batchmean"),
    "kl_div on raw student logits": (lambda s, t, m: _masked_mean(F.kl_div(s, torch.softmax(t.detach(), -1),
                                                                           reduction="none").sum(-1), m),
                                     "raw logits"),
    "kl_div arguments swapped": (_kl_div_swapped, "reverse direction|the loss"),
    "student detached": (_kl_student_detached, "carries no gradient"),
    "reversed KL": (_kl_reversed, "the reverse direction"),
    "kl_div mean over vocabulary": (_kl_div_mean, "mean over the vocabulary"),
    "hard labels": (_kl_hard_labels, "hard labels"),
    "logits as probabilities": (_kl_logits_as_probs, "used as probabilities"),
    "ignores the mask": (_kl_no_mask, "padding positions were averaged in"),
    "sum, not mean": (_kl_sum, "sum over positions"),
    "teacher not detached": (_kl_not_detached, "gradient flowed into the teacher"),
    "returns a float": (_kl_item, "should be a torch tensor"),
    "mse on logits": (_kl_mse_logits, "squared error"),
}


@pytest.mark.parametrize("name", DISTILL_MISTAKES)
def test_distill_kl_rejects_typical_mistakes(name):
    fn, msg = DISTILL_MISTAKES[name]
    with pytest.raises(CheckFailed, match=msg):
        check_distill_kl(fn)


def test_distill_kl_detached_result_is_named():
    with pytest.raises(CheckFailed, match="carries no gradient"):
        check_distill_kl(lambda s, t, m: S.distill_kl(s, t, m).detach())


# ---------------------------------------------------------------------------------------------
# Exercise 4: bradley_terry_loss
# ---------------------------------------------------------------------------------------------

BT_MISTAKES = {
    "sign flipped": (lambda g, b: F.softplus(g - b).mean(), "sign is flipped"),
    "naive log sigmoid": (lambda g, b: -torch.log(torch.sigmoid(g - b)).mean(), "overflows"),
    "sum, not mean": (lambda g, b: F.softplus(b - g).sum(), "sum over pairs"),
    "hinge": (lambda g, b: torch.relu(1 - (g - b)).mean(), "hinge"),
    "binary per response": (lambda g, b: (F.softplus(-g) + F.softplus(b)).mean(), "binary discrimination"),
    "one minus sigmoid": (lambda g, b: (1 - torch.sigmoid(g - b)).mean(), "negative log"),
    "forgot the minus": (lambda g, b: F.logsigmoid(g - b).mean(), "the loss"),
    "a float": (lambda g, b: float(F.softplus(b - g).mean().detach()), "should be a torch tensor"),
    "detached": (lambda g, b: F.softplus(b - g).mean().detach(), "carries no gradient"),
    "clamped sigmoid": (lambda g, b: -torch.log(torch.sigmoid(g - b).clamp(min=1e-7)).mean(), "underflow"),
    "BCE on sigmoid": (lambda g, b: F.binary_cross_entropy(torch.sigmoid(g - b), torch.ones_like(g)), "underflow"),
    "margin inside": (lambda g, b: F.softplus(b - g + 1).mean(), "a margin was added"),
    "naive log1p(exp)": (lambda g, b: torch.log1p(torch.exp(b - g)).mean(), "overflows"),
    "unreduced": (lambda g, b: F.softplus(b - g), "has shape"),
}


@pytest.mark.parametrize("name, fn", [
    ("log of the softmax", lambda l, t, m: (torch.log(torch.softmax(l[:, :-1], -1)).gather(2, t[:, 1:, None])[..., 0]
                                            * m[:, 1:]).sum(1)),
    ("float64", lambda l, t, m: S.response_logprobs(l, t, m).double())])
def test_response_logprobs_accepts_equivalent_forms(name, fn):
    check_response_logprobs(fn)


def test_equivalent_losses_pass():
    check_distill_kl(lambda s, t, m: _kl_pos(s, t)[m].mean())
    check_bradley_terry_loss(lambda g, b: F.binary_cross_entropy_with_logits(g - b, torch.ones_like(g)))
    check_bradley_terry_loss(lambda g, b: -torch.log_softmax(torch.stack([g, b], 1), 1)[:, 0].mean())


def test_check_hints_do_not_paste_the_solution():
    import inspect
    from utils.assistant import checks
    src = inspect.getsource(checks)
    hints = [src[i: src.index(")", src.index("hint=", i) + 200)] for i in range(len(src)) if src.startswith("hint=", i)]
    assert len(hints) == 4
    for h in hints:
        for leak in ("log_softmax(logits[:, :-1]", "softplus(", "(good > bad)", "teacher.detach()", ".mean()"):
            assert leak not in h, (leak, h)


@pytest.mark.parametrize("name", BT_MISTAKES)
def test_bradley_terry_loss_rejects_typical_mistakes(name):
    fn, msg = BT_MISTAKES[name]
    with pytest.raises(CheckFailed, match=msg):
        check_bradley_terry_loss(fn)


def test_mistake_tables_are_large_enough():
    for table in (LOGPROB_MISTAKES, COMPARISON_MISTAKES, DISTILL_MISTAKES, BT_MISTAKES):
        assert len(table) >= 5


def test_checks_leave_the_global_rng_alone():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    check_response_logprobs(S.response_logprobs)
    check_distill_kl(S.distill_kl)
    assert torch.equal(torch.rand(3), a)
