"""The temporal loss (1/D) Σ c (x − ω(x_prev))² of Ruder et al. (GCPR 2016, Eq. 7), against a direct computation."""

from __future__ import annotations

import torch

from nstlib.losses.temporal import TemporalLoss


def test_formula_and_gradient_per_sample():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 10, 12, generator=g, requires_grad=True)
    warped = torch.rand(2, 3, 10, 12, generator=g)
    c = (torch.rand(2, 10, 12, generator=g) > 0.3).float()
    value = TemporalLoss(warped, c)(x)
    assert value.shape == (2,)
    for b in range(2):
        direct = sum(
            float(c[b, i, j]) * float((x.detach()[b, ch, i, j] - warped[b, ch, i, j]) ** 2)
            for ch in range(3)
            for i in range(10)
            for j in range(12)
        ) / (3 * 10 * 12)
        assert abs(float(value[b]) - direct) < 1e-5
    (grad,) = torch.autograd.grad(value.sum(), x)
    expected = 2 * c.unsqueeze(1) * (x.detach() - warped) / (3 * 10 * 12)
    assert torch.allclose(grad, expected, atol=1e-7)


def test_uncertain_pixels_do_not_count_and_samples_select():
    x = torch.zeros(3, 3, 4, 4)
    warped = torch.ones(3, 3, 4, 4)
    c = torch.zeros(4, 4)
    c[0, 0] = 1  # one certain pixel of 16
    loss = TemporalLoss(warped, c)
    assert torch.allclose(loss(x), torch.full((3,), 1 / 16))
    assert loss(x[1:], torch.tensor([1, 2])).shape == (2,)
