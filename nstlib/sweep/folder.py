"""A sweep folder's state: one record per point, the index files (index.csv, index.jsonl) and progress lines.

Point records come from the points' run records (`runs.RunRecord`); the index is rewritten after
every point, in time linear in the number of points.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nstlib.config import Config, from_dict
from nstlib.errors import ConfigError, UserError, quoted
from nstlib.files import FolderLock, atomic_write_text, write_csv
from nstlib.record.metrics import METRIC_NAMES
from nstlib.record.runs import RunRecord
from nstlib.sweep.labels import format_value
from nstlib.sweep.rank import CONTENT_METRIC, metric_value, pareto_front, rank_score, ranks
from nstlib.sweep.spec import Point, Sweep, load_sweep, one_line
from nstlib.sweep.video import VIDEO_METRICS, video_changes

LOSS_COLUMNS = ("total", "content", "style", "tv")
# how a point reports progress and where a standalone run would go: not what it computes (the engines
# themselves turn progress "auto" into "text" or "none", and give each point its folder)
NOT_COMPARED = ("progress", "log_every", "runs_dir")


@dataclass
class PointState:
    """A point's status and results, as the index shows them."""

    status: str = "pending"  # pending, queued, running, done, failed, interrupted
    error: str = ""
    wall_time_s: float | None = None
    final_losses: dict[str, float] = field(default_factory=dict)  # of final.png, the saved 8-bit image
    iterate_losses: dict[str, float] = field(default_factory=dict)  # of the optimiser's last iterate
    steps_run: int | None = None  # optimizer steps actually taken (fewer than epochs once converged)
    metrics: dict[str, float | None] = field(default_factory=dict)  # final.png's scores (record/metrics.py)

    @classmethod
    def of(cls, record: RunRecord) -> PointState:
        steps = record.info.get("steps_run")
        return cls(
            record.status,
            record.reason or "",
            record.wall_time_s,
            record.final_losses,
            record.iterate_losses,
            steps if isinstance(steps, int) else None,
            record.metrics,
        )


def read_point(path: Path) -> PointState | None:
    """What a point folder's run record says; None if it has none."""
    record = RunRecord.read(path)
    return PointState.of(record) if record is not None else None


def changes(recorded: dict[str, Any], now: Config) -> list[str]:
    """'name old → new' for each parameter that `now` sets otherwise than a run's recorded config did."""
    try:
        old = from_dict(recorded).portable()  # paths compared as the files they name (dask records them absolute)
    except ConfigError as e:
        return [f"its config.json does not hold a config of this NST Lab ({one_line(e)})"]
    new = now.portable()
    out = []
    for name, value in new.items():
        if name in NOT_COMPARED or old[name] == value:
            continue
        was, now_text = format_value(name, old[name]), format_value(name, value)
        if was == now_text:  # labels too short to tell them apart (two paths with one stem)
            was, now_text = repr(old[name]), repr(value)
        out.append(f"{name} {was} → {now_text}")
    return out


