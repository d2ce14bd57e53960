"""The grid figure of a sweep folder: its final.png images laid out over the sweep's axes."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.errors import UserError, quoted
from nstlib.images import load_pil
from nstlib.record.figures import grid
from nstlib.sweep.folder import read_point
from nstlib.sweep.spec import Sweep, load_sweep


def grid_inputs(spec: Sweep | None, folder: str | os.PathLike[str], done: set[int] | None = None) -> dict[str, Any]:
    """Arguments of figures.grid for a sweep folder: one axis → one row; two → rows × columns; more →
        rows = the first axis, columns = the others combined. Points not done (or without final.png; a video sweep's:
    its last stylised frame) are None."""
    folder = Path(folder)
    if spec is None:
        if not (folder / "sweep.yaml").is_file():
            raise UserError(f"{quoted(folder)}: no sweep.yaml; not a sweep folder")
        spec = load_sweep(folder / "sweep.yaml", check_files=False, max_points=sys.maxsize)  # it ran already
    titles, values, pairs = spec.axis_titles, spec.axis_values, spec.axis_pairs
    if len(titles) == 1:
        rows, cols, row_title, col_title = [""], values[0], "", titles[0]
    elif len(titles) == 2:
        rows, cols, row_title, col_title = values[0], values[1], titles[0], titles[1]
    else:
        rows, row_title, col_title = values[0], titles[0], ", ".join(titles[1:])
        cols = ["\n".join(combo) for combo in itertools.product(*pairs[1:])]
    cells: list[list[np.ndarray | None]] = [[None] * len(cols) for _ in rows]
    for i, p in enumerate(spec.points):  # points are in product order, the first axis slowest
        final = _image(folder / p.folder, spec.video is not None)
        if done is not None:
            ok = p.number in done
        else:
            state = read_point(folder / p.folder)
            ok = state is not None and state.status == "done"
        image = None
        if ok and final.is_file():
            with contextlib.suppress(Exception):
                image = np.asarray(load_pil(str(final)))
        cells[i // len(cols)][i % len(cols)] = image
    title = spec.name + (f": {spec.description}" if spec.description else "")
    return {
        "cells": cells,
        "row_labels": rows,
        "col_labels": cols,
        "row_title": row_title,
        "col_title": col_title,
        "title": title,
    }


def _image(point: Path, video: bool) -> Path:
    """A point's image in the grid: its final.png, or a video run's last stylised frame."""
    if not video:
        return point / "final.png"
    frames = sorted((point / "frames").glob("*.png"))
    return frames[-1] if frames else point / "frames" / "none.png"


def grid_figure(
    folder: str | os.PathLike[str], spec: Sweep | None = None, done: set[int] | None = None, **options: Any
) -> Any:
    """figures.grid of a sweep folder; `options` (labels, titles, cell size, missing text) override its own."""
    inputs = grid_inputs(spec, folder, done)
    inputs.update({k: v for k, v in options.items() if v})
    return grid(**inputs)
