"""Cost of the run metrics: scoring a finished run (`compute_run_metrics`: final.png, content and style read,
every metric of record/metrics.py, metrics.json and config.json written) against the run itself.

In this one process: a run of `--steps` L-BFGS steps at `--size` px (chelsea × starry_swirls, fp32 on the CPU,
every step taken, no snapshots, video, TensorBoard or metrics), then its scoring once cold (the first call
in the process: torchmetrics imported, the metric network built unless the run's is the same) and the median
of `--reps` warm calls. Prints the times and their ratios. `--smoke`: 32 px, 2 steps, 1 rep (checks the
script, not a measurement). Everything is written to a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from nstlib.config import Config
from nstlib.paths import source_root
from nstlib.record.metrics import compute_run_metrics
from nstlib.run.transfer import transfer

TARGET = 0.05  # of a 100-step 256-px run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="32 px, 2 steps, 1 rep: checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.steps, args.reps = 32, 2, 1
    root = source_root() or Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="nst-metrics-cost-"))
    try:
        config = Config(
            content=str(root / "collections/content/chelsea.jpg"),
            style=[str(root / "collections/style/starry_swirls.jpg")],
            image_size=args.size,
            epochs=args.steps,
            tolerance=0.0,
            save_every=0,
            video=False,
            tensorboard=False,
            metrics=False,
            progress="none",
            precision="fp32",
            device="cpu",
            runs_dir=str(work),
        )
        start = time.perf_counter()
        result = transfer(config)
        run_s = time.perf_counter() - start
        assert result.run_dir is not None and result.status == "done", result.reason
        times = []
        for _ in range(args.reps + 1):
            start = time.perf_counter()
            compute_run_metrics(result.run_dir)
            times.append(time.perf_counter() - start)
        cold, warm = times[0], statistics.median(times[1:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    h, w = result.image.shape[-2:]
    print("| what | s | ÷ run |\n|---|---|---|")
    print(f"| run: {args.steps} L-BFGS steps at {h}×{w}, fp32 | {run_s:.2f} | 1 |")
    print(f"| metrics, first call in the process | {cold:.3f} | {cold / run_s:.4f} |")
    print(f"| metrics, median of {args.reps} more | {warm:.3f} | {warm / run_s:.4f} |")
    if not args.smoke:
        verdict = "PASS" if warm / run_s <= TARGET else "MISS"
        print(
            f"\ntarget: metrics ≤ {TARGET:.0%} of the run: {verdict} "
            f"({warm / run_s:.1%}; first call {cold / run_s:.1%})"
        )


if __name__ == "__main__":
    main()
