"""The paper's style loss: Gram matrices (Gatys et al., CVPR 2016, Eq. 3-6), and their guided form over a region
(Gatys et al., CVPR 2017, Sec. 4.1)."""

from __future__ import annotations

from typing import Any

import torch

from nstlib.losses.style.base import StyleLoss
from nstlib.model.vgg import positions_major


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F Fᵀ (Eq. 3), B×N×N in fp32, for features B×N×H×W."""
    f = positions_major(features)
    return torch.bmm(f.transpose(1, 2), f)


class _GramDistance(torch.autograd.Function):
    """scale · Σ (G − A)² per sample with G = F Fᵀ, and the analytic gradient 4 · scale · (G − A) F (Eq. 6).

    Takes Fᵀ (B×M×N). One matrix product in the backward pass instead of autograd's two
    (A is a Gram, so G − A is symmetric).
    """

    @staticmethod
    def forward(ctx: Any, ft: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
        diff = torch.bmm(ft.transpose(1, 2), ft) - target
        ctx.save_for_backward(ft, diff)
        ctx.scale = scale
        return diff.pow(2).flatten(1).sum(1) * scale

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        ft, diff = ctx.saved_tensors
        # scale the small N×N factor, not the M×N result
        return torch.bmm(ft, diff * (4.0 * ctx.scale * grad_out.view(-1, 1, 1))), None, None


def gram_scale(channels: int, positions: int) -> float:
    """1 / (4 N_l² M_l²), Eq. 4's normalisation."""
    return 1.0 / (4.0 * channels * channels * positions * positions)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = Σ (G − A)² / (4 N_l² M_l²) per sample (Eq. 4), for features B×N×H×W and A B×N×N (symmetric)."""
    n, m = features.shape[1], features.shape[2] * features.shape[3]
    loss: torch.Tensor = _GramDistance.apply(positions_major(features), target_gram.float(), gram_scale(n, m))
    return loss


def guided_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """G_r = (M / Σ_k T_k²) (F ∘ T)(F ∘ T)ᵀ, B×N×N, for a mask T (B×1×H×W) at the layer's resolution.

    (F ∘ T)(F ∘ T)ᵀ is the guided Gram matrix of Gatys et al. 2017 (Sec. 4.1, Eq. 4); the factor M / Σ T²
    makes it the Gram the region would have if it covered the whole image, so a region's Gram compares
    with its style's whatever its area (an all-ones mask gives the plain Gram, Eq. 3).
    """
    return gram_matrix(features.float() * mask_scale(mask))


def mask_scale(mask: torch.Tensor) -> torch.Tensor:
    """T · √(M / Σ T²): features multiplied by it have the guided Gram of `guided_gram`."""
    m = mask.shape[-2] * mask.shape[-1]
    t = mask.float()
    return t * (m / t.pow(2).flatten(1).sum(1).clamp_min(1e-8)).sqrt().view(-1, 1, 1, 1)


def guided_style_loss(features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """E_l of Eq. 4 on the guided Gram (Gatys et al. 2017, Eq. 5 per region); mask None: the plain `style_loss`."""
    return style_loss(features if mask is None else features.float() * mask_scale(mask), target_gram)


class GramLoss(StyleLoss):
    """E_l = Σ (G − A)² / (4 N_l² M_l²) (Eq. 4) on the guided Gram of each region; its target A is the Gram the
    style would have at the generated size, M_l · E[f fᵀ] (Eq. 3 with style images of any size)."""

    name = "gram"
    uses_mean = False

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return guided_style_loss(features, target, mask)

    def from_moments(self, mu: torch.Tensor, second: torch.Tensor, positions: int) -> Any:
        return positions * second

    def stack(self, rows: list[Any]) -> Any:
        return torch.cat(rows).float()

    def sum_weights(self, mask: torch.Tensor | None, shape: torch.Size, device: torch.device) -> torch.Tensor | None:
        # the guided Gram is Σ_k w_k f_k f_kᵀ with w = T² M / Σ T² (`guided_gram`)
        return None if mask is None else mask_scale(mask).pow(2)

    def loss_from_sums(self, s1: torch.Tensor | None, s2: torch.Tensor, target: Any, positions: int) -> torch.Tensor:
        return (s2 - target.float()).pow(2).flatten(1).sum(1) * gram_scale(s2.shape[-1], positions)


LOSS = GramLoss()
