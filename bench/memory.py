"""Large images: estimated vs measured peak RSS, seconds per step, tile overhead.

    python bench/memory.py          # 512 and 1024 px whole and tiled, 2048 px whole and in 4 GB, 4096 px in 8 GB
    python bench/memory.py --runs 512:3:0:0,512:3:256:0 --pastiche "" --out -
    python bench/memory.py --smoke  # 64 px × 2 steps whole and on 32-px tiles, pastiche 64 px × 1 step; print only

Each run is a fresh `nst run` process (fp32, CPU, default L-BFGS, save_every 0) measured by
bench/_timed.py: its peak RSS (ru_maxrss of the child), the memory model's estimate and tiling
(config.json), and the seconds per step from the timestamps of its progress lines (log_every 1):
the mean gap between step lines; a 1-step run has no gap, so its "s/step" is the time from the
start line to the first step line (targets included), marked "≤". A run is
`size:steps:tile:memory_limit[:style_loss]` (tile 0: the memory model decides; memory_limit in GB, 0: none;
style_loss gram unless given), e.g. `--runs 512:3:0:0:w2,512:3:256:0:w2` for W2 whole and tiled.
pastiche (the peer with the same weights) runs at the `--pastiche` sizes under an address-space
limit (`--pastiche-limit`, GB) so that a size it cannot survive fails instead of swapping.
Prints a Markdown table and appends it, with the load average, to bench/RESULTS.md (`--out -`:
print only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = "512:4:0:0,512:4:256:0,1024:4:0:0,1024:4:512:0,2048:2:0:0,2048:2:0:4,4096:1:0:8"
PASTICHE_STEP = re.compile(r"^\s*\d+\s+[\d.]+\s")


def run_one(
    size: int, steps: int, tile: int, limit: float, loss: str, content: str, style: str, work: Path
) -> dict[str, object]:
    runs = work / f"runs-{size}-{tile}-{limit}-{loss}"
    out = work / f"{size}-{tile}-{limit}-{loss}.json"
    cmd = [
        sys.executable, "-m", "nstlib", "run", "--content", content, "--style", style,
        "--image-size", str(size), "--epochs", str(steps), "--precision", "fp32", "--device", "cpu",
        "--save-every", "0", "--no-video", "--progress", "text", "--log-every", "1",
        "--tile-size", str(tile), "--memory-limit", str(limit), "--style-loss", loss, "--runs-dir", str(runs),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, str(ROOT / "bench/_timed.py"), "--json", str(out), "--", *cmd], env=env, check=False
    )
    timed = json.loads(out.read_text())
    lines = timed["lines"]
    start = next((t for t, text in lines if text.startswith("memory:") and "needs" in text), 0.0)
    step_times = [t for t, text in lines if text.startswith("step ")]
    if len(step_times) >= 2:
        per_step, exact = (step_times[-1] - step_times[0]) / (len(step_times) - 1), True
    else:
        per_step, exact = (step_times[0] - start if step_times else float("nan")), False
    record: dict[str, object] = {}
    for folder in runs.glob("*"):
        record = json.loads((folder / "config.json").read_text())
    memory = record.get("memory", {}) if isinstance(record, dict) else {}
    assert isinstance(memory, dict)
    return {
        "program": "nst run",
        "loss": loss,
        "size": size,
        "steps": steps,
        "limit": limit,
        "tile": memory.get("tile_size", tile),
        "cut": memory.get("tiles_through"),
        "status": record.get("status", f"rc {timed['rc']}"),
        "estimate_gb": memory.get("estimate_gb"),
        # the run's own record (ru_maxrss, bytes / 1e9); _timed's figure is MiB
        "peak_gb": memory.get("peak_gb", round(timed["peak_rss_mb"] * 1.048576 / 1000, 3)),
        "per_step_s": round(per_step, 2),
        "exact_step": exact,
        "wall_s": round(timed["wall_s"], 1),
        "history": memory.get("history"),
        "hw": record.get("image_size"),
    }


def run_pastiche(size: int, steps: int, limit_gb: float, content: str, style: str, work: Path) -> dict[str, object]:
    """pastiche's CLI (same weights, L-BFGS) under an address-space limit: peak RSS, s/step, or how it failed."""
    out = work / f"pastiche-{size}.json"
    cmd = [
        "prlimit", f"--as={int(limit_gb * 1e9)}", "--", sys.executable, "-m", "pastiche", "--device", "cpu",
        "--optimizer", "lbfgs", "--num-steps", str(steps), "--info-step", "1", "--size", str(size),
        "--style-size", str(size), "--content", content, "--styles", style, "--output", str(work / f"p{size}.png"),
    ]  # fmt: skip
    subprocess.run([sys.executable, str(ROOT / "bench/_timed.py"), "--json", str(out), "--", *cmd], check=False)
    timed = json.loads(out.read_text())
    lines = timed["lines"]
    header = next((t for t, text in lines if text.startswith("step elapsed")), 0.0)
    steps_at = [t for t, text in lines if PASTICHE_STEP.match(text)]
    if len(steps_at) >= 2:
        per_step, exact = (steps_at[-1] - steps_at[0]) / (len(steps_at) - 1), True
    else:
        per_step, exact = (steps_at[0] - header if steps_at else float("nan")), False
    size_line = next((text for _, text in lines if text.startswith("size: ")), "")
    w, _, h = size_line.removeprefix("size: ").partition("x")
    return {
        "program": "pastiche",
        "loss": "gram",
        "size": size,
        "steps": steps,
        "limit": limit_gb,
        "tile": 0,
        "cut": None,
        "status": "done" if timed["rc"] == 0 else f"failed (rc {timed['rc']}, address space ≤ {limit_gb:g} GB)",
        "estimate_gb": None,
        "peak_gb": round(timed["peak_rss_mb"] * 1.048576 / 1000, 3),
        "per_step_s": round(per_step, 2),
        "exact_step": exact,
        "wall_s": round(timed["wall_s"], 1),
        "history": None,
        "hw": [int(h), int(w)] if h.isdigit() and w.isdigit() else None,
    }


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| program | style_loss | longest side | image | memory_limit GB | VGG (tile px, through) | steps | "
        "estimate GB | peak RSS GB | peak ÷ estimate | s/step | tiled ÷ whole | wall s | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = {(r["size"], r["loss"]): r["per_step_s"] for r in rows if r["tile"] == 0 and r["program"] == "nst run"}
    for r in rows:
        est, peak = r["estimate_gb"], r["peak_gb"]
        ratio = f"{peak / est:.2f}" if isinstance(est, float) and isinstance(peak, float) and est else "–"
        step = f"{'' if r['exact_step'] else '≤ '}{r['per_step_s']}"
        base = whole.get((r["size"], r["loss"]))
        over = (
            f"{float(r['per_step_s']) / float(base):.2f}×"  # type: ignore[arg-type]
            if r["tile"] and base and r["exact_step"]
            else "–"
        )
        hw = r["hw"]
        image = f"{hw[1]}×{hw[0]}" if isinstance(hw, list) else "–"
        vgg = f"{r['tile']} px through {r['cut']}" if r["tile"] else "whole"
        out.append(
            f"| {r['program']} | {r['loss']} | {r['size']} | {image} | {r['limit'] or '–'} | {vgg} | {r['steps']} | "
            f"{est or '–'} | {peak} | {ratio} | {step} | {over} | {r['wall_s']} | {r['status']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated size:steps:tile:memory_limit[:loss]")
    parser.add_argument("--pastiche", default="512,1024,2048,4096", help="comma-separated sizes ('': none)")
    parser.add_argument("--pastiche-steps", type=int, default=2)
    parser.add_argument("--pastiche-limit", type=float, default=20.0, help="pastiche's address-space limit, GB")
    parser.add_argument("--content", default=str(ROOT / "collections/content/chelsea.jpg"))
    parser.add_argument("--style", default=str(ROOT / "collections/style/starry_swirls.jpg"))
    parser.add_argument("--out", default=str(ROOT / "bench/RESULTS.md"), help="'-': print only")
    parser.add_argument(
        "--smoke", action="store_true", help="64 px × 2 steps whole and tiled, pastiche 64 px × 1 step, print only"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs, args.pastiche, args.pastiche_steps, args.out = "64:2:0:0,64:2:32:0", "64", 1, "-"
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in filter(None, args.runs.split(",")):
            size, steps, tile, limit, loss = (spec.split(":") + ["gram"])[:5]
            rows.append(
                run_one(int(size), int(steps), int(tile), float(limit), loss, args.content, args.style, Path(tmp))
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        for size in filter(None, args.pastiche.split(",")):
            rows.append(
                run_pastiche(int(size), args.pastiche_steps, args.pastiche_limit, args.content, args.style, Path(tmp))
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    load_end = os.getloadavg()
    head = (
        f"### Large images ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end; "
        f"content {Path(args.content).name}, style {Path(args.style).name}, fp32, L-BFGS)"
    )
    text = f"{head}\n\n{table(rows)}\n"
    print(text)
    if args.out != "-":
        with open(args.out, "a") as f:
            f.write("\n" + text)
    if args.smoke:  # every run must have finished (pastiche at 64 px fits its limit)
        failed = [
            f"{r['program']} {r['size']} px tile {r['tile']}: {r['status']}" for r in rows if r["status"] != "done"
        ]
        if failed:
            print("smoke: failed: " + "; ".join(failed), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
