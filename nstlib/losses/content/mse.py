"""The paper's content loss: the squared error of the features (Gatys et al., CVPR 2016, Eq. 1)."""

from __future__ import annotations

import torch

from nstlib.losses.content.base import ContentLoss


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """½ Σ (F − P)² per sample (Eq. 1)."""
    return 0.5 * (features.float() - target.float()).pow(2).flatten(1).sum(1)


class MSELoss(ContentLoss):
    """`content_loss`, a sum over positions: a tiled run adds it up tile by tile."""

    name = "mse"

    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return content_loss(features, target)


LOSS = MSELoss()
