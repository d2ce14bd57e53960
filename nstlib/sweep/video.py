"""Video sweeps: a sweep file with `video:` (VideoConfig fields, `input:` the clip) whose axes may name video
parameters too (temporal_weight, later_epochs, flow, warm_start, …); every point is a video run
(nstlib/run/video_transfer.py) in its point folder.

    video:
      input: collections/video/chelsea_pan.mp4
      later_epochs: 30
    base: {style: [collections/style/starry_swirls.jpg], image_size: 144, epochs: 60}
    axes:
      temporal_weight: [0, 1e12, 1e13, 1e14]

Its points run one after another in this process (no batching). A video run scores `warping_error`
(VIDEO_METRICS), not final.png's distances, so a video sweep has no trade-off view and no Pareto column;
`rank:` may name warping_error.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nstlib.config import field_names
from nstlib.errors import ConfigError, UserError, quoted
from nstlib.files import file_problem
from nstlib.paths import resolve_input
from nstlib.videoconfig import VideoConfig

VIDEO_NAMES = tuple(f.name for f in dataclasses.fields(VideoConfig))
VIDEO_METRICS = ("warping_error",)


def is_video_name(name: object) -> bool:
    return name in VIDEO_NAMES


def unknown_name(name: str, where: str, video: bool) -> ConfigError:
    """Config's "unknown parameter" error, its "did you mean" also among the video parameters of a video sweep;
    a video parameter in a sweep without `video:` is told so."""
    if not video and is_video_name(name):
        return ConfigError(
            f"{where}{name} is a video parameter; a sweep varies it only with a `video:` mapping "
            "(input: the clip, and any other video parameters)"
        )
    names = field_names() + (list(VIDEO_NAMES) if video else [])
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"{where}unknown parameter {name!r}{hint}")


def parse_video(
    raw: Any, where: str, check_files: bool = True, sets: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """`video:` of a sweep file as every VideoConfig field (defaults filled in, `sets` applied: the video
    parameters of --set), validated; None without it."""
    if raw is None:
        if sets:
            raise unknown_name(next(iter(sets)), "--set ", False)
        return None
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{where}video: expected a mapping of video parameters (input: a clip), got {raw!r}")
    for key in raw:
        if not is_video_name(key):
            close = difflib.get_close_matches(str(key), VIDEO_NAMES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            if key in field_names():
                hint = " (a Config parameter: give it in base:)"
            raise ConfigError(f"{where}video: unknown video parameter {key!r}{hint}")
    raw = {**raw, **(sets or {})}
    raw["input"] = resolve_input(str(raw.get("input") or ""))  # as image paths: found in the checkout too
    video = point_video(raw, {}, f"{where}video: ")
    if check_files:
        problem = file_problem(Path(video.input).expanduser())
        if problem is not None and not Path(video.input).expanduser().is_dir():
            raise ConfigError(f"{where}video.input: {quoted(video.input)}: {problem}")
    return video.to_dict()


def point_video(base: dict[str, Any], params: dict[str, Any], where: str) -> VideoConfig:
    """The validated VideoConfig of a point: `base` (the sweep's video:) with the video parameters of `params`."""
    values = {**base, **{k: v for k, v in params.items() if is_video_name(k)}}
    try:
        return VideoConfig(**values).validate()
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None


def config_params(params: dict[str, Any]) -> dict[str, Any]:
    """The Config parameters among a point's parameters."""
    return {k: v for k, v in params.items() if not is_video_name(k)}


def coerce_video(name: str, value: Any) -> Any:
    """`value` as VideoConfig types it (YAML reads 1e13 as a string), or as given if it is not such a value."""
    if not is_video_name(name) or name == "input":
        return value
    try:
        return getattr(VideoConfig(input="-", **{name: value}).validate(), name)
    except ConfigError:
        return value


def video_changes(recorded: dict[str, Any] | None, now: VideoConfig) -> list[str]:
    """'name old → new' for each video parameter that `now` sets otherwise than a video run recorded."""
    if not isinstance(recorded, dict):
        return ["its config.json records no video parameters"]
    return [
        f"{name} {recorded.get(name)!r} → {value!r}"
        for name, value in now.to_dict().items()
        if recorded.get(name) != value
    ]


def check_video_sweep(data: dict[str, Any], distributions: dict[str, Any], video: bool, where: str) -> None:
    """What a video sweep cannot do yet, refused in one line."""
    for name in distributions:
        if is_video_name(name):
            if not video:
                raise unknown_name(name, f"{where}axes.{name}: ", video)
            raise UserError(f"{where}axes.{name}: a video parameter cannot be sampled; give a list of values")
    if video and data.get("search") is not None:
        raise UserError(f"{where}search: not for video sweeps (a study learns from content and style distances)")


def split_sets(sets: Iterable[str] | Mapping[str, Any]) -> tuple[list[str] | dict[str, Any], dict[str, Any]]:
    """`--set` overrides split into the Config ones (in their given form) and the video ones (name → value)."""
    if isinstance(sets, Mapping):
        return {k: v for k, v in sets.items() if not is_video_name(k)}, {
            k: v for k, v in sets.items() if is_video_name(k)
        }
    config, video = [], {}
    for text in sets:
        name, eq, value = str(text).partition("=")
        if eq and is_video_name(name.strip()):
            video[name.strip()] = value
        else:
            config.append(str(text))
    return config, video
