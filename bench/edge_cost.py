"""Cost of the mirror canvas: VGG-19 to relu5_1, forward + backward to the input, on the image ("zeros")
and on the canvas the run optimises with padding "mirror" (the image and MARGIN px on each side).

Median of `--reps` passes after one warm-up, both in this one process, fp32 on the CPU; landscape 4:3
inputs of longest side N. `--smoke`: 32 px, 1 pass each (checks the script, not a measurement).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nstlib.config import Config
from nstlib.images import mirror_pad
from nstlib.model.vgg import build_extractor

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def seconds(margin: int, hw: tuple[int, int], reps: int) -> float:
    extractor = build_extractor("vgg19", "original", LAYERS)
    x = torch.rand(1, 3, *hw, requires_grad=True)
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        sum(f.sum() for f in extractor(mirror_pad(x, margin)).values()).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="32 px, 1 pass: checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.reps = "32", 1
    print(
        "| px (h×w) | zeros (s) | mirror (s) | margin (px) | mirror / zeros | pixels ratio |\n|---|---|---|---|---|---|"
    )
    for size in map(int, args.sizes.split(",")):
        hw = (size * 3 // 4, size)
        margin = Config(padding="mirror").margin_at(*hw)
        zeros, mirror = seconds(0, hw, args.reps), seconds(margin, hw, args.reps)
        area = (hw[0] + 2 * margin) * (hw[1] + 2 * margin) / (hw[0] * hw[1])
        print(
            f"| {hw[0]}×{hw[1]} | {zeros:.3f} | {mirror:.3f} | {margin} | {mirror / zeros:.3f} | {area:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
