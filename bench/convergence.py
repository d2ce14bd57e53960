"""What the convergence rule saves and changes: one batch over β run every step (tolerance 0), then, for
each (tolerance, window), the step each sample would stop at and how far its image there is from the
full run's last iterate (8-bit levels: max, 99th percentile, mean). Stopping a sample does not change
the others (each sample's optimisation is its own), so one full run answers every rule.

    python bench/convergence.py                      # chelsea × starry_swirls, 256 px, 100 steps, 8 β
    python bench/convergence.py --size 200 --content collections/content/astronaut.jpg \
        --style collections/style/ink_mountains.jpg
    python bench/convergence.py --smoke              # 32 px, 12 steps, 3 β: checks the script
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from nstlib import Config
from nstlib.run.transfer import transfer_batch

ROOT = Path(__file__).resolve().parent.parent
BETAS = "1e-2,1e-1,1,1e1,1e2,1e3,1e4,1e5"
RULES = "1e-3:10,5e-4:10,2e-4:10,1e-4:10"


def stop_step(totals: np.ndarray, tolerance: float, window: int) -> int | None:
    """The rule of nstlib.run.optimize.Stopping on one sample's totals."""
    best = np.minimum.accumulate(totals)
    return next((k for k in range(window, len(totals)) if best[k - window] - best[k] <= tolerance * abs(best[k])), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--content", default=str(ROOT / "collections/content/chelsea.jpg"))
    p.add_argument("--style", default=str(ROOT / "collections/style/starry_swirls.jpg"))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--betas", default=BETAS)
    p.add_argument("--rules", default=RULES, help="tolerance:window pairs, comma-separated")
    p.add_argument("--runs-dir", default="/tmp/nst-bench-convergence")
    p.add_argument("--smoke", action="store_true", help="32 px, 12 steps, 3 β, window 3")
    args = p.parse_args()
    if args.smoke:
        args.size, args.steps, args.betas, args.rules = 32, 12, "1e-2,1,1e4", "1e-3:3"
        args.runs_dir = tempfile.mkdtemp(prefix="nst-bench-convergence-")
    betas = [float(b) for b in args.betas.split(",")]
    rules = [(float(t), int(w)) for t, w in (r.split(":") for r in args.rules.split(","))]
    frames: list[np.ndarray] = []

    def keep(progress: dict) -> None:
        frames.append((progress["image"].clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy())

    configs = [
        Config(
            content=args.content,
            style=[args.style],
            image_size=args.size,
            epochs=args.steps,
            style_weight=b,
            tolerance=0,
            save_every=0,
            video=False,
            tensorboard=False,
            progress="none",
            log_every=1,
            runs_dir=args.runs_dir,
            precision="fp32",
        )
        for b in betas
    ]
    results = transfer_batch(configs, on_progress=keep)
    if args.smoke:
        shutil.rmtree(args.runs_dir, ignore_errors=True)
    totals = np.array([[r["total"] for r in res.history if r["image"] == "iterate"] for res in results])
    images = np.stack(frames).astype(np.int16)  # steps × B × 3 × H × W
    print(f"{Path(args.content).stem} × {Path(args.style).stem}, {args.size} px, {args.steps} steps\n")
    print("| tolerance | window | " + " | ".join(f"β {b:g}" for b in betas) + " | steps saved |")
    print("|---|---|" + "---|" * len(betas) + "---|")
    for tolerance, window in rules:
        cells, saved = [], 0
        for b in range(len(betas)):
            k = stop_step(totals[b], tolerance, window)
            if k is None:
                cells.append("all steps")
                continue
            saved += args.steps - (k + 1)
            diff = np.abs(images[k, b] - images[-1, b])
            cells.append(f"stop {k}: max {diff.max()}, p99 {np.percentile(diff, 99):.0f}, mean {diff.mean():.2f}")
        print(f"| {tolerance:g} | {window} | " + " | ".join(cells) + f" | {saved}/{args.steps * len(betas)} |")


if __name__ == "__main__":
    main()
