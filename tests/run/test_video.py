"""`nst video` / `stylize_video` end to end on tiny clips: outputs, resume after SIGKILL, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, clip_with_sound
from nstlib import images as im
from nstlib.record.runs import RunRecord, read_metrics
from nstlib.run.video_transfer import stylize_video
from nstlib.ui.cli import main

STYLE = str(ROOT / "collections/style/starry_swirls.jpg")


def make_frames(folder: Path, n: int, size=(40, 32), sizes=None) -> Path:
    """n frames of a smooth pattern drifting right by 1 px a frame."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        w, h = sizes[i] if sizes else size
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([0.5 + 0.5 * np.sin((xx - i) / 4 + k + yy / 7) for k in range(3)], -1)
        Image.fromarray((arr * 255).astype(np.uint8)).save(folder / f"f{i:03d}.png")
    return folder


def _args(tmp_path: Path) -> list[str]:
    return [
        "--style",
        STYLE,
        "--epochs",
        "2",
        "--later-epochs",
        "2",
        "--image-size",
        "40",
        "--progress",
        "none",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--no-metrics",
    ]


def test_tiny_video_end_to_end(tmp_path):
    clip = tmp_path / "clip.mp4"
    frames = [np.asarray(Image.open(p)) for p in sorted(make_frames(tmp_path / "f", 3).iterdir())]
    iio.imwrite(clip, np.stack(frames), plugin="pyav", codec="libx264", fps=8)
    record = stylize_video(
        input=str(clip),
        style=[STYLE],
        epochs=2,
        later_epochs=2,
        image_size=40,
        progress="none",
        precision="fp32",
        device="cpu",
        runs_dir=str(tmp_path / "runs"),
    )
    assert record.status == "done"
    assert sorted(p.name for p in (record.path / "frames").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    video = iio.imread(record.path / "video.mp4", plugin="pyav")
    compare = iio.imread(record.path / "compare.mp4", plugin="pyav")
    assert video.shape[0] == 3 and compare.shape[0] == 3
    assert compare.shape[2] == 2 * video.shape[2]
    assert iio.immeta(record.path / "video.mp4", plugin="pyav")["fps"] == pytest.approx(8)
    rows = record.losses()
    assert {r["frame"] for r in rows} == {"0", "1", "2"}
    assert all(r["temporal"] == "" for r in rows if r["frame"] == "0")
    assert all(float(r["temporal"]) >= 0 for r in rows if r["frame"] != "0")
    errors = [float(r["warping_error"]) for r in rows if r["warping_error"]]
    assert len(errors) == 2
    assert read_metrics(record.path)["warping_error"] == pytest.approx(np.mean(errors))
    assert record.info["video"]["temporal_weight"] > 0


def test_a_clips_sound_is_copied_for_the_frames_used(tmp_path):
    """Frames 4-7 of an 8 fps clip with sound: video.mp4 carries the sound of 0.5-1.0 s; a video_fps that
    changes the video's length leaves the sound out and says why."""
    clip = clip_with_sound(tmp_path / "clip.mp4", frames=16, fps=8, size=(40, 32))
    common = dict(input=str(clip), style=[STYLE], epochs=1, later_epochs=1, image_size=40, progress="none")
    common.update(precision="fp32", device="cpu", metrics=False, first_frame=4, last_frame=7)
    record = stylize_video(**common, runs_dir=str(tmp_path / "runs"))
    assert record.status == "done" and record.info["audio"] == "copied"
    with av.open(str(record.path / "video.mp4")) as f:
        assert len(f.streams.audio) == 1
        assert f.streams.video[0].frames == 4
    faster = stylize_video(**common, video_fps=16, runs_dir=str(tmp_path / "runs2"))
    assert faster.info["audio"].startswith("not copied (video_fps 16")
    with av.open(str(faster.path / "video.mp4")) as f:
        assert not f.streams.audio


def test_a_frame_is_finished_only_with_its_losses_on_disk(tmp_path, monkeypatch):
    """Its PNG says a frame is finished (a resume skips it), so its rows are in losses.csv before the PNG
    appears: a kill at any moment cannot leave a finished frame without its losses."""
    import nstlib.run.video_transfer as video_transfer

    frames = make_frames(tmp_path / "f", 3)
    seen: dict[int, bool] = {}
    move = video_transfer.shutil.move

    def checked(src, dst):  # what a SIGKILL right after this PNG's move would leave on disk
        dst = Path(dst)
        if dst.parent.name == "frames" and dst.suffix == ".png":
            record = RunRecord.read(dst.parent.parent)
            seen[int(dst.stem)] = any(int(r["frame"]) == int(dst.stem) for r in record.losses())
        return move(src, dst)

    monkeypatch.setattr(video_transfer.shutil, "move", checked)
    assert main(["video", str(frames), *_args(tmp_path)]) == 0
    assert seen == {0: True, 1: True, 2: True}


def test_resume_after_sigkill_keeps_finished_frames(tmp_path):
    frames = make_frames(tmp_path / "f", 4)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "nstlib", "video", str(frames), *_args(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    first = None
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "runs").glob("*/frames/00000.png"))
        if found:
            first = found[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first is not None, "the first frame never appeared"
    run = first.parent.parent
    kept = first.read_bytes()
    assert main(["video", "--resume", str(run)]) == 0
    record = RunRecord.read(run)
    assert record is not None and record.status == "done"
    assert (run / "frames/00000.png").read_bytes() == kept  # a finished frame is not made again
    assert len(list((run / "frames").glob("*.png"))) == 4
    rows = record.losses()
    assert sorted({int(r["frame"]) for r in rows}) == [0, 1, 2, 3]
    assert sum(1 for r in rows if r["image"] == "final.png" and r["frame"] == "0") == 1
    assert not list(run.glob("frames/.*"))  # no half-written frame


@pytest.mark.parametrize(
    "case", ["unreadable", "empty", "sizes", "too_many", "missing", "bad_flow", "bad_offsets", "bad_blend"]
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, case, capsys):
    extra: list[str] = []
    if case == "unreadable":
        source = tmp_path / "clip.mp4"
        source.write_text("not a video")
    elif case == "empty":
        source = tmp_path / "empty"
        source.mkdir()
    elif case == "sizes":
        source = make_frames(tmp_path / "f", 2, sizes=[(40, 32), (32, 40)])
    elif case == "too_many":
        source, extra = make_frames(tmp_path / "f", 3), ["--max-frames", "2"]
    elif case == "missing":
        source = tmp_path / "nothing.mp4"
    elif case == "bad_offsets":
        source, extra = make_frames(tmp_path / "f", 2), ["--previous-frames", "0,2"]
    elif case == "bad_blend":
        source, extra = make_frames(tmp_path / "f", 2), ["--blend", "1.5"]
    else:
        source, extra = make_frames(tmp_path / "f", 2), ["--flow", "lucas"]
    assert main(["video", str(source), *_args(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nst: error:") and "\n" not in err
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def _recording_batches(monkeypatch) -> list[dict]:
    """Every batch the video job runs: its frames (from the configs' content paths) and its start images."""
    import nstlib.run.video_transfer as vt

    calls: list[dict] = []
    real = vt.transfer_batch

    def wrapper(configs, **kw):
        calls.append({"frames": [int(Path(c.content).stem) for c in configs], "start": kw.get("start")})
        return real(configs, **kw)

    monkeypatch.setattr(vt, "transfer_batch", wrapper)
    return calls


def test_multi_pass_batches_each_pass_blends_neighbours_and_resumes(tmp_path, monkeypatch):
    """passes 3: pass 1 stylises the frames on their own as one batch, pass 2 runs forward and pass 3 backward,
    frame after frame; a later pass starts frame i from δ c ω(x'_{i∓1}) + (1 − δ c) x_i: x_i of the pass before,
    x'_{i∓1} its neighbour's of this pass."""
    from nstlib.model.flow import frame_flow, warp

    calls = _recording_batches(monkeypatch)
    frames = make_frames(tmp_path / "f", 3)
    common = dict(style=[STYLE], epochs=2, later_epochs=2, image_size=40, progress="none", precision="fp32")
    common.update(device="cpu", metrics=False, passes=3, blend=0.5)
    record = stylize_video(input=str(frames), runs_dir=str(tmp_path / "runs"), **common)
    run = record.path
    assert record.status == "done"
    assert [c["frames"] for c in calls] == [[0, 1, 2], [0], [1], [2], [2], [1], [0]]
    for folder in ("passes/1", "passes/2", "frames"):
        assert sorted(p.name for p in (run / folder).glob("*.png")) == ["00000.png", "00001.png", "00002.png"]
    load = lambda p: im.load_image(str(run / p))  # noqa: E731
    assert calls[0]["start"] is None
    assert torch.allclose(calls[1]["start"], load("passes/1/00000.png"))  # no neighbour before frame 0
    flow, c = frame_flow(load("input/00000.png"), load("input/00001.png"))
    blended = 0.5 * c * warp(load("passes/2/00000.png"), flow) + (1 - 0.5 * c) * load("passes/1/00001.png")
    assert torch.allclose(calls[2]["start"], blended, atol=1e-5)
    assert torch.allclose(calls[4]["start"], load("passes/2/00002.png"))  # backward: none after the last
    rows = record.losses()
    assert {(r["pass"], r["frame"]) for r in rows if r["image"] == "final.png"} == {
        (str(p), str(i)) for p in (1, 2, 3) for i in range(3)
    }
    assert all(r["temporal"] == "" for r in rows if r["pass"] == "1")
    assert all(float(r["temporal"]) >= 0 for r in rows if r["pass"] != "1")
    assert len([r for r in rows if r["warping_error"]]) == 2
    # the last pass lost two frames (as after a kill): a resume runs only those, in the pass's order
    kept = (run / "frames/00000.png").read_bytes()
    for i in (1, 2):
        (run / f"frames/0000{i}.png").unlink()
    info = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**info, "status": "running"}))
    calls.clear()
    again = stylize_video(resume=run)
    assert [c["frames"] for c in calls] == [[2], [1]]
    assert again.status == "done" and (run / "frames/00000.png").read_bytes() == kept
    assert len([r for r in again.losses() if r["warping_error"]]) == 2
    assert len([r for r in again.losses() if r["image"] == "final.png"]) == 9


def test_long_term_previous_frames_the_time_estimate_and_the_tensorboard_log(tmp_path, capsys):
    frames = make_frames(tmp_path / "f", 4)
    args = [*_args(tmp_path), "--previous-frames", "1,2"]
    assert main(["video", str(frames), *args]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    record = RunRecord.read(run)
    assert record is not None and record.status == "done"
    assert record.info["time_estimate_s"] > 0
    assert "the whole video ~" in capsys.readouterr().out
    assert all(float(r["temporal"]) >= 0 for r in record.losses() if r["frame"] != "0")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = run.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("frame/total")] == [0, 1, 2, 3]
    assert sorted(e.step for e in acc.Scalars("frame/warping_error")) == [1, 2, 3]
    warping = {int(r["frame"]): float(r["warping_error"]) for r in record.losses() if r["warping_error"]}
    assert {e.step: e.value for e in acc.Scalars("frame/warping_error")} == pytest.approx(warping)
    assert len(acc.Images("snapshot")) == 4
    assert not list(run.glob("*/events.out.tfevents.*")) and not list(run.glob(".frame"))
    # a time_limit below the estimate is refused before any folder
    assert main(["video", str(frames), *_args(tmp_path), "--time-limit", "0.0001"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nst: error: time_limit: ~") and "4 frames" in err and "\n" not in err
    assert len(list((tmp_path / "runs").iterdir())) == 1
