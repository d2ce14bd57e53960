"""Relaxed earth mover's distance with a cosine cost, plus a moment term, after STROTSS (Kolkin, Salavon &
Shakhnarovich, "Style Transfer by Relaxed Optimal Transport and Self-Similarity", CVPR 2019, Sec. 2.1).

Departures: STROTSS compares hypercolumns of several layers and samples 1024 positions of both images at every
step; here each style layer has its own term, the style's positions are sampled once (at most REMD_SAMPLES,
seeded by the layer) and every generated position takes part, so each pixel has a gradient and the objective
stays fixed through a run (L-BFGS, the tolerance stop). The moment term is measured in units of the style's
feature scale (its root mean square): REMD's cosine cost is scale-free, and the Caffe VGG's activations are
~50× those of the network STROTSS used, which would leave REMD ~10⁴× below the raw moment term. The paper's
colour-palette term (REMD on pixel colours) is not part of it: a style loss sees one layer's features, never
the pixels.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch

from nstlib.losses.style.base import EPS, StyleLoss, flat, moments, position_weights

REMD_SAMPLES = 1024  # style positions per target, as STROTSS samples (cost ∝ generated positions × samples)
CHUNK = 4096  # generated positions per block of the cosine matrix
MATCH_VALUES = 2  # working copies per feature value: the unit vectors and their gradient


def sample_positions(weights: torch.Tensor, layer: str) -> torch.Tensor:
    """Indices of at most REMD_SAMPLES positions of positive weight, drawn without replacement, seeded by the layer."""
    eligible = torch.nonzero(weights > 0).flatten()
    if eligible.numel() <= REMD_SAMPLES:
        return eligible
    gen = torch.Generator().manual_seed(zlib.crc32(layer.encode()))
    return eligible[torch.randperm(eligible.numel(), generator=gen)[:REMD_SAMPLES].to(eligible.device)]


def unit(f: torch.Tensor) -> torch.Tensor:
    """Columns of f (N×M) scaled to unit length (a zero column stays zero)."""
    return f / f.norm(dim=0, keepdim=True).clamp_min(EPS)


def remd(f: torch.Tensor, p: torch.Tensor, samples: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """ℓ_r = max(Σ_i p_i min_j C_ij, Σ_j w_j min_i C_ij), C_ij = 1 − cos(f_i, s_j) (STROTSS, Eq. 4-6): the generated
    features f (N×M, position weights p) against the style samples s (unit, N×L, weights w); positions of zero
    weight take no part. The minima are found without gradient; the loss differentiates the chosen pairs."""
    u = unit(f)
    with torch.no_grad():
        rows, best, at = [], torch.full_like(w, -2.0), torch.zeros_like(w, dtype=torch.long)
        for start in range(0, f.shape[1], CHUNK):
            cos = u[:, start : start + CHUNK].T @ samples  # chunk×L
            rows.append(cos.argmax(1))
            cos[p[start : start + CHUNK] <= 0] = -2.0
            value, index = cos.T.contiguous().max(1)  # a reduction along rows of a row-major matrix is slow
            better = value > best
            best, at = torch.where(better, value, best), torch.where(better, index + start, at)
    row = (p * (1 - (u * samples[:, torch.cat(rows)]).sum(0))).sum()
    column = (w * (1 - (u[:, at] * samples).sum(0))).sum()
    return torch.maximum(row, column)


def moment_term(
    mu: torch.Tensor, cov: torch.Tensor, mu_s: torch.Tensor, cov_s: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """ℓ_m = (1/N) ‖μ − μ_s‖₁ / r + (1/N²) ‖Σ − Σ_s‖₁ / r² (STROTSS, Eq. 7, in units of r² = tr E_s[f fᵀ] / N,
    the style's mean square feature)."""
    n = mu.shape[-1]
    return (mu - mu_s).abs().sum(-1) / (n * scale.sqrt()) + (cov - cov_s).abs().flatten(-2).sum(-1) / (n * n * scale)


def covariance(mu: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Σ = E[f fᵀ] − μ μᵀ."""
    return second - mu.unsqueeze(-1) * mu.unsqueeze(-2)


def remd_loss(features: torch.Tensor, targets: list[tuple[torch.Tensor, ...]], p: torch.Tensor) -> torch.Tensor:
    """E_l = ℓ_r + ℓ_m per sample (STROTSS's style loss at one layer, Eq. 8 without the palette term)."""
    f = flat(features)
    p = p.to(f.device)
    mu, second = moments(features, p, full=True)
    cov = covariance(mu, second)
    out = []
    for i, (samples, w, mu_s, cov_s, scale) in enumerate(targets):
        out.append(remd(f[i], p[i], samples, w) + moment_term(mu[i], cov[i], mu_s, cov_s, scale))
    return torch.stack(out)


class REMDLoss(StyleLoss):
    """`remd_loss` per region; its target per region: the style's sampled unit features and their weights (a
    blend: every style's samples, weighted by its blend weight), the blended moments and their scale r². The
    minima over the generated positions need the whole map: a tiled run assembles it."""

    name = "remd"
    whole_map = True

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return remd_loss(features, target, position_weights(mask, features.shape, features.device))

    def statistics(self, features: torch.Tensor, guide: torch.Tensor | None, layer: str) -> Any:
        p = position_weights(guide, features.shape, features.device)
        mu, second = moments(features, p, full=True)
        return unit(flat(features)[0][:, sample_positions(p[0], layer)]), mu[0], second[0]

    def target(self, stats: list[Any], blend: list[float], positions: int) -> Any:
        samples = torch.cat([s[0] for s in stats], 1)
        w = torch.cat(
            [torch.full((s[0].shape[1],), b / s[0].shape[1], device=samples.device) for b, s in zip(blend, stats)]
        )
        mu = sum(b * s[1] for b, s in zip(blend, stats))
        second = sum(b * s[2] for b, s in zip(blend, stats))
        assert isinstance(mu, torch.Tensor) and isinstance(second, torch.Tensor)
        scale = second.diagonal(dim1=-2, dim2=-1).mean().clamp_min(EPS)
        return samples, w, mu, covariance(mu, second), scale

    def stack(self, rows: list[Any]) -> Any:
        return rows

    def working_values(self, layer: str, size: float, early_on_tiles: bool) -> float:
        return MATCH_VALUES * size  # of the whole map, tiled or not


LOSS = REMDLoss()
