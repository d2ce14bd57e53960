"""Draw docs/video_strip.jpg: the same frames of two video runs one above the other (independent frames vs the
temporal loss), with each frame's difference from the previous one warped (bright: flicker).

    python docs/video_figure.py INDEPENDENT_RUN TEMPORAL_RUN [--frames 1,3,5] [--out docs/video_strip.jpg]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nstlib import load_image  # noqa: E402
from nstlib.images import tensor_to_uint8  # noqa: E402
from nstlib.model.flow import frame_flow, warp  # noqa: E402


def row(run: Path, frames: list[int], label: str) -> Image.Image:
    tiles = []
    for i in frames:
        x = load_image(str(run / "frames" / f"{i:05d}.png"))
        prev = load_image(str(run / "frames" / f"{i - 1:05d}.png"))
        flow, c = frame_flow(
            load_image(str(run / "input" / f"{i - 1:05d}.png")), load_image(str(run / "input" / f"{i:05d}.png"))
        )
        diff = (c * (x - warp(prev, flow)).abs().mean(1, keepdim=True) * 4).clamp(0, 1).expand(-1, 3, -1, -1)
        tiles += [tensor_to_uint8(x), tensor_to_uint8(diff)]
    strip = Image.fromarray(np.concatenate(tiles, axis=1))
    canvas = Image.new("RGB", (strip.width, strip.height + 14), "white")
    canvas.paste(strip, (0, 14))
    ImageDraw.Draw(canvas).text((2, 1), label, fill="black")
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("independent", type=Path)
    parser.add_argument("temporal", type=Path)
    parser.add_argument("--frames", default="1,3,5")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "video_strip.jpg")
    args = parser.parse_args()
    frames = [int(f) for f in args.frames.split(",")]
    rows = [
        row(args.independent, frames, "independent frames: frame | flicker"),
        row(args.temporal, frames, "temporal loss: frame | flicker"),
    ]
    figure = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)), "white")
    figure.paste(rows[0], (0, 0))
    figure.paste(rows[1], (0, rows[0].height))
    figure.save(args.out, quality=85, optimize=True)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
