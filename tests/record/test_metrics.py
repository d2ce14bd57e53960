"""Scores of finished images: the edge score against its definition and on constructed cases."""

import pytest
import torch

from nstlib.record.artefacts import edge_score, edge_scores


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
    from nstlib.record.metrics import (
        content_distance,
        gram_distance,
        metric_features,
        self_similarity_distance,
        w2_distance,
    )

    from conftest import ROOT

    net = metric_features()
    content = nstlib.load_image(str(ROOT / "collections/content/chelsea.jpg"), 128)
    style = nstlib.load_image(str(ROOT / "collections/style/starry_swirls.jpg"), 128)
    g = torch.Generator().manual_seed(2)
    noise = torch.rand(content.shape, generator=g)
    steps = torch.cat([(1 - a) * content + a * noise for a in (0.0, 0.2, 0.5)])
    near = content_distance(net, steps, content)
    assert near[0] < 1e-6 < near[1] < near[2]
    structure = self_similarity_distance(net, steps, content)
    assert structure[0] < 1e-6 < structure[1] < structure[2]
    photo = nstlib.images.resize(content, (style.shape[-2], style.shape[-1]))
    towards = torch.cat([style, (style + 0.3 * torch.rand(style.shape, generator=g)).clamp(0, 1), photo])
    far = gram_distance(net, towards, style)
    assert far[0] < 1e-6 < far[1] < far[2]
    gaussian = w2_distance(net, towards, style)
    assert gaussian[0] < 1e-6 < gaussian[1] < gaussian[2]


def test_speckle_is_the_mean_absolute_laplacian_in_grey_levels():
    from nstlib.record.artefacts import speckle

    flat = torch.full((1, 3, 8, 8), 0.4)
    checker = ((torch.arange(8).view(8, 1) + torch.arange(8).view(1, 8)) % 2).float().expand(1, 3, 8, 8)
    got = speckle(torch.cat([flat, checker]))
    assert float(got[0]) == pytest.approx(0, abs=1e-4)
    assert float(got[1]) == pytest.approx(4 * 255, rel=1e-5)  # every interior pixel: 4 neighbours a full step away


