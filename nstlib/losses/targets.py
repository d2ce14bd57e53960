"""The fixed targets of the losses: content features P_l and (blended) style Grams A_l (Gatys et al., Sec. 2).

Computed once per resolution level, in fp32 and without gradients, and cached per process: the
points of a sweep mostly share their content and style images.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import torch

from nstlib.images import crop_margin, mirror_pad
from nstlib.losses.core import StyleControl, StyleGroup
from nstlib.losses.masks import propagate
from nstlib.losses.style import lookup
from nstlib.losses.style.base import StyleLoss, position_weights
from nstlib.losses.style.gram import gram_matrix
from nstlib.model import tiles
from nstlib.model.layers import feature_size
from nstlib.model.tiles import Tiling
from nstlib.model.vgg import VGGFeatures


class TargetCache:
    """Targets keyed by the extractor's identity, the layers and the image's pixels.

    An image changed in any way (size, colour preprocessing) is a different entry.
    """

    def __init__(self, entries: int = 16):
        self.entries = entries
        self.store: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def get(
        self,
        extractor: VGGFeatures,
        kind: str,
        image: torch.Tensor,
        layers: Sequence[str],
        compute: Callable[[torch.Tensor], Any],
    ) -> Any:
        if extractor.cache_key is None:
            return compute(image)
        digest = hashlib.sha1(image.detach().float().cpu().numpy().tobytes()).hexdigest()
        key = (extractor.cache_key, kind, tuple(layers), tuple(image.shape), digest)
        if key in self.store:
            self.store.move_to_end(key)
            return self.store[key]
        value = self.store[key] = compute(image)
        if len(self.store) > self.entries:
            self.store.popitem(last=False)
        return value


TARGET_CACHE = TargetCache()


@torch.no_grad()
def content_targets(
    extractor: VGGFeatures, contents: torch.Tensor, layers: list[str], t: Tiling | None = None
) -> dict[str, torch.Tensor]:
    """P_l for each content layer, B×N×H×W in fp32 (one cache entry per sample); with `t`: VGG on its tiles."""
    if not layers:
        return {}

    def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
        if t is not None and t.applies(x.shape[-2], x.shape[-1]):
            return tiles.features(extractor, x, layers, t)
        return extractor(x, layers)

    per_sample = [
        TARGET_CACHE.get(extractor, "content", contents[b : b + 1], layers, compute) for b in range(contents.shape[0])
    ]
    return {layer: torch.cat([f[layer] for f in per_sample]).float() for layer in layers}


@torch.no_grad()
def style_targets(
    extractor: VGGFeatures,
    styles: Sequence[Sequence[torch.Tensor]],
    blend_weights: Sequence[Sequence[float]],
    layers: list[str],
    generated_hw: tuple[int, int],
    t: Tiling | None = None,
    margin: int = 0,
) -> dict[str, torch.Tensor]:
    """A_l per style layer, B×N×N in fp32: sample b's style Grams blended with its weights.

    A Gram sums over positions, so each style Gram is rescaled by M_l(generated) / M_l(style): style
    images of any size then weigh as in the paper, where style and generated images had equal size.
    `margin`: each style's Gram is of its own positions, computed on it mirrored that wider (`interior`).
    """

    def grams(style: torch.Tensor, margin: int) -> dict[str, tuple[torch.Tensor, int]]:
        if not margin and t is not None and t.applies(style.shape[-2], style.shape[-1]):  # too large for one pass
            sizes = {layer: math.prod(feature_size(extractor.model, layer, *style.shape[-2:])) for layer in layers}
            return {layer: (g, sizes[layer]) for layer, g in tiles.grams(extractor, style, layers, t).items()}
        feats = framed_features(extractor, style, layers, margin)
        return {layer: (gram_matrix(f), f.shape[2] * f.shape[3]) for layer, f in feats.items()}

    positions = {layer: math.prod(feature_size(extractor.model, layer, *generated_hw)) for layer in layers}
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    for these, weights in zip(styles, blend_weights):
        blended: dict[str, torch.Tensor] = {}
        for weight, style in zip(weights, these):
            m = style_margin(style, margin, t)
            cached = TARGET_CACHE.get(extractor, f"gram {m}", style, layers, functools.partial(grams, margin=m))
            for layer, (gram, style_positions) in cached.items():
                term = weight * (positions[layer] / style_positions) * gram
                blended[layer] = blended[layer] + term if layer in blended else term
        for layer in layers:
            out[layer].append(blended[layer])
    return {layer: torch.cat(v).float() for layer, v in out.items()}


@dataclass
class SampleStyle:
    """What one sample's style targets are made of at one level (Gatys et al. 2017 spatial and scale control)."""

    kind: str  # style_loss
    styles: list[torch.Tensor]  # 1×3×h×w each, as preprocessed for this level
    blend: list[float]  # normalised blend weights
    masks: list[torch.Tensor] | None = None  # per style: 1×1×H×W at the generated size (style_masks)
    region_masks: list[torch.Tensor | None] = dc_field(default_factory=list)  # per style: 1×1×h×w or None
    layer_sets: list[list[str]] | None = None  # per style: the layers it applies at
    propagation: str = "simple"


