"""How much memory a run needs, estimated before anything is allocated, and how much there is.

One model for runs and sweep batches. A run's peak is the process itself (torch, VGG weights) plus,
per sample, the largest of its phases: optimisation at the largest level (VGG activations kept for
the backward pass — of the whole canvas (the image and its mirrored margin), or, tiled (tiles.py), of one tile with its
halo through the cut plus the whole image's layers after it — the full-image vectors the step keeps,
the L-BFGS history of 2·m vectors s, y of 3 fp32 values per pixel, content targets, snapshot
buffers) and the no-grad pass that makes the style Grams. Activations are split between layers in
proportion to their sizes (channels / stride²). Calibrated on `nst run`
peak RSS (fp32, CPU, 256–1024 px; bench/memory.py checks it at 512–4096 px). bf16 runs take their
first L-BFGS step in fp32 (the curvature pair must not be bf16 noise), so the fp32 figures bound them too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nstlib.config import Config, ConfigError, fields_by_name
from nstlib.controls import STYLE_LOSS_CATALOG
from nstlib.images import scaled_size
from nstlib.losses.style import lookup
from nstlib.model.layers import layer_channels, layer_names
from nstlib.model.tiles import CUT_LEVELS, Tiling, spans, tiling
from nstlib.run.device_memory import GB as GB
from nstlib.run.device_memory import available_bytes

BASE_BYTES = 900_000_000  # the process before any image: torch, the VGG weights (fp32 and quantised), buffers
VGG_BYTES_PER_PIXEL = 2_200  # autograd pass to relu5_1, per pixel of the input, fp32
CALIBRATED_THROUGH = "relu5_1"  # the deepest layer of the runs VGG_BYTES_PER_PIXEL was measured on
TARGET_BYTES_PER_PIXEL = 1_000  # a no-grad pass keeps ~2 activations of the widest early layer (+ padding)
IMAGE_VECTORS = 14  # full-image 3-channel fp32 tensors alive in a step: x, grad, optimizer copies, good/last x, …
PIXEL_VECTOR_BYTES = 3 * 4
MIN_HISTORY = 5  # the smallest L-BFGS history the model offers before it tiles or refuses
TILE_CHOICES = (2048, 1536, 1024, 768, 512, 384, 256, 128)  # automatic tile sides, largest first
TILED_VECTORS = 2  # a tiled step adds the padded, preprocessed image and its gradient
RUN_MEMORY_FRACTION = 0.85  # of the available RAM (or free GPU memory) a single run may plan to use
HEAP_GROWTH = 1.3  # a CPU run's peak over its estimate with freed buffers kept in the heap (1.22 at 1024 px)
CPU_MEMORY_FRACTION = 0.5  # of the available RAM, for a batch of sweep points
CUDA_MEMORY_FRACTION = 0.8  # of the free GPU memory (torch.cuda.mem_get_info)
SMALLEST_SIZE = int(fields_by_name()["image_size"].metadata["minimum"])  # px: the smallest a refusal can offer


def history_used(config: Config, history: int | None = None) -> int:
    """The number of L-BFGS pairs a run can hold: its `history`, at most steps − 1 (optimize.LBFGS)."""
    m = config.history if history is None else history
    steps = max(config.level_steps or [1])
    return max(1, min(m, steps - 1)) if steps > 1 else 1


def optimizer_bytes_per_pixel(config: Config, history: int | None = None) -> int:
    if config.optimizer != "lbfgs":
        return 2 * PIXEL_VECTOR_BYTES  # Adam's two moments
    stored = PIXEL_VECTOR_BYTES // 2 if config.history_precision == "bf16" else PIXEL_VECTOR_BYTES
    return 2 * history_used(config, history) * stored


def level_shapes(config: Config, content_hw: tuple[int, int]) -> list[tuple[int, int]]:
    return [scaled_size(content_hw[0], content_hw[1], size) for size in config.level_sizes]


def network_hw(config: Config, h: int, w: int) -> tuple[int, int]:
    """The size the network sees an h × w generated image at: mirrored `margin` px wider (padding 'mirror')."""
    m = config.margin_at(h, w)
    return h + 2 * m, w + 2 * m


def style_side(config: Config, size: int) -> int:
    """The longest side style images are resized to at a level of longest side `size`."""
    return max(16, round(size * config.style_scale))


def style_shapes(config: Config, style_hws: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The style images' sizes at every level."""
    return [scaled_size(h, w, style_side(config, size)) for size in config.level_sizes for h, w in style_hws]


