"""Device and compute-precision choice; nothing here assumes CUDA.

Whether bf16 is worth it is measured, not read from CPU flags: the same flags run bf16 1.7× faster
on one CPU and 18× slower (emulated) on another. The first `precision="auto"` on a machine times a
tiny fp32 and bf16 forward + backward and caches the verdict per device model and torch version.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from nstlib.errors import ConfigError
from nstlib.files import atomic_write_text


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' → cuda, then mps, then cpu; an explicit device that is not there is a clear error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} requested but CUDA is not available; use auto or cpu")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device: 'mps' requested but MPS is not available; use auto or cpu")
    return torch.device(device)


@dataclass(frozen=True)
class PrecisionTiming:
    """One measurement: seconds per tiny forward + backward in each precision, and where it was made."""

    key: str
    fp32_s: float
    bf16_s: float | None  # None: bf16 does not run on this device

    @property
    def ratio(self) -> float | None:
        """bf16 time ÷ fp32 time: below 1, bf16 is faster."""
        return None if self.bf16_s is None else self.bf16_s / self.fp32_s


BF16_SLOW = 1.5  # an explicit bf16 this many times slower than fp32 is (nearly always) emulated: warn


def device_key(device: torch.device) -> str:
    """What a timing holds for: the device's model, torch's version and the threads it uses."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        name = _cpu_model()
    else:
        name = device.type
    return f"{device.type}|{name}|torch {torch.__version__}|threads {torch.get_num_threads()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_file() -> Path:
    """$NSTLIB_CACHE_DIR, else $XDG_CACHE_HOME/nstlib, else ~/.cache/nstlib: precision.json."""
    explicit = os.environ.get("NSTLIB_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nstlib"
    return base / "precision.json"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _probe_seconds(device: torch.device, dtype: torch.dtype, reps: int = 3, slow: float = float("inf")) -> float:
    """Best of `reps` forward + backward passes of a VGG-like block (3×3 convs, 64–128 channels, 32 px);
    a first pass already slower than `slow` is the answer (an emulated bf16 takes ~20× fp32's time)."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(64, 3), (64, 64), (128, 64), (128, 128)]
    weights = [(torch.randn(o, i, 3, 3, generator=gen) * 0.05).to(device, dtype) for o, i in shapes]
    weights = [w.contiguous(memory_format=torch.channels_last) for w in weights]
    x = torch.rand(1, 3, 32, 32, generator=gen).to(device)
    best = float("inf")
    for rep in range(reps + 1):  # the first pass creates the kernels: not timed
        synchronize(device)
        start = time.perf_counter()
        image = x.clone().requires_grad_(True)
        h = image.to(dtype).contiguous(memory_format=torch.channels_last)
        for i, w in enumerate(weights):
            h = F.relu(F.conv2d(h, w, padding=1))
            if i == 1:
                h = F.avg_pool2d(h, 2)
        h.float().square().mean().backward()
        synchronize(device)
        seconds = time.perf_counter() - start
        if rep:
            best = min(best, seconds)
        elif seconds > slow:
            return seconds
    return best


def measure_precision(device: torch.device) -> PrecisionTiming:
    """Time fp32 and bf16 on `device` now (a fraction of a second; bf16 None where it fails)."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        # one thread: the arithmetic's speed, which is what differs, without the threads' waits on a busy machine
        torch.set_num_threads(1)
    try:
        fp32 = _probe_seconds(device, torch.float32)
        try:
            bf16: float | None = _probe_seconds(device, torch.bfloat16, slow=10 * fp32)
        except (RuntimeError, TypeError):  # a device without bf16 kernels
            bf16 = None
    finally:
        torch.set_num_threads(threads)
    return PrecisionTiming(device_key(device), fp32, bf16)


def _read_cache(path: Path) -> dict[str, dict[str, float | None]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@functools.lru_cache(maxsize=8)
def precision_timing(device: torch.device) -> PrecisionTiming:
    """The cached timing for this device model and torch version, measured and cached the first time."""
    key, path = device_key(device), cache_file()
    data = _read_cache(path)
    entry = data.get(key)
    if isinstance(entry, dict):
        fp32, bf16 = entry.get("fp32_s"), entry.get("bf16_s")
        if isinstance(fp32, float) and fp32 > 0:
            return PrecisionTiming(key, fp32, bf16 if isinstance(bf16, float) else None)
    timing = measure_precision(device)
    data[key] = {k: v for k, v in asdict(timing).items() if k != "key"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    except OSError:
        pass  # a read-only home: measure again next process
    return timing


_warned_bf16_slow = False


def _warn_if_bf16_slow(device: torch.device) -> None:
    """One warning per process: a sweep resolves the precision once per batch and should not repeat it."""
    global _warned_bf16_slow
    if _warned_bf16_slow or device.type != "cpu":
        return
    ratio = precision_timing(device).ratio
    if ratio is None or ratio < BF16_SLOW:
        return
    _warned_bf16_slow = True
    warnings.warn(
        f"precision 'bf16': measured {ratio:.1f}x slower than fp32 on this CPU (bf16 is emulated without "
        "avx512_bf16 or AMX); use precision 'auto' or 'fp32'",
        RuntimeWarning,
        stacklevel=3,
    )


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → the faster of fp32 and bf16 as measured on this device (cached); mps: fp32.
    An explicit 'bf16' is kept, with a warning on a CPU where it measured much slower."""
    if precision == "bf16":
        _warn_if_bf16_slow(device)
    if precision != "auto":
        return precision
    if device.type not in ("cpu", "cuda"):
        return "fp32"
    ratio = precision_timing(device).ratio
    return "bf16" if ratio is not None and ratio < 1.0 else "fp32"


def precision_record(requested: str, precision: str, device: torch.device) -> dict[str, float | str | None]:
    """What config.json says about the choice: the measured times and bf16 ÷ fp32, where they were measured."""
    if requested == "fp32" or device.type not in ("cpu", "cuda"):
        return {"requested": requested, "chosen": precision}
    timing = precision_timing(device)
    return {
        "requested": requested,
        "chosen": precision,
        "fp32_s": timing.fp32_s,
        "bf16_s": timing.bf16_s,
        "bf16_over_fp32": timing.ratio,
    }


def compute_dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32
