"""The sliced Wasserstein loss against a direct implementation of Heitz et al.'s formula: value and gradient."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import sliced_w

from conftest import assert_mask_is_the_region_alone, assert_style_loss_is_direct


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
    f = torch.rand(1, 3, 4, 5, generator=gen) * 2
    s = torch.rand(1, 3, *style_hw, generator=gen) ** 2 * 3
    assert_style_loss_is_direct("sliced_w", f, s, lambda fd, sd: _naive(fd, sd, "relu2_1"))


def test_a_mask_is_the_distribution_of_the_region_alone():
    """A 0/1 mask gives the loss of the features inside it alone; the batch gives one value per sample."""
    assert assert_mask_is_the_region_alone("sliced_w", seed=5).shape == (2,)


def test_directions_are_unit_seeded_by_the_layer():
    d = sliced_w.directions(8, "relu3_1")
    torch.testing.assert_close(d.norm(dim=0), torch.ones(8))
    assert torch.equal(d, sliced_w.directions(8, "relu3_1")) and not torch.equal(d, sliced_w.directions(8, "relu4_1"))
