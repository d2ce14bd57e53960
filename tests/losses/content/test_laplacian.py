"""The Laplacian content term (Li et al. 2017) against loops over the pooled pixels: value and gradient."""

from __future__ import annotations

import torch

from nstlib.losses.content.laplacian import laplacian_loss, laplacians


def _naive(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Σ_p Σ_ij (D_p(x) − D_p(c))², D the 4-neighbour Laplacian of the p×p block means, interior positions only."""
    total = torch.zeros((), dtype=x.dtype)
    for p in (4, 16):
        h, w = x.shape[-2] // p, x.shape[-1] // p
        for img_x, img_c in zip(x, c):
            pooled = [
                [[img[ch, i * p : (i + 1) * p, j * p : (j + 1) * p].mean() for j in range(w)] for i in range(h)]
                for img in (img_x, img_c)
                for ch in range(3)
            ]
            for ch in range(3):
                px, pc = pooled[ch], pooled[3 + ch]
                for i in range(1, h - 1):
                    for j in range(1, w - 1):
                        lap = [4 * q[i][j] - q[i - 1][j] - q[i + 1][j] - q[i][j - 1] - q[i][j + 1] for q in (px, pc)]
                        total = total + (lap[0] - lap[1]) ** 2
    return total


def test_value_and_gradient_against_the_direct_formula():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 52, generator=gen, dtype=torch.float64).requires_grad_(True)
    c = torch.rand(1, 3, 64, 52, generator=gen, dtype=torch.float64)
    value = laplacian_loss(x, laplacians(c))
    (grad,) = torch.autograd.grad(value.sum(), x)
    xd = x.detach().clone().requires_grad_(True)
    expected = _naive(xd, c)
    (expected_grad,) = torch.autograd.grad(expected, xd)
    torch.testing.assert_close(value[0].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-4, atol=1e-6)  # fp32 inside


def test_one_value_per_sample_zero_at_the_content():
    gen = torch.Generator().manual_seed(1)
    c = torch.rand(2, 3, 48, 48, generator=gen)
    x = c.clone()
    x[1] = torch.rand(3, 48, 48, generator=gen)
    value = laplacian_loss(x, laplacians(c))
    assert value.shape == (2,) and value[0].item() == 0.0 and value[1].item() > 0
