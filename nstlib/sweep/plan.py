"""Planning a sweep's work: which points can share a batch, and how many fit in memory at once."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from ..config import Config
from ..images import load_pil, scaled_size
from ..transfer import batch_key
from .spec import Point

# Memory per batch sample, kept simple (see `bytes_per_sample`): pixels of the largest level ×
#  - VGG-19 activations kept for the backward pass and their gradients: measured 2.6–2.9 kB per pixel
#    (peak RSS, CPU, 256 px, batch 4 vs 1, fp32 and bf16); 4 kB leaves a margin;
#  - the L-BFGS history: 2·history vectors (s and y) of 3 fp32 values per pixel, 2·history·3·4 bytes
#    (2.4 kB at history 100, as measured); Adam: two moments, 24 bytes.
VGG_BYTES_PER_PIXEL = 4_000
CPU_MEMORY_FRACTION = 0.5  # of the available RAM
CUDA_MEMORY_FRACTION = 0.8  # of the free GPU memory (torch.cuda.mem_get_info)


def probe(config: Config, cache: dict[str, Any]) -> tuple[int, int] | None:
    """The content image's (H, W), after checking every image of the point decodes; None if one does not."""
    for _, path in config.image_paths():
        if path not in cache:
            try:
                w, h = load_pil(path).size
                cache[path] = (h, w)
            except Exception:
                cache[path] = None
        if cache[path] is None:
            return None
    result: tuple[int, int] = cache[config.content]
    return result


def level_shapes(config: Config, content_hw: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    return tuple(scaled_size(*content_hw, size) for size in config.level_sizes)


def bytes_per_sample(config: Config, content_hw: tuple[int, int]) -> int:
    """Rough memory of one batch sample: pixels of the largest level × (VGG activations + optimizer state)."""
    pixels = max(h * w for h, w in level_shapes(config, content_hw))
    state = 2 * config.history * 3 * 4 if config.optimizer == "lbfgs" else 2 * 3 * 4
    return pixels * (VGG_BYTES_PER_PIXEL + state)


def memory_budget(config: Config) -> int:
    """Bytes a batch may use: 80% of the free GPU memory on CUDA, else half the available RAM."""
    from ..device import resolve_device

    device = resolve_device(config.device)
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_MEMORY_FRACTION)
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(available * CPU_MEMORY_FRACTION)


def make_groups(
    points: Sequence[Point], batch: bool = True, budget: int | None = None, min_groups: int = 1
) -> list[list[Point]]:
    """Compatible points (equal batch_key and content size) in batches capped by the memory budget.

    `min_groups` splits batches further so that at least that many tasks exist (dask workers)."""
    if not batch:
        return [[p] for p in points]
    cache: dict[str, Any] = {}
    by_key: dict[Any, list[Point]] = {}
    sizes: dict[Any, tuple[int, int]] = {}
    for p in points:
        hw = probe(p.config, cache)
        key: Any = ("alone", p.number) if hw is None else (batch_key(p.config), level_shapes(p.config, hw))
        by_key.setdefault(key, []).append(p)
        if hw is not None:
            sizes[key] = hw
    groups = []
    for key, members in by_key.items():
        cap = len(members)
        if key in sizes:
            need = bytes_per_sample(members[0].config, sizes[key])
            cap = max(1, min(cap, (budget if budget is not None else memory_budget(members[0].config)) // need))
        if min_groups > 1:
            cap = min(cap, max(1, math.ceil(len(members) / min_groups)))
        groups += [members[i : i + cap] for i in range(0, len(members), cap)]
    return groups
