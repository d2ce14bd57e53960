"""The short-term temporal loss of Ruder, Dosovitskiy & Brox (GCPR 2016, Eq. 7), batched."""

from __future__ import annotations

import torch


class TemporalLoss:
    """(1/D) Σ c ⊙ (x − ω(x_prev))² per sample: the generated frame x should match the previous stylised frame
    warped onto it, ω(x_prev), where the flow is certain (c = 1); D = 3·H·W, the number of values."""

    def __init__(self, warped: torch.Tensor, certainty: torch.Tensor):
        """`warped`: B×3×H×W, ω(x_prev); `certainty`: B×H×W or H×W (broadcast), c ∈ [0, 1]."""
        self.warped = warped.detach().float()
        c = certainty.detach().float()
        self.certainty = (c if c.dim() == 3 else c.unsqueeze(0)).unsqueeze(1)  # B×1×H×W

    def __call__(self, images: torch.Tensor, samples: torch.Tensor | None = None) -> torch.Tensor:
        """One value per image of `images` (B'×3×H×W); `samples`: which of the B samples they are (None: all)."""
        warped, c = self.warped, self.certainty
        if samples is not None:
            warped = warped[samples]
            c = c[samples] if c.shape[0] > 1 else c
        diff = c * (images.float() - warped) ** 2
        return diff.flatten(1).sum(1) / images[0].numel()
