"""The interface every output of a run shares: losses.csv, the snapshot frames and video, TensorBoard.

The recorder feeds each sample's sinks as the run goes; a sink takes what it writes and ignores the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Sink:
    """One output of one run. Every method but `close` may be left as it is (nothing to write)."""

    def rows(self, rows: list[dict[str, Any]]) -> None:
        """New losses.csv rows (host floats), in epoch order."""

    def frame(self, epoch: int, frame: np.ndarray) -> None:
        """A snapshot (H×W×3 uint8) at `epoch`."""

    def final(self, epoch: int, frame: np.ndarray, losses: dict[str, float]) -> None:
        """The final image and final.png's losses (its row came through `rows` just before)."""
        self.frame(epoch, frame)

    def close(self) -> None:
        """Finish writing; errors are raised here."""
