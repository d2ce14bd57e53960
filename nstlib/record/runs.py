"""Run folders and the run record: the only code that writes or reads config.json, losses.csv and metrics.json.

A run folder (`runs/<UTC time>_<name>/`) holds config.json (parameters, environment, status,
final losses, metrics), losses.csv (one row per logged step, then the saved image's row), final.png,
metrics.json (the scores of final.png, `metrics.py`), panel.png and the snapshots of `video.py`.
Folders are never reused; every file is written atomically.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nstlib._version import __version__
from nstlib.errors import UserError, quoted
from nstlib.files import FolderLock, read_csv, read_json, write_csv, write_json
from nstlib.paths import source_root

STATUSES = ("running", "done", "failed", "interrupted")
RECORD = "config.json"
LOSSES = "losses.csv"
METRICS = "metrics.json"
# losses.csv's `image` column: what a row's losses were evaluated on
ITERATE, SAVED = "iterate", "final.png"


def slug(text: str, limit: int = 60) -> str:
    """A filesystem-safe name: letters, digits, '.', '_', '-', '+', '=' only."""
    text = re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-.")
    return text[:limit] or "run"


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_folder(parent: str | os.PathLike[str], name: str, stamped: bool = True) -> Path:
    """Create and return a new folder `<UTC time>_<name>` (or `<name>`) in `parent`; never reuses one."""
    parent = Path(parent)
    base = f"{timestamp()}_{slug(name)}" if stamped else slug(name)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = parent / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as e:  # a file in the way, no permission, a read-only disk
        raise UserError(f"runs_dir: cannot make a folder in {quoted(parent)} ({e.strerror or e})") from None
    raise RuntimeError(f"{quoted(parent)}: cannot find a free folder name for {base}")


def git_commit() -> str | None:
    root = source_root()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def environment() -> dict[str, Any]:
    import numpy as np
    import torch
    from PIL import Image

    versions = {
        "nstlib": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": Image.__version__,
    }
    return {"versions": versions, "platform": platform.platform(), "git_commit": git_commit(), "argv": sys.argv}


@dataclass
class RunRecord:
    """What a run folder's config.json says; `read` returns None where there is no readable record."""

    path: Path
    status: str
    reason: str | None
    config: dict[str, Any]
    wall_time_s: float | None
    final_losses: dict[str, float]  # of final.png, the saved 8-bit image
    iterate_losses: dict[str, float]  # of the optimiser's last iterate, before 8-bit rounding
    metrics: dict[str, float | None]  # of final.png (metrics.py); empty if it was not scored
    info: dict[str, Any] = field(repr=False)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> RunRecord | None:
        path = Path(path)
        try:
            info = read_json(path / RECORD)
        except (OSError, ValueError):
            return None
        status = info.get("status")
        return cls(
            path,
            status if status in STATUSES else "failed",
            info.get("reason"),
            info.get("config") or {},
            info.get("wall_time_s"),
            info.get("final_losses") or {},
            info.get("iterate_losses") or {},
            info.get("metrics") or {},
            info,
        )

    def losses(self) -> list[dict[str, str]]:
        """losses.csv as rows of strings (empty if the run logged nothing)."""
        try:
            return read_csv(self.path / LOSSES)
        except FileNotFoundError:
            return []


def read_metrics(run_folder: str | os.PathLike[str]) -> dict[str, float | None]:
    """A run folder's metrics.json: metric name → value (None where a metric does not apply); empty if none."""
    try:
        data = read_json(Path(run_folder) / METRICS)
    except (OSError, ValueError):
        return {}
    return {k: float(v) if isinstance(v, int | float) else None for k, v in data.items()}


def is_run_folder(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / RECORD).is_file()


class RunFolder:
    """Writes one run's record: config.json always says the run's status; losses.csv its loss rows."""

    def __init__(self, path: Path, config: dict[str, Any], extra: dict[str, Any] | None = None):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"run folder {quoted(self.path)}: cannot make it ({e.strerror or e})") from None
        self.lock = FolderLock(self.path, "this run folder").acquire()  # released by finish()
        self.started = time.time()
        self.info: dict[str, Any] = {
            "status": "running",
            "reason": None,
            "config": config,
            "started": _now(),
            **environment(),
            **(extra or {}),
        }
        self._save()

    @classmethod
    def create(
        cls, runs_dir: str | os.PathLike[str], name: str, config: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> RunFolder:
        return cls(new_folder(runs_dir, name), config, extra)

    @classmethod
    def resume(cls, path: str | os.PathLike[str]) -> RunFolder:
        """Reopen a run folder to go on with it (a video run after an interruption): its record kept, marked
        running again, the time resumed noted in `resumed`."""
        record = RunRecord.read(path)
        if record is None:
            raise UserError(f"resume: {quoted(path)} is not a run folder (no readable config.json)")
        if record.status == "done":
            raise UserError(f"resume: {quoted(path)} is already done")
        info = {k: v for k, v in record.info.items() if k not in ("status", "reason", "config")}
        return cls(Path(path), record.config, {**info, "resumed": [*info.get("resumed", []), _now()]})

    @property
    def status(self) -> str:
        return str(self.info["status"])

    def _save(self) -> None:
        write_json(self.path / RECORD, self.info)

    def set(self, **fields: Any) -> None:
        """Record more facts about the run (estimates, what was actually used)."""
        self.info.update(fields)
        self._save()

    def save_losses(self, rows: list[dict[str, Any]]) -> None:
        write_csv(self.path / LOSSES, rows)

    def save_metrics(self, metrics: dict[str, float | None]) -> None:
        """metrics.json, and the same values in config.json's `metrics`."""
        write_json(self.path / METRICS, metrics)
        self.set(metrics=metrics)

    @staticmethod
    def record_metrics(path: str | os.PathLike[str], metrics: dict[str, float | None]) -> None:
        """`save_metrics` for a run folder that has finished (its caller holds the folder's lock)."""
        path = Path(path)
        info = read_json(path / RECORD)
        write_json(path / METRICS, metrics)
        write_json(path / RECORD, {**info, "metrics": metrics})

    def finish(self, status: str, reason: str | None = None, **fields: Any) -> None:
        assert status in STATUSES and status != "running"
        try:
            self.set(
                status=status,
                reason=reason,
                wall_time_s=round(time.time() - self.started, 3),
                finished=_now(),
                **fields,
            )
        finally:
            self.lock.release()

    @staticmethod
    def mark_failed(path: str | os.PathLike[str], config: dict[str, Any], error: str, wall_time_s: float) -> RunRecord:
        """Record a failure that happened outside the run (a worker died, a notebook cell failed).

        A record that already says failed or interrupted is kept: it knows more than the caller.
        """
        path = Path(path)
        record = RunRecord.read(path)
        if record is not None and record.status in ("failed", "interrupted"):
            return record
        path.mkdir(parents=True, exist_ok=True)
        info: dict[str, Any] = dict(record.info) if record is not None else {"config": config}
        info.update(
            status="failed", reason=error, wall_time_s=info.get("wall_time_s") or round(wall_time_s, 3), finished=_now()
        )
        write_json(path / RECORD, info)
        failed = RunRecord.read(path)
        assert failed is not None
        return failed
