import io

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

from nstlib.images import save_print, srgb_profile


def _image() -> torch.Tensor:
    return torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))


def test_an_8_bit_png_carries_its_size_dpi_and_srgb_profile(tmp_path):
    path = save_print(_image(), tmp_path / "final.png", 8, 150)
    with Image.open(path) as im:
        assert im.size == (30, 20) and im.mode == "RGB"
        assert [round(d) for d in im.info["dpi"]] == [150, 150]
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)


def test_a_16_bit_png_keeps_16_bits_dpi_and_profile(tmp_path):
    image = _image()
    path = save_print(image, tmp_path / "final.png", 16, 300)
    reader = png.Reader(filename=str(path))
    width, height, rows, info = reader.asRGB()
    pixels = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, 3)
    assert (width, height, info["bitdepth"]) == (30, 20, 16)
    expected = (image[0].permute(1, 2, 0).numpy() * 65535).round()
    assert np.abs(pixels - expected).max() <= 1
    assert len(np.unique(pixels)) > 256  # more levels than 8 bits hold
    per_metre = info["physical"]
    assert per_metre.unit_is_meter and round(per_metre.x * 0.0254) == 300
    with Image.open(path) as im:  # Pillow reads it (8 bits) and finds the profile
        assert im.info["icc_profile"] == srgb_profile()


@pytest.mark.parametrize("bits", [8, 16])
def test_a_tiff_carries_its_resolution_and_profile(tmp_path, bits):
    path = save_print(_image(), tmp_path / "final.tiff", bits, 300)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert page.shape == (20, 30, 3) and page.dtype == np.dtype(f"uint{bits}")
        assert page.tags["XResolution"].value == (300, 1) and page.tags["ResolutionUnit"].value == 2
        assert page.tags["InterColorProfile"].value == srgb_profile()


def test_a_print_size_run_writes_a_16_bit_tiff_at_its_dpi(tmp_path, original_weights):
    from nstlib import transfer

    from conftest import tiny_config

    result = transfer(tiny_config(tmp_path, print_size="1x1in", dpi=48, bit_depth=16, output_format="tiff", epochs=2))
    with tifffile.TiffFile(result.run_dir / "final.tiff") as tif:
        page = tif.pages[0]
        assert max(page.shape[:2]) == 48 and page.dtype == np.uint16
        assert page.tags["XResolution"].value == (48, 1)
    assert png.Reader(filename=str(result.run_dir / "final.png")).read()[3]["bitdepth"] == 16


def test_a_print_is_cut_from_the_centre_of_the_photo_in_its_orientation(tmp_path):
    """A 1×2 in portrait print of a 3:2 landscape photo: 64×32 px at 32 dpi, rows cut from top and bottom."""
    from nstlib.images import load_image
    from nstlib.run.inputs import content_hw, load_inputs

    from conftest import tiny_config

    config = tiny_config(tmp_path, print_size="1x2in", dpi=32)
    loaded = load_inputs(config)
    photo = load_image(config.content)
    h, w = photo.shape[-2:]
    assert loaded.content.shape[-1] == w and abs(loaded.content.shape[-2] - w / 2) <= 1
    top = (h - loaded.content.shape[-2]) // 2
    assert torch.equal(loaded.content, photo[..., top : top + loaded.content.shape[-2], :])
    assert content_hw([loaded], 64) == (32, 64)
    # odd pixel counts too: 333 × 200 px at 100 dpi
    odd = load_inputs(tiny_config(tmp_path, print_size="84.582x50.8mm", dpi=100))
    assert content_hw([odd], 333) == (200, 333)
    # a texture is the print's rectangle as written, in pixels too
    texture = load_inputs(tiny_config(tmp_path, content="none", print_size="60x36px"))
    assert content_hw([texture], 60) == (36, 60)


def test_a_print_too_big_for_memory_is_refused_with_the_dpi_that_fits(tmp_path, capsys):
    from nstlib.ui.cli import main

    code = main(["run", "--print-size", "A2", "--memory-limit", "1.5", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("nst: error: print_size: "), err
    dpi = int(err.split("dpi ≤ ")[1].split(" ")[0])
    assert 1 <= dpi < 300 and "memory_limit 1.5 GB" in err
    assert not (tmp_path / "runs").exists()


def test_a_run_estimated_past_its_time_limit_is_refused_before_any_folder(tmp_path, capsys):
    from nstlib.ui.cli import main

    args = [
        "run",
        "--image-size",
        "64",
        "--epochs",
        "100000",
        "--time-limit",
        "0.01",
        "--runs-dir",
        str(tmp_path / "r"),
    ]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "time_limit: ~" in err and "over 0.01 min" in err, err
    assert not (tmp_path / "r").exists()
