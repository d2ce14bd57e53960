"""The losses of Gatys et al. (CVPR 2016), batched: every function returns one value per sample.

Notation of the paper: F (N_l × M_l) are the generated image's features at layer l (N_l channels,
M_l positions), P the content image's, A the style image's Gram matrix. All losses are computed
in fp32 whatever the features' precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


def _positions_major(features: torch.Tensor) -> torch.Tensor:
    """Fᵀ as B×M×N in fp32: a free view of channels_last features (the extractor's layout)."""
    b, n = features.shape[:2]
    return features.float().permute(0, 2, 3, 1).reshape(b, -1, n)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F Fᵀ (Eq. 3), B×N×N in fp32, for features B×N×H×W."""
    f = _positions_major(features)
    return torch.bmm(f.transpose(1, 2), f)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ Σ (F − P)² per sample (Eq. 1)."""
    return 0.5 * (features.float() - target.float()).pow(2).flatten(1).sum(1)


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


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """E_l = Σ (G − A)² / (4 N_l² M_l²) per sample (Eq. 4), for features B×N×H×W and A B×N×N (symmetric)."""
    n, m = features.shape[1], features.shape[2] * features.shape[3]
    loss: torch.Tensor = _GramDistance.apply(
        _positions_major(features), target_gram.float(), 1.0 / (4.0 * n * n * m * m)
    )
    return loss


def tv_loss(images: torch.Tensor) -> torch.Tensor:
    """Σ (x[i, j+1] − x[i, j])² + (x[i+1, j] − x[i, j])² per sample (squared total variation)."""
    x = images.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).flatten(1).sum(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).flatten(1).sum(1)
    return dx + dy


@dataclass
class Targets:
    """Per-sample targets, computed once without gradients: content features P_l and style Grams A_l."""

    content: dict[str, torch.Tensor]  # layer -> B×N×H×W
    style: dict[str, torch.Tensor]  # layer -> B×N×N


@dataclass
class LossWeights:
    """Per-sample weights (each a tensor of length B): α, β, tv and per-layer v_l, w_l (columns in layer order)."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    content_layers: torch.Tensor  # B×L_c
    style_layers: torch.Tensor  # B×L_s
    use_tv: bool = True  # known on the host, so the hot path never asks the device


@dataclass
class LossTerms:
    """Per-sample loss values: total = α Σ v_l content_l + β Σ w_l E_l + tv_weight · TV (Eq. 7)."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    layers: dict[str, torch.Tensor] = field(default_factory=dict)  # "content_relu4_2" / "style_relu1_1" -> B

    def columns(self) -> dict[str, torch.Tensor]:
        return {"total": self.total, "content": self.content, "style": self.style, "tv": self.tv, **self.layers}


def total_loss(
    features: dict[str, torch.Tensor], images: torch.Tensor, targets: Targets, weights: LossWeights
) -> LossTerms:
    """The weighted sum of Eq. 7 plus TV, per sample; the per-layer terms are unweighted."""
    batch = images.shape[0]
    zero = images.new_zeros(batch, dtype=torch.float32)
    layers: dict[str, torch.Tensor] = {}
    content = zero
    for i, (layer, target) in enumerate(targets.content.items()):
        layers[f"content_{layer}"] = term = content_loss(features[layer], target)
        content = content + weights.content_layers[:, i] * term
    style = zero
    for i, (layer, gram) in enumerate(targets.style.items()):
        layers[f"style_{layer}"] = term = style_loss(features[layer], gram)
        style = style + weights.style_layers[:, i] * term
    tv = tv_loss(images) if weights.use_tv else zero
    total = weights.content * content + weights.style * style + weights.tv * tv
    return LossTerms(total, content, style, tv, layers)