# ---- W2, self-similarity, SSIM, colour ----------------------------------------------------------------
def test_w2_distance_follows_the_closed_form_for_an_affine_change():
    """f' = a f + b: the Gaussian fits share their axes, so W2² = ‖(a − 1)μ + b‖² + (a − 1)² tr Σ."""
    from nstlib.record.metrics import METRIC_SIDE, w2_distance

    g = torch.Generator().manual_seed(3)
    style = torch.rand(1, 3, METRIC_SIDE // 2, METRIC_SIDE, generator=g) ** 2
    image = 0.5 * style + 0.1  # features (2x) become 0.5 f + 0.2
    f = (2 * style).flatten(2)[0].double()
    mu, cov = f.mean(1), torch.cov(f, correction=0)
    expected = (((0.5 - 1) * mu + 0.2) ** 2).sum() + 0.25 * torch.trace(cov)
    expected = expected / ((mu**2).sum() + torch.trace(cov))
    assert float(w2_distance(_layers_of, image, style)[0]) == pytest.approx(float(expected), rel=1e-4)
    assert float(w2_distance(_layers_of, style, style)[0]) == pytest.approx(0, abs=1e-6)


def test_w2_root_trace_through_cholesky_or_a_singular_styles_root_is_the_eigen_formula():
    """tr (Σ'^½ Σ Σ'^½)^½ by eigendecompositions, against the Cholesky path and (Σ' of rank 2 in 5 dimensions,
    which has no Cholesky factor) the symmetric-root path."""
    from nstlib.record.metrics import _root_trace

    def direct(cov, cov_s):
        vals, vecs = torch.linalg.eigh(cov_s)
        root = vecs @ torch.diag_embed(vals.clamp(min=0).sqrt()) @ vecs.transpose(1, 2)
        return torch.linalg.eigvalsh(root @ cov @ root).clamp(min=0).sqrt().sum(-1)

    g = torch.Generator().manual_seed(5)
    x, y, thin = (torch.randn(1, 5, n, generator=g, dtype=torch.float64) for n in (40, 40, 2))
    cov, full, singular = (m @ m.transpose(1, 2) / m.shape[-1] for m in (x, y, thin))
    assert bool(torch.linalg.cholesky_ex(singular).info != 0)
    for cov_s in (full, singular):
        assert float(_root_trace(cov, cov_s)) == pytest.approx(float(direct(cov, cov_s)), rel=1e-9)


def test_a_style_is_scored_once_per_network_and_a_new_style_again():
    """run_metrics keeps a style's features: a sweep's points share one style pass; other pixels are new."""
    from nstlib.record.metrics import METRIC_SIDE, run_metrics

    calls: list[tuple[int, ...]] = []

    def layers(x):
        calls.append(tuple(x.shape))
        return _layers_of(x)

    g = torch.Generator().manual_seed(4)
    content, style = (torch.rand(1, 3, METRIC_SIDE // 2, METRIC_SIDE, generator=g) for _ in range(2))
    first = run_metrics(layers, content, content, [style], [1.0])
    again = run_metrics(layers, content, content, [style], [1.0])
    assert len(calls) == 3 and calls[0][0] == 2  # image and content in one batch, then the style
    assert first == again
    other = run_metrics(layers, content, content, [style.flip(-1)], [1.0])
    assert len(calls) == 5 and other["colour_distance"] == pytest.approx(first["colour_distance"], abs=1e-6)


def _bands(*colours):
    """A METRIC_SIDE-wide image of equal vertical bands of the given RGB colours (no resize at the metric side)."""
    from nstlib.record.metrics import METRIC_SIDE

    width = METRIC_SIDE // len(colours)
    return torch.cat([torch.tensor(c).float().view(1, 3, 1, 1).expand(1, 3, 128, width) for c in colours], dim=3)


def _four_positions(x):
    """A stand-in network with 4 positions, the mean colour of each quarter of the width."""
    from nstlib.record.metrics import SELF_SIMILARITY_LAYERS

    return {layer: torch.nn.functional.adaptive_avg_pool2d(x, (1, 4)) for layer in SELF_SIMILARITY_LAYERS}


def test_self_similarity_distance_by_hand():
    """Bands r g b r against r r b b: cosine distances 0 (same colour) or 1, columns normalised; the columns'
    L1 differences are 1, 2/3, 2/3, 1, so the distance is (10/3) / 4."""
    from nstlib.record.metrics import self_similarity_distance

    r, g, b = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)
    image, content = _bands(r, g, b, r), _bands(r, r, b, b)
    assert float(self_similarity_distance(_four_positions, image, content)[0]) == pytest.approx(5 / 6, rel=1e-5)
    assert float(self_similarity_distance(_four_positions, content, content)[0]) == pytest.approx(0, abs=1e-6)
    # which regions look alike is all it sees: darker colours, same pattern, same score
    assert float(self_similarity_distance(_four_positions, 0.5 * content, content)[0]) == pytest.approx(0, abs=1e-6)


def test_ssim_and_ms_ssim_of_flat_images_and_of_the_content():
    """Flat images: every window has σ = 0, so SSIM = (2xy + C1)/(x² + y² + C1) and MS-SSIM that to the power
    of the coarsest scale's β (its contrast terms are 1)."""
    from nstlib.record.metrics import MS_SSIM_BETAS, ms_ssim, ms_ssim_scales, ssim

    x, y, c1 = 0.5, 0.25, 0.01**2
    luminance = (2 * x * y + c1) / (x**2 + y**2 + c1)
    image, content = torch.full((1, 3, 192, 256), x), torch.full((1, 3, 192, 256), y)
    assert float(ssim(image, content)[0]) == pytest.approx(luminance, rel=1e-4)
    assert ms_ssim_scales(192, 256) == 5
    beta = MS_SSIM_BETAS[4] / sum(MS_SSIM_BETAS)
    assert float(ms_ssim(image, content)[0]) == pytest.approx(luminance**beta, rel=1e-4)
    # a long thin image (short side 40 px at the metric side) has room for 2 scales, their β rescaled
    thin_image, thin_content = torch.full((1, 3, 40, 256), x), torch.full((1, 3, 40, 256), y)
    assert ms_ssim_scales(40, 256) == 2 and ms_ssim_scales(144, 256) == 4 and ms_ssim_scales(98, 256) == 3
    beta = MS_SSIM_BETAS[1] / sum(MS_SSIM_BETAS[:2])
    assert float(ms_ssim(thin_image, thin_content)[0]) == pytest.approx(luminance**beta, rel=1e-4)


def test_ssim_is_1_for_the_content_and_falls_with_noise():
    from nstlib.record.metrics import ms_ssim, ssim

    g = torch.Generator().manual_seed(4)
    content = ramp(96, 128).unsqueeze(0)
    noise = torch.rand(content.shape, generator=g)
    images = torch.cat([(1 - a) * content + a * noise for a in (0.0, 0.1, 0.4)])
    for score in (ssim(images, content), ms_ssim(images, content)):
        assert float(score[0]) == pytest.approx(1, abs=1e-5) and score[0] > score[1] > score[2]


def test_lab_conversion_matches_published_values():
    from nstlib.images import rgb_to_lab

    colours = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]).T.reshape(1, 3, 4, 1)
    lab = rgb_to_lab(colours)[0, :, :, 0].T
    expected = torch.tensor([[53.2408, 80.0925, 67.2032], [100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.3889, 0.0, 0.0]])
    torch.testing.assert_close(lab, expected, atol=2e-3, rtol=0)