@torch.no_grad()
def control_targets(
    extractor: VGGFeatures,
    samples: Sequence[SampleStyle],
    layers: list[str],
    generated_hw: tuple[int, int],
    t: Tiling | None = None,
    margin: int = 0,
) -> StyleControl:
    """Per style loss, one `StyleGroup` of the samples using it, with each sample's regions.

    Without masks a sample has one region: its styles blended through their raw moments (μ, E[f fᵀ]),
    at each layer only the styles whose layer set holds it (weights renormalised; none: weight 0).
    With masks region r is style r, its statistics taken over its style region mask, its loss on the
    generated image's mask T_r; its weight ρ_r = mean(T_r^l) · R · blend_r (R · blend_r = 1 for equal
    blend weights), so each region pulls per position as hard as a whole-image style would.
    `margin`: each style's statistics are of its own positions, on it mirrored that wider (`interior`).
    """
    model = extractor.model
    positions = {layer: math.prod(feature_size(model, layer, *generated_hw)) for layer in layers}
    groups = []
    for kind in dict.fromkeys(s.kind for s in samples):
        loss = lookup(kind)
        members = [b for b, s in enumerate(samples) if s.kind == kind]
        regions = max(len(samples[b].styles) if samples[b].masks else 1 for b in members)
        per_layer: dict[str, list[Any]] = {layer: [] for layer in layers}
        masks: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
        weights: dict[str, list[list[float]]] = {layer: [] for layer in layers}
        for b in members:
            s = samples[b]
            framed = [style_margin(style, margin, t) for style in s.styles]
            guides: list[dict[str, Any]] = [
                interior(
                    extractor,
                    {
                        layer: propagate(mirror_pad(r.to(extractor.device), m), model, layer, s.propagation)
                        for layer in layers
                    },
                    m,
                )
                if r is not None
                else dict.fromkeys(layers)
                for r, m in zip(s.region_masks or [None] * len(s.styles), framed)
            ]
            style_stats = [
                _style_stats(extractor, loss, style, guide, t, m) for style, guide, m in zip(s.styles, guides, framed)
            ]
            for layer in layers:
                hw = feature_size(model, layer, *generated_hw)
                used = [s.layer_sets is None or layer in s.layer_sets[i] for i in range(len(s.styles))]
                stats = [style_stats[i][layer] for i in range(len(s.styles))]
                if s.masks:
                    guide = [propagate(m.to(extractor.device), model, layer, s.propagation) for m in s.masks]
                    rows = [loss.target([stats[i]], [1.0], positions[layer]) for i in range(len(s.styles))]
                    w = [float(guide[i].mean()) * len(s.styles) * s.blend[i] * used[i] for i in range(len(s.styles))]
                else:
                    chosen = [i for i in range(len(s.styles)) if used[i]] or [0]
                    total = sum(s.blend[i] for i in chosen) or 1.0
                    rows = [
                        loss.target([stats[i] for i in chosen], [s.blend[i] / total for i in chosen], positions[layer])
                    ]
                    guide = [torch.ones(1, 1, *hw, device=extractor.device)]
                    w = [1.0 if any(used) else 0.0]
                pad = regions - len(rows)
                per_layer[layer] += rows + [rows[0]] * pad  # padding regions weigh 0
                masks[layer] += guide + [torch.zeros_like(guide[0])] * pad
                weights[layer].append(w + [0.0] * pad)
        any_masks = any(samples[b].masks for b in members)
        groups.append(
            StyleGroup(
                None if len(members) == len(samples) else torch.tensor(members, device=extractor.device),
                kind,
                regions,
                {layer: loss.stack(rows) for layer, rows in per_layer.items()},
                {layer: torch.cat(m) if any_masks else None for layer, m in masks.items()},
                {layer: torch.tensor(w, device=extractor.device) for layer, w in weights.items()},
            )
        )
    return StyleControl(list(layers), groups)


