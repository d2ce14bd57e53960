"""The README's style-loss figure: the final images of finished runs side by side, titled by their loss.

    python docs/style_losses_figure.py RUN_DIR [RUN_DIR ...] --out docs/style_losses_512.jpg

Each RUN_DIR is a run folder (`final.png`, `config.json`), e.g. from
`nst run --style-loss mrf --runs-dir /tmp/losses`. A title is the run's `style_loss`, with its step count when
that differs from the other runs'.
"""

from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from nstlib.record import figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders, in figure order")
    parser.add_argument("--out", type=Path, required=True, help="the JPEG to write")
    args = parser.parse_args()

    records = [json.loads((run / "config.json").read_text()) for run in args.runs]
    steps = [record["epochs_done"] for record in records]
    usual = Counter(steps).most_common(1)[0][0]
    titles = [
        record["config"]["style_loss"] + ("" if n == usual else f" ({n} steps)") for record, n in zip(records, steps)
    ]
    images = [np.asarray(Image.open(run / "final.png").convert("RGB")) for run in args.runs]
    dpi = 150
    fig = figures.panel(images, titles, height=max(img.shape[0] for img in images) / dpi)  # pixels kept 1:1
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    Image.open(buffer).convert("RGB").save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
