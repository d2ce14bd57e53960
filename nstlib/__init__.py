"""NST Lab: Gatys et al. (CVPR 2016) neural style transfer, batched, offline, reproducible.

The package imports only what a run needs: the CLI (`nstlib.cli`), notebook helpers, widgets,
papermill and dask are imported where they are used.
"""

from __future__ import annotations

from ._version import __version__
from .config import Config
from .errors import ConfigError, ImageError, NSTError, UserError, WeightsError
from .images import load_image, save_image
from .losses import content_loss, gram_matrix, style_loss, tv_loss
from .sweep import sweep
from .transfer import Result, transfer, transfer_batch
from .vgg import VGGFeatures, build_extractor

__all__ = [
    "Config",
    "ConfigError",
    "ImageError",
    "NSTError",
    "Result",
    "UserError",
    "VGGFeatures",
    "WeightsError",
    "__version__",
    "build_extractor",
    "content_loss",
    "gram_matrix",
    "load_image",
    "save_image",
    "style_loss",
    "sweep",
    "transfer",
    "transfer_batch",
    "tv_loss",
]
