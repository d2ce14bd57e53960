"""The fixed targets of the losses: content features P_l and (blended) style Grams A_l (Gatys et al., Sec. 2).

Computed once per resolution level, in fp32 and without gradients, and cached per process: the
points of a sweep mostly share their content and style images.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch

from . import tiles
from .layers import feature_size
from .losses import gram_matrix
from .vgg import VGGFeatures


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
    extractor: VGGFeatures, contents: torch.Tensor, layers: list[str], tile: int = 0
) -> dict[str, torch.Tensor]:
    """P_l for each content layer, B×N×H×W in fp32 (one cache entry per sample); `tile` > 0: VGG on tiles."""
    if not layers:
        return {}

    def compute(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return tiles.features(extractor, x, layers, tile) if tile else extractor(x, layers)

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
    tile: int = 0,
) -> dict[str, torch.Tensor]:
    """A_l per style layer, B×N×N in fp32: sample b's style Grams blended with its weights.

    A Gram sums over positions, so each style Gram is rescaled by M_l(generated) / M_l(style): style
    images of any size then weigh as in the paper, where style and generated images had equal size.
    """

    def grams(style: torch.Tensor) -> dict[str, tuple[torch.Tensor, int]]:
        if tile:  # the Gram sums over positions: tile by tile (tiles.py), for style images too large for one pass
            sizes = {layer: math.prod(feature_size(extractor.model, layer, *style.shape[-2:])) for layer in layers}
            return {layer: (g, sizes[layer]) for layer, g in tiles.grams(extractor, style, layers, tile).items()}
        feats = extractor(style, layers)
        return {layer: (gram_matrix(f), f.shape[2] * f.shape[3]) for layer, f in feats.items()}

    positions = {layer: math.prod(feature_size(extractor.model, layer, *generated_hw)) for layer in layers}
    out: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    for these, weights in zip(styles, blend_weights):
        blended: dict[str, torch.Tensor] = {}
        for weight, style in zip(weights, these):
            for layer, (gram, style_positions) in TARGET_CACHE.get(extractor, "gram", style, layers, grams).items():
                term = weight * (positions[layer] / style_positions) * gram
                blended[layer] = blended[layer] + term if layer in blended else term
        for layer in layers:
            out[layer].append(blended[layer])
    return {layer: torch.cat(v).float() for layer, v in out.items()}
