#!/usr/bin/env python
"""Time what a new user waits for: the install, the main job, the test suite, the README image.

    python bench/first_contact.py                       # main job + test suite (~5 min on a Xeon)
    python bench/first_contact.py --install             # + default and CPU-only installs in scratch venvs
    python bench/first_contact.py --install --cpu-torch "torch==2.13.0"   # CPU torch from this disk
    python bench/first_contact.py --only image          # the README image's run (512 px, 300 steps)
    python bench/first_contact.py --out -               # print only, do not append to bench/RESULTS.md
    python bench/first_contact.py --smoke               # CI: main job and image at 32 px × 2 steps, a one-test
                                                        # pytest run; no install, no network; print only

Every time and size in the README's "Two commands" and "Install" sections (and the time under the
result image) comes from this script; it prints them with the machine (CPU model, cores, the
AMX / AVX-512 / bf16 flags that decide the speed of each machine kind) and appends them to
bench/RESULTS.md. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
JOBS = ("install", "main", "tests", "image")
# The official CPU-only wheels; on a machine without that index pass e.g. --cpu-torch "torch==2.13.0".
CPU_TORCH = "torch --index-url https://download.pytorch.org/whl/cpu"
README_INSTALL = "pip install -r requirements.txt -e ."


def say(*args: object) -> None:
    print(*args, file=sys.stderr, flush=True)


# ---- the machine ------------------------------------------------------------------------------------------
def cpu_flags() -> tuple[str, set[str]]:
    """CPU model name and flag set from /proc/cpuinfo (empty off Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "?")
    flags = set(next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []))
    return model, flags


def machine_kind(flags: set[str]) -> str:
    """The project's three machine kinds differ in how they run bf16, which sets the test and job times."""
    if "amx_bf16" in flags:
        return "AMX (bf16 native and fast; precision auto → bf16)"
    if "avx512_bf16" in flags:
        return "AVX-512 with avx512_bf16, no AMX (bf16 native but slower than fp32; auto → fp32)"
    return "no avx512_bf16 / amx_bf16 (bf16 emulated, ~18× slower than fp32; auto → fp32)"


def machine_text() -> str:
    model, flags = cpu_flags()
    shown = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16"))
    try:
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        ram = f"{int(found.group(1)) / 2**20:.1f} GiB" if found else "?"
    except OSError:
        ram = "?"
    commit = (
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    return "\n".join(
        [
            f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; git commit {commit}",
            f"- CPU: {model}, {os.cpu_count()} logical cores, RAM {ram}; {shown}",
            f"- machine kind: {machine_kind(flags)}",
            f"- Python {platform.python_version()} ({sys.executable})",
        ]
    )


# ---- running commands ---------------------------------------------------------------------------------------
@dataclass
class Result:
    what: str
    command: str
    wall_s: float
    ok: bool
    detail: str = ""
    cpu_s: float = 0.0


def cpu_seconds() -> float:
    """User + system CPU time of this process's finished children: less sensitive than wall time to
    other processes on a shared 2-core machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str] | str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> tuple[float, int, str, float]:
    """Run a command (a string goes through bash): (wall s, exit code, stdout + stderr, CPU s of it)."""
    say(f"$ {command if isinstance(command, str) else ' '.join(command)}")
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        shell=isinstance(command, str),
        executable="/bin/bash" if isinstance(command, str) else None,
        capture_output=True,
        text=True,
        errors="replace",
    )
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    say(f"  exit {proc.returncode} after {wall:.1f} s (CPU {cpu:.1f} s)")
    if proc.returncode:
        say((proc.stdout + proc.stderr)[-3000:])
    return wall, proc.returncode, proc.stdout + proc.stderr, cpu


def child_env() -> dict[str, str]:
    """This checkout's nstlib first, whatever the interpreter has installed."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def du(path: Path) -> str:
    out = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()
    return out[0] if out else "?"


def install(name: str, steps: list[str], python: str, keep: bool) -> Result:
    """A scratch venv under the temp dir, the install commands run in it (activated), its size, then removed."""
    venv = Path(tempfile.mkdtemp(prefix=f"nst-install-{re.sub(r'[^a-z0-9]+', '-', name.lower())}-"))
    q = shlex.quote(str(venv))
    check = "python -c 'import torch, nstlib; print(\"torch\", torch.__version__)'"
    script = (
        f"set -e; {shlex.quote(python)} -m venv {q}; source {q}/bin/activate; "
        "export PIP_DISABLE_PIP_VERSION_CHECK=1; " + "; ".join(steps) + "; " + check
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_NO_CACHE_DIR"] = "1"  # as on a fresh machine: every wheel fetched, none from an earlier run
    wall, rc, out, cpu = run(script, env=env)
    torch_line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("torch ")), "torch ?")
    size = du(venv)
    if not keep:
        shutil.rmtree(venv, ignore_errors=True)
    return Result(
        f"install, {name}",
        " && ".join(steps),
        wall,
        rc == 0,
        f"venv {size} (`du -sh`), {torch_line}" + (f", kept in {venv}" if keep else ""),
        cpu,
    )


SMOKE_SETS = ["image_size=32", "epochs=2"]  # --smoke: the same commands, tiny
SMOKE_TEST = "def test_smoke():\n    assert 1 + 1 == 2\n"