def deepest_layer(config: Config) -> str:
    order = layer_names(config.model)
    return max(config.content_layers + config.style_layers, key=order.index)


def config_tiling(config: Config, tile: int, level: int) -> Tiling:
    return tiling(config.model, config.content_layers + config.style_layers, tile, level)


def _sizes(model: str) -> dict[str, float]:
    """Each layer's output values per input pixel (channels / stride²): its share of activations."""
    out, level, channels = {}, 0, 3
    for name in layer_names(model):
        if name.startswith("pool"):
            level += 1
        else:
            channels = layer_channels(model, name)
        out[name] = channels / 4**level
    return out


def activation_bytes(model: str, first: str | None, last: str) -> float:
    """Autograd bytes per input pixel of the layers after `first` (None: from the input) through `last`."""
    sizes, order = _sizes(model), layer_names(model)
    start = order.index(first) + 1 if first else 0
    share = sum(sizes[n] for n in order[start : order.index(last) + 1])
    return VGG_BYTES_PER_PIXEL * share / sum(sizes[n] for n in order[: order.index(CALIBRATED_THROUGH) + 1])


def _crop_px(h: int, w: int, t: Tiling) -> int:
    """Input pixels of the largest crop: a tile with its halo, within the image."""
    side = lambda n: min(n, t.tile + 2 * t.halo)  # noqa: E731
    return side(h) * side(w)


def vgg_bytes(config: Config, h: int, w: int, t: Tiling | None) -> float:
    """VGG activations kept for one step's backward pass: whole, or a tile's through the cut plus the rest whole."""
    last = deepest_layer(config)
    if t is None or not t.applies(h, w):
        return h * w * activation_bytes(config.model, None, last)
    whole = h * w
    late = whole * activation_bytes(config.model, t.cut, last) if t.cut != last else 0.0
    return (
        _crop_px(h, w, t) * activation_bytes(config.model, None, t.cut)
        + late
        + whole * TILED_VECTORS * PIXEL_VECTOR_BYTES
    )


def loss_bytes(config: Config, h: int, w: int, t: Tiling | None) -> float:
    """A style loss's own working tensors on the layers it sees whole: every style layer untiled; tiled, those
    after the cut (the early ones work on sums, losses/tiled.py) and the layers of a loss that needs whole maps."""
    copies = STYLE_LOSS_CATALOG[config.style_loss].memory_copies  # beyond the Gram's, in VGG_BYTES_PER_PIXEL
    loss, sizes, order = lookup(config.style_loss), _sizes(config.model), layer_names(config.model)
    cut = order.index(t.cut) if t is not None and t.applies(h, w) else -1  # -1: no layer runs on tiles
    values = 0.0
    for layer in config.style_layers:
        values += loss.working_values(layer, sizes[layer], early_on_tiles=order.index(layer) <= cut)
    regions = len(config.style) if config.style_masks else 1
    return h * w * values * 4 * copies * regions


def step_cost(config: Config, h: int, w: int, t: Tiling | None) -> float:
    """A step's multiply-adds per unit (for choosing among tilings): the backward (input gradients only,
    VGG's weights are frozen) costs about a forward; tiled, the early layers run twice forward and
    once backward on crops, the late ones once each way on the whole image."""
    sizes, order = _sizes(config.model), layer_names(config.model)
    last = order.index(deepest_layer(config))
    flops = {
        n: (sizes[n] * layer_channels(config.model, order[i - 1] if i else n) if n.startswith("conv") else 0.0)
        for i, n in enumerate(order[: last + 1])
    }
    whole = h * w
    if t is None or not t.applies(h, w):
        return 2 * whole * sum(flops.values())
    cut = order.index(t.cut)
    crops = sum(
        (min(h, y1 + t.halo) - max(0, y0 - t.halo)) * (min(w, x1 + t.halo) - max(0, x0 - t.halo))
        for y0, y1 in spans(h, t.tile)
        for x0, x1 in spans(w, t.tile)
    )
    early = sum(flops[n] for n in order[: cut + 1])
    return 3 * crops * early + 2 * whole * (sum(flops.values()) - early)


