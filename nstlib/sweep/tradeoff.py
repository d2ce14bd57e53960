"""The trade-off view of a sweep folder: content distance (x) against style distance (y), one marker per point
done, labelled by its axis values, and the Pareto front (both minimised) as a step line (docs/metrics.md,
"Reading the trade-off view").

The style distance is the sweep's `tradeoff: {style: ...}`, by default the Gram distance (rank.py says why);
`thumbnails` puts each point's final.png beside its marker.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.errors import UserError, quoted
from nstlib.images import load_pil
from nstlib.record.figures import get_pyplot, save_figure
from nstlib.sweep.folder import PointState, is_sweep_folder, read_point, tradeoff_point
from nstlib.sweep.rank import CONTENT_METRIC, pareto_front
from nstlib.sweep.spec import Sweep, load_sweep

THUMB_SIDE = 48  # px, the longest side of a thumbnail
LOG_RANGE = 20  # an axis spanning more than this factor is drawn on a log scale


@dataclass
class TradeoffPoint:
    number: int
    label: str  # the axis values, short ("0.01", "noise, 1e3")
    x: float  # content distance
    y: float  # style distance
    pareto: bool
    final: Path  # its final.png


def tradeoff_points(
    folder: str | os.PathLike[str], spec: Sweep | None = None, states: dict[int, PointState] | None = None
) -> list[TradeoffPoint]:
    """The points done that have both distances, in sweep order, each marked on or off the Pareto front.

    `states` (point number → state) saves reading the run records when the caller has them."""
    folder = Path(folder)
    if spec is None:
        if not is_sweep_folder(folder):
            raise UserError(f"{quoted(folder)}: no sweep.yaml; not a sweep folder")
        spec = load_sweep(folder / "sweep.yaml", check_files=False, max_points=sys.maxsize)  # it ran already
    found = []
    for p in spec.points:
        state = states[p.number] if states is not None else read_point(folder / p.folder)
        xy = tradeoff_point(spec, state) if state is not None else None
        if xy is not None:
            found.append((p, xy))
    front = pareto_front([xy for _, xy in found])
    return [
        TradeoffPoint(p.number, ", ".join(p.axis_labels), x, y, on, folder / p.folder / "final.png")
        for (p, (x, y)), on in zip(found, front)
    ]


def tradeoff_figure(
    folder: str | os.PathLike[str],
    spec: Sweep | None = None,
    states: dict[int, PointState] | None = None,
    thumbnails: bool | None = None,
) -> Any:
    """The trade-off view of a sweep folder as a matplotlib Figure (thumbnails: the sweep file's setting if None)."""
    folder = Path(folder)
    if spec is None:
        spec = load_sweep(folder / "sweep.yaml", check_files=False, max_points=sys.maxsize)
    if spec.video is not None:
        raise UserError(f"{quoted(folder)}: a video sweep has no trade-off view (its runs score warping_error)")
    points = tradeoff_points(folder, spec, states)
    style = spec.tradeoff["style"]
    plt = get_pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    for on, kw in (
        (False, {"marker": "o", "facecolors": "none", "edgecolors": "tab:blue", "label": "dominated"}),
        (True, {"marker": "o", "color": "tab:red", "label": "Pareto front"}),
    ):
        group = [p for p in points if p.pareto == on]
        if group:
            ax.scatter([p.x for p in group], [p.y for p in group], s=36, zorder=3, gid=f"pareto={on}", **kw)
    front = sorted((p.x, p.y) for p in points if p.pareto)
    if len(front) > 1:  # what no point beats: each step holds a style distance until a point lowers it
        ax.step([x for x, _ in front], [y for _, y in front], where="post", color="tab:red", alpha=0.5, zorder=2)
    for axis, values in (("x", [p.x for p in points]), ("y", [p.y for p in points])):
        if values and min(values) > 0 and max(values) / min(values) > LOG_RANGE:
            getattr(ax, f"set_{axis}scale")("log")
    show_thumbnails = spec.tradeoff["thumbnails"] if thumbnails is None else thumbnails
    if show_thumbnails:
        ax.margins(0.15)  # room below and left of the points for the thumbnails
    _labels(ax, points)
    if show_thumbnails:
        _thumbnails(ax, points)
    ax.set_xlabel(f"{CONTENT_METRIC} (lower: closer to the content)")
    ax.set_ylabel(f"{style} (lower: closer to the style)")
    titles = ", ".join(spec.axis_titles)
    ax.set_title(f"{spec.name}: {len(points)} points" + (f" over {titles}" if titles else ""), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if points:
        ax.legend(fontsize=8, loc="best")
    return fig


def _labels(ax: Any, points: list[TradeoffPoint]) -> None:
    """Each point's label beside it, moved to another side where it would overprint a label placed already."""
    ax.autoscale_view()
    offsets = [(5, 4), (5, -11), (-5, 4), (-5, -11), (5, 14), (5, -21)]  # points; 10 pt a line at fontsize 8
    placed: list[tuple[float, float, float]] = []  # left, bottom, width in points
    for p in points:
        x, y = ax.transData.transform((p.x, p.y)) * 72 / ax.figure.dpi
        width = 5.0 * len(p.label)  # about 5 pt a character at fontsize 8
        for dx, dy in offsets:
            left, bottom = x + dx - (width if dx < 0 else 0), y + dy
            if all(left + width < pl or pl + pw < left or abs(bottom - pb) > 10 for pl, pb, pw in placed):
                break
        placed.append((left, bottom, width))
        ax.annotate(
            p.label,
            (p.x, p.y),
            textcoords="offset points",
            xytext=(dx, dy),
            fontsize=8,
            ha="right" if dx < 0 else "left",
        )


def _thumbnails(ax: Any, points: list[TradeoffPoint]) -> None:
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    for p in points:
        with contextlib.suppress(Exception):  # a missing or unreadable image only loses its thumbnail
            image = load_pil(str(p.final))
            image.thumbnail((THUMB_SIDE, THUMB_SIDE))
            box = AnnotationBbox(
                OffsetImage(np.asarray(image), zoom=1.0),
                (p.x, p.y),
                xybox=(-34, -30),  # below left: no point is there (it would dominate the front)
                boxcoords="offset points",
                frameon=True,
                pad=0.15,
                arrowprops={"arrowstyle": "-", "color": "0.6"},
            )
            ax.add_artist(box)


def save_tradeoff(
    folder: str | os.PathLike[str],
    spec: Sweep | None = None,
    states: dict[int, PointState] | None = None,
    thumbnails: bool | None = None,
) -> list[Path]:
    """tradeoff.png and tradeoff.pdf in the sweep folder; returns the files written (none for a video sweep,
    whose runs have no content and style distances)."""
    if spec is None:
        spec = load_sweep(Path(folder) / "sweep.yaml", check_files=False, max_points=sys.maxsize)
    if spec.video is not None:
        return []
    fig = tradeoff_figure(folder, spec, states, thumbnails)
    return save_figure(fig, Path(folder) / "tradeoff.png", formats=("png", "pdf"))
