"""Gatys et al. 2017 control (masks, layer sets, propagation) and every style loss in runs at 64 px."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import nstlib
from nstlib.controls import PROPAGATIONS, STYLE_LOSSES
from nstlib.errors import ConfigError, ImageError
from nstlib.run.transfer import load_inputs, transfer_batch

RUN = dict(image_size=64, video=False, save_every=0, progress="none", weights="original")


def _half_masks(folder):
    left = np.zeros((64, 64), np.uint8)
    left[:, :32] = 255
    paths = [folder / "left.png", folder / "right.png"]
    Image.fromarray(left).save(paths[0])
    Image.fromarray(255 - left).save(paths[1])
    return [str(p) for p in paths]


def test_bad_masks_fail_before_model_work_in_one_line(tmp_path, images):
    base = dict(content=str(images["content"]), style=[str(images["style"]), str(images["style2"])], **RUN)
    with pytest.raises(ConfigError, match=r"^style_masks: 1 values for 2 style images"):
        nstlib.Config(style_masks=["a.png"], **base)
    bad = nstlib.Config(style_masks=[str(tmp_path / "missing.png"), str(tmp_path / "gone.png")], **base)
    with pytest.raises(ImageError, match=r"^style_masks: ") as e:
        load_inputs(bad)
    assert "\n" not in str(e.value)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match=r"^style_region_masks: "):
        load_inputs(nstlib.Config(style_region_masks=[str(tmp_path / "broken.png")] * 2, **base))
    with pytest.raises(ConfigError, match=r"^style_layer_sets: set 1"):
        nstlib.Config(style_layer_sets=["relu1_2", "relu2_1"], **base)
    with pytest.raises(ConfigError, match=r"^style_loss: 'gramm' is not one of gram, mean_std, w2, mrf"):
        nstlib.Config(style_loss="gramm", **base)


def _gram_distance(extractor, image, style, side):
    """Σ_l ‖G_l(half of image) − G_l(style)‖² / ‖G_l(style)‖², Grams per position (VGG relu1_1 … relu4_1)."""
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1"]
    half = image[..., :32] if side == "left" else image[..., 32:]
    a, b = extractor(half, layers), extractor(style, layers)
    total = 0.0
    for layer in layers:
        ga = nstlib.gram_matrix(a[layer]) / a[layer][0, 0].numel()
        gb = nstlib.gram_matrix(b[layer]) / b[layer][0, 0].numel()
        total += float(((ga - gb) ** 2).sum() / (gb**2).sum())
    return total


@pytest.mark.parametrize("propagation", ["simple", "inside"])
def test_half_half_masks_make_each_half_its_own_style(tmp_path, images, propagation):
    """Two styles split left/right: each half's Gram statistics are closer to its own style (ratio ≤ 0.5)."""
    from nstlib.images import load_image
    from nstlib.model.vgg import build_extractor

    styles = ["collections/style/starry_swirls.jpg", "collections/style/ink_mountains.jpg"]
    config = nstlib.Config(
        content=str(images["content"]), style=styles, style_masks=_half_masks(tmp_path), mask_propagation=propagation,
        style_weight=1e5, epochs=40, runs_dir=str(tmp_path / "runs"), **RUN,
    )  # fmt: skip
    result = transfer_batch([config])[0]
    extractor = build_extractor("vgg19", "original", ["relu4_1"], "avg", "cpu")
    out = result.image
    s = [load_image(p, 64) for p in styles]
    left = _gram_distance(extractor, out, s[0], "left") / _gram_distance(extractor, out, s[1], "left")
    right = _gram_distance(extractor, out, s[1], "right") / _gram_distance(extractor, out, s[0], "right")
    assert left <= 0.5 and right <= 0.5, (left, right)


