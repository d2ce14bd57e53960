"""The sliced Wasserstein distance between feature distributions (Heitz, Vanhoey, Chambon & Belcour, "A Sliced
Wasserstein Loss for Neural Texture Synthesis", CVPR 2021); it subsumes the histogram loss of Risser et al. 2017
(their marginals are the projections on the channel axes).

Departure: the paper draws new random directions at every step. Here each layer's directions are drawn once
from a generator seeded by the layer's name and channel count, the same for every run and style: L-BFGS's
curvature pairs and the tolerance stop need one objective throughout a run, and the style targets (the sorted
projections) are then computed once and cached like every other loss's.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch

from nstlib.losses.style.base import StyleLoss, flat, position_weights

SORTED_VALUES = 3  # working copies per feature value: the projections, their sorted values and sort indices


def directions(channels: int, layer: str) -> torch.Tensor:
    """K = N random unit directions (N×K, columns), as many as channels (Heitz et al., Sec. 3), seeded by the layer."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"{layer}/{channels}".encode()))
    d = torch.randn(channels, channels, generator=gen)
    return d / d.norm(dim=0, keepdim=True)


def sliced_target(
    features: torch.Tensor, weights: torch.Tensor | None, layer: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(directions N×K, sorted projections K×L, their weights K×L or None where uniform) of one style's features
    N×L with position weights L (summing to 1): the style's quantile function along each direction."""
    d = directions(features.shape[0], layer).to(features.device)
    values, order = torch.sort(d.T @ features.float(), dim=1)
    return d, values, None if weights is None else weights.to(values.device)[order]


def _uniform_cdf(count: int, device: torch.device) -> torch.Tensor:
    """The cumulative weights k/count, k = 1 … count, of a uniform distribution over `count` values."""
    return torch.arange(1, count + 1, device=device, dtype=torch.float64) / count


def _overlaps(mine: torch.Tensor, theirs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The intervals of [0, 1] on which both quantile functions are constant, from the cumulative weights of two
    sorted distributions (…×M, …×L): their widths and the index of each side's value on them."""
    edges = torch.sort(torch.cat([mine, theirs], -1), dim=-1)[0].clamp(0, 1)
    width = torch.diff(edges, dim=-1, prepend=torch.zeros_like(edges[..., :1]))
    mid = (edges - 0.5 * width).contiguous()
    at_mine = torch.searchsorted(mine.contiguous(), mid).clamp_max(mine.shape[-1] - 1)
    at_theirs = torch.searchsorted(theirs.contiguous(), mid).clamp_max(theirs.shape[-1] - 1)
    return width, at_mine, at_theirs


def sliced_loss(
    features: torch.Tensor,
    targets: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]],
    p: torch.Tensor,
    uniform: bool = False,
) -> torch.Tensor:
    """E_l = (1/K) Σ_j ∫₀¹ (Q_j(t) − Q_s,j(t))² dt per sample (Heitz et al. 2021, Eq. 6 as a mean over directions):
    W₂² between the generated and the style's projections on each direction d_j, Q the quantile functions of the
    weighted empirical distributions (generated: position weights p, `uniform` if they are). With equal counts
    and uniform weights the integral is the paper's Σ_k (sorted_k − sorted_s,k)² / M; with other counts each
    sorted value meets the style's over the overlap of their quantile intervals (the style's sorted values
    resampled to the generated count), and a blend is the mixture of its styles."""
    f = flat(features)
    p = p.to(f.device)
    out = []
    for i, (d, values, weights) in enumerate(targets):
        projected, order = torch.sort(d.T @ f[i], dim=1)  # K×M
        k = projected.shape[0]
        with torch.no_grad():
            if uniform and weights is None:  # the same intervals along every direction: found once, in 1-D
                mine, theirs = _uniform_cdf(projected.shape[1], f.device), _uniform_cdf(values.shape[1], f.device)
            else:
                mine = p[i][order].double().cumsum(1)
                theirs = (
                    _uniform_cdf(values.shape[1], f.device).expand(k, -1)
                    if weights is None
                    else weights.double().cumsum(1)
                )
            width, at_mine, at_theirs = _overlaps(mine, theirs)
            reference = values.gather(1, at_theirs.expand(k, -1))
        matched = projected.gather(1, at_mine.expand(k, -1))
        out.append(((matched - reference).pow(2) * width.float()).sum() / k)
    return torch.stack(out)


class SlicedWLoss(StyleLoss):
    """`sliced_loss` per region; its target per region: the style's sorted projections and their weights (a
    blend: the mixture of its styles, weights × blend). Sorting needs the whole map: a tiled run assembles it."""

    name = "sliced_w"
    whole_map = True

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        p = position_weights(mask, features.shape, features.device)
        return sliced_loss(features, target, p, uniform=mask is None)

    def statistics(self, features: torch.Tensor, guide: torch.Tensor | None, layer: str) -> Any:
        weights = None if guide is None else position_weights(guide, features.shape, features.device)[0]
        return flat(features)[0], weights, layer

    def target(self, stats: list[Any], blend: list[float], positions: int) -> Any:
        f = torch.cat([s[0] for s in stats], 1)
        if len(stats) == 1 and stats[0][1] is None:
            return sliced_target(f, None, stats[0][2])
        uniform = [torch.full((s[0].shape[1],), 1.0 / s[0].shape[1], device=f.device) for s in stats]
        w = torch.cat([b * (u if s[1] is None else s[1]) for b, s, u in zip(blend, stats, uniform)])
        return sliced_target(f, w, stats[0][2])

    def stack(self, rows: list[Any]) -> Any:
        return rows

    def working_values(self, layer: str, size: float, early_on_tiles: bool) -> float:
        return SORTED_VALUES * size  # of the whole map, tiled or not


LOSS = SlicedWLoss()
