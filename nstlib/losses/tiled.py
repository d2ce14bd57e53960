"""A run's exact losses and gradient with VGG's early layers on tiles (tiles.py), for every style loss and control.

A step runs as (a) a no-grad pass over the tiles that accumulates, for every early style layer, the sums its
loss depends on (`tiles.Sums`: Σ w f and Σ w f fᵀ over positions, w the position weights of a region; the
Gram of Eq. 3 is the unweighted second) and assembles the cut features, plus the whole map of any early layer
that `mrf` matches; (b) the layers after the cut on the whole map, forward and backward, which gives the deep
losses (`losses.layer_terms`, any style loss and mask) and their exact gradient at the cut, and the early
losses as functions of the sums, whose gradients w.r.t. the sums are then known; (c) per tile a forward and a
backward that injects the exact upstream gradient at the tile's own positions: the cut's from (b), the style
gradient w (∂L/∂s1 + 2 ∂L/∂s2 f) (for the Gram loss 4·scale·(G − A) f, Eq. 6) and the content gradient f − p
(Eq. 2). The tiles' input gradients add up to the whole image's. Passes (a) and (c) cost two forwards and a
backward of the early layers; with halos of 32 px (pool3) a 1024 px tile adds ~13% of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from nstlib.losses import content as content_losses
from nstlib.losses import core as losses
from nstlib.losses.core import (
    LossTerms,
    LossWeights,
    StyleGroup,
    Targets,
    content_loss,
    tv_loss,
)
from nstlib.losses.style import lookup
from nstlib.losses.style.gram import LOSS as GRAM
from nstlib.model.layers import feature_size, layer_channels
from nstlib.model.tiles import Sums, Tiling, after_cut, framed, gather, split, tiles_of, wraps
from nstlib.model.vgg import VGGFeatures, positions_major


@dataclass
class _Term:
    """One early style layer's loss for one group of samples, a function of `sums` (mrf: of the whole map)."""

    group: StyleGroup | None  # None: the paper's Gram loss on Targets.style
    sums: Sums | None  # None: the loss needs the layer's whole map


