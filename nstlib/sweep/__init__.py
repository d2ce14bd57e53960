"""Parameter sweeps: a YAML file of axes → one folder of runs, an always-current index and a grid figure.

`nst sweep FILE` makes `runs/<time>_sweep-<name>/` holding sweep.yaml (the resolved sweep), one
folder per point (`01_style_weight=0.01/`: the run's files; with the papermill engine also
notebook.ipynb), index.csv and index.jsonl (rewritten after every point), grid.png/.pdf and tradeoff.png/.pdf.
`--resume SWEEP_DIR` reruns exactly the points whose config.json does not say "done" (a done point whose
recorded config differs from sweep.yaml is refused unless `--rerun-changed`).

Read top-down: `spec` (the file → points; `sampling` for sampled axes, `rank` for judging points by their
metrics), `plan` (batches within memory), `engines` (running them), `search` (an Optuna study choosing the
points), `video` (sweeps of video runs), `folder` (the sweep folder's state and index), `grid` and `tradeoff`
(the figures).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nstlib.errors import UserError, quoted
from nstlib.files import FolderLock, file_problem
from nstlib.interrupts import deferred_interrupts
from nstlib.paths import project_file, resolve_output
from nstlib.record.runs import new_folder
from nstlib.sweep.engines import ENGINES, EngineOptions, dask_client, error_text, run_video
from nstlib.sweep.folder import SweepFolder, save_spec
from nstlib.sweep.grid import grid_figure, grid_inputs
from nstlib.sweep.spec import MAX_POINTS, Point, Sweep, load_sweep
from nstlib.sweep.tradeoff import save_tradeoff, tradeoff_figure

DEFAULT_NOTEBOOK = "notebooks/style_transfer.ipynb"

__all__ = [
    "ENGINES",
    "DEFAULT_NOTEBOOK",
    "Point",
    "Sweep",
    "SweepResult",
    "grid_figure",
    "grid_inputs",
    "load_sweep",
    "save_tradeoff",
    "sweep",
    "tradeoff_figure",
]


@dataclass
class SweepResult:
    """The sweep's folder and its index rows (one per point, as in index.csv)."""

    folder: Path
    rows: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(r["status"] == "done" for r in self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "done"]


