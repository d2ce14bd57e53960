"""What a batch run leaves as it goes: loss rows, snapshots and, at the end, the final files of each run.

The optimiser's loss values stay on the device until a log or snapshot step needs them (one host
transfer for many steps). Each sample's outputs are sinks (sink.py), fed at the same points: `LossFile`
(losses.csv, through `RunFolder`, the record's one writer), `FrameSink` (the snapshots and video, with
`save_every`), `tblog.EventLog` (TensorBoard, with `tensorboard` on and the package installed) and
`MetricsFile` (metrics.json, with `metrics` on).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nstlib import images as im
from nstlib.losses.core import LossTerms
from nstlib.record.metrics import metric_features, run_metrics, warm_up
from nstlib.record.runs import ITERATE, SAVED, RunFolder
from nstlib.record.sink import Sink
from nstlib.record.tblog import EventLog, available
from nstlib.record.video import FrameSink

LOSS_NAMES = ("total", "content", "style", "tv")


class LossFile(Sink):
    """losses.csv: every row so far, rewritten (atomically, by the run folder) when rows come."""

    def __init__(self, run: RunFolder, rows: list[dict[str, Any]]):
        self.run, self.all = run, rows  # the recorder's list of this sample's rows

    def rows(self, rows: list[dict[str, Any]]) -> None:
        self.run.save_losses(self.all)


class MetricsFile(Sink):
    """metrics.json and config.json's `metrics`: the final image's scores (metrics.py), through the run folder."""

    def __init__(
        self, run: RunFolder, content: torch.Tensor | None, styles: Sequence[torch.Tensor], blend: Sequence[float]
    ):
        self.run, self.content, self.styles, self.blend = run, content, styles, blend
        warm_up()

    def final(self, epoch: int, frame: np.ndarray, losses: dict[str, float]) -> None:
        image = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0).float() / 255  # final.png's pixels
        try:
            metrics = run_metrics(metric_features(), image, self.content, self.styles, self.blend)
        except Exception as e:  # a score that cannot be computed must not fail a run whose image is saved
            self.run.set(metrics_error=" ".join(f"{e.__class__.__name__}: {e}".split()))
            return
        self.run.save_metrics(metrics)


class Recorder:
    """Loss rows, snapshots and final files of B runs (one per sample)."""

    def __init__(
        self,
        runs: Sequence[RunFolder],
        save_every: int,
        video: bool,
        fps: int,
        video_hw: tuple[int, int],
        expected_frames: int,
        references: Sequence[tuple[torch.Tensor | None, list[torch.Tensor], list[float]]],
    ):
        """`references`: each sample's content, style images and blend weights, for its metrics."""
        self.runs = list(runs)
        self.rows: list[list[dict[str, Any]]] = [[] for _ in self.runs]
        self.pending: list[tuple[int, int, dict[str, torch.Tensor], torch.Tensor]] = []
        board = available()  # without the tensorboard package no event stream is written
        self.sinks: list[list[Sink]] = []
        for run, rows, reference in zip(self.runs, self.rows, references):
            sinks: list[Sink] = [LossFile(run, rows)]
            if save_every:
                sinks.append(FrameSink(run.path, video, fps, video_hw, expected_frames))
            if board and run.info["config"].get("tensorboard"):
                sinks.append(EventLog(run.path, run.info["config"]))
            if run.info["config"].get("metrics"):
                sinks.append(MetricsFile(run, *reference))
            self.sinks.append(sinks)

    # ---- during the run --------------------------------------------------------------------------
    def step(self, epoch: int, level: int, terms: LossTerms, live: torch.Tensor) -> None:
        """Keep step `epoch`'s losses (device tensors, one value per live sample, `live` their indices) until
        the next flush."""
        self.pending.append((epoch, level, {n: v.detach() for n, v in terms.columns().items()}, live))

    def flush(self, active: Sequence[bool]) -> dict[int, int]:
        """Move the kept losses to losses.csv rows of the active samples (those live at each step).

        A sample's rows stop before its first non-finite total; returns {sample: that epoch}.
        """
        if not self.pending:
            return {}
        batch = len(self.runs)
        names = list(self.pending[0][2])
        device = self.pending[0][2]["total"].device
        ran = torch.zeros(len(self.pending), batch, dtype=torch.bool)
        full = {n: torch.full((len(self.pending), batch), float("nan"), device=device) for n in names}
        for i, (_, _, cols, live) in enumerate(self.pending):
            ran[i, live.cpu()] = True
            for n in names:
                full[n][i].index_copy_(0, live, cols[n].float())
        values = {n: v.cpu() for n, v in full.items()}  # steps × B, one transfer
        finite = torch.isfinite(values["total"])
        broken = {}
        for b, on in enumerate(active):
            if not on:
                continue
            before = len(self.rows[b])
            for i, (epoch, level, _, _) in enumerate(self.pending):
                if not bool(ran[i, b]):
                    continue
                if not bool(finite[i, b]):
                    broken[b] = epoch
                    break
                self.rows[b].append(
                    {"epoch": epoch, "level": level, "image": ITERATE, **{n: float(values[n][i, b]) for n in names}}
                )
            for sink in self.sinks[b]:
                sink.rows(self.rows[b][before:])
        self.pending = []
        return broken

    def last_rows(self, active: Sequence[bool]) -> list[dict[str, Any] | None]:
        return [rows[-1] if rows and on else None for rows, on in zip(self.rows, active)]

    def snapshot(self, epoch: int, shown: torch.Tensor, samples: Sequence[int]) -> None:
        """One frame per sample in `samples` of `shown` (B×3×H×W in [0, 1], as the user should see it); a
        sample that stopped gets none: its video holds its final frame."""
        for b in samples:
            frame = im.tensor_to_uint8(shown[b : b + 1])
            for sink in self.sinks[b]:
                sink.frame(epoch, frame)

    # ---- the end -------------------------------------------------------------------------------
    def final(
        self, b: int, epoch: int, level: int, image: torch.Tensor, saved: LossTerms, iterate: LossTerms
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Sample b's final.png, its last frame and losses row; returns (saved-image, iterate) losses."""
        saved_losses = {n: float(v[b]) for n, v in saved.columns().items()}
        iterate_losses = {n: float(v[b]) for n, v in iterate.columns().items()}
        self.rows[b].append({"epoch": epoch, "level": level, "image": SAVED, **saved_losses})
        for sink in self.sinks[b]:
            sink.rows(self.rows[b][-1:])
        config = self.runs[b].info["config"]
        depth, dpi = int(config.get("bit_depth", 8)), int(config.get("dpi", 300))
        im.save_print(image, self.runs[b].path / SAVED, depth, dpi)
        if config.get("output_format") == "tiff":
            im.save_print(image, self.runs[b].path / "final.tiff", depth, dpi)
        frame = im.tensor_to_uint8(image)
        for sink in self.sinks[b]:
            sink.final(epoch, frame, saved_losses)
        return saved_losses, iterate_losses

    def close(self, quiet: bool = False) -> None:
        """Finish the videos and previews; with `quiet`, errors are dropped (the run already failed)."""
        sinks, self.sinks = self.sinks, [[] for _ in self.runs]
        for sink in (sink for per_run in sinks for sink in per_run):
            try:
                sink.close()
            except Exception:
                if not quiet:
                    raise

    def panel(self, b: int, content: torch.Tensor, styles: Sequence[torch.Tensor], result: torch.Tensor) -> None:
        """panel.png: content | style(s) | result, the inputs drawn at the result's scale."""
        from nstlib.record.figures import panel, save_figure

        side = max(result.shape[-2:])  # drawing full-size photos beside a small result is slow

        def small(image: torch.Tensor) -> torch.Tensor:
            return im.resize_longest(image, side) if max(image.shape[-2:]) > side else image

        shown = [
            im.tensor_to_uint8(small(content)),
            *[im.tensor_to_uint8(small(s)) for s in styles],
            im.tensor_to_uint8(result),
        ]
        titles = ["content", *[f"style {i + 1}" if len(styles) > 1 else "style" for i in range(len(styles))], "result"]
        save_figure(panel(shown, titles), self.runs[b].path / "panel.png")
