"""The paper's Gram loss (Eq. 3-6) and the guided Gram of Gatys et al. 2017 on small tensors."""

from __future__ import annotations

import itertools

import pytest
import torch

import nstlib
from nstlib.losses.style.gram import guided_gram, guided_style_loss


def test_gram_matrix_is_f_ft():
    f = torch.randn(2, 3, 4, 5)
    g = nstlib.gram_matrix(f)
    assert g.shape == (2, 3, 3)
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        expected = sum(float(f[b, i, y, x] * f[b, j, y, x]) for y in range(4) for x in range(5))
        assert g[b, i, j].item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_style_loss_formula_per_sample():
    f = torch.randn(2, 3, 4, 5)
    a = torch.randn(2, 3, 3)
    loss = nstlib.style_loss(f, a)
    n, m = 3, 20
    for b in range(2):
        g = f[b].reshape(3, -1) @ f[b].reshape(3, -1).T
        expected = float(((g - a[b]) ** 2).sum()) / (4 * n**2 * m**2)
        assert loss[b].item() == pytest.approx(expected, rel=1e-5)


def test_style_loss_zero_at_own_gram_and_batch_independent():
    f = torch.randn(2, 8, 6, 6)
    a = nstlib.gram_matrix(f)
    assert torch.allclose(nstlib.style_loss(f, a), torch.zeros(2), atol=1e-6)
    g = f.clone()
    g[1] += 1.0
    loss = nstlib.style_loss(g, a)
    assert loss[0].item() == pytest.approx(0.0, abs=1e-6) and loss[1].item() > 0


def test_style_loss_gradient_is_eq6():
    """∂E/∂F = (F Fᵀ − A) F / (N² M²) (Eq. 6), against autograd through the plain formula."""
    f = torch.randn(2, 4, 3, 5, dtype=torch.float32, requires_grad=True)
    g0 = torch.randn(2, 4, 6)
    a = torch.bmm(g0, g0.transpose(1, 2))
    (grad,) = torch.autograd.grad((nstlib.style_loss(f, a) * torch.tensor([1.0, 3.0])).sum(), f)
    ff = f.detach().flatten(2)
    expected = torch.bmm(torch.bmm(ff, ff.transpose(1, 2)) - a, ff) / (16 * 15**2)
    expected = expected * torch.tensor([1.0, 3.0]).view(2, 1, 1)
    assert torch.allclose(grad.flatten(2), expected, rtol=1e-4, atol=1e-6)


def test_guided_gram_all_ones_is_plain_gram():
    f = torch.randn(2, 5, 6, 7)
    assert torch.allclose(guided_gram(f, torch.ones(2, 1, 6, 7)), nstlib.gram_matrix(f), rtol=1e-5, atol=1e-4)
    a = torch.randn(2, 5, 5)
    assert torch.allclose(guided_style_loss(f, a, torch.ones(2, 1, 6, 7)), nstlib.style_loss(f, a), rtol=1e-5)


def test_guided_gram_formula():
    """G = (M / Σ T²) (F ∘ T)(F ∘ T)ᵀ: a half mask gives the half's Gram, scaled to the whole image."""
    f = torch.randn(1, 3, 4, 6)
    t = torch.zeros(1, 1, 4, 6)
    t[..., :3] = 1.0
    half = f[0, :, :, :3].reshape(3, -1)
    assert torch.allclose(guided_gram(f, t)[0], 2.0 * half @ half.T, rtol=1e-5, atol=1e-4)
