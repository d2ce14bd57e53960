"""figures.ipynb: a run's panel and loss curves, or a sweep's grid and trade-off view, saved into <folder>/figures/."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nstlib.paths import DEFAULT_RUNS_DIR
from nstlib.record.runs import is_run_folder
from nstlib.ui.notebook.display import display, loss_rows
from nstlib.ui.notebook.folders import is_sweep_folder, newest_folder, run_panel, run_title
from nstlib.ui.notebook.parameters import project_path

FIGURE_FORMATS = ("png", "pdf")


def presentation_figures(
    folder: str | os.PathLike = "",
    runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
    formats: Sequence[str] = FIGURE_FORMATS,
    show: bool = True,
    **grid_options: Any,
) -> list[Path]:
    """Figures of a run folder (panel, loss curves) or a sweep folder (the grid, the trade-off view) into
    <folder>/figures/.

    An empty `folder` takes the newest run or sweep folder in `runs_dir`. Returns the files written.
    """
    from nstlib.record.figures import loss_curves, save_figure

    path = Path(project_path(str(folder))) if folder else newest_folder(runs_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder")
    out = path / "figures"
    out.mkdir(exist_ok=True)
    figures: list[tuple[str, Any]] = []
    if is_sweep_folder(path):
        from nstlib.sweep import grid_figure, tradeoff_figure

        figures.append(("grid", grid_figure(path, **grid_options)))
        figures.append(("tradeoff", tradeoff_figure(path)))
    elif is_run_folder(path):
        title = run_title(path)
        figures.append(("panel", run_panel(path, title)))
        figures.append(("loss_curves", loss_curves(loss_rows(path), title=path.name)))
    else:
        raise FileNotFoundError(
            f"{path}: neither a run folder (config.json, losses.csv) nor a sweep folder (index.csv)"
        )
    written: list[Path] = []
    print(f"{path}:")
    for name, fig in figures:
        if show:
            # render once for display before saving (save_figure closes the figure)
            from IPython.display import Image as IPImage

            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
            display(IPImage(data=buffer.getvalue(), format="png"))
        files = save_figure(fig, out / name, formats)
        written += files
        print("  wrote " + ", ".join(str(f.relative_to(path)) for f in files))
    return written
