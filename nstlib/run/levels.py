"""What a level of a run starts from: its content and style images, the starting images, and the targets of
the losses, from the batch's Configs (the losses take the plain values made here)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nstlib import images as im
from nstlib.config import Config
from nstlib.images import mirror_pad
from nstlib.losses.content.laplacian import laplacians
from nstlib.losses.core import Targets
from nstlib.losses.masks import resize_mask
from nstlib.losses.targets import SampleStyle, content_targets, control_targets, style_targets
from nstlib.model.tiles import Tiling
from nstlib.model.vgg import VGGFeatures, build_extractor
from nstlib.run.inputs import Inputs, content_hw
from nstlib.run.memory import style_side


def level_inputs(
    configs: Sequence[Config], loaded: Sequence[Inputs], size: int, device: torch.device
) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """Content batch and per-sample style images at a level of longest side `size`, colour-preprocessed."""
    hw = content_hw(loaded, size)
    contents, styles = [], []
    for c, img in zip(configs, loaded):
        content = im.resize(img.content, hw).to(device)
        these = [im.resize_longest(s, style_side(c, size)).to(device) for s in img.styles]
        if c.preserve_color == "histogram":
            these = [im.match_colour_histogram(s, content) for s in these]
        elif c.preserve_color == "luminance":
            these = [im.match_luminance(s, content) for s in these]
            content = im.luminance(content)
        contents.append(content)
        styles.append(these)
    return torch.cat(contents), styles


def initial_images(
    configs: Sequence[Config], loaded: Sequence[Inputs], content: torch.Tensor, styles: list[list[torch.Tensor]]
) -> torch.Tensor:
    """Each sample's starting image at the content's size: its `init` (content, style, seeded noise, a file)."""
    out = []
    hw = (content.shape[-2], content.shape[-1])
    for i, (c, img) in enumerate(zip(configs, loaded)):
        if c.init == "content" and c.has_content:
            x = content[i : i + 1]
        elif c.init == "style":
            x = im.resize(styles[i][0], hw)
        elif c.init in ("noise", "content"):  # a texture starts from noise (Gatys et al. 2015)
            gen = torch.Generator().manual_seed(c.seed)
            x = (0.5 + c.noise_std * torch.randn(1, 3, *hw, generator=gen)).clamp(0, 1).to(content.device)
        else:
            assert img.init is not None
            x = im.resize(img.init.to(content.device), hw)
        if c.preserve_color == "luminance":
            x = im.luminance(x)
        out.append(x)
    return torch.cat(out).contiguous()


def level_targets(
    extractor: VGGFeatures,
    configs: Sequence[Config],
    loaded: Sequence[Inputs],
    content: torch.Tensor,
    styles: list[list[torch.Tensor]],
    t: Tiling | None = None,
    margin: int = 0,
) -> Targets:
    """A batch's targets at one level: the paper's Grams, or (other style losses, masks, layer sets) controlled.

    `content` is the canvas: the content images mirrored `margin` px wider on each side.
    With `t` the early layers' statistics are sums over tiles."""
    cfg, hw = configs[0], (content.shape[-2], content.shape[-1])
    contents = content_targets(extractor, content, cfg.content_layers, t)
    laplacian = laplacians(content) if any(c.laplacian_weight > 0 for c in configs) else None
    if any(c.uses_control for c in configs):  # Gatys et al. 2017 control, other style losses
        control = control_targets(
            extractor, sample_styles(configs, loaded, styles, hw, margin), cfg.style_layers, hw, t, margin
        )
        return Targets(contents, {}, control, cfg.content_loss, laplacian)
    blend = [c.resolved_blend_weights() for c in configs]
    styled = style_targets(extractor, styles, blend, cfg.style_layers, hw, t, margin)
    return Targets(contents, styled, None, cfg.content_loss, laplacian)


def sample_styles(
    configs: Sequence[Config],
    loaded: Sequence[Inputs],
    styles: list[list[torch.Tensor]],
    hw: tuple[int, int],
    margin: int = 0,
) -> list[SampleStyle]:
    """Each sample's style loss, styles, masks (at the canvas size `hw`, mirrored as the canvas is) and region
    masks (at its styles')."""
    inner = (hw[0] - 2 * margin, hw[1] - 2 * margin)
    out = []
    for c, img, these in zip(configs, loaded, styles):
        regions: list[torch.Tensor | None] = [
            resize_mask(m, (s.shape[-2], s.shape[-1])) for m, s in zip(img.region_masks, these)
        ]
        masks = [mirror_pad(resize_mask(m, inner), margin) for m in img.masks] or None
        blend, sets = c.resolved_blend_weights(), c.resolved_layer_sets()
        out.append(SampleStyle(c.style_loss, these, blend, masks, regions, sets, c.mask_propagation))
    return out


def network(config: Config, device: torch.device, dtype: torch.dtype) -> VGGFeatures:
    """The run's VGG through its deepest layer (cached): 'mirror' pads the canvas, the network pads zeros."""
    layers = list(dict.fromkeys(config.content_layers + config.style_layers))
    wrap = "circular" if config.padding == "circular" else "zeros"
    return build_extractor(config.model, config.weights, layers, config.pooling, device, dtype, wrap)
