"""controls.ipynb's demonstrations of Gatys et al. 2017 (spatial, scale and colour control) and the style losses.

Each demonstration is one batch (`transfer_batch`), its figure saved as PNG + PDF in one new folder.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nstlib.config import DEFAULT_CONTENT, Config
from nstlib.controls import STYLE_LOSSES
from nstlib.images import load_image, scaled_size
from nstlib.paths import DEFAULT_RUNS_DIR

FORMATS = ("png", "pdf")
STYLES = ("collections/style/starry_swirls.jpg", "collections/style/ink_mountains.jpg")
COARSE, FINE = "relu3_1+relu4_1+relu5_1", "relu1_1+relu2_1"


def half_masks(folder: Path, hw: tuple[int, int]) -> list[str]:
    """left.png and right.png: white on one half (the masks of the two-style split), written into `folder`."""
    left = np.zeros(hw, np.uint8)
    left[:, : hw[1] // 2] = 255
    paths = [folder / "left.png", folder / "right.png"]
    Image.fromarray(left).save(paths[0])
    Image.fromarray(255 - left).save(paths[1])
    return [str(p) for p in paths]


def demo_configs(
    content: str, styles: Sequence[str], masks: Sequence[str], image_size: int, epochs: int, **common: Any
) -> dict[str, list[tuple[str, Config]]]:
    """The figures and their (label, config) panels: each figure's configs share one batch."""
    base = Config(content=content, style=[styles[0]], image_size=image_size, epochs=epochs, **common)
    two = base.replace(style=list(styles))
    return {
        "spatial": [
            (f"{p} propagation", two.replace(style_masks=list(masks), mask_propagation=p)) for p in ("simple", "inside")
        ],
        "scale": [
            (
                f"coarse {Path(styles[0]).stem}, fine {Path(styles[1]).stem}",
                two.replace(style_layer_sets=[COARSE, FINE]),
            ),
            (
                f"coarse {Path(styles[1]).stem}, fine {Path(styles[0]).stem}",
                two.replace(style_layer_sets=[FINE, COARSE]),
            ),
        ],
        "colour": [(f"preserve_color {m}", base.replace(preserve_color=m)) for m in ("luminance", "histogram")],
        "style_losses": [(f"style_loss {k}", base.replace(style_loss=k)) for k in STYLE_LOSSES],
    }


def controls(
    content: str = DEFAULT_CONTENT,
    styles: Sequence[str] = STYLES,
    image_size: int = 128,
    epochs: int = 100,
    runs_dir: str = DEFAULT_RUNS_DIR,
    show: bool = True,
    **common: Any,
) -> Path:
    """Run the four demonstrations into a new `<time>_controls/` folder; returns it."""
    from nstlib.paths import resolve_output
    from nstlib.record.figures import panel, save_figure
    from nstlib.record.runs import new_folder
    from nstlib.run.transfer import transfer_batch
    from nstlib.ui.notebook.display import display, to_uint8

    folder = new_folder(resolve_output(runs_dir), "controls")
    c = load_image(content)
    masks = half_masks(folder, scaled_size(c.shape[-2], c.shape[-1], image_size))
    inputs = [to_uint8(load_image(p, image_size)) for p in [content, *styles]]
    names = ["content", *(Path(s).stem for s in styles)]
    for name, items in demo_configs(content, styles, masks, image_size, epochs, **common).items():
        print(f"{name}: {len(items)} runs in one batch", flush=True)
        results = transfer_batch([config.replace(runs_dir=str(folder)) for _, config in items])
        shown = inputs if name != "style_losses" and name != "colour" else inputs[:2]
        fig = panel(
            [*shown, *(to_uint8(r.image) for r in results)],
            [
                *names[: len(shown)],
                *(f"{label} ({r.status})" if r.status != "done" else label for (label, _), r in zip(items, results)),
            ],
        )
        if show:
            from IPython.display import Image as IPImage

            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            display(IPImage(data=buffer.getvalue(), format="png"))
        files = save_figure(fig, folder / name, FORMATS)
        print("wrote " + ", ".join(str(f) for f in files), flush=True)
    return folder
