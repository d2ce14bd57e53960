"""Tiled features: a tiled step has the untiled step's losses and gradient."""

from __future__ import annotations

import pytest
import torch

from nstlib.model.layers import layer_names
from nstlib.losses.core import LossWeights, Targets, total_loss
from nstlib.losses.style.gram import gram_matrix
from nstlib.losses.tiled import loss_terms
from nstlib.model.tiles import Tiling, features, grams, halo, split, tiling
from nstlib.model.vgg import VGGFeatures

STYLE = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT = ["relu4_2"]


def setup(original_weights, batch: int = 2, hw=(64, 96), content_layers=CONTENT, padding="zeros"):
    extractor = VGGFeatures(original_weights, STYLE + content_layers, padding=padding)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, *hw, generator=gen)
    content = torch.rand(batch, 3, *hw, generator=gen)
    style = torch.rand(batch, 3, 64, 72, generator=gen)
    with torch.no_grad():
        cf = extractor(content, content_layers)
        sf = extractor(style, STYLE)
    targets = Targets({k: v.float() for k, v in cf.items()}, {k: gram_matrix(v) for k, v in sf.items()})
    weights = LossWeights(
        content=torch.tensor([1.0, 2.0])[:batch],
        style=torch.tensor([1e3, 1e2])[:batch],
        tv=torch.tensor([1.0, 0.5])[:batch],
        content_layers=torch.ones(batch, 1),
        style_layers=torch.full((batch, 5), 0.2),
    )
    return extractor, x, targets, weights


def whole_and_tiled(extractor, x, targets, weights, t):
    """The untiled and the tiled losses of images x, each with its gradient w.r.t. x."""
    out = []
    for compute in (
        lambda xi: total_loss(extractor(xi), xi, targets, weights),
        lambda xi: loss_terms(extractor, xi, targets, weights, t),
    ):
        xi = x.clone().requires_grad_(True)
        terms = compute(xi)
        (g,) = torch.autograd.grad(terms.total.sum(), xi)
        out += [terms, g]
    return out


def test_halo_covers_the_receptive_field():
    assert halo("vgg19", "relu1_1") == 16 and halo("vgg19", "relu5_1") == 96
    assert [halo("vgg19", n) for n in layer_names("vgg19")] == sorted(halo("vgg19", n) for n in layer_names("vgg19"))


@pytest.mark.parametrize(
    "level, content_layers, style_layers",
    [(2, CONTENT, 5), (3, CONTENT, 5), (4, CONTENT, 5), (3, ["relu2_2"], 5), (3, ["relu2_2"], 2)],
)
def test_tiled_step_has_the_untiled_gradient(original_weights, level, content_layers, style_layers):
    """96 px with 48 px tiles: relative gradient error ≤ 1e-4 in fp32, for every cut, with an early
    content layer, and with every layer before the cut (then nothing runs on the whole image)."""
    extractor, x, targets, weights = setup(original_weights, content_layers=content_layers)
    targets.style = dict(list(targets.style.items())[:style_layers])
    weights.style_layers = weights.style_layers[:, :style_layers]
    t = tiling("vgg19", list(targets.style) + content_layers, 48, level)
    assert t.cut == ("relu2_2" if style_layers == 2 else f"pool{level}")
    whole, g1, tiled, g2 = whole_and_tiled(extractor, x, targets, weights, t)
    err = ((g2 - g1).norm() / g1.norm()).item()
    assert err <= 1e-4, err
    for name, value in whole.columns().items():
        torch.testing.assert_close(tiled.columns()[name], value, rtol=1e-4, atol=0)
    assert list(tiled.layers) == list(whole.layers)


