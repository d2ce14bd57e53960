"""Cost of the run metrics: scoring a finished run (`compute_run_metrics`: final.png, content and style read,
every metric of record/metrics.py, metrics.json and config.json written) against the run itself.

In this one process: a run of `--steps` L-BFGS steps at `--size` px (`--content` × `--style`, `--precision` on
the CPU, every step taken, no snapshots, video, TensorBoard or metrics; torchmetrics' import started on a thread
first, as a run with metrics does), then its scoring: the first call in the process (the metric network built
unless the run's is the same), the median of `--reps` calls with a style not scored before, and the median of
`--reps` calls whose style is kept (a sweep's later points). Prints the times and their ratios. `--smoke`:
32 px, 2 steps, 1 rep (checks the script, not a measurement). Everything is written to a temporary folder,
removed at the end.
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
from nstlib.record import metrics
from nstlib.record.metrics import compute_run_metrics, warm_up
from nstlib.run.transfer import transfer

TARGET = 0.05  # of a 100-step 256-px run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--content", default="collections/content/chelsea.jpg", help="under the source root")
    parser.add_argument("--style", default="collections/style/starry_swirls.jpg", help="under the source root")
    parser.add_argument("--precision", default="fp32", help="the run's precision: fp32, bf16 or auto [fp32]")
    parser.add_argument("--smoke", action="store_true", help="32 px, 2 steps, 1 rep: checks the script")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.steps, args.reps = 32, 2, 1
    root = source_root() or Path.cwd()
    work = Path(tempfile.mkdtemp(prefix="nst-metrics-cost-"))
    try:
        config = Config(
            content=str(root / args.content),
            style=[str(root / args.style)],
            image_size=args.size,
            epochs=args.steps,
            tolerance=0.0,
            save_every=0,
            video=False,
            tensorboard=False,
            metrics=False,
            progress="none",
            precision=args.precision,
            device="cpu",
            runs_dir=str(work),
        )
        warm_up()  # as a run with metrics on does when it starts
        start = time.perf_counter()
        result = transfer(config)
        run_s = time.perf_counter() - start
        assert result.run_dir is not None and result.status == "done", result.reason

        def score(keep_style: bool) -> float:
            if not keep_style:
                metrics._STYLES.clear()
            start = time.perf_counter()
            compute_run_metrics(result.run_dir)
            return time.perf_counter() - start

        first = score(False)
        fresh = statistics.median(score(False) for _ in range(args.reps))
        kept = statistics.median(score(True) for _ in range(args.reps))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    h, w = result.image.shape[-2:]
    print("| what | s | ÷ run |\n|---|---|---|")
    print(f"| run: {args.steps} L-BFGS steps at {h}×{w}, {args.precision} | {run_s:.2f} | 1 |")
    print(f"| metrics, first call in the process (what one `nst run` pays) | {first:.3f} | {first / run_s:.4f} |")
    print(f"| metrics, a style not scored before, median of {args.reps} | {fresh:.3f} | {fresh / run_s:.4f} |")
    print(f"| metrics, a sweep point (its style kept), median of {args.reps} | {kept:.3f} | {kept / run_s:.4f} |")
    if not args.smoke:
        worst = max(first, fresh) / run_s
        verdict = "PASS" if worst <= TARGET else "MISS"
        print(f"\ntarget: metrics ≤ {TARGET:.0%} of the run: {verdict} (first call {first / run_s:.1%})")


if __name__ == "__main__":
    main()
