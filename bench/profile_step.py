#!/usr/bin/env python
"""Where a step's time goes: N steps of nstlib in-process under torch.profiler (CPU).

    python bench/profile_step.py --size 512 --steps 8 --precision fp32
    python bench/profile_step.py --size 256 --steps 8 --precision bf16 --top 30
    python bench/profile_step.py --size 512 --steps 8 --no-profiler      # wall-clock split only, no profiler overhead
    python bench/profile_step.py --smoke      # 32 px, 4 steps, profiler on, top 5; fails if the split does not add up

Runs nstlib.transfer() as `nst run` would (progress text, a line every --log-every steps, no
snapshots unless --save-every), with thin wrappers around nstlib's pieces, and prints:
1. the wall-clock split of a steady-state step (mean over steps 1 … N−1; step 0 shown apart: for
   bf16 it runs in fp32 by design): VGG forward, loss forward (Gram, MSE), backward, L-BFGS step,
   on_step (logging, NaN guard, losses.csv, snapshots), other (clamp/where/copies in the loop);
2. from the profiler (steps 2 … N−1): the same split with the backward divided into VGG backward
   (convolution/ReLU/pooling nodes) and loss backward (everything else: Gram, MSE, casts);
3. the top ops by self CPU time;
plus set-up (weights, targets) and finish (final losses, final.png, panel.png) times.

The wrappers only add record_function labels and timers around nstlib's public pieces (optimize and its
step hook, VGGFeatures, total_loss, the optimizers' step), in this process.
"""

from __future__ import annotations

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

T_TORCH = time.perf_counter()

import nstlib  # noqa: E402
import nstlib.losses.tiled  # noqa: E402,F401
import nstlib.model.vgg  # noqa: E402,F401
import nstlib.run.optimize  # noqa: E402,F401
import nstlib.run.transfer  # noqa: E402,F401

# nstlib/__init__ re-exports functions named like its modules (transfer, sweep): take the modules themselves
nst_optimize, nst_transfer, nst_vgg, nst_tiled = (
    sys.modules[f"nstlib.{m}"] for m in ("run.optimize", "run.transfer", "model.vgg", "losses.tiled")
)

T_IMPORTS = time.perf_counter()

PHASES = ["vgg_forward", "loss_forward", "backward", "optimizer_step", "on_step", "other"]
LABELS = {
    "vgg_forward": "VGG forward",
    "loss_forward": "loss forward (Gram, MSE)",
    "backward": "backward (all)",
    "vgg_backward": "  VGG backward (conv/ReLU/pool nodes)",
    "loss_backward": "  loss backward (Gram, MSE, casts)",
    "optimizer_step": "L-BFGS/Adam step",
    "on_step": "on_step: logging, NaN guard, losses.csv",
    "other": "other (clamp, where, copies in the loop)",
}
VGG_NODES = ("Convolution", "Relu", "Threshold", "AvgPool", "MaxPool", "MkldnnConvolution")


class Phases:
    """Exclusive wall time per (step, phase) inside the optimisation loop."""

    def __init__(self) -> None:
        self.in_loop = False
        self.step = -1
        self.step_starts: list[float] = []
        self.loop_start = self.loop_end = 0.0
        self.acc: dict[tuple[int, str], float] = defaultdict(float)
        self.stack: list[float] = []
        self.profiler: Any = None

    def wrap(self, name: str, fn: Callable, new_step: bool = False, profiler_step: bool = False) -> Callable:
        phases = self

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if not phases.in_loop:
                return fn(*args, **kwargs)
            if new_step and not phases.stack:
                phases.step += 1
                phases.step_starts.append(time.perf_counter())
            if profiler_step and phases.profiler is not None:
                t_prof = time.perf_counter()
                phases.profiler.step()  # starting/stopping the trace is not nstlib's time
                phases.acc[(phases.step, "profiler")] += time.perf_counter() - t_prof
            with torch.profiler.record_function(f"nst::{name}"):
                t0 = time.perf_counter()
                phases.stack.append(0.0)
                try:
                    return fn(*args, **kwargs)
                finally:
                    elapsed = time.perf_counter() - t0
                    inner_time = phases.stack.pop()
                    phases.acc[(phases.step, name)] += elapsed - inner_time
                    if phases.stack:
                        phases.stack[-1] += elapsed

        return inner

    def step_times(self) -> list[float]:
        """Wall time of each step (from one objective evaluation to the next), less profiler bookkeeping."""
        ends = self.step_starts[1:] + [self.loop_end]
        return [e - s - self.acc.get((k, "profiler"), 0.0) for k, (s, e) in enumerate(zip(self.step_starts, ends))]

    def split(self, step: int, total: float) -> dict[str, float]:
        out = {name: self.acc.get((step, name), 0.0) for name in PHASES[:-1]}
        out["other"] = max(0.0, total - sum(out.values()))
        return out

    def unaccounted(self, step: int, total: float) -> float:
        """Step time less its timed phases; negative would mean a phase counted twice (other clamps to 0)."""
        return total - sum(self.acc.get((step, name), 0.0) for name in PHASES[:-1])


