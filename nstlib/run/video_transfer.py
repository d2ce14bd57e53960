"""Style transfer for videos (Ruder, Dosovitskiy & Brox, GCPR 2016): frame by frame, each frame after the first
starting from the previous stylised frame warped by the optical flow, with the short-term temporal loss.

A video run folder holds input/ (the selected frames, resized), frames/ (the stylised frames: a frame is
finished when its PNG exists, written atomically), video.mp4, compare.mp4 (input | stylised), losses.csv (every
frame's rows, a `frame` column), metrics.json (the warping error) and config.json (`config`, `video`, status).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nstlib import images as im
from nstlib.config import Config
from nstlib.errors import UserError, quoted
from nstlib.interrupts import Interrupted, deferred_interrupts, describe, is_terminated, terminate_as_interrupt
from nstlib.losses.temporal import TemporalLoss
from nstlib.model.device import resolve_device
from nstlib.model.flow import frame_flow, warp
from nstlib.paths import resolve_output
from nstlib.record.audio import NONE, copy_audio
from nstlib.record.runs import SAVED, RunFolder, RunRecord
from nstlib.record.video import VideoWriter
from nstlib.run.clip import extract_frames, has_audio, input_fps
from nstlib.run.inputs import check_sizes, load_inputs
from nstlib.run.memory import memory_record
from nstlib.run.transfer import Result, transfer
from nstlib.videoconfig import VideoConfig

INPUT, FRAMES, WORK = "input", "frames", ".frame"


def frame_png(folder: Path, i: int) -> Path:
    return folder / f"{i:05d}.png"


def finished_frames(run_dir: Path) -> int:
    """How many frames of a video run are done: the stylised PNGs present from frame 0 on, without a gap."""
    n = 0
    while frame_png(run_dir / FRAMES, n).is_file():
        n += 1
    return n


def warping_error(current: torch.Tensor, warped: torch.Tensor, c: torch.Tensor) -> float:
    """mean c ⊙ (x_t − ω(x_{t−1}))², `warped` = ω(x_{t−1}): how much a frame differs from the previous one moved
    by the flow, where the flow is certain (a stability measure of the output video)."""
    return float((c * (current - warped) ** 2).mean())


def stylize_video(
    config: Config | None = None,
    video: VideoConfig | None = None,
    *,
    resume: str | Path | None = None,
    **params: Any,
) -> RunRecord:
    """Stylise a video: `stylize_video(Config(style=[...]), VideoConfig(input="clip.mp4"))`, or keyword arguments
    of either (`stylize_video(input="clip.mp4", style=[...], temporal_weight=0)`); `resume`: a video run folder
    to go on with from its last finished frame (its recorded parameters are used). Returns the run's record."""
    if resume is not None:
        record = RunRecord.read(resume)
        if record is None or "video" not in record.info:
            raise UserError(f"resume: {quoted(resume)} is not a video run folder")
        config = Config(**record.config).validate()
        video = VideoConfig(**record.info["video"]).validate()
        run = RunFolder.resume(resume)
    else:
        video_keys = set(VideoConfig.__dataclass_fields__)
        config = (config or Config()).replace(**{k: v for k, v in params.items() if k not in video_keys}).validate()
        base = video.to_dict() if video else {}
        video = VideoConfig(**{**base, **{k: v for k, v in params.items() if k in video_keys}}).validate()
        run = _create(config, video)
    with terminate_as_interrupt():
        return _VideoJob(config, video, run).run()


def _create(config: Config, video: VideoConfig) -> RunFolder:
    """The run folder with its input frames, every input error found before (nothing left for a bad input)."""
    staging = resolve_output(config.runs_dir) / f".video-input-{time.time_ns()}"
    try:
        count = extract_frames(video, config.image_size, staging)
        first = config.replace(content=str(frame_png(staging, 0)), name=config.name or "video")
        device = resolve_device(config.device)
        memory = memory_record(check_sizes([first], [load_inputs(first)], device), device)  # of one frame
        name = config.name or f"{Path(video.input).stem}-{Path(config.style[0]).stem}"
        extra = {
            "video": video.to_dict(),
            "frames": count,
            "fps": video.video_fps or input_fps(Path(video.input)),
            "memory_per_frame": memory,
        }
        run = RunFolder.create(resolve_output(config.runs_dir), name, config.to_dict(), extra)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(run.path / INPUT)
    return run


