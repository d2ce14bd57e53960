"""Border artefacts at high β: no frame along the edges (the mirror canvas), no colour strip along a side that
is not a multiple of 16 px (Caffe's ceil pooling)."""

import nstlib

from conftest import ROOT


def test_high_beta_transfer_has_no_bottom_strip(original_weights, tmp_path):
    # 43×64 px: with floor pooling the last rows get no gradient from relu3_1 and deeper, and the
    # shallow style layers alone paint them red (+0.3 red over green/blue); ceil pooling: −0.09
    result = nstlib.transfer(
        content=str(ROOT / "collections/content/chelsea.jpg"),
        style=[str(ROOT / "collections/style/starry_swirls.jpg")],
        image_size=64,
        style_weight=1e4,
        epochs=30,
        runs_dir=str(tmp_path),
        save_every=0,
        video=False,
        progress="none",
        precision="fp32",
        device="cpu",
    )
    image = result.image[0]
    assert image.shape[-2] % 16, "the test needs a side the pooling does not divide"
    red_excess = image[0] - image[1:].mean(0)  # per pixel
    strip, rest = red_excess[-2:].mean(), red_excess[4:-4].mean()
    assert strip - rest < 0.15, (float(strip), float(rest))


def worst_edge(padding: str, tmp_path) -> float:
    """The worst side's edge score (nstlib.record.metrics) of a photo stylised at high β, 192×128 px."""
    from nstlib.record.metrics import edge_score

    result = nstlib.transfer(
        content=str(ROOT / "collections/content/rocket.jpg"),
        style=[str(ROOT / "collections/style/starry_swirls.jpg")],
        image_size=192,
        style_weight=1e4,
        epochs=30,
        padding=padding,
        runs_dir=str(tmp_path / padding),
        save_every=0,
        video=False,
        progress="none",
        precision="fp32",
        device="cpu",
    )
    return edge_score(result.image)


def test_high_beta_transfer_has_no_edge_frame(original_weights, tmp_path):
    # zero padding is a mean-coloured frame to VGG; the style loss answers with a frame in the image
    zeros, mirror = worst_edge("zeros", tmp_path), worst_edge("mirror", tmp_path)
    assert mirror <= 4.5 < zeros, (mirror, zeros)
