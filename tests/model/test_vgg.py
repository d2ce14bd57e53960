import warnings

import pytest
import torch
import torch.nn.functional as F

from nstlib import WeightsError, build_extractor
from nstlib.model import vgg
from nstlib.model.layers import check_layers, layer_names


def test_layer_names_follow_neural_style():
    names = layer_names("vgg19")
    assert len(names) == 16 * 2 + 5
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-3:] == ["conv5_4", "relu5_4", "pool5"]
    assert "conv5_4" not in layer_names("vgg16") and "relu5_3" in layer_names("vgg16")


def test_unknown_layer_fails_with_valid_names():
    with pytest.raises(ValueError, match="relu9_9.*valid: conv1_1, relu1_1"):
        check_layers("vgg19", ["relu1_1", "relu9_9"])
    with pytest.raises(ValueError, match="valid"):
        build_extractor("vgg19", "random", ["conv6_1"])


def test_extractor_truncated_at_deepest_layer(original_weights):
    ex = build_extractor("vgg19", "original", ["relu1_1", "relu2_1"])
    assert ex.names[-1] == "relu2_1" and len(ex.weights) == 3
    out = ex(torch.rand(2, 3, 32, 32))
    assert set(out) == {"relu1_1", "relu2_1"}
    assert out["relu2_1"].shape == (2, 128, 16, 16)
    assert (out["relu2_1"] >= 0).all()


def test_original_weights_first_layer(original_weights):
    w, b = original_weights.weights[0]
    assert w.shape == (64, 3, 3, 3) and b.shape == (64,)
    assert w.mean().item() == pytest.approx(-0.00205, abs=2e-4)
    assert w.std().item() == pytest.approx(0.1914, abs=2e-3)
    assert len(original_weights.weights) == 16 and original_weights.profile == "caffe"
    assert original_weights.weights[-1][0].shape == (512, 512, 3, 3)


def test_caffe_preprocessing_inside_extractor(original_weights):
    ex = build_extractor("vgg19", "original", ["conv1_1"])
    x = torch.rand(1, 3, 8, 8)
    bgr = x.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    w, b = original_weights.weights[0]
    assert torch.allclose(ex(x)["conv1_1"], F.conv2d(bgr, w, b, padding=1), atol=1e-3)


def test_pooling_rounds_up_as_caffe(original_weights):
    ex = build_extractor("vgg19", "original", ["relu3_1"])
    assert ex(torch.rand(1, 3, 21, 10))["relu3_1"].shape[-2:] == (6, 3)  # 21 → 11 → 6, 10 → 5 → 3


def test_no_weight_gradients(original_weights):
    ex = build_extractor("vgg19", "original", ["relu3_1"])
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    ex(x)["relu3_1"].sum().backward()
    assert x.grad is not None
    assert all(not w.requires_grad and w.grad is None for w, _ in ex.weights)


def test_pooling_modes_differ(original_weights):
    x = torch.rand(1, 3, 16, 16)
    a = build_extractor("vgg19", "original", ["pool1"], pooling="avg")(x)["pool1"]
    m = build_extractor("vgg19", "original", ["pool1"], pooling="max")(x)["pool1"]
    assert a.shape == m.shape == (1, 64, 8, 8)
    assert (m >= a - 1e-4).all() and not torch.allclose(a, m)


def _torchvision_state(model="vgg16", prefix="features."):
    stack = vgg.random_weights(model)
    state, index = {}, 0
    from nstlib.model.layers import ARCHITECTURES

    convs = iter(stack.weights)
    for item in ARCHITECTURES[model]:
        if item == "M":
            index += 1
            continue
        w, b = next(convs)
        state[f"{prefix}{index}.weight"], state[f"{prefix}{index}.bias"] = w * 0.5, b + 0.1
        index += 2
    state["classifier.0.weight"] = torch.zeros(2, 2)
    return state


@pytest.mark.parametrize("prefix", ["features.", ""])
def test_pth_state_dict_source(tmp_path, prefix):
    state = _torchvision_state("vgg16", prefix)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    stack = vgg.load_state_dict_file(path, "vgg16")
    assert stack.profile == "imagenet" and len(stack.weights) == 13
    assert torch.equal(stack.weights[2][0], state[f"{prefix}5.weight"])
    ex = build_extractor("vgg16", str(path), ["relu5_3"])
    assert ex(torch.rand(1, 3, 32, 32))["relu5_3"].shape == (1, 512, 2, 2)


def test_pth_with_wrong_shapes_names_file(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save(_torchvision_state("vgg16"), path)
    with pytest.raises(WeightsError, match="bad.pth"):
        vgg.load_state_dict_file(path, "vgg19")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="junk.pth.*cannot load"):
        vgg.load_state_dict_file(junk, "vgg19")


def test_random_weights_seeded_and_warn():
    with pytest.warns(UserWarning, match="not artistic"):
        a = vgg.random_weights("vgg19")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = vgg.random_weights("vgg19")
    assert torch.equal(a.weights[5][0], b.weights[5][0])


def test_original_vgg16_does_not_exist():
    with pytest.raises(WeightsError, match="only for vgg19"):
        vgg.load_weights("vgg16", "original")


def test_torchvision_downloads_from_url(tmp_path, monkeypatch, serve):
    folder, url = serve
    torch.save(_torchvision_state("vgg16"), folder / vgg.TORCHVISION_FILES["vgg16"])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(vgg, "TORCHVISION_URL", url)
    stack = vgg.load_torchvision("vgg16")
    assert len(stack.weights) == 13
    assert (tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth").is_file()


def test_torchvision_offline_error_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(vgg, "TORCHVISION_URL", "http://127.0.0.1:9/")  # nothing listens on the discard port
    with pytest.raises(WeightsError, match=r"vgg19-dcbb9e9d\.pth.*copy that file to .*checkpoints"):
        vgg.load_torchvision("vgg19")


LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def test_circular_padding_is_the_periodic_tiling(original_weights):
    """With sides a multiple of 16, circular features are the centre of the 3×3-tiled image's (shallow layers,
    whose reach stays inside the tiling) and move with a circular shift of the image (every layer)."""
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    wrap = build_extractor("vgg19", "original", LAYERS, padding="circular")
    plain = build_extractor("vgg19", "original", ["relu2_1"])
    f = wrap(x)
    tiled = plain(x.repeat(1, 1, 3, 3))["relu2_1"]  # stride 2, reach < 32 px
    centre = tiled[..., 16:32, 24:48]
    assert torch.allclose(f["relu2_1"], centre, atol=1e-4 * centre.abs().max())
    assert not torch.allclose(plain(x)["relu2_1"], centre, atol=1e-2 * centre.abs().max())  # zeros differ
    shifted = wrap(torch.roll(x, (16, -32), dims=(2, 3)))
    for layer in LAYERS:
        stride = 2 ** wrap.level(layer)
        expected = torch.roll(f[layer], (16 // stride, -32 // stride), dims=(2, 3))
        assert torch.allclose(shifted[layer], expected, atol=1e-4 * expected.abs().max()), layer
