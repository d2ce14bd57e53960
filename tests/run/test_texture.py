"""Texture runs (content 'none') and seamless ones (padding 'circular')."""

import json

import pytest

from nstlib import ConfigError, transfer
from nstlib.images import load_image
from nstlib.record.artefacts import seam_score
from nstlib.run.inputs import check_sizes, content_hw, load_inputs

from conftest import tiny_config


@pytest.mark.parametrize("tile_size", [0, 32])
def test_a_seamless_texture_tiles_without_seams(tmp_path, original_weights, tile_size):
    """Whole, and on tiles whose context wraps around the image (a print-size texture needs tiles)."""
    cfg = tiny_config(
        tmp_path,
        content="none",
        image_size=44,
        epochs=3,
        padding="circular",
        tensorboard=False,
        tile_size=tile_size,
        metrics=True,
    )
    result = transfer(cfg)
    assert tuple(result.image.shape) == (1, 3, 48, 48)  # 44 rounded to VGG's 16 px pooling grid
    assert json.loads((result.run_dir / "config.json").read_text())["memory"]["tile_size"] == tile_size
    record = json.loads((result.run_dir / "config.json").read_text())
    assert record["config"]["content"] == "none" and record["metrics"]["content_distance"] is None
    assert record["metrics"]["gram_distance"] is not None
    assert seam_score(load_image(str(result.run_dir / "final.png"))) < 1.2


def test_a_seamless_photo_has_sides_on_the_pooling_grid(tmp_path):
    loaded = load_inputs(tiny_config(tmp_path, image_size=100, padding="circular"))  # chelsea: 3:2
    assert content_hw([loaded], 100) == (64, 96)
    assert content_hw([load_inputs(tiny_config(tmp_path, image_size=100))], 100) == (67, 100)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(content="none", preserve_color="luminance"), "^preserve_color: a texture"),
    ],
)
def test_what_cannot_be_seamless_is_refused_in_one_line(tmp_path, kw, message):
    import torch

    with pytest.raises(ConfigError, match=message) as e:
        cfg = tiny_config(tmp_path, **kw)
        check_sizes([cfg], [load_inputs(cfg)], torch.device("cpu"))
    assert "\n" not in str(e.value)
