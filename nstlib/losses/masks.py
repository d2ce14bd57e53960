"""Guidance channels for spatial control (Gatys, Ecker, Bethge, Hertzmann, Shechtman, CVPR 2017, Sec. 4).

A mask is a greyscale image in [0, 1] (white: the region). It is resized to the image it guides and
propagated to every layer's resolution in one of the paper's two ways (Sec. 4.1):
- "simple": resized to the layer's size (area averaging), so a position near the border of a region
  counts for the fraction of it that lies inside;
- "inside": eroded along the network, keeping only the positions whose receptive field lies entirely
  inside the region: each 3×3 convolution takes the minimum over its 3×3 window and each 2×2 pooling
  the minimum of its window (on soft masks this is a grey-scale erosion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nstlib import images as im
from nstlib.controls import PROPAGATIONS
from nstlib.errors import ImageError, quoted
from nstlib.model.layers import feature_size, layer_names


def load_mask(path: str) -> torch.Tensor:
    """A mask image as 1×1×H×W in [0, 1] (the mean of its RGB channels); ImageError if it cannot be read."""
    try:
        return im.load_image(path).mean(1, keepdim=True)
    except ImageError:
        raise
    except Exception as e:  # a decoder's own error: one line, like every image error
        raise ImageError(f"{quoted(path)}: {e}") from None


def resize_mask(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """`mask` resized to `hw` (area averaging when shrinking, bilinear when enlarging), kept in [0, 1]."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    mode = "area" if hw[0] <= mask.shape[-2] else "bilinear"
    out = F.interpolate(mask, size=hw, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
    return out.clamp(0, 1)


def propagate(mask: torch.Tensor, model: str, layer: str, method: str) -> torch.Tensor:
    """The guidance channel T^l of `layer` (B×1×H_l×W_l) for a mask at the input's resolution (B×1×H×W)."""
    if method == "simple":
        return resize_mask(mask, feature_size(model, layer, mask.shape[-2], mask.shape[-1]))
    if method != "inside":
        raise ValueError(f"mask_propagation: {method!r} is not one of {', '.join(PROPAGATIONS)}")
    t = mask.float()
    for name in layer_names(model):
        if name.startswith("conv"):
            # the image border is not a region border: pad by replication so it does not erode
            t = -F.max_pool2d(-F.pad(t, (1, 1, 1, 1), mode="replicate"), 3, 1)
        elif name.startswith("pool"):
            t = -F.max_pool2d(-t, 2, 2, ceil_mode=True)
        if name == layer:
            break
    return t
