"""Style transfer for videos (Ruder, Dosovitskiy & Brox, GCPR 2016).

One pass (`passes` 1): frame by frame, each frame after the first starting from the previous stylised frame
warped by the optical flow, with the temporal loss to the previous frames (short-term, or long-term with
`previous_frames`). Multi-pass (Sec. 3.3): every frame stylised on its own (independent frames: in batches),
then passes in alternating directions that start each frame from a blend of its last result and its
neighbour's of the same pass, warped. Every pass resumes frame by frame.

A video run folder holds input/ (the selected frames, resized), frames/ (the stylised frames: a frame is
finished when its PNG exists, written atomically), passes/N/ (multi-pass: the frames of the earlier passes),
video.mp4, compare.mp4 (input | stylised), losses.csv (every frame's rows, a `frame` column, `pass` in
multi-pass), metrics.json (the warping error) and config.json (`config`, `video`, status, time estimate).
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
from nstlib.errors import ConfigError, UserError, quoted
from nstlib.interrupts import Interrupted, deferred_interrupts, describe, is_terminated, terminate_as_interrupt
from nstlib.losses.temporal import TemporalLoss, long_term_target
from nstlib.model.device import compute_dtype, resolve_device, resolve_precision
from nstlib.model.flow import frame_flow, warp
from nstlib.paths import resolve_output
from nstlib.record.audio import NONE, copy_audio
from nstlib.record.runs import SAVED, RunFolder, RunRecord
from nstlib.record.tblog import EventLog, available
from nstlib.record.video import VideoWriter
from nstlib.run.clip import extract_frames, has_audio, input_fps
from nstlib.run.inputs import check_sizes, content_hw, load_inputs
from nstlib.run.levels import network
from nstlib.run.memory import Estimate, batch_budget, bytes_per_sample, memory_record
from nstlib.run.timing import duration, pass_seconds, run_seconds
from nstlib.run.transfer import Result, transfer_batch
from nstlib.videoconfig import VideoConfig

INPUT, FRAMES, PASSES, WORK = "input", "frames", "passes", ".frame"


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
    run_dir: str | Path | None = None,
    **params: Any,
) -> RunRecord:
    """Stylise a video: `stylize_video(Config(style=[...]), VideoConfig(input="clip.mp4"))`, or keyword arguments
    of either (`stylize_video(input="clip.mp4", style=[...], temporal_weight=0)`); `resume`: a video run folder
    to go on with from its last finished frame (its recorded parameters are used); `run_dir`: the new run's folder
    (a sweep's point folder) instead of a new one in `runs_dir`. Returns the run's record."""
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
        run = _create(config, video, run_dir)
    with terminate_as_interrupt():
        return _VideoJob(config, video, run).run()


def _create(config: Config, video: VideoConfig, run_dir: str | Path | None = None) -> RunFolder:
    """The run folder (`run_dir`, else a new one in runs_dir) with its input frames, every input error found
    before (nothing left for a bad input), the whole video's time estimated from one network pass and one flow
    measured now (refused past `time_limit`)."""
    parent = Path(run_dir).parent if run_dir is not None else resolve_output(config.runs_dir)
    staging = parent / f".video-input-{time.time_ns()}"
    try:
        count = extract_frames(video, config.image_size, staging)
        first = config.replace(content=str(frame_png(staging, 0)), name=config.name or "video")
        device = resolve_device(config.device)
        memory = check_sizes([first], [load_inputs(first)], device)  # of one frame
        seconds = _video_seconds(first, video, count, staging, memory)
        name = config.name or f"{Path(video.input).stem}-{Path(config.style[0]).stem}"
        extra = {
            "video": video.to_dict(),
            "frames": count,
            "fps": video.video_fps or input_fps(Path(video.input)),
            "memory_per_frame": memory_record(memory, device),
            "time_estimate_s": round(seconds, 1),
        }
        if run_dir is not None:  # a sweep's point folder
            run = RunFolder(Path(run_dir), config.to_dict(), extra)
        else:
            run = RunFolder.create(resolve_output(config.runs_dir), name, config.to_dict(), extra)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(run.path / INPUT)
    return run


def frame_runs(video: VideoConfig, count: int) -> tuple[int, int]:
    """(frame runs of `epochs` steps, frame runs of `later_epochs` steps) over the whole video."""
    if video.passes == 1:
        return 1, count - 1
    return count, count * (video.passes - 1)


def _video_seconds(first: Config, video: VideoConfig, count: int, frames: Path, memory: Estimate) -> float:
    """Seconds for every frame's steps and flows, from one network pass and one frame pair's flow timed now
    (timing.py); a ConfigError past `time_limit` minutes."""
    device = resolve_device(first.device)
    extractor = network(first, device, compute_dtype(resolve_precision(first.precision, device)))
    probe = pass_seconds(extractor, device)
    hws = [content_hw([load_inputs(first)], size) for size in first.level_sizes]
    full, later = frame_runs(video, count)
    steps = video.steps_after_first(first.epochs)
    seconds = full * run_seconds(first, hws, 1, memory, probe)
    seconds += later * run_seconds(first.replace(epochs=max(steps, 1)), hws, 1, memory, probe) if steps else 0.0
    if count > 1:
        pair = [im.load_image(str(frame_png(frames, i))) for i in (0, 1)]
        started = time.perf_counter()
        frame_flow(pair[0], pair[1], video.flow)
        flows = (count - 1) * len(video.offsets) * max(video.passes - 1, 1) + (count if video.passes > 1 else 0)
        seconds += flows * (time.perf_counter() - started)
    if first.time_limit > 0 and seconds > first.time_limit * 60:
        raise ConfigError(
            f"time_limit: ~{duration(seconds)} estimated for {count} frames at {first.image_size} px "
            f"({video.passes} pass{'es' if video.passes > 1 else ''}), over {first.time_limit:g} min; use fewer "
            "frames (last_frame, stride), fewer epochs or later_epochs, a smaller image_size, or a larger time_limit"
        )
    return seconds


class _VideoJob:
    def __init__(self, config: Config, video: VideoConfig, run: RunFolder):
        self.config, self.video, self.run_folder = config, video, run
        self.path = run.path
        self.count = int(run.info["frames"])
        record = RunRecord.read(self.path)
        self.rows: list[dict[str, Any]] = record.losses() if record is not None else []  # kept by a resume
        self.later = video.steps_after_first(config.epochs)
        self.passes = video.passes
        self.board: EventLog | None = None

    def folder(self, pass_no: int) -> Path:
        """Where a pass's frames go: frames/ for the last (or only) pass, passes/N/ before it."""
        return self.path / (FRAMES if pass_no == self.passes else f"{PASSES}/{pass_no}")

    def _done(self, pass_no: int, i: int) -> bool:
        return frame_png(self.folder(pass_no), i).is_file()

    def _steps(self, pass_no: int, i: int) -> int:
        first = i == 0 if self.passes == 1 else pass_no == 1
        return self.config.epochs if first else self.later

    def run(self) -> RunRecord:
        self.rows = [r for r in self.rows if self._done(int(r.get("pass") or 1), int(r["frame"]))]
        todo = {p: [i for i in range(self.count) if not self._done(p, i)] for p in range(1, self.passes + 1)}
        steps = sum(self._steps(p, i) for p, frames in todo.items() for i in frames)
        memory = self.run_folder.info.get("memory_per_frame", {}).get("estimate_gb")
        estimate = self.run_folder.info.get("time_estimate_s")
        passes = f" in {self.passes} passes" if self.passes > 1 else ""
        print(
            f"video: {self.count} frames{passes} ({self.count - len(todo[self.passes])} done), at most {steps} steps "
            f"to go ({self.config.epochs} for the first {'pass' if self.passes > 1 else 'frame'}, {self.later} for "
            f"each later one), about {memory} GB a frame"
            + (f"; the whole video ~{duration(estimate)} (one network pass measured)" if estimate else ""),
            flush=True,
        )
        if self.config.tensorboard and available():
            self.board = EventLog(self.path, self.run_folder.info["config"])
        try:
            for p in range(1, self.passes + 1):
                started = time.time()
                if self.passes == 1:
                    self._sequential(todo[p])
                else:
                    self._pass(p, todo[p])
                    print(f"video: pass {p} of {self.passes} took {time.time() - started:.1f} s", flush=True)
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
        finally:
            if self.board is not None:
                self.board.close()
        record = RunRecord.read(self.path)
        assert record is not None
        return record

    def _load(self, folder: Path, i: int) -> torch.Tensor:
        return im.load_image(str(frame_png(folder, i)))

    def _warped(self, source: Path, k: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame k of `source` warped onto frame i, and the certainty of that warp (H×W)."""
        flow, c = frame_flow(self._load(self.path / INPUT, k), self._load(self.path / INPUT, i), self.video.flow)
        return warp(self._load(source, k), flow), c

    def _target(self, source: Path, i: int, direction: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The temporal loss's (ω, c) for frame i: frames i − direction·j of `source` (j in previous_frames)
        warped onto it, each pixel tied to the nearest that sees it (Eq. 8–9); c = 0 where there is none."""
        near = [i - direction * j for j in self.video.offsets]
        pairs = [self._warped(source, k, i) for k in near if 0 <= k < self.count and frame_png(source, k).is_file()]
        if not pairs:
            content = self._load(self.path / INPUT, i)
            return content, torch.zeros(content.shape[-2:])
        return long_term_target([w for w, _ in pairs], [c for _, c in pairs])

    def _sequential(self, frames: list[int]) -> None:
        """One pass, frame after frame: each starts from the previous stylised frame warped (Sec. 3)."""
        for n, i in enumerate(frames):
            started = time.time()
            start = temporal = None
            if i > 0:
                content = self._load(self.path / INPUT, i)
                warped, c = self._warped(self.path / FRAMES, i - 1, i)
                if self.video.warm_start:  # where the flow is uncertain: the content frame
                    start = c * warped + (1 - c) * content
                if self.video.temporal_weight > 0:
                    pair = (warped, c) if self.video.offsets == (1,) else self._target(self.path / FRAMES, i, 1)
                    temporal = TemporalLoss(*pair)
            self._run(1, [i], start, temporal)
            if n == 0 and len(frames) > 1:
                left = (time.time() - started) * (len(frames) - 1) * (self.later / max(self._steps(1, i), 1))
                print(f"video: frame {i} took {time.time() - started:.1f} s; about {left:.0f} s to go", flush=True)

    def _pass(self, pass_no: int, frames: list[int]) -> None:
        """One pass of the multi-pass algorithm (Sec. 3.3). Pass 1 stylises every frame on its own, in batches
        (its frames are independent). A later pass runs frame after frame in its direction, starting frame i
        from δ c ω(x'_{i∓1}) + (1 − δ c) x_i: x_i its result of the pass before, x'_{i∓1} its neighbour's of
        this pass, warped; the temporal loss ties it to this pass's neighbours."""
        if pass_no == 1:
            hw = tuple(self._load(self.path / INPUT, 0).shape[-2:])
            cfg = self._config(frames[0], pass_no) if frames else self.config
            size = max(1, batch_budget(cfg) // bytes_per_sample(cfg, (int(hw[0]), int(hw[1]))))
            for chunk in [frames[n : n + size] for n in range(0, len(frames), size)]:
                self._run(pass_no, chunk, None, None)
            return
        direction = -1 if pass_no % 2 else 1  # pass 2 runs forward, pass 3 backward, …
        before, now = self.folder(pass_no - 1), self.folder(pass_no)
        for i in frames if direction == 1 else frames[::-1]:
            start, k = self._load(before, i), i - direction
            if self.video.warm_start and 0 <= k < self.count and frame_png(now, k).is_file():
                warped, c = self._warped(now, k, i)
                start = self.video.blend * c * warped + (1 - self.video.blend * c) * start
            temporal = TemporalLoss(*self._target(now, i, direction)) if self.video.temporal_weight > 0 else None
            self._run(pass_no, [i], start, temporal)

    def _config(self, i: int, pass_no: int) -> Config:
        return self.config.replace(
            content=str(frame_png(self.path / INPUT, i)),
            epochs=self._steps(pass_no, i),
            save_every=0,
            metrics=False,
            tensorboard=False,  # the video's own log has every frame (a frame's folder is temporary)
            time_limit=0,  # the whole video's time was estimated (and refused) up front
            name=f"frame{i}",
        )

    def _run(self, pass_no: int, frames: list[int], start: torch.Tensor | None, temporal: TemporalLoss | None) -> None:
        """Stylise `frames` as one batch and keep them: PNG (what says a frame is finished) and rows together."""
        work = self.path / WORK
        shutil.rmtree(work, ignore_errors=True)
        dirs = [work / str(i) for i in frames]
        for d in dirs:
            d.mkdir(parents=True)
        weighted = (temporal, self.video.temporal_weight) if temporal is not None else None
        configs = [self._config(i, pass_no) for i in frames]
        results: list[Result] = transfer_batch(configs, run_dirs=dirs, start=start, temporal=weighted)
        for i, result in zip(frames, results):
            if result.status != "done":
                raise RuntimeError(f"frame {i}: {result.status} ({result.reason})")
        folder = self.folder(pass_no)
        folder.mkdir(parents=True, exist_ok=True)
        tag = {"pass": pass_no} if self.passes > 1 else {}
        with deferred_interrupts():
            for i, result in zip(frames, results):
                self.rows += [{"frame": i, **tag, **row} for row in result.history]
            # the rows before the PNGs, which say a frame is finished: a kill (SIGKILL, power) between the two
            # leaves rows of unfinished frames, which a resume drops, and never a finished frame without its rows
            self.run_folder.save_losses(self.rows)
            for i in frames:
                shutil.move(str(work / str(i) / SAVED), str(frame_png(folder, i)))
            if self.board is not None:
                last = pass_no == self.passes
                for i, result in zip(frames, results):
                    image = im.tensor_to_uint8(result.image) if last else None
                    self.board.video_frame(i, image, result.final_losses, "frame" if last else f"pass{pass_no}")
            if pass_no == self.passes:
                self._score_neighbours(frames)
                self.run_folder.save_losses(self.rows)
        shutil.rmtree(work, ignore_errors=True)

    def _score_neighbours(self, frames: list[int]) -> None:
        """The warping error of every finished frame whose previous frame is finished too, once (metrics)."""
        scored = {int(r["frame"]) for r in self.rows if r.get("warping_error") not in (None, "")}
        for i in sorted({k for f in frames for k in (f, f + 1)}):
            if 0 < i < self.count and i not in scored and self._done(self.passes, i) and self._done(self.passes, i - 1):
                warped, c = self._warped(self.path / FRAMES, i - 1, i)
                error = warping_error(self._load(self.path / FRAMES, i), warped, c)
                for row in self.rows:
                    if int(row["frame"]) == i and row["image"] == SAVED and int(row.get("pass") or 1) == self.passes:
                        row["warping_error"] = error
                if self.board is not None:
                    self.board.video_frame(i, None, {"warping_error": error}, "frame")

    def _record(self) -> dict[str, float | None]:
        errors = [float(r["warping_error"]) for r in self.rows if r.get("warping_error") not in (None, "")]
        metrics: dict[str, float | None] = {"warping_error": float(np.mean(errors)) if errors else None}
        self.run_folder.save_metrics(metrics)
        return metrics

    def _finish(self) -> None:
        fps = float(self.run_folder.info["fps"]) / (1 if self.video.video_fps else self.video.stride)
        first = im.tensor_to_uint8(self._load(self.path / FRAMES, 0))
        size = first.shape[:2]
        out = VideoWriter(self.path / "video.mp4", fps, size, hold=False)
        both = VideoWriter(self.path / "compare.mp4", fps, (size[0], 2 * size[1]), hold=False)
        for i in range(self.count):
            frame = im.tensor_to_uint8(self._load(self.path / FRAMES, i))
            out.write(frame)
            both.write(np.concatenate([im.tensor_to_uint8(self._load(self.path / INPUT, i)), frame], axis=1))
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
