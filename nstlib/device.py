"""Device and compute-precision choice; nothing here assumes CUDA."""

from __future__ import annotations

import functools
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
def cpu_has_amx() -> bool:
    """AMX-BF16 tiles: the only CPUs where bf16 VGG beats fp32 (avx512_bf16 alone was slower, bench/)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' → 'bf16' where the hardware runs it fast (CUDA with bf16, CPU with AMX), else 'fp32'."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_has_amx():
        return "bf16"
    return "fp32"


def compute_dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32
