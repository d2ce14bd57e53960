"""A video run's input frames: read from a video file or a folder of images, checked, resized and saved once
as the run's `input/NNNNN.png` (what every later step and a resume read), before any model work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from nstlib import images as im
from nstlib.errors import UserError, quoted
from nstlib.files import atomic_target
from nstlib.videoconfig import VideoConfig

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
DEFAULT_FPS = 10.0


def _frames(path: Path) -> Iterator[np.ndarray]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        for p in files:
            try:
                yield np.asarray(im.load_pil(str(p)))
            except Exception as e:
                raise UserError(f"input: frame {quoted(p)} cannot be read ({e})") from None
        return
    import imageio.v3 as iio

    try:
        for frame in iio.imiter(path, plugin="pyav" if path.suffix.lower() != ".gif" else "pillow"):
            yield np.asarray(Image.fromarray(frame).convert("RGB"))
    except UserError:
        raise
    except Exception as e:  # imageio/pyav raise many kinds for a file that is not a video
        raise UserError(f"input: {quoted(path)} is not a readable video ({e.__class__.__name__})") from None


def input_fps(path: Path) -> float:
    """The input's frame rate (DEFAULT_FPS for a folder of frames or a file that does not say)."""
    if path.is_dir():
        return DEFAULT_FPS
    import imageio.v3 as iio

    try:
        meta = iio.immeta(path, plugin="pyav" if path.suffix.lower() != ".gif" else "pillow")
    except Exception:
        return DEFAULT_FPS
    if meta.get("fps"):
        return float(meta["fps"])
    return 1000.0 / float(meta["duration"]) if meta.get("duration") else DEFAULT_FPS


def has_audio(path: Path) -> bool:
    if path.is_dir() or path.suffix.lower() == ".gif":
        return False
    import av

    try:
        with av.open(str(path)) as f:
            return bool(f.streams.audio)
    except Exception:
        return False


def extract_frames(video: VideoConfig, size: int, folder: Path) -> int:
    """Write the frames `video` selects, resized to longest side `size`, as folder/NNNNN.png; their count.

    Refuses (UserError, one line) a missing or unreadable input, no frames, frames of changing size and more
    than `max_frames` frames; a refused input leaves no folder."""
    path = Path(video.input).expanduser()
    if not path.exists():
        raise UserError(f"input: {quoted(path)} does not exist")
    selected: list[np.ndarray] = []
    first_shape = None
    for i, frame in enumerate(_frames(path)):
        if video.last_frame != -1 and i > video.last_frame:
            break
        if first_shape is None:
            first_shape = frame.shape
        elif frame.shape != first_shape:
            raise UserError(
                f"input: frame {i} is {frame.shape[1]}x{frame.shape[0]} px, the first {first_shape[1]}x"
                f"{first_shape[0]}; a video's frames must keep one size"
            )
        if i >= video.first_frame and (i - video.first_frame) % video.stride == 0:
            selected.append(_resized(frame, size))
            if len(selected) > video.max_frames:
                raise UserError(f"max_frames: {quoted(path)} has more than {video.max_frames} frames to stylise")
    if not selected:
        raise UserError(f"input: {quoted(path)} has no frames in the range chosen (first_frame, last_frame, stride)")
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(selected):
        with atomic_target(folder / f"{i:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
    return len(selected)


def _resized(frame: np.ndarray, size: int) -> np.ndarray:
    h, w = frame.shape[:2]
    nh, nw = im.scaled_size(h, w, size)
    if (nh, nw) == (h, w):
        return frame
    return np.asarray(Image.fromarray(frame).resize((nw, nh), Image.Resampling.LANCZOS))