class _VideoJob:
    def __init__(self, config: Config, video: VideoConfig, run: RunFolder):
        self.config, self.video, self.run_folder = config, video, run
        self.path = run.path
        self.count = int(run.info["frames"])
        record = RunRecord.read(self.path)
        self.rows: list[dict[str, Any]] = record.losses() if record is not None else []  # kept by a resume
        self.later = video.steps_after_first(config.epochs)

    def run(self) -> RunRecord:
        done = finished_frames(self.path)
        self.rows = [r for r in self.rows if int(r["frame"]) < done]
        (self.path / FRAMES).mkdir(exist_ok=True)
        steps = (self.config.epochs if done == 0 else 0) + self.later * (self.count - max(done, 1))
        memory = self.run_folder.info.get("memory_per_frame", {}).get("estimate_gb")
        print(
            f"video: {self.count} frames ({done} done), at most {steps} steps to go "
            f"({self.config.epochs} for the first frame, {self.later} for each later one), about {memory} GB a frame",
            flush=True,
        )
        try:
            for i in range(done, self.count):
                started = time.time()
                self._frame(i)
                if i == done and self.count > i + 1:
                    left = (time.time() - started) * (self.count - i - 1) * (self.later / max(self._steps(i), 1))
                    print(f"video: frame {i} took {time.time() - started:.1f} s; about {left:.0f} s to go", flush=True)
            self._finish()
        except KeyboardInterrupt as e:
            with contextlib.suppress(KeyboardInterrupt), deferred_interrupts():
                self._record()
                self.run_folder.finish("interrupted", describe(e), frames_done=finished_frames(self.path))
            raise Interrupted([str(self.path)], is_terminated(e)) from None
        except BaseException as e:
            with deferred_interrupts():
                self.run_folder.finish("failed", " ".join(f"{e.__class__.__name__}: {e}".split()))
            raise
        record = RunRecord.read(self.path)
        assert record is not None
        return record

    def _steps(self, i: int) -> int:
        return self.config.epochs if i == 0 else self.later

    def _load(self, folder: str, i: int) -> torch.Tensor:
        return im.load_image(str(frame_png(self.path / folder, i)))

    def _frame(self, i: int) -> None:
        content_path = frame_png(self.path / INPUT, i)
        cfg = self.config.replace(
            content=str(content_path), epochs=self._steps(i), save_every=0, metrics=False, name=f"frame{i}"
        )
        start = temporal = None
        error = None
        if i > 0:
            content, previous_in = self._load(INPUT, i), self._load(INPUT, i - 1)
            flow, c = frame_flow(previous_in, content, self.video.flow)
            warped = warp(self._load(FRAMES, i - 1), flow)
            if self.video.warm_start:  # where the flow is uncertain: the content frame
                start = c * warped + (1 - c) * content
            if self.video.temporal_weight > 0:
                temporal = (TemporalLoss(warped, c), self.video.temporal_weight)
        work = self.path / WORK
        shutil.rmtree(work, ignore_errors=True)
        result: Result = transfer(cfg, run_dir=work, start=start, temporal=temporal)
        if result.status != "done":
            raise RuntimeError(f"frame {i}: {result.status} ({result.reason})")
        image = result.image
        if i > 0:
            error = warping_error(image, warped, c)
        with deferred_interrupts():  # the frame's PNG (what says it is finished) and its rows together
            self.rows += [
                {"frame": i, **row, **({"warping_error": error} if row["image"] == SAVED else {})}
                for row in result.history
            ]
            self.run_folder.save_losses(self.rows)
            shutil.move(str(work / SAVED), str(frame_png(self.path / FRAMES, i)))
        shutil.rmtree(work, ignore_errors=True)

    def _record(self) -> dict[str, float | None]:
        errors = [float(r["warping_error"]) for r in self.rows if r.get("warping_error") not in (None, "")]
        metrics: dict[str, float | None] = {"warping_error": float(np.mean(errors)) if errors else None}
        self.run_folder.save_metrics(metrics)
        return metrics

    def _finish(self) -> None:
        fps = float(self.run_folder.info["fps"]) / (1 if self.video.video_fps else self.video.stride)
        first = im.tensor_to_uint8(self._load(FRAMES, 0))
        size = first.shape[:2]
        out = VideoWriter(self.path / "video.mp4", fps, size, hold=False)
        both = VideoWriter(self.path / "compare.mp4", fps, (size[0], 2 * size[1]), hold=False)
        for i in range(self.count):
            frame = im.tensor_to_uint8(self._load(FRAMES, i))
            out.write(frame)
            both.write(np.concatenate([im.tensor_to_uint8(self._load(INPUT, i)), frame], axis=1))
        out.close()
        both.close()
        audio = self._audio(fps)
        self._record()
        self.run_folder.finish("done", None, frames_done=self.count, audio=audio)

    def _audio(self, fps: float) -> str:
        """The input's sound over the time its used frames span, copied into video.mp4 where the video lasts as
        long as that time (not with a `video_fps` that speeds it up or slows it down)."""
        source = Path(self.video.input).expanduser()
        if not has_audio(source):
            return NONE
        source_fps = input_fps(source)
        start, span = self.video.first_frame / source_fps, self.count * self.video.stride / source_fps
        if abs(self.count / fps - span) > 1 / fps:
            length = f"{self.count / fps:.2f} s long, its sound {span:.2f} s"
            return f"not copied (video_fps {self.video.video_fps:g} makes the video {length})"
        return copy_audio(source, self.path / "video.mp4", start, start + span)
