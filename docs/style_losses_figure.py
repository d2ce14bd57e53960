"""The style-loss figures of docs/control.md: the final images of finished runs side by side, titled by their loss.

    python docs/style_losses_figure.py RUN_DIR [RUN_DIR ...] --out docs/style_losses_512.jpg
    python docs/style_losses_figure.py RUN_DIR [RUN_DIR ...] --inputs --out docs/newer_losses_256.jpg

Each RUN_DIR is a run folder (`final.png`, `config.json`), e.g. from
`nst run --style-loss mrf --runs-dir /tmp/losses`. A title is the run's `style_loss`, with its `content_loss`
and Laplacian term where they are not the defaults, and its step count when that differs from the other runs'.
`--inputs` puts the first run's content and style images first, at the runs' height.
"""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from nstlib.images import load_image, resize, tensor_to_uint8
from nstlib.record import figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, in figure order")
    parser.add_argument("--out", type=Path, required=True, help="the JPEG to write")
    parser.add_argument("--inputs", action="store_true", help="show the first run's content and style images first")
    args = parser.parse_args()

    records = [json.loads((run / "config.json").read_text()) for run in args.runs]
    steps = [record["epochs_done"] for record in records]
    usual = Counter(steps).most_common(1)[0][0]
    titles = [title(record["config"]) + ("" if n == usual else f" ({n} steps)") for record, n in zip(records, steps)]
    images = [np.asarray(Image.open(run / "final.png").convert("RGB")) for run in args.runs]
    if args.inputs:
        first, height = records[0]["config"], images[0].shape[0]
        shown = [load_image(first["content"]), load_image(first["style"][0])]
        images = [
            tensor_to_uint8(resize(x, (height, round(height * x.shape[-1] / x.shape[-2])))) for x in shown
        ] + images
        titles = ["content", "style"] + titles
    dpi = 150
    fig = figures.panel(images, titles, height=max(img.shape[0] for img in images) / dpi)  # pixels kept 1:1
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    Image.open(buffer).convert("RGB").save(args.out, quality=88)
    print(f"wrote {args.out}")


def title(config: dict[str, object]) -> str:
    """The run's style loss, with its content loss and Laplacian weight where they are not the defaults."""
    parts = [str(config["style_loss"])]
    if config.get("content_loss", "mse") != "mse":
        parts.append(str(config["content_loss"]))
    if float(str(config.get("laplacian_weight", 0.0))) > 0:
        parts.append(f"laplacian {float(str(config['laplacian_weight'])):g}")
    return " + ".join(parts)


if __name__ == "__main__":
    main()
