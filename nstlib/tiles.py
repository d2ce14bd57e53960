"""Exact losses and gradients of Gatys et al. (CVPR 2016) with VGG's early layers run tile by tile.

Memory goes to the early layers: at full resolution they hold ~90% of VGG's activations, the layers
after pool3 ~10%. So a pass is split at a pooling layer, the cut: the layers through the cut run on
tiles of the (mirror-padded) image, each with a halo covering their receptive field; the layers after
it run on the whole image's cut features, assembled from the tiles — small (1/64 of the pixels after
pool3) and with a short reach, so they need no halo.

A step then runs as (a) a no-grad pass over the tiles that accumulates every early style layer's Gram
G = F Fᵀ (Eq. 3, a sum over positions) and assembles the cut features; (b) the layers after the cut on
the whole map, forward and backward, which gives the deep losses and their exact gradient w.r.t. the
cut features; (c) per tile a forward and a backward that injects the exact upstream gradient at the
tile's own positions: the cut's from (b), the style gradient 4·scale·(G − A) f (Eq. 6) — local once
the whole image's G is known — and the content gradient f − p (Eq. 2). The tiles' input gradients add
up to the whole image's. Passes (a) and (c) cost two forwards and a backward of the early layers; with
halos of 32 px (pool3) a 1024 px tile adds ~13% of them.

Exactness: tiles partition the padded image at multiples of 16 px, so every pooling window is the one
of the untiled pass, and each crop carries `halo(model, cut)` pixels of context, at least VGG's reach
at the cut, so the features at a tile's own positions do not see the crop's border.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from . import losses
from .layers import feature_size, layer_channels, layer_names
from .losses import LossTerms, LossWeights, Targets, content_loss, gram_matrix, positions_major, style_loss, tv_loss
from .vgg import MIRROR, VGGFeatures, mirror_pad

ALIGN = 16  # the deepest pooling stride: tile edges on this grid keep VGG's pooling windows
CUT_LEVELS = (2, 3, 4)  # pool2, pool3, pool4: deeper cuts leave less on the whole image but need wider halos


def halo(model: str, layer: str) -> int:
    """Pixels of context a tile needs for exact features at `layer`: VGG's reach there (each 3×3 conv
    adds one position of its level's stride, each 2×2 pooling one), rounded up to ALIGN."""
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


@dataclass(frozen=True)
class Tiling:
    """Layers through `cut` run on tiles of `tile` px of the padded image, with `halo` px of context."""

    tile: int
    cut: str
    halo: int

    def applies(self, height: int, width: int) -> bool:
        """Whether an image of this size is larger than one tile (else it runs whole)."""
        return max(height, width) + 2 * MIRROR > self.tile


def tiling(model: str, layers: Sequence[str], tile: int, level: int) -> Tiling:
    """Tiles of `tile` px cut after pool`level`, or after the deepest of `layers` when that comes first."""
    order = layer_names(model)
    pool = [name for name in order if name.startswith("pool")][level - 1]
    last = deepest(model, layers)
    cut = last if order.index(last) <= order.index(pool) else pool
    return Tiling(tile, cut, halo(model, cut))


def split(model: str, layers: Sequence[str], cut: str) -> tuple[list[str], list[str]]:
    """`layers` (deduplicated) computed on tiles (through the cut) and on the whole image (after it)."""
    order = layer_names(model)
    unique = list(dict.fromkeys(layers))
    return [x for x in unique if order.index(x) <= order.index(cut)], [
        x for x in unique if order.index(x) > order.index(cut)
    ]


