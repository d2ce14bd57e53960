"""Exact losses and gradients of Gatys et al. (CVPR 2016) with VGG run tile by tile, so memory is bounded.

The Gram matrix G = F Fᵀ (Eq. 3) is a sum over positions, so it accumulates tile by tile; given the
whole image's G, the style gradient at a position, 4·scale·(G − A) f (Eq. 6), depends only on that
position's features, and the content gradient f − p (Eq. 2) is local too. One step therefore runs as
(a) a no-grad pass over tiles that accumulates every style layer's G, then (b) per tile a forward and
a backward that injects the exact upstream gradient at the tile's own feature positions; the input
gradients of all tiles add up to the whole image's.

Exactness: tiles are cut from the mirror-padded image (as VGGFeatures pads the whole image) at
multiples of 16 px, so every pooling window is the one of the untiled pass; each tile carries a halo
of `memory.halo(model, deepest layer)` pixels, at least half VGG's receptive field there, so the
features at the tile's own positions do not see the crop's border, and the backward from those
positions reaches only pixels inside the crop.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch

from . import losses
from .layers import feature_size, layer_channels, layer_names
from .losses import LossTerms, LossWeights, Targets, tv_loss
from .vgg import MIRROR, VGGFeatures, mirror_pad

ALIGN = 16  # the deepest pooling stride: tile edges on this grid keep VGG's pooling windows


def halo(model: str, layer: str) -> int:
    """Pixels of context a tile needs for exact features at `layer`: half VGG's receptive field there
    (each 3×3 conv adds one position of its level's stride, each 2×2 pooling one), rounded up to ALIGN."""
    reach, stride = 0, 1
    for name in layer_names(model):
        if name.startswith(("conv", "pool")):
            reach += stride
        if name.startswith("pool"):
            stride *= 2
        if name == layer:
            break
    return -(-reach // ALIGN) * ALIGN


def deepest(model: str, layers: Sequence[str]) -> str:
    order = layer_names(model)
    return max(layers, key=order.index)


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    return [(a, min(a + tile, n)) for a in range(0, n, tile)]


Crop = tuple[int, int, int, int, int, int]  # interior y0, y1, x0, x1 (image px); crop origin cy0, cx0 (padded px)


def _crops(height: int, width: int, tile: int, margin: int) -> Iterator[tuple[Crop, tuple[slice, slice]]]:
    """Each tile's interior and its crop (interior ± margin, clipped) of the mirror-padded image."""
    for y0, y1 in _spans(height, tile):
        for x0, x1 in _spans(width, tile):
            cy0, cx0 = max(0, y0 + MIRROR - margin), max(0, x0 + MIRROR - margin)
            cy1, cx1 = min(height + 2 * MIRROR, y1 + MIRROR + margin), min(width + 2 * MIRROR, x1 + MIRROR + margin)
            yield (y0, y1, x0, x1, cy0, cx0), (slice(cy0, cy1), slice(cx0, cx1))


def _own(f: torch.Tensor, level: int, crop: Crop) -> tuple[torch.Tensor, tuple[slice, slice]]:
    """The features of `f` (a crop's, uncropped) at the tile's own positions, and where they sit in the image's map."""
    y0, y1, x0, x1, cy0, cx0 = crop
    s = 2**level
    fy0, fy1, fx0, fx1 = y0 // s, -(-y1 // s), x0 // s, -(-x1 // s)
    oy, ox = (y0 + MIRROR - cy0) // s, (x0 + MIRROR - cx0) // s
    return f[..., oy : oy + fy1 - fy0, ox : ox + fx1 - fx0], (slice(fy0, fy1), slice(fx0, fx1))


def padded(extractor: VGGFeatures, images: torch.Tensor) -> torch.Tensor:
    """The preprocessed, mirror-padded images, as the untiled pass feeds its conv stack (differentiable)."""
    if extractor.padding != "mirror":
        raise ValueError("tiles need the extractor's mirror padding")
    return mirror_pad(extractor.preprocess(images), MIRROR)


def _positions_major(f: torch.Tensor) -> torch.Tensor:
    b, n = f.shape[:2]
    return f.float().permute(0, 2, 3, 1).reshape(b, -1, n)


@torch.no_grad()
def features(extractor: VGGFeatures, images: torch.Tensor, layers: Sequence[str], tile: int) -> dict[str, torch.Tensor]:
    """extractor(images, layers), assembled tile by tile (fp32); for content targets, whose layers are deep."""
    height, width = images.shape[-2:]
    xp = padded(extractor, images)
    margin = halo(extractor.model, deepest(extractor.model, layers))
    out = {
        layer: images.new_zeros(
            images.shape[0],
            layer_channels(extractor.model, layer),
            *feature_size(extractor.model, layer, height, width),
        )
        for layer in layers
    }
    for crop, (sy, sx) in _crops(height, width, tile, margin):
        feats = extractor.stack(xp[..., sy, sx], set(layers))
        for layer in layers:
            f, (fy, fx) = _own(feats[layer], extractor.level(layer), crop)
            out[layer][..., fy, fx] = f.float()
    return {layer: f.contiguous(memory_format=torch.channels_last) for layer, f in out.items()}


@torch.no_grad()
def grams(extractor: VGGFeatures, images: torch.Tensor, layers: Sequence[str], tile: int) -> dict[str, torch.Tensor]:
    """G_l = F_l F_lᵀ (Eq. 3) per layer, B×N×N fp32, summed over tiles (pass (a))."""
    height, width = images.shape[-2:]
    xp = padded(extractor, images)
    margin = halo(extractor.model, deepest(extractor.model, layers))
    out: dict[str, torch.Tensor] = {}
    for crop, (sy, sx) in _crops(height, width, tile, margin):
        feats = extractor.stack(xp[..., sy, sx], set(layers))
        for layer in layers:
            ft = _positions_major(_own(feats[layer], extractor.level(layer), crop)[0])
            g = torch.bmm(ft.transpose(1, 2), ft)
            out[layer] = out[layer] + g if layer in out else g
    return out


def loss_terms(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, tile: int
) -> LossTerms:
    """losses.total_loss(extractor(images), images, targets, weights), with VGG run tile by tile.

    The values are the paper's exact losses; `total` is differentiable w.r.t. `images` when they
    require grad (a step runs passes (a) and (b)), and has the gradient of the untiled loss.
    """
    batch, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    model = extractor.model
    style_layers, content_layers = list(targets.style), list(targets.content)
    zero = images.new_zeros(batch, dtype=torch.float32)
    terms: dict[str, torch.Tensor] = {}
    diffs: dict[str, torch.Tensor] = {}
    coef: dict[str, torch.Tensor] = {}
    style = zero
    if style_layers:
        for i, (layer, g) in enumerate(grams(extractor, images.detach(), style_layers, tile).items()):
            n, m = g.shape[-1], math.prod(feature_size(model, layer, height, width))
            scale = 1.0 / (4.0 * n * n * m * m)
            diffs[layer] = diff = g - targets.style[layer].float()
            terms[f"style_{layer}"] = term = diff.pow(2).flatten(1).sum(1) * scale
            style = style + weights.style_layers[:, i] * term
            # dE/dF at a position: 4·scale·(G − A) f (Eq. 6), times the sample's weights β·w_l
            coef[layer] = (4.0 * scale * weights.style * weights.style_layers[:, i]).view(-1, 1, 1)
    needs_grad = images.requires_grad and torch.is_grad_enabled()
    xp = padded(extractor, images)
    source = xp.detach()
    grad = torch.zeros_like(source) if needs_grad else None
    content_terms = {layer: zero for layer in content_layers}
    wanted = set(style_layers) | set(content_layers)
    margin = halo(model, deepest(model, list(wanted)))
    for crop, (sy, sx) in _crops(height, width, tile, margin):
        piece = source[..., sy, sx]
        with torch.set_grad_enabled(needs_grad):
            if needs_grad:
                piece.requires_grad_(True)
            feats = extractor.stack(piece, wanted)
            surrogate = images.new_zeros(())
            for i, layer in enumerate(content_layers):
                f, (fy, fx) = _own(feats[layer], extractor.level(layer), crop)
                d = f.float() - targets.content[layer][..., fy, fx].float()
                content_terms[layer] = content_terms[layer] + 0.5 * d.detach().pow(2).flatten(1).sum(1)
                w = (weights.content * weights.content_layers[:, i]).view(-1, 1, 1, 1)
                surrogate = surrogate + (f.float() * (w * d.detach())).sum()
            if needs_grad:
                for layer in style_layers:
                    ft = _positions_major(_own(feats[layer], extractor.level(layer), crop)[0])
                    upstream = torch.bmm(ft.detach(), diffs[layer]) * coef[layer]
                    surrogate = surrogate + (ft * upstream).sum()
                (g_piece,) = torch.autograd.grad(surrogate, piece)
                assert grad is not None
                grad[..., sy, sx] += g_piece.float()
    content = zero
    for i, layer in enumerate(content_layers):
        terms[f"content_{layer}"] = content_terms[layer]
        content = content + weights.content_layers[:, i] * content_terms[layer]
    tv = tv_loss(images) if weights.use_tv else zero
    total = weights.content * content + weights.style * style + weights.tv * tv
    if grad is not None:
        # value unchanged (link − link is exactly 0); gradient: the untiled one, through padding and preprocessing
        link = (xp * grad).flatten(1).sum(1) + weights.tv * tv
        total = total.detach() + (link - link.detach())
    layers = {
        **{k: v for k, v in terms.items() if k.startswith("content_")},
        **{k: v for k, v in terms.items() if k.startswith("style_")},
    }
    return LossTerms(total, content, style, tv, layers)


def total_loss(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, tile: int
) -> LossTerms:
    """The run's losses: on tiles of `tile` px when the image is larger, else losses.total_loss on the whole image."""
    if tile and max(images.shape[-2:]) > tile:
        return loss_terms(extractor, images, targets, weights, tile)
    return losses.total_loss(extractor(images), images, targets, weights)
