"""Cost of the mirror padding: VGG-19 to relu5_1, forward + backward to the input, "zeros" vs "mirror".

Median of `--reps` passes after one warm-up, both paddings in this one process, fp32 on the CPU.
`--smoke`: 32 px, 1 pass each (checks the script, not a measurement).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from nstlib.vgg import build_extractor

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


def seconds(padding: str, size: int, reps: int) -> float:
    extractor = build_extractor("vgg19", "original", LAYERS, padding=padding)
    x = torch.rand(1, 3, size, size, requires_grad=True)
    times = []
    for _ in range(reps + 1):
        start = time.perf_counter()
        sum(f.sum() for f in extractor(x).values()).backward()
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
    print("| px | zeros (s) | mirror (s) | mirror / zeros |\n|---|---|---|---|")
    for size in map(int, args.sizes.split(",")):
        zeros, mirror = seconds("zeros", size, args.reps), seconds("mirror", size, args.reps)
        print(f"| {size} | {zeros:.3f} | {mirror:.3f} | {mirror / zeros:.2f} |", flush=True)


if __name__ == "__main__":
    main()
