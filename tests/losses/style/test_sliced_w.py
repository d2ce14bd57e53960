"""The sliced Wasserstein loss against a direct implementation of Heitz et al.'s formula: value and gradient."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import lookup, sliced_w


def _naive(f: torch.Tensor, s: torch.Tensor, layer: str) -> torch.Tensor:
    """Per direction: sort both projections, repeat each generated value L times and each style value M times
    (both M·L long, uniform: the same distributions), mean squared difference; mean over directions."""
    d = sliced_w.directions(f.shape[0], layer).double()
    total = torch.zeros((), dtype=torch.float64)
    m, n = f.shape[1], s.shape[1]
    for j in range(d.shape[1]):
        x = torch.sort(d[:, j] @ f.double())[0].repeat_interleave(n)
        y = torch.sort(d[:, j] @ s.double())[0].repeat_interleave(m)
        total = total + ((x - y) ** 2).mean()
    return total / d.shape[1]


@pytest.mark.parametrize("style_hw", [(5, 6), (4, 5), (3, 3)])  # fewer and as many style positions as generated
def test_value_and_gradient_against_the_direct_formula(style_hw):
    gen = torch.Generator().manual_seed(2)
    f = (torch.rand(1, 3, 4, 5, generator=gen) * 2).requires_grad_(True)
    s = torch.rand(1, 3, *style_hw, generator=gen) ** 2 * 3
    loss = lookup("sliced_w")
    target = loss.stack([loss.target([loss.statistics(s, None, "relu2_1")], [1.0], 20)])
    value = loss.loss(f, target, None)
    (grad,) = torch.autograd.grad(value.sum(), f)
    fd = f.detach().double().requires_grad_(True)
    expected = _naive(fd[0].flatten(1), s[0].flatten(1), "relu2_1")
    (expected_grad,) = torch.autograd.grad(expected, fd)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-4, atol=1e-7)


def test_a_mask_is_the_distribution_of_the_region_alone():
    """A 0/1 mask gives the loss of the features inside it alone; the batch gives one value per sample."""
    gen = torch.Generator().manual_seed(5)
    f, s = torch.rand(2, 3, 4, 6, generator=gen), torch.rand(1, 3, 5, 5, generator=gen)
    loss = lookup("sliced_w")
    row = loss.target([loss.statistics(s, None, "relu1_1")], [1.0], 24)
    mask = torch.zeros(2, 1, 4, 6)
    mask[0, :, :, :3] = 1
    mask[1, :, 1:, :] = 1
    masked = loss.loss(f, loss.stack([row, row]), mask)
    assert masked.shape == (2,)
    alone = [loss.loss(f[0:1, :, :, :3], [row], None), loss.loss(f[1:2, :, 1:, :], [row], None)]
    torch.testing.assert_close(masked, torch.cat(alone), rtol=1e-5, atol=1e-7)


def test_directions_are_unit_seeded_by_the_layer():
    d = sliced_w.directions(8, "relu3_1")
    torch.testing.assert_close(d.norm(dim=0), torch.ones(8))
    assert torch.equal(d, sliced_w.directions(8, "relu3_1")) and not torch.equal(d, sliced_w.directions(8, "relu4_1"))
