"""The interface every content loss implements: the generated image's features F (B×N×H×W) at one content layer
against the content image's P, one value per sample. A loss that is a sum over positions (`whole_map` False) is
computed tile by tile in a tiled run; one that is not gets the layer's whole map assembled from the tiles."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch


class ContentLoss(ABC):
    """One content loss."""

    name: ClassVar[str]  # its row in controls.CONTENT_LOSS_CATALOG; its module is losses/content/<name>.py
    whole_map: ClassVar[bool] = False  # whether it needs a layer's whole map (False: a sum over positions)

    @abstractmethod
    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss per sample of features B×N×H×W against the content's (same shape)."""
