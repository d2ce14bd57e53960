"""NST Lab: Gatys et al. (CVPR 2016) neural style transfer, batched, offline, reproducible."""
from __future__ import annotations

__version__ = "0.1.0"

from .config import Config, ConfigError
from .images import ImageError, load_image, save_image
from .losses import content_loss, gram_matrix, style_loss, tv_loss
from .transfer import Result, transfer, transfer_batch
from .sweep import sweep
from .vgg import VGGFeatures, WeightsError, build_extractor

__all__ = ["Config", "ConfigError", "ImageError", "Result", "VGGFeatures", "WeightsError", "build_extractor",
           "content_loss", "gram_matrix", "load_image", "save_image", "style_loss", "sweep", "transfer",
           "transfer_batch", "tv_loss"]