def test_seamless_tiles_wrap_around_and_have_the_circular_networks_gradient(original_weights, level=4):
    """padding 'circular' on tiles: each crop's context wraps around the image (pool4's halo of 80 px is wider
    than the 64 px side), so the tiled losses and gradient are the circular network's on the whole image."""
    extractor, x, targets, weights = setup(original_weights, padding="circular")
    t = tiling("vgg19", list(targets.style) + CONTENT, 48, level)
    whole, g1, tiled, g2 = whole_and_tiled(extractor, x, targets, weights, t)
    assert ((g2 - g1).norm() / g1.norm()).item() <= 1e-4
    for name, value in whole.columns().items():
        torch.testing.assert_close(tiled.columns()[name], value, rtol=1e-4, atol=0)
    zeros = setup(original_weights)[0]
    _, g_zeros = whole_and_tiled(zeros, x, targets, weights, t)[:2]
    assert ((g_zeros - g1).norm() / g1.norm()).item() > 1e-2  # the wrap is what makes it agree


def test_a_smaller_halo_is_wrong(original_weights):
    """The halo is needed: with 16 px instead of pool4's 80 the features after the cut differ near tile edges."""
    extractor, x, targets, weights = setup(original_weights, batch=1)
    exact = extractor(x, ["relu5_1"])["relu5_1"]
    assert tiling("vgg19", ["relu5_1"], 48, 4) == Tiling(48, "pool4", 80)
    short = features(extractor, x, ["relu5_1"], Tiling(48, "pool4", 16))["relu5_1"]
    assert ((short - exact).norm() / exact.norm()).item() > 1e-3
    assert ((features(extractor, x, ["relu5_1"], Tiling(48, "pool4", 80))["relu5_1"] - exact).abs().max()) < 1e-4


def test_tiled_features_and_grams_match(original_weights):
    extractor, x, _, _ = setup(original_weights, batch=1, hw=(40, 70))
    whole = extractor(x)
    t = tiling("vgg19", STYLE + CONTENT, 32, 3)
    tiled = features(extractor, x, STYLE + CONTENT, t)
    g = grams(extractor, x, STYLE, t)
    for layer in STYLE + CONTENT:  # fp32 convolutions of other shapes round differently: ~1e-6 of the scale
        scale = float(whole[layer].abs().max())
        torch.testing.assert_close(tiled[layer], whole[layer], rtol=1e-4, atol=1e-5 * scale)
    for layer in STYLE:
        gram = gram_matrix(whole[layer])
        torch.testing.assert_close(g[layer], gram, rtol=1e-4, atol=1e-5 * float(gram.abs().max()))


MASKED = dict(
    style_loss="w2",
    style=["collections/style/starry_swirls.jpg", "collections/style/ink_mountains.jpg"],
    style_masks=["collections/masks/left.png", "collections/masks/right.png"],
    mask_propagation="inside",
)


@pytest.mark.parametrize(
    "control",
    [{}, MASKED, {"style_loss": "mrf"}, {"normalize_gradients": True}],
    ids=["gram", "w2-masks", "mrf", "normalize_gradients"],
)
def test_a_tiled_run_logs_the_untiled_losses(tmp_path, capsys, control):
    import json
    import re

    from nstlib import transfer
    from nstlib.errors import ConfigError

    from conftest import ROOT, tiny_config

    paths = {k: [str(ROOT / p) for p in v] for k, v in control.items() if isinstance(v, list)}
    base = tiny_config(tmp_path, epochs=2, progress="text", **{**control, **paths})
    whole = transfer(base)
    tiled = transfer(base.replace(tile_size=48))
    out = capsys.readouterr().out
    assert re.search(r"memory: VGG runs through pool\d on tiles of 48 px with a \d+ px halo", out), out
    record = json.loads((tiled.run_dir / "config.json").read_text())["memory"]
    assert record["tile_size"] == 48 and record["halo"] == halo("vgg19", record["tiles_through"])
    for a, b in zip(whole.history, tiled.history):
        assert abs(a["total"] - b["total"]) <= 1e-4 * abs(a["total"]), (a, b)
    assert abs(whole.final_losses["total"] - tiled.final_losses["total"]) <= 1e-3 * whole.final_losses["total"]
    with pytest.raises(ConfigError, match="tile_size: 40 is not 0 or a multiple of 16"):
        base.replace(tile_size=40).validate()


