"""Cost of the mirror canvas: VGG-19 to relu5_1, forward + backward to the input, on the image ("zeros")
and on the canvas the run optimises with padding "mirror" (the image and MARGIN px on each side).

Median of `--reps` passes of each after one warm-up of each, in this one process, fp32 on the CPU, the two
inputs alternating pass by pass (so a machine's drift between passes falls on both alike) and inside the
heap setting a whole-image CPU run uses (`heap_for_run`; `--mapped`: glibc's default); landscape 4:3 inputs
of longest side N. `--smoke`: 32 px, 1 pass each (checks the script, not a measurement).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from floor import loss_layers  # the same network as the floor's: Config's content and style layers

from nstlib.config import Config
from nstlib.images import mirror_pad
from nstlib.model.vgg import build_extractor
from nstlib.run.device_memory import heap_choice, heap_for_run


def seconds(margins: tuple[int, int], hw: tuple[int, int], reps: int) -> tuple[float, float]:
    """Median seconds of a pass with each margin, the passes alternating."""
    extractor = build_extractor("vgg19", "original", loss_layers())
    x = torch.rand(1, 3, *hw, requires_grad=True)
    times: list[list[float]] = [[], []]
    for _ in range(reps + 1):
        for i, margin in enumerate(margins):
            start = time.perf_counter()
            sum(f.sum() for f in extractor(mirror_pad(x, margin)).values()).backward()
            times[i].append(time.perf_counter() - start)
    return statistics.median(times[0][1:]), statistics.median(times[1][1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--mapped", action="store_true", help="glibc's default heap instead of the run's")
    parser.add_argument("--smoke", action="store_true", help="32 px, 1 pass: checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.reps = "32", 1
    print(
        "| px (h×w) | zeros (s) | mirror (s) | margin (px) | mirror / zeros | pixels ratio |\n|---|---|---|---|---|---|"
    )
    heap = None if args.mapped else heap_choice(torch.device("cpu"), keep=True)
    for size in map(int, args.sizes.split(",")):
        hw = (size * 3 // 4, size)
        margin = Config(padding="mirror").margin_at(*hw)
        with heap_for_run(heap):
            zeros, mirror = seconds((0, margin), hw, args.reps)
        area = (hw[0] + 2 * margin) * (hw[1] + 2 * margin) / (hw[0] * hw[1])
        print(
            f"| {hw[0]}×{hw[1]} | {zeros:.3f} | {mirror:.3f} | {margin} | {mirror / zeros:.3f} | {area:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
