"""Scores of a finished image that do not depend on the run's parameters.

Feature distances compare an image with its content and style images at fixed VGG-19 layers, on images
resized to METRIC_SIDE px, and divide by the reference's own size, so that they compare across β, style
losses, image sizes and optimisers (the run's losses do not: they scale with β and the image size):
- content distance: Σ_l ‖F_l − P_l‖² / ‖P_l‖² over CONTENT_LAYERS (Gatys et al. Eq. 1, relative);
- Gram distance: mean over STYLE_LAYERS of ‖G_l/M_l − A_l/M'_l‖² / ‖A_l/M'_l‖² (Eq. 3–5 with Grams per
  position, so sizes need not match);
- mean/std distance: mean over STYLE_LAYERS of (‖μ − μ'‖² + ‖σ − σ'‖²) / (‖μ'‖² + ‖σ'‖²) of the channels
  (Huang & Belongie 2017's statistics);
- speckle: the mean absolute Laplacian of the luminance in grey levels (0–255), interior pixels.

The edge score measures a frame along a side: the largest jump in mean colour between neighbouring
rows (or columns) among the 4 outermost, divided by the median jump 8–40 px inside. A photo scores
about 1–4 (a side that cuts through an object scores more); a painted frame scores 5–15.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nstlib.images import luminance, resize, resize_longest

Features = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # B×3×H×W in [0, 1] → {layer: B×N×h×w}
METRIC_SIDE = 256  # px: every image is resized to this longest side before VGG
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

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


def metric_features() -> Features:
    """The fixed network of the feature distances: the original VGG-19 with average pooling, fp32, CPU."""
    from nstlib.model.vgg import build_extractor

    return build_extractor("vgg19", "original", [*CONTENT_LAYERS, *STYLE_LAYERS])


def _flat(f: torch.Tensor) -> torch.Tensor:
    return f.float().flatten(2)  # B×N×M


def content_distance(features: Features, images: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative feature distance to `content` (1×3×H×W, resized to the images' size)."""
    images = resize_longest(images, METRIC_SIDE)
    content = resize(content, (images.shape[-2], images.shape[-1]))
    a, p = features(images), features(content)
    total = images.new_zeros(images.shape[0])
    for layer in CONTENT_LAYERS:
        fa, fp = _flat(a[layer]), _flat(p[layer])
        total = total + ((fa - fp) ** 2).sum((1, 2)) / (fp**2).sum().clamp(min=1e-12)
    return total


def _style_statistics(features: Features, images: torch.Tensor) -> dict[str, torch.Tensor]:
    return {layer: _flat(f) for layer, f in features(resize_longest(images, METRIC_SIDE)).items()}


def gram_distance(features: Features, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative distance of its Grams per position to the style image's (1×3×H×W)."""
    a, s = _style_statistics(features, images), _style_statistics(features, style)
    total = images.new_zeros(images.shape[0])
    for layer in STYLE_LAYERS:
        g = a[layer] @ a[layer].transpose(1, 2) / a[layer].shape[-1]
        ref = s[layer] @ s[layer].transpose(1, 2) / s[layer].shape[-1]
        total = total + ((g - ref) ** 2).sum((1, 2)) / (ref**2).sum().clamp(min=1e-12)
    return total / len(STYLE_LAYERS)


def mean_std_distance(features: Features, images: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Per image (B), the relative distance of its channel means and standard deviations to the style's."""
    a, s = _style_statistics(features, images), _style_statistics(features, style)
    total = images.new_zeros(images.shape[0])
    for layer in STYLE_LAYERS:
        mu, sd = a[layer].mean(-1), a[layer].std(-1, unbiased=False)
        mu_s, sd_s = s[layer].mean(-1), s[layer].std(-1, unbiased=False)
        scale = (mu_s**2).sum() + (sd_s**2).sum()
        total = total + (((mu - mu_s) ** 2).sum(1) + ((sd - sd_s) ** 2).sum(1)) / scale.clamp(min=1e-12)
    return total / len(STYLE_LAYERS)


LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def speckle(images: torch.Tensor) -> torch.Tensor:
    """Per image (B), the mean absolute Laplacian of the luminance in grey levels, over interior pixels."""
    grey = 255.0 * luminance(images.float())[:, :1]
    return F.conv2d(grey, LAPLACIAN.to(grey.device)).abs().mean((1, 2, 3))
