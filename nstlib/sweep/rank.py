"""Judging a sweep's points by their run metrics (docs/metrics.md): the `rank:` of a sweep file, and the
Pareto front of content distance against style distance that the trade-off view draws and `search:` seeks.

Every judgement is a minimum: distances (and the edge score, the speckle) are better lower; SSIM and MS-SSIM,
better higher and at most 1, enter as 1 − value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nstlib.errors import UserError
from nstlib.record.metrics import METRIC_NAMES, STYLE_METRICS

HIGHER_IS_BETTER = ("ssim", "ms_ssim")
CONTENT_METRIC = "content_distance"
# The Gram distance is the paper's own measure of style (Gatys et al. 2016, Eq. 3-5), the one the default
# style loss optimises, so the trade-off view shows what the run was asked to trade; the other style
# metrics (mean/std, W2, colour) judge it from outside: `tradeoff: {style: w2_distance}` picks one.
DEFAULT_STYLE_METRIC = "gram_distance"
TRADEOFF_KEYS = ("style", "thumbnails")


def metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """A metric as a finite number to minimise (1 − value for SSIM and MS-SSIM); None if missing."""
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return 1.0 - float(value) if name in HIGHER_IS_BETTER else float(value)


def parse_rank(value: Any, where: str = "", names: Sequence[str] | None = None) -> dict[str, float]:
    """`rank:` of a sweep file: a metric name or a mapping metric → positive weight, as {metric: weight};
    `names`: the metrics the points have (default: final.png's, METRIC_NAMES)."""
    names = METRIC_NAMES if names is None else names
    if isinstance(value, str):
        value = {value: 1.0}
    if not isinstance(value, dict) or not value:
        raise UserError(f"{where}rank: expected a metric name or a mapping metric → weight, got {value!r}")
    weights = {}
    for name, weight in value.items():
        if name not in names:
            raise UserError(f"{where}rank: unknown metric {name!r}; choose from {', '.join(names)}")
        try:
            w = float(weight)
        except (TypeError, ValueError):
            w = math.nan
        if isinstance(weight, bool) or not math.isfinite(w) or w <= 0:
            raise UserError(f"{where}rank.{name}: expected a positive weight, got {weight!r}")
        weights[str(name)] = w
    return weights


def rank_score(metrics: Mapping[str, Any], weights: Mapping[str, float]) -> float | None:
    """Σ weight × metric (each metric as metric_value gives it); None if one of them is missing."""
    total = 0.0
    for name, weight in weights.items():
        value = metric_value(metrics, name)
        if value is None:
            return None
        total += weight * value
    return total


def ranks(scores: Sequence[float | None]) -> list[int | None]:
    """1 for the lowest score, 2 for the next, …; equal scores share a rank (1, 1, 3); None stays None."""
    known = sorted(s for s in scores if s is not None)
    first: dict[float, int] = {}
    for position, score in enumerate(known, start=1):
        first.setdefault(score, position)
    return [None if s is None else first[s] for s in scores]


def pareto_front(points: Sequence[tuple[float, float] | None]) -> list[bool]:
    """Which (x, y) points no other point dominates, both minimised (q dominates p: q ≤ p in both, < in one).

    Equal points are all on the front (none dominates another); None is never on it. O(n log n): sorted by x,
    a group of equal x is on the front where its lowest y beats every y of a smaller x."""
    order = sorted((p[0], p[1], i) for i, p in enumerate(points) if p is not None)
    front = [False] * len(points)
    best = math.inf
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and order[end][0] == order[start][0]:
            end += 1
        lowest = order[start][1]  # sorted by y within equal x
        if lowest < best:
            for _, y, i in order[start:end]:
                front[i] = y == lowest
            best = lowest
        start = end
    return front


def parse_tradeoff(value: Any, where: str = "") -> dict[str, Any]:
    """`tradeoff:` of a sweep file: {style: one of STYLE_METRICS, thumbnails: bool}, defaults filled in."""
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise UserError(f"{where}tradeoff: expected a mapping with {', '.join(TRADEOFF_KEYS)}, got {value!r}")
    for key in value:
        if key not in TRADEOFF_KEYS:
            raise UserError(f"{where}tradeoff: unknown key {key!r}; choose from {', '.join(TRADEOFF_KEYS)}")
    style = value.get("style", DEFAULT_STYLE_METRIC)
    if style not in STYLE_METRICS:
        raise UserError(
            f"{where}tradeoff.style: {style!r} is not a style metric; choose from {', '.join(STYLE_METRICS)}"
        )
    thumbnails = value.get("thumbnails", False)
    if not isinstance(thumbnails, bool):
        raise UserError(f"{where}tradeoff.thumbnails: expected true or false, got {thumbnails!r}")
    return {"style": style, "thumbnails": thumbnails}