class SweepFolder:
    """The points' states in one sweep folder and the index files written from them."""

    def __init__(self, spec: Sweep, folder: Path, say: Callable[..., None]):
        self.spec, self.folder, self.say = spec, folder, say
        self.states: dict[int, PointState] = {p.number: PointState() for p in spec.points}
        self.finished = 0

    def extend(self, spec: Sweep) -> None:
        """The same sweep with more points (a search's new trials): they start pending."""
        self.spec = spec
        for p in spec.points:
            self.states.setdefault(p.number, PointState())

    def path(self, point: Point) -> Path:
        return self.folder / point.folder

    def prepare(self, resuming: bool, rerun_changed: bool = False) -> list[Point]:
        """The points to run; on resume, done points are kept and the others' folders cleared.

        A done point whose recorded config differs from what the sweep now asks for (sweep.yaml edited)
        is refused in one line before anything is touched, or rerun if `rerun_changed`."""
        done: dict[int, RunRecord] = {}
        for p in self.spec.points if resuming else ():
            record = RunRecord.read(self.path(p))
            if record is not None and record.status == "done":
                done[p.number] = record
        changed = {
            p.number: d
            for p in self.spec.points
            if p.number in done
            if (d := changes(done[p.number].config, p.config) + _video_changes(done[p.number], p))
        }
        if changed and not rerun_changed:
            p = next(p for p in self.spec.points if p.number in changed)
            more = f" (and {len(changed) - 1} more points)" if len(changed) > 1 else ""
            raise UserError(
                f"--resume {quoted(self.folder)}: point {p.folder} ran with other parameters than the sweep now "
                f"asks for: {'; '.join(changed[p.number])}{more}; give --rerun-changed (rerun_changed=True) to "
                "rerun such points, or restore sweep.yaml"
            )
        todo = []
        for p in self.spec.points:
            if p.number in done and p.number not in changed:
                self.states[p.number] = PointState.of(done[p.number])
                self.finished += 1
                continue
            if self.path(p).exists() and not _resumable_video(self.path(p), p):
                shutil.rmtree(self.path(p))
            todo.append(p)
        self.write_index()
        return todo

    def start(self, points: Sequence[Point], status: str = "running") -> None:
        for p in points:
            self.states[p.number] = PointState(status)
        self.write_index()
        if len(points) > 1 and status == "running":
            self.say(
                f"running {len(points)} points as one batch: "
                + "; ".join(f"[{i}] {p.label}" for i, p in enumerate(points, 1)),
                flush=True,
            )

    def done(self, point: Point, state: PointState) -> None:
        self.states[point.number] = state
        self.finished += 1
        self.write_index()
        line = f"[{self.finished}/{len(self.spec.points)}] {point.label} {state.status}"
        line += f" {state.wall_time_s:.1f} s" if isinstance(state.wall_time_s, (int, float)) else ""
        line += f", {state.steps_run} steps" if state.steps_run is not None else ""
        if state.status != "done" and state.error:
            line += f": {state.error}"
        self.say(line, flush=True)

    def interrupted(self) -> None:
        for p in self.spec.points:
            if self.states[p.number].status in ("running", "queued"):
                self.states[p.number] = read_point(self.path(p)) or PointState("interrupted")
        self.write_index()

    def failed_running(self, error: str) -> None:
        """Points still running or queued when the sweep itself failed."""
        for p in self.spec.points:
            if self.states[p.number].status in ("running", "queued"):
                state = read_point(self.path(p))  # a record the run finished itself knows more
                if state is None or state.status == "running":
                    state = PointState("failed", error)
                self.states[p.number] = state
        self.write_index()

    def rows(self) -> list[dict[str, Any]]:
        """One row per point: its parameters, status, both kinds of final losses, final.png's metrics, `pareto` and,
        with `rank:`, `rank` and `rank_score` (see docs/sweeps.md); the per-layer losses (dicts) go to index.jsonl
        only."""
        judged = judge(self.spec, [self.states[p.number] for p in self.spec.points])
        rows = []
        for p, extra in zip(self.spec.points, judged):
            s = self.states[p.number]
            row: dict[str, Any] = {"point": p.number, "label": p.label}
            row.update({k: p.value(k) for k in self.spec.varied})
            row.update(status=s.status, error=s.error, wall_time_s=s.wall_time_s, steps_run=s.steps_run)
            row.update({f"final_png_{k}": s.final_losses.get(k) for k in LOSS_COLUMNS})
            row.update({f"final_iterate_{k}": s.iterate_losses.get(k) for k in LOSS_COLUMNS})
            row.update({name: s.metrics.get(name) for name in metric_names(self.spec)})
            row.update(extra)
            row.update(folder=p.folder, final_losses=s.final_losses, iterate_losses=s.iterate_losses)
            rows.append(row)
        return rows

    def write_index(self) -> None:
        rows = self.rows()
        write_csv(
            self.folder / "index.csv",
            [
                {
                    k: (",".join(map(str, v)) if isinstance(v, list) else "" if v is None else v)
                    for k, v in row.items()
                    if not isinstance(v, dict)
                }
                for row in rows
            ],
        )
        atomic_write_text(self.folder / "index.jsonl", "".join(json.dumps(r, default=str) + "\n" for r in rows))


def metric_names(spec: Sweep) -> tuple[str, ...]:
    """The metrics of a sweep's points: final.png's (METRIC_NAMES), or a video sweep's warping error."""
    return VIDEO_METRICS if spec.video is not None else METRIC_NAMES


def _resumable_video(path: Path, point: Point) -> bool:
    """Whether a video point's folder holds an unfinished run of the same parameters (its frames are kept and
    the run goes on from its last finished frame)."""
    record = RunRecord.read(path)
    if point.video is None or record is None or "video" not in record.info or record.status == "done":
        return False
    return not changes(record.config, point.config) + _video_changes(record, point)


def _video_changes(record: RunRecord, point: Point) -> list[str]:
    return video_changes(record.info.get("video"), point.video) if point.video is not None else []


def judge(spec: Sweep, states: Sequence[PointState]) -> list[dict[str, Any]]:
    """Each point's `pareto` (on the front of content against style distance, among the points done; not in a
    video sweep, whose runs have no such distances) and, with the sweep's `rank:`, its `rank` (1 = best) and
    `rank_score`."""
    xy = [tradeoff_point(spec, s) for s in states]
    out: list[dict[str, Any]] = [{"pareto": on if xy[i] is not None else None} for i, on in enumerate(pareto_front(xy))]
    if spec.video is not None:
        out = [{} for _ in states]
    if spec.rank is not None:
        scores = [rank_score(s.metrics, spec.rank) if s.status == "done" else None for s in states]
        for row, score, position in zip(out, scores, ranks(scores)):
            row.update(rank=position, rank_score=score)
    return out


def tradeoff_point(spec: Sweep, state: PointState) -> tuple[float, float] | None:
    """(content distance, style distance) of a point done, as the trade-off view plots it; None without them."""
    x, y = metric_value(state.metrics, CONTENT_METRIC), metric_value(state.metrics, spec.tradeoff["style"])
    return (x, y) if state.status == "done" and x is not None and y is not None else None


def save_spec(folder: Path, spec: Sweep) -> None:
    """sweep.yaml: the resolved sweep (every base parameter, and the values drawn for its sampled axes)."""
    text = yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=None)
    atomic_write_text(
        folder / "sweep.yaml",
        f"# NST Lab sweep, resolved (every base parameter). Resume: nst sweep --resume {folder}\n" + text,
    )


def is_sweep_folder(path: Path) -> bool:
    return (path / "sweep.yaml").is_file()


def refresh_index(folder: Path) -> None:
    """Rewrite a sweep folder's index files from its points' run records as they are now (`nst metrics`)."""
    spec = load_sweep(folder / "sweep.yaml")
    with FolderLock(folder, "this sweep"):
        state = SweepFolder(spec, folder, print)
        for p in spec.points:
            state.states[p.number] = read_point(state.path(p)) or PointState()
        state.write_index()
