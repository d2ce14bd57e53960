import json

import pytest
import torch

from nstlib import device as dev
from nstlib import transfer

from conftest import ROOT

STYLE = str(ROOT / "collections/style/starry_swirls.jpg")


def test_auto_precision_follows_hardware(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: True)
    assert dev.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(dev, "cpu_has_amx", lambda: False)
    assert dev.resolve_precision("auto", cpu) == "fp32"
    assert dev.resolve_precision("bf16", cpu) == "bf16"
    assert dev.resolve_precision("auto", torch.device("mps")) == "fp32"


def test_bf16_adam_ends_within_2_percent_of_fp32(tmp_path, original_weights):
    common = dict(
        content=str(ROOT / "collections/content/rocket.jpg"),
        style=[STYLE],
        image_size=64,
        epochs=60,
        save_every=0,
        progress="none",
        runs_dir=str(tmp_path),
        device="cpu",
        optimizer="adam",
        lr=0.02,
    )
    fp32 = transfer(precision="fp32", **common)
    bf16 = transfer(precision="bf16", **common)
    assert bf16.final_losses["total"] == pytest.approx(fp32.final_losses["total"], rel=0.02)
    info = json.loads((bf16.run_dir / "config.json").read_text())
    assert info["precision"] == "bf16" and info["config"]["precision"] == "bf16"


def test_bf16_lbfgs_within_2_percent_of_fp32_on_average(tmp_path, original_weights):
    """Single L-BFGS runs without line search are chaotic (fp32 with 1 vs 2 threads already ends
    0.99–1.01× apart; bf16 0.97–1.02× here), so the 2% claim is checked on the mean over the four
    bundled photos, and no photo may end more than 5% worse in bf16."""
    ratios = []
    for name in ("chelsea", "rocket", "coffee", "astronaut"):
        common = dict(
            content=str(ROOT / f"collections/content/{name}.jpg"),
            style=[STYLE],
            image_size=64,
            epochs=100,
            save_every=0,
            progress="none",
            runs_dir=str(tmp_path),
            device="cpu",
        )
        fp32 = transfer(precision="fp32", **common)
        bf16 = transfer(precision="bf16", **common)
        ratios.append(bf16.final_losses["total"] / fp32.final_losses["total"])
    assert sum(ratios) / len(ratios) == pytest.approx(1.0, abs=0.02), ratios
    assert max(ratios) <= 1.05, ratios
