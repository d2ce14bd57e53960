"""What the device has and what the process used: free memory, the measured peak, the CPU heap's bound."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

GB = 1e9


def available_bytes(device: torch.device) -> int:
    """Free GPU memory on CUDA; else the RAM the OS can give without swapping (MemAvailable)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def peak_bytes(device: torch.device) -> int:
    """The measured peak so far: torch's peak allocation on CUDA, else the process's peak RSS.

    On Linux that is VmHWM of /proc/self/status: ru_maxrss survives exec, so a process started by a big
    one (a notebook, a test session) would report its parent's peak."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource

    maxrss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, kB elsewhere


HEAP_MMAP_THRESHOLD = 4 << 20  # bytes: tiled runs' larger allocations go to mmap and back to the OS when freed
# glibc's mallopt parameters, and the values a run leaves behind (glibc's own largest dynamic threshold)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
AFTER_RUN = {M_MMAP_MAX: 65536, M_MMAP_THRESHOLD: 32 << 20, M_TRIM_THRESHOLD: 64 << 20}
KEEP_FREED = (1 << 31) - 1  # bytes of freed heap top kept for the next step (mallopt takes an int)


@functools.lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    """The C library, where it is glibc (asked by every run: looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None  # glibc, not musl


def heap_choice(device: torch.device, keep: bool) -> str | None:
    """What `heap_for_run` will do: 'kept' or 'mapped' on CPU with glibc, else None (untouched)."""
    if device.type != "cpu" or _glibc() is None:
        return None
    return "kept" if keep else "mapped"


@contextlib.contextmanager
def heap_for_run(choice: str | None) -> Iterator[None]:
    """Where a CPU run's large buffers come from while it runs (`heap_choice`).

    'kept' (a whole image with room to spare): freed buffers stay in glibc's heap for the next step. By default
    glibc gives blocks over 32 MB (a 512 px run's first-block feature maps) their own mmap, returned when freed,
    so every step page-faults them in again zero-filled: ~110k faults per forward + backward at 512 px, 5–15%
    of the bare network's time (bench/floor.py --heap). The heap's fragments raise the peak over the estimate
    (1.08× at 512 px, 1.22× at 1024 px, measured), hence the room. 'mapped' (tiles, or a run near its memory
    budget): every block over 4 MB is mapped, because buffers of differently sized tiles fragment the heap,
    which then stays resident: +0.2–0.3 GB over the model at 1024 px with 256 px tiles (bench/memory.py).
    Afterwards glibc's usual bounds return and the freed heap goes back to the OS.
    """
    libc = _glibc() if choice else None
    if libc is None:
        yield
        return
    if choice == "kept":
        settings = {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: KEEP_FREED}
    else:
        settings = {M_MMAP_MAX: AFTER_RUN[M_MMAP_MAX], M_MMAP_THRESHOLD: HEAP_MMAP_THRESHOLD}
    for parameter, value in settings.items():
        libc.mallopt(parameter, value)
    try:
        yield
    finally:
        for parameter, value in AFTER_RUN.items():
            libc.mallopt(parameter, value)
        libc.malloc_trim(0)


def peak_record(record: dict[str, object], device: torch.device) -> dict[str, object]:
    return {**record, "peak_gb": round(peak_bytes(device) / GB, 3)}
