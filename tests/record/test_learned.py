"""LPIPS from checkpoint files on disk: its formula against a direct implementation, and skipped without them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nstlib.model.layers import ARCHITECTURES
from nstlib.record import learned


@pytest.fixture
def backbone(tmp_path, monkeypatch):
    """A random VGG-16 in torchvision's file layout, where LPIPS looks for torchvision's checkpoint."""
    generator = torch.Generator().manual_seed(3)
    state, index, channels = {}, 0, 3
    for item in ARCHITECTURES["vgg16"]:
        if item == "M":
            index += 1
            continue
        std = (2.0 / (channels * 9)) ** 0.5
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3, generator=generator) * std
        state[f"features.{index}.bias"] = torch.randn(item, generator=generator) * 0.01
        channels, index = item, index + 2
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = tmp_path / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    learned.lpips_network.cache_clear()
    yield state
    learned.lpips_network.cache_clear()


def direct_lpips(state: dict, images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Zhang et al. 2018's LPIPS written out: torchvision's VGG-16 layer by layer, taps after the last ReLU of
    each block, unit-normalised over channels, weighted squared differences, spatial mean, sum over blocks."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    lin = torch.load(learned.lpips_weights_path(), map_location="cpu", weights_only=True)

    def taps(x):
        x, out, index = (x - mean) / std, [], 0
        for item in ARCHITECTURES["vgg16"]:
            if item == "M":
                out.append(x)
                x, index = F.max_pool2d(x, 2), index + 1
            else:
                x = F.relu(F.conv2d(x, state[f"features.{index}.weight"], state[f"features.{index}.bias"], padding=1))
                index += 2
        return out

    total = torch.zeros(images.shape[0])
    for i, (a, p) in enumerate(zip(taps(images), taps(references))):
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        p = p / (p.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        total += F.conv2d((a - p) ** 2, lin[f"lin{i}.model.1.weight"]).mean((1, 2, 3))
    return total


def test_lpips_matches_its_formula_is_zero_on_identical_images_and_grows_with_noise(backbone):
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 3, 48, 64, generator=g)
    noise = torch.rand(1, 3, 48, 64, generator=g) - 0.5
    images = torch.cat([reference, (reference + 0.1 * noise).clamp(0, 1), (reference + 0.5 * noise).clamp(0, 1)])
    network = learned.lpips_network()
    assert network is not None
    got = network(images, reference.expand(3, -1, -1, -1))
    assert torch.allclose(got, direct_lpips(backbone, images, reference.expand(3, -1, -1, -1)), rtol=1e-4)
    assert float(got[0]) == pytest.approx(0, abs=1e-9) and 0 < got[1] < got[2]
    assert learned.learned_metrics(images[2:], reference)["lpips"] == pytest.approx(float(got[2]), rel=1e-6)


def test_without_the_backbone_file_lpips_is_none_and_one_line_says_where_it_goes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    learned.lpips_network.cache_clear()
    try:
        image = torch.rand(1, 3, 32, 32)
        assert learned.learned_metrics(image, image) == {"lpips": None}
        learned.learned_metrics(image, image)  # said once per process, not per run
    finally:
        learned.lpips_network.cache_clear()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "lpips skipped" in lines[0] and "vgg16-397923af.pth" in lines[0]
    assert str(tmp_path / "empty") in lines[0]
