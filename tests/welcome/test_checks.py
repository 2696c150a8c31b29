"""The warm-up checks accept correct code, say "not implemented yet" to the stub, stop an endless loop quickly and
leave the global random state alone. The table of typical mistakes is in test_mistakes.py."""

from __future__ import annotations

import pytest
import torch

from tests.mistakes import assert_endless_loop_fails_quickly, assert_stub_not_implemented
from utils.welcome.checks import check_cross_entropy, check_softmax


def softmax_ok(z):
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def ce_ok(z, y):
    m = z.max(1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(z - m).sum(1))
    return (lse - z[torch.arange(len(y)), y]).mean()


def test_correct_code_passes():
    check_softmax(softmax_ok)
    check_softmax(lambda z: torch.softmax(z, dim=1))
    check_cross_entropy(ce_ok)
    check_cross_entropy(lambda z, y: torch.nn.functional.cross_entropy(z, y))


@pytest.mark.parametrize("check", [check_softmax, check_cross_entropy])
def test_the_stub_is_not_implemented_yet(check):
    assert_stub_not_implemented(check)


@pytest.mark.parametrize("check", [check_softmax, check_cross_entropy])
def test_an_endless_loop_fails_quickly(check):
    assert_endless_loop_fails_quickly(check, within_s=5)


def test_checks_leave_the_random_state_alone():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    check_softmax(softmax_ok)
    check_cross_entropy(ce_ok)
    assert torch.equal(torch.rand(3), before)
