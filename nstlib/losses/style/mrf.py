"""Nearest-neighbour patch matching by normalised cross-correlation (Li & Wand, CVPR 2016)."""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F

from nstlib.losses.style.base import EPS, StyleLoss, position_weights

MRF_MIN_BLOCK = 3  # Li & Wand match patches on relu3_1 and relu4_1; shallower layers are too large to match
MRF_MAX_PATCHES = 4096  # style patches per target; the style grid is strided beyond this (cost ∝ patches²)
PATCH_VALUES = 9  # a 3×3 patch holds 9 values per channel


def layer_block(layer: str) -> int:
    """The VGG block of a layer name: relu3_1 → 3, pool2 → 2."""
    found = re.search(r"\d+", layer)
    return int(found.group()) if found else 0


def _patches(features: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """3×3 patches Ψ(F) as V×(9N)×L (Li & Wand use 3×3 patches), one centred on every `stride`-th position:
    the map is padded by replication so that small deep maps (under 3×3) and border positions have patches."""
    return F.unfold(F.pad(features.float(), (1, 1, 1, 1), mode="replicate"), 3, stride=stride)


def mrf_target(features: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The style patches of one style image (1×N×H×W) whose centre lies in its region (mask > ½),
    strided to at most MRF_MAX_PATCHES: (patches 9N×L_s, the same normalised to unit length)."""
    h, w = features.shape[-2:]
    stride = 1
    while -(-h // stride) * -(-w // stride) > MRF_MAX_PATCHES:
        stride += 1
    patches = _patches(features, stride)[0]
    if mask is not None:
        centre = mask.float()[:, :, ::stride, ::stride].reshape(-1)
        if bool((centre > 0.5).any()):
            patches = patches[:, centre > 0.5]
    return patches, patches / patches.norm(dim=0, keepdim=True).clamp_min(EPS)


def mrf_loss(features: torch.Tensor, targets: list[tuple[torch.Tensor, torch.Tensor]], p: torch.Tensor) -> torch.Tensor:
    """E_l = Σ_i p_i ‖Ψ_i(F) − Ψ_NN(i)(F_s)‖² / (9N) per sample (Li & Wand 2016, Eq. 2, as a weighted mean
    over patches), NN(i) = argmax_j ⟨Ψ_i(F), Ψ_j(F_s)⟩ / (‖Ψ_i(F)‖ ‖Ψ_j(F_s)‖) (their Eq. 3: normalised
    cross-correlation). p weighs the patches by their centre."""
    n = features.shape[1]
    patches = _patches(features)  # V×9N×M
    centre = p.to(patches.device)
    out = []
    for i, (style, style_unit) in enumerate(targets):
        mine = patches[i]
        with torch.no_grad():
            unit = mine / mine.norm(dim=0, keepdim=True).clamp_min(EPS)
            nearest = torch.cat([(style_unit.T @ chunk).argmax(0) for chunk in unit.split(2048, dim=1)])
        out.append(((mine - style[:, nearest]).pow(2).sum(0) * centre[i]).sum() / (9 * n))
    return torch.stack(out)


class MRFLoss(StyleLoss):
    """`mrf_loss` on the layers of block MRF_MIN_BLOCK on; its target per region: the style patches (those of
    every style in a blend), matched across the whole map, so a tiled run assembles the map."""

    name = "mrf"
    whole_map = True

    def applies(self, layer: str) -> bool:
        return layer_block(layer) >= MRF_MIN_BLOCK

    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        return mrf_loss(features, target, position_weights(mask, features.shape, features.device))

    def statistics(self, features: torch.Tensor, guide: torch.Tensor | None, layer: str) -> Any:
        if not self.applies(layer):  # a placeholder patch: the layer has no term
            return (features.new_zeros(1, 1),) * 2
        return mrf_target(features, guide)

    def target(self, stats: list[Any], blend: list[float], positions: int) -> Any:
        return torch.cat([s[0] for s in stats], 1), torch.cat([s[1] for s in stats], 1)

    def stack(self, rows: list[Any]) -> Any:
        return rows

    def working_values(self, layer: str, size: float, early_on_tiles: bool) -> float:
        return PATCH_VALUES * size if self.applies(layer) else 0.0  # patches of the whole map, tiled or not


LOSS = MRFLoss()
