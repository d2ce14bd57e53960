"""The self-similarity content loss against STROTSS's formula, written with loops: value and gradient."""

from __future__ import annotations

import weakref

import pytest
import torch

from nstlib.losses.content import self_similarity as ss


def _naive(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """(1/n²) Σ_ij |D^X_ij / Σ_i D^X_ij − D^C_ij / Σ_i D^C_ij|, D_ij = 1 − cos(f_i, f_j), columns of N×n."""
    n = x.shape[1]

    def normalised(f: torch.Tensor) -> list[list[torch.Tensor]]:
        d = [[1 - torch.dot(f[:, i], f[:, j]) / (f[:, i].norm() * f[:, j].norm()) for j in range(n)] for i in range(n)]
        sums = [sum(d[i][j] for i in range(n)) for j in range(n)]
        return [[d[i][j] / sums[j] for j in range(n)] for i in range(n)]

    dx, dc = normalised(x), normalised(c)
    return sum(abs(dx[i][j] - dc[i][j]) for i in range(n) for j in range(n)) / n**2


@pytest.mark.parametrize("samples", [1024, 7])  # every position, and a sample of them
def test_value_and_gradient_against_the_direct_formula(monkeypatch, samples):
    monkeypatch.setattr(ss, "SIMILARITY_SAMPLES", samples)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 3, 4, generator=gen, dtype=torch.float64).requires_grad_(True)
    c = torch.rand(2, 3, 3, 4, generator=gen, dtype=torch.float64)
    value = ss.self_similarity_loss(x, c)
    (grad,) = torch.autograd.grad(value.sum(), x)
    xd = x.detach().clone().requires_grad_(True)
    at = ss.sample_positions(3, 4)
    assert at.numel() == min(samples, 12)
    expected = torch.stack([_naive(xd[b].flatten(1)[:, at], c[b].flatten(1)[:, at]) for b in range(2)])
    (expected_grad,) = torch.autograd.grad(expected.sum(), xd)
    torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-4, atol=1e-7)


def test_the_positions_are_seeded_by_the_map_size():
    assert torch.equal(ss.sample_positions(40, 50), ss.sample_positions(40, 50))
    assert ss.sample_positions(40, 50).unique().numel() == ss.SIMILARITY_SAMPLES


def test_the_loss_keeps_the_contents_matrix_only_while_the_target_is_unchanged():
    gen = torch.Generator().manual_seed(2)
    x, c = torch.rand(1, 4, 5, 6, generator=gen), torch.rand(1, 4, 5, 6, generator=gen)
    loss = ss.SelfSimilarityLoss()
    first = loss.loss(x, c)
    torch.testing.assert_close(first, ss.self_similarity_loss(x, c))
    torch.testing.assert_close(loss.loss(x, c), first)  # the kept matrix
    c.mul_(torch.rand(1, 4, 5, 6, generator=gen))  # changed in place: computed again
    torch.testing.assert_close(loss.loss(x, c), ss.self_similarity_loss(x, c))
    other = torch.rand(1, 4, 5, 6, generator=gen)
    torch.testing.assert_close(loss.loss(x, other), ss.self_similarity_loss(x, other))
    targets = [torch.rand(1, 4, 5, 6, generator=gen) for _ in range(ss.SelfSimilarityLoss.KEEP + 3)]
    for target in targets:  # at most KEEP matrices are kept
        loss.loss(x, target)
    assert len(loss._kept) == ss.SelfSimilarityLoss.KEEP
    kept = torch.rand(1, 4, 5, 6, generator=gen)
    loss.loss(x, kept)
    ref = weakref.ref(kept)
    del kept  # the loss does not keep a run's feature map alive
    assert ref() is None