def instrument(phases: Phases) -> Callable[[], None]:
    """Patch nstlib's pieces with timers and profiler labels; returns the undo."""
    saved: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, attr: str, new: Any) -> None:
        saved.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, new)

    original_optimize = nst_transfer.optimize

    def optimize(x: Any, objective: Any, optimizer: Any, steps: int, on_step: Any) -> Any:
        phases.in_loop = True
        phases.loop_start = time.perf_counter()
        try:  # the step hook (logging, NaN guard, snapshots) is timed as its own phase
            return original_optimize(
                x, objective, optimizer, steps, phases.wrap("on_step", on_step, profiler_step=True)
            )
        finally:
            phases.loop_end = time.perf_counter()
            phases.in_loop = False

    patch(nst_transfer, "optimize", optimize)
    # a step starts with the objective: the losses, which run VGG's forward inside (timed as its own phase)
    patch(nst_vgg.VGGFeatures, "__call__", phases.wrap("vgg_forward", nst_vgg.VGGFeatures.__call__))
    patch(nst_tiled, "total_loss", phases.wrap("loss_forward", nst_tiled.total_loss, new_step=True))
    patch(torch.autograd, "grad", phases.wrap("backward", torch.autograd.grad))
    for cls in (nst_optimize.LBFGS, nst_optimize.Adam):
        patch(cls, "step", phases.wrap("optimizer_step", cls.step))

    def undo() -> None:
        for owner, attr, value in reversed(saved):
            setattr(owner, attr, value)

    return undo


