"""NST Lab: Gatys et al. (CVPR 2016) neural style transfer, batched, offline, reproducible.

The package imports only what a run needs: the CLI (`nstlib.ui.cli`), notebook helpers, widgets,
papermill and dask are imported where they are used.
"""

from __future__ import annotations

from nstlib._version import __version__
from nstlib.config import Config
from nstlib.errors import ConfigError, ImageError, NSTError, UserError, WeightsError
from nstlib.images import load_image, save_image
from nstlib.losses.core import content_loss, tv_loss
from nstlib.losses.style.gram import gram_matrix, style_loss
from nstlib.model.vgg import VGGFeatures, build_extractor
from nstlib.run.transfer import Result, transfer, transfer_batch
from nstlib.run.video_transfer import stylize_video
from nstlib.sweep import sweep
from nstlib.videoconfig import VideoConfig

__all__ = [
    "Config",
    "ConfigError",
    "ImageError",
    "NSTError",
    "Result",
    "UserError",
    "VGGFeatures",
    "VideoConfig",
    "WeightsError",
    "__version__",
    "build_extractor",
    "content_loss",
    "gram_matrix",
    "load_image",
    "save_image",
    "style_loss",
    "stylize_video",
    "sweep",
    "transfer",
    "transfer_batch",
    "tv_loss",
]
