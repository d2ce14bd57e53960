import os

import numpy as np
import pytest
import torch
from PIL import Image

from nstlib import ImageError, load_image, save_image
from nstlib import images as im

from conftest import make_image


def test_rgb_roundtrip(tmp_path):
    path = make_image(tmp_path / "a.png", (30, 20))
    x = load_image(str(path))
    assert x.shape == (1, 3, 20, 30) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    save_image(x, tmp_path / "b.png")
    assert torch.equal(load_image(str(tmp_path / "b.png")), x)


def test_resize_keeps_aspect(tmp_path):
    x = load_image(str(make_image(tmp_path / "a.png", (40, 20))), size=16)
    assert x.shape[-2:] == (8, 16)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    path = tmp_path / ("a.tif" if mode == "CMYK" else "a.png")
    make_image(path, (16, 12), mode=mode)
    x = load_image(str(path))
    assert x.shape == (1, 3, 12, 16)
    if mode == "L":
        assert torch.equal(x[:, 0], x[:, 1])


def test_transparent_pixels_composited_on_white(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255
    arr[:2, :, 3] = 255  # top half opaque red, bottom transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    x = load_image(str(tmp_path / "a.png"))
    assert x[0, :, 0, 0].tolist() == [1.0, 0.0, 0.0]
    assert x[0, :, 3, 0].tolist() == [1.0, 1.0, 1.0]
    p = Image.fromarray(arr[..., :3]).convert("P")
    p.info["transparency"] = 0
    p.save(tmp_path / "p.png", transparency=0)
    assert load_image(str(tmp_path / "p.png")).shape == (1, 3, 4, 4)


def test_16_bit_rescaled(tmp_path):
    arr = np.full((4, 4), 32768, np.uint16)
    Image.fromarray(arr).save(tmp_path / "a.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    x = load_image(str(tmp_path / "a.png"))
    assert x.mean().item() == pytest.approx(0.5, abs=0.01)


def test_exif_orientation_applied(tmp_path):
    img = Image.fromarray(np.zeros((10, 30, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    img.save(tmp_path / "a.jpg", exif=exif.tobytes())
    assert load_image(str(tmp_path / "a.jpg")).shape[-2:] == (30, 10)


def test_url_downloaded_to_cache(tmp_path, monkeypatch, serve):
    folder, url = serve
    make_image(folder / "s.png", (20, 10))
    monkeypatch.setattr(im, "CACHE_DIR", tmp_path / "cache")
    x = load_image(url + "s.png")
    assert x.shape == (1, 3, 10, 20)
    assert len(list((tmp_path / "cache" / "images").iterdir())) == 1
    with pytest.raises(ImageError, match="missing.png': cannot download"):
        load_image(url + "missing.png")


def _bad_files(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello, I am not an image")
    make_image(tmp_path / "full.jpg", (64, 64))
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "loop.jpg").symlink_to(tmp_path / "loop.jpg")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    os.mkfifo(tmp_path / "fifo.jpg")  # opening it would wait for a writer forever
    return {
        "missing.jpg": "file not found",
        "dir.jpg": "directory",
        "loop.jpg": "a symlink loop",
        "dangling.jpg": "a broken symlink",
        "fifo.jpg": "not a regular file (a FIFO)",
        "empty.jpg": "empty file",
        "text.jpg": "not an image",
        "trunc.jpg": "truncated",
    }


def test_bad_inputs_fail_with_one_line_naming_file(tmp_path):
    for name, cause in _bad_files(tmp_path).items():
        with pytest.raises(ImageError) as e:
            load_image(str(tmp_path / name))
        msg = str(e.value)
        assert name in msg and cause in msg and "\n" not in msg


def test_decompression_bomb_refused(tmp_path):
    Image.new("L", (200, 200)).save(tmp_path / "bomb.png")
    with pytest.raises(ImageError, match="bomb.png.*decompression bomb"):
        load_image(str(tmp_path / "bomb.png"), max_pixels=10_000)


def test_colour_histogram_matching_moves_statistics():
    torch.manual_seed(0)
    style = torch.rand(1, 3, 16, 16) * 0.5
    content = torch.rand(1, 3, 16, 16) * 0.3 + torch.tensor([0.6, 0.2, 0.1]).view(1, 3, 1, 1)
    out = im.match_colour_histogram(style, content)
    assert torch.allclose(out.mean((2, 3)), content.mean((2, 3)), atol=0.02)


def test_luminance_transfer_keeps_content_chroma():
    content = 0.4 + 0.2 * torch.rand(1, 3, 8, 8)  # in gamut, so no clamping
    result = im.luminance(0.4 + 0.2 * torch.rand(1, 3, 8, 8))
    out = im.with_content_colour(result, content)
    assert torch.allclose(im.rgb_to_yiq(out)[:, 1:], im.rgb_to_yiq(content)[:, 1:], atol=0.05)


def test_mirror_pad_reflects_in_rounds_and_crop_margin_inverts_it():
    from nstlib.images import crop_margin, mirror_pad

    x = torch.rand(1, 3, 21, 10)
    canvas = mirror_pad(x, 16)  # wider than the 10 px side − 1: reflected in rounds
    assert canvas.shape[-2:] == (53, 42)
    assert torch.equal(crop_margin(canvas, 16), x)
    assert torch.equal(canvas[..., 16 - 3, 16:26], x[..., 3, :])  # row −3 is row 3
    assert torch.equal(canvas[..., 16:37, 16 + 10 + 2], x[..., :, 10 - 2 - 2])  # 2 px past the edge: column 6
    assert torch.equal(mirror_pad(x, 0), x) and torch.equal(crop_margin(x, 0), x)


def test_saved_images_carry_an_srgb_profile(tmp_path):
    import io

    from PIL import ImageCms

    image = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    for name in ("a.png", "c.tif", "d.jpg"):
        with Image.open(save_image(image, tmp_path / name)) as saved:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(saved.info["icc_profile"]))
            assert "sRGB" in ImageCms.getProfileDescription(profile), name
            if name.endswith(".png"):
                assert np.array_equal(np.asarray(saved), im.tensor_to_uint8(image))


def test_a_print_size_run_writes_its_pixels_and_dpi_into_final_png(tmp_path):
    import io

    from PIL import ImageCms

    from nstlib import transfer

    from conftest import tiny_config

    result = transfer(tiny_config(tmp_path, print_size="1x0.75in", dpi=48, epochs=1, metrics=False))
    with Image.open(result.run_dir / "final.png") as saved:
        assert saved.size == (48, 36)  # the print to the pixel at 48 dpi, landscape as the photo is
        assert tuple(round(float(v)) for v in saved.info["dpi"]) == (48, 48)
        assert "sRGB" in ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(saved.info["icc_profile"])))


@pytest.mark.parametrize("h, w, aspect", [(300, 451, 2.0), (300, 451, 0.75), (333, 200, 1.0), (64, 64, 1.5)])
def test_crop_to_aspect_keeps_the_largest_centred_window(h, w, aspect):
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    out = im.crop_to_aspect(image, aspect)
    ch, cw = out.shape[-2:]
    assert (ch == h or cw == w) and abs(cw / ch - aspect) <= 1 / min(ch, cw)  # one side whole, the shape to a pixel
    top, left = (h - ch) // 2, (w - cw) // 2
    assert torch.equal(out, image[..., top : top + ch, left : left + cw])
