"""Progress of a run or a batch: a tqdm bar, text lines with an ETA, or nothing.

'auto' draws a bar only where one renders (a terminal, Jupyter); redirected to a file or a log it
prints text lines, so logs never fill with carriage returns. A batch shows every sample's total.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO


def interactive(stream: TextIO | None = None) -> bool:
    """A terminal, or a Jupyter kernel (not a plain pipe or file, where a bar would be garbage)."""
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return True
    shell = sys.modules.get("IPython")
    ipython = getattr(shell, "get_ipython", lambda: None)() if shell else None
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def duration(seconds: float) -> str:
    """12s, 4m05s, 1h02m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Reports steps done out of `total`; `labels` name the samples of a batch (printed once)."""

    def __init__(self, mode: str, total: int, every: int, labels: Sequence[str] = ("",), stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.mode = ("bar" if interactive(self.stream) else "text") if mode == "auto" else mode
        self.total, self.every, self.labels = total, every, list(labels)
        self.started, self.done = time.time(), 0
        self.first: tuple[float, int] | None = None  # (time, steps) of the first report: set-up is not a step
        self.bar: Any = None
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="step", desc="style transfer", file=self.stream)
        if self.mode != "none" and len(self.labels) > 1:
            legend = "  ".join(f"[{i}] {label}" for i, label in enumerate(self.labels, 1))
            self._print(f"batch of {len(self.labels)}: {legend}")

    def note(self, line: str) -> None:
        """A one-off line (the memory plan at the start), unless progress is off."""
        if self.mode != "none":
            self._print(line)

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def rate(self, done: int) -> float:
        """Seconds per step, from the steps since the first report (or since the start, at first)."""
        now = time.time()
        if self.first is None or done <= self.first[1]:
            return (now - self.started) / max(1, done)
        return (now - self.first[0]) / (done - self.first[1])

    def update(self, done: int, last_rows: Sequence[dict[str, Any] | None]) -> None:
        """`last_rows`: each sample's latest loss row (None for a sample that stopped)."""
        if self.mode == "none" or not any(last_rows):
            return
        if len(last_rows) == 1:
            row = last_rows[0]
            assert row is not None
            losses = f"total {row['total']:.4g}  content {row['content']:.4g}  style {row['style']:.4g}"
            losses += f"  tv {row['tv']:.3g}" if row.get("tv") else ""
        else:
            losses = "total " + " ".join(
                f"[{i}] {r['total']:.3g}" if r else f"[{i}] stopped" for i, r in enumerate(last_rows, 1)
            )
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.bar.set_postfix_str(losses, refresh=True)
        else:
            rate = self.rate(done)
            eta = duration(rate * max(0, self.total - done))
            self._print(f"step {done}/{self.total}  {losses}  {rate:.2f} s/step  ETA {eta}")
        if self.first is None:
            self.first = (time.time(), done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