@pytest.mark.parametrize(
    "size, tile", [(1056, 512), (713, 512), (544, 256), (100, 48), (48, 48), (49, 48), (2763, 768)]
)
def test_tiles_cover_the_side_in_the_fewest_equal_aligned_pieces(size, tile):
    from nstlib.model.tiles import ALIGN, spans

    pieces = spans(size, tile)
    assert pieces[0][0] == 0 and pieces[-1][1] == size
    assert all(b == c for (_, b), (c, _) in zip(pieces, pieces[1:]))  # contiguous, no overlap
    assert all(a % ALIGN == 0 and 0 < b - a <= tile for a, b in pieces)
    assert len(pieces) == -(-size // tile)  # the fewest
    sides = [b - a for a, b in pieces]
    assert len(set(sides[:-1])) <= 1 and sides[0] - ALIGN < size / len(pieces) <= sides[0]  # equal, on the grid


# Relative gradient error allowed per sample of `control_setup`. W2's (sample 2) runs through the square root
# of a covariance of rank ≤ 96 positions in 512 channels at relu4_1, which amplifies the summation-order
# rounding of tiled sums: 2e-4 measured on an AMD EPYC, under 1e-4 on a Xeon; a missing or misplaced tile
# costs orders of magnitude more.
GRADIENT_TOLERANCE = (1e-4, 1e-4, 1e-3, 1e-4, 1e-4)


def control_setup(original_weights, hw=(64, 96)):
    """A batch of five samples, one per control: gram with two styles under soft left/right masks (inside
    propagation), mean_std, w2 with the masks (simple), mrf, gram with two style_layer_sets."""
    from nstlib.losses.targets import SampleStyle, control_targets

    extractor = VGGFeatures(original_weights, STYLE + CONTENT)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(5, 3, *hw, generator=gen)
    content = torch.rand(5, 3, *hw, generator=gen)
    a, b = torch.rand(1, 3, 64, 72, generator=gen), torch.rand(1, 3, 80, 64, generator=gen)
    ramp = torch.linspace(1.0, 0.0, hw[1]).clamp(0.2, 0.8).sub(0.2).div(0.6).expand(1, 1, *hw)
    masks = [ramp, 1.0 - ramp]
    samples = [
        SampleStyle("gram", [a, b], [0.5, 0.5], masks, [None, None], None, "inside"),
        SampleStyle("mean_std", [a], [1.0]),
        SampleStyle("w2", [a, b], [0.5, 0.5], masks, [None, None], None, "simple"),
        SampleStyle("mrf", [b], [1.0]),
        SampleStyle("gram", [a, b], [0.5, 0.5], None, [None, None], [STYLE[3:], STYLE[:3]]),
    ]
    with torch.no_grad():
        control = control_targets(extractor, samples, STYLE, hw)
        cf = extractor(content, CONTENT)
    targets = Targets({k: v.float() for k, v in cf.items()}, {}, control)
    weights = LossWeights(
        content=torch.tensor([1.0, 2.0, 1.0, 1.0, 0.5]),
        style=torch.tensor([1e3, 2e7, 3e6, 8e5, 1e3]),
        tv=torch.zeros(5),
        content_layers=torch.ones(5, 1),
        style_layers=torch.full((5, 5), 0.2),
    )
    return extractor, x, targets, weights


@pytest.mark.parametrize("level", [2, 4])
def test_every_style_loss_and_mask_tiles_exactly(original_weights, level):
    """Tiled runs support every control (style losses, masks, layer sets): each early layer's loss comes from
    sums over the tiles (guided Gram, mean/std, W2) or, for mrf through pool3/pool4, its assembled map; the
    losses per sample and the gradient match the untiled ones."""
    extractor, x, targets, weights = control_setup(original_weights)
    t = tiling("vgg19", STYLE + CONTENT, 48, level)
    whole, g1, tiled, g2 = whole_and_tiled(extractor, x, targets, weights, t)
    for i in range(x.shape[0]):  # each sample's gradient, so that no loss hides behind a larger one
        err = ((g2[i] - g1[i]).norm() / g1[i].norm()).item()
        assert err <= GRADIENT_TOLERANCE[i], (i, err)
    # W2's value is a difference of traces: at relu1_1 the untiled fp32 QR path is off by ~1e-4 from an fp64
    # reference (5.87598 vs 5.87546) and the tiled moments by ~1e-5, so the values agree to 3e-4
    for name, value in whole.columns().items():
        torch.testing.assert_close(tiled.columns()[name], value, rtol=3e-4, atol=1e-6)


@pytest.mark.parametrize("level", [2, 4])
def test_normalized_gradients_tile_exactly(original_weights, level):
    """normalize_gradients (neural-style's): each layer's gradient rescaled to L1 norm = its weight, a norm over the
    whole image, so a tiled step takes it in one more pass over the tiles; through pool4 the content layer relu4_2
    is early too. The gradient matches the untiled one, per sample."""
    extractor, x, targets, weights = control_setup(original_weights)
    weights.normalize_gradients = True
    t = tiling("vgg19", STYLE + CONTENT, 48, level)
    assert (CONTENT[0] in split("vgg19", STYLE + CONTENT, t.cut)[0]) == (level == 4)
    _, g1, _, g2 = whole_and_tiled(extractor, x, targets, weights, t)
    for i in range(x.shape[0]):
        err = ((g2[i] - g1[i]).norm() / g1[i].norm()).item()
        assert err <= GRADIENT_TOLERANCE[i], (i, err)


def test_the_newer_losses_tile_exactly(original_weights):
    """sliced_w and remd (whole-map style losses: assembled maps), the self_similarity content loss (through pool4
    relu4_2 is early: its map is assembled too) and the Laplacian term (on the pixels): a tiled step has the
    untiled losses and gradient, per sample."""
    from nstlib.losses.content.laplacian import laplacians
    from nstlib.losses.targets import SampleStyle, control_targets

    extractor = VGGFeatures(original_weights, STYLE + CONTENT)
    gen = torch.Generator().manual_seed(2)
    x, content = torch.rand(2, 3, 64, 96, generator=gen), torch.rand(2, 3, 64, 96, generator=gen)
    a = torch.rand(1, 3, 64, 72, generator=gen)
    samples = [SampleStyle("sliced_w", [a], [1.0]), SampleStyle("remd", [a], [1.0])]
    with torch.no_grad():
        control = control_targets(extractor, samples, STYLE, (64, 96))
        cf = extractor(content, CONTENT)
    targets = Targets({k: v.float() for k, v in cf.items()}, {}, control, "self_similarity", laplacians(content))
    weights = LossWeights(
        content=torch.tensor([1e7, 3e6]),
        style=torch.tensor([1e4, 1e4]),
        tv=torch.zeros(2),
        content_layers=torch.ones(2, 1),
        style_layers=torch.full((2, 5), 0.2),
        laplacian=torch.tensor([10.0, 0.0]),
    )
    t = tiling("vgg19", STYLE + CONTENT, 48, 4)
    whole, g1, tiled, g2 = whole_and_tiled(extractor, x, targets, weights, t)
    for i in range(x.shape[0]):
        err = ((g2[i] - g1[i]).norm() / g1[i].norm()).item()
        assert err <= 1e-4, (i, err)
    assert "laplacian" in whole.columns()
    for name, value in whole.columns().items():
        torch.testing.assert_close(tiled.columns()[name], value, rtol=1e-4, atol=1e-6)
