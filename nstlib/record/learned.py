"""Learned metrics, computed only from checkpoint files the user already has: nothing is downloaded for them.

LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018),
VGG variant, against the content: d = Σ_l (1 / H_l W_l) Σ_hw Σ_c w_lc (ŷ_lhwc − ŷ'_lhwc)², where ŷ are the
VGG-16 features at LPIPS_LAYERS divided by their norm over channels at each position and w_l ≥ 0 the learned
channel weights. The backbone is torchvision's ImageNet VGG-16 file, read from the torch hub cache where
torchvision and `--weights torchvision` keep it (`model.vgg.torchvision_checkpoint`); the channel weights
(LPIPS v0.1, BSD licence) ship inside the torchmetrics package. Without the backbone file the metric is None
and one line says where the file goes. LPIPS's input scaling equals the ImageNet normalisation the extractor
applies; its pooling rounds partial windows in (ceil mode), which equals LPIPS's on sides divisible by 16.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch

from nstlib.errors import quoted
from nstlib.model.vgg import VGGFeatures, load_state_dict_file, torchvision_checkpoint

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LEARNED_NAMES = ("lpips",)


def lpips_weights_path() -> Path:
    """The LPIPS v0.1 channel weights of the VGG variant, as torchmetrics installs them."""
    import torchmetrics

    return Path(torchmetrics.__file__).parent / "functional" / "image" / "lpips_models" / "vgg.pth"


class LPIPS:
    """LPIPS-VGG of images in [0, 1] (B×3×H×W) against references of the same size: one value per image."""

    def __init__(self, backbone: Path, channel_weights: Path):
        self.features = VGGFeatures(load_state_dict_file(backbone, "vgg16"), list(LPIPS_LAYERS), pooling="max")
        state = torch.load(channel_weights, map_location="cpu", weights_only=True)
        self.weights = [state[f"lin{i}.model.1.weight"].float().view(1, -1, 1, 1) for i in range(len(LPIPS_LAYERS))]

    def __call__(self, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            a, p = self.features(images.float()), self.features(references.float())
            total = torch.zeros(images.shape[0])
            for layer, w in zip(LPIPS_LAYERS, self.weights):
                # LPIPS's unit normalisation, with its ε added to the norm
                fa = a[layer].float() / (a[layer].float().norm(dim=1, keepdim=True) + 1e-10)
                fp = p[layer].float() / (p[layer].float().norm(dim=1, keepdim=True) + 1e-10)
                total = total + (w * (fa - fp) ** 2).sum(1).mean((1, 2))
        return total


@functools.lru_cache(maxsize=1)
def lpips_network() -> LPIPS | None:
    """The LPIPS network, built once per process; None (said once, on stderr) when a checkpoint is missing."""
    backbone, channel_weights = torchvision_checkpoint("vgg16"), lpips_weights_path()
    for path, what in ((backbone, "torchvision's ImageNet VGG-16"), (channel_weights, "LPIPS's channel weights")):
        if not path.is_file():
            print(
                f"metrics: lpips skipped: no {what} at {quoted(path)} (metrics download nothing: copy the file there)",
                file=sys.stderr,
            )
            return None
    return LPIPS(backbone, channel_weights)


def learned_metrics(image: torch.Tensor, content: torch.Tensor) -> dict[str, float | None]:
    """Every metric of LEARNED_NAMES for one image against its content (both at the metric size)."""
    network = lpips_network()
    return {"lpips": None if network is None else float(network(image, content)[0])}
