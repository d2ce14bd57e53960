"""Run folders: timestamped, never overwritten, every file written atomically.

A run folder holds config.json (parameters, environment, status), losses.csv, final.png,
frames/ (snapshots), progress.mp4, preview.webp and panel.png.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .config import PROJECT_ROOT
from .files import atomic_target, atomic_write_text

STATUSES = ("running", "done", "failed", "interrupted")
PREVIEW_FRAMES = 40
PREVIEW_SIDE = 256


def slug(text: str, limit: int = 60) -> str:
    """A filesystem-safe name: letters, digits, '.', '_', '-', '+', '=' only."""
    text = re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-.")
    return text[:limit] or "run"


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


def new_folder(parent: str | os.PathLike, name: str, stamped: bool = True) -> Path:
    """Create and return a new folder `<UTC time>_<name>` (or `<name>`) in `parent`; never reuses one."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    base = f"{timestamp()}_{slug(name)}" if stamped else slug(name)
    for n in range(1, 10_000):
        path = parent / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"{parent}: cannot find a free folder name for {base}")


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.9g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def environment() -> dict[str, Any]:
    import torch

    from . import __version__

    versions = {"nstlib": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "pillow": Image.__version__}
    return {"versions": versions, "platform": platform.platform(), "git_commit": git_commit(),
            "argv": sys.argv}


class VideoWriter:
    """progress.mp4 (H.264 via imageio's pyav plugin), written to a temporary name until closed."""

    def __init__(self, path: Path, fps: int, size: tuple[int, int]):
        import imageio.v3 as iio

        self.path, self.size = path, (size[0] - size[0] % 2, size[1] - size[1] % 2)  # yuv420p needs even sides
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.file = iio.imopen(self.tmp, "w", plugin="pyav")
        self.file.init_video_stream("libx264", fps=fps, pixel_format="yuv420p")
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        h, w = self.size
        if frame.shape[:2] != (h, w):
            frame = np.asarray(Image.fromarray(frame).resize((w, h), Image.BICUBIC))
        self.file.write_frame(np.ascontiguousarray(frame))
        self.frames += 1

    def close(self) -> None:
        self.file.close()
        if self.frames:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class FrameSink:
    """Snapshots off the hot path: a worker thread writes frames/*.png and appends to the video."""

    def __init__(self, folder: Path, video: bool, fps: int, video_size: tuple[int, int]):
        self.folder, self.video_on, self.fps, self.video_size = folder, video, fps, video_size
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nstlib-frames")
        self.pending: list[Future] = []
        self.thumbs: list[Image.Image] = []
        self.video: VideoWriter | None = None
        (folder / "frames").mkdir(exist_ok=True)

    def add(self, epoch: int, frame: np.ndarray) -> None:
        self.pending = [f for f in self.pending if not f.done()] + [self.pool.submit(self._write, epoch, frame)]

    def _write(self, epoch: int, frame: np.ndarray) -> None:
        img = Image.fromarray(frame)
        with atomic_target(self.folder / "frames" / f"epoch_{epoch:05d}.png") as tmp:
            img.save(tmp, format="PNG")
        if self.video_on:
            if self.video is None:
                self.video = VideoWriter(self.folder / "progress.mp4", self.fps, self.video_size)
            self.video.write(frame)
            thumb = img.copy()
            thumb.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            self.thumbs.append(thumb)

    def close(self) -> None:
        """Finish pending frames, close the video and write preview.webp; errors are raised here."""
        self.pool.submit(self._finish).result()
        self.pool.shutdown(wait=True)
        for f in self.pending:
            f.result()

    def _finish(self) -> None:
        if self.video is not None:
            self.video.close()
        if self.thumbs:
            step = max(1, math.ceil(len(self.thumbs) / PREVIEW_FRAMES))
            frames = self.thumbs[::step]
            if frames[-1] is not self.thumbs[-1]:
                frames.append(self.thumbs[-1])
            size = frames[-1].size
            frames = [f.resize(size) for f in frames]
            with atomic_target(self.folder / "preview.webp") as tmp:
                frames[0].save(tmp, format="WEBP", save_all=True, append_images=frames[1:],
                               duration=max(40, 1000 // self.fps), loop=0, quality=80)


class RunFolder:
    """One run's folder and its files; config.json always says the run's status."""

    def __init__(self, path: Path, config: dict[str, Any], extra: dict[str, Any] | None = None):
        self.path = Path(path)
        self.started = time.time()
        self.info: dict[str, Any] = {"status": "running", "reason": None, "config": config,
                                     "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                     **environment(), **(extra or {})}
        self.save_info()

    @classmethod
    def create(cls, runs_dir: str | os.PathLike, name: str, config: dict[str, Any],
               extra: dict[str, Any] | None = None) -> "RunFolder":
        return cls(new_folder(runs_dir, name), config, extra)

    def save_info(self) -> None:
        write_json(self.path / "config.json", self.info)

    def update(self, **fields: Any) -> None:
        self.info.update(fields)
        self.save_info()

    def save_losses(self, rows: list[dict[str, Any]]) -> None:
        write_csv(self.path / "losses.csv", rows)

    def finish(self, status: str, reason: str | None = None, **fields: Any) -> None:
        assert status in STATUSES
        self.update(status=status, reason=reason, wall_time_s=round(time.time() - self.started, 3),
                    finished=datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields)