@dataclass
class _Early:
    """What pass (a) gathers at the early style layers; pass (b) differentiates the losses w.r.t. it."""

    terms: dict[str, list[_Term]] = field(default_factory=dict)
    maps: dict[str, torch.Tensor] = field(default_factory=dict)  # layer -> B×N×H×W fp32, for mrf
    content_maps: dict[str, torch.Tensor] = field(default_factory=dict)  # for a whole-map content loss

    def visit(self, layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        for term in self.terms.get(layer, []):
            if term.sums is not None:
                term.sums.add(f, where)
        for maps in (self.maps, self.content_maps):
            if layer in maps:
                maps[layer][..., where[0], where[1]] = f.float()

    def leaves(self) -> list[torch.Tensor]:
        """The tensors the early losses are computed from."""
        sums = [term.sums for terms in self.terms.values() for term in terms if term.sums is not None]
        maps = list(self.maps.values()) + list(self.content_maps.values())
        return [x for s in sums for x in (s.s1, s.s2) if x is not None] + maps


def _gather_plan(model: str, targets: Targets, early: list[str], batch: int, hw: tuple[int, int]) -> _Early:
    """The sums (and maps) each early style layer's losses need, and the maps of a whole-map content loss."""
    out = _Early()
    if content_losses.lookup(targets.content_loss).whole_map:
        for layer in early:
            if layer in targets.content:
                device = targets.content[layer].device
                size = feature_size(model, layer, *hw)
                out.content_maps[layer] = torch.zeros(batch, layer_channels(model, layer), *size, device=device)
    for layer in early:
        if layer not in targets.style_layers:
            continue
        size = feature_size(model, layer, *hw)
        if targets.control is None:
            out.terms[layer] = [_Term(None, Sums(None, None, False, False))]
            continue
        out.terms[layer] = []
        for group in targets.control.groups:
            loss, device = lookup(group.kind), group.region_weights[layer].device
            if not loss.whole_map:
                shape = torch.Size((group.region_weights[layer].numel(), 1, *size))
                weights = loss.sum_weights(group.masks[layer], shape, device)
                sums = Sums(group.index(batch, device), weights, first=loss.uses_mean, diagonal=loss.diagonal)
                out.terms[layer].append(_Term(group, sums))
            elif loss.applies(layer):
                out.terms[layer].append(_Term(group, None))
                out.maps[layer] = torch.zeros(batch, layer_channels(model, layer), *size, device=device)
    return out


def _sums_loss(term: _Term, layer: str, targets: Targets, positions: int) -> torch.Tensor:
    """The term's loss per (virtual) sample from its sums, as its loss computes it from the features."""
    s, group = term.sums, term.group
    assert s is not None and s.s2 is not None
    if group is None:
        return GRAM.loss_from_sums(s.s1, s.s2, targets.style[layer], positions)
    return lookup(group.kind).loss_from_sums(s.s1, s.s2, group.targets[layer], positions)


def _early_style(early: _Early, layer: str, targets: Targets, zero: torch.Tensor, positions: int) -> torch.Tensor:
    """E_l per sample at an early layer, differentiable w.r.t. the gathered sums and maps."""
    out = zero
    for term in early.terms[layer]:
        if term.group is None:
            return _sums_loss(term, layer, targets, positions)
        group = term.group
        if term.sums is None:
            per = lookup(group.kind).loss(group.select(early.maps[layer]), group.targets[layer], group.masks[layer])
        else:
            per = _sums_loss(term, layer, targets, positions)
        out = group.combine(out, per, layer)
    return out


def loss_terms(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, t: Tiling
) -> LossTerms:
    """losses.total_loss(extractor(images), images, targets, weights), with the early layers on tiles.

    The values are the exact losses; `total` is differentiable w.r.t. `images` when they require grad
    (a step runs passes (a), (b) and (c)), and has the gradient of the untiled loss.
    """
    batch, hw = images.shape[0], (images.shape[-2], images.shape[-1])
    model = extractor.model
    style_layers, content_layers = targets.style_layers, list(targets.content)
    early, late = split(model, style_layers + content_layers, t.cut)
    zero = images.new_zeros(batch, dtype=torch.float32)
    needs_grad = images.requires_grad and torch.is_grad_enabled()
    xp = extractor.preprocess(images)  # as the untiled pass feeds its conv stack (differentiable)
    source = xp.detach()
    gathered = _gather_plan(model, targets, early, batch, hw)
    terms: dict[str, torch.Tensor] = {}

    def visit(layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
        if layer in targets.content and layer not in gathered.content_maps:
            term = content_loss(f, targets.content[layer][..., where[0], where[1]])
            terms[f"content_{layer}"] = terms.get(f"content_{layer}", zero) + term
        gathered.visit(layer, f, where)

    cut_map = gather(extractor, source, t, early, bool(late), visit)

    # (b) the losses from the gathered sums and, after the cut, the whole map; their gradients w.r.t. both
    grads: dict[int, torch.Tensor] = {}
    with torch.set_grad_enabled(needs_grad):
        leaves = [x.requires_grad_(needs_grad) for x in gathered.leaves()]
        weighted = zero
        for i, layer in enumerate(content_layers):
            if layer in gathered.content_maps:
                term = content_losses.lookup(targets.content_loss).loss(
                    gathered.content_maps[layer], targets.content[layer]
                )
                terms[f"content_{layer}"] = term.detach()
                weighted = weighted + weights.content * weights.content_layers[:, i] * term
        for i, layer in enumerate(style_layers):
            if layer in gathered.terms:
                positions = math.prod(feature_size(model, layer, *hw))
                term = _early_style(gathered, layer, targets, zero, positions)
                terms[f"style_{layer}"] = term.detach()
                weighted = weighted + weights.style * weights.style_layers[:, i] * term
        if cut_map is not None:
            leaves.append(cut_map.requires_grad_(needs_grad))
            feats = after_cut(extractor, cut_map, t, late)
            content, style, late_terms = losses.layer_terms(feats, targets, weights, late)
            terms.update({name: value.detach() for name, value in late_terms.items()})
            weighted = weighted + weights.content * content + weights.style * style
            del feats
        if needs_grad and weighted.requires_grad:
            found = torch.autograd.grad(weighted.sum(), leaves, allow_unused=True)
            grads = {id(x): g for x, g in zip(leaves, found) if g is not None}
    cut_grad = grads.get(id(cut_map)) if cut_map is not None else None
    del cut_map

    grad = None
    if needs_grad:
        upstream = _Upstream(targets, weights, gathered, grads)
        if weights.normalize_gradients:
            upstream.normalise(extractor, source, t, early)
        grad = _inject(extractor, source, t, early, upstream, cut_grad)

    content = sum((weights.content_layers[:, i] * terms[f"content_{x}"] for i, x in enumerate(content_layers)), zero)
    style = sum((weights.style_layers[:, i] * terms[f"style_{x}"] for i, x in enumerate(style_layers)), zero)
    tv = tv_loss(images) if weights.use_tv else zero
    laplacian = losses.laplacian_term(images, targets, weights)
    pixels = weights.tv * tv + (laplacian[0] if laplacian is not None else 0.0)  # terms of the pixels themselves
    total = weights.content * content + weights.style * style + pixels
    if grad is not None:
        # value unchanged (link − link is exactly 0); gradient: the untiled one, through padding and preprocessing
        link = (xp * grad).flatten(1).sum(1) + pixels
        total = total.detach() + (link - link.detach())
    layers = {f"content_{x}": terms[f"content_{x}"] for x in content_layers}
    layers.update({f"style_{x}": terms[f"style_{x}"] for x in style_layers})
    return LossTerms(total, content, style, tv, layers, None if laplacian is None else laplacian[1])


@dataclass
class _Upstream:
    """The exact gradients of the weighted loss w.r.t. an early layer's features at a tile's positions."""

    targets: Targets
    weights: LossWeights
    gathered: _Early
    grads: dict[int, torch.Tensor]  # by id: ∂L/∂ of the gathered sums and maps
    scale: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)  # (content|style, layer) -> B

    def at(
        self, layer: str, f: torch.Tensor, where: tuple[slice, slice]
    ) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(content|style, output, its upstream gradient) for the features f of `layer` at `where`."""
        out = []
        content_map = self.gathered.content_maps.get(layer)
        if content_map is not None and id(content_map) in self.grads:
            out.append(("content", f, self.grads[id(content_map)][..., where[0], where[1]]))
        elif layer in self.targets.content and content_map is None:
            i = list(self.targets.content).index(layer)
            d = f.detach().float() - self.targets.content[layer][..., where[0], where[1]].float()
            w = (self.weights.content * self.weights.content_layers[:, i]).view(-1, 1, 1, 1)
            out.append(("content", f, w * d))
        terms = self.gathered.terms.get(layer, [])
        style = [
            x.sums.upstream(f, where, self.grads.get(id(x.sums.s1)), self.grads.get(id(x.sums.s2)))
            for x in terms
            if x.sums is not None
        ]
        if style:
            out.append(("style", positions_major(f), torch.stack(style).sum(0) if len(style) > 1 else style[0]))
        if layer in self.gathered.maps and id(self.gathered.maps[layer]) in self.grads:
            out.append(("style", f, self.grads[id(self.gathered.maps[layer])][..., where[0], where[1]]))
        return [
            (kind, output, (u * self.scale[(kind, layer)].view(-1, *[1] * (u.dim() - 1)) if self.scale else u))
            for kind, output, u in out
        ]

    def normalise(self, extractor: VGGFeatures, source: torch.Tensor, t: Tiling, early: list[str]) -> None:
        """Rescale each early layer's content and style gradient to L1 norm = its weight per sample, as
        neural-style's -normalize_gradients (losses.normalize_gradient) does untiled: the norms span every
        tile, so they take one more no-grad pass."""
        norms: dict[tuple[str, str], torch.Tensor] = {}

        def visit(layer: str, f: torch.Tensor, where: tuple[slice, slice]) -> None:
            for kind, _, u in self.at(layer, f, where):
                norms[(kind, layer)] = norms.get((kind, layer), 0.0) + u.float().abs().flatten(1).sum(1)

        gather(extractor, source, t, early, False, visit)
        style_layers = self.targets.style_layers
        for (kind, layer), norm in norms.items():
            if kind == "content":
                weight = self.weights.content * self.weights.content_layers[:, list(self.targets.content).index(layer)]
            else:
                weight = self.weights.style * self.weights.style_layers[:, style_layers.index(layer)]
            self.scale[(kind, layer)] = weight.float() / norm.add(1e-8)


def _inject(
    extractor: VGGFeatures,
    source: torch.Tensor,
    t: Tiling,
    early: list[str],
    upstream: _Upstream,
    cut_grad: torch.Tensor | None,
) -> torch.Tensor:
    """Pass (c): the gradient w.r.t. the preprocessed input, tile by tile, from the exact upstream gradients."""
    wrap = wraps(extractor)
    frame = framed(source, t, wrap)
    grad = torch.zeros_like(frame)
    level = extractor.level(t.cut)
    for tile in tiles_of(source.shape[-2], source.shape[-1], t, wrap):
        piece = frame[..., tile.crop[0], tile.crop[1]].detach().requires_grad_(True)
        with torch.enable_grad():
            feats = extractor.stack(piece, set(early) | ({t.cut} if cut_grad is not None else set()))
            # each output with its upstream gradient: one backward, no surrogate loss to differentiate
            outputs: list[torch.Tensor] = []
            gradients: list[torch.Tensor] = []
            for layer in early:
                for _, output, u in upstream.at(layer, *tile.own(feats[layer], extractor.level(layer))):
                    outputs.append(output)
                    gradients.append(u.to(output.dtype))
            if cut_grad is not None:
                f, (fy, fx) = tile.own(feats[t.cut], level)
                outputs.append(f)
                gradients.append(cut_grad[..., fy, fx])
        if outputs:
            (g_piece,) = torch.autograd.grad(outputs, piece, gradients)
            grad[..., tile.crop[0], tile.crop[1]] += g_piece.float()
    if wrap:  # the wrapped frame's gradient, folded back onto the image (framed's adjoint)
        image = torch.zeros_like(source, requires_grad=True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(framed(image, t, True), image, grad)
    return grad


def total_loss(
    extractor: VGGFeatures, images: torch.Tensor, targets: Targets, weights: LossWeights, t: Tiling | None
) -> LossTerms:
    """The run's losses: with `t`'s tiles when the image is larger than one, else losses.total_loss on the whole."""
    if t is not None and t.applies(images.shape[-2], images.shape[-1]):
        return loss_terms(extractor, images, targets, weights, t)
    return losses.total_loss(extractor(images), images, targets, weights)