def sweep(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    set: Iterable[str] | Mapping[str, Any] = (),
    engine: str | None = None,
    resume: str | os.PathLike[str] | None = None,
    rerun_changed: bool = False,
    batch: bool = True,
    scheduler: Any = None,
    workers: int = 2,
    notebook: str | os.PathLike[str] | None = None,
    verbose: bool = True,
    max_points: int = MAX_POINTS,
    thumbnails: bool | None = None,
) -> SweepResult:
    """Run a sweep (a YAML file or a dict) and return its folder and index rows.

    `set` overrides base parameters ("name=value" strings or a dict); `engine` is "inprocess" (compatible
    points batched through VGG unless batch=False; the default), "papermill" (each point executes
    `notebook`) or "dask" (points as tasks on a LocalCluster of `workers` processes, or on `scheduler`:
    an address, a Cluster object or a Client; implies "dask"); `resume` is a sweep folder whose
    unfinished or failed points are rerun; a done point that ran with other parameters than its
    sweep.yaml now gives is refused, or rerun if `rerun_changed`. Bad input raises ConfigError/UserError
    before anything is created, as is a sweep of more than `max_points` points. Prints one line per
    finished point unless verbose=False. A sweep file with `search:` runs an Optuna study (search.py) whose
    trials are the points. `thumbnails` puts final.png thumbnails in tradeoff.png (None: the sweep file's
    `tradeoff.thumbnails`).
    """
    engine = engine or ("dask" if scheduler is not None else "inprocess")
    if engine not in ENGINES:
        raise UserError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if scheduler is not None and engine != "dask":
        raise UserError(f"--scheduler needs the dask engine, not {engine!r}")
    if workers < 1:
        raise UserError("--workers: must be >= 1")
    say: Any = print if verbose else (lambda *a, **k: None)
    spec = _spec(source, set, resume, max_points)
    if spec.video is not None and engine != "inprocess":
        raise UserError(f"engine {engine}: a video sweep runs its points in this process; leave out --engine")
    options = EngineOptions(batch=batch)
    if engine == "papermill":
        options.notebook = _notebook(notebook)
        _require("papermill", "pip install papermill ipykernel")
    if engine == "dask":
        _require("distributed", "pip install 'dask[distributed]'")

    with contextlib.ExitStack() as stack:
        if engine == "dask":  # connect before creating anything
            options.client = dask_client(scheduler, workers, stack)
        folder = Path(resume) if resume is not None else _new_sweep_folder(spec)
        # one process per sweep folder: a second `--resume` would clear the first one's running points
        stack.enter_context(FolderLock(folder, "this sweep"))
        state = SweepFolder(spec, folder.resolve(), say)
        todo = state.prepare(resume is not None, rerun_changed)
        search = spec.sampling.search if spec.sampling is not None else None
        say(
            f"sweep {spec.name}: "
            + (f"a search of {search['trials']} trials, {search['batch']} at a time" if search else "")
            + (f"{len(spec.points)} points" if not search else "")
            + f" in {state.folder}"
            + (f" ({len(spec.points) - len(todo)} already done)" if resume is not None else "")
            + (f", engine {engine}" if engine != "inprocess" else "")
        )
        try:
            if search:
                from nstlib.sweep.search import run_search

                spec = run_search(spec, state, todo, lambda points: ENGINES[engine](points, state, options), say)
            else:
                (run_video if spec.video is not None else ENGINES[engine])(todo, state, options)
        except KeyboardInterrupt:
            with deferred_interrupts():
                state.interrupted()
            say(f"interrupted; resume with: nst sweep --resume {state.folder}", file=sys.stderr)
            raise
        except OSError as e:  # the disk is full or read-only: say which points did not finish, if it still can
            with contextlib.suppress(OSError):
                state.failed_running(" ".join(f"{e.__class__.__name__}: {e}".split()))
            raise
        from nstlib.record.figures import save_figure

        done = {p.number for p in spec.points if state.states[p.number].status == "done"}
        figures = {
            "grid": lambda: save_figure(
                grid_figure(state.folder, spec, done), state.folder / "grid.png", formats=("png", "pdf")
            ),
            "trade-off": lambda: save_tradeoff(state.folder, spec, state.states, thumbnails),
        }
        for name, draw in figures.items():
            try:
                draw()
            except Exception as e:  # the runs and the index are what matter; say so and go on
                say(f"warning: {name} figure not written ({error_text(e)})", file=sys.stderr)
    result = SweepResult(state.folder, state.rows())
    bad = len(result.failed)
    say(
        f"{len(result.rows) - bad} done, {bad} failed: {state.folder}"
        if bad
        else f"all {len(result.rows)} done: {state.folder}"
    )
    return result


def _spec(
    source: str | os.PathLike[str] | Mapping[str, Any] | None,
    sets: Iterable[str] | Mapping[str, Any],
    resume: str | os.PathLike[str] | None,
    max_points: int,
) -> Sweep:
    if resume is None:
        if source is None:
            raise UserError("give a sweep FILE (see sweeps/) or --resume SWEEP_DIR")
        return load_sweep(source, sets, max_points=max_points)
    saved = Path(resume) / "sweep.yaml"
    if file_problem(saved) == "file not found":
        raise UserError(f"--resume {quoted(resume)}: no sweep.yaml there; is it a sweep folder?")
    spec = load_sweep(saved, max_points=max_points)
    if source is not None or sets:
        other = load_sweep(source if source is not None else spec.to_dict(), sets, max_points=max_points)
        if other.to_dict(drawn=False) != spec.to_dict(drawn=False):
            raise UserError(
                f"--resume {quoted(resume)}: the sweep given differs from the saved sweep.yaml; "
                "resume without FILE and --set, or start a new sweep"
            )
    return spec


def _new_sweep_folder(spec: Sweep) -> Path:
    folder = new_folder(resolve_output(spec.base["runs_dir"]), f"sweep-{spec.name}")
    save_spec(folder, spec)
    return folder


def _notebook(notebook: str | os.PathLike[str] | None) -> Path:
    path = Path(notebook) if notebook else project_file(DEFAULT_NOTEBOOK)
    if path is None:
        raise UserError(
            f"papermill engine: give --notebook (the default {DEFAULT_NOTEBOOK} comes with a source checkout)"
        )
    problem = file_problem(path)
    if problem is not None:
        raise UserError(f"papermill engine: notebook {quoted(path)}: {problem}")
    return path


def _require(module: str, hint: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"the {module} package is needed for this engine: {hint}")
