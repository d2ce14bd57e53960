"""Per-step cost of each content and style loss against the paper's (gram + mse), one run at a time.

A step's cost is (t(1 + N steps) − t(1 step)) / N of a whole run (L-BFGS, fp32, every default else, no
metrics, snapshots or video), so that set-up, targets and the first step cancel out:
    PYTHONPATH=. python bench/loss_cost.py 256 512 --steps 5
    python bench/loss_cost.py --smoke         # 32 px, 1 step: checks the script
Prints a Markdown table (s/step, and the ratio to gram) and the load average; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from nstlib.config import Config
from nstlib.run.transfer import transfer

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "gram": {},
    "sliced_w": {"style_loss": "sliced_w"},
    "remd": {"style_loss": "remd"},
    "mrf": {"style_loss": "mrf"},
    "gram + self_similarity": {"content_loss": "self_similarity"},
    "gram + laplacian": {"laplacian_weight": 1.0},
}


def seconds(size: int, steps: int, runs_dir: str, extra: dict[str, object]) -> float:
    config = Config(
        content=str(ROOT / "collections/content/chelsea.jpg"),
        style=[str(ROOT / "collections/style/starry_swirls.jpg")],
        image_size=size,
        epochs=steps,
        tolerance=0.0,
        precision="fp32",
        save_every=0,
        video=False,
        tensorboard=False,
        metrics=False,
        progress="none",
        runs_dir=runs_dir,
        **extra,  # type: ignore[arg-type]
    )
    start = time.perf_counter()
    transfer(config)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[256, 512])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="32 px, 1 step")
    args = parser.parse_args()
    sizes, steps = ([32], 1) if args.smoke else (args.sizes, args.steps)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| loss | " + " | ".join(f"{s} px: s/step (× gram)" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    with tempfile.TemporaryDirectory() as runs:
        gram: dict[int, float] = {}
        for name, extra in CASES.items():
            cells = []
            for size in sizes:
                per_step = (seconds(size, 1 + steps, runs, extra) - seconds(size, 1, runs, extra)) / steps
                gram.setdefault(size, per_step)
                cells.append(f"{per_step:.2f} ({per_step / gram[size]:.1f}×)")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