def content_target_bytes_per_pixel(config: Config) -> float:
    """P_l kept for the whole run: N_l channels at 1/stride² of the pixels, fp32."""
    total = 0.0
    for layer in config.content_layers:
        pools = sum(n.startswith("pool") for n in layer_names(config.model)[: layer_names(config.model).index(layer)])
        total += layer_channels(config.model, layer) * 4 / 4**pools
    return total


@dataclass(frozen=True)
class Estimate:
    """A run's (or batch's) planned peak bytes and the memory-saving choices it assumes."""

    bytes: int
    history: int  # L-BFGS pairs held (config.history unless it was capped)
    tiling: Tiling | None  # None: the whole image in one pass

    @property
    def tile(self) -> int:
        """The tile side in pixels; 0: the whole image in one pass."""
        return self.tiling.tile if self.tiling else 0


def sample_bytes(
    config: Config,
    content_hw: tuple[int, int],
    style_hws: Sequence[tuple[int, int]] = (),
    history: int | None = None,
    t: Tiling | None = None,
) -> int:
    """Peak bytes one sample adds (the process's BASE_BYTES not included)."""
    (h, w) = max(level_shapes(config, content_hw), key=lambda s: s[0] * s[1])
    pixels = h * w
    vectors = pixels * (
        IMAGE_VECTORS * PIXEL_VECTOR_BYTES
        + optimizer_bytes_per_pixel(config, history)
        + content_target_bytes_per_pixel(config)
        + (2 * PIXEL_VECTOR_BYTES if config.save_every else 0)  # the snapshot and the video frame being encoded
    )
    nh, nw = network_hw(config, h, w)
    optimise = vectors + vgg_bytes(config, nh, nw, t) + loss_bytes(config, nh, nw, t)
    styles = 0
    for sh, sw in style_shapes(config, style_hws):
        # the style image, resized and preprocessed copies, and one no-grad pass (whole or tiled)
        seen = _crop_px(sh, sw, t) if t is not None and t.applies(sh, sw) else sh * sw
        styles = max(styles, 4 * sh * sw * PIXEL_VECTOR_BYTES + seen * TARGET_BYTES_PER_PIXEL)
    return int(max(optimise, pixels * (optimizer_bytes_per_pixel(config, history) + 4 * PIXEL_VECTOR_BYTES) + styles))


def base_bytes(device: torch.device) -> int:
    """The process itself counts against host RAM only; a GPU's free memory is the images' alone."""
    return BASE_BYTES if device.type == "cpu" else 0


def estimate(
    configs: Sequence[Config],
    content_hw: tuple[int, int],
    style_hws: Sequence[Sequence[tuple[int, int]]],
    device: torch.device,
    history: int | None = None,
    t: Tiling | None = None,
) -> int:
    """Planned peak bytes of a batch with the given L-BFGS history and tiling."""
    return base_bytes(device) + sum(sample_bytes(c, content_hw, hws, history, t) for c, hws in zip(configs, style_hws))


def tilings(config: Config, content_hw: tuple[int, int]) -> list[Tiling | None]:
    """The ways to run VGG, cheapest step first: the whole image (unless `tile_size` is set), then
    tiles of `tile_size` (else every automatic side) with every cut."""
    nh, nw = network_hw(config, *max(level_shapes(config, content_hw), key=lambda s: s[0] * s[1]))
    sides = [config.tile_size] if config.tile_size > 0 else list(TILE_CHOICES)
    tiled = {config_tiling(config, side, level) for side in sides for level in CUT_LEVELS}
    ordered = sorted(tiled, key=lambda t: (step_cost(config, nh, nw, t), -t.tile))
    return [*ordered] if config.tile_size > 0 else [None, *ordered]


