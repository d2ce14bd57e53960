"""`nst video` / `stylize_video` end to end on tiny clips: outputs, resume after SIGKILL, bad input."""

from __future__ import annotations

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
from PIL import Image

from conftest import ROOT, clip_with_sound
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


@pytest.mark.parametrize("case", ["unreadable", "empty", "sizes", "too_many", "missing", "bad_flow"])
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
    else:
        source, extra = make_frames(tmp_path / "f", 2), ["--flow", "lucas"]
    assert main(["video", str(source), *_args(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nst: error:") and "\n" not in err
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True
