"""What a run returns (`Result`) and how a caller stops it (`StopRequested`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nstlib.config import Config


@dataclass
class Result:
    """What a run leaves: the final image (1×3×H×W, as saved), the loss rows, its folder and status.

    `final_losses` are the saved 8-bit final.png's; `iterate_losses` the optimiser's last iterate's.
    """

    image: torch.Tensor
    history: list[dict[str, Any]]
    run_dir: Path | None
    status: str = "done"
    reason: str | None = None
    final_losses: dict[str, float] = field(default_factory=dict)
    config: Config | None = None
    iterate_losses: dict[str, float] = field(default_factory=dict)


class StopRequested(Exception):
    """Raised inside the step loop when the caller's stop event is set."""
