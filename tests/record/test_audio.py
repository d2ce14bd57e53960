"""The input's sound copied into a stylised video, cut to the frames' time."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from conftest import RATE, clip_with_sound
from nstlib.record.audio import COPIED, NONE, copy_audio


def _sound(path: Path) -> np.ndarray:
    with av.open(str(path)) as f:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in f.decode(f.streams.audio[0])])


def _pitch(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[spectrum.argmax()])


def test_the_sound_of_the_frames_time_is_copied_and_the_pictures_kept(tmp_path):
    source = clip_with_sound(tmp_path / "in.mp4", frames=16, fps=8)
    video = clip_with_sound(tmp_path / "video.mp4", frames=4, fps=8, tones=())
    pictures = [f.to_ndarray() for f in av.open(str(video)).decode(video=0)]
    assert copy_audio(source, video, 0.5, 1.0) == COPIED  # the second half second: 880 Hz
    with av.open(str(video)) as f:
        assert len(f.streams.audio) == 1 and f.streams.audio[0].codec_context.name == "aac"
        after = [frame.to_ndarray() for frame in f.decode(video=0)]
    assert len(after) == 4 and all(np.array_equal(a, b) for a, b in zip(pictures, after))
    sound = _sound(video)
    assert abs(len(sound) / RATE - 0.5) <= 0.15  # AAC packets are 1024 samples (64 ms) and carry a priming delay
    middle = sound[len(sound) // 4 : 3 * len(sound) // 4]
    assert abs(_pitch(middle) - 880.0) < 40
    assert not list(tmp_path.glob(".*"))


def test_no_sound_and_a_bad_source_leave_the_video_as_it_was(tmp_path):
    silent = clip_with_sound(tmp_path / "silent.mp4", frames=4, fps=8, tones=())
    video = clip_with_sound(tmp_path / "video.mp4", frames=4, fps=8, tones=())
    before = video.read_bytes()
    assert copy_audio(silent, video, 0.0, 0.5) == NONE
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    outcome = copy_audio(broken, video, 0.0, 0.5)
    assert outcome.startswith("not copied (") and "\n" not in outcome
    assert video.read_bytes() == before and not list(tmp_path.glob(".*"))
