"""Scores of a finished image that do not depend on the run's parameters.

The edge score measures a frame along a side: the largest jump in mean colour between neighbouring
rows (or columns) among the 4 outermost, divided by the median jump 8–40 px inside. A photo scores
about 1–4 (a side that cuts through an object scores more); a painted frame scores 5–15.
"""

from __future__ import annotations

import torch

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