@dataclass(frozen=True)
class _Tile:
    y0: int  # own pixels [y0, y1) × [x0, x1) of the padded image
    y1: int
    x0: int
    x1: int
    cy0: int  # the crop's origin
    cx0: int
    crop: tuple[slice, slice]

    def own(self, f: torch.Tensor, level: int) -> tuple[torch.Tensor, tuple[slice, slice]]:
        """The crop's features at `level`, at the tile's own positions, and where they sit in the padded map."""
        s = 2**level
        fy0, fy1, fx0, fx1 = self.y0 // s, -(-self.y1 // s), self.x0 // s, -(-self.x1 // s)
        oy, ox = (self.y0 - self.cy0) // s, (self.x0 - self.cx0) // s
        return f[..., oy : oy + fy1 - fy0, ox : ox + fx1 - fx0], (slice(fy0, fy1), slice(fx0, fx1))

    def inside(
        self, f: torch.Tensor, level: int, height: int, width: int
    ) -> tuple[torch.Tensor, tuple[slice, slice]] | None:
        """Like `own`, limited to the image (the mirrored border's features are not the image's), with
        the positions in the image's feature map; None if the tile has none there."""
        s, p = 2**level, MIRROR >> level
        own, (fy, fx) = self.own(f, level)
        ay, by = max(fy.start, p), min(fy.stop, p - (-height // s))
        ax, bx = max(fx.start, p), min(fx.stop, p - (-width // s))
        if ay >= by or ax >= bx:
            return None
        part = own[..., ay - fy.start : by - fy.start, ax - fx.start : bx - fx.start]
        return part, (slice(ay - p, by - p), slice(ax - p, bx - p))


def spans(size: int, tile: int) -> list[tuple[int, int]]:
    """A side of `size` px cut into the fewest pieces of at most `tile` px, of equal sides on the ALIGN grid
    (no thin last tile paying a whole halo for a few pixels)."""
    pieces = -(-size // tile)
    step = -(-size // pieces // ALIGN) * ALIGN if pieces > 1 else size
    step = min(tile, max(step, ALIGN))
    return [(a, min(a + step, size)) for a in range(0, size, step)]


def _tiles(height: int, width: int, t: Tiling) -> Iterator[_Tile]:
    """The tiles of a padded image height × width, each with its crop (own pixels ± halo, clipped)."""
    for y0, y1 in spans(height, t.tile):
        for x0, x1 in spans(width, t.tile):
            cy0, cx0 = max(0, y0 - t.halo), max(0, x0 - t.halo)
            crop = (slice(cy0, min(height, y1 + t.halo)), slice(cx0, min(width, x1 + t.halo)))
            yield _Tile(y0, y1, x0, x1, cy0, cx0, crop)


def padded(extractor: VGGFeatures, images: torch.Tensor) -> torch.Tensor:
    """The preprocessed, mirror-padded images, as the untiled pass feeds its conv stack (differentiable)."""
    if extractor.padding != "mirror":
        raise ValueError("tiles need the extractor's mirror padding")
    return mirror_pad(extractor.preprocess(images), MIRROR)


Visit = Callable[[str, torch.Tensor, tuple[slice, slice]], None]


@torch.no_grad()
def _early(
    extractor: VGGFeatures,
    xp: torch.Tensor,
    hw: tuple[int, int],
    t: Tiling,
    early: list[str],
    whole: bool,
    visit: Visit,
) -> torch.Tensor | None:
    """Pass (a): each tile through the cut; `visit(layer, features, where)` for each early layer's features
    inside the image; returns the cut features of the whole padded map if `whole`."""
    level = extractor.level(t.cut)
    cut_map = None
    if whole:
        s = 2**level
        cut_map = xp.new_zeros(
            xp.shape[0],
            layer_channels(extractor.model, t.cut),
            -(-xp.shape[-2] // s),
            -(-xp.shape[-1] // s),
            dtype=extractor.dtype,
        )
    for tile in _tiles(xp.shape[-2], xp.shape[-1], t):
        feats = extractor.stack(xp[..., tile.crop[0], tile.crop[1]], set(early) | ({t.cut} if whole else set()))
        for layer in early:
            part = tile.inside(feats[layer], extractor.level(layer), *hw)
            if part is not None:
                visit(layer, *part)
        if cut_map is not None:
            f, (fy, fx) = tile.own(feats[t.cut], level)
            cut_map[..., fy, fx] = f
    return cut_map


def _late(
    extractor: VGGFeatures, cut_map: torch.Tensor, hw: tuple[int, int], t: Tiling, late: list[str]
) -> dict[str, torch.Tensor]:
    """The layers after the cut on the whole cut map, cropped to the image (as extractor(images) gives them)."""
    feats = extractor.stack(cut_map, set(late), after=t.cut)
    return {layer: extractor.to_image(layer, feats[layer], *hw) for layer in late}


@torch.no_grad()
def features(extractor: VGGFeatures, images: torch.Tensor, layers: Sequence[str], t: Tiling) -> dict[str, torch.Tensor]:
    """extractor(images, layers), assembled tile by tile (fp32): content targets of large images."""
    hw = (images.shape[-2], images.shape[-1])
    early, late = split(extractor.model, layers, t.cut)
    out = {
        layer: images.new_zeros(
            images.shape[0], layer_channels(extractor.model, layer), *feature_size(extractor.model, layer, *hw)
        )
        for layer in early
    }

    def keep(layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        out[layer][..., where[0], where[1]] = f.float()

    cut_map = _early(extractor, padded(extractor, images), hw, t, early, bool(late), keep)
    if cut_map is not None:
        out.update({layer: f.float() for layer, f in _late(extractor, cut_map, hw, t, late).items()})
    return {layer: out[layer].contiguous(memory_format=torch.channels_last) for layer in layers}


@torch.no_grad()
def grams(extractor: VGGFeatures, images: torch.Tensor, layers: Sequence[str], t: Tiling) -> dict[str, torch.Tensor]:
    """G_l = F_l F_lᵀ (Eq. 3) per layer, B×N×N fp32: sums over the tiles for early layers."""
    hw = (images.shape[-2], images.shape[-1])
    early, late = split(extractor.model, layers, t.cut)
    out: dict[str, torch.Tensor] = {}

    def add(layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        g = gram_matrix(f)
        out[layer] = out[layer] + g if layer in out else g

    cut_map = _early(extractor, padded(extractor, images), hw, t, early, bool(late), add)
    if cut_map is not None:
        out.update({layer: gram_matrix(f) for layer, f in _late(extractor, cut_map, hw, t, late).items()})
    return {layer: out[layer] for layer in layers}


def loss_terms(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, t: Tiling
) -> LossTerms:
    """losses.total_loss(extractor(images), images, targets, weights), with the early layers on tiles.

    The values are the paper's exact losses; `total` is differentiable w.r.t. `images` when they
    require grad (a step runs passes (a), (b) and (c)), and has the gradient of the untiled loss.
    """
    batch, hw = images.shape[0], (images.shape[-2], images.shape[-1])
    model = extractor.model
    style_layers, content_layers = list(targets.style), list(targets.content)
    early, late = split(model, style_layers + content_layers, t.cut)
    zero = images.new_zeros(batch, dtype=torch.float32)
    needs_grad = images.requires_grad and torch.is_grad_enabled()
    xp = padded(extractor, images)
    source = xp.detach()
    terms: dict[str, torch.Tensor] = {}
    gram_sums: dict[str, torch.Tensor] = {}

    def collect(layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        if layer in targets.content:
            term = content_loss(f, targets.content[layer][..., where[0], where[1]])
            terms[f"content_{layer}"] = terms.get(f"content_{layer}", zero) + term
        if layer in targets.style:
            g = gram_matrix(f)
            gram_sums[layer] = gram_sums[layer] + g if layer in gram_sums else g

    cut_map = _early(extractor, source, hw, t, early, bool(late), collect)

    # (b) the layers after the cut, whole, and the gradient of their weighted losses at the cut
    cut_grad = None
    if cut_map is not None:
        with torch.set_grad_enabled(needs_grad):
            cut_map.requires_grad_(needs_grad)
            feats = _late(extractor, cut_map, hw, t, late)
            weighted = zero
            for i, layer in enumerate(content_layers):
                if layer in feats:
                    term = content_loss(feats[layer], targets.content[layer])
                    terms[f"content_{layer}"] = term.detach()
                    weighted = weighted + weights.content * weights.content_layers[:, i] * term
            for i, layer in enumerate(style_layers):
                if layer in feats:
                    term = style_loss(feats[layer], targets.style[layer])
                    terms[f"style_{layer}"] = term.detach()
                    weighted = weighted + weights.style * weights.style_layers[:, i] * term
            if needs_grad:
                (cut_grad,) = torch.autograd.grad(weighted.sum(), cut_map)
        del cut_map, feats

    # the early style terms from the whole image's Grams, and their gradient coefficients (Eq. 6)
    diffs: dict[str, torch.Tensor] = {}
    coef: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(style_layers):
        if layer in gram_sums:
            n, m = gram_sums[layer].shape[-1], math.prod(feature_size(extractor.model, layer, *hw))
            scale = 1.0 / (4.0 * n * n * m * m)
            diffs[layer] = diff = gram_sums[layer] - targets.style[layer].float()
            terms[f"style_{layer}"] = diff.pow(2).flatten(1).sum(1) * scale
            coef[layer] = (4.0 * scale * weights.style * weights.style_layers[:, i]).view(-1, 1, 1)

    grad = _inject(extractor, source, hw, t, early, targets, weights, diffs, coef, cut_grad) if needs_grad else None

    content = sum((weights.content_layers[:, i] * terms[f"content_{x}"] for i, x in enumerate(content_layers)), zero)
    style = sum((weights.style_layers[:, i] * terms[f"style_{x}"] for i, x in enumerate(style_layers)), zero)
    tv = tv_loss(images) if weights.use_tv else zero
    total = weights.content * content + weights.style * style + weights.tv * tv
    if grad is not None:
        # value unchanged (link − link is exactly 0); gradient: the untiled one, through padding and preprocessing
        link = (xp * grad).flatten(1).sum(1) + weights.tv * tv
        total = total.detach() + (link - link.detach())
    layers = {f"content_{x}": terms[f"content_{x}"] for x in content_layers}
    layers.update({f"style_{x}": terms[f"style_{x}"] for x in style_layers})
    return LossTerms(total, content, style, tv, layers)


def _inject(
    extractor: VGGFeatures,
    source: torch.Tensor,
    hw: tuple[int, int],
    t: Tiling,
    early: list[str],
    targets: Targets,
    weights: LossWeights,
    diffs: dict[str, torch.Tensor],
    coef: dict[str, torch.Tensor],
    cut_grad: torch.Tensor | None,
) -> torch.Tensor:
    """Pass (c): the gradient w.r.t. the padded input, tile by tile, from the exact upstream gradients."""
    grad = torch.zeros_like(source)
    content_layers = list(targets.content)
    level = extractor.level(t.cut)
    for tile in _tiles(source.shape[-2], source.shape[-1], t):
        piece = source[..., tile.crop[0], tile.crop[1]].requires_grad_(True)
        with torch.enable_grad():
            feats = extractor.stack(piece, set(early) | ({t.cut} if cut_grad is not None else set()))
            # each output with its upstream gradient: one backward, no surrogate loss to differentiate
            outputs: list[torch.Tensor] = []
            upstream: list[torch.Tensor] = []
            for layer in early:
                part = tile.inside(feats[layer], extractor.level(layer), *hw)
                if part is None:
                    continue
                f, (fy, fx) = part
                if layer in targets.content:
                    i = content_layers.index(layer)
                    d = f.detach().float() - targets.content[layer][..., fy, fx].float()
                    w = (weights.content * weights.content_layers[:, i]).view(-1, 1, 1, 1)
                    outputs.append(f)
                    upstream.append((w * d).to(f.dtype))
                if layer in diffs:
                    ft = positions_major(f)
                    outputs.append(ft)
                    upstream.append(torch.bmm(ft.detach(), diffs[layer]) * coef[layer])
            if cut_grad is not None:
                f, (fy, fx) = tile.own(feats[t.cut], level)
                outputs.append(f)
                upstream.append(cut_grad[..., fy, fx])
        if outputs:
            (g_piece,) = torch.autograd.grad(outputs, piece, upstream)
            grad[..., tile.crop[0], tile.crop[1]] += g_piece.float()
    return grad


def total_loss(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, t: Tiling | None
) -> LossTerms:
    """The run's losses: with `t`'s tiles when the image is larger than one, else losses.total_loss on the whole."""
    if t is not None and t.applies(images.shape[-2], images.shape[-1]):
        return loss_terms(extractor, images, targets, weights, t)
    return losses.total_loss(extractor(images), images, targets, weights)
