"""Scores of finished images: the edge score against its definition and on constructed cases."""

import pytest
import torch

from nstlib.record.metrics import edge_score, edge_scores


def ramp(h: int = 64, w: int = 80) -> torch.Tensor:
    """A smooth grey image: a tilt (0.004 per row, 0.003 per column) and a faint ripple."""
    y = torch.arange(h).view(h, 1).float()
    x = torch.arange(w).view(1, w).float()
    grey = 0.2 + 0.004 * y + 0.003 * x + 0.002 * torch.sin(y / 3) * torch.cos(x / 5)
    return grey.expand(3, h, w).clone()


def test_edge_score_is_the_outer_jump_over_the_inner_median():
    img = ramp()
    img[:, 1, :] += 0.1  # a bright line one row inside the top edge
    rows = img.mean(-1)
    jumps = (rows[:, 1:] - rows[:, :-1]).norm(dim=0)
    expected = float(jumps[:4].max() / jumps[8:40].median())
    assert edge_scores(img)["top"] == pytest.approx(expected)
    assert edge_scores(img)["top"] > 10 * edge_scores(img)["bottom"]


def test_a_frame_scores_high_a_smooth_image_low_and_scale_does_not_matter():
    clean = ramp()
    framed = clean.clone()
    framed[:, :, -3:] = 0.9  # a 3-px frame on the right
    assert edge_score(clean) < 2
    assert edge_scores(framed)["right"] > 20 and edge_scores(framed)["left"] < 2
    assert edge_score(framed.unsqueeze(0) * 255) == pytest.approx(edge_score(framed), rel=1e-4)


def test_too_small_an_image_is_refused():
    with pytest.raises(ValueError, match="sides over 40 px"):
        edge_score(torch.rand(3, 40, 64))


# ---- feature distances and speckle --------------------------------------------------------------------
def _layers_of(x):
    """A stand-in network whose every layer is the image itself, doubled: formulas checkable by hand."""
    from nstlib.record.metrics import CONTENT_LAYERS, STYLE_LAYERS

    return {layer: 2 * x for layer in (*CONTENT_LAYERS, *STYLE_LAYERS)}


def test_content_distance_is_the_relative_feature_distance():
    from nstlib.record.metrics import METRIC_SIDE, content_distance

    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, METRIC_SIDE // 2, METRIC_SIDE, generator=g)
    images = torch.stack([content[0], content[0] + 0.1, content[0] * 0.5])
    got = content_distance(_layers_of, images, content)
    expected = ((images - content) ** 2).sum((1, 2, 3)) / (content**2).sum()  # the doubling cancels
    torch.testing.assert_close(got, expected)
    assert got[0] == 0


def test_gram_and_mean_std_distances_follow_their_formulas():
    from nstlib.record.metrics import METRIC_SIDE, gram_distance, mean_std_distance

    g = torch.Generator().manual_seed(1)
    style = torch.rand(1, 3, METRIC_SIDE, METRIC_SIDE // 2, generator=g)
    # another shape (Grams per position) and other statistics (squared: darker, skewed)
    image = torch.rand(1, 3, METRIC_SIDE // 2, METRIC_SIDE, generator=g) ** 2
    f, s = (2 * image).flatten(2)[0].double(), (2 * style).flatten(2)[0].double()
    gram = ((f @ f.T / f.shape[1] - s @ s.T / s.shape[1]) ** 2).sum() / ((s @ s.T / s.shape[1]) ** 2).sum()
    moments = (
        ((f.mean(1) - s.mean(1)) ** 2).sum() + ((f.std(1, unbiased=False) - s.std(1, unbiased=False)) ** 2).sum()
    ) / ((s.mean(1) ** 2).sum() + (s.std(1, unbiased=False) ** 2).sum())
    assert float(gram_distance(_layers_of, image, style)[0]) == pytest.approx(float(gram), rel=1e-4)
    assert float(mean_std_distance(_layers_of, image, style)[0]) == pytest.approx(float(moments), rel=1e-4)
    assert float(gram_distance(_layers_of, style, style)[0]) == pytest.approx(0, abs=1e-6)


def test_feature_distances_on_vgg_are_zero_at_the_reference_and_grow_with_the_change(original_weights):
    import nstlib
    from nstlib.record.metrics import content_distance, gram_distance, metric_features

    from conftest import ROOT

    net = metric_features()
    content = nstlib.load_image(str(ROOT / "collections/content/chelsea.jpg"), 128)
    style = nstlib.load_image(str(ROOT / "collections/style/starry_swirls.jpg"), 128)
    g = torch.Generator().manual_seed(2)
    noise = torch.rand(content.shape, generator=g)
    steps = torch.cat([(1 - a) * content + a * noise for a in (0.0, 0.2, 0.5)])
    near = content_distance(net, steps, content)
    assert near[0] < 1e-6 < near[1] < near[2]
    photo = nstlib.images.resize(content, (style.shape[-2], style.shape[-1]))
    towards = torch.cat([style, (style + 0.3 * torch.rand(style.shape, generator=g)).clamp(0, 1), photo])
    far = gram_distance(net, towards, style)
    assert far[0] < 1e-6 < far[1] < far[2]


def test_speckle_is_the_mean_absolute_laplacian_in_grey_levels():
    from nstlib.record.metrics import speckle

    flat = torch.full((1, 3, 8, 8), 0.4)
    checker = ((torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2).float().expand(1, 3, 8, 8)
    got = speckle(torch.cat([flat, checker]))
    assert float(got[0]) == pytest.approx(0, abs=1e-4)
    assert float(got[1]) == pytest.approx(4 * 255, rel=1e-5)  # every interior pixel: 4 neighbours a full step away
