"""Figures: content | style | result panels, loss curves and sweep grids (matplotlib, saved as PNG and PDF)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.files import atomic_target


def get_pyplot():
    """matplotlib.pyplot, on the Agg backend unless pyplot is imported already (a notebook chose its backend)."""
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
    get_pyplot().close(fig)
    return written


def panel(images: Sequence[np.ndarray], titles: Sequence[str], height: float = 3.0):
    """One row of images (H×W×3 uint8) with titles: e.g. content | style | result."""
    plt = get_pyplot()
    widths = [img.shape[1] / img.shape[0] for img in images]
    fig, axes = plt.subplots(
        1,
        len(images),
        figsize=(height * sum(widths) + 0.2 * len(images), height + 0.4),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for ax, img, title in zip(axes[0], images, titles):
        ax.imshow(img)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    return fig


def loss_curves(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] = ("total", "content", "style"),
    title: str = "",
    pyplot: bool = True,
):
    """Loss curves (log scale) over epochs from losses.csv rows.

    pyplot=False: a bare Figure that pyplot does not track (nothing to close), safe to draw in a
    background thread, as the explorer does while a run goes on.
    """
    if pyplot:
        fig = get_pyplot().figure(figsize=(5, 3.2))
    else:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.2))
    ax = fig.add_subplot()
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


# ==== reconstruction_figure (Figure 1 of Gatys et al.; used by notebooks/reconstructions.ipynb) ====
def reconstruction_figure(
    content_images: Sequence[np.ndarray],
    content_labels: Sequence[str],
    style_images: Sequence[np.ndarray],
    style_labels: Sequence[str],
    content_name: str = "",
    style_name: str = "",
    height: float = 2.0,
):
    """Figure 1 of the paper: content reconstructions (top row) and style reconstructions (bottom row).

    Images are H×W×3 uint8; labels name the layer(s) each image was reconstructed from. The rows may
    differ in length; each column is one layer (content) or one cumulative layer set (style).
    """
    plt = get_pyplot()
    columns = max(len(content_images), len(style_images), 1)
    aspect = max((img.shape[1] / img.shape[0] for img in [*content_images, *style_images]), default=1.0)
    fig, axes = plt.subplots(2, columns, figsize=(height * aspect * columns + 0.6, 2 * height + 0.9), squeeze=False)
    rows = [
        ("content reconstructions", content_name, content_images, content_labels),
        ("style reconstructions", style_name, style_images, style_labels),
    ]
    for r, (what, name, images, labels) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c])
                ax.set_title(f"{'abcdefghij'[c] if c < 10 else c + 1}) {labels[c]}", fontsize=9)
        axes[r][0].set_ylabel(f"{what}\n({name})" if name else what, fontsize=9)
    fig.tight_layout()
    return fig


# ==== end reconstruction_figure ====


def grid(
    cells,
    row_labels: Sequence[str] = (),
    col_labels: Sequence[str] = (),
    row_title: str = "",
    col_title: str = "",
    title: str = "",
    cell: float = 2.0,
    missing: str = "failed",
):
    """A rows × columns grid of images (H×W×3 uint8) labelled by row and column, e.g. a sweep's results.

    `cells` is a list of rows of images (for a sweep folder: `nstlib.sweep.grid_figure`). A None cell
    (a failed or missing result) is drawn grey with the text `missing`. `row_title` and `col_title`
    name what the rows and columns vary.
    """
    plt = get_pyplot()
    n_rows, n_cols = len(cells), max(len(r) for r in cells)
    shown = [img for row in cells for img in row if img is not None]
    aspect = shown[0].shape[1] / shown[0].shape[0] if shown else 1.0  # width / height of a cell
    grey = np.full((100, max(1, round(100 * aspect)), 3), 200, dtype=np.uint8)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        squeeze=False,
        layout="constrained",
        figsize=(
            cell * aspect * n_cols + (0.6 if any(row_labels) else 0.2),
            cell * n_rows + 0.35 + (0.25 if title else 0) + (0.25 if col_title else 0),
        ),
    )
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            img = cells[r][c] if c < len(cells[r]) else None
            ax.imshow(img if img is not None else grey)
            if img is None:
                ax.text(0.5, 0.5, missing, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="0.25")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0 and c < len(col_labels) and col_labels[c]:
                ax.set_title(str(col_labels[c]), fontsize=9)
            if c == 0 and r < len(row_labels) and row_labels[r]:
                ax.set_ylabel(str(row_labels[r]), fontsize=9)
    if col_title:
        fig.supxlabel(col_title, fontsize=10)
    if row_title:
        fig.supylabel(row_title, fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