def test_every_loss_lowers_its_own_value_in_one_batch(tmp_path):
    """Each style loss lowers its own value ≥ 5× in 40 L-BFGS steps at 64 px from content init; the four
    losses in one batch, each sample its own loss. The settings, and why (measured on CPU, 40 steps, 64 px):

    - the style term alone (content_weight 0): "its own value". L-BFGS is scale-invariant, so neither β nor
      STYLE_LOSS_SCALE matters (β = 1: w2 6.56×, mrf 8.41×) and α = 1 costs < 1% (w2 6.52×, mrf 8.35×);
    - chelsea × starry_swirls, a photo and a painting. The tests' synthetic sinusoid pair (five layers) gives
      gram 5.1×, mean_std 4.1×, w2 2.0×, mrf 1.8×, and gram only 10.7× after 300 steps: the pair is slow, not a
      loss (an L-BFGS with strong-Wolfe line search does no better);
    - style layers relu1_1, relu2_1, relu4_1 (mrf matches at relu4_1 only). With the paper's five layers mrf
      reaches 3.8× (gram 18.8×, mean_std 37×, w2 6.5×): its relu3_1 term falls 1.4×, because overlapping 3×3
      patches matched one by one disagree. Even free relu3_1 features, each the mean of its 9 matched patches,
      lower that term only 1.7× (2.7× with 5 more re-matchings): a floor of the loss (Li & Wand 2016), not of
      the optimiser. relu5_1 (4×2 positions at 64 px) is left out too.

    Measured here: gram 18.3×, mean_std 36.5×, w2 6.6×, mrf 8.4×.
    """
    from conftest import tiny_config

    layers = ["relu1_1", "relu2_1", "relu4_1"]
    configs = [
        tiny_config(tmp_path, style_loss=kind, epochs=40, content_weight=0.0, style_layers=layers, video=False)
        for kind in STYLE_LOSSES
    ]
    results = transfer_batch(configs)
    ratios = {kind: r.history[0]["style"] / r.history[-1]["style"] for kind, r in zip(STYLE_LOSSES, results)}
    assert all(r.status == "done" for r in results), ratios
    assert all(x >= 5 for x in ratios.values()), ratios


def test_layer_sets_choose_where_each_style_applies(tmp_path, images):
    """Scale control: style 1 at the coarse layers only; its term vanishes at a fine layer it does not hold."""
    config = nstlib.Config(
        content=str(images["content"]), style=[str(images["style"]), str(images["style2"])],
        style_layer_sets=["relu1_1", "relu2_1+relu3_1"], style_layers=["relu1_1", "relu2_1", "relu3_1"],
        epochs=3, runs_dir=str(tmp_path / "runs"), **RUN,
    )  # fmt: skip
    result = transfer_batch([config])[0]
    assert result.status == "done" and all(result.final_losses[f"style_{x}"] > 0 for x in config.style_layers)


def test_style_loss_sweep_validates():
    from nstlib.sweep.spec import load_sweep

    from conftest import ROOT

    sweep = load_sweep(str(ROOT / "sweeps" / "style_loss.yaml"))
    assert sorted(p.config.style_loss for p in sweep.points) == sorted(STYLE_LOSSES)


def test_controls_sweep_runs_every_loss_and_propagation_in_one_batch(tmp_path, monkeypatch, capsys):
    """sweeps/controls.yaml: every style loss × both mask propagations, two styles split by the bundled masks,
    run (32 px, 2 steps) as one transfer_batch; the propagation changes what each loss measures."""
    import sys
    from itertools import product

    from nstlib.config import from_dict
    from nstlib.record.runs import RunRecord

    from conftest import ROOT

    transfer_module = sys.modules["nstlib.run.transfer"]
    real, calls = transfer_module.transfer_batch, []
    monkeypatch.setattr(
        transfer_module, "transfer_batch", lambda configs, **kw: calls.append(len(configs)) or real(configs, **kw)
    )
    small = dict(
        image_size=32,
        epochs=2,
        runs_dir=str(tmp_path / "runs"),
        video=False,
        save_every=0,
        tensorboard=False,
        metrics=False,
    )
    result = nstlib.sweep(str(ROOT / "sweeps" / "controls.yaml"), set=small)
    points = 2 * len(STYLE_LOSSES)
    assert calls == [points] and f"running {points} points as one batch" in capsys.readouterr().out
    assert result.ok and len(result.rows) == points
    records = [RunRecord.read(result.folder / r["folder"]) for r in result.rows]  # what each run says it ran
    assert all(r is not None and r.status == "done" for r in records)
    configs = [from_dict(r.config) for r in records]
    assert {(c.style_loss, c.mask_propagation) for c in configs} == set(product(STYLE_LOSSES, PROPAGATIONS))
    assert all(len(c.style) == 2 and len(c.style_masks) == 2 for c in configs)
    style = {(c.style_loss, c.mask_propagation): r.final_losses["style"] for c, r in zip(configs, records)}
    assert all(style[k, "simple"] != style[k, "inside"] for k in STYLE_LOSSES), style


