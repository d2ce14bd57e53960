"""The textures page's figure: each run's final.png tiled 2×2, side by side, titled by padding and seam score.

    python docs/textures_figure.py RUN_DIR [RUN_DIR ...] --out docs/textures.jpg

Each RUN_DIR is a texture run folder, e.g. from
`nst run --content none --padding circular --image-size 128 --runs-dir /tmp/textures`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nstlib.images import load_image
from nstlib.record.artefacts import seam_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    panels = []
    for run in args.runs:
        config = json.loads((run / "config.json").read_text())["config"]
        final = np.asarray(Image.open(run / "final.png").convert("RGB"))
        tiled = Image.fromarray(np.tile(final, (2, 2, 1)))
        seam = seam_score(load_image(str(run / "final.png")))
        title = f"{Path(config['style'][0]).stem}, {config['padding']}: seam {seam:.2f}"
        panel = Image.new("RGB", (tiled.width, tiled.height + 18), "white")
        panel.paste(tiled, (0, 18))
        ImageDraw.Draw(panel).text((4, 3), title, fill="black")
        panels.append(panel)
    out = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + 8
    out.save(args.out, quality=85)
    print(f"wrote {args.out} ({out.width}×{out.height})")


if __name__ == "__main__":
    main()
