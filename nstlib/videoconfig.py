"""`VideoConfig`: the parameters of a video run beyond `Config`'s (Ruder, Dosovitskiy & Brox, GCPR 2016).

Every frame is a `Config` run; these fields say which frames, how they are tied together and how the result is
written. The `nst video` flags are generated from the fields, as `nst run`'s are from `Config`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from nstlib.errors import ConfigError

FLOW_CHOICES = ("dis", "farneback")


def _f(default: Any, help: str, paper: str = "", choices: tuple[str, ...] = (), minimum: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "paper": paper, "choices": choices, "minimum": minimum})


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "1", "yes", "on"):
        return True
    if str(raw).lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError


def parse_offsets(text: str) -> tuple[int, ...]:
    """previous_frames as ascending offsets: "1,10,20,40" → (1, 10, 20, 40)."""
    try:
        values = sorted({int(v) for v in str(text).replace(" ", "").split(",")})
    except ValueError:
        values = [0]
    if not values or values[0] < 1:
        raise ConfigError(f"previous_frames: expected offsets >= 1 separated by commas (e.g. 1,10,20), got {text!r}")
    return tuple(values)


@dataclass
class VideoConfig:
    """Which frames of `input` are stylised and how; validated by `validate` (one-line `ConfigError`s)."""

    input: str = _f("", "the video (mp4, webm, gif, …) or a folder of frames (png/jpg, in name order)")
    temporal_weight: float = _f(
        1e13,
        "weight of the temporal loss (1/D) Σ c (x − ω(x_prev))² beside alpha and beta; 0: none "
        "(each frame still starts from the previous one warped)",
        "lambda (Eq. 7); the paper's 2e2 is for mean losses, this project's are sums (measured: bench/video.py)",
        minimum=0.0,
    )
    previous_frames: str = _f(
        "1",
        "previous frames each frame is tied to, as offsets (e.g. 1,10,20,40: the long-term loss); 1: the "
        "short-term loss",
        "J (Eq. 8-9)",
    )
    passes: int = _f(
        1,
        "1: frame after frame; N > 1: multi-pass, every frame stylised on its own, then N-1 passes in "
        "alternating directions, each frame started from a blend with its warped neighbour (the first pass's "
        "independent frames run as batches)",
        "multi-pass (Sec. 3.3)",
        minimum=1,
    )
    blend: float = _f(
        0.5,
        "multi-pass: weight delta of the warped neighbour in a frame's start, 0 to 1",
        "delta (Sec. 3.3)",
        minimum=0.0,
    )
    flow: str = _f("dis", "optical flow between input frames (OpenCV)", "DeepFlow/EpicFlow (Sec. 5)", FLOW_CHOICES)
    warm_start: bool = _f(
        True, "start each frame after the first from the previous stylised frame warped (else from `init`)", "Sec. 3"
    )
    later_epochs: int = _f(
        -1,
        "optimizer steps of every frame after the first (multi-pass: of every frame in each later pass); "
        "-1: half of `epochs`",
        minimum=-1,
    )
    first_frame: int = _f(0, "index of the first input frame to use", minimum=0)
    last_frame: int = _f(-1, "index of the last input frame to use; -1: the video's last", minimum=-1)
    stride: int = _f(1, "use every N-th input frame", minimum=1)
    video_fps: float = _f(0.0, "frame rate of video.mp4; 0: the input's (divided by `stride`)", minimum=0.0)
    max_frames: int = _f(1000, "refuse a video of more frames than this (before any work)", minimum=1)

    def validate(self) -> VideoConfig:
        hints = typing.get_type_hints(VideoConfig)
        for f in dataclasses.fields(self):
            raw, kind = getattr(self, f.name), hints[f.name]
            try:
                value = _boolean(raw) if kind is bool else kind(raw)
                if kind is int and value != float(raw):
                    raise ValueError
            except (TypeError, ValueError):
                raise ConfigError(f"{f.name}: expected {kind.__name__}, got {raw!r}") from None
            if f.metadata["choices"] and value not in f.metadata["choices"]:
                raise ConfigError(f"{f.name}: {value!r} is not one of {', '.join(f.metadata['choices'])}")
            if f.metadata["minimum"] is not None and value < f.metadata["minimum"]:
                raise ConfigError(f"{f.name}: must be >= {f.metadata['minimum']:g}, got {value!r}")
            setattr(self, f.name, value)
        if not self.input:
            raise ConfigError("input: give a video file or a folder of frames")
        if self.blend > 1:
            raise ConfigError(f"blend: must be <= 1, got {self.blend!r}")
        parse_offsets(self.previous_frames)
        if self.last_frame != -1 and self.last_frame < self.first_frame:
            raise ConfigError(f"last_frame: {self.last_frame} is before first_frame {self.first_frame}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def offsets(self) -> tuple[int, ...]:
        return parse_offsets(self.previous_frames)

    def steps_after_first(self, epochs: int) -> int:
        return epochs // 2 if self.later_epochs < 0 else self.later_epochs
