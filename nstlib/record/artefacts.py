"""Artefact scores of an image, with no reference and no network: a frame along a side (the edge score), the seams
of a 2×2 tiling (the seam score) and speckle (docs/metrics.md).

The edge score measures a frame along a side: the largest jump in mean colour between neighbouring rows (or
columns) among the 4 outermost, divided by the median jump 8–40 px inside. A photo scores about 1–4 (a side
that cuts through an object scores more); a painted frame scores 5–15.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nstlib.images import luminance

OUTER = 4  # rows whose jumps make the frame
INNER = (8, 40)  # the rows whose median jump is the scale
SIDES = ("top", "bottom", "left", "right")


def edge_scores(image: torch.Tensor) -> dict[str, float]:
    """The edge score of each side of a 3×H×W (or 1×3×H×W) image; H and W of at least 41 px."""
    x = image.squeeze(0).float() if image.dim() == 4 else image.float()
    if x.dim() != 3 or min(x.shape[-2:]) <= INNER[1]:
        raise ValueError(f"edge score: needs a 3×H×W image with sides over {INNER[1]} px, got {tuple(image.shape)}")
    views = {"top": x, "bottom": x.flip(1), "left": x.transpose(1, 2), "right": x.transpose(1, 2).flip(1)}
    out = {}
    for side in SIDES:
        rows = views[side].mean(-1)  # C × rows: the mean colour of each row, outermost first
        jumps = (rows[:, 1:] - rows[:, :-1]).norm(dim=0)
        scale = jumps[INNER[0] : INNER[1]].median().clamp(min=1e-6)
        out[side] = float(jumps[:OUTER].max() / scale)
    return out


def edge_score(image: torch.Tensor) -> float:
    """The worst side's edge score (`edge_scores`)."""
    return max(edge_scores(image).values())


def seam_score(image: torch.Tensor) -> float:
    """How visible the seams of a 2×2 tiling of a 3×H×W (or 1×3×H×W) image are: the mean absolute colour jump
    across the tiling's boundary lines (row H, column W) over the same mean across the interior lines of
    the image, for the worse of the two directions. A seamless texture scores about 1; an image whose
    opposite edges differ scores more."""
    x = image.squeeze(0).float() if image.dim() == 4 else image.float()
    if x.dim() != 3 or min(x.shape[-2:]) < 3:
        raise ValueError(f"seam score: needs a 3×H×W image with sides of at least 3 px, got {tuple(image.shape)}")
    h, w = x.shape[-2:]
    tiled = x.repeat(1, 2, 2)
    worst = 0.0
    for jumps, n in (
        ((tiled[:, 1:] - tiled[:, :-1]).abs().mean((0, 2)), h),
        ((tiled[..., 1:] - tiled[..., :-1]).abs().mean((0, 1)), w),
    ):
        interior = torch.cat([jumps[: n - 1], jumps[n : 2 * n - 1]]).mean().clamp(min=1e-6)  # jumps[n-1]: the seam
        worst = max(worst, float(jumps[n - 1] / interior))
    return worst


LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def speckle(images: torch.Tensor) -> torch.Tensor:
    """Per image (B), the mean absolute Laplacian of the luminance in grey levels, over interior pixels."""
    grey = 255.0 * luminance(images.float())[:, :1]
    return F.conv2d(grey, LAPLACIAN.to(grey.device)).abs().mean((1, 2, 3))
