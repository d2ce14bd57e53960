"""Snapshots of a run as files: frames/*.png, progress.mp4 (H.264) and an animated preview.webp.

Frames are written on a worker thread so the optimiser never waits for the disk or the encoder.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from nstlib.files import atomic_target
from nstlib.record.sink import Sink

PREVIEW_FRAMES = 40
PREVIEW_SIDE = 256
VIDEO_SECONDS = 5.0  # an automatic fps aims at this length: long enough to watch, short enough to loop
FPS_RANGE = (2, 30)
HOLD_SECONDS = 1.0  # the final image stays on screen this long


def auto_fps(frames: int) -> int:
    """Frames per second that show `frames` snapshots in about VIDEO_SECONDS (within FPS_RANGE)."""
    low, high = FPS_RANGE
    return int(min(high, max(low, round(frames / VIDEO_SECONDS))))


def video_stride(frames: int, fps: int) -> int:
    """Every how many snapshots one goes into the video, so it lasts about VIDEO_SECONDS at `fps`."""
    return max(1, math.ceil(frames / (fps * VIDEO_SECONDS)))


def expected_frames(steps: int, save_every: int) -> int:
    """Snapshots a run of `steps` makes: epochs 0, save_every, … below `steps`, then the final image."""
    return 0 if save_every <= 0 else math.ceil(steps / save_every) + 1


class VideoWriter:
    """progress.mp4 (H.264 via imageio's pyav plugin), written to a temporary name until closed."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], hold: bool = True):
        """`hold`: the last frame stays HOLD_SECONDS (a run's progress); off for a stylised video."""
        import imageio.v3 as iio

        self.path, self.fps, self.hold = path, fps, hold
        self.size = (size[0] - size[0] % 2, size[1] - size[1] % 2)  # yuv420p needs even sides
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        self.file = iio.imopen(self.tmp, "w", plugin="pyav")
        self.file.init_video_stream("libx264", fps=fps, pixel_format="yuv420p")
        self.frames = 0
        self.last: np.ndarray | None = None

    def write(self, frame: np.ndarray) -> None:
        h, w = self.size
        if frame.shape[:2] != (h, w):
            frame = np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BICUBIC))
        self.last = np.ascontiguousarray(frame)
        self.file.write_frame(self.last)
        self.frames += 1

    def close(self) -> None:
        """Hold the last frame HOLD_SECONDS, then move the file to its final name."""
        if self.last is not None and self.hold:
            for _ in range(max(0, round(self.fps * HOLD_SECONDS) - 1)):
                self.file.write_frame(self.last)
        self.file.close()
        if self.frames:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class FrameSink(Sink):
    """One run's snapshots: frames/epoch_NNNNN.png, and with `video` progress.mp4 and preview.webp.

    `fps` 0 chooses the frame rate from `expected` (the number of snapshots the run will make) and,
    beyond FPS_RANGE's top, puts only every n-th snapshot in the video (frames/ keeps them all).
    """

    def __init__(self, folder: Path, video: bool, fps: int, video_size: tuple[int, int], expected: int):
        self.folder, self.video_on, self.video_size = folder, video, video_size
        self.fps = fps or auto_fps(expected)
        self.stride = 1 if fps else video_stride(expected, self.fps)
        self.added = 0
        self.skipped: np.ndarray | None = None  # the latest snapshot left out of the video
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nstlib-frames")
        self.pending: list[Future[None]] = []
        self.thumbs: list[Image.Image] = []
        self.video: VideoWriter | None = None
        (folder / "frames").mkdir(exist_ok=True)

    def frame(self, epoch: int, frame: np.ndarray) -> None:
        self.pending = [f for f in self.pending if not f.done()] + [self.pool.submit(self._write, epoch, frame)]

    def _write(self, epoch: int, frame: np.ndarray) -> None:
        with atomic_target(self.folder / "frames" / f"epoch_{epoch:05d}.png") as tmp:
            Image.fromarray(frame).save(tmp, format="PNG")
        if self.video_on:
            self.added += 1
            if (self.added - 1) % self.stride:
                self.skipped = frame
            else:
                self.skipped = None
                self._to_video(frame)

    def _to_video(self, frame: np.ndarray) -> None:
        if self.video is None:
            self.video = VideoWriter(self.folder / "progress.mp4", self.fps, self.video_size)
        self.video.write(frame)
        thumb = Image.fromarray(frame)
        thumb.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        self.thumbs.append(thumb)

    def close(self) -> None:
        """Finish pending frames, close the video and write preview.webp; errors are raised here."""
        self.pool.submit(self._finish).result()
        self.pool.shutdown(wait=True)
        for f in self.pending:
            f.result()

    def _finish(self) -> None:
        if self.skipped is not None:  # the final image always ends the video
            self._to_video(self.skipped)
        if self.video is not None:
            self.video.close()
        if self.thumbs:
            step = max(1, math.ceil(len(self.thumbs) / PREVIEW_FRAMES))
            frames = self.thumbs[::step]
            if frames[-1] is not self.thumbs[-1]:
                frames.append(self.thumbs[-1])
            size = frames[-1].size
            frames = [f.resize(size) for f in frames]
            # the preview shows its frames in about VIDEO_SECONDS and holds the last one like the video
            duration = max(40, round(1000 * VIDEO_SECONDS / len(frames)))
            durations = [duration] * (len(frames) - 1) + [round(1000 * HOLD_SECONDS) + duration]
            with atomic_target(self.folder / "preview.webp") as tmp:
                frames[0].save(
                    tmp, format="WEBP", save_all=True, append_images=frames[1:], duration=durations, loop=0, quality=80
                )
