"""The Laplacian content term (Li, Liu, Xu, Wang, Zhang & Zhang, "Laplacian-steered neural style transfer",
ACM MM 2017): the generated image keeps the content's fine edges (the Laplacian of the average-pooled image),
which the deep content layer alone lets the style wash out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LAPLACIAN_POOLS = (4, 16)  # p×p average pooling before the Laplacian; Li et al. sum the terms of p = 4 and 16
_KERNEL = torch.tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def laplacians(images: torch.Tensor) -> list[torch.Tensor]:
    """D_p(x) for each p of LAPLACIAN_POOLS: the 3×3 Laplacian (no padding) of each channel of the p×p
    average-pooled image, B×C×h×w in fp32 (a pooled side under 3 px gives an empty map)."""
    x = images.float()
    c = x.shape[1]
    kernel = _KERNEL.to(x.device).expand(c, 1, 3, 3)
    out = []
    for p in LAPLACIAN_POOLS:
        pooled = F.avg_pool2d(x, p)
        out.append(F.conv2d(pooled, kernel, groups=c) if min(pooled.shape[-2:]) >= 3 else pooled[..., :0, :0])
    return out


def laplacian_loss(images: torch.Tensor, target: list[torch.Tensor]) -> torch.Tensor:
    """L_lap = Σ_p Σ_ij (D_p(x) − D_p(x_c))²_ij per sample (Li et al. 2017, Eq. 3-4, summed over p = 4, 16), for
    pixels in [0, 1]; `target` is `laplacians` of the content image."""
    return sum(
        ((mine - theirs).pow(2).flatten(1).sum(1) for mine, theirs in zip(laplacians(images), target)),
        images.new_zeros(images.shape[0], dtype=torch.float32),
    )
