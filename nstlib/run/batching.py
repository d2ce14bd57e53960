"""Which experiments can share one batch through VGG, and a run's default name."""

from __future__ import annotations

from nstlib.config import Config
from nstlib.paths import url_stem

BATCH_KEYS = (
    "model",
    "weights",
    "pooling",
    "padding",
    "content_layers",
    "content_loss",
    "style_layers",
    "optimizer",
    "history",
    "history_precision",
    "tile_size",
    "memory_limit",
    "sizes",
    "image_size",
    "print_size",
    "dpi",
    "bit_depth",
    "level_epochs",
    "epochs",
    "device",
    "precision",
    "save_every",
    "video",
    "fps",
)


def batch_key(config: Config) -> tuple[str, ...]:
    """Configs with equal keys can share one batch (content image sizes are checked once loaded)."""
    return tuple(str(getattr(config, k)) for k in BATCH_KEYS)


def default_name(config: Config) -> str:
    content = (url_stem(config.content) if config.has_content else "texture") or "image"
    return f"{content}-{'+'.join(url_stem(s) or 'image' for s in config.style)}"
