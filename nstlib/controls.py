"""The vocabulary of spatial/scale control and the catalog of style losses, pure Python so Config can check it.

Gatys, Ecker, Bethge, Hertzmann, Shechtman, CVPR 2017 (Sec. 4 spatial, Sec. 6 scale control); the losses
are in losses/style/ (one module each), the mask propagation in losses/masks.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nstlib.errors import ConfigError


@dataclass(frozen=True)
class StyleLossEntry:
    """One style loss: its name, the factor β is multiplied by, and the memory its forward and backward keep.

    beta_scale: the default style_weight (1e3, with content_weight 1) gives each loss about the Gram run's
    balance of content and style in the result (docs/control.md shows how; w2 and mrf well below the scale
    that equalises the losses at the content init, which overpowers the content), set at 512 px.
    memory_copies: copies of each style layer's C·M features (mrf: its 9C·M patches) beyond the Gram loss's,
    from peak RSS over the Gram run's at 512 and 768 px (python bench/memory.py; docs/large_images.md)."""

    name: str
    beta_scale: float
    memory_copies: float


STYLE_LOSS_CATALOG = {
    entry.name: entry
    for entry in (
        StyleLossEntry("gram", 1.0, 0.0),
        StyleLossEntry("mean_std", 2e4, 0.8),
        StyleLossEntry("w2", 3e3, 2.7),
        StyleLossEntry("mrf", 2.4e3, 3.2),
        StyleLossEntry("sliced_w", 1e4, 3.0),
        StyleLossEntry("remd", 9e7, 3.0),
    )
}
STYLE_LOSSES = tuple(STYLE_LOSS_CATALOG)


@dataclass(frozen=True)
class ContentLossEntry:
    """One content loss: its name and the factor α is multiplied by (alpha_scale: the default content_weight 1
    gives it about the MSE run's balance of content and style; docs/control.md shows how it was set)."""

    name: str
    alpha_scale: float


CONTENT_LOSS_CATALOG = {
    entry.name: entry for entry in (ContentLossEntry("mse", 1.0), ContentLossEntry("self_similarity", 1e14))
}
CONTENT_LOSSES = tuple(CONTENT_LOSS_CATALOG)
PROPAGATIONS = ("simple", "inside")

# (help, source in the literature) of the Config fields of control and style losses
HELP: dict[str, tuple[str, str]] = {
    "bit_depth": ("bits per channel of final.png (and final.tiff): 8 or 16, for prints without banding", ""),
    "output_format": (
        "png: final.png; tiff: final.png and final.tiff, both with `dpi` and an embedded sRGB ICC profile",
        "",
    ),
    "print_size": (
        "a print's size, WxH with a unit (30x40cm, 12x16in, 210x297mm, 1920x1080px) or A2-A6, at `dpi`: "
        "overrides image_size "
        "with the print's long side in pixels (cut from the centre of the content to the print's shape, turned "
        "to its orientation) and, when `sizes` is empty, runs "
        "coarse to fine, halving down to about 512 px; empty: image_size",
        "",
    ),
    "content": (
        "content image: a path or an http(s) URL; 'none' synthesises the style's texture from noise at "
        "image_size × image_size (content_weight unused; docs/textures.md)",
        "p, the photograph (Sec. 2); Gatys, Ecker & Bethge 2015 (texture synthesis)",
    ),
    "style_loss": (
        "style representation: 'gram' (the paper's), 'mean_std' (channel means and stds), 'w2' (Wasserstein-2 "
        "between Gaussian fits), 'mrf' (nearest 3×3 patches, layers relu3_1 on), 'sliced_w' (sliced Wasserstein: "
        "the whole feature distribution along random directions), 'remd' (relaxed earth mover's distance with "
        "cosine cost, plus means and covariances); β is scaled per loss so its default suits each",
        "Eq. 4; Huang & Belongie 2017, Li et al. 2017; Dowson & Landau 1982; Li & Wand 2016; Heitz et al. 2021; "
        "Kolkin et al. 2019 (STROTSS)",
    ),
    "content_loss": (
        "content representation: 'mse' (the paper's squared feature error) or 'self_similarity' (the content's "
        "pattern of cosine self-similarities at sampled positions, looser about colour and texture); α is scaled "
        "per loss so its default suits each",
        "Eq. 1; Kolkin et al. 2019 (STROTSS), Sec. 2.2",
    ),
    "laplacian_weight": (
        "weight of the Laplacian content term: the squared difference of the Laplacians of the 4×4 and 16×16 "
        "average-pooled generated and content images (keeps fine edges); 0: off",
        "Li et al. 2017, Laplacian-steered neural style transfer",
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
