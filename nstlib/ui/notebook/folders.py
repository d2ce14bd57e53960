"""Run and sweep folders as notebooks find and show them: the newest one, a run's panel and title."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nstlib.paths import DEFAULT_RUNS_DIR
from nstlib.record.runs import is_run_folder


def is_sweep_folder(path: Path) -> bool:
    return (path / "index.csv").is_file()


def newest_folder(runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR) -> Path:
    """The most recently modified run or sweep folder in `runs_dir`."""
    from nstlib.paths import resolve_output

    root = resolve_output(runs_dir)
    candidates = (
        [p for p in root.iterdir() if p.is_dir() and (is_run_folder(p) or is_sweep_folder(p))] if root.is_dir() else []
    )
    if not candidates:
        raise FileNotFoundError(f"{root}: no run or sweep folder yet; run style_transfer.ipynb or sweep.ipynb first")
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))


def run_panel(folder: str | os.PathLike, title: str = ""):
    """content | style(s) | result figure of a run folder (style images that are gone are left out)."""
    from nstlib.images import ImageError, load_pil
    from nstlib.record.figures import panel
    from nstlib.record.runs import RunRecord

    folder = Path(folder)
    record = RunRecord.read(folder)
    config = record.config if record is not None else {}
    images, titles = [], []
    sources = [("content", config.get("content"))] + [
        (f"style {i + 1}" if len(config.get("style", [])) > 1 else "style", s)
        for i, s in enumerate(config.get("style", []))
    ]
    for label, path in sources:
        if not path:
            continue
        try:
            pil = load_pil(path)
        except ImageError:
            continue
        pil.thumbnail((768, 768))
        images.append(np.asarray(pil))
        titles.append(label)
    images.append(np.asarray(load_pil(str(folder / "final.png"))))
    titles.append("result")
    fig = panel(images, titles)
    if title:
        fig.suptitle(title, fontsize=9, y=1.0 + 0.3 / fig.get_figheight())  # above the image titles
    return fig


def run_title(folder: Path) -> str:
    """A one-line summary of a run's main parameters, for figure titles."""
    from nstlib.record.runs import RunRecord

    record = RunRecord.read(folder)
    c = record.config if record is not None else {}
    keys = ("style_weight", "content_weight", "tv_weight", "optimizer", "epochs", "image_size", "init")
    return ", ".join(f"{k} {c[k]:g}" if isinstance(c.get(k), float) else f"{k} {c[k]}" for k in keys if k in c)
