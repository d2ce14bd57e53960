"""Engines run a sweep's points: in this process (batched), as papermill notebooks, or as dask tasks.

An engine is a function `(points, folder, options) → None` that calls `folder.start` and
`folder.done` for every point; a new engine is one function here plus its entry in ENGINES.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nstlib.config import Config, from_dict
from nstlib.errors import UserError
from nstlib.record.runs import RunFolder
from nstlib.run.memory import CPU_MEMORY_FRACTION, batch_budget
from nstlib.sweep.folder import PointState, SweepFolder, read_point
from nstlib.sweep.plan import make_groups
from nstlib.sweep.spec import Point, one_line


@dataclass
class EngineOptions:
    batch: bool = True  # inprocess and dask: batch compatible points through VGG
    notebook: Path | None = None  # papermill: the notebook each point executes
    client: Any = None  # dask: a connected Client


Engine = Callable[[list[Point], SweepFolder, EngineOptions], None]


def error_text(e: BaseException) -> str:
    return one_line(f"{e.__class__.__name__}: {e}")


def _failed(path: Path, config: dict[str, Any], error: str, started: float) -> PointState:
    return PointState.of(RunFolder.mark_failed(path, config, error, time.time() - started))


def _quiet(config: Config, mode: str = "none") -> dict[str, Any]:
    """The config dict a point runs with: no tqdm bar inside a sweep ("auto" becomes `mode`)."""
    d = config.to_dict()
    if d["progress"] == "auto":
        d["progress"] = mode
    return d


# ---- one group of points (in this process or in a dask worker) ----------------------------------------
def run_group(
    configs: list[dict[str, Any]],
    run_dirs: list[str],
    labels: list[str] | None = None,
    hparams: list[dict[str, Any]] | None = None,
) -> list[PointState]:
    """Run points (config dicts) into their folders, batched if several; one state per point.

    `hparams` (each point's axis values) go to TensorBoard's HPARAMS tab with the point's final losses and metrics.
    """
    states = _run_group(configs, run_dirs, labels)
    for config, folder, params, state in zip(configs, run_dirs, hparams or [], states):
        log_hparams(config, Path(folder), params, state)
    return states


def log_hparams(config: dict[str, Any], folder: Path, params: dict[str, Any], state: PointState) -> None:
    """A point's axis values, final losses and metrics for TensorBoard, when its run logs there."""
    from nstlib.record.tblog import available, write_hparams

    if params and config.get("tensorboard") and available() and folder.is_dir():
        with contextlib.suppress(OSError):  # a full disk: the run record already says what happened
            write_hparams(folder, params, state.final_losses, state.metrics)


def _run_group(configs: list[dict[str, Any]], run_dirs: list[str], labels: list[str] | None) -> list[PointState]:
    """run_group without the hparams.

    A batch that fails as a whole (e.g. one unreadable image) is rerun point by point, so one bad
    point cannot take the others down. Never raises for a point's failure (KeyboardInterrupt excepted).
    """
    from nstlib.run.transfer import transfer_batch

    dirs = [Path(d) for d in run_dirs]
    if len(configs) > 1:
        started = time.time()
        try:
            results = transfer_batch([from_dict(c) for c in configs], run_dirs=dirs, labels=labels)
            return [
                read_point(d)
                or PointState(
                    r.status, r.reason or "", round(time.time() - started, 3), r.final_losses, r.iterate_losses
                )
                for d, r in zip(dirs, results)
            ]
        except KeyboardInterrupt:
            raise
        except Exception as e:
            print(f"batch of {len(configs)} failed ({error_text(e)}); running its points one by one", flush=True)
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
    return [_run_one(c, d) for c, d in zip(configs, dirs)]


def _run_one(config: dict[str, Any], run_dir: Path) -> PointState:
    from nstlib.run.transfer import transfer

    started = time.time()
    try:
        result = transfer(from_dict(config), run_dir=run_dir)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        return _failed(run_dir, config, error_text(e), started)
    return read_point(run_dir) or PointState(
        result.status, result.reason or "", round(time.time() - started, 3), result.final_losses, result.iterate_losses
    )


# ---- engines ------------------------------------------------------------------------------------------
def run_inprocess(points: list[Point], folder: SweepFolder, options: EngineOptions) -> None:
    for group in make_groups(points, options.batch):
        folder.start(group)
        # progress "auto" becomes a text line every log_every steps: alive, and log-friendly
        states = run_group(
            [_quiet(p.config, "text") for p in group],
            [str(folder.path(p)) for p in group],
            [p.label for p in group],
            [p.params for p in group],
        )
        for p, state in zip(group, states):
            folder.done(p, state)


def run_video(points: list[Point], folder: SweepFolder, options: EngineOptions) -> None:
    """A video sweep's points (sweep/video.py), one after another in this process: a video run each."""
    from nstlib.run.video_transfer import stylize_video

    for p in points:
        path = folder.path(p)
        unfinished = (path / "config.json").is_file()  # kept by prepare: an interrupted run of this point
        folder.start([p])
        config = _quiet(p.config, "text")
        started = time.time()
        try:
            if unfinished:  # from its last finished frame
                stylize_video(resume=path)
            else:
                stylize_video(from_dict(config), p.video, run_dir=path)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # a bad clip, a frame that failed: its record says failed (or is written here)
            state = _failed(path, config, error_text(e), started)
        else:
            state = read_point(path) or _failed(path, config, "the video run left no record", started)
        log_hparams(config, path, p.params, state)
        folder.done(p, state)


def run_papermill(points: list[Point], folder: SweepFolder, options: EngineOptions) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    assert options.notebook is not None
    for p in points:
        folder.start([p])
        path = folder.path(p)
        path.mkdir(parents=True, exist_ok=True)
        config = _quiet(p.config, "text")
        started = time.time()
        try:
            pm.execute_notebook(
                str(options.notebook),
                str(path / "notebook.ipynb"),
                parameters={**config, "run_dir": str(path)},
                kernel_name="python3",
                progress_bar=False,
                cwd=os.getcwd(),
            )
        except PapermillExecutionError as e:
            state = _failed(path, config, one_line(f"{e.ename}: {e.evalue}"), started)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # no kernel, kernel died, unreadable notebook
            state = _failed(path, config, error_text(e), started)
        else:
            read = read_point(path)
            state = (
                read
                if read is not None and read.status != "running"
                else _failed(
                    path,
                    config,
                    "the notebook finished without completing the run "
                    "(does it call nstlib.transfer(config, run_dir=run_dir)?)",
                    started,
                )
            )
        log_hparams(config, path, p.params, state)
        folder.done(p, state)


def dask_client(scheduler: Any, workers: int, stack: contextlib.ExitStack) -> Any:
    """A dask Client: on `scheduler` (an address, a Cluster object such as SSHCluster or SLURMCluster, or a
    Client), else on a new LocalCluster of `workers` single-threaded processes (closed at the end)."""
    import importlib.util

    from dask.distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        if isinstance(scheduler, Client):
            return scheduler
        scheduler = getattr(scheduler, "scheduler_address", scheduler)
    if scheduler:
        try:
            return stack.enter_context(Client(scheduler, timeout="10s"))
        except (OSError, TimeoutError, ValueError) as e:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({error_text(e)})") from None
    dashboard = ":8787" if importlib.util.find_spec("bokeh") else None
    cluster = stack.enter_context(
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=dashboard)
    )
    return stack.enter_context(Client(cluster))


