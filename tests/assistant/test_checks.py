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


LOGPROB_MISTAKES = {
    "no shift": (_lp_no_shift, "shift by one"),
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


DISTILL_MISTAKES = {
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
}


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
