"""Channel means and standard deviations (Huang & Belongie 2017; Li et al. 2017, "Demystifying neural style
transfer", the batch-norm statistics kernel)."""

from __future__ import annotations

from typing import Any

import torch

from nstlib.losses.style.base import EPS, StyleLoss, moments, position_weights


def mean_std_target(mu: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_s, σ_s) from raw moments: σ² = E[f²] − μ²."""
    return mu, (second - mu * mu).clamp_min(0).add(EPS).sqrt()


def mean_std_loss(features: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor], p: torch.Tensor) -> torch.Tensor:
    """E_l = (1/N) Σ_i [(μ_i − μ_s,i)² + (σ_i − σ_s,i)²] per sample, μ_i, σ_i the (p-weighted) mean and
    standard deviation of channel i (Li et al. 2017, Eq. 8: matching batch-norm statistics; Huang &
    Belongie 2017 use the same statistics in AdaIN's style loss)."""
    mu, second = moments(features, p, full=False)
    return mean_std_from_moments(mu, second, target)


def mean_std_from_moments(
    mu: torch.Tensor, second: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """`mean_std_loss` from the generated image's moments μ (V×N) and E_p[f²] (V×N)."""
    sigma = (second - mu * mu).clamp_min(0).add(EPS).sqrt()
    mu_s, sigma_s = target
    return ((mu - mu_s).pow(2).sum(1) + (sigma - sigma_s).pow(2).sum(1)) / mu.shape[1]


class MeanStdLoss(StyleLoss):
    """`mean_std_loss` per region; its target (μ_s, σ_s)."""

    name = "mean_std"
    diagonal = True

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return mean_std_loss(features, target, position_weights(mask, features.shape, features.device))

    def from_moments(self, mu: torch.Tensor, second: torch.Tensor, positions: int) -> Any:
        return mean_std_target(mu, second)

    def loss_from_sums(self, s1: torch.Tensor | None, s2: torch.Tensor, target: Any, positions: int) -> torch.Tensor:
        assert s1 is not None
        return mean_std_from_moments(s1, s2, target)


LOSS = MeanStdLoss()
