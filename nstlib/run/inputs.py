"""A run's input images, loaded and checked before anything is created or allocated.

Every image error names its parameter; sizes are checked against the deepest layer used and the
batch's memory estimate (`memory.py`) against what the device has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from nstlib import images as im
from nstlib.config import Config
from nstlib.errors import ConfigError, ImageError, quoted
from nstlib.files import file_problem
from nstlib.losses.masks import load_mask
from nstlib.model.layers import min_side
from nstlib.paths import is_url, resolve_input
from nstlib.printsize import oriented, print_pixels
from nstlib.run.memory import Estimate, plan_or_refuse, size_parameter, style_side


@dataclass
class Inputs:
    """A config's images as loaded (full size, RGB in [0, 1])."""

    content: torch.Tensor
    styles: list[torch.Tensor]
    init: torch.Tensor | None
    masks: list[torch.Tensor] = field(default_factory=list)  # style_masks, 1×1×H×W each
    region_masks: list[torch.Tensor] = field(default_factory=list)  # style_region_masks
    multiple: int = 1  # the generated image's sides are rounded to a multiple of this (padding 'circular')
    exact: tuple[int, int] | None = None  # print_size: the (H, W) of the largest level, to the pixel

    def hw_at(self, size: int) -> tuple[int, int]:
        """The generated image's (H, W) at longest side `size`."""
        if self.exact is not None and size == max(self.exact):
            return _rounded(self.exact, self.multiple)
        return _rounded(im.scaled_size(self.content.shape[-2], self.content.shape[-1], size), self.multiple)


def load_inputs(config: Config) -> Inputs:
    """Load every image of `config`; an ImageError names the parameter."""
    loaded: dict[str, list[torch.Tensor]] = {"content": [], "style": [], "init": []}
    for param, path in config.image_paths():
        if param == "init" and not is_url(path) and file_problem(resolve_input(path)) == "file not found":
            raise ConfigError(f"init: {quoted(path)} is not content, style, noise or an existing image file")
        try:
            loaded[param].append(im.load_image(path))
        except ImageError as e:
            raise ImageError(f"{param}: {e}") from None
    init = loaded["init"][0] if loaded["init"] else None
    masks, region_masks = load_masks(config)
    exact = None
    if config.has_content:
        content = loaded["content"][0]
        if config.print_size:  # the print's shape, cut from the centre of the photo and of what lies on it
            pw, ph = oriented(print_pixels(config.print_size, config.dpi), content.shape[-2], content.shape[-1])
            exact = (ph, pw)
            content = im.crop_to_aspect(content, pw / ph)
            init = None if init is None else im.crop_to_aspect(init, pw / ph)
            masks, region_masks = ([im.crop_to_aspect(m, pw / ph) for m in ms] for ms in (masks, region_masks))
    else:  # a texture's content is grey, the print's rectangle or a square: it sets the output size only
        pw, ph = print_pixels(config.print_size, config.dpi) if config.print_size else (max(config.level_sizes),) * 2
        exact = (ph, pw) if config.print_size else None
        content = torch.full((1, 3, ph, pw), 0.5)
    layers = config.content_layers + config.style_layers
    # circular padding is exact when every pooling sees whole windows: sides a multiple of 2^poolings
    multiple = max(min_side(config.model, layer) for layer in layers) if config.padding == "circular" else 1
    return Inputs(content, loaded["style"], init, masks, region_masks, multiple=multiple, exact=exact)


def content_hw(loaded: Sequence[Inputs], size: int) -> tuple[int, int]:
    """The generated image's (H, W) at longest side `size`; a batch's content images must agree."""
    shapes = {img.hw_at(size) for img in loaded}
    if len(shapes) > 1:
        raise ConfigError(
            f"batch: content images give different sizes {sorted(shapes)} at {size} px; run them separately"
        )
    return shapes.pop()


def _rounded(hw: tuple[int, int], multiple: int) -> tuple[int, int]:
    return (max(multiple, round(hw[0] / multiple) * multiple), max(multiple, round(hw[1] / multiple) * multiple))


def check_sizes(configs: list[Config], loaded: list[Inputs], device: torch.device) -> Estimate:
    """Before any folder or model: the generated and style images are large enough for the deepest layer
    used (a short side of 2^poolings pixels, `layers.min_side`); returns the batch's memory plan (whole
    image, capped history or tiles; `memory.py`) or refuses in one line."""
    first = configs[0]
    which = size_parameter(first)
    layers = first.content_layers + first.style_layers
    for size in first.level_sizes:
        hw = content_hw(loaded, size)
        for layer in layers:
            if min(hw) < min_side(first.model, layer):
                raise ConfigError(
                    f"{which}: {size} px gives a {hw[1]}×{hw[0]} image, too small for layer {layer} (its short "
                    f"side must be at least {min_side(first.model, layer)} px); use a larger size or shallower layers"
                )
        for c, img in zip(configs, loaded):
            for sh, sw in style_hws(img):
                h, w = im.scaled_size(sh, sw, style_side(c, size))
                for layer in c.style_layers:
                    if min(h, w) < min_side(c.model, layer):
                        raise ConfigError(
                            f"style_scale: a {sw}×{sh} style image becomes {w}×{h} at {size} px, too small for "
                            f"layer {layer} (short side at least {min_side(c.model, layer)} px); use a larger "
                            "style_scale or image size"
                        )
    hw0 = content_hw(loaded, max(first.level_sizes))
    plan = plan_or_refuse(configs, hw0, [style_hws(i) for i in loaded], device)
    return plan


def style_hws(img: Inputs) -> list[tuple[int, int]]:
    return [(s.shape[-2], s.shape[-1]) for s in img.styles]


def load_masks(config: Config) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """style_masks and style_region_masks as loaded; an ImageError names the parameter (before model work)."""
    out: dict[str, list[torch.Tensor]] = {"style_masks": [], "style_region_masks": []}
    for param, masks in out.items():
        for path in getattr(config, param):
            try:
                masks.append(load_mask(path))
            except ImageError as e:
                raise ImageError(f"{param}: {e}") from None
    return out["style_masks"], out["style_region_masks"]
