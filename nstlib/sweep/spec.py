"""A sweep file → a validated `Sweep`: base parameters, axes, and every point's Config.

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
    rank: {content_distance: 1, gram_distance: 2}   # optional: index.csv's rank (rank.py)
    tradeoff: {style: gram_distance, thumbnails: false}   # optional: the trade-off view (tradeoff.py)
    video:                        # optional: a video sweep (video.py), every point a video run of this clip;
      input: clip.mp4             # VideoConfig fields, and the axes and zip may name them too
      later_epochs: 30            # (axes: {temporal_weight: [0, 1e13]}); no trade-off view, rank: warping_error

An axis may be a distribution instead of a list (`{sample: log_uniform, low: 1e2, high: 1e6}`, sampling.py):
its values are drawn `samples:` times from `seed:`, or asked of an Optuna study by `search:` (search.py). The
values drawn are recorded in the sweep folder's sweep.yaml (`drawn:`), so a resume runs the same points.

Every point is validated (and its image files checked to exist) before anything is created or run.
"""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nstlib.config import (
    Config,
    coerce,
    field_names,
    field_types,
    fields_by_name,
    from_dict,
    parse_value,
)
from nstlib.errors import ConfigError, UserError, quoted
from nstlib.files import file_problem
from nstlib.paths import is_url, resolve_input
from nstlib.record.runs import slug
from nstlib.sweep.labels import format_value, pairs, try_coerce
from nstlib.sweep.rank import parse_rank, parse_tradeoff
from nstlib.sweep.sampling import Distribution, Sampling, is_distribution, parse_distribution, parse_sampling
from nstlib.sweep.video import (
    VIDEO_METRICS,
    check_video_sweep,
    coerce_video,
    config_params,
    is_video_name,
    parse_video,
    point_video,
    split_sets,
    unknown_name,
)
from nstlib.videoconfig import VideoConfig

SWEEP_KEYS = (
    *("name", "description", "base", "video", "axes", "zip", "samples", "seed", "search", "rank", "tradeoff", "drawn"),
)
MAX_POINTS = 1000  # a sweep above this is refused unless the limit is raised (every point is a folder)
MAX_YAML_VALUES = 100_000  # values a sweep file may hold once its aliases are expanded
MAX_YAML_DEPTH = 16


@dataclass
class Point:
    """One experiment of a sweep (number is 1-based, as printed and in folder names)."""

    number: int
    label: str  # "style_weight=0.01" or "init=noise, seed=1"
    folder: str  # "01_style_weight=0.01"
    params: dict[str, Any]  # the parameters its axis values set
    axis_labels: list[str]  # one value label per axis (for the grid)
    config: Config
    video: VideoConfig | None = None  # a video sweep's: what the point's video run does beside `config`

    def value(self, name: str) -> Any:
        """The value the point runs with of a Config or (in a video sweep) video parameter."""
        video = self.video is not None and is_video_name(name)
        return getattr(self.video if video else self.config, name)


