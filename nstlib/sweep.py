"""Parameter sweeps: a YAML file of axes → one folder of runs, an always-current index and a grid figure.

A sweep file::

    name: style_weight            # optional; default: the file's stem
    description: β from 1e-2 to 1e4
    base:                         # Config fields shared by every point (defaults: Config's)
      image_size: 256
      epochs: 100
    axes:                         # cartesian product, first axis slowest
      style_weight: [1e-2, 1e-1, 1, 1e1, 1e2, 1e4]
      init:                       # a value may be a mapping of several parameters
        - content
        - {init: noise, seed: 1}
    zip:                          # optional: varied together, one more axis (all lists equally long)
      lr: [0.5, 1.0]
      epochs: [200, 100]

`nst sweep FILE` makes `runs/<time>_sweep-<name>/` holding sweep.yaml (the resolved sweep), one
folder per point (`01_style_weight=0.01/`: the run's files; with the papermill engine also
notebook.ipynb), index.csv and index.jsonl (rewritten after every point) and grid.png/.pdf.
Every point is validated before anything is created or run. `--resume SWEEP_DIR` reruns exactly the
points whose config.json does not say "done".
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import math
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import yaml

from .cli import UserError, subcommand
from .config import (PROJECT_ROOT, Config, ConfigError, coerce, field_names, field_types, fields_by_name,
                     from_dict, is_url, parse_value, resolve_path, unknown_name_error)
from .files import atomic_write_text
from .runs import new_folder, read_json, slug, write_csv, write_json

ENGINES = ("inprocess", "papermill", "dask")
SWEEP_KEYS = ("name", "description", "base", "axes", "zip")
DEFAULT_NOTEBOOK = PROJECT_ROOT / "notebooks" / "style_transfer.ipynb"
LOSS_COLUMNS = ("total", "content", "style", "tv")

# Memory per batch sample, kept simple (see `bytes_per_sample`): pixels of the largest level ×
#  - VGG-19 activations kept for the backward pass and their gradients: measured 2.6–2.9 kB per pixel
#    (peak RSS, CPU, 256 px, batch 4 vs 1, fp32 and bf16); 4 kB leaves a margin;
#  - the L-BFGS history: 2·history vectors (s and y) of 3 fp32 values per pixel, 2·history·3·4 bytes
#    (2.4 kB at history 100, as measured); Adam: two moments, 24 bytes.
VGG_BYTES_PER_PIXEL = 4_000
CPU_MEMORY_FRACTION = 0.5   # of the available RAM
CUDA_MEMORY_FRACTION = 0.8  # of the free GPU memory (torch.cuda.mem_get_info)


# ---- the sweep definition ---------------------------------------------------------------------------
@dataclass
class Point:
    """One experiment of a sweep (number is 1-based, as printed and in folder names)."""

    number: int
    label: str                      # "style_weight=0.01" or "init=noise, seed=1"
    folder: str                     # "01_style_weight=0.01"
    params: dict[str, Any]          # the parameters its axis values set
    axis_labels: list[str]          # one value label per axis (for the grid)
    config: Config


@dataclass
class Sweep:
    name: str
    description: str
    base: dict[str, Any]            # every Config field (defaults filled in, --set applied)
    axes: dict[str, list[Any]]
    zip: dict[str, list[Any]]
    points: list[Point] = field(default_factory=list)
    axis_titles: list[str] = field(default_factory=list)
    axis_values: list[list[str]] = field(default_factory=list)  # value labels per axis ("0.01", "noise, seed=1")
    axis_pairs: list[list[str]] = field(default_factory=list)   # the same with names ("style_weight=0.01")

    @property
    def varied(self) -> list[str]:
        """The parameters set by the axes, in first-seen order (the index's parameter columns)."""
        names: list[str] = []
        for p in self.points:
            names += [k for k in p.params if k not in names]
        return names

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["base"] = self.base
        out["axes"] = self.axes
        if self.zip:
            out["zip"] = self.zip
        return out


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _yaml_error(source: str, e: yaml.YAMLError) -> UserError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or _one_line(str(e))
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return UserError(f"{source}: malformed YAML{where}: {_one_line(problem)}")


def load_sweep(source: str | os.PathLike | Mapping[str, Any], sets: Iterable[str] | Mapping[str, Any] = (),
               check_files: bool = True) -> Sweep:
    """Read, resolve and validate a sweep (a YAML file or a dict); every point is checked, nothing is created."""
    if isinstance(source, Mapping):
        data: Any = copy.deepcopy(dict(source))
        label, default_name = "sweep", "sweep"
    else:
        path = Path(source)
        label, default_name = str(source), path.stem
        if not path.is_file():
            raise UserError(f"{source}: sweep file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise _yaml_error(label, e) from None
        except UnicodeDecodeError:
            raise UserError(f"{source}: not a text (YAML) file") from None
    return resolve(data, sets, default_name, f"{label}: ", check_files)


def resolve(data: Any, sets: Iterable[str] | Mapping[str, Any] = (), default_name: str = "sweep",
            where: str = "", check_files: bool = True) -> Sweep:
    """The sweep of a parsed sweep file: base filled in, --set applied, every point built and validated
    (and its image files checked to exist, unless check_files is False)."""
    if not isinstance(data, dict):
        raise UserError(f"{where}expected a mapping with name, base and axes, got {type(data).__name__}")
    for key in data:
        if key not in SWEEP_KEYS:
            import difflib
            close = difflib.get_close_matches(str(key), SWEEP_KEYS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UserError(f"{where}unknown key {key!r}{hint}; a sweep file has {', '.join(SWEEP_KEYS)}")
    name = data.get("name") or default_name
    if not isinstance(name, str):
        raise UserError(f"{where}name: expected a string, got {name!r}")
    description = data.get("description") or ""
    base_raw = data.get("base") or {}
    if not isinstance(base_raw, dict):
        raise UserError(f"{where}base: expected a mapping of parameters, got {base_raw!r}")
    axes_raw = data.get("axes") or {}
    zip_raw = data.get("zip") or {}
    for key, value in (("axes", axes_raw), ("zip", zip_raw)):
        if not isinstance(value, dict):
            raise UserError(f"{where}{key}: expected a mapping of name → list of values, got {value!r}")
        for axis, values in value.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"{where}{key}.{axis}: expected a non-empty list of values, got {values!r}")
    if not axes_raw and not zip_raw:
        raise UserError(f"{where}axes: empty; give at least one parameter with a list of values")
    if zip_raw and len({len(v) for v in zip_raw.values()}) > 1:
        lengths = ", ".join(f"{k}: {len(v)}" for k, v in zip_raw.items())
        raise UserError(f"{where}zip: lists of unequal length ({lengths})")

    # base: every field, defaults filled in, then the --set overrides
    known = set(field_names())
    for key in base_raw:
        if key not in known:
            raise unknown_name_error(key, f"{where}base: ")
    base = {**Config().to_dict(), **{k: _coerce_base(k, v, where) for k, v in base_raw.items()}}
    axis_params = _axis_parameters(axes_raw, zip_raw)
    for key, value in _parse_sets(sets).items():
        if key in axis_params:
            raise UserError(f"--set {key}: {key} is an axis of this sweep; edit the sweep file instead")
        base[key] = value

    # the axes: each a list of (params, value label) in order
    axes: list[tuple[str, list[tuple[dict[str, Any], str]]]] = []
    for axis, values in axes_raw.items():
        axes.append((str(axis), [_axis_value(str(axis), v, f"{where}axes") for v in values]))
    if zip_raw:
        columns = [[_axis_value(str(k), v, f"{where}zip") for v in values] for k, values in zip_raw.items()]
        combined = []
        for row in zip(*columns):
            params: dict[str, Any] = {}
            for p, _ in row:
                _merge(params, p, f"{where}zip: ")
            combined.append((params, ", ".join(_pairs(p) for p, _ in row)))
        axes.append((", ".join(map(str, zip_raw)), combined))

    sweep = Sweep(name, str(description), base, _coerced_axes(axes_raw), _coerced_axes(zip_raw))
    sweep.axis_titles = [title for title, _ in axes]
    sweep.axis_values = [[label for _, label in values] for _, values in axes]
    sweep.axis_pairs = [[_pairs(params) for params, _ in values] for _, values in axes]
    used_folders: set[str] = set()
    combos = list(itertools.product(*[values for _, values in axes]))
    width = max(2, len(str(len(combos))))
    for number, combo in enumerate(combos, start=1):
        params = {}
        for p, _ in combo:
            _merge(params, p, f"{where}point {number}: ")
        label = ", ".join(_pairs(p) for p, _ in combo)
        config = from_dict({**base, **params}, where=f"{where}point {number} ({label}): ")
        if check_files:
            _check_files(config, f"{where}point {number} ({label}): ")
        folder = f"{number:0{width}d}_{slug(label.replace(', ', '__'), limit=80)}"
        assert folder not in used_folders
        used_folders.add(folder)
        sweep.points.append(Point(number, label, folder, params, [lbl for _, lbl in combo], config))
    return sweep


def _coerce_base(name: str, value: Any, where: str) -> Any:
    try:
        return coerce(name, value, field_types()[name])
    except ConfigError as e:
        raise ConfigError(f"{where}base: {e}") from None


def _axis_parameters(axes: dict, zipped: dict) -> set[str]:
    names = set()
    for axis, values in [*axes.items(), *zipped.items()]:
        for v in values:
            names |= set(v) if isinstance(v, dict) else {axis}
    return names


def _parse_sets(sets: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(sets, Mapping):
        items = [(k, v) for k, v in sets.items()]
    else:
        items = []
        for text in sets:
            name, eq, value = str(text).partition("=")
            if not eq or not name.strip():
                raise UserError(f"--set {text!r}: expected name=value, e.g. --set image_size=128")
            items.append((name.strip(), value))
    out = {}
    for name, value in items:
        try:
            out[name] = parse_value(name, value) if isinstance(value, str) else _coerce_base(name, value, "")
        except ConfigError as e:
            raise ConfigError(f"--set: {e}") from None
    return out


def _axis_value(axis: str, value: Any, where: str) -> tuple[dict[str, Any], str]:
    """(parameters, value label) of one axis value: a value of the parameter `axis`, or a mapping."""
    if isinstance(value, dict):
        if not value:
            raise UserError(f"{where}.{axis}: empty mapping as a value")
        for key in value:
            if key not in fields_by_name():
                raise unknown_name_error(str(key), f"{where}.{axis}: ")
        params = dict(value)
        if axis in params:  # {init: noise, seed: 1} on the axis `init` → "noise, seed=1"
            rest = {k: v for k, v in params.items() if k != axis}
            label = ", ".join([format_value(axis, params[axis])] + ([_pairs(rest)] if rest else []))
        else:
            label = _pairs(params)
        return params, label
    if axis not in fields_by_name():
        error = unknown_name_error(axis, f"{where}: ")
        raise ConfigError(f"{error}; an axis whose values are mappings of parameters may have any name")
    return {axis: value}, format_value(axis, value)


def _merge(params: dict[str, Any], new: dict[str, Any], where: str) -> None:
    for key, value in new.items():
        if key in params:
            raise UserError(f"{where}parameter {key!r} is set by two axes")
        params[key] = value


def _pairs(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(k, v)}" for k, v in params.items())


def _coerced_axes(axes: dict[str, list]) -> dict[str, list]:
    """Axis values as the types Config gives them (YAML reads 1e-2 as a string), for sweep.yaml."""
    out = {}
    for axis, values in axes.items():
        out[str(axis)] = [{k: _try_coerce(k, v) for k, v in value.items()} if isinstance(value, dict)
                          else _try_coerce(str(axis), value) for value in values]
    return out


def _try_coerce(name: str, value: Any) -> Any:
    try:
        return coerce(name, value, field_types()[name])
    except (ConfigError, KeyError):
        return value


def format_value(name: str, value: Any) -> str:
    """A short, exact label: 0.01, 1e4, relu4_2, starry_swirls (the stem of an image path)."""
    value = _try_coerce(name, value)
    is_path = bool(fields_by_name().get(name) and fields_by_name()[name].metadata.get("path"))
    if name == "init" and isinstance(value, str) and value not in ("content", "style", "noise"):
        is_path = True
    if isinstance(value, list):
        return ("+" if is_path else ",").join(_format_scalar(v, is_path) for v in value) or "[]"
    return _format_scalar(value, is_path)


def _format_scalar(value: Any, is_path: bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, str) and is_path:
        return _stem(value)
    return str(value)


def _stem(path: Any) -> str:
    return Path(str(path).split("?")[0]).stem or str(path)


def _format_float(v: float) -> str:
    if not math.isfinite(v) or v == 0:
        return f"{v:g}"
    for p in range(1, 18):
        text = f"{v:.{p}g}"
        if float(text) == v:
            break
    mantissa, e, exponent = text.partition("e")
    compact = f"{mantissa}e{int(exponent)}" if e else text
    plain = np.format_float_positional(v, trim="-")
    return plain if len(plain) <= len(compact) else compact


def _check_files(config: Config, where: str) -> None:
    """Image files must exist before a sweep starts (whether they decode is only known at run time)."""
    paths = [("content", config.content)] + [("style", s) for s in config.style]
    if config.init not in ("content", "style", "noise"):
        paths.append(("init", config.init))
    for param, path in paths:
        if not is_url(path) and not Path(resolve_path(path)).exists():
            raise ConfigError(f"{where}{param}: {path}: file not found")


# ---- running ------------------------------------------------------------------------------------------
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


def sweep(source: str | os.PathLike | Mapping[str, Any] | None = None, *, set: Iterable[str] | Mapping[str, Any] = (),
          engine: str | None = None, resume: str | os.PathLike | None = None, batch: bool = True,
          scheduler: Any = None, workers: int = 2, notebook: str | os.PathLike | None = None,
          verbose: bool = True) -> SweepResult:
    """Run a sweep (a YAML file or a dict) and return its folder and index rows.

    `set` overrides base parameters ("name=value" strings or a dict); `engine` is "inprocess" (compatible
    points batched through VGG unless batch=False; the default), "papermill" (each point executes
    `notebook`) or "dask" (points as tasks on a LocalCluster of `workers` processes, or on `scheduler`:
    an address, a Cluster object or a Client; implies "dask"); `resume` is a sweep folder whose
    unfinished or failed points are rerun. Bad input raises ConfigError/UserError before anything is
    created. Prints one line per finished point unless verbose=False.
    """
    engine = engine or ("dask" if scheduler is not None else "inprocess")
    if engine not in ENGINES:
        raise UserError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if scheduler is not None and engine != "dask":
        raise UserError(f"--scheduler needs the dask engine, not {engine!r}")
    say = print if verbose else (lambda *a, **k: None)
    if resume is not None:
        folder = Path(resume)
        saved = folder / "sweep.yaml"
        if not saved.is_file():
            raise UserError(f"--resume {resume}: no sweep.yaml there; is it a sweep folder?")
        spec = load_sweep(saved)
        if source is not None or set:
            other = load_sweep(source if source is not None else spec.to_dict(), set)
            if other.to_dict() != spec.to_dict():
                raise UserError(f"--resume {resume}: the sweep given differs from the saved sweep.yaml; "
                                "resume without FILE and --set, or start a new sweep")
    else:
        if source is None:
            raise UserError("give a sweep FILE (see sweeps/) or --resume SWEEP_DIR")
        spec = load_sweep(source, set)
    nb = Path(notebook) if notebook else DEFAULT_NOTEBOOK
    if engine == "papermill":
        if not nb.is_file():
            raise UserError(f"papermill engine: notebook {nb} not found")
        _require("papermill", "pip install papermill ipykernel")
    if engine == "dask":
        _require("distributed", "pip install 'dask[distributed]'")

    with contextlib.ExitStack() as stack:
        client = _dask_client(scheduler, workers, stack) if engine == "dask" else None  # connect before creating
        if resume is None:
            runs_dir = spec.base["runs_dir"]
            runs_dir = runs_dir if Path(runs_dir).is_absolute() else resolve_path(runs_dir)
            folder = new_folder(runs_dir, f"sweep-{spec.name}")
            text = yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None)
            atomic_write_text(folder / "sweep.yaml",
                              f"# NST Lab sweep, resolved (every base parameter). Resume: nst sweep --resume {folder}\n"
                              + text)
        folder = folder.resolve()
        run = _SweepRun(spec, folder, say)
        todo = run.prepare(resume is not None)
        say(f"sweep {spec.name}: {len(spec.points)} points in {folder}"
            + (f" ({len(spec.points) - len(todo)} already done)" if resume is not None else "")
            + (f", engine {engine}" if engine != "inprocess" else ""))
        try:
            if engine == "inprocess":
                _run_inprocess(todo, run, batch)
            elif engine == "papermill":
                _run_papermill(todo, run, nb)
            else:
                _run_dask(todo, run, batch, client)
        except KeyboardInterrupt:
            run.interrupted()
            say(f"interrupted; resume with: nst sweep --resume {folder}", file=sys.stderr)
            raise
        try:
            run.grid()
        except Exception as e:  # the runs and the index are what matter; say so and go on
            say(f"warning: grid figure not written ({_error_text(e)})", file=sys.stderr)
    result = SweepResult(folder, run.rows())
    bad = len(result.failed)
    say(f"{len(result.rows) - bad} done, {bad} failed: {folder}" if bad else f"all {len(result.rows)} done: {folder}")
    return result


def _require(module: str, hint: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"the {module} package is needed for this engine: {hint}")


class _SweepRun:
    """The sweep folder's state: one record per point, the index files and the progress lines."""

    def __init__(self, spec: Sweep, folder: Path, say: Callable[..., None]):
        self.spec, self.folder, self.say = spec, folder, say
        self.records: dict[int, dict[str, Any]] = {p.number: _pending() for p in spec.points}
        self.finished = 0

    def path(self, point: Point) -> Path:
        return self.folder / point.folder

    def prepare(self, resuming: bool) -> list[Point]:
        """The points to run; on resume, done points are kept and the others' folders cleared."""
        todo = []
        for p in self.spec.points:
            record = _folder_record(self.path(p)) if resuming else None
            if record is not None and record["status"] == "done":
                self.records[p.number] = record
                self.finished += 1
                continue
            if self.path(p).exists():
                shutil.rmtree(self.path(p))
            todo.append(p)
        self.write_index()
        return todo

    def start(self, points: Sequence[Point], status: str = "running") -> None:
        for p in points:
            self.records[p.number] = {**_pending(), "status": status}
        self.write_index()
        if len(points) > 1 and status == "running":
            self.say(f"running {len(points)} points as one batch: {'; '.join(p.label for p in points)}", flush=True)

    def done(self, point: Point, record: dict[str, Any]) -> None:
        self.records[point.number] = record
        self.finished += 1
        self.write_index()
        wall = record.get("wall_time_s")
        line = f"[{self.finished}/{len(self.spec.points)}] {point.label} {record['status']}"
        line += f" {wall:.1f} s" if isinstance(wall, (int, float)) else ""
        if record["status"] != "done" and record.get("error"):
            line += f": {record['error']}"
        self.say(line, flush=True)

    def interrupted(self) -> None:
        for p in self.spec.points:
            if self.records[p.number]["status"] in ("running", "queued"):
                self.records[p.number] = _folder_record(self.path(p)) or {**_pending(), "status": "interrupted"}
        self.write_index()

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for p in self.spec.points:
            r = self.records[p.number]
            losses = r.get("final_losses") or {}
            row: dict[str, Any] = {"point": p.number, "label": p.label}
            row.update({k: getattr(p.config, k) for k in self.spec.varied})
            row.update(status=r["status"], error=r.get("error") or "", wall_time_s=r.get("wall_time_s"))
            row.update({f"final_{k}": losses.get(k) for k in LOSS_COLUMNS})
            row.update(folder=p.folder, final_losses=losses)
            rows.append(row)
        return rows

    def write_index(self) -> None:
        rows = self.rows()
        flat = []
        for row in rows:
            flat.append({k: (",".join(map(str, v)) if isinstance(v, list) else "" if v is None else v)
                         for k, v in row.items() if k != "final_losses"})
        write_csv(self.folder / "index.csv", flat)
        atomic_write_text(self.folder / "index.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in rows))

    def grid(self) -> None:
        from .figures import grid, save_figure

        done = {p.number for p in self.spec.points if self.records[p.number]["status"] == "done"}
        save_figure(grid(**grid_inputs(self.spec, self.folder, done)), self.folder / "grid.png", formats=("png", "pdf"))


def grid_inputs(spec: Sweep | None, folder: str | os.PathLike, done: set[int] | None = None) -> dict[str, Any]:
    """Arguments of figures.grid for a sweep folder: one axis → one row; two → rows × columns; more →
    rows = the first axis, columns = the others combined. Points not done (or without final.png) are None."""
    from .images import load_pil

    folder = Path(folder)
    if spec is None:
        if not (folder / "sweep.yaml").is_file():
            raise UserError(f"{folder}: no sweep.yaml; not a sweep folder")
        spec = load_sweep(folder / "sweep.yaml", check_files=False)
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
        final = folder / p.folder / "final.png"
        ok = (p.number in done) if done is not None else (_folder_record(folder / p.folder) or {}).get("status") == "done"
        image = None
        if ok and final.is_file():
            with contextlib.suppress(Exception):
                image = np.asarray(load_pil(str(final)))
        cells[i // len(cols)][i % len(cols)] = image
    title = spec.name + (f": {spec.description}" if spec.description else "")
    return {"cells": cells, "row_labels": rows, "col_labels": cols, "row_title": row_title, "col_title": col_title,
            "title": title}


def _pending() -> dict[str, Any]:
    return {"status": "pending", "error": None, "wall_time_s": None, "final_losses": {}}


def _folder_record(path: Path) -> dict[str, Any] | None:
    """What a point folder's config.json says (None if there is none or it is unreadable)."""
    try:
        info = read_json(path / "config.json")
    except (OSError, ValueError):
        return None
    return {"status": info.get("status") or "failed", "error": info.get("reason"),
            "wall_time_s": info.get("wall_time_s"), "final_losses": info.get("final_losses") or {}}


def _failed(path: Path, config: dict[str, Any], error: str, started: float) -> dict[str, Any]:
    """Record a failure in the point's config.json too, unless transfer already did."""
    wall = round(time.time() - started, 3)
    record = _folder_record(path)
    if record is None or record["status"] in ("running", "done"):
        path.mkdir(parents=True, exist_ok=True)
        info = {}
        with contextlib.suppress(OSError, ValueError):
            info = read_json(path / "config.json")
        info.update({"status": "failed", "reason": error, "wall_time_s": info.get("wall_time_s") or wall})
        info.setdefault("config", config)
        write_json(path / "config.json", info)
    return {"status": "failed", "error": error, "wall_time_s": (record or {}).get("wall_time_s") or wall,
            "final_losses": {}}


def _error_text(e: BaseException) -> str:
    return _one_line(f"{e.__class__.__name__}: {e}")


# ---- one group of points (in this process or in a dask worker) ----------------------------------------
def run_group(configs: list[dict[str, Any]], run_dirs: list[str]) -> list[dict[str, Any]]:
    """Run points (config dicts) into their folders, batched if several; one record per point.

    A batch that fails as a whole (e.g. one unreadable image) is rerun point by point, so one bad
    point cannot take the others down. Never raises for a point's failure (KeyboardInterrupt excepted).
    """
    from .transfer import transfer_batch

    dirs = [Path(d) for d in run_dirs]
    if len(configs) > 1:
        started = time.time()
        try:
            results = transfer_batch([from_dict(c) for c in configs], run_dirs=dirs)
            return [_folder_record(d) or {"status": r.status, "error": r.reason, "final_losses": r.final_losses,
                                          "wall_time_s": round(time.time() - started, 3)}
                    for d, r in zip(dirs, results)]
        except KeyboardInterrupt:
            raise
        except Exception as e:
            print(f"batch of {len(configs)} failed ({_error_text(e)}); running its points one by one", flush=True)
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
    return [_run_one(c, d) for c, d in zip(configs, dirs)]


def _run_one(config: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    from .transfer import transfer

    started = time.time()
    try:
        result = transfer(from_dict(config), run_dir=run_dir)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        return _failed(run_dir, config, _error_text(e), started)
    return _folder_record(run_dir) or {"status": result.status, "error": result.reason,
                                       "final_losses": result.final_losses,
                                       "wall_time_s": round(time.time() - started, 3)}


def _quiet(config: Config, mode: str = "none") -> dict[str, Any]:
    """The config dict a point runs with: no tqdm bar inside a sweep ("auto" becomes `mode`)."""
    d = config.to_dict()
    if d["progress"] == "auto":
        d["progress"] = mode
    return d


# ---- grouping compatible points into batches ------------------------------------------------------------
def _probe(config: Config, cache: dict[str, Any]) -> tuple[int, int] | None:
    """The content image's (H, W), after checking every image of the point decodes; None if one does not."""
    from .images import load_pil

    paths = [config.content, *config.style]
    if config.init not in ("content", "style", "noise"):
        paths.append(config.init)
    for path in paths:
        if path not in cache:
            try:
                w, h = load_pil(path).size
                cache[path] = (h, w)
            except Exception:
                cache[path] = None
        if cache[path] is None:
            return None
    return cache[config.content]


def level_shapes(config: Config, content_hw: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    from .images import scaled_size

    return tuple(scaled_size(*content_hw, size) for size in config.level_sizes)


def bytes_per_sample(config: Config, content_hw: tuple[int, int]) -> int:
    """Rough memory of one batch sample: pixels of the largest level × (VGG activations + optimizer state)."""
    pixels = max(h * w for h, w in level_shapes(config, content_hw))
    state = 2 * config.history * 3 * 4 if config.optimizer == "lbfgs" else 2 * 3 * 4
    return pixels * (VGG_BYTES_PER_PIXEL + state)


def memory_budget(config: Config) -> int:
    """Bytes a batch may use: 80% of the free GPU memory on CUDA, else half the available RAM."""
    from .device import resolve_device

    device = resolve_device(config.device)
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free * CUDA_MEMORY_FRACTION)
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(available * CPU_MEMORY_FRACTION)


def make_groups(points: Sequence[Point], batch: bool = True, budget: int | None = None,
                min_groups: int = 1) -> list[list[Point]]:
    """Compatible points (equal batch_key and content size) in batches capped by the memory budget.

    `min_groups` splits batches further so that at least that many tasks exist (dask workers)."""
    from .transfer import batch_key

    if not batch:
        return [[p] for p in points]
    cache: dict[str, Any] = {}
    by_key: dict[Any, list[Point]] = {}
    sizes: dict[Any, tuple[int, int]] = {}
    for p in points:
        hw = _probe(p.config, cache)
        key = ("alone", p.number) if hw is None else (batch_key(p.config), level_shapes(p.config, hw))
        by_key.setdefault(key, []).append(p)
        if hw is not None:
            sizes[key] = hw
    groups = []
    for key, members in by_key.items():
        cap = len(members)
        if key in sizes:
            need = bytes_per_sample(members[0].config, sizes[key])
            cap = max(1, min(cap, (budget if budget is not None else memory_budget(members[0].config)) // need))
        if min_groups > 1:
            cap = min(cap, max(1, math.ceil(len(members) / min_groups)))
        groups += [members[i:i + cap] for i in range(0, len(members), cap)]
    return groups


# ---- engines ------------------------------------------------------------------------------------------
def _run_inprocess(points: list[Point], run: _SweepRun, batch: bool) -> None:
    for group in make_groups(points, batch):
        run.start(group)
        # progress "auto" (a tqdm bar) becomes a text line every log_every steps: alive, and log-friendly
        records = run_group([_quiet(p.config, "text") for p in group], [str(run.path(p)) for p in group])
        for p, record in zip(group, records):
            run.done(p, record)


def _run_papermill(points: list[Point], run: _SweepRun, notebook: Path) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    for p in points:
        run.start([p])
        folder = run.path(p)
        folder.mkdir(parents=True, exist_ok=True)
        config = _quiet(p.config, "text")
        started = time.time()
        try:
            pm.execute_notebook(str(notebook), str(folder / "notebook.ipynb"),
                                parameters={**config, "run_dir": str(folder)}, kernel_name="python3",
                                progress_bar=False, cwd=os.getcwd())
        except PapermillExecutionError as e:
            record = _failed(folder, config, _one_line(f"{e.ename}: {e.evalue}"), started)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # no kernel, kernel died, unreadable notebook
            record = _failed(folder, config, _error_text(e), started)
        else:
            record = _folder_record(folder)
            if record is None or record["status"] == "running":
                record = _failed(folder, config, "the notebook finished without completing the run "
                                 "(does it call nstlib.transfer(config, run_dir=run_dir)?)", started)
        run.done(p, record)


def _dask_client(scheduler: Any, workers: int, stack: contextlib.ExitStack):
    """A dask Client: on `scheduler` (an address, a Cluster object such as SSHCluster or SLURMCluster, or a
    Client), else on a new LocalCluster of `workers` single-threaded processes (closed at the end)."""
    from dask.distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        if isinstance(scheduler, Client):
            return scheduler
        scheduler = getattr(scheduler, "scheduler_address", scheduler)
    if scheduler:
        try:
            return stack.enter_context(Client(scheduler, timeout="10s"))
        except (OSError, TimeoutError, ValueError) as e:
            raise UserError(f"--scheduler {scheduler}: cannot connect ({_error_text(e)})") from None
    import importlib.util

    dashboard = ":8787" if importlib.util.find_spec("bokeh") else None
    cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=dashboard))
    return stack.enter_context(Client(cluster))


def _worker_budget(config: dict[str, Any]) -> int:
    """memory_budget on a worker (its own RAM or GPU), capped by the worker's dask memory limit."""
    budget = memory_budget(from_dict(config))
    try:
        from distributed import get_worker

        limit = get_worker().memory_manager.memory_limit
    except Exception:
        limit = None
    return min(budget, int(limit * CPU_MEMORY_FRACTION)) if limit else budget


def _portable(config: dict[str, Any]) -> dict[str, Any]:
    """Local relative image paths made absolute, for workers with another working directory."""
    def fix(path: str) -> str:
        if is_url(path) or Path(path).is_absolute():
            return path
        resolved = Path(resolve_path(path))
        return str(resolved.resolve()) if resolved.exists() else path

    config = dict(config)
    config["content"] = fix(config["content"])
    config["style"] = [fix(s) for s in config["style"]]
    if config["init"] not in ("content", "style", "noise"):
        config["init"] = fix(config["init"])
    return config


def _run_dask(points: list[Point], run: _SweepRun, batch: bool, client) -> None:
    from dask.distributed import as_completed

    n_workers = len(client.scheduler_info().get("workers", {}))
    budget = None
    if points and n_workers:
        budget = min(client.run(_worker_budget, points[0].config.to_dict()).values())
    groups = make_groups(points, batch, budget, min_groups=max(1, n_workers))
    futures = {}
    for group in groups:
        run.start(group, "queued")
        future = client.submit(run_group, [_portable(_quiet(p.config)) for p in group],
                               [str(run.path(p)) for p in group], pure=False,
                               key=f"nst-sweep-{group[0].folder}-{uuid.uuid4().hex[:8]}")
        futures[future] = group
    try:
        for future in as_completed(futures):
            group = futures[future]
            try:
                records = future.result()
            except Exception as e:  # the worker died (KilledWorker) or could not run the task
                records = [_failed(run.path(p), p.config.to_dict(), _error_text(e), time.time()) for p in group]
            for p, record in zip(group, records):
                run.done(p, record)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


# ---- the `nst sweep` subcommand -----------------------------------------------------------------------
def _configure(p: argparse.ArgumentParser) -> None:
    p.description = ("Run a sweep file (see sweeps/): the cartesian product of its axes, one run folder per "
                     "point inside one sweep folder, index.csv/index.jsonl after every point, grid.png at the "
                     "end. Exit 0 if every point succeeded, 1 if some failed, 2 for bad input.")
    p.add_argument("file", nargs="?", metavar="FILE", help="sweep YAML; optional with --resume")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a base parameter for every point (repeatable), e.g. --set image_size=128")
    p.add_argument("--engine", choices=ENGINES, default=None,
                   help="inprocess (default; compatible points batched), papermill (each point executes "
                        "notebooks/style_transfer.ipynb) or dask (points as tasks on a cluster)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler to use (tcp://host:8786); implies "
                                                          "--engine dask; default: a LocalCluster")
    p.add_argument("--workers", type=int, default=2, metavar="N", help="LocalCluster worker processes [default: 2]")
    p.add_argument("--resume", metavar="SWEEP_DIR", help="rerun the points of SWEEP_DIR not marked done")
    p.add_argument("--no-batch", dest="batch", action="store_false",
                   help="in-process/dask: run points one at a time instead of batching compatible ones")
    p.add_argument("--notebook", metavar="PATH", help=f"papermill engine: notebook to execute [default: "
                                                       f"{DEFAULT_NOTEBOOK.relative_to(PROJECT_ROOT)}]")


@subcommand("sweep", "run a parameter sweep from a YAML file (see sweeps/)", _configure)
def cmd_sweep(args: argparse.Namespace) -> int:
    engine = args.engine or ("dask" if args.scheduler else "inprocess")
    if args.workers < 1:
        raise UserError("--workers: must be >= 1")
    result = sweep(args.file, set=args.sets, engine=engine, resume=args.resume, batch=args.batch,
                   scheduler=args.scheduler, workers=args.workers, notebook=args.notebook)
    return 0 if result.ok else 1
