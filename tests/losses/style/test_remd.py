"""The REMD loss against a direct implementation of STROTSS's formulas (full cost matrix): value and gradient."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import lookup, remd


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
    f = (torch.rand(1, 3, 4, 5, generator=gen) * 2).requires_grad_(True)
    s = torch.rand(1, 3, *style_hw, generator=gen) ** 2 * 3
    loss = lookup("remd")
    target = loss.stack([loss.target([loss.statistics(s, None, "relu2_1")], [1.0], 20)])
    value = loss.loss(f, target, None)
    (grad,) = torch.autograd.grad(value.sum(), f)
    fd = f.detach().double().requires_grad_(True)
    expected = _naive(fd[0].flatten(1), s[0].flatten(1).double())
    (expected_grad,) = torch.autograd.grad(expected, fd)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-4, atol=1e-7)


def test_a_mask_is_the_region_alone_and_the_cosine_matrix_is_chunked(monkeypatch):
    """A 0/1 mask gives the loss of the region's features alone, also when the cosine matrix comes in blocks."""
    monkeypatch.setattr(remd, "CHUNK", 5)
    gen = torch.Generator().manual_seed(6)
    f, s = torch.rand(2, 3, 4, 6, generator=gen), torch.rand(1, 3, 5, 5, generator=gen)
    loss = lookup("remd")
    row = loss.target([loss.statistics(s, None, "relu1_1")], [1.0], 24)
    mask = torch.zeros(2, 1, 4, 6)
    mask[0, :, :, :3] = 1
    mask[1, :, 1:, :] = 1
    masked = loss.loss(f, loss.stack([row, row]), mask)
    alone = [loss.loss(f[0:1, :, :, :3], [row], None), loss.loss(f[1:2, :, 1:, :], [row], None)]
    torch.testing.assert_close(masked, torch.cat(alone), rtol=1e-5, atol=1e-7)


def test_style_positions_are_sampled_once_seeded_by_the_layer(monkeypatch):
    monkeypatch.setattr(remd, "REMD_SAMPLES", 10)
    weights = torch.ones(50)
    weights[:20] = 0
    picked = remd.sample_positions(weights, "relu3_1")
    assert picked.numel() == 10 and picked.unique().numel() == 10 and bool((picked >= 20).all())
    assert torch.equal(picked, remd.sample_positions(weights, "relu3_1"))