@dataclass
class Sweep:
    name: str
    description: str
    base: dict[str, Any]  # every Config field (defaults filled in, --set applied)
    axes: dict[str, Any]  # a list of values, or a distribution's mapping (Distribution.to_dict)
    zip: dict[str, list[Any]]
    distributions: dict[str, Distribution] = field(default_factory=dict)  # the sampled axes
    sampling: Sampling | None = None  # how they are drawn, and the values drawn so far
    rank: dict[str, float] | None = None  # metric → weight (rank.py)
    tradeoff: dict[str, Any] = field(default_factory=lambda: parse_tradeoff(None))  # style metric, thumbnails
    points: list[Point] = field(default_factory=list)
    axis_titles: list[str] = field(default_factory=list)
    axis_values: list[list[str]] = field(default_factory=list)  # value labels per axis ("0.01", "noise, seed=1")
    axis_pairs: list[list[str]] = field(default_factory=list)  # the same with names ("style_weight=0.01")
    varied: list[str] = field(default_factory=list)  # parameters the axes set, first-seen order (index columns)
    video: dict[str, Any] | None = None  # a video sweep's `video:`: every VideoConfig field (video.py)

    def to_dict(self, drawn: bool = True) -> dict[str, Any]:
        """The sweep in its file's format; with `drawn`, the values drawn for its sampled axes (as in sweep.yaml)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["base"] = self.base
        if self.video is not None:
            out["video"] = self.video
        out["axes"] = self.axes
        if self.zip:
            out["zip"] = self.zip
        if self.sampling is not None:
            if self.sampling.samples is not None:
                out["samples"] = self.sampling.samples
            if self.sampling.search is not None:
                out["search"] = self.sampling.search
            out["seed"] = self.sampling.seed
        if self.rank is not None:
            out["rank"] = self.rank
        out["tradeoff"] = self.tradeoff
        if drawn and self.sampling is not None:
            out["drawn"] = self.sampling.drawn
        return out


def one_line(text: object) -> str:
    return " ".join(str(text).split())


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (SafeLoader keeps the last silently).

    Merge keys (`<<: *base`) stay YAML's: explicit keys override merged ones."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = first.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                continue
            if seen is not None:
                where = f"on line {line}" if seen == line else f"on lines {seen} and {line}"
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice {where}", key_node.start_mark
                )
            first[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """A user's YAML (NST Lab reads none but sweep files): safe tags only; a key given twice is a YAMLError."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # safe: a SafeLoader subclass


