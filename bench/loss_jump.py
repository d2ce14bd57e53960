"""The early L-BFGS loss jump and the final loss, per content/style pair and style weight.

For each run: the largest loss rise over one step in the first 10 steps (loss[k+1] / loss[k], the
"jump"; ≤ 1 means none), the step where it happens, and the final loss of the saved image.
Run with the nstlib to measure on the path, e.g. `PYTHONPATH=. python bench/loss_jump.py`.
`--smoke`: chelsea:starry_swirls, 32 px, β 1e3, 2 steps (checks the script).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import nstlib

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ["chelsea:starry_swirls", "astronaut:cubist_facets", "coffee:ink_mountains", "rocket:stained_glass"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=",".join(PAIRS), help="content:style stems from collections/")
    parser.add_argument("--sizes", default="256", help="image sizes (longest side)")
    parser.add_argument("--betas", default="1e3,1e4", help="style weights")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--smoke", action="store_true", help="one pair, 32 px, β 1e3, 2 steps")
    args = parser.parse_args()
    if args.smoke:
        args.pairs, args.sizes, args.betas, args.steps = PAIRS[0], "32", "1e3", 2
    torch.set_num_threads(torch.get_num_threads())
    print("| pair | px | β | jump (max loss[k+1]/loss[k], k<10) | at step | loss at step 10 | final loss | s |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as runs:
        for pair in args.pairs.split(","):
            content, style = pair.split(":")
            for size in map(int, args.sizes.split(",")):
                for beta in map(float, args.betas.split(",")):
                    start = time.time()
                    result = nstlib.transfer(
                        content=str(ROOT / f"collections/content/{content}.jpg"),
                        style=[str(ROOT / f"collections/style/{style}.jpg")],
                        image_size=size,
                        style_weight=beta,
                        epochs=args.steps,
                        runs_dir=runs,
                        save_every=0,
                        video=False,
                        progress="none",
                        precision="fp32",
                        device="cpu",
                    )
                    losses = [row["total"] for row in result.history]
                    ratios = [losses[k + 1] / losses[k] for k in range(min(10, len(losses) - 1))]
                    worst = max(range(len(ratios)), key=ratios.__getitem__)
                    print(
                        f"| {pair} | {size} | {beta:g} | {ratios[worst]:.2f} | {worst + 1}→{worst + 2} | "
                        f"{losses[min(10, len(losses) - 1)]:.3e} | {losses[-1]:.4e} | {time.time() - start:.0f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
