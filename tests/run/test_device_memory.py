"""The CPU heap during a run: a whole-image run reuses freed feature maps instead of page-faulting them in,
and gives the memory back when it ends; a tiled run maps large blocks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from nstlib.run import device_memory as dm

pytestmark = pytest.mark.skipif(dm._glibc() is None, reason="the heap is tuned on glibc only")

# Each case in a fresh process, as a run's own: the test session's heap has a history of its own.
PROBE = """
import json, resource, sys
from pathlib import Path
import torch
from nstlib.run.device_memory import heap_choice, heap_for_run

BLOCK = 64 << 20  # bytes: over glibc's largest mmap threshold, as a 512 px run's first-block maps are

def faults():  # the fewest minor faults of filling a new block after others were freed (the layout settles)
    counts = []
    for _ in range(6):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        torch.empty(BLOCK // 4).fill_(1.0)
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return min(counts)

def rss():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024

choice = heap_choice(torch.device(sys.argv[1]), keep=sys.argv[2] == "keep")
with heap_for_run(choice):
    inside = faults()
    blocks = [torch.ones(BLOCK // 4) for _ in range(4)]
    del blocks
    freed_inside = rss()
print(json.dumps({"choice": choice, "faults": inside, "pages": BLOCK // resource.getpagesize(),
                  "released": freed_inside - rss(), "block": BLOCK}))
"""


def probe(device: str, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, device, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_a_whole_image_run_keeps_freed_blocks_and_gives_them_back_when_it_ends():
    r = probe("cpu", "keep")
    assert r["choice"] == "kept"
    assert r["faults"] < r["pages"] // 10  # a freed block is filled again without faulting its pages in
    assert r["released"] > 2 * r["block"]  # of the four blocks freed in the run, most leave with it


def test_a_tiled_run_or_one_near_its_budget_maps_large_blocks():
    r = probe("cpu", "map")
    assert r["choice"] == "mapped"
    assert r["faults"] > r["pages"] // 2  # mapped afresh each time: the heap does not grow with tile sizes


def test_other_devices_are_left_alone():
    r = probe("meta", "keep")
    assert r["choice"] is None
    assert r["faults"] > r["pages"] // 2  # glibc's default: blocks this large are mapped afresh


def test_the_heap_is_kept_only_for_a_whole_image_with_room_for_its_fragments(monkeypatch):
    from nstlib import Config
    from nstlib.run import memory as mem

    monkeypatch.setattr(mem, "available_bytes", lambda device: 10 * mem.GB)
    room = 10 * mem.GB * mem.RUN_MEMORY_FRACTION / mem.HEAP_GROWTH
    cpu, whole = torch.device("cpu"), None
    assert mem.keeps_heap(mem.Estimate(int(room * 0.99), 100, whole), Config(), cpu)
    assert not mem.keeps_heap(mem.Estimate(int(room * 1.01), 100, whole), Config(), cpu)
    assert not mem.keeps_heap(mem.Estimate(int(room * 0.5), 100, whole), Config(memory_limit=room * 0.6 / mem.GB), cpu)
    tiles = mem.Tiling(256, "relu3_1", 32)
    assert not mem.keeps_heap(mem.Estimate(mem.GB, 100, tiles), Config(), cpu)
