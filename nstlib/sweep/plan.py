"""Planning a sweep's work: which points can share a batch, and how many fit in memory at once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from nstlib.config import Config
from nstlib.images import load_pil
from nstlib.run.batching import batch_key
from nstlib.run.memory import batch_budget, bytes_per_sample, level_shapes
from nstlib.sweep.spec import Point


def probe(config: Config, cache: dict[str, Any]) -> tuple[int, int] | None:
    """The content image's (H, W), after checking every image of the point decodes; None if one does not."""
    for _, path in config.image_paths():
        if path not in cache:
            try:
                w, h = load_pil(path).size
                cache[path] = (h, w)
            except Exception:
                cache[path] = None
        if cache[path] is None:
            return None
    result: tuple[int, int] = cache[config.content]
    return result


def make_groups(
    points: Sequence[Point], batch: bool = True, budget: int | None = None, min_groups: int = 1
) -> list[list[Point]]:
    """Compatible points (equal batch_key and content size) in batches capped by the memory budget.

    `min_groups` splits batches further so that at least that many tasks exist (dask workers)."""
    if not batch:
        return [[p] for p in points]
    cache: dict[str, Any] = {}
    by_key: dict[Any, list[Point]] = {}
    sizes: dict[Any, tuple[int, int]] = {}
    for p in points:
        hw = probe(p.config, cache)
        key: Any = ("alone", p.number) if hw is None else (batch_key(p.config), tuple(level_shapes(p.config, hw)))
        by_key.setdefault(key, []).append(p)
        if hw is not None:
            sizes[key] = hw
    groups = []
    for key, members in by_key.items():
        cap = len(members)
        if key in sizes:
            need = bytes_per_sample(members[0].config, sizes[key])
            cap = max(1, min(cap, (budget if budget is not None else batch_budget(members[0].config)) // need))
        if min_groups > 1:
            cap = min(cap, max(1, math.ceil(len(members) / min_groups)))
        groups += [members[i : i + cap] for i in range(0, len(members), cap)]
    return groups
