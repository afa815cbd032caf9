"""The sliced projection + cross-entropy equals the plain one, loss and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from slmtui.ml import linear_loss


@pytest.mark.parametrize("tokens", [5, 1024, 2500])  # one slice, exactly one, several
def test_sliced_loss_and_gradient_match_the_plain_path(tokens):
    torch.manual_seed(tokens)
    head = torch.nn.Linear(32, 300, bias=False).requires_grad_(False)
    hidden = torch.randn(tokens, 32)
    targets = torch.randint(0, 300, (tokens,))

    plain = hidden.clone().requires_grad_()
    expected = F.cross_entropy(head(plain), targets, reduction="sum")
    (expected * 0.5).backward()
    fused = hidden.clone().requires_grad_()
    got = linear_loss.linear_cross_entropy(fused, head.weight, targets)
    (got * 0.5).backward()

    assert float(got) == pytest.approx(float(expected), rel=1e-5)
    torch.testing.assert_close(fused.grad, plain.grad, rtol=1e-4, atol=1e-7)
    with torch.no_grad():
        assert float(linear_loss.linear_cross_entropy(hidden, head.weight, targets)) == (
            pytest.approx(float(expected), rel=1e-5)
        )


def test_only_a_frozen_plain_projection_takes_the_sliced_path():
    assert linear_loss.supports(torch.nn.Linear(4, 8, bias=False).requires_grad_(False))
    assert not linear_loss.supports(torch.nn.Linear(4, 8, bias=False))  # trained: needs its grad
    assert not linear_loss.supports(torch.nn.Linear(4, 8).requires_grad_(False))  # a bias
