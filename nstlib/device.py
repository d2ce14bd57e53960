"""Device and compute-precision choice; nothing here assumes CUDA."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from .config import ConfigError


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


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (x86 'flags', ARM 'Features'); empty where /proc/cpuinfo does not tell."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_amx() -> bool:
    """AMX-BF16 tiles: the only CPUs where bf16 VGG beats fp32 (avx512_bf16 alone was slower, bench/)."""
    return "amx_bf16" in _cpu_flags()


def cpu_bf16_emulated() -> bool:
    """True on a CPU known to lack bf16 instructions (no avx512_bf16, amx_bf16 or ARM bf16), e.g. an
    AVX2-only EPYC, where torch emulates bf16 ~18x slower than fp32 (FACTS.md). False when unknown."""
    flags = _cpu_flags()
    return bool(flags) and not flags & {"avx512_bf16", "amx_bf16", "bf16"}


_warned_bf16_emulated = False


def _warn_if_bf16_emulated(device: torch.device) -> None:
    """One warning per process: a sweep resolves the precision once per batch and should not repeat it."""
    global _warned_bf16_emulated
    if device.type != "cpu" or _warned_bf16_emulated or not cpu_bf16_emulated():
        return
    _warned_bf16_emulated = True
    warnings.warn(
        "precision 'bf16': this CPU has no bf16 instructions (no avx512_bf16 or AMX), so bf16 is "
        "emulated and ~18x slower than fp32; use precision 'auto' or 'fp32'",
        RuntimeWarning,
        stacklevel=3,
    )


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → 'bf16' where the hardware runs it fast (CUDA with bf16, CPU with AMX), else 'fp32'.
    An explicit 'bf16' is kept, with a warning on a CPU that only emulates it."""
    if precision == "bf16":
        _warn_if_bf16_emulated(device)
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_has_amx():
        return "bf16"
    return "fp32"


def compute_dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32