def _style_stats(
    extractor: VGGFeatures,
    loss: StyleLoss,
    style: torch.Tensor,
    guides: dict[str, torch.Tensor | None],
    t: Tiling | None,
    margin: int = 0,
) -> dict[str, Any]:
    """One style image's raw statistics per layer (`loss.statistics`), over its region at each layer (`guides`);
    with `t` the moments are sums over the tiles, and a whole-map loss's statistics come from the assembled maps;
    with `margin` (`style_margin`), of its own positions on it mirrored that wider."""
    layers = list(guides)
    if margin or t is None or not t.applies(style.shape[-2], style.shape[-1]):
        feats = framed_features(extractor, style, layers, margin)
        return {layer: loss.statistics(feats[layer], guides[layer], layer) for layer in layers}
    if loss.whole_map:
        feats = tiles.features(extractor, style, [x for x in layers if loss.applies(x)], t)
        dummy = style.new_zeros(1, 1, 1, 1)  # a layer without a term holds a placeholder (`loss.statistics`)
        return {layer: loss.statistics(feats.get(layer, dummy), guides[layer], layer) for layer in layers}
    sums = {}
    for layer in layers:
        shape = torch.Size((1, 1, *feature_size(extractor.model, layer, *style.shape[-2:])))
        p = position_weights(guides[layer], shape, style.device).view(shape)
        sums[layer] = tiles.Sums(None, p, first=True, diagonal=loss.diagonal)
    return {layer: (x.s1, x.s2) for layer, x in tiles.sums(extractor, style, sums, t).items()}


def style_margin(style: torch.Tensor, margin: int, t: Tiling | None) -> int:
    """The mirror margin a style image's statistics are taken inside: the canvas's, except for a style too large
    for one pass (tiled), where its edges' positions are a small share of its statistics."""
    if margin and t is not None and t.applies(style.shape[-2] + 2 * margin, style.shape[-1] + 2 * margin):
        return 0
    return margin


def framed_features(
    extractor: VGGFeatures, image: torch.Tensor, layers: list[str], margin: int
) -> dict[str, torch.Tensor]:
    """VGG's maps of `image` mirrored `margin` px wider, without the margin's positions (`interior`)."""
    return interior(extractor, extractor(mirror_pad(image, margin), layers), margin)


def interior(extractor: VGGFeatures, maps: dict[str, torch.Tensor], margin: int) -> dict[str, torch.Tensor]:
    """Maps of an image mirrored `margin` px wider, without the margin's positions (margin >> poolings per side).

    Zero padding changes VGG's features along an image's edges. Taken over those positions, a style's statistics
    tie the changed features to the style image's edge colours, and the style loss paints those colours where the
    canvas's features change alike: along its edges, a band inside the generated image's."""
    return {layer: crop_margin(f, margin >> extractor.level(layer)) for layer, f in maps.items()}