def _worker_budget(config: dict[str, Any]) -> int:
    """batch_budget on a worker (its own RAM or GPU), capped by the worker's dask memory limit."""
    budget = batch_budget(from_dict(config))
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except Exception:
        limit = None
    return min(budget, int(limit * CPU_MEMORY_FRACTION)) if limit else budget


def run_dask(points: list[Point], folder: SweepFolder, options: EngineOptions) -> None:
    from dask.distributed import as_completed

    client = options.client
    n_workers = len(client.scheduler_info().get("workers", {}))
    budget = None
    if points and n_workers:
        budget = min(client.run(_worker_budget, points[0].config.to_dict()).values())
    futures = {}
    for group in make_groups(points, options.batch, budget, min_groups=max(1, n_workers)):
        folder.start(group, "queued")
        configs = [{**p.config.portable(), "progress": _quiet(p.config)["progress"]} for p in group]
        future = client.submit(
            run_group,
            configs,
            [str(folder.path(p)) for p in group],
            [p.label for p in group],
            [p.params for p in group],
            pure=False,
            key=f"nst-sweep-{group[0].folder}-{uuid.uuid4().hex[:8]}",
        )
        futures[future] = group
    try:
        for future in as_completed(futures):
            group = futures[future]
            try:
                states = future.result()
            except Exception as e:  # the worker died (KilledWorker) or could not run the task
                states = [_failed(folder.path(p), p.config.to_dict(), error_text(e), time.time()) for p in group]
            for p, state in zip(group, states):
                folder.done(p, state)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


ENGINES: dict[str, Engine] = {"inprocess": run_inprocess, "papermill": run_papermill, "dask": run_dask}
