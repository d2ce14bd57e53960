"""Per-step cost of TensorBoard logging: the same run with `tensorboard` on and off, interleaved.

    python bench/tensorboard_cost.py [--size 256] [--steps 30] [--reps 3] [--out bench/tensorboard_cost.png]
    python bench/tensorboard_cost.py --smoke      # 32 px, 2 steps, 1 rep, figure in a temp dir: checks the script

Each run logs and snapshots every 10 steps (the defaults, so event writing happens where it would in
practice); the per-step time is taken between the first and the last progress report, so model
building, the first (fp32) step and the final files are left out. Runs alternate on/off so a change
in machine load hits both alike. Prints a Markdown table and saves a bar figure of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from nstlib import Config, transfer

ROOT = Path(__file__).resolve().parent.parent


def per_step(config: Config) -> float:
    """Seconds per step between the first and the last progress report of one run."""
    marks: list[tuple[int, float]] = []
    transfer(config, on_progress=lambda info: marks.append((info["epoch"], time.perf_counter())))
    (e0, t0), (e1, t1) = marks[0], marks[-1]
    return (t1 - t0) / (e1 - e0)


def work_per_step(size: int, every: int = 10, reps: int = 20) -> float:
    """Seconds of TensorBoard work (all of it, done synchronously here) per step: every `every` steps, `every`
    loss rows of 4 + 6 columns and one snapshot; a figure that the machine's load barely moves."""
    from nstlib.record.tblog import EventLog

    names = ["total", "content", "style", "tv", "content_relu4_2", *[f"style_relu{i}_1" for i in range(1, 6)]]
    from nstlib.images import load_image, tensor_to_uint8

    frame = tensor_to_uint8(load_image(str(ROOT / "collections/content/chelsea.jpg"), size))  # a photo-like snapshot
    with tempfile.TemporaryDirectory() as folder:
        log = EventLog(Path(folder), {"image_size": size})
        start = time.process_time()  # CPU time of this process: the background writer thread included
        for r in range(reps):
            rows = [
                {"epoch": r * every + i, "level": 0, "image": "iterate", **dict.fromkeys(names, 1.0)}
                for i in range(every)
            ]
            log._rows(rows)
            log.writer.add_image("snapshot", frame, r * every, dataformats="HWC")
        log.close()
        return (time.process_time() - start) / (reps * every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--out", default="bench/tensorboard_cost.png")
    parser.add_argument("--smoke", action="store_true", help="32 px, 2 steps, 1 rep, figure in a temp dir")
    args = parser.parse_args()
    every = 10
    smoke_dir = None
    if args.smoke:
        smoke_dir = tempfile.TemporaryDirectory(prefix="nst-tb-smoke-")
        args.size, args.steps, args.reps, every = 32, 2, 1, 1
        args.out = str(Path(smoke_dir.name) / "tensorboard_cost.png")
    work = work_per_step(args.size, reps=2 if args.smoke else 20)
    print(
        f"TensorBoard work: {1000 * work:.2f} ms of CPU per step (rows every step, a {args.size}-px snapshot every 10)"
    )
    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as runs:
        base = Config(
            image_size=args.size,
            epochs=args.steps,
            save_every=every,
            log_every=every,
            progress="none",
            precision=args.precision,
            runs_dir=runs,
            device="cpu",
        )
        for rep in range(args.reps):
            for on in (False, True):
                times[on].append(per_step(base.replace(tensorboard=on)))
                print(f"rep {rep + 1}: tensorboard={on} {times[on][-1]:.4f} s/step", flush=True)
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"\n| {args.size} px, {args.precision}, {args.steps} steps × {args.reps} | s/step (median) | all |")
    print("|---|---|---|")
    print(f"| tensorboard off | {off:.4f} | {', '.join(f'{t:.4f}' for t in times[False])} |")
    print(f"| tensorboard on | {on:.4f} | {', '.join(f'{t:.4f}' for t in times[True])} |")
    print(f"| on / off | {on / off:.3f} | |")
    print(f"| TensorBoard work / step off | {work / off:.4f} | CPU time of the writing, done synchronously |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    for i, flag in enumerate((False, True)):
        ax.scatter([i] * len(times[flag]), times[flag], color="k", s=10, zorder=3)
    ax.bar([0, 1], [off, on], color=["#999", "#f57c00"])
    ax.set_xticks([0, 1], ["tensorboard off", "tensorboard on"])
    ax.set_ylabel("seconds per L-BFGS step")
    ax.set_title(
        f"{args.size} px, {args.precision}: on/off = {on / off:.3f}\nTensorBoard work {1000 * work:.1f} ms/step"
    )
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"figure: {args.out}")
    if smoke_dir is not None:
        smoke_dir.cleanup()


if __name__ == "__main__":
    main()
