"""The interface every style loss implements, and the moments most of them are built from.

A style loss compares the generated image's features F (V×N×H×W, V virtual samples: batch samples × regions)
at one layer with targets computed once from the style images. Every path of a run calls it through this
interface: the whole-image and batched loss (`loss`), the targets with masks and blends (`statistics`, `target`,
`stack`), and the tiled run, where the early layers are never whole and the loss is a function of sums over
the tiles (`sum_weights`, `loss_from_sums`) unless the loss needs the whole map (`whole_map`).

Regions weigh positions by p (V×M, each row summing to 1; Gatys et al. 2017, Sec. 4 spatial control; None:
uniform, p_k = 1/M). The moment targets are built from raw moments (μ, E[f fᵀ]), which blend linearly across
style images: the blend of several styles is the moment-matched distribution of their mixture.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

EPS = 1e-8


def position_weights(mask: torch.Tensor | None, shape: torch.Size, device: torch.device) -> torch.Tensor:
    """p (V×M), rows summing to 1, from a mask V×1×H×W (None: uniform)."""
    v, m = shape[0], shape[2] * shape[3]
    if mask is None:
        return torch.full((v, m), 1.0 / m, device=device)
    w = mask.float().reshape(v, m)
    return w / w.sum(1, keepdim=True).clamp_min(EPS)


def flat(features: torch.Tensor) -> torch.Tensor:
    """F as V×N×M in fp32."""
    return features.float().flatten(2)


def moments(features: torch.Tensor, p: torch.Tensor, full: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """μ = Σ_k p_k f_k (V×N) and the raw second moment E_p[f fᵀ] (V×N×N) or, if not `full`, E_p[f²] (V×N)."""
    f = flat(features)
    p = p.to(f.device)
    mu = torch.einsum("vnm,vm->vn", f, p)
    if full:
        fp = f * p.sqrt().unsqueeze(1)
        return mu, torch.bmm(fp, fp.transpose(1, 2))
    return mu, torch.einsum("vnm,vm->vn", f * f, p)


class StyleLoss(ABC):
    """One style loss. The defaults are those of a loss of the features' moments (μ, E_p[f fᵀ] or E_p[f²]);
    a loss of other statistics (mrf's patches) overrides `statistics`, `target` and `stack`."""

    name: ClassVar[str]  # its row in controls.STYLE_LOSS_CATALOG; its module is losses/style/<name>.py
    diagonal: ClassVar[bool] = False  # the second moment it needs: E_p[f²] only (True) or E_p[f fᵀ]
    uses_mean: ClassVar[bool] = True  # whether its loss needs the generated image's μ (tiled: s1)
    whole_map: ClassVar[bool] = False  # whether it needs a layer's whole map (no sums over tiles give it)

    def applies(self, layer: str) -> bool:
        """Whether the loss has a term at `layer` (a layer where it does not contributes 0)."""
        return True

    @abstractmethod
    def loss(self, features: torch.Tensor, target: Any, mask: torch.Tensor | None) -> torch.Tensor:
        """E_l per virtual sample of features V×N×H×W against their targets, over `mask` (V×1×H×W; None: all)."""

    def statistics(self, features: torch.Tensor, guide: torch.Tensor | None, layer: str) -> Any:
        """One style image's raw statistics at `layer` (features 1×N×H×W), over its region `guide` (None: all)."""
        return moments(features, position_weights(guide, features.shape, features.device), full=not self.diagonal)

    def target(self, stats: list[Any], blend: list[float], positions: int) -> Any:
        """One region's target from its styles' statistics blended with weights `blend` (summing to 1);
        `positions` is M_l of the generated image at the layer."""
        mu = sum(w * s[0] for w, s in zip(blend, stats))
        second = sum(w * s[1] for w, s in zip(blend, stats))
        assert isinstance(mu, torch.Tensor) and isinstance(second, torch.Tensor)
        return self.from_moments(mu, second, positions)

    def from_moments(self, mu: torch.Tensor, second: torch.Tensor, positions: int) -> Any:
        """The target of blended raw moments μ (1×N) and E[f fᵀ] (1×N×N, or E[f²] 1×N if `diagonal`)."""
        raise NotImplementedError(f"style_loss {self.name!r} has no moment targets")

    def stack(self, rows: list[Any]) -> Any:
        """The targets of the virtual samples, one row each, as the loss takes them."""
        return tuple(torch.cat(parts).float() for parts in zip(*rows))

    def sum_weights(self, mask: torch.Tensor | None, shape: torch.Size, device: torch.device) -> torch.Tensor | None:
        """The position weights w_k (V×1×H×W) of the sums over tiles (`tiles.Sums`) the loss is a function of."""
        return position_weights(mask, shape, device).view(shape)

    def loss_from_sums(self, s1: torch.Tensor | None, s2: torch.Tensor, target: Any, positions: int) -> torch.Tensor:
        """`loss` from the sums s1 = Σ w f, s2 = Σ w f fᵀ (or Σ w f²) over the tiles of a map with `positions`."""
        raise NotImplementedError(f"style_loss {self.name!r} needs the whole map")

    def working_values(self, layer: str, size: float, early_on_tiles: bool) -> float:
        """The feature values per input pixel its working tensors scale with at `layer` (`size`: the layer's
        values per pixel), for the memory model; an early layer on tiles works on sums instead."""
        return 0.0 if early_on_tiles else size
