"""The Wasserstein-2 distance between Gaussian fits N(μ, Σ) of the feature distributions, in closed form
(Dowson & Landau 1982; as a style loss: Kolkin et al. 2019, Vacher et al. 2020)."""

from __future__ import annotations

from typing import Any

import torch

from nstlib.losses.style.base import StyleLoss, flat, position_weights


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Σ^{1/2} of symmetric PSD matrices (no gradient needed: targets only)."""
    values, vectors = torch.linalg.eigh(matrix.double())
    root = vectors * values.clamp_min(0).sqrt().unsqueeze(-2)
    return (root @ vectors.transpose(-1, -2)).float()


def w2_target(mu: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(μ_s, tr Σ_s, Σ_s^{1/2}) from raw moments: Σ_s = E[f fᵀ] − μ μᵀ."""
    cov = second - mu.unsqueeze(2) * mu.unsqueeze(1)
    cov = 0.5 * (cov + cov.transpose(1, 2))
    return mu, cov.diagonal(dim1=1, dim2=2).sum(1), _sqrtm_psd(cov)


class _NuclearNorm(torch.autograd.Function):
    """‖A X‖_* per sample (A V×N×N, X V×N×M) through the QR of Xᵀ = Q R: the singular values of A X are those of
    A Rᵀ (N×N when M ≥ N), and the gradient is Aᵀ U Vᵀ Qᵀ with A Rᵀ = U S Vᵀ: as svdvals(A X).sum(1)'s, without
    differentiating the QR (whose gradient is undefined where X is rank-deficient, e.g. a dead ReLU channel)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q, r = torch.linalg.qr(x.transpose(1, 2))
        u, s, vh = torch.linalg.svd(torch.bmm(a, r.transpose(1, 2)), full_matrices=False)
        ctx.save_for_backward(a, q, u, vh)
        return s.sum(1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        a, q, u, vh = ctx.saved_tensors
        g = torch.bmm(a.transpose(1, 2), torch.bmm(u, vh)) * grad.view(-1, 1, 1)
        return None, torch.bmm(g, q.transpose(1, 2))


def w2_cross(root_s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """‖Σ_s^{1/2} X‖_* per sample (V×N×N, V×N×M): the value and gradient of svdvals(Σ_s^{1/2} X).sum(1),
    with an SVD of N×N instead of N×M (tests/losses/test_style.py checks both)."""
    out: torch.Tensor = _NuclearNorm.apply(root_s, x)
    return out


def w2_loss(
    features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor, torch.Tensor], p: torch.Tensor
) -> torch.Tensor:
    """E_l = (1/N) W₂²(N(μ, Σ), N(μ_s, Σ_s)) per sample, with the closed form (Dowson & Landau 1982)

        W₂² = ‖μ − μ_s‖² + tr Σ + tr Σ_s − 2 tr (Σ_s^{1/2} Σ Σ_s^{1/2})^{1/2}.

    With X = (F − μ) diag(√p) (so Σ = X Xᵀ) the last trace is the nuclear norm ‖Σ_s^{1/2} X‖_*, the sum
    of singular values, whose gradient U Vᵀ stays finite where an eigendecomposition's would not.
    X is N×M with M (positions) ≫ N at shallow layers: with Xᵀ = Q R (reduced QR, Q orthonormal columns),
    ‖Σ_s^{1/2} X‖_* = ‖Σ_s^{1/2} Rᵀ‖_*, an N×N (or N×M if M < N) SVD instead of an N×M one.
    """
    f = flat(features)
    p = p.to(f.device)
    mu = torch.einsum("vnm,vm->vn", f, p)
    x = (f - mu.unsqueeze(2)) * p.sqrt().unsqueeze(1)
    mu_s, trace_s, root_s = target
    cross = w2_cross(root_s, x)
    w2 = (mu - mu_s).pow(2).sum(1) + x.pow(2).sum((1, 2)) + trace_s - 2.0 * cross
    return w2 / features.shape[1]


class _TraceSqrt(torch.autograd.Function):
    """tr (A Σ A)^{1/2} per sample (A symmetric, Σ PSD, V×N×N), = ‖A X‖_* for any X with X Xᵀ = Σ, with the gradient
    ½ A (A Σ A)^{+1/2} A: the pseudo-inverse root on its range, so rank-deficient Σ (a dead ReLU channel) give the
    nuclear norm's finite gradient (2 · this · X is w2_cross's A U Vᵀ Qᵀ)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        a64 = a.double()
        m = a64 @ cov.double() @ a64
        values, vectors = torch.linalg.eigh(0.5 * (m + m.transpose(1, 2)))
        root = values.clamp_min(0).sqrt()
        # eigenvalues at fp64 round-off of the largest are the null space of a rank-deficient Σ
        keep = values > values[:, -1:].clamp_min(0) * 1e-12
        ctx.save_for_backward(a64, vectors, torch.where(keep, 1.0 / root.clamp_min(1e-300), 0.0))
        return root.sum(1).to(cov.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        a, vectors, inverse_root = ctx.saved_tensors
        pinv_root = (vectors * inverse_root.unsqueeze(1)) @ vectors.transpose(1, 2)
        out = 0.5 * (a @ pinv_root @ a) * grad.double().view(-1, 1, 1)
        return None, out.to(grad.dtype)


def w2_from_moments(
    mu: torch.Tensor, second: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """`w2_loss` from the generated image's moments μ (V×N) and E_p[f fᵀ] (V×N×N), Σ = E_p[f fᵀ] − μ μᵀ: the
    closed form on N×N matrices, for features that are never whole (tiles)."""
    mu_s, trace_s, root_s = target
    cov = second - mu.unsqueeze(2) * mu.unsqueeze(1)
    cov = 0.5 * (cov + cov.transpose(1, 2))
    cross: torch.Tensor = _TraceSqrt.apply(root_s, cov)
    w2 = (mu - mu_s).pow(2).sum(1) + cov.diagonal(dim1=1, dim2=2).sum(1) + trace_s - 2.0 * cross
    return w2 / mu.shape[1]


class W2Loss(StyleLoss):
    """`w2_loss` per region (tiled: `w2_from_moments`); its target (μ_s, tr Σ_s, Σ_s^{1/2})."""

    name = "w2"

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return w2_loss(features, target, position_weights(mask, features.shape, features.device))

    def from_moments(self, mu: torch.Tensor, second: torch.Tensor, positions: int) -> Any:
        return w2_target(mu, second)

    def loss_from_sums(self, s1: torch.Tensor | None, s2: torch.Tensor, target: Any, positions: int) -> torch.Tensor:
        assert s1 is not None
        return w2_from_moments(s1, s2, target)


LOSS = W2Loss()