def test_colour_distance_by_hand_and_on_shifts():
    """Two flat images: every projection is one value each, so SW1 = mean_k |θ_k · (Lab₁ − Lab₂)|."""
    from nstlib.images import rgb_to_lab
    from nstlib.record.metrics import DIRECTIONS, colour_distance

    grey, red = torch.full((1, 3, 64, 96), 0.5), torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 48, 48)
    delta = (rgb_to_lab(grey)[0, :, 0, 0] - rgb_to_lab(red)[0, :, 0, 0]).double()
    expected = (DIRECTIONS @ delta).abs().mean()
    assert float(colour_distance(grey, red)[0]) == pytest.approx(float(expected), rel=1e-4)
    style = ramp(96, 128).unsqueeze(0) * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    shift = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1)
    images = torch.cat([style, (style + 0.1 * shift).clamp(0, 1), (style + 0.3 * shift).clamp(0, 1)])
    got = colour_distance(images, style)
    assert float(got[0]) == pytest.approx(0, abs=1e-9) and 0 < got[1] < got[2]
    assert torch.equal(colour_distance(images, style), got)  # fixed directions: the same number every time


# ---- a finished run -----------------------------------------------------------------------------------
def test_run_metrics_names_blend_and_small_images(original_weights):
    import nstlib
    from nstlib.record.learned import LEARNED_NAMES
    from nstlib.record.metrics import METRIC_NAMES, STYLE_METRICS, metric_features, run_metrics

    from conftest import ROOT

    net = metric_features()
    content = nstlib.load_image(str(ROOT / "collections/content/chelsea.jpg"), 64)
    s1 = nstlib.load_image(str(ROOT / "collections/style/starry_swirls.jpg"), 48)
    s2 = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(5))
    same = run_metrics(net, content, content, [s1], [1.0])
    assert tuple(same) == METRIC_NAMES
    assert same["content_distance"] == pytest.approx(0, abs=1e-6) and same["ssim"] == pytest.approx(1, abs=1e-5)
    assert same["self_similarity_distance"] == pytest.approx(0, abs=1e-6)
    assert same["edge_score"] is not None and same["edge_score"] == pytest.approx(edge_score(content))
    image = (0.8 * content + 0.2 * nstlib.images.resize(s1, content.shape[-2:])).clamp(0, 1)
    one, two = run_metrics(net, image, content, [s1], [1.0]), run_metrics(net, image, content, [s2], [1.0])
    both = run_metrics(net, image, content, [s1, s2], [0.25, 0.75])
    for name in STYLE_METRICS:  # against a blend: the blend-weighted mean of the distances
        assert both[name] == pytest.approx(0.25 * one[name] + 0.75 * two[name], rel=1e-5)
    assert both["content_distance"] == one["content_distance"]
    small = run_metrics(net, nstlib.images.resize(image, (40, 53)), content, [s1], [1.0])
    assert small["edge_score"] is None and all(
        small[n] is not None for n in METRIC_NAMES if n not in ("edge_score", *LEARNED_NAMES)
    )


