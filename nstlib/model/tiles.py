"""VGG's early layers run tile by tile: the tiling, and features and sums over tiles.

Memory goes to the early layers: at full resolution they hold ~90% of VGG's activations, the layers
after pool3 ~10%. So a pass is split at a pooling layer, the cut: the layers through the cut run on
tiles of the image, each with a halo covering their receptive field; the layers after
it run on the whole image's cut features, assembled from the tiles — small (1/64 of the pixels after
pool3) and with a short reach, so they need no halo. `gather` is that pass without gradients: it hands
each early layer's features at a tile's own positions to a visitor (e.g. `Sums.add`, the statistics the
Gram, mean/std and W2 losses depend on) and assembles the cut map; `after_cut` runs the rest. A step's
losses and gradient on tiles are in losses/tiled.py.

Exactness: tiles partition the image at multiples of 16 px, so every pooling window is the one
of the untiled pass, and each crop carries `halo(model, cut)` pixels of context, at least VGG's reach
at the cut, so the features at a tile's own positions do not see the crop's border. With padding
'circular' (seamless) a crop's context wraps around the image (`framed`): the tiles then have the features of
the circular network on the whole image, and the gradient through the wrap folds back onto the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from nstlib.model.layers import feature_size, layer_channels, layer_names
from nstlib.model.vgg import VGGFeatures, positions_major

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
    """Layers through `cut` run on tiles of `tile` px of the image, with `halo` px of context."""

    tile: int
    cut: str
    halo: int

    def applies(self, height: int, width: int) -> bool:
        """Whether an image of this size is larger than one tile (else it runs whole)."""
        return max(height, width) > self.tile


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
    y0: int  # own pixels [y0, y1) × [x0, x1) of the image
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


def spans(size: int, tile: int) -> list[tuple[int, int]]:
    """A side of `size` px cut into the fewest pieces of at most `tile` px, of equal sides on the ALIGN grid
    (no thin last tile paying a whole halo for a few pixels)."""
    pieces = -(-size // tile)
    step = -(-size // pieces // ALIGN) * ALIGN if pieces > 1 else size
    step = min(tile, max(step, ALIGN))
    return [(a, min(a + step, size)) for a in range(0, size, step)]


def tiles_of(height: int, width: int, t: Tiling, wrap: bool = False) -> Iterator[_Tile]:
    """The tiles of an image height × width, each with its crop: own pixels ± halo, clipped to the image, or
    with `wrap` never clipped, as slices of the image `framed` by the halo."""
    for y0, y1 in spans(height, t.tile):
        for x0, x1 in spans(width, t.tile):
            if wrap:
                crop = (slice(y0, y1 + 2 * t.halo), slice(x0, x1 + 2 * t.halo))
                yield _Tile(y0, y1, x0, x1, y0 - t.halo, x0 - t.halo, crop)
                continue
            cy0, cx0 = max(0, y0 - t.halo), max(0, x0 - t.halo)
            crop = (slice(cy0, min(height, y1 + t.halo)), slice(cx0, min(width, x1 + t.halo)))
            yield _Tile(y0, y1, x0, x1, cy0, cx0, crop)


def wraps(extractor: VGGFeatures) -> bool:
    return extractor.padding == "circular"


def framed(x: torch.Tensor, t: Tiling, wrap: bool) -> torch.Tensor:
    """The image the crops of `tiles_of` slice: x itself, or with `wrap` x wrapped around by the halo on every
    side (any halo, also one wider than the image; differentiable: the gradient folds back onto x)."""
    if not wrap:
        return x
    h, w = x.shape[-2], x.shape[-1]
    rows = torch.arange(-t.halo, h + t.halo, device=x.device) % h
    cols = torch.arange(-t.halo, w + t.halo, device=x.device) % w
    return x.index_select(-2, rows).index_select(-1, cols)


Visit = Callable[[str, torch.Tensor, tuple[slice, slice]], None]


@torch.no_grad()
def gather(
    extractor: VGGFeatures,
    xp: torch.Tensor,
    t: Tiling,
    early: list[str],
    whole: bool,
    visit: Visit,
) -> torch.Tensor | None:
    """Pass (a): each tile through the cut; `visit(layer, features, where)` for each early layer's features
    at the tile's own positions; returns the cut features of the whole map if `whole`."""
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
    source = framed(xp, t, wraps(extractor))
    for tile in tiles_of(xp.shape[-2], xp.shape[-1], t, wraps(extractor)):
        feats = extractor.stack(source[..., tile.crop[0], tile.crop[1]], set(early) | ({t.cut} if whole else set()))
        for layer in early:
            visit(layer, *tile.own(feats[layer], extractor.level(layer)))
        if cut_map is not None:
            f, (fy, fx) = tile.own(feats[t.cut], level)
            cut_map[..., fy, fx] = f
    return cut_map


