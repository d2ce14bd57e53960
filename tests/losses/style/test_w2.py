"""The W2 loss against its closed form, and its two computations (features, moments) against each other."""

from __future__ import annotations

import pytest
import torch

from nstlib.losses.style import w2
from nstlib.losses.style.base import moments


def test_w2_formula_and_zero_at_own_distribution():
    f, s = torch.randn(2, 3, 4, 5) * 2 + 1, torch.randn(2, 3, 6, 6)
    p = torch.full((2, 20), 1 / 20)
    target = w2.w2_target(*moments(s, torch.full((2, 36), 1 / 36), full=True))
    loss = w2.w2_loss(f, target, p)
    for b in range(2):
        x, y = f[b].flatten(1).double(), s[b].flatten(1).double()
        mx, my = x.mean(1), y.mean(1)
        cx, cy = (x - mx[:, None]) @ (x - mx[:, None]).T / 20, (y - my[:, None]) @ (y - my[:, None]).T / 36
        vals, vecs = torch.linalg.eigh(cy)
        ry = vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T
        inner = torch.linalg.eigvalsh(ry @ cx @ ry).clamp_min(0).sqrt().sum()
        expected = ((mx - my) ** 2).sum() + torch.trace(cx) + torch.trace(cy) - 2 * inner
        assert loss[b].item() == pytest.approx(expected.item() / 3, rel=1e-3, abs=1e-4)
    own = w2.w2_target(*moments(f, p, full=True))
    assert w2.w2_loss(f, own, p).abs().max().item() < 1e-3


def test_w2_from_moments_matches_w2_from_features():
    """Tiled runs compute W2 from sums over tiles (moments, N×N matrices); whole images from the features (the
    QR of X): same value and feature gradient, with region weights p and a dead channel (Σ rank-deficient)."""
    gen = torch.Generator().manual_seed(3)
    f0 = torch.randn(2, 5, 6, 7, generator=gen, dtype=torch.float64).float() * 2 + 1
    f0[1, 2] = 0.0
    p = torch.rand(2, 42, generator=gen)
    p = p / p.sum(1, keepdim=True)
    s = torch.randn(2, 5, 8, 8, generator=gen)
    target = w2.w2_target(*moments(s, torch.full((2, 64), 1 / 64), full=True))
    values, grads = [], []
    for compute in (lambda f: w2.w2_loss(f, target, p), lambda f: w2.w2_from_moments(*moments(f, p, True), target)):
        f = f0.clone().requires_grad_()
        value = compute(f)
        value.sum().backward()
        values.append(value.detach())
        grads.append(f.grad)
    torch.testing.assert_close(values[1], values[0], rtol=1e-4, atol=1e-5)
    live = torch.ones(2, 5, dtype=torch.bool)
    live[1, 2] = False  # the gradient there is a subgradient (the null pair of ‖Σ_s^½ X‖_*), either is right
    torch.testing.assert_close(grads[1][live], grads[0][live], rtol=1e-3, atol=1e-5)
    assert bool(grads[1].isfinite().all())


@pytest.mark.parametrize("n, m", [(6, 40), (8, 5)])
def test_w2_cross_through_qr_matches_the_direct_svd(n, m):
    """w2_loss's ‖Σ_s^½ X‖_* through the QR of Xᵀ: value and gradient as svdvals(Σ_s^½ X), M > N and M < N,
    with a dead (all-zero) channel."""
    gen = torch.Generator().manual_seed(n * m)
    a = torch.randn(2, n, n, generator=gen, dtype=torch.float64)
    root = w2._sqrtm_psd(a @ a.transpose(1, 2) / n)
    x0 = torch.randn(2, n, m, generator=gen) / m**0.5
    x0[1, 0] = 0.0  # a dead channel: X rank-deficient, where differentiating through the QR gives NaN
    values, grads = [], []
    for cross in (w2.w2_cross, lambda r, x: torch.linalg.svdvals(torch.bmm(r, x)).sum(1)):
        x = x0.clone().requires_grad_()
        value = cross(root, x)
        value.sum().backward()
        values.append(value.detach())
        grads.append(x.grad)
    assert torch.allclose(values[0], values[1], rtol=1e-5, atol=2e-6), values
    assert torch.allclose(grads[0][0], grads[1][0], atol=2e-6), (grads[0][0] - grads[1][0]).abs().max()
    # sample 1 has a zero singular value: either gradient is a subgradient (U Vᵀ, the null pair chosen freely)
    assert bool(grads[0][1].isfinite().all())
