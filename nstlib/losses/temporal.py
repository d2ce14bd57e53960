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


def long_term_target(warps: list[torch.Tensor], certainties: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """One (ω, c) pair for the long-term temporal loss (Ruder et al., Eq. 8–9) of previous frames i−j, j ∈ J
    ascending: `warps[n]` is frame i−J[n] warped onto frame i, `certainties[n]` its c (H×W).

    Each pixel is tied to the nearest previous frame that sees it: c_long(i−j) = max(c(i−j) − Σ_{k<j} c(i−k), 0).
    Σ_j c_long_j (x − ω_j)² = C (x − W)² + const with C = Σ c_long_j and W = Σ c_long_j ω_j / C, so one
    TemporalLoss(W, C) has the sum's gradient exactly (and its value too where the c are 0 or 1, as here)."""
    seen = torch.zeros_like(certainties[0])
    total_c = torch.zeros_like(certainties[0])
    total_w = torch.zeros_like(warps[0])
    for w, c in zip(warps, certainties):
        c_long = (c - seen).clamp(min=0)
        seen = seen + c
        total_c = total_c + c_long
        total_w = total_w + c_long * w
    weighted = torch.where(total_c > 0, total_w / total_c.clamp(min=1e-12), warps[0])
    return weighted, total_c
