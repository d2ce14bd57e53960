"""TensorBoard event files in a run folder: losses per step, snapshots, the config, hparams.

`tensorboard --logdir runs` then shows every run and sweep point (each run folder is one TensorBoard
run). Tags are stable: `loss/total|content|style|tv`, `layer/<term>` (e.g. `layer/style_relu1_1`),
`final/<name>` (final.png's losses, also the hparams metrics), `metric/<name>` (final.png's scores,
metrics.py, hparams metrics of sweep points), `snapshot` (images), `config` (text); a video run logs each
finished frame's final losses and warping error as `frame/<name>` at the frame's index (`pass<N>/<name>` for
a multi-pass run's earlier passes).
A run's writing happens on one worker thread, so a step never waits for protobuf, PNG encoding or the
disk. A sweep adds its points' hparams (`write_hparams`) once they end, so TensorBoard's HPARAMS tab
compares the points' axis values with their final losses and metrics.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from nstlib.record.sink import Sink

LOSS_NAMES = ("total", "content", "style", "tv")
SNAPSHOT_TAG = "snapshot"
CONFIG_TAG = "config"


def available() -> bool:
    """Whether the tensorboard package is installed (the `tensorboard` parameter needs it)."""
    return find_spec("tensorboard") is not None


def scalar_tag(name: str) -> str:
    """The stable tag of a losses.csv column: loss/<total…> or layer/<per-layer term>."""
    return f"loss/{name}" if name in LOSS_NAMES else f"layer/{name}"


def hparam_value(value: Any) -> float | str | bool:
    """TensorBoard's hparams take numbers, strings and booleans; lists and the rest become text."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


class EventLog(Sink):
    """One run's event stream (one per sample of a batch), written on a background thread."""

    def __init__(self, folder: Path, config: Mapping[str, Any]):
        from torch.utils.tensorboard import SummaryWriter  # heavy import: only when a run logs

        self.writer = SummaryWriter(log_dir=str(folder), flush_secs=30)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nstlib-tensorboard")
        self.pending: list[Future[None]] = []
        text = "```json\n" + json.dumps(dict(config), indent=1, default=str) + "\n```"
        self._submit(self.writer.add_text, CONFIG_TAG, text, 0)

    def _submit(self, fn: Any, *args: Any) -> None:
        self.pending = [f for f in self.pending if not f.done()] + [self.pool.submit(fn, *args)]

    def rows(self, rows: list[dict[str, Any]]) -> None:
        """losses.csv rows (host floats) as scalars at their epochs."""
        if rows:
            self._submit(self._rows, rows)

    def _rows(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            for name, value in row.items():
                if name not in ("epoch", "level", "image") and math.isfinite(value):
                    self.writer.add_scalar(scalar_tag(name), value, row["epoch"])

    def frame(self, epoch: int, frame: np.ndarray) -> None:
        """A snapshot (H×W×3 uint8) at `epoch`."""
        self._submit(self.writer.add_image, SNAPSHOT_TAG, frame, epoch, None, "HWC")

    def final(self, epoch: int, frame: np.ndarray, losses: dict[str, float]) -> None:
        """The final image, and final.png's losses as `final/<name>` scalars (the metrics of `write_hparams`)."""
        self.frame(epoch, frame)
        self._submit(self._final, epoch, dict(losses))

    def _final(self, epoch: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            if name in LOSS_NAMES and math.isfinite(value):  # per-layer terms are in layer/* at this step
                self.writer.add_scalar(f"final/{name}", value, epoch)

    def video_frame(self, index: int, frame: np.ndarray | None, values: dict[str, float], prefix: str) -> None:
        """A video's finished frame `index`: `values` (its final losses, warping error) as `<prefix>/<name>`
        scalars at step `index`, and the frame (H×W×3 uint8) as a snapshot when given."""
        if frame is not None:
            self.frame(index, frame)
        self._submit(self._scalars, prefix, index, dict(values))

    def _scalars(self, prefix: str, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def close(self) -> None:
        """Write what is pending and close the event file; errors are raised here."""
        try:
            for f in self.pending:
                f.result()
        finally:
            self.pool.shutdown(wait=True)
            self.writer.close()


def write_hparams(
    folder: Path,
    params: Mapping[str, Any],
    final_losses: Mapping[str, float],
    metrics: Mapping[str, float | None],
) -> None:
    """A sweep point's axis values as hparams, with its final losses (the `final/*` scalars its run logged) and
    its metrics (`metric/*` scalars, written here) as metrics, in a small event file beside the run's own:
    TensorBoard reads both as one run."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    scores = {f"metric/{n}": v for n, v in metrics.items() if v is not None and math.isfinite(v)}
    values = {f"final/{n}": v for n, v in final_losses.items() if n in LOSS_NAMES and math.isfinite(v)} | scores
    # SummaryWriter.add_hparams would make a sub-run per call: the summaries go to this folder's stream
    writer = SummaryWriter(log_dir=str(folder), filename_suffix=".hparams")
    try:
        for summary in hparams({k: hparam_value(v) for k, v in params.items()}, values):
            writer._get_file_writer().add_summary(summary)
        for tag, value in scores.items():
            writer.add_scalar(tag, value, 0)
    finally:
        writer.close()
