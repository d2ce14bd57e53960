"""What the device has and what the process used: free memory, the measured peak, the CPU heap's bound."""

from __future__ import annotations

import ctypes
import os
import sys
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


HEAP_MMAP_THRESHOLD = 4 << 20  # bytes: larger allocations go straight to mmap and back to the OS when freed
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def bound_heap(device: torch.device) -> bool:
    """For tiled runs on CPU: stop glibc from keeping freed tile buffers in its heap.

    glibc raises its mmap threshold to the largest block freed so far (up to 32 MB), so once a tile's
    buffers are freed, buffers of the next, differently sized tiles come from the heap, which then
    fragments and stays resident: +0.2–0.3 GB over the model at 1024 px with 256 px tiles, where a
    fixed 4 MB threshold keeps the peak under it (bench/memory.py). It costs page faults on every
    large allocation, so whole-image runs keep glibc's default. Returns whether it was set.
    """
    if device.type != "cpu" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, …): nothing to tune
        return False


def peak_record(record: dict[str, object], device: torch.device) -> dict[str, object]:
    return {**record, "peak_gb": round(peak_bytes(device) / GB, 3)}