def main_job(work: Path, smoke: bool = False) -> Result:
    """The README's first command after the install: the 6-point style-weight sweep at 256 px, 100 steps."""
    cmd = [sys.executable, "-m", "nstlib", "sweep", "sweeps/style_weight.yaml", "--set", f"runs_dir={work / 'runs'}"]
    cmd += [x for s in SMOKE_SETS for x in ("--set", s)] if smoke else []
    wall, rc, out, cpu = run(cmd, env=child_env())
    done = len(re.findall(r"^\[\d+/\d+\].*\bdone\b", out, re.MULTILINE))  # "[3/6] style_weight=1 done 41.2 s"
    label = "nst sweep sweeps/style_weight.yaml" + "".join(f" --set {s}" for s in SMOKE_SETS if smoke)
    return Result("main job", label, wall, rc == 0, f"{done} points reported done", cpu)


def test_suite(smoke_dir: Path | None = None) -> Result:
    """The README's second command after the install; also names the slowest tests.

    With `smoke_dir`: pytest on one trivial test written there (the harness, not the suite)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=5"]
    if smoke_dir is not None:
        (smoke_dir / "test_smoke.py").write_text(SMOKE_TEST)
        cmd += ["--rootdir", str(smoke_dir), str(smoke_dir / "test_smoke.py")]
    wall, rc, out, cpu = run(cmd, env=child_env())
    summary = next((ln.strip("= ") for ln in reversed(out.splitlines()) if re.search(r"\d+ (passed|failed)", ln)), "?")
    slow = [ln.strip() for ln in out.splitlines() if re.match(r"^\d+\.\d+s (call|setup|teardown)", ln.strip())][:3]
    detail = summary + ("; slowest: " + "; ".join(slow) if slow else "")
    label = "python -m pytest -q" + (" test_smoke.py (one trivial test)" if smoke_dir is not None else "")
    return Result("test suite", label, wall, rc == 0, detail, cpu)


def result_image(work: Path, smoke: bool = False) -> Result:
    """The run behind docs/result.jpg: the bundled pair at 512 px with the default 300 L-BFGS steps."""
    size = ["--image-size", "32", "--epochs", "2"] if smoke else ["--image-size", "512"]
    cmd = [sys.executable, "-m", "nstlib", "run", *size, "--runs-dir", str(work / "runs")]
    wall, rc, _, cpu = run(cmd, env=child_env())
    label, steps = ("nst run --image-size 32 --epochs 2", "2") if smoke else ("nst run --image-size 512", "300")
    return Result("README image", label, wall, rc == 0, f"{steps} L-BFGS steps", cpu)


def minutes(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{int(s // 60)} min {s % 60:02.0f} s"


def report(results: list[Result], load: tuple[float, float]) -> str:
    busy = max(load) > 0.5 * (os.cpu_count() or 1)
    rows = [
        f"| {r.what} | `{r.command}` | {minutes(r.wall_s)} | {minutes(r.cpu_s)} | "
        f"{'ok' if r.ok else '**FAILED**'} | {r.detail} |"
        for r in results
    ]
    return "\n".join(
        [
            f"## First contact {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
            "",
            machine_text(),
            f"- load average (1 min) at start {load[0]:.2f}, at end {load[1]:.2f}"
            + (" — **the machine was busy: timings are noisy, rerun on a quiet machine**" if busy else ""),
            f"- command: `{' '.join(['python bench/first_contact.py', *sys.argv[1:]])}`",
            "",
            "| what | command | wall | CPU (user + sys) | result | detail |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "CPU time is summed over cores (2 busy cores: CPU ≈ 2 × wall); on a busy machine it inflates less "
            "than wall time.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="main,tests", help=f"comma-separated jobs out of {', '.join(JOBS)} [default: main,tests]"
    )
    parser.add_argument("--install", action="store_true", help="also time the default and CPU-only installs")
    parser.add_argument("--result-image", action="store_true", help="also time the README image's run (~5 min)")
    parser.add_argument("--installs", default="default,cpu", help="which installs --install times [default,cpu]")
    parser.add_argument("--cpu-torch", default=CPU_TORCH, help=f"pip arguments of the CPU-only torch [{CPU_TORCH}]")
    parser.add_argument("--python", default=sys.executable, help="interpreter that makes the scratch venvs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch venvs and run folders")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="append the report here; '-' prints only")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="check the script: main job and image at 32 px × 2 steps, pytest on one trivial test; no installs "
        "(no network); print only",
    )
    a = parser.parse_args(argv)
    jobs = [j.strip() for j in a.only.split(",") if j.strip()]
    jobs += ["install"] * a.install + ["image"] * a.result_image
    if a.smoke:
        jobs, a.out = ["main", "tests", "image"], "-"
    if unknown := set(jobs) - set(JOBS):
        parser.error(f"unknown job(s) {', '.join(sorted(unknown))}; choose from {', '.join(JOBS)}")

    load0 = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="nst-first-contact-"))
    results: list[Result] = []
    try:
        if "install" in jobs:  # first: a loaded machine would slow the installs less than the timed jobs
            if "default" in a.installs:
                results.append(install("default", [README_INSTALL], a.python, a.keep))
            if "cpu" in a.installs:
                steps = [f"pip install {a.cpu_torch}", README_INSTALL]
                results.append(install("CPU-only torch", steps, a.python, a.keep))
        if "main" in jobs:
            results.append(main_job(work, a.smoke))
        if "tests" in jobs:
            results.append(test_suite(work if a.smoke else None))
        if "image" in jobs:
            results.append(result_image(work, a.smoke))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = report(results, (load0, os.getloadavg()[0]))
    print(text)
    if a.out != "-":
        with open(a.out, "a") as f:
            f.write("\n" + text)
        say(f"appended to {a.out}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