def plan(
    configs: Sequence[Config],
    content_hw: tuple[int, int],
    style_hws: Sequence[Sequence[tuple[int, int]]],
    device: torch.device,
    budget: int,
) -> Estimate | None:
    """The memory-saving choices that fit `budget`, or None if none do.

    In order: the whole image with the user's history; the whole image with the largest history that
    fits (≥ MIN_HISTORY); the cheapest tiling (tiles.py; the user's `tile_size`, else any side) that
    fits, with the largest history. A user's `tile_size` > 0 always tiles.
    """
    first = configs[0]
    wanted = first.history
    low = min(MIN_HISTORY, wanted)

    def need(m: int, t: Tiling | None) -> int:
        return estimate(configs, content_hw, style_hws, device, m, t)

    for t in tilings(first, content_hw):
        if need(low, t) > budget:
            continue
        m = wanted
        if first.optimizer == "lbfgs" and need(m, t) > budget:
            lo, hi = low, wanted  # largest history that fits: the estimate grows with it
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if need(mid, t) <= budget else (lo, mid - 1)
            m = lo
        return Estimate(need(m, t), m, t)
    return None


def leanest(config: Config) -> Tiling:
    """The tiling that needs least memory: the smallest automatic tiles, cut after pool4."""
    return config_tiling(config, config.tile_size or min(TILE_CHOICES), max(CUT_LEVELS))


def largest_size(config: Config, content_hw: tuple[int, int], device: torch.device, budget: int) -> int:
    """The largest longest side (px) that fits `budget` with the smallest history and tiles (for the refusal)."""
    small = config.replace(history=min(MIN_HISTORY, config.history), sizes=[], level_epochs=[], print_size="")
    t = leanest(config)
    lo, hi = 0, 1 << 20
    while lo < hi:
        mid = (lo + hi + 1) // 2
        need = base_bytes(device) + sample_bytes(
            small.replace(image_size=max(SMALLEST_SIZE, mid)), content_hw, (), None, t
        )
        lo, hi = (mid, hi) if need <= budget else (lo, mid - 1)
    return lo


def bytes_per_sample(config: Config, content_hw: tuple[int, int], style_hws: Sequence[tuple[int, int]] = ()) -> int:
    """Peak bytes one sample of a batch adds, for sweep batching: the run's model without the process base."""
    t = config_tiling(config, config.tile_size, max(CUT_LEVELS)) if config.tile_size else None
    return sample_bytes(config, content_hw, style_hws, None, t)


def keeps_heap(memory: Estimate, config: Config, device: torch.device) -> bool:
    """Whether a run may keep freed buffers in the CPU heap (`device_memory.heap_for_run`): a whole image whose
    estimate leaves room in the run's budget for the heap's fragments (HEAP_GROWTH)."""
    return memory.tiling is None and memory.bytes * HEAP_GROWTH <= run_budget(config, available_bytes(device))


def limited(config: Config, budget: int) -> int:
    """`budget`, at most the user's memory_limit."""
    return min(budget, int(config.memory_limit * GB)) if config.memory_limit > 0 else budget


def run_budget(config: Config, have: int) -> int:
    """Bytes one run may plan to use of `have` available: RUN_MEMORY_FRACTION, at most memory_limit."""
    return limited(config, int(have * RUN_MEMORY_FRACTION))


def batch_budget(config: Config) -> int:
    """Bytes a batch of sweep points may use: 80% of the free GPU memory on CUDA, else half the available RAM
    (at most memory_limit)."""
    from nstlib.model.device import resolve_device

    device = resolve_device(config.device)
    fraction = CUDA_MEMORY_FRACTION if device.type == "cuda" else CPU_MEMORY_FRACTION
    return limited(config, int(available_bytes(device) * fraction))


def size_parameter(config: Config) -> str:
    """The parameter a refusal names for the run's size: print_size, sizes or image_size."""
    return "print_size" if config.print_size else "sizes" if config.sizes else "image_size"