def profiler_split(prof: Any, steps_recorded: int) -> dict[str, float]:
    """Self CPU time per category (seconds per recorded step) from the profiler's event tree."""
    totals: dict[str, float] = defaultdict(float)
    for evt in prof.events():
        if evt.device_type != torch.autograd.DeviceType.CPU or evt.name.startswith("ProfilerStep"):
            continue
        label, node, parent = None, None, evt
        while parent is not None:
            if label is None and parent.name.startswith("nst::"):
                label = parent.name[5:]
            if node is None and parent.name.startswith("autograd::engine::evaluate_function: "):
                node = parent.name.split(": ", 1)[1]
            parent = parent.cpu_parent
        if label is None:
            label = "other"
        if label == "backward":
            label = "vgg_backward" if node and node.startswith(VGG_NODES) else "loss_backward"
        totals[label] += evt.self_cpu_time_total / 1e6
    return {k: v / max(1, steps_recorded) for k, v in totals.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="longest side [256]")
    p.add_argument("--steps", type=int, default=8, help="optimizer steps (≥ 4 with the profiler) [8]")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="fp32")
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--pooling", choices=("avg", "max"), default="avg")
    p.add_argument("--content", default=nstlib.Config().content)
    p.add_argument("--style", default=nstlib.Config().style[0])
    p.add_argument("--log-every", type=int, default=1, help="progress line every N steps, as the bench runs it [1]")
    p.add_argument("--save-every", type=int, default=0, help="snapshot every N steps (0 = none) [0]")
    p.add_argument("--top", type=int, default=20, help="rows of the top-ops table [20]")
    p.add_argument("--no-profiler", dest="profiler", action="store_false", help="wall-clock split only")
    p.add_argument("--batch", type=int, default=1, help="run the same experiment N times as one batch [1]")
    p.add_argument("--smoke", action="store_true", help="32 px, 4 steps, top 5: checks the script and the split")
    a = p.parse_args(argv)
    if a.smoke:
        a.size, a.steps, a.top = 32, 4, 5
    if a.profiler and a.steps < 4:
        p.error("--steps must be ≥ 4 with the profiler (steps 0-1 are skipped as warm-up)")
    if a.steps < 2:
        p.error("--steps must be ≥ 2")

    config = nstlib.Config(
        content=a.content,
        style=[a.style],
        image_size=a.size,
        epochs=a.steps,
        precision=a.precision,
        optimizer=a.optimizer,
        pooling=a.pooling,
        device="cpu",
        progress="text",
        log_every=a.log_every,
        save_every=a.save_every,
        video=False,
    )
    phases = Phases()
    undo = instrument(phases)
    folder = Path(tempfile.mkdtemp(prefix="nstprofile_"))
    t0 = time.perf_counter()
    try:
        if a.profiler:
            schedule = torch.profiler.schedule(wait=1, warmup=1, active=a.steps - 2, repeat=1)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], schedule=schedule) as prof:
                phases.profiler = prof
                results = nstlib.transfer_batch(
                    [config] * a.batch, run_dirs=[folder / f"run{i}" for i in range(a.batch)]
                )
            phases.profiler = None
        else:
            results = nstlib.transfer_batch([config] * a.batch, run_dirs=[folder / f"run{i}" for i in range(a.batch)])
    finally:
        undo()
    t_end = time.perf_counter()
    result = results[0]
    info = json.loads((Path(result.run_dir) / "config.json").read_text())

    step_times = phases.step_times()
    hw = tuple(result.image.shape[-2:])
    print(
        f"\n## nstlib step profile: {a.size} px ({hw[0]}×{hw[1]}), {a.steps} steps, precision {a.precision}"
        f" → {info.get('precision', '?')}, {a.optimizer}, batch {a.batch}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads{', profiler on' if a.profiler else ''}\n"
    )
    print(
        f"import torch {T_TORCH - T_START:.2f} s, import nstlib {T_IMPORTS - T_TORCH:.2f} s; set-up (weights, "
        f"targets, run folder) {phases.loop_start - t0:.2f} s; loop {phases.loop_end - phases.loop_start:.2f} s; "
        f"finish (final losses, final.png, panel.png) {t_end - phases.loop_end:.2f} s; final loss "
        f"{result.final_losses.get('total', float('nan')):.5g}\n"
    )

    steady = list(range(1, len(step_times)))
    mean_step = statistics.mean(step_times[k] for k in steady)
    first = phases.split(0, step_times[0])
    split = {name: statistics.mean(phases.split(k, step_times[k])[name] for k in steady) for name in PHASES}
    print("### Wall-clock split (ms)\n")
    print(f"| phase | step 0 | steps 1…{len(step_times) - 1} (mean) | share |\n|---|---|---|---|")
    for name in PHASES:
        print(f"| {LABELS[name]} | {first[name] * 1e3:.1f} | {split[name] * 1e3:.1f} | {split[name] / mean_step:.1%} |")
    print(f"| **step** | {step_times[0] * 1e3:.1f} | {mean_step * 1e3:.1f} | 100% |")
    print(f"\nsteady steps (s): {', '.join(f'{t:.3f}' for t in step_times[1:])}")
    # the split adds up: the phases + other give each step exactly unless a phase was counted twice
    slack = min(phases.unaccounted(k, t) for k, t in enumerate(step_times))
    steady_sum = sum(split.values())
    print(
        f"check: steady phases + other = {steady_sum * 1e3:.1f} ms, step = {mean_step * 1e3:.1f} ms; step 0 "
        f"{sum(first.values()) * 1e3:.1f} ms = {step_times[0] * 1e3:.1f} ms; smallest unclamped other "
        f"{slack * 1e3:.2f} ms; {len(step_times)} steps timed of {a.steps}"
    )
    adds_up = slack > -1e-4 and abs(steady_sum - mean_step) <= 1e-3 * mean_step and len(step_times) == a.steps
    if not adds_up:
        print("! the split does not add up to the step (a phase counted twice, or steps missed)", file=sys.stderr)

    if a.profiler:
        recorded = a.steps - 2
        cats = profiler_split(prof, recorded)
        total = sum(cats.values())
        print(f"\n### Profiler split, self CPU time per step (ms), steps 2…{a.steps - 1}\n")
        print("| phase | ms/step | share |\n|---|---|---|")
        for name in [
            "vgg_forward",
            "loss_forward",
            "vgg_backward",
            "loss_backward",
            "optimizer_step",
            "on_step",
            "other",
        ]:
            v = cats.get(name, 0.0)
            print(f"| {LABELS.get(name, name).strip()} | {v * 1e3:.1f} | {v / total if total else 0:.1%} |")
        print(f"| **total** | {total * 1e3:.1f} | 100% |")
        print(f"\n### Top {a.top} ops by self CPU time (steps 2…{a.steps - 1}, all {recorded} steps summed)\n")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top))
    if a.smoke:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"run folder: {result.run_dir}")
    return 0 if adds_up else 1


if __name__ == "__main__":
    sys.exit(main())
