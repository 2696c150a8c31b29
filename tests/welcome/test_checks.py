"""The warm-up checks reject the stub and typical mistakes, and accept correct code."""

from __future__ import annotations

import pytest
import torch

from utils.checks import CheckFailed
from utils.welcome.checks import check_cross_entropy, check_softmax


def stub(*args):
    raise NotImplementedError


def softmax_ok(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def test_softmax_reference_passes():
    check_softmax(softmax_ok)


@pytest.mark.parametrize("wrong", [
    lambda z: torch.exp(z) / torch.exp(z).sum(dim=1, keepdim=True),               # overflows on large logits
    lambda z: torch.exp(z - z.max()) / torch.exp(z - z.max()).sum(dim=0, keepdim=True),  # wrong dimension
    lambda z: torch.exp(z - z.max(1, keepdim=True).values),                        # not normalised
    lambda z: softmax_ok(z).argmax(1),                                             # returns classes
    lambda z: None,                                                                # forgot return
])
def test_softmax_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_softmax(wrong)


def test_softmax_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_softmax(stub)


def ce_ok(z, y):
    m = z.max(1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(z - m).sum(1))
    return (lse - z[torch.arange(len(y)), y]).mean()


def test_cross_entropy_reference_passes():
    check_cross_entropy(ce_ok)


@pytest.mark.parametrize("wrong", [
    lambda z, y: -torch.log(torch.softmax(z, 1)[torch.arange(len(y)), y]).mean() * 0 + (-torch.log(
        torch.exp(z) / torch.exp(z).sum(1, keepdim=True))[torch.arange(len(y)), y]).mean(),  # naive: inf/nan
    lambda z, y: (torch.logsumexp(z, 1) - z[torch.arange(len(y)), y]).sum(),      # sum instead of mean
    lambda z, y: (z[torch.arange(len(y)), y] - torch.logsumexp(z, 1)).mean(),     # sign flipped
    lambda z, y: (torch.logsumexp(z, 1) - z[:, 0]).mean(),                        # ignores the labels
])
def test_cross_entropy_rejects_typical_mistakes(wrong):
    with pytest.raises(CheckFailed):
        check_cross_entropy(wrong)


def test_cross_entropy_rejects_stub():
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_cross_entropy(stub)