def plan_or_refuse(
    configs: Sequence[Config],
    content_hw: tuple[int, int],
    style_hws: Sequence[Sequence[tuple[int, int]]],
    device: torch.device,
) -> Estimate:
    """The memory plan of a batch, or a one-line ConfigError naming the size, the estimate, what is
    available and the largest image_size (or sizes) that would fit with every memory saving."""
    first = configs[0]
    which = size_parameter(first)
    size = max(first.level_sizes)
    have = available_bytes(device)
    budget = run_budget(first, have)
    chosen = plan(configs, content_hw, style_hws, device, budget)
    if chosen is not None:
        return chosen
    t = leanest(first)
    need = estimate(configs, content_hw, style_hws, device, MIN_HISTORY, t)
    share = budget // len(configs)
    fits = largest_size(first, content_hw, device, share)
    saving = f"history {MIN_HISTORY} and tile_size {t.tile}"
    other = "a smaller style_scale or " if any(style_hws) else ""
    limited_by_user = budget < int(have * RUN_MEMORY_FRACTION)
    room = (
        f"memory_limit {first.memory_limit:g} GB ({have / GB:.1f} GB available on {device.type})"
        if limited_by_user
        else f"{have / GB:.1f} GB available on {device.type}"
    )
    fewer = " (or fewer configs per batch)" if len(configs) > 1 else ""
    if fits >= SMALLEST_SIZE and first.print_size:  # the print keeps its size: fewer dots per inch
        advice = f"use dpi ≤ {first.dpi * fits // size} (or a smaller print_size) with {saving}{fewer}"
    elif fits >= SMALLEST_SIZE:
        advice = f"use {other}{which} ≤ {fits} px with {saving}{fewer}"
    else:  # no size to suggest: say what the memory falls short of
        what = "the memory limit" if limited_by_user else "the available memory"
        short = (
            f"is below the ~{base_bytes(device) / GB:.1f} GB the process itself needs (torch and the VGG weights)"
            if share < base_bytes(device)
            else f"does not hold even a {SMALLEST_SIZE} px image"
        )
        advice = f"no size fits: {what}{' per config' if len(configs) > 1 else ''} {short}; " + (
            "raise memory_limit" if limited_by_user else "free memory or use another device"
        )
    raise ConfigError(
        f"{which}: {size} px ({content_hw[1]}×{content_hw[0]}) needs ~{need / GB:.1f} GB even with {saving}, "
        f"{room}; {advice}"
    )


def memory_record(memory: Estimate, device: torch.device, heap: str | None = None) -> dict[str, object]:
    """What config.json says about memory: the model's estimate and choices, and `heap`, how the CPU heap was
    set (`device_memory.heap_choice`; peak_record adds the measured peak)."""
    return {
        "estimate_gb": round(memory.bytes / GB, 3),
        "available_gb": round(available_bytes(device) / GB, 3),
        "history": memory.history,
        "tile_size": memory.tile,
        "halo": memory.tiling.halo if memory.tiling else 0,
        "tiles_through": memory.tiling.cut if memory.tiling else None,
        **({"heap": heap} if heap else {}),
    }


def memory_notes(memory: Estimate, config: Config, hw: tuple[int, int], device: torch.device) -> list[str]:
    """The run's start lines: the estimate ("needs ~3.1 GB of 22.8 GB available"), tiles, a capped history."""
    lines = [
        f"memory: {hw[1]}×{hw[0]} px needs ~{memory.bytes / GB:.1f} GB of {available_bytes(device) / GB:.1f} GB "
        f"available ({device.type})"
    ]
    if memory.tiling:
        t = memory.tiling
        lines.append(
            f"memory: VGG runs through {t.cut} on tiles of {t.tile} px with a {t.halo} px halo, "
            "the later layers on the whole image"
        )
    if config.optimizer == "lbfgs" and memory.history < history_used(config):
        more = " (history_precision bf16 holds twice as many)" if config.history_precision == "fp32" else ""
        lines.append(
            f"memory: L-BFGS history {memory.history} instead of {config.history}, the largest that fits{more}"
        )
    return lines