def _check_size(data: Any, source: str) -> None:
    """Refuse a file whose aliases expand into a huge structure ("billion laughs") or that nests deeply."""
    budget = [MAX_YAML_VALUES]

    def walk(node: Any, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise UserError(f"{source}: malformed YAML: expands to more than {MAX_YAML_VALUES} values (aliases?)")
        if depth > MAX_YAML_DEPTH:
            raise UserError(f"{source}: malformed YAML: nested deeper than {MAX_YAML_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            walk(child, depth + 1)

    walk(data, 0)


def _yaml_error(source: str, e: yaml.YAMLError) -> UserError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or one_line(str(e))
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return UserError(f"{source}: malformed YAML{where}: {one_line(problem)}")


def load_sweep(
    source: str | os.PathLike[str] | Mapping[str, Any],
    sets: Iterable[str] | Mapping[str, Any] = (),
    check_files: bool = True,
    max_points: int = MAX_POINTS,
) -> Sweep:
    """Read, resolve and validate a sweep (a YAML file or a dict); every point is checked, nothing is created."""
    if isinstance(source, Mapping):
        data: Any = copy.deepcopy(dict(source))
        label, default_name = "sweep", "sweep"
    else:
        path = Path(source)
        label, default_name = quoted(source), path.stem
        problem = file_problem(path)
        if problem is not None:
            raise UserError(f"{label}: {'sweep file not found' if problem == 'file not found' else problem}")
        try:
            data = load_yaml(path.read_text())
        except yaml.YAMLError as e:
            raise _yaml_error(label, e) from None
        except UnicodeDecodeError:
            raise UserError(f"{label}: not a text (YAML) file") from None
        except RecursionError:
            raise UserError(f"{label}: malformed YAML: nested too deeply") from None
        _check_size(data, label)
    return resolve(data, sets, default_name, f"{label}: ", check_files, max_points)


def resolve(
    data: Any,
    sets: Iterable[str] | Mapping[str, Any] = (),
    default_name: str = "sweep",
    where: str = "",
    check_files: bool = True,
    max_points: int = MAX_POINTS,
) -> Sweep:
    """The sweep of a parsed sweep file: base filled in, --set applied, every point built and validated
    (and its image files checked to exist, unless check_files is False)."""
    if not isinstance(data, dict):
        raise UserError(f"{where}expected a mapping with name, base and axes, got {type(data).__name__}")
    for key in data:
        if key not in SWEEP_KEYS:
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
            if key == "axes" and is_distribution(values):
                continue
            if not isinstance(values, list) or not values:
                raise UserError(f"{where}{key}.{axis}: expected a non-empty list of values, got {values!r}")
    sets, video_sets = split_sets(sets)
    video = parse_video(data.get("video"), where, check_files, video_sets)
    is_video = video is not None
    check_video_sweep(data, {a: v for a, v in axes_raw.items() if is_distribution(v)}, is_video, where)
    distributions = {str(a): parse_distribution(str(a), v, where) for a, v in axes_raw.items() if is_distribution(v)}
    listed = {a: v for a, v in axes_raw.items() if not is_distribution(v)}
    sampling = parse_sampling(data, distributions, [*map(str, listed), *map(str, zip_raw)], where)
    metrics = VIDEO_METRICS if is_video else None
    rank = parse_rank(data["rank"], where, metrics) if data.get("rank") is not None else None
    if not axes_raw and not zip_raw:
        raise UserError(f"{where}axes: empty; give at least one parameter with a list of values")
    if zip_raw and len({len(v) for v in zip_raw.values()}) > 1:
        lengths = ", ".join(f"{k}: {len(v)}" for k, v in zip_raw.items())
        raise UserError(f"{where}zip: lists of unequal length ({lengths})")

    # base: every field, defaults filled in, then the --set overrides
    known = set(field_names())
    for key in base_raw:
        if key not in known:
            raise unknown_name(str(key), f"{where}base: ", False)
    base = {**Config().to_dict(), **{k: _coerce_base(k, v, where) for k, v in base_raw.items()}}
    axis_params = _axis_parameters(listed, zip_raw) | set(distributions)
    for key, value in [*parse_sets(sets).items(), *video_sets.items()]:
        if key in axis_params:
            raise UserError(f"--set {key}: {key} is an axis of this sweep; edit the sweep file instead")
        if not is_video_name(key):
            base[key] = value

    # the axes: each a list of (params, value label) in order
    axes: list[tuple[str, list[tuple[dict[str, Any], str]]]] = []
    for axis, values in listed.items():
        axes.append((str(axis), [_axis_value(str(axis), v, f"{where}axes", is_video) for v in values]))
    if sampling is not None:  # the sampled axes together: one more axis, a point per values drawn
        values_drawn = [(dict(d), ", ".join(format_value(k, v) for k, v in d.items())) for d in sampling.drawn]
        axes.append((", ".join(distributions), values_drawn))
    if zip_raw:
        columns = [[_axis_value(str(k), v, f"{where}zip", is_video) for v in values] for k, values in zip_raw.items()]
        combined = []
        for row in zip(*columns):
            params: dict[str, Any] = {}
            for p, _ in row:
                _merge(params, p, f"{where}zip: ")
            combined.append((params, ", ".join(pairs(p) for p, _ in row)))
        axes.append((", ".join(map(str, zip_raw)), combined))

    if sampling is not None and sampling.search is not None and not base["metrics"]:
        raise UserError(f"{where}search: a study learns from the run metrics; base.metrics must stay true")
    coerced = _coerced_axes(listed)
    sweep = Sweep(
        name,
        str(description),
        base,
        {str(a): distributions[str(a)].to_dict() if str(a) in distributions else coerced[str(a)] for a in axes_raw},
        _coerced_axes(zip_raw),
        distributions,
        sampling,
        rank,
        parse_tradeoff(data.get("tradeoff"), where),
        video=video,
    )
    sweep.axis_titles = [title for title, _ in axes]
    sweep.axis_values = [[label for _, label in values] for _, values in axes]
    sweep.axis_pairs = [[pairs(params) for params, _ in values] for _, values in axes]
    count = math.prod(len(values) for _, values in axes)
    if count > max_points:
        raise UserError(
            f"{where}{count} points, more than the limit of {max_points}; split the sweep, "
            "or raise the limit with --max-points (max_points=)"
        )
    combos = list(itertools.product(*[values for _, values in axes]))
    planned = sampling.search["trials"] if sampling is not None and sampling.search is not None else len(combos)
    width = max(2, len(str(planned)))  # a search's folder names are as wide as its last trial's
    for number, combo in enumerate(combos, start=1):
        params = {}
        for p, _ in combo:
            _merge(params, p, f"{where}point {number}: ")
        label = ", ".join(pairs(p) for p, _ in combo)
        at = f"{where}point {number} ({label}): "
        config = from_dict({**base, **config_params(params)}, where=at)
        if check_files:
            _check_files(config, at)
        clip = point_video(video, params, at) if video is not None else None
        folder = f"{number:0{width}d}_{slug(label.replace(', ', '__'), limit=80)}"
        sweep.points.append(Point(number, label, folder, params, [lbl for _, lbl in combo], config, clip))
        sweep.varied += [k for k in params if k not in sweep.varied]
    return sweep


def _coerce_base(name: str, value: Any, where: str) -> Any:
    try:
        return coerce(name, value, field_types()[name])
    except ConfigError as e:
        raise ConfigError(f"{where}base: {e}") from None


def _axis_parameters(axes: dict[str, list[Any]], zipped: dict[str, list[Any]]) -> set[str]:
    names: set[str] = set()
    for axis, values in [*axes.items(), *zipped.items()]:
        for v in values:
            names |= set(v) if isinstance(v, dict) else {axis}
    return names


def parse_sets(sets: Iterable[str] | Mapping[str, Any]) -> dict[str, Any]:
    """`--set name=value` strings (or a mapping) as typed Config values."""
    if isinstance(sets, Mapping):
        items = list(sets.items())
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


def _axis_value(axis: str, value: Any, where: str, video: bool = False) -> tuple[dict[str, Any], str]:
    """(parameters, value label) of one axis value: a value of the parameter `axis`, or a mapping; in a video
    sweep (`video`) the video parameters too."""
    if isinstance(value, dict):
        if not value:
            raise UserError(f"{where}.{axis}: empty mapping as a value")
        for key in value:
            if key not in fields_by_name() and not (video and is_video_name(key)):
                raise unknown_name(str(key), f"{where}.{axis}: ", video)
        params = {k: coerce_video(k, v) for k, v in value.items()}
        if axis in params:  # {init: noise, seed: 1} on the axis `init` → "noise, seed=1"
            rest = {k: v for k, v in params.items() if k != axis}
            label = ", ".join([format_value(axis, params[axis])] + ([pairs(rest)] if rest else []))
        else:
            label = pairs(params)
        return params, label
    if video and is_video_name(axis):
        value = coerce_video(axis, value)
    elif axis not in fields_by_name():
        error = unknown_name(axis, f"{where}: ", video)
        if not video and is_video_name(axis):
            raise error
        raise ConfigError(f"{error}; an axis whose values are mappings of parameters may have any name")
    return {axis: value}, format_value(axis, value)


def _merge(params: dict[str, Any], new: dict[str, Any], where: str) -> None:
    for key, value in new.items():
        if key in params:
            raise UserError(f"{where}parameter {key!r} is set by two axes")
        params[key] = value


def _coerced_axes(axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Axis values as the types Config gives them, for sweep.yaml."""
    out = {}
    for axis, values in axes.items():
        out[str(axis)] = [
            {k: _typed(k, v) for k, v in value.items()} if isinstance(value, dict) else _typed(str(axis), value)
            for value in values
        ]
    return out


def _typed(name: str, value: Any) -> Any:
    return coerce_video(name, value) if is_video_name(name) else try_coerce(name, value)


def _check_files(config: Config, where: str) -> None:
    """Image files must be readable, non-empty files before a sweep starts (whether they decode is only known
    at run time)."""
    masks = [("style_masks", p) for p in config.style_masks] + [
        ("style_region_masks", p) for p in config.style_region_masks
    ]
    for param, path in config.image_paths() + masks:
        problem = None if is_url(path) else file_problem(resolve_input(path))
        if problem is not None:
            raise ConfigError(f"{where}{param}: {quoted(path)}: {problem}")