def after_cut(extractor: VGGFeatures, cut_map: torch.Tensor, t: Tiling, late: list[str]) -> dict[str, torch.Tensor]:
    """The layers after the cut on the whole cut map (as extractor(images) gives them)."""
    return extractor.stack(cut_map, set(late), after=t.cut)


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

    cut_map = gather(extractor, extractor.preprocess(images), t, early, bool(late), keep)
    if cut_map is not None:
        out.update({layer: f.float() for layer, f in after_cut(extractor, cut_map, t, late).items()})
    return {layer: out[layer].contiguous(memory_format=torch.channels_last) for layer in layers}


@dataclass
class Sums:
    """s1 = Σ_k w_k f_k (V×N) and s2 = Σ_k w_k f_k f_kᵀ (V×N×N; its diagonal V×N if `diagonal`) over one layer's
    positions k, per virtual sample v (batch sample `index[v]`, position weights `weights[v]`): the sufficient
    statistics of the Gram (Eq. 3), mean/std and W2 losses. They add up over tiles, and their gradients give the
    loss's gradient at any tile's positions (`upstream`)."""

    index: torch.Tensor | None  # V; None: the batch itself
    weights: torch.Tensor | None  # V×1×H×W at the layer's resolution; None: every w_k = 1
    first: bool  # whether s1 is wanted
    diagonal: bool
    s1: torch.Tensor | None = None
    s2: torch.Tensor | None = None

    def _rows(self, f: torch.Tensor, where: tuple[slice, slice]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The virtual samples' Fᵀ (V×m×N, fp32) and w (V×m) at these positions."""
        ft = positions_major(f)
        if self.index is not None:
            ft = ft.index_select(0, self.index)
        w = None if self.weights is None else self.weights[..., where[0], where[1]].reshape(ft.shape[0], -1)
        return ft, w

    def add(self, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        """Add the sums over features f (B×N×h×w) that sit at `where` in the layer's map."""
        ft, w = self._rows(f.detach(), where)
        if self.first:
            s1 = ft.sum(1) if w is None else torch.einsum("vmn,vm->vn", ft, w)
            self.s1 = s1 if self.s1 is None else self.s1 + s1
        if self.diagonal:
            s2 = ft.pow(2).sum(1) if w is None else torch.einsum("vmn,vm->vn", ft.pow(2), w)
        else:
            fw = ft if w is None else ft * w.sqrt().unsqueeze(2)
            s2 = torch.bmm(fw.transpose(1, 2), fw)
        self.s2 = s2 if self.s2 is None else self.s2 + s2

    def upstream(
        self, f: torch.Tensor, where: tuple[slice, slice], g1: torch.Tensor | None, g2: torch.Tensor | None
    ) -> torch.Tensor:
        """∂L/∂Fᵀ (B×m×N) at these positions from g1 = ∂L/∂s1 and g2 = ∂L/∂s2: w_k (g1 + (g2 + g2ᵀ) f_k)."""
        ft, w = self._rows(f.detach(), where)
        u = torch.zeros_like(ft)
        if g1 is not None:
            u = u + g1.unsqueeze(1)
        if g2 is not None:
            u = u + (2.0 * ft * g2.unsqueeze(1) if self.diagonal else torch.bmm(ft, g2 + g2.transpose(1, 2)))
        if w is not None:
            u = u * w.unsqueeze(2)
        if self.index is None:
            return u
        return u.new_zeros(f.shape[0], *u.shape[1:]).index_add_(0, self.index, u)


@torch.no_grad()
def sums(extractor: VGGFeatures, images: torch.Tensor, layers: dict[str, Sums], t: Tiling) -> dict[str, Sums]:
    """Each layer's `Sums` over the images' features, the early layers' tile by tile (style targets)."""
    early, late = split(extractor.model, list(layers), t.cut)
    xp = extractor.preprocess(images)
    cut_map = gather(extractor, xp, t, early, bool(late), lambda layer, f, where: layers[layer].add(f, where))
    if cut_map is not None:
        for layer, f in after_cut(extractor, cut_map, t, late).items():
            layers[layer].add(f, (slice(None), slice(None)))
    return layers


def grams(extractor: VGGFeatures, images: torch.Tensor, layers: Sequence[str], t: Tiling) -> dict[str, torch.Tensor]:
    """G_l = F_l F_lᵀ (Eq. 3) per layer, B×N×N fp32: sums over the tiles for early layers."""
    out = sums(extractor, images, {layer: Sums(None, None, False, False) for layer in layers}, t)
    return {layer: s.s2 for layer, s in out.items() if s.s2 is not None}
