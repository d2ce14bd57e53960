"""The REMD loss against a direct implementation of STROTSS's formulas (full cost matrix): value and gradient."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import remd

from conftest import assert_mask_is_the_region_alone, assert_style_loss_is_direct


def _naive(f: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """max(mean_i min_j C_ij, mean_j min_i C_ij), C = 1 − cos, plus (1/N)‖Δμ‖₁/r + (1/N²)‖ΔΣ‖₁/r² (biased Σ),
    r² the style's mean square feature."""
    cost = torch.empty(f.shape[1], s.shape[1], dtype=f.dtype)
    for i in range(f.shape[1]):
        for j in range(s.shape[1]):
            cost[i, j] = 1 - torch.dot(f[:, i], s[:, j]) / (f[:, i].norm() * s[:, j].norm())
    relaxed = torch.maximum(cost.min(1)[0].mean(), cost.min(0)[0].mean())
    n = f.shape[0]
    cov_f, cov_s = torch.cov(f, correction=0), torch.cov(s, correction=0)
    r2 = (s**2).mean()
    return relaxed + (f.mean(1) - s.mean(1)).abs().sum() / (n * r2.sqrt()) + (cov_f - cov_s).abs().sum() / (n**2 * r2)


@pytest.mark.parametrize(
    "style_hw", [(3, 4), (6, 5)]
)  # the column term wins with few style samples, the row term with many
def test_value_and_gradient_against_the_direct_formula(style_hw):
    gen = torch.Generator().manual_seed(4)
    f = torch.rand(1, 3, 4, 5, generator=gen) * 2
    s = torch.rand(1, 3, *style_hw, generator=gen) ** 2 * 3
    assert_style_loss_is_direct("remd", f, s, _naive)


def test_a_mask_is_the_region_alone_and_the_cosine_matrix_is_chunked(monkeypatch):
    """A 0/1 mask gives the loss of the region's features alone, also when the cosine matrix comes in blocks."""
    monkeypatch.setattr(remd, "CHUNK", 5)
    assert_mask_is_the_region_alone("remd", seed=6)


def test_style_positions_are_sampled_once_seeded_by_the_layer(monkeypatch):
    monkeypatch.setattr(remd, "REMD_SAMPLES", 10)
    weights = torch.ones(50)
    weights[:20] = 0
    picked = remd.sample_positions(weights, "relu3_1")
    assert picked.numel() == 10 and picked.unique().numel() == 10 and bool((picked >= 20).all())
    assert torch.equal(picked, remd.sample_positions(weights, "relu3_1"))
