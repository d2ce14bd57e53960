"""VGG layer tables, named as jcjohnson/neural-style names them.

Pure Python (no torch) so that configuration can be validated before any model work.
"""

from __future__ import annotations

# Conv channel widths per block; "M" is the pooling layer closing a block (Simonyan & Zisserman, Table 1).
ARCHITECTURES: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def layer_table(model: str) -> list[tuple[str, int]]:
    """All named layers of `model` in forward order, with their output channel count.

    conv{b}_{c} is the pre-activation convolution output, relu{b}_{c} the rectified one and
    pool{b} the output of block b's pooling layer.
    """
    if model not in ARCHITECTURES:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(ARCHITECTURES)}")
    names: list[tuple[str, int]] = []
    block, conv, channels = 1, 1, 3
    for item in ARCHITECTURES[model]:
        if item == "M":
            names.append((f"pool{block}", channels))
            block, conv = block + 1, 1
        else:
            channels = int(item)
            names += [(f"conv{block}_{conv}", channels), (f"relu{block}_{conv}", channels)]
            conv += 1
    return names


def layer_names(model: str) -> list[str]:
    return [name for name, _ in layer_table(model)]


def layer_channels(model: str, layer: str) -> int:
    return dict(layer_table(model))[layer]


def check_layers(model: str, layers: list[str], what: str = "layer") -> None:
    """Raise ValueError naming the valid layers if any of `layers` is unknown for `model`."""
    valid = layer_names(model)
    bad = [layer for layer in layers if layer not in valid]
    if bad:
        raise ValueError(f"unknown {what} {', '.join(map(repr, bad))} for {model}; valid: {', '.join(valid)}")


def min_side(model: str, layer: str) -> int:
    """The shortest image side for which `layer` still has one position per 2×2 pooling cell (2^poolings):
    below it, its features are mostly made of padding."""
    pools = 0
    for name in layer_names(model):
        if name == layer:
            break
        pools += name.startswith("pool")
    return int(2**pools)


def feature_size(model: str, layer: str, height: int, width: int) -> tuple[int, int]:
    """Spatial size of `layer`'s output for an input of height × width (each 2×2 pooling rounds a half up, as Caffe)."""
    for name in layer_names(model):
        if name.startswith("pool"):
            height, width = -(-height // 2), -(-width // 2)
        if name == layer:
            break
    return height, width
