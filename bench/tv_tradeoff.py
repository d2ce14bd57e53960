#!/usr/bin/env python
"""The speckle / TV trade-off: one content × one style at high β, a row of results over tv_weight.

    python bench/tv_tradeoff.py                       # 256 px, 200 steps, β 1e4 → docs/tv_tradeoff.jpg
    python bench/tv_tradeoff.py --size 128 --steps 60 --tv 0,1e5,1e6 --out /tmp/tv.jpg
    python bench/tv_tradeoff.py --smoke              # 32 px, 2 steps, tv 0 and 1e6, figure in a temp dir

Prints, per tv_weight, the style loss of the result (how much style is kept) and its speckle: the
mean absolute Laplacian of the 8-bit image (high-frequency energy, in grey levels). Uses only the
bundled collection.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nstlib  # noqa: E402
from nstlib.images import tensor_to_uint8  # noqa: E402
from nstlib.record.figures import grid, save_figure  # noqa: E402


def speckle(image: np.ndarray) -> float:
    """Mean |Laplacian| of an H×W×3 uint8 image (grey levels): what TV smooths away."""
    x = image.astype(np.float64)
    lap = 4 * x[1:-1, 1:-1] - x[:-2, 1:-1] - x[2:, 1:-1] - x[1:-1, :-2] - x[1:-1, 2:]
    return float(np.abs(lap).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--content", default="collections/content/chelsea.jpg")
    p.add_argument("--style", default="collections/style/starry_swirls.jpg")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--style-weight", type=float, default=1e4)
    p.add_argument("--tv", default="0,1e5,1e6,1e7", help="comma-separated tv_weight values")
    p.add_argument("--out", default=str(ROOT / "docs" / "tv_tradeoff.jpg"))
    p.add_argument("--smoke", action="store_true", help="32 px, 2 steps, tv 0,1e6; figure and runs in a temp dir")
    a = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nst-tv-smoke-")) if a.smoke else None
    if scratch is not None:
        a.size, a.steps, a.tv, a.out = 32, 2, "0,1e6", str(scratch / "tv_tradeoff.jpg")
    weights = [float(v) for v in a.tv.split(",")]
    configs = [
        nstlib.Config(
            content=a.content,
            style=[a.style],
            image_size=a.size,
            epochs=a.steps,
            style_weight=a.style_weight,
            tv_weight=w,
            save_every=0,
            progress="none",
            runs_dir=str(scratch / "runs") if scratch else tempfile.mkdtemp(prefix="nst-tv-"),
        )
        for w in weights
    ]
    results = nstlib.transfer_batch(configs, labels=[f"tv_weight={w:g}" for w in weights])
    images, labels = [], []
    print(f"{Path(a.content).stem} × {Path(a.style).stem}, {a.size} px, {a.steps} L-BFGS steps, β {a.style_weight:g}")
    print("| tv_weight | style loss | content loss | speckle (mean abs Laplacian, grey levels) |\n|---|---|---|---|")
    for w, r in zip(weights, results):
        img = tensor_to_uint8(r.image)
        s = speckle(img)
        print(f"| {w:g} | {r.final_losses['style']:.4g} | {r.final_losses['content']:.4g} | {s:.2f} |")
        images.append(img)
        labels.append(f"tv_weight {w:g}\nspeckle {s:.1f}")
    fig = grid([images], col_labels=labels, title=f"β = {a.style_weight:g}, {a.size} px, {a.steps} steps", cell=2.6)
    out = Path(a.out)
    written = save_figure(fig, out.with_suffix(".png"))
    from PIL import Image

    Image.open(written[0]).convert("RGB").save(out, quality=85)
    written[0].unlink()
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
