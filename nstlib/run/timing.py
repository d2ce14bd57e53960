"""A run's time, estimated before its first step from the network's step measured now on this device.

The step of a run is ~95% VGG forward + backward (bench/profile_step.py), and a convolution's time grows with
the pixels, so one measured pass at PROBE_SIDE px, scaled by each level's pixels and steps, predicts the run
without any table of machines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from nstlib.config import Config
from nstlib.errors import ConfigError
from nstlib.model.device import compute_dtype, synchronize
from nstlib.model.vgg import VGGFeatures
from nstlib.run.inputs import Inputs, content_hw
from nstlib.run.levels import network
from nstlib.run.memory import Estimate, network_hw

PROBE_SIDE = 128
# measured at 1024 and 1200 px (bf16, fp32): a step is 1.27–1.40 probe passes per pixel (the losses, the
# L-BFGS update, larger maps' slower memory), and a level's targets, fp32 first step and final losses ~2.4–6
STEP_PER_PASS = 1.35
FIXED_PASSES = 4
ESTIMATED_FROM_PX = 1024  # runs this large (or prints, or with a time_limit) are timed up front


def worth_estimating(config: Config) -> bool:
    return bool(config.print_size) or config.time_limit > 0 or max(config.level_sizes) >= ESTIMATED_FROM_PX


def pass_seconds(extractor: VGGFeatures, device: torch.device) -> float:
    """The best of two timed forward + backward passes of a PROBE_SIDE² image, after one that warms up."""
    best = float("inf")
    image = torch.rand(1, 3, PROBE_SIDE, PROBE_SIDE, generator=torch.Generator().manual_seed(0)).to(device)
    for rep in range(3):
        synchronize(device)
        start = time.perf_counter()
        x = image.clone().requires_grad_(True)
        loss = torch.zeros((), device=device)
        for f in extractor(x).values():
            loss = loss + f.float().square().mean()
        loss.backward()
        synchronize(device)
        if rep:
            best = min(best, time.perf_counter() - start)
    return best


def run_seconds(
    config: Config, level_hws: Sequence[tuple[int, int]], batch: int, memory: Estimate, probe: float
) -> float:
    """Seconds for every level's steps of a batch of `batch` samples, from a probe pass of `probe` s.

    A tiled level pays its halo: each tile is computed (tile + 2·halo)² wide for tile² of image."""
    total = 0.0
    for (h, w), steps in zip(level_hws, config.level_steps):
        nh, nw = network_hw(config, h, w)
        halo = 1.0
        if memory.tiling is not None and memory.tiling.applies(nh, nw):
            halo = ((memory.tiling.tile + 2 * memory.tiling.halo) / memory.tiling.tile) ** 2
        total += (steps * STEP_PER_PASS + FIXED_PASSES) * batch * probe * halo * nh * nw / PROBE_SIDE**2
    return total


def duration(seconds: float) -> str:
    """'< 1 s', '45 s', '12 min', '2 h 05 min'."""
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def time_note(seconds: float, config: Config) -> str:
    levels = len(config.level_sizes)
    return (
        f"time: ~{duration(seconds)} for at most {config.total_epochs} steps"
        f"{f' over {levels} sizes' if levels > 1 else ''} (one network pass measured now, scaled by the pixels)"
    )


def refuse_if_too_long(seconds: float, config: Config) -> None:
    """A one-line ConfigError when the estimate is past `time_limit` minutes."""
    if config.time_limit > 0 and seconds > config.time_limit * 60:
        which = "print_size or dpi" if config.print_size else "image_size"
        raise ConfigError(
            f"time_limit: ~{duration(seconds)} estimated for {config.total_epochs} steps at "
            f"{max(config.level_sizes)} px, over {config.time_limit:g} min; use fewer epochs, a smaller {which}, "
            "or a larger time_limit"
        )


def estimated_seconds(
    configs: list[Config], loaded: list[Inputs], device: torch.device, precision: str, memory: Estimate
) -> float:
    """The batch's time from one network pass measured now (timing.py); refused past time_limit, before any folder."""
    first = configs[0]
    extractor = network(first, device, compute_dtype(precision))
    hws = [content_hw(loaded, size) for size in first.level_sizes]
    seconds = run_seconds(first, hws, len(configs), memory, pass_seconds(extractor, device))
    refuse_if_too_long(seconds, first)
    return seconds
