"""The losses of Gatys et al. (CVPR 2016), batched: every function returns one value per sample.

Notation of the paper: F (N_l × M_l) are the generated image's features at layer l (N_l channels,
M_l positions), P the content image's, A the style image's Gram matrix. All losses are computed
in fp32 whatever the features' precision.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import torch

from nstlib.losses.style import family_loss, mrf_applies, normalize_gradient
from nstlib.model.vgg import positions_major


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G = F Fᵀ (Eq. 3), B×N×N in fp32, for features B×N×H×W."""
    f = positions_major(features)
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
    control: StyleControl | None = None  # style losses, masks or layer sets beyond the paper's: replaces `style`

    @property
    def style_layers(self) -> list[str]:
        return self.control.layers if self.control is not None else list(self.style)


@dataclass
class StyleGroup:
    """The samples of a batch sharing one style loss, each split into R regions (virtual samples b·R + r).

    A sample without masks has one region, the whole image, its styles blended; with `style_masks` region r
    is style r under its mask (Gatys et al. 2017, Sec. 4).
    """

    samples: torch.Tensor | None  # indices into the batch; None: every sample
    kind: str  # gram, mean_std, w2, mrf
    regions: int
    targets: dict[str, Any]  # layer -> the kind's targets over the S·R virtual samples
    masks: dict[str, torch.Tensor | None]  # layer -> (S·R)×1×H_l×W_l guidance channels T_r^l; None: no masks
    region_weights: dict[str, torch.Tensor]  # layer -> S×R: area fraction × blend weight, 0 outside a layer set

    def index(self, batch: int, device: torch.device) -> torch.Tensor | None:
        """The batch sample of each virtual sample (None: they are the batch itself)."""
        if self.samples is None and self.regions == 1:
            return None
        samples = self.samples if self.samples is not None else torch.arange(batch, device=device)
        return samples.repeat_interleave(self.regions)

    def select(self, features: torch.Tensor) -> torch.Tensor:
        """The virtual samples' features (S·R × …) from the batch's."""
        index = self.index(features.shape[0], features.device)
        return features if index is None else features.index_select(0, index)

    def combine(self, out: torch.Tensor, per_region: torch.Tensor, layer: str) -> torch.Tensor:
        """`out` (B) plus each member's Σ_r ρ_r · per_region (S·R values)."""
        term = (per_region.view(-1, self.regions) * self.region_weights[layer]).sum(1)
        return term if self.samples is None else out.index_add(0, self.samples, term)


@dataclass
class StyleControl:
    layers: list[str]
    groups: list[StyleGroup]


def control_style_loss(features: torch.Tensor, layer: str, control: StyleControl) -> torch.Tensor:
    """E_l per sample: Σ_r ρ_r E_l,r over each sample's regions, E_l,r its group's style loss on region r."""
    out = features.new_zeros(features.shape[0], dtype=torch.float32)
    for group in control.groups:
        if group.kind == "mrf" and not mrf_applies(layer):
            continue  # Li & Wand match patches on mid layers only; a shallow layer's term is 0
        f = group.select(features)
        mask, target = group.masks[layer], group.targets[layer]
        if group.kind == "gram":
            per_region = guided_style_loss(f, target, mask)
        else:
            per_region = family_loss(group.kind, f, target, mask)
        out = group.combine(out, per_region, layer)
    return out


@dataclass
class LossWeights:
    """Per-sample weights (each a tensor of length B): α, β, tv and per-layer v_l, w_l (columns in layer order)."""

    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    content_layers: torch.Tensor  # B×L_c
    style_layers: torch.Tensor  # B×L_s
    use_tv: bool = True  # known on the host, so the hot path never asks the device
    normalize_gradients: bool = False  # each layer's gradient rescaled to L1 norm = its weight (neural-style)

    def select(self, samples: torch.Tensor) -> LossWeights:
        """The weights of the samples at these batch indices."""
        return LossWeights(
            self.content[samples],
            self.style[samples],
            self.tv[samples],
            self.content_layers[samples],
            self.style_layers[samples],
            self.use_tv,
            self.normalize_gradients,
        )


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


def layer_terms(
    features: dict[str, torch.Tensor], targets: Targets, weights: LossWeights, only: Collection[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Σ_l v_l content_l, Σ_l w_l E_l (Eq. 7 before α and β) and the unweighted per-layer terms, per sample,
    over the layers in `only` (None: all); `features` need hold only those."""
    zero = torch.zeros_like(weights.content, dtype=torch.float32)
    layers: dict[str, torch.Tensor] = {}
    content = zero
    for i, (layer, target) in enumerate(targets.content.items()):
        if only is not None and layer not in only:
            continue
        f = features[layer]
        if weights.normalize_gradients:
            f = normalize_gradient(f, weights.content * weights.content_layers[:, i])
        layers[f"content_{layer}"] = term = content_loss(f, target)
        content = content + weights.content_layers[:, i] * term
    style = zero
    for i, layer in enumerate(targets.style_layers):
        if only is not None and layer not in only:
            continue
        f = features[layer]
        if weights.normalize_gradients:
            f = normalize_gradient(f, weights.style * weights.style_layers[:, i])
        if targets.control is not None:
            term = control_style_loss(f, layer, targets.control)
        else:
            term = style_loss(f, targets.style[layer])
        layers[f"style_{layer}"] = term
        style = style + weights.style_layers[:, i] * term
    return content, style, layers


def total_loss(
    features: dict[str, torch.Tensor], images: torch.Tensor, targets: Targets, weights: LossWeights
) -> LossTerms:
    """The weighted sum of Eq. 7 plus TV, per sample; the per-layer terms are unweighted."""
    content, style, layers = layer_terms(features, targets, weights)
    tv = tv_loss(images) if weights.use_tv else images.new_zeros(images.shape[0], dtype=torch.float32)
    total = weights.content * content + weights.style * style + weights.tv * tv
    return LossTerms(total, content, style, tv, layers)
