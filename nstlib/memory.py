"""How much memory a run needs, estimated before anything is allocated, and how much there is.

Kept simple and on the safe side: per generated pixel of the largest level, the VGG-19 activations
kept for the backward pass and their gradients (measured 2.6–2.9 kB per pixel at 256 px, fp32 and
bf16, CPU; 4 kB leaves a margin) plus the optimizer's state (L-BFGS: 2·history vectors s and y of
3 fp32 values per pixel; Adam: two moments); per style pixel, the no-grad pass that makes its Grams.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .config import Config
from .images import scaled_size

VGG_BYTES_PER_PIXEL = 4_000
TARGET_BYTES_PER_PIXEL = 1_500  # a no-grad pass keeps ~2 activations of the widest early layer
CPU_MEMORY_FRACTION = 0.5  # of the available RAM, for a batch of sweep points
CUDA_MEMORY_FRACTION = 0.8  # of the free GPU memory (torch.cuda.mem_get_info)
GB = 1e9


def optimizer_bytes_per_pixel(config: Config) -> int:
    return 2 * config.history * 3 * 4 if config.optimizer == "lbfgs" else 2 * 3 * 4


def level_shapes(config: Config, content_hw: tuple[int, int]) -> list[tuple[int, int]]:
    return [scaled_size(content_hw[0], content_hw[1], size) for size in config.level_sizes]


def style_side(config: Config, size: int) -> int:
    """The longest side style images are resized to at a level of longest side `size`."""
    return max(16, round(size * config.style_scale))


def style_shapes(config: Config, style_hws: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The style images' sizes at every level."""
    return [scaled_size(h, w, style_side(config, size)) for size in config.level_sizes for h, w in style_hws]


def bytes_per_sample(config: Config, content_hw: tuple[int, int], style_hws: Sequence[tuple[int, int]] = ()) -> int:
    """Peak bytes one sample of a batch adds: optimisation at the largest level, or a style target pass."""
    pixels = max(h * w for h, w in level_shapes(config, content_hw))
    optimise = pixels * (VGG_BYTES_PER_PIXEL + optimizer_bytes_per_pixel(config))
    styles = max((h * w for h, w in style_shapes(config, style_hws)), default=0)
    return max(optimise, pixels * optimizer_bytes_per_pixel(config) + styles * TARGET_BYTES_PER_PIXEL)


def available_bytes(device: torch.device) -> int:
    """Free GPU memory on CUDA; else the RAM the OS can give without swapping (MemAvailable)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def batch_budget(config: Config) -> int:
    """Bytes a batch of sweep points may use: 80% of the free GPU memory on CUDA, else half the available RAM."""
    from .device import resolve_device

    device = resolve_device(config.device)
    fraction = CUDA_MEMORY_FRACTION if device.type == "cuda" else CPU_MEMORY_FRACTION
    return int(available_bytes(device) * fraction)
