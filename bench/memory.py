"""Large images (issue 10): estimated vs measured peak RSS, seconds per step, tile overhead.

    python bench/memory.py                        # 512, 1024 (whole and tiled), 2048 and 4096 px (tiled)
    python bench/memory.py --runs 512:3:0,512:3:256 --out -

Each run is a fresh `nst run` process (fp32, CPU, default L-BFGS, save_every 0) measured by
bench/_timed.py: its peak RSS (ru_maxrss of the child), the memory model's estimate (config.json),
and the seconds per step from the timestamps of its progress lines (log_every 1): the mean gap
between step lines; a 1-step run has no gap, so its "s/step" is the time from the start line to
the first step line (targets included), marked "≤". A run is `size:steps:tile` (tile 0: the
memory model decides). Prints a Markdown table and appends it, with the load average, to
bench/RESULTS.md (`--out -`: print only).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = "512:3:0,512:3:256,1024:3:0,1024:3:512,2048:2:768,4096:1:768"


def run_one(size: int, steps: int, tile: int, content: str, style: str, work: Path) -> dict[str, object]:
    runs = work / f"runs-{size}-{tile}"
    out = work / f"{size}-{tile}.json"
    cmd = [
        sys.executable, "-m", "nstlib", "run", "--content", content, "--style", style,
        "--image-size", str(size), "--epochs", str(steps), "--precision", "fp32", "--device", "cpu",
        "--save-every", "0", "--no-video", "--progress", "text", "--log-every", "1",
        "--tile-size", str(tile), "--runs-dir", str(runs),
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
        "size": size,
        "steps": steps,
        "tile": memory.get("tile_size", tile),
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


def table(rows: list[dict[str, object]]) -> str:
    out = [
        "| longest side | image | tile (halo 96) | steps | estimate GB | peak RSS GB | peak ÷ estimate | s/step | "
        "tiled ÷ whole | wall s | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = {r["size"]: r["per_step_s"] for r in rows if r["tile"] == 0}
    for r in rows:
        est, peak = r["estimate_gb"], r["peak_gb"]
        ratio = f"{peak / est:.2f}" if isinstance(est, float) and isinstance(peak, float) and est else "–"
        step = f"{'' if r['exact_step'] else '≤ '}{r['per_step_s']}"
        base = whole.get(r["size"])
        over = (
            f"{float(r['per_step_s']) / float(base):.2f}×"  # type: ignore[arg-type]
            if r["tile"] and base and r["exact_step"]
            else "–"
        )
        hw = r["hw"]
        image = f"{hw[1]}×{hw[0]}" if isinstance(hw, list) else "–"
        out.append(
            f"| {r['size']} | {image} | {r['tile'] or 'whole'} | {r['steps']} | {est} | {peak} | {ratio} | {step} | "
            f"{over} | {r['wall_s']} | {r['status']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="comma-separated size:steps:tile")
    parser.add_argument("--content", default=str(ROOT / "collections/content/chelsea.jpg"))
    parser.add_argument("--style", default=str(ROOT / "collections/style/starry_swirls.jpg"))
    parser.add_argument("--out", default=str(ROOT / "bench/RESULTS.md"), help="'-': print only")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.runs.split(","):
            size, steps, tile = (int(v) for v in spec.split(":"))
            rows.append(run_one(size, steps, tile, args.content, args.style, Path(tmp)))
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