def test_a_run_writes_its_metrics_and_compute_run_metrics_refreshes_them(tmp_path, original_weights):
    import json

    from nstlib import transfer
    from nstlib.record.metrics import METRIC_NAMES, compute_run_metrics, read_metrics

    from conftest import tiny_config

    result = transfer(tiny_config(tmp_path, epochs=2, tensorboard=False, metrics=True))
    written = json.loads((result.run_dir / "metrics.json").read_text())
    assert list(written) == list(METRIC_NAMES) and written["edge_score"] is not None
    assert 0 < written["content_distance"] and 0 < written["ssim"] < 1
    assert (
        json.loads((result.run_dir / "config.json").read_text())["metrics"] == written == read_metrics(result.run_dir)
    )
    (result.run_dir / "metrics.json").unlink()
    assert read_metrics(result.run_dir) == {}
    for scores in (compute_run_metrics(result.run_dir), read_metrics(result.run_dir)):
        assert [n for n in scores if scores[n] is None] == [n for n in written if written[n] is None]
        assert {n: v for n, v in scores.items() if v is not None} == pytest.approx(
            {n: v for n, v in written.items() if v is not None}, rel=1e-5
        )
    off = transfer(tiny_config(tmp_path, epochs=1, tensorboard=False, metrics=False))
    assert not (off.run_dir / "metrics.json").exists() and "metrics" not in json.loads(
        (off.run_dir / "config.json").read_text()
    )


def test_compute_run_metrics_refuses_in_one_line(tmp_path):
    from nstlib.errors import UserError
    from nstlib.record.metrics import compute_run_metrics

    with pytest.raises(UserError, match="not a run folder"):
        compute_run_metrics(tmp_path)
    (tmp_path / "config.json").write_text('{"status": "failed", "config": {}}')
    with pytest.raises(UserError, match="no final image to score .final.png: file not found"):
        compute_run_metrics(tmp_path)


def test_seam_score_compares_the_tiling_lines_with_the_interior():
    from nstlib.record.artefacts import seam_score

    img = ramp()  # its opposite edges differ by 0.25 and 0.24: a seam in a 2×2 tiling
    tiled = img.repeat(1, 2, 2)
    seam_rows = (tiled[:, 64] - tiled[:, 63]).abs().mean()
    interior_rows = (img[:, 1:] - img[:, :-1]).abs().mean()
    seam_cols = (tiled[:, :, 80] - tiled[:, :, 79]).abs().mean()
    interior_cols = (img[:, :, 1:] - img[:, :, :-1]).abs().mean()
    expected = max(seam_rows / interior_rows, seam_cols / interior_cols)
    assert seam_score(img) == pytest.approx(float(expected), rel=1e-5) and seam_score(img) > 20
    periodic = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(1))  # noise: no line stands out
    assert seam_score(periodic.unsqueeze(0)) < 1.2
    with pytest.raises(ValueError, match="seam score"):
        seam_score(torch.rand(3, 2, 8))
