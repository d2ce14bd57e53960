"""Figure 1 of Gatys et al. (reconstructions.ipynb): content reconstructions from relu1_2 … relu5_2 and style
reconstructions from growing layer sets, all from white noise, in one folder with the figure."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.config import DEFAULT_CONTENT, DEFAULT_STYLE, PAPER_STYLE_LAYERS, Config, from_dict
from nstlib.paths import DEFAULT_RUNS_DIR
from nstlib.ui.notebook.display import to_uint8
from nstlib.ui.notebook.presentation import FIGURE_FORMATS

CONTENT_RECONSTRUCTION_LAYERS = ["relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"]  # Fig. 1, top row


@dataclasses.dataclass
class Reconstruction:
    row: str  # "content" or "style"
    layers: list[str]
    config: Config

    @property
    def label(self) -> str:
        if self.row == "content":
            return self.layers[0]
        if len(self.layers) <= 2:
            return " + ".join(self.layers)
        return f"{self.layers[0]} … {self.layers[-1]}"


def reconstruction_configs(
    content: str = DEFAULT_CONTENT, style: str = DEFAULT_STYLE, image_size: int = 256, epochs: int = 200, **common: Any
) -> list[Reconstruction]:
    """The ten runs of Figure 1, all from white noise.

    Content reconstructions: content loss alone at relu1_2 … relu5_2 (style_weight 0).
    Style reconstructions: style loss alone (content_weight 0) on the cumulative layer sets
    {relu1_1}, {relu1_1, relu2_1}, … {relu1_1 … relu5_1}.
    The unused loss gets one shallow layer with weight 0, so VGG is run only as deep as needed.
    """
    base = dict(content=content, style=[style], image_size=image_size, epochs=epochs, init="noise", **common)
    runs = []
    for layer in CONTENT_RECONSTRUCTION_LAYERS:
        runs.append(
            Reconstruction(
                "content",
                [layer],
                from_dict(
                    {
                        **base,
                        "content_layers": [layer],
                        "content_weight": 1.0,
                        "style_layers": ["relu1_1"],
                        "style_weight": 0.0,
                        "name": f"content_{layer}",
                    }
                ),
            )
        )
    for n in range(1, len(PAPER_STYLE_LAYERS) + 1):
        layers = PAPER_STYLE_LAYERS[:n]
        runs.append(
            Reconstruction(
                "style",
                layers,
                from_dict(
                    {
                        **base,
                        "style_layers": layers,
                        "content_layers": ["relu1_1"],
                        "content_weight": 0.0,
                        "name": f"style_{layers[-1]}",
                    }
                ),
            )
        )
    return runs


def reconstructions(
    content: str = DEFAULT_CONTENT,
    style: str = DEFAULT_STYLE,
    image_size: int = 256,
    epochs: int = 200,
    runs_dir: str = DEFAULT_RUNS_DIR,
    formats: Sequence[str] = FIGURE_FORMATS,
    show: bool = True,
    **common: Any,
) -> Path:
    """Run Figure 1's ten reconstructions into one new folder, save figure1.{png,pdf} there; returns the folder."""
    from nstlib.paths import resolve_output
    from nstlib.record.figures import reconstruction_figure, save_figure
    from nstlib.record.runs import new_folder
    from nstlib.run.transfer import transfer

    plan = reconstruction_configs(content, style, image_size, epochs, **common)
    folder = new_folder(resolve_output(runs_dir), "reconstructions")
    images: dict[str, list[np.ndarray]] = {"content": [], "style": []}
    labels: dict[str, list[str]] = {"content": [], "style": []}
    for i, item in enumerate(plan):
        print(f"[{i + 1}/{len(plan)}] {item.row} reconstruction from {item.label}", flush=True)
        result = transfer(item.config.replace(runs_dir=str(folder)))
        if result.status != "done":
            raise RuntimeError(f"{item.row} reconstruction at {item.label}: {result.status} ({result.reason})")
        images[item.row].append(to_uint8(result.image))
        labels[item.row].append(item.label)
    fig = reconstruction_figure(
        images["content"],
        labels["content"],
        images["style"],
        labels["style"],
        content_name=Path(content).stem,
        style_name=Path(style).stem,
    )
    if show:
        from IPython.display import Image as IPImage
        from IPython.display import display

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        display(IPImage(data=buffer.getvalue(), format="png"))
    files = save_figure(fig, folder / "figure1", formats)
    print("wrote " + ", ".join(str(f) for f in files))
    return folder
