"""Inline display: images, figures, loss curves, videos and tables, rendered to PNG/HTML here so they
work with any matplotlib backend, on Colab, in Jupyter and in papermill's saved outputs."""

from __future__ import annotations

import base64
import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.ui.notebook.folders import run_panel


def display(obj: Any) -> None:
    """IPython's display (imported here: `import nstlib` does not need IPython)."""
    from IPython import display as ipython

    ipython.display(obj)


def to_uint8(image: Any) -> np.ndarray:
    """A tensor (1×3×H×W or 3×H×W in [0, 1]), an H×W×3 array, a PIL image or an image path as uint8 H×W×3."""
    from nstlib.images import load_pil, tensor_to_uint8

    if isinstance(image, (str, os.PathLike)):
        return np.asarray(load_pil(str(image)))
    if hasattr(image, "detach"):
        return tensor_to_uint8(image)
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    return array


def png_bytes(image: Any) -> bytes:
    """PNG bytes of an image (anything `to_uint8` takes) or of a matplotlib figure (which is closed)."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):
        image.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        _close(image)
    else:
        from PIL import Image

        Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def _close(fig: Any) -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


def show_image(image: Any) -> None:
    """Display an image or a matplotlib figure inline as PNG."""
    from IPython.display import Image as IPImage

    display(IPImage(data=png_bytes(image), format="png"))


def show_result(result: Any) -> None:
    """content | style | result panel of a finished run (a Result or a run folder)."""
    show_image(run_panel(result.run_dir if hasattr(result, "run_dir") else result))


def show_losses(rows: Sequence[Mapping[str, Any]] | str | os.PathLike, title: str = "") -> None:
    """Loss curves of a run: its history rows, or a run folder / losses.csv path."""
    from nstlib.record.figures import loss_curves

    show_image(loss_curves(loss_rows(rows), title=title))


def show_video(path: str | os.PathLike, width: int = 384) -> None:
    """Embed an mp4 inline (self-contained: it survives saving the notebook), or say it is missing."""
    from IPython.display import HTML, Video

    path = Path(path)
    if path.is_dir():
        path = path / "progress.mp4"
    if not path.is_file():
        display(HTML(f"<i>no video at {path} (video off, save_every 0, or too few steps)</i>"))
        return
    display(Video(str(path), embed=True, width=width, html_attributes="controls loop autoplay muted"))


def download_link(data: bytes, filename: str, mime: str = "image/png", text: str = "") -> str:
    """An HTML link carrying `data` as a base64 data URI: a download that needs no file server."""
    encoded = base64.b64encode(data).decode("ascii")
    label = text or f"Download {filename}"
    return f'<a download="{filename}" href="data:{mime};base64,{encoded}" target="_blank">{label}</a>'


def show_table(rows: Sequence[Mapping[str, Any]] | str | os.PathLike, max_rows: int = 200) -> None:
    """A CSV file or a list of dicts as an HTML table (pandas if installed, else plain HTML)."""
    from html import escape

    from IPython.display import HTML

    from nstlib.files import read_csv

    rows = read_csv(Path(rows)) if isinstance(rows, (str, os.PathLike)) else list(rows)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(row.get(c, '')))}</td>" for c in columns) + "</tr>"
        for row in rows[:max_rows]
    )
    more = f"<p><i>{len(rows) - max_rows} more rows</i></p>" if len(rows) > max_rows else ""
    display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"))


def loss_rows(rows: Sequence[Mapping[str, Any]] | str | os.PathLike) -> list[Mapping[str, Any]]:
    """Loss rows as given, or those of a run folder (through its record) or of a losses.csv file."""
    from nstlib.files import read_csv
    from nstlib.record.runs import RunRecord

    if isinstance(rows, (str, os.PathLike)):
        path = Path(rows)
        if not path.is_dir():
            return list(read_csv(path))
        record = RunRecord.read(path)
        if record is None:
            raise FileNotFoundError(f"{path}: no run record (config.json) here")
        return list(record.losses())
    return list(rows)
