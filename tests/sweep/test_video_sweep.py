"""Video sweeps (`video:` in a sweep file): a tiny sweep over temporal_weight, bad input refused before any
folder, resume, and the bundled sweeps/temporal_weight.yaml."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import nstlib
from nstlib.errors import ConfigError, UserError
from nstlib.record.runs import read_csv, read_json
from nstlib.sweep.spec import load_sweep
from nstlib.ui.cli import main

from conftest import ROOT, clip_with_sound

STYLE = str(ROOT / "collections/style/starry_swirls.jpg")
BASE = {
    "style": [STYLE],
    "image_size": 40,
    "epochs": 2,
    "save_every": 0,
    "weights": "original",
    "precision": "fp32",
    "device": "cpu",
    "progress": "none",
}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """3 frames of 40×32 px, no sound."""
    return clip_with_sound(tmp_path_factory.mktemp("clip") / "clip.mp4", 3, 8, tones=(), size=(40, 32))


def video_sweep(clip: Path, runs: Path, **extra) -> dict:
    return {
        "name": "tiny_video",
        "video": {"input": str(clip), "later_epochs": 2, **extra.pop("video", {})},
        "base": {**BASE, "runs_dir": str(runs)},
        "axes": {"temporal_weight": [0, "1e13"]},
        **extra,
    }


def only_folder(runs: Path) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    return folder


@pytest.fixture(scope="module")
def ran(tmp_path_factory, clip, original_weights):
    runs = tmp_path_factory.mktemp("video_sweep") / "runs"
    result = nstlib.sweep(video_sweep(clip, runs), verbose=False)
    return result


def test_video_sweep_runs_every_point_as_a_video_run(ran):
    assert ran.ok
    rows = read_csv(ran.folder / "index.csv")
    assert [r["folder"] for r in rows] == ["01_temporal_weight=0", "02_temporal_weight=1e13"]
    assert [float(r["temporal_weight"]) for r in rows] == [0.0, 1e13]
    assert [r["status"] for r in rows] == ["done", "done"]
    for row in rows:
        point = ran.folder / row["folder"]
        assert sorted(p.name for p in (point / "frames").iterdir()) == ["00000.png", "00001.png", "00002.png"]
        assert (point / "video.mp4").is_file()
        record = read_json(point / "config.json")
        assert record["status"] == "done" and record["video"]["temporal_weight"] == float(row["temporal_weight"])
        assert math.isfinite(float(row["warping_error"])) and float(row["wall_time_s"]) > 0
        assert float(row["warping_error"]) == pytest.approx(read_json(point / "metrics.json")["warping_error"])
    assert "pareto" not in rows[0] and "content_distance" not in rows[0]  # video runs have no such distances
    assert (ran.folder / "grid.png").is_file() and not (ran.folder / "tradeoff.png").exists()
    saved = yaml.safe_load((ran.folder / "sweep.yaml").read_text())
    assert saved["video"]["later_epochs"] == 2 and saved["axes"] == {"temporal_weight": [0.0, 1e13]}


def test_resume_skips_the_points_done_and_goes_on_from_a_points_last_frame(ran, monkeypatch):
    """An unfinished video point keeps its finished frames: the resume makes only the missing one."""
    import nstlib.run.video_transfer as video_transfer

    point = ran.folder / "02_temporal_weight=1e13"
    record = read_json(point / "config.json")
    (point / "config.json").write_text(__import__("json").dumps({**record, "status": "interrupted"}))
    (point / "frames/00002.png").unlink()
    (point / "video.mp4").unlink()
    kept = (point / "frames/00001.png").read_bytes()
    calls = []
    real = video_transfer.stylize_video
    monkeypatch.setattr(video_transfer, "stylize_video", lambda *a, **kw: calls.append(kw) or real(*a, **kw))
    result = nstlib.sweep(resume=ran.folder, verbose=False)
    assert result.ok and [Path(c["resume"]).name for c in calls] == ["02_temporal_weight=1e13"]
    assert [r["status"] for r in read_csv(ran.folder / "index.csv")] == ["done", "done"]
    assert (point / "frames/00001.png").read_bytes() == kept and (point / "frames/00002.png").is_file()
    assert (point / "video.mp4").is_file()


def test_a_failed_point_is_recorded(tmp_path, clip, original_weights):
    data = video_sweep(clip, tmp_path / "runs")
    data["axes"] = {"first_frame": [0, 50]}  # the clip has 3 frames: the second point has none to stylise
    result = nstlib.sweep(data, verbose=False)
    rows = read_csv(result.folder / "index.csv")
    assert [r["status"] for r in rows] == ["done", "failed"] and "no frames" in rows[1]["error"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"axes": {"temporal_weight": [0, -1]}}, "point 2 (temporal_weight=-1): temporal_weight: must be >= 0"),
        ({"axes": {"flow": ["dis", "sift"]}}, "flow: 'sift' is not one of"),
        ({"axes": {"temporal_wieght": [0, 1]}}, "unknown parameter 'temporal_wieght' (did you mean temporal_weight?)"),
        ({"zip": {"later_epochs": [1, "x"], "lr": [1, 2]}}, "later_epochs: expected int, got 'x'"),
        ({"video": {"input": "missing.mp4"}}, "video.input: 'missing.mp4'"),
        ({"video": {"temporal_wieght": 1}}, "video: unknown video parameter 'temporal_wieght' (did you mean"),
        ({"video": {"epochs": 1}}, "a Config parameter: give it in base:"),
        ({"search": {"trials": 2}}, "search: not for video sweeps"),
        ({"rank": "content_distance"}, "rank: unknown metric 'content_distance'; choose from warping_error"),
    ],
)
def test_bad_video_sweeps_are_refused_before_any_folder(tmp_path, clip, change, message):
    data = video_sweep(clip, tmp_path / "runs")
    for key, value in change.items():
        if key == "video":
            data["video"] = {"input": str(clip), **value} if "input" not in value else value
        else:
            data.pop("axes") if key == "zip" else None
            data[key] = value
    with pytest.raises((ConfigError, UserError)) as e:
        nstlib.sweep(data, verbose=False)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "runs").exists()


def test_a_video_axis_without_video_is_refused(tmp_path, clip, capsys):
    data = video_sweep(clip, tmp_path / "runs")
    del data["video"]
    path = tmp_path / "no_video.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "temporal_weight is a video parameter" in err and "video:" in err
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="later_epochs is a video parameter"):
        load_sweep({**data, "axes": {"lr": [1]}}, sets=["later_epochs=3"])


def test_other_engines_are_refused_for_video_sweeps(tmp_path, clip):
    with pytest.raises(UserError, match="engine papermill: a video sweep runs its points in this process"):
        nstlib.sweep(video_sweep(clip, tmp_path / "runs"), engine="papermill", verbose=False)
    assert not (tmp_path / "runs").exists()


def test_video_parameters_by_set(clip, tmp_path):
    spec = load_sweep(video_sweep(clip, tmp_path / "runs"), sets=["later_epochs=5", "epochs=3"])
    assert [(p.video.later_epochs, p.config.epochs) for p in spec.points] == [(5, 3), (5, 3)]
    with pytest.raises(UserError, match="--set temporal_weight: temporal_weight is an axis"):
        load_sweep(video_sweep(clip, tmp_path / "runs"), sets=["temporal_weight=1"])


def test_bundled_temporal_weight_sweep_loads():
    spec = load_sweep(ROOT / "sweeps/temporal_weight.yaml")
    assert spec.video is not None and Path(spec.video["input"]).name == "chelsea_pan.mp4"
    assert [p.video.temporal_weight for p in spec.points] == [0.0, 1e12, 1e13, 1e14]
    assert {(p.config.image_size, p.config.epochs, p.video.later_epochs) for p in spec.points} == {(144, 60, 30)}
    assert [Path(s).name for s in spec.points[0].config.style] == ["starry_swirls.jpg"]
    assert (ROOT / spec.video["input"]).is_file() or Path(spec.video["input"]).is_file()
