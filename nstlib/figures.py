"""Figures: content | style | result panels and loss curves (matplotlib, saved as PNG and PDF)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .images import atomic_target


def _pyplot():
    import matplotlib

    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, formats: Sequence[str] = ("png",)) -> list[Path]:
    """Save `fig` atomically as path.<format> for each format; returns the files written."""
    path = Path(path)
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        with atomic_target(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
        written.append(target)
    _pyplot().close(fig)
    return written


def panel(images: Sequence[np.ndarray], titles: Sequence[str], height: float = 3.0):
    """One row of images (H×W×3 uint8) with titles: e.g. content | style | result."""
    plt = _pyplot()
    widths = [img.shape[1] / img.shape[0] for img in images]
    fig, axes = plt.subplots(1, len(images), figsize=(height * sum(widths) + 0.2 * len(images), height + 0.4),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, img, title in zip(axes[0], images, titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def loss_curves(rows: Sequence[dict], columns: Sequence[str] = ("total", "content", "style"), title: str = ""):
    """Loss curves (log scale) over epochs from losses.csv rows."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    epochs = [int(r["epoch"]) for r in rows]
    for col in columns:
        values = [float(r[col]) for r in rows if col in r]
        if values and any(v > 0 for v in values):
            ax.plot(epochs[: len(values)], values, label=col)
    ax.set_yscale("log")
    ax.set_xlabel("epoch (optimizer step)")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
