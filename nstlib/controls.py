"""The vocabulary of spatial/scale control and the style-loss family, pure Python so Config can check it.

Gatys, Ecker, Bethge, Hertzmann, Shechtman, CVPR 2017 (Sec. 4 spatial, Sec. 6 scale control); the losses
are in style_losses.py, the mask propagation in masks.py.
"""

from __future__ import annotations

import re

from nstlib.errors import ConfigError

STYLE_LOSSES = ("gram", "mean_std", "w2", "mrf")
PROPAGATIONS = ("simple", "inside")

# (help, source in the literature) of the Config fields of control and style losses
HELP: dict[str, tuple[str, str]] = {
    "style_loss": (
        "style representation: 'gram' (the paper's), 'mean_std' (channel means and stds), 'w2' (Wasserstein-2 "
        "between Gaussian fits), 'mrf' (nearest 3×3 patches, layers relu3_1 on); β is scaled per loss so its "
        "default suits each",
        "Eq. 4; Huang & Belongie 2017, Li et al. 2017; Dowson & Landau 1982; Li & Wand 2016",
    ),
    "normalize_gradients": (
        "divide each layer's loss gradient by its L1 norm before weighting it",
        "neural-style's -normalize_gradients",
    ),
    "style_masks": (
        "one greyscale mask per style image (white: where it applies), resized to the output; uncovered pixels "
        "get no style loss, overlapping masks both styles",
        "Gatys et al. 2017, Sec. 4 (guided Gram matrices)",
    ),
    "mask_propagation": (
        "masks to each layer: 'simple' (resized) or 'inside' (eroded: receptive field inside the region)",
        "Gatys et al. 2017, Sec. 4.1",
    ),
    "style_region_masks": (
        "one mask per style image: where in it its style is taken from; empty: everywhere",
        "Gatys et al. 2017, Sec. 4",
    ),
    "style_layer_sets": (
        "one set of style layers per style image, joined by '+' (relu1_1+relu2_1): each style applies only at "
        "its layers; empty: all at every style layer",
        "Gatys et al. 2017, Sec. 6 (scale control)",
    ),
}


def parse_layer_sets(sets: list[str]) -> list[list[str]] | None:
    """style_layer_sets as lists of layers ('+' or spaces between layers); None: every style everywhere."""
    return [[x for x in re.split(r"[+\s]+", s) if x] for s in sets] if sets else None


def check_control(styles: int, style_layers: list[str], per_style: dict[str, list[str]]) -> None:
    """One value per style image in each of `per_style`; mask paths not empty; layer sets within style_layers."""
    for name, given in per_style.items():
        if given and len(given) != styles:
            raise ConfigError(f"{name}: {len(given)} values for {styles} style images; give one per style")
        if name != "style_layer_sets" and any(not p.strip() for p in given):
            raise ConfigError(f"{name}: an empty path; give a mask image file or an http(s) URL")
    for i, layers in enumerate(parse_layer_sets(per_style.get("style_layer_sets", [])) or []):
        if not layers or any(layer not in style_layers for layer in layers):
            raise ConfigError(
                f"style_layer_sets: set {i + 1} ({'+'.join(layers)!r}) must list some of the "
                f"style_layers ({', '.join(style_layers)})"
            )
