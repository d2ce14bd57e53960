"""The up-front time estimate (timing.py): its formula's scaling and its printed form."""

from __future__ import annotations

import pytest

from nstlib.config import Config
from nstlib.model.tiles import Tiling
from nstlib.run.memory import Estimate, network_hw
from nstlib.run.timing import FIXED_PASSES, PROBE_SIDE, STEP_PER_PASS, duration, run_seconds


def test_run_seconds_scales_by_pixels_steps_batch_and_halo():
    config = Config(style=["s.jpg"], image_size=256, epochs=10).validate()
    whole = Estimate(bytes=0, history=5, tiling=None)
    h, w = network_hw(config, 192, 256)
    expected = (10 * STEP_PER_PASS + FIXED_PASSES) * 0.5 * h * w / PROBE_SIDE**2
    assert run_seconds(config, [(192, 256)], 1, whole, 0.5) == pytest.approx(expected)
    assert run_seconds(config, [(192, 256)], 3, whole, 0.5) == pytest.approx(3 * expected)
    tiled = Estimate(bytes=0, history=5, tiling=Tiling(tile=128, cut="relu3_1", halo=32))
    assert run_seconds(config, [(192, 256)], 1, tiled, 0.5) == pytest.approx(expected * ((128 + 64) / 128) ** 2)


def test_duration_reads_as_a_person_would_say_it():
    assert [duration(s) for s in (0.2, 45, 720, 7500)] == ["< 1 s", "45 s", "12 min", "2 h 05 min"]