def test_controls_notebook_demonstrations_batch_and_validate(tmp_path):
    """Every figure of controls.ipynb is one valid batch (same batch keys), masks included."""
    from nstlib.ui.demos import demo_configs, half_masks
    from nstlib.run.batching import batch_key

    masks = half_masks(tmp_path, (48, 64))
    figures = demo_configs("collections/content/chelsea.jpg", ["a.jpg", "b.jpg"], masks, 64, 5)
    assert set(figures) == {"spatial", "scale", "colour", "style_losses"}
    for items in figures.values():
        assert len({batch_key(c) for _, c in items}) == 1
    assert [c.style_loss for _, c in figures["style_losses"]] == list(STYLE_LOSSES)
    assert [c.mask_propagation for _, c in figures["spatial"]] == ["simple", "inside"]


STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def _margin_setup(original_weights):
    from nstlib.model.vgg import VGGFeatures

    extractor = VGGFeatures(original_weights, STYLE_LAYERS)
    style = torch.rand(1, 3, 72, 90, generator=torch.Generator().manual_seed(4))
    return extractor, style, (80, 112)


def test_style_grams_with_a_margin_are_of_the_styles_own_positions(original_weights):
    """With the canvas's margin, A_l = M_l(generated) · E[f fᵀ] over the style's own positions of VGG run on the
    style mirrored that wider (margin >> poolings cut per side); without it, the paper's Gram of the style."""
    from nstlib.images import crop_margin, mirror_pad
    from nstlib.losses.targets import style_targets
    from nstlib.model.layers import feature_size

    extractor, style, hw = _margin_setup(original_weights)
    with torch.no_grad():
        framed = style_targets(extractor, [[style]], [[1.0]], STYLE_LAYERS, hw, None, 8)
        plain = style_targets(extractor, [[style]], [[1.0]], STYLE_LAYERS, hw)
        padded, bare = extractor(mirror_pad(style, 8), STYLE_LAYERS), extractor(style, STYLE_LAYERS)
    for level, layer in enumerate(STYLE_LAYERS):
        generated = math.prod(feature_size("vgg19", layer, *hw))
        for got, maps in ((framed, crop_margin(padded[layer], 8 >> level)), (plain, bare[layer])):
            f = maps.float().flatten(2)
            expected = generated * (f @ f.transpose(1, 2)) / f.shape[-1]
            torch.testing.assert_close(got[layer], expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))
    # the zero-padded edges weigh in the paper's Gram: at relu1_1 the two differ by more than rounding
    assert float((framed["relu1_1"] - plain["relu1_1"]).norm() / plain["relu1_1"].norm()) > 1e-3


def test_guided_style_statistics_take_the_same_margin(original_weights):
    """The control path (any style loss, region masks) takes each style's statistics inside the same margin: the
    Gram through it, alone and under an all-ones region mask, equals style_targets'."""
    from nstlib.losses.targets import SampleStyle, control_targets, style_targets

    extractor, style, hw = _margin_setup(original_weights)
    samples = [
        SampleStyle("gram", [style], [1.0]),
        SampleStyle("gram", [style], [1.0], None, [torch.ones(1, 1, *style.shape[-2:])]),
        SampleStyle("mean_std", [style], [1.0]),
    ]
    with torch.no_grad():
        expected = style_targets(extractor, [[style]], [[1.0]], STYLE_LAYERS, hw, None, 8)
        groups = control_targets(extractor, samples, STYLE_LAYERS, hw, None, 8).groups
    assert [g.kind for g in groups] == ["gram", "mean_std"]
    for layer in STYLE_LAYERS:
        for i in range(2):
            want = expected[layer][0]
            torch.testing.assert_close(
                groups[0].targets[layer][i], want, rtol=1e-4, atol=1e-4 * float(want.abs().max())
            )
