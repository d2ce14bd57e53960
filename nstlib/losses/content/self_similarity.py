"""The self-similarity content loss of STROTSS (Kolkin, Salavon & Shakhnarovich, "Style Transfer by Relaxed
Optimal Transport and Self-Similarity", CVPR 2019, Sec. 2.2): the generated image keeps the content's pattern
of which places look alike, not its features themselves.

Departure: STROTSS samples 1024 positions at every step; here at most SIMILARITY_SAMPLES positions are drawn once
per layer and map size (seeded by both, the same for the generated and the content features), so the objective
stays fixed through a run (L-BFGS, the tolerance stop).
"""

from __future__ import annotations

import weakref
import zlib

import torch

from nstlib.losses.content.base import ContentLoss

SIMILARITY_SAMPLES = 1024  # positions compared, as STROTSS samples (cost ∝ samples²)
EPS = 1e-8


def sample_positions(height: int, width: int) -> torch.Tensor:
    """At most SIMILARITY_SAMPLES of the H·W positions, drawn without replacement, seeded by the map size."""
    m = height * width
    if m <= SIMILARITY_SAMPLES:
        return torch.arange(m)
    gen = torch.Generator().manual_seed(zlib.crc32(f"{height}x{width}".encode()))
    return torch.randperm(m, generator=gen)[:SIMILARITY_SAMPLES]


def self_similarity(features: torch.Tensor) -> torch.Tensor:
    """D_ij / Σ_i D_ij with D_ij = 1 − cos(f_i, f_j) at the sampled positions, B×n×n (STROTSS, Eq. 9): each
    column of the cosine-distance matrix normalised by its sum."""
    f = features.float().flatten(2)[..., sample_positions(*features.shape[-2:]).to(features.device)]
    u = f / f.norm(dim=1, keepdim=True).clamp_min(EPS)
    d = 1 - torch.bmm(u.transpose(1, 2), u)
    return d / d.sum(1, keepdim=True).clamp_min(EPS)


def self_similarity_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ℓ_content = (1/n²) Σ_ij |D^X_ij / Σ_i D^X_ij − D^C_ij / Σ_i D^C_ij| per sample (STROTSS, Eq. 10)."""
    with torch.no_grad():
        content = self_similarity(target)
    return _distance(features, content)


def _distance(features: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return (self_similarity(features) - content).abs().flatten(1).mean(1)


class SelfSimilarityLoss(ContentLoss):
    """`self_similarity_loss`: its positions span the map, so a tiled run assembles the map. The content's
    matrix is kept for the last few target tensors, since a run passes the same ones every step."""

    name = "self_similarity"
    whole_map = True
    KEEP = 8  # targets remembered: a run's content layers, and a sweep's batches in turn

    def __init__(self) -> None:
        self._kept: dict[int, tuple[weakref.ref[torch.Tensor], int, torch.Tensor]] = {}

    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        kept = self._kept.get(id(target))
        # a weak reference tells a reused id from the same tensor without keeping a print-size map
        # alive after its run; the version counts in-place changes
        if kept is None or kept[0]() is not target or kept[1] != target._version:
            with torch.no_grad():
                kept = (weakref.ref(target), target._version, self_similarity(target))
            self._kept.pop(id(target), None)
            self._kept[id(target)] = kept
            while len(self._kept) > self.KEEP:
                self._kept.pop(next(iter(self._kept)))
        return _distance(features, kept[2])


LOSS = SelfSimilarityLoss()
