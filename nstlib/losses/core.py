"""The losses of Gatys et al. (CVPR 2016), batched: every function returns one value per sample; the style
losses themselves, the paper's Gram loss among them, are in style/.

Notation of the paper: F (N_l × M_l) are the generated image's features at layer l (N_l channels,
M_l positions), P the content image's, A the style image's Gram matrix. All losses are computed
in fp32 whatever the features' precision.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import torch

from nstlib.losses import content as content_losses
from nstlib.losses.content.laplacian import laplacian_loss
from nstlib.losses.content.mse import content_loss as content_loss  # re-exported: the paper's content loss
from nstlib.losses.style import lookup
from nstlib.losses.style.gram import style_loss


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
    content_loss: str = "mse"  # its name in controls.CONTENT_LOSS_CATALOG
    laplacian: list[torch.Tensor] | None = None  # the content's pooled Laplacians (laplacian.laplacians), if used

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
        loss = lookup(group.kind)
        if not loss.applies(layer):
            continue  # e.g. mrf matches patches on mid layers only: a shallow layer's term is 0
        per_region = loss.loss(group.select(features), group.targets[layer], group.masks[layer])
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
    laplacian: torch.Tensor | None = None  # the Laplacian term's weight per sample; None: no sample uses it

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
            None if self.laplacian is None else self.laplacian[samples],
        )


@dataclass
class LossTerms:
    """Per-sample loss values: total = α Σ v_l content_l + β Σ w_l E_l + tv_weight · TV (Eq. 7)
    (+ laplacian_weight · L_lap)."""

    total: torch.Tensor
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor
    layers: dict[str, torch.Tensor] = field(default_factory=dict)  # "content_relu4_2" / "style_relu1_1" -> B
    laplacian: torch.Tensor | None = None  # L_lap, unweighted; None: no sample uses it (no losses.csv column)

    def columns(self) -> dict[str, torch.Tensor]:
        extra = {} if self.laplacian is None else {"laplacian": self.laplacian}
        return {
            "total": self.total,
            "content": self.content,
            "style": self.style,
            "tv": self.tv,
            **extra,
            **self.layers,
        }


def layer_terms(
    features: dict[str, torch.Tensor], targets: Targets, weights: LossWeights, only: Collection[str] | None = None
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Σ_l v_l content_l, Σ_l w_l E_l (Eq. 7 before α and β) and the unweighted per-layer terms, per sample,
    over the layers in `only` (None: all); `features` need hold only those."""
    zero = torch.zeros_like(weights.content, dtype=torch.float32)
    layers: dict[str, torch.Tensor] = {}
    content_term = content_losses.lookup(targets.content_loss).loss
    content = zero
    for i, (layer, target) in enumerate(targets.content.items()):
        if only is not None and layer not in only:
            continue
        f = features[layer]
        if weights.normalize_gradients:
            f = normalize_gradient(f, weights.content * weights.content_layers[:, i])
        layers[f"content_{layer}"] = term = content_term(f, target)
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
    laplacian = laplacian_term(images, targets, weights)
    if laplacian is not None:
        total = total + laplacian[0]
    return LossTerms(total, content, style, tv, layers, None if laplacian is None else laplacian[1])


def laplacian_term(
    images: torch.Tensor, targets: Targets, weights: LossWeights
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(laplacian_weight · L_lap, L_lap) per sample, or None where no sample of the batch uses the term."""
    if weights.laplacian is None or targets.laplacian is None:
        return None
    value = laplacian_loss(images, targets.laplacian)
    return weights.laplacian * value, value


class _NormalizeGradient(torch.autograd.Function):
    """Identity forward; backward g → w · g / (‖g‖₁ + 1e-8) per sample (neural-style's -normalize_gradients:
    each loss module divides its gradient by its L1 norm, then applies its weight)."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return features.view_as(features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (weight,) = ctx.saved_tensors
        shape = (-1,) + (1,) * (grad.dim() - 1)
        norm = grad.float().abs().flatten(1).sum(1).add(1e-8)
        return grad * (weight.float() / norm).view(shape).to(grad.dtype), None


def normalize_gradient(features: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`features` whose gradient (which carries the loss weight w) is rescaled to L1 norm w per sample."""
    out: torch.Tensor = _NormalizeGradient.apply(features, weight)
    return out
