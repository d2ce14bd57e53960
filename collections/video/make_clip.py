"""Make the bundled clip collections/video/chelsea_pan.mp4: a slow pan and zoom over collections/content/chelsea.jpg
(12 frames, 144×96 px, H.264 at 10 fps), the short input of `nst video`'s examples, tests and benchmark.

    python collections/video/make_clip.py            # the bundled clip
    python collections/video/make_clip.py --photo collections/content/coffee.jpg --out /tmp/coffee.mp4 --zoom 1.0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def make_clip(photo: Path, out: Path, frames: int = 12, size: tuple[int, int] = (144, 96), zoom: float = 1.15) -> Path:
    """Crop a window that moves right by a sixth of the photo and shrinks by `zoom` over `frames` frames."""
    image = Image.open(photo).convert("RGB")
    w, h = image.size
    shots = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        scale = 0.8 / (1 + (zoom - 1) * t)  # the window's size, a share of the photo's
        cw, ch = w * scale, h * scale
        x0 = (w - cw) * (0.2 + 0.4 * t)
        y0 = (h - ch) * (0.5 - 0.2 * t)
        shots.append(image.resize(size, Image.Resampling.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch)))
    iio.imwrite(out, np.stack([np.asarray(s) for s in shots]), plugin="pyav", codec="libx264", fps=10)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, default=HERE.parent / "content" / "chelsea.jpg")
    parser.add_argument("--out", type=Path, default=HERE / "chelsea_pan.mp4")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--zoom", type=float, default=1.15)
    args = parser.parse_args()
    print(make_clip(args.photo, args.out, args.frames, zoom=args.zoom))
