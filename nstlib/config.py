"""The single source of truth for every NST Lab parameter.

`Config` holds names, types, defaults, help and where each comes from in Gatys et al. (CVPR 2016).
The CLI flags, the notebooks' parameters cells, the sweep files and the docs' parameter table are derived
from it or checked against it.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from nstlib.controls import CONTENT_LOSSES, HELP, PROPAGATIONS, STYLE_LOSSES, check_control, parse_layer_sets
from nstlib.errors import ConfigError as ConfigError  # re-exported: the error of this module
from nstlib.model.layers import check_layers
from nstlib.paths import DEFAULT_RUNS_DIR, is_url, resolve_input
from nstlib.printsize import check_print, coarse_to_fine, print_pixels
from nstlib.values import check_field, is_list, refuse_repeats
from nstlib.values import coerce as coerce  # re-exported: Config's value parsing

DEFAULT_CONTENT = "collections/content/chelsea.jpg"
DEFAULT_STYLE = "collections/style/starry_swirls.jpg"
PAPER_STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
STYLE_LAYER_PRESETS = ("uniform", "inverse_channels")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MARGIN = 8  # px of the mirror canvas on each side: 4 left faint frames on 2 of 6 pairs (bench/edges.py)
INIT_MODES = ("content", "style", "noise")  # any other `init` is an image path
NO_CONTENT = "none"  # content of a texture run (Gatys, Ecker & Bethge 2015)


def _f(default: Any, help: str, paper: str = "", choices: tuple[str, ...] = (), **extra: Any) -> Any:
    meta = {"help": help, "paper": paper, "choices": choices, **extra}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Config:
    """All parameters of one style transfer experiment (see `nst run --help` or docs/parameters.md)."""

    # images
    content: str = _f(DEFAULT_CONTENT, *HELP["content"], path=True)
    style: list[str] = _f(
        [DEFAULT_STYLE],
        "style image(s): paths or http(s) URLs; several are blended, each entry one style (an image listed twice "
        "counts twice, and may take its own mask or layer set)",
        "a, the artwork (Sec. 2)",
        path=True,
    )
    style_blend_weights: list[float] = _f(
        [], "relative weight of each style image; empty: equal", "neural-style's -style_blend_weights", minimum=0.0
    )
    name: str = _f("", "run name used in the run folder; empty: '<content>-<style>'")
    image_size: int = _f(
        512,
        "longest side of the generated image in pixels (aspect ratio kept)",
        "Sec. 3: 512 px on the longest side in the paper's figures",
        minimum=16,
    )
    print_size: str = _f("", *HELP["print_size"])
    dpi: int = _f(300, "dots per inch of print_size", "", minimum=1)
    bit_depth: int = _f(8, *HELP["bit_depth"])
    output_format: str = _f("png", *HELP["output_format"], choices=("png", "tiff"))
    sizes: list[int] = _f(
        [],
        "multi-resolution schedule of longest sides, coarse to fine; "
        "empty: [image_size]; each level starts from the upsampled result of the one before",
        "Gatys et al. 2017 (coarse-to-fine)",
        minimum=16,
    )
    level_epochs: list[int] = _f([], "optimizer steps per level of `sizes`; empty: `epochs` at every level", minimum=0)
    style_scale: float = _f(
        1.0, "size of the style image relative to the generated image", "neural-style's -style_scale", minimum=1e-3
    )
    preserve_color: str = _f(
        "none",
        "keep the content's colours: 'luminance' transfers on luminance only, "
        "'histogram' matches the style's colour mean and covariance to the content's first",
        "Gatys et al. 2017, Sec. 5 (colour preservation)",
        ("none", "luminance", "histogram"),
    )
    # model
    model: str = _f("vgg19", "feature network", "VGG-19 (Sec. 2)", ("vgg19", "vgg16"))
    weights: str = _f(
        "original",
        "'original' (the Caffe VGG-19 the paper used, offline), 'torchvision' "
        "(IMAGENET1K_V1), 'random' (seeded, for tests), or a path to a .pth state dict",
        "Caffe VGG-19 of Simonyan & Zisserman (Sec. 2)",
    )
    pooling: str = _f(
        "avg",
        "pooling layers: 'avg' or 'max'",
        "Sec. 2: average pooling 'yields slightly more appealing results'",
        ("avg", "max"),
    )
    padding: str = _f(
        "mirror",
        "what the network sees beyond the image's edges: 'mirror' (the image is optimised on a canvas mirrored "
        f"{MARGIN} px wider on each side, cut from it when saved, and the style targets taken so too: no frame "
        f"forms along the edges; images with a side under {16 * MARGIN} px run as 'zeros'), 'zeros' (the paper's "
        "network on the image itself) or 'circular' (seamless: the image wraps around, so it tiles; docs/textures.md)",
        "VGG's zero padding (Sec. 2)",
        ("mirror", "zeros", "circular"),
    )
    # losses
    content_layers: list[str] = _f(["relu4_2"], "layers of the content loss", "conv4_2 (Sec. 3, Fig. 2)", layer=True)
    content_layer_weights: list[float] = _f(
        [], "weight v_l per content layer; empty: equal, summing to 1", "", minimum=0.0
    )
    style_layers: list[str] = _f(
        list(PAPER_STYLE_LAYERS), "layers of the style loss", "conv1_1 … conv5_1 (Sec. 3, Fig. 2)", layer=True
    )
    style_layer_weights: Union[list[float], str] = _f(
        "uniform",
        "weight w_l per style layer: 'uniform' (1/n), 'inverse_channels' (1e3/N_l², the seed "
        "notebook's) or a list of floats",
        "w_l = 1/5 (Sec. 3, Eq. 5)",
        minimum=0.0,
    )
    content_weight: float = _f(1.0, "alpha, weight of the content loss", "alpha (Eq. 7)", minimum=0.0)
    style_weight: float = _f(
        1e3, "beta, weight of the style loss", "beta; alpha/beta = 1e-3 (Eq. 7, Fig. 3)", minimum=0.0
    )
    tv_weight: float = _f(
        0.0, "weight of the total-variation smoothness loss", "not in the paper (Mahendran & Vedaldi)", minimum=0.0
    )
    style_loss: str = _f("gram", *HELP["style_loss"], STYLE_LOSSES)  # help texts: controls.py
    content_loss: str = _f("mse", *HELP["content_loss"], CONTENT_LOSSES)
    laplacian_weight: float = _f(0.0, *HELP["laplacian_weight"], minimum=0.0)
    normalize_gradients: bool = _f(False, *HELP["normalize_gradients"])
    # spatial and scale control (Gatys et al. 2017; docs/control.md)
    style_masks: list[str] = _f([], *HELP["style_masks"], path=True)
    mask_propagation: str = _f("simple", *HELP["mask_propagation"], PROPAGATIONS)
    style_region_masks: list[str] = _f([], *HELP["style_region_masks"], path=True)
    style_layer_sets: list[str] = _f([], *HELP["style_layer_sets"])
    # optimisation
    optimizer: str = _f("lbfgs", "'lbfgs' or 'adam'", "L-BFGS (Sec. 2)", ("lbfgs", "adam"))
    lr: float = _f(0.0, "learning rate; 0: the optimizer's default (1.0 for L-BFGS, 0.02 for Adam)", minimum=0.0)
    history: int = _f(100, "L-BFGS history size", "neural-style's -lbfgs_num_correction", minimum=1)
    history_precision: str = _f(
        "fp32",
        "how the L-BFGS history is stored: 'fp32', or 'bf16' in half the memory (docs/large_images.md)",
        "",
        ("fp32", "bf16"),
    )
    tile_size: int = _f(
        0,
        "run VGG on tiles of this many pixels (a multiple of 16, with a halo) so large images fit in memory; "
        "losses and gradients stay exact; 0: automatic, tiles only when the whole image does not fit",
        "",
        minimum=0,
    )
    memory_limit: float = _f(
        0.0,
        "GB a run may use, the process included: the memory model caps the L-BFGS history and tiles to fit; "
        "0: 85% of the available memory (docs/large_images.md)",
        "",
        minimum=0.0,
    )
    time_limit: float = _f(0.0, "minutes: refuse a run estimated to take longer, before it starts; 0: no limit", "")
    epochs: int = _f(300, "optimizer steps; one L-BFGS step is one iteration (one forward + backward)", "", minimum=0)
    tolerance: float = _f(
        2e-4,
        "stop a sample early once its best loss improved by less than this fraction over the last "
        "tolerance_window steps (epochs stays the maximum); 0: run every step, as a fixed-step experiment",
        "",
        minimum=0.0,
    )
    tolerance_window: int = _f(10, "steps over which `tolerance` measures the improvement", "", minimum=1)
    on_divergence: str = _f(
        "best",
        "a loss that stays 10x above its best for 3 steps has diverged: the run stops and keeps its "
        "'best' image so far, or its 'last'",
        "",
        ("best", "last"),
    )
    init: str = _f(
        "content", "initial image: 'content', 'style', 'noise' (seeded) or a path to an image", "white noise (Sec. 2)"
    )
    noise_std: float = _f(
        0.25, "standard deviation of the 'noise' init around mid-grey (pixels in [0, 1])", "", minimum=0.0
    )
    seed: int = _f(0, "random seed: a CPU run with the same seed repeats bit for bit", "", minimum=0, maximum=2**63 - 1)
    device: str = _f("auto", "'auto' (cuda, then mps, then cpu), 'cpu', 'cuda', 'cuda:N' or 'mps'")
    precision: str = _f(
        "auto",
        "'auto' (the faster of fp32 and bf16, timed once per machine and cached), 'fp32' or 'bf16'; "
        "losses are always fp32",
        "",
        ("auto", "fp32", "bf16"),
    )
    # output
    runs_dir: str = _f(
        DEFAULT_RUNS_DIR,
        "folder holding the timestamped run folders, relative to the current directory; empty: the "
        "checkout's runs/ (./runs outside a checkout)",
    )
    save_every: int = _f(10, "snapshot (frames/ and video frame) every N steps; 0: none", "", minimum=0)
    video: bool = _f(True, "write progress.mp4 and an animated preview from the snapshots")
    fps: int = _f(
        0,
        "frames per second of progress.mp4; 0: chosen from the number of snapshots so the video "
        "lasts about 5 s (2 to 30 fps), the last frame held 1 s",
        "",
        minimum=0,
    )
    tensorboard: bool = _f(
        True,
        "write TensorBoard event files in the run folder (losses per step and per layer, snapshots, the "
        "config, hparams for sweep points); needs the tensorboard package, else nothing is written",
    )
    metrics: bool = _f(
        True,
        "score final.png against the content and style images at the end of the run (content and style "
        "distances, SSIM, colour, edge score, speckle; docs/metrics.md): metrics.json, config.json's `metrics`, "
        "a sweep's index columns",
    )
    progress: str = _f(
        "auto",
        "'auto' (a tqdm bar on a terminal or in Jupyter, else text lines), 'text' (a line "
        "every log_every steps, with ETA) or 'none'",
        "",
        ("auto", "text", "none"),
    )
    log_every: int = _f(10, "steps between progress lines in 'text' mode", "", minimum=1)

    def __post_init__(self) -> None:
        self.validate()

    # ---- validation -------------------------------------------------------------------------
    def validate(self) -> Config:
        """Check every field; raise ConfigError naming the first bad parameter and its choices."""
        hints = field_types()
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            setattr(self, f.name, coerce(f.name, value, hints[f.name]))
            check_field(f, getattr(self, f.name))
        if not self.style:
            raise ConfigError("style: at least one style image is required")
        for param, path in self.image_paths():
            if not path.strip():
                raise ConfigError(f"{param}: an empty path; give an image file or an http(s) URL")
        if self.style_blend_weights and sum(self.style_blend_weights) <= 0:
            raise ConfigError("style_blend_weights: all zero; give at least one positive weight")
        if self.style_blend_weights and len(self.style_blend_weights) != len(self.style):
            raise ConfigError(
                f"style_blend_weights: {len(self.style_blend_weights)} weights for {len(self.style)} style images"
            )
        for name in ("content_layers", "style_layers"):
            try:
                check_layers(self.model, getattr(self, name), what=name[:-1].replace("_", " "))
            except ValueError as e:
                raise ConfigError(f"{name}: {e}") from None
        # a layer or a size listed twice has no meaning of its own (one loss term per layer, one level per
        # size); style images, their masks and blend weights may repeat: each entry is one more style
        for name in ("content_layers", "style_layers", "sizes"):
            refuse_repeats(name, getattr(self, name))
        for i, layers in enumerate(self.resolved_layer_sets() or [], start=1):
            refuse_repeats(f"style_layer_sets (set {i})", layers)
        if not self.style_layers and self.style_weight > 0:
            raise ConfigError("style_layers: empty while style_weight > 0")
        if not self.content_layers and self.content_weight > 0:
            raise ConfigError("content_layers: empty while content_weight > 0")
        if not (self.content_layers or self.style_layers):
            raise ConfigError("content_layers, style_layers: both empty; give layers for at least one loss")
        if not (self.content_weight > 0 or self.style_weight > 0 or self.tv_weight > 0):
            raise ConfigError("content_weight, style_weight, tv_weight: all zero, so there is nothing to optimise")
        if self.tile_size and (self.tile_size < 32 or self.tile_size % 16):
            raise ConfigError(f"tile_size: {self.tile_size} is not 0 or a multiple of 16 of at least 32")
        if self.content_layer_weights and len(self.content_layer_weights) != len(self.content_layers):
            raise ConfigError(
                f"content_layer_weights: {len(self.content_layer_weights)} weights for "
                f"{len(self.content_layers)} content layers"
            )
        if isinstance(self.style_layer_weights, str):
            if self.style_layer_weights not in STYLE_LAYER_PRESETS:
                raise ConfigError(
                    f"style_layer_weights: {self.style_layer_weights!r} is neither a list of floats "
                    f"nor one of {', '.join(STYLE_LAYER_PRESETS)}"
                )
        elif len(self.style_layer_weights) != len(self.style_layers):
            raise ConfigError(
                f"style_layer_weights: {len(self.style_layer_weights)} weights for "
                f"{len(self.style_layers)} style layers"
            )
        names = ("style_masks", "style_region_masks", "style_layer_sets")
        check_control(len(self.style), self.style_layers, {name: getattr(self, name) for name in names})
        if self.level_epochs and len(self.level_epochs) != len(self.sizes):
            raise ConfigError(f"level_epochs: {len(self.level_epochs)} values for {len(self.sizes)} sizes")
        if self.weights not in ("original", "torchvision", "random") and not self.weights.endswith((".pth", ".pt")):
            raise ConfigError(
                f"weights: {self.weights!r} is not one of original, torchvision, random, or a path to a .pth/.pt file"
            )
        if self.weights == "original" and self.model != "vgg19":
            raise ConfigError(
                f"weights: 'original' exists offline only for vgg19 (the paper's network); "
                f"use weights 'torchvision', 'random' or a .pth path for {self.model}"
            )
        if not DEVICE_PATTERN.match(self.device):
            raise ConfigError(f"device: {self.device!r} is not one of auto, cpu, cuda, cuda:N, mps")
        if not self.init:
            raise ConfigError(f"init: empty; use {', '.join(INIT_MODES)} or a path to an image")
        if self.bit_depth not in (8, 16):
            raise ConfigError(f"bit_depth: {self.bit_depth!r} is not one of 8, 16")
        if self.print_size:
            check_print(self.print_size, self.dpi, self.sizes)
        if not self.has_content and self.preserve_color != "none":
            raise ConfigError(
                "preserve_color: a texture (content none) has no colours to keep; use preserve_color none"
            )
        return self

    # ---- derived values -----------------------------------------------------------------------
    @property
    def level_sizes(self) -> list[int]:
        if self.sizes or not self.print_size:
            return list(self.sizes) or [self.image_size]
        return coarse_to_fine(max(print_pixels(self.print_size, self.dpi)))

    @property
    def level_steps(self) -> list[int]:
        return list(self.level_epochs) or [self.epochs] * len(self.level_sizes)

    @property
    def total_epochs(self) -> int:
        return sum(self.level_steps)

    @property
    def learning_rate(self) -> float:
        return self.lr or (1.0 if self.optimizer == "lbfgs" else 0.02)

    def resolved_style_layer_weights(self) -> list[float]:
        if isinstance(self.style_layer_weights, list):
            return list(self.style_layer_weights)
        if self.style_layer_weights == "inverse_channels":
            from nstlib.model.layers import layer_channels

            return [1e3 / layer_channels(self.model, layer) ** 2 for layer in self.style_layers]
        return [1.0 / max(1, len(self.style_layers))] * len(self.style_layers)

    def resolved_content_layer_weights(self) -> list[float]:
        return list(self.content_layer_weights) or [1.0 / max(1, len(self.content_layers))] * len(self.content_layers)

    def resolved_blend_weights(self) -> list[float]:
        w = self.style_blend_weights or [1.0] * len(self.style)
        return [x / sum(w) for x in w]  # validate() refused an all-zero list

    def resolved_layer_sets(self) -> list[list[str]] | None:
        return parse_layer_sets(self.style_layer_sets)

    def margin_at(self, height: int, width: int) -> int:
        """Pixels the canvas extends an image of this size by on each side (padding 'mirror'): MARGIN where the
        short side is at least 16 × MARGIN. Below that the margin is a large share of the canvas, and the
        free margin takes up style statistics the image should carry (masked halves at 64 px: measured)."""
        return MARGIN if self.padding == "mirror" and min(height, width) >= 16 * MARGIN else 0

    @property
    def uses_control(self) -> bool:
        """Whether the style loss leaves the paper's plain Gram path (another loss, masks or layer sets)."""
        return self.style_loss != "gram" or bool(self.style_masks or self.style_region_masks or self.style_layer_sets)

    @property
    def has_content(self) -> bool:
        """False for a texture run (content 'none'): noise is optimised for the style alone, content_weight 0."""
        return self.content != NO_CONTENT

    @property
    def init_is_image(self) -> bool:
        return self.init not in INIT_MODES

    def image_paths(self) -> list[tuple[str, str]]:
        """(parameter, path) of every image this config reads: content, each style, an init image."""
        paths = [("content", self.content)] * self.has_content + [("style", s) for s in self.style]
        return paths + ([("init", self.init)] if self.init_is_image else [])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def portable(self) -> dict[str, Any]:
        """`to_dict` with local image paths made absolute, for a process with another working directory."""

        def fix(path: str) -> str:
            resolved = Path(resolve_input(path))
            return path if is_url(path) or not resolved.exists() else str(resolved.resolve())

        d = self.to_dict()
        d["content"] = fix(self.content)
        d["style"] = [fix(s) for s in self.style]
        d["style_masks"] = [fix(s) for s in self.style_masks]
        d["style_region_masks"] = [fix(s) for s in self.style_region_masks]
        if self.init_is_image:
            d["init"] = fix(self.init)
        return d

    def replace(self, **changes: Any) -> Config:
        return from_dict({**self.to_dict(), **changes})


# ---- construction from dicts and strings -----------------------------------------------------
def field_types() -> dict[str, Any]:
    return typing.get_type_hints(Config)


def field_default(f: dataclasses.Field[Any]) -> Any:
    """The default of a Config field (a fresh copy for list fields)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def fields_by_name() -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(Config)}


def unknown_name_error(name: str, where: str = "") -> ConfigError:
    close = difflib.get_close_matches(name, field_names(), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"{where}unknown parameter {name!r}{hint}")


def from_dict(values: dict[str, Any], where: str = "") -> Config:
    """Build a validated Config from a mapping (a sweep point, config.json); unknown keys are refused."""
    known = set(field_names())
    for key in values:
        if key not in known:
            raise unknown_name_error(key, where)
    try:
        return Config(**values)
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def parse_value(name: str, text: str) -> Any:
    """Parse a command-line string for field `name` (lists are comma-separated; paths are not split)."""
    fields = fields_by_name()
    if name not in fields:
        raise unknown_name_error(name)
    kind = field_types()[name]
    if is_list(kind) and fields[name].metadata.get("path"):
        return [text]
    return coerce(name, text, kind)
