"""The temporal loss (1/D) Σ c (x − ω(x_prev))² of Ruder et al. (GCPR 2016, Eq. 7), against a direct computation."""

from __future__ import annotations

import torch

from nstlib.losses.temporal import TemporalLoss, long_term_target


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


def test_long_term_target_is_the_sum_of_the_paper_terms():
    """Eq. 8–9: Σ_j c_long(i−j) (x − ω_j)² with c_long(i−j) = max(c(i−j) − Σ_{k<j} c(i−k), 0): one combined
    TemporalLoss has the same value (binary c) and gradient (any c)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 8, 9, generator=g, requires_grad=True)
    warps = [torch.rand(1, 3, 8, 9, generator=g) for _ in range(3)]
    for binary in (True, False):
        cs = [torch.rand(8, 9, generator=g) for _ in range(3)]
        cs = [(c > 0.5).float() for c in cs] if binary else cs
        seen, direct = torch.zeros(8, 9), torch.zeros(1)
        for w, c in zip(warps, cs):
            c_long = (c - seen).clamp(min=0)
            seen = seen + c
            direct = direct + TemporalLoss(w, c_long)(x)
        combined = TemporalLoss(*long_term_target(warps, cs))(x)
        if binary:
            assert torch.allclose(combined, direct, atol=1e-6)
        (g_direct,) = torch.autograd.grad(direct.sum(), x)
        (g_combined,) = torch.autograd.grad(combined.sum(), x)
        assert torch.allclose(g_combined, g_direct, atol=1e-6)
    # a pixel seen by the nearest frame is tied to it alone
    near, far = torch.ones(8, 9), torch.ones(8, 9)
    w, c = long_term_target([warps[0], warps[1]], [near, far])
    assert torch.equal(c, torch.ones(8, 9)) and torch.allclose(w, warps[0])
